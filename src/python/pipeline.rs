//! Bindings for pipelines: `Pipeline` (retrievers, fusion, re-ranking, MMR as one retriever)
//! and its `PipelineTrace`.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::chunked::PyChunked;
use super::dense::PyDenseIndex;
use super::errors::{
    detach_with_progress, frame_arg, ids_arg, json_to_py, progress, to_py, Shared,
};
use super::frame::PyDataFrame;
use super::rerank::scorer_arg;
use super::retrieve::PyBm25;
use crate::data::schema::DOC_ID;
use crate::fuse::{FuseOptions, Method, Norm};
use crate::retrieve::pipeline::{MmrStage, RerankStage};
use crate::retrieve::{Pipeline, Retriever, SharedRetriever, Trace};

/// A retrieval pipeline that is itself a retriever: each retriever returns its top ``depth``
/// documents, several runs are fused, then optionally re-ranked and re-ordered by MMR, and
/// ``search`` cuts the result at ``k``. Every stage is the library's own function (``fuse``,
/// ``rerank``, ``mmr``), so the pipeline ranks exactly as those calls made by hand.
///
/// Retrievers are shared, not copied: an index used in a pipeline can still be used alone,
/// and ``index`` on the pipeline indexes each of them.
///
/// Args:
///     retrievers: ``BM25``, ``DenseIndex``, ``Pipeline`` or ``Chunked`` objects (at least
///         one).
///     fuse: The fusion method when there are several retrievers (as ``ragplay.fuse``).
///     norm: The fusion's score normalisation; the method's default if omitted.
///     weights: One fusion weight per retriever.
///     rrf_k: RRF's rank offset.
///     rerank: A ``CrossEncoder``, ``BiEncoderReranker`` or ``CallableReranker`` that
///         re-scores the top ``depth`` candidates.
///     mmr: MMR's ``lambda_`` (relevance against novelty, in [0, 1]); no MMR if omitted.
///     mmr_index: The ``DenseIndex`` whose vectors MMR compares; the first ``DenseIndex``
///         among ``retrievers`` if omitted.
///     depth: Candidates per query at every stage; 100 if omitted.
///     batch_size: Pairs per forward pass of the reranker.
#[pyclass(name = "Pipeline", module = "ragplay._ragplay", frozen)]
pub struct PyPipeline {
    inner: Shared<Pipeline>,
}

/// A retriever argument as a shared retriever, and the dense index it is, if one.
pub(super) fn retriever_arg(
    obj: &Bound<'_, PyAny>,
) -> PyResult<(
    SharedRetriever,
    Option<Arc<std::sync::RwLock<crate::retrieve::DenseIndex>>>,
)> {
    if let Ok(b) = obj.cast::<PyBm25>() {
        Ok((b.get().inner.arc(), None))
    } else if let Ok(d) = obj.cast::<PyDenseIndex>() {
        let arc = d.get().inner.arc();
        Ok((arc.clone(), Some(arc)))
    } else if let Ok(p) = obj.cast::<PyPipeline>() {
        Ok((p.get().inner.arc(), None))
    } else if let Ok(c) = obj.cast::<PyChunked>() {
        Ok((c.get().inner.arc(), None))
    } else {
        let got = obj.get_type().name()?;
        Err(PyTypeError::new_err(format!(
            "retrievers must be BM25, DenseIndex, Pipeline or Chunked objects, got {got}"
        )))
    }
}

#[pymethods]
impl PyPipeline {
    #[new]
    #[pyo3(signature = (retrievers, *, fuse = "rrf", norm = None, weights = None, rrf_k = 60.0, rerank = None, mmr = None, mmr_index = None, depth = None, batch_size = 32))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        retrievers: Vec<Bound<'_, PyAny>>,
        fuse: &str,
        norm: Option<&str>,
        weights: Option<Vec<f64>>,
        rrf_k: f64,
        rerank: Option<&Bound<'_, PyAny>>,
        mmr: Option<f64>,
        mmr_index: Option<PyRef<'_, PyDenseIndex>>,
        depth: Option<usize>,
        batch_size: usize,
    ) -> PyResult<Self> {
        let mut shared = Vec::with_capacity(retrievers.len());
        let mut first_dense = None;
        for r in &retrievers {
            let (arc, dense) = retriever_arg(r)?;
            shared.push(arc);
            if first_dense.is_none() {
                first_dense = dense;
            }
        }
        let options = FuseOptions {
            method: fuse.parse::<Method>().map_err(to_py)?,
            norm: norm.map(str::parse::<Norm>).transpose().map_err(to_py)?,
            weights,
            rrf_k,
            k: None,
        };
        let rerank = rerank
            .map(|r| {
                Ok::<_, PyErr>(RerankStage {
                    scorer: scorer_arg(r)?,
                    batch_size,
                })
            })
            .transpose()?;
        let mmr = match mmr {
            None => None,
            Some(lambda) => {
                let index = match mmr_index {
                    Some(i) => i.inner.arc(),
                    None => first_dense.ok_or_else(|| {
                        to_py(crate::Error::config(
                            "mmr_index",
                            "MMR needs a DenseIndex: pass mmr_index= or put one among retrievers",
                        ))
                    })?,
                };
                Some(MmrStage { index, lambda })
            }
        };
        let depth = depth.unwrap_or(crate::retrieve::pipeline::DEFAULT_DEPTH);
        let pipeline = Pipeline::new(shared, options, rerank, mmr, depth).map_err(to_py)?;
        Ok(Self {
            inner: Shared::new(pipeline),
        })
    }

    /// Index a corpus table with every retriever (and the MMR index when it is not one of
    /// them); the pipeline keeps the corpus for re-ranking. Each retriever's index is
    /// replaced atomically; an interrupted call leaves those not yet reached as they were.
    ///
    /// Args:
    ///     corpus: A corpus table (``doc_id``, ``text``, optional ``title``).
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    #[pyo3(signature = (corpus, *, show_progress = None))]
    fn index(
        &self,
        py: Python<'_>,
        corpus: &Bound<'_, PyAny>,
        show_progress: Option<bool>,
    ) -> PyResult<()> {
        let corpus = frame_arg(corpus, "corpus")?;
        let desc = progress(py, show_progress, "pipeline index")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| {
            Retriever::index(&mut *self.inner.write(), &corpus, cancel)
        })
    }

    /// Search every query of a queries table through all stages.
    ///
    /// Args:
    ///     queries: A queries table (``query_id``, ``text``).
    ///     k: Documents per query in the result.
    ///     allow: If given, only these document ids can be returned (passed to every
    ///         retriever).
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     A run table (``query_id``, ``doc_id``, ``score``, ``rank``).
    #[pyo3(signature = (queries, *, k = 100, allow = None, show_progress = None))]
    fn search(
        &self,
        py: Python<'_>,
        queries: &Bound<'_, PyAny>,
        k: usize,
        allow: Option<&Bound<'_, PyAny>>,
        show_progress: Option<bool>,
    ) -> PyResult<PyDataFrame> {
        let queries = frame_arg(queries, "queries")?;
        let allow = allow.map(|a| ids_arg(a, "allow", DOC_ID)).transpose()?;
        let desc = progress(py, show_progress, "pipeline search")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| {
            Retriever::search(
                &*self.inner.read_checked(),
                &queries,
                k,
                allow.as_deref(),
                cancel,
            )
        })
        .map(PyDataFrame)
    }

    /// Run the queries one at a time, as a service would, and record every stage: why each
    /// document ended where it did, and how long each stage took.
    ///
    /// Args:
    ///     queries: A queries table.
    ///     k: Documents per query in the final run.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     A ``PipelineTrace``: ``candidates`` (every candidate's score and rank at every
    ///     stage), ``latency`` (per-stage p50/p95/p99 in milliseconds) and ``run``.
    #[pyo3(signature = (queries, *, k = 100, show_progress = None))]
    fn trace(
        &self,
        py: Python<'_>,
        queries: &Bound<'_, PyAny>,
        k: usize,
        show_progress: Option<bool>,
    ) -> PyResult<PyPipelineTrace> {
        let queries = frame_arg(queries, "queries")?;
        let desc = progress(py, show_progress, "pipeline trace")?;
        self.inner.check()?;
        let trace = detach_with_progress(py, desc, |cancel| {
            self.inner.read_checked().trace(&queries, k, cancel)
        })?;
        Ok(PyPipelineTrace { inner: trace })
    }

    /// The stage names in order: each retriever's, then ``fuse``, ``rerank``, ``mmr`` when
    /// present (the column prefixes of a trace).
    #[getter]
    fn stages(&self) -> PyResult<Vec<String>> {
        Ok(self.inner.read()?.stages())
    }

    /// The retriever's name in runs and the lab: ``"pipeline"``.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(Retriever::name(&*self.inner.read()?))
    }

    /// The configuration (every retriever's, the fusion, reranker, MMR and depth) as a dict.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &Retriever::config(&*self.inner.read()?))
    }

    fn __repr__(&self) -> PyResult<String> {
        let p = self.inner.read()?;
        Ok(format!(
            "Pipeline(stages={:?}, depth={})",
            p.stages(),
            p.depth()
        ))
    }
}

/// What ``Pipeline.trace`` returns.
#[pyclass(name = "PipelineTrace", module = "ragplay._ragplay", frozen)]
pub struct PyPipelineTrace {
    inner: Trace,
}

#[pymethods]
impl PyPipelineTrace {
    /// One row per (query, candidate): ``query_id``, ``doc_id``, ``final_rank`` (null when
    /// the document missed the final top k), then ``<stage>_score`` and ``<stage>_rank``
    /// for every stage (null where the stage did not return it).
    #[getter]
    fn candidates(&self) -> PyDataFrame {
        PyDataFrame(self.inner.candidates.clone())
    }

    /// One row per stage and one for ``total``: ``stage``, ``queries``, ``mean_ms``,
    /// ``p50_ms``, ``p95_ms``, ``p99_ms`` (each query run alone).
    #[getter]
    fn latency(&self) -> PyDataFrame {
        PyDataFrame(self.inner.latency.clone())
    }

    /// The final run table.
    #[getter]
    fn run(&self) -> PyDataFrame {
        PyDataFrame(self.inner.run.clone())
    }

    fn __repr__(&self) -> String {
        format!(
            "PipelineTrace(candidates={} rows, stages={})",
            self.inner.candidates.height(),
            self.inner.latency.height() - 1
        )
    }
}
