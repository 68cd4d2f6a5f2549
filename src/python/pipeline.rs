//! Bindings for pipelines: `Pipeline` (retrievers, fusion, re-ranking, MMR as one retriever;
//! `index`, `search`, `name` and `config` from the retriever base class) and its
//! `PipelineTrace`.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::answers::PyGeneration;
use super::args::{given_twice, renamed, Frame, Opt};
use super::dense::PyDenseIndex;
use super::detach::{detach_with_progress, progress};
use super::frame::PyDataFrame;
use super::rerank::Reranker;
use super::retriever::{PyRetriever, RetrieverArg, Shared};
use crate::fuse::{FuseOptions, Method, Norm};
use crate::pipeline::{MmrStage, Pipeline, RerankStage, Trace, DEFAULT_DEPTH};

/// A retrieval pipeline that is itself a retriever: each retriever returns its top ``depth``
/// documents, several runs are fused, then optionally re-ranked and re-ordered by MMR, and
/// ``search`` cuts the result at ``k``; a generation stage can answer from the result. Every stage is the library's own function (``fuse``,
/// ``rerank``, ``mmr``), so the pipeline ranks exactly as those calls made by hand.
///
/// Retrievers are shared, not copied: an index used in a pipeline can still be used alone,
/// and ``index`` on the pipeline indexes each of them (and keeps the corpus for re-ranking).
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
///     mmr_lambda: MMR's weight of relevance against novelty, in [0, 1]; no MMR if
///         omitted (``mmr=`` before this release).
///     mmr_index: The ``DenseIndex`` whose vectors MMR compares; the first ``DenseIndex``
///         among ``retrievers`` if omitted.
///     generate: A ``Generation``: ``answer`` and ``trace`` then put each query's best
///         documents in a prompt and return the model's answers (``search`` never calls the
///         model).
///     depth: Candidates per query at every stage; 100 if omitted.
///     batch_size: Pairs per forward pass of the reranker.
#[pyclass(name = "Pipeline", module = "ragplay._ragplay", extends = PyRetriever, frozen)]
pub struct PyPipeline {
    inner: Shared<Pipeline>,
}

#[pymethods]
impl PyPipeline {
    #[new]
    #[pyo3(
        signature = (retrievers, *, fuse = "rrf", norm = None, weights = None, rrf_k = 60.0, rerank = None, mmr_lambda = None, mmr_index = None, generate = None, depth = None, batch_size = 32, **deprecated),
        text_signature = "(retrievers, *, fuse='rrf', norm=None, weights=None, rrf_k=60.0, rerank=None, mmr_lambda=None, mmr_index=None, generate=None, depth=None, batch_size=32)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        retrievers: Vec<RetrieverArg>,
        fuse: &str,
        norm: Option<Opt<Norm>>,
        weights: Option<Vec<f64>>,
        rrf_k: f64,
        rerank: Option<Reranker>,
        mut mmr_lambda: Option<f64>,
        mmr_index: Option<PyRef<'_, PyDenseIndex>>,
        generate: Option<PyRef<'_, PyGeneration>>,
        depth: Option<usize>,
        batch_size: usize,
        deprecated: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        for (_, value) in renamed(py, deprecated, &[("mmr", "mmr_lambda")])? {
            if mmr_lambda.is_some() {
                return Err(given_twice("mmr", "mmr_lambda"));
            }
            mmr_lambda = value.extract()?;
        }
        let first_dense = retrievers.iter().find_map(|r| r.dense.clone());
        let shared = retrievers.into_iter().map(|r| r.shared).collect();
        let options = FuseOptions {
            method: fuse
                .parse::<Method>()
                .map_err(|_| crate::Error::not_one_of("fuse", fuse, Method::NAMES))?,
            norm: norm.map(|n| n.0),
            weights,
            rrf_k,
            k: None,
        };
        let rerank = rerank.map(|r| RerankStage {
            scorer: r.0,
            batch_size,
        });
        let mmr = match mmr_lambda {
            None => None,
            Some(lambda) => {
                let index = match mmr_index {
                    Some(i) => i.inner.arc(),
                    None => first_dense.ok_or_else(|| {
                        crate::Error::config(
                            "mmr_index",
                            "MMR needs a DenseIndex: pass mmr_index= or put one among retrievers",
                        )
                    })?,
                };
                Some(MmrStage { index, lambda })
            }
        };
        let depth = depth.unwrap_or(DEFAULT_DEPTH);
        let mut pipeline = Pipeline::new(shared, options, rerank, mmr, depth)?;
        if let Some(g) = generate {
            pipeline = pipeline.with_generation(g.stage.clone())?;
        }
        let inner = Shared::new(pipeline);
        Ok(PyClassInitializer::from(PyRetriever::of(&inner)).add_subclass(Self { inner }))
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
    ///     stage), ``latency`` (per-stage latency percentiles in milliseconds), ``run`` and,
    ///     with a generation stage, ``answers``.
    #[pyo3(signature = (queries, *, k = 100, show_progress = None))]
    fn trace(
        &self,
        py: Python<'_>,
        queries: Frame,
        k: usize,
        show_progress: Option<bool>,
    ) -> PyResult<PyPipelineTrace> {
        let desc = progress(py, show_progress, "pipeline trace")?;
        self.inner.check()?;
        let trace = detach_with_progress(py, desc, |cancel| {
            self.inner.read_checked().trace(&queries.0, k, cancel)
        })?;
        Ok(PyPipelineTrace { inner: trace })
    }

    /// Retrieve for the queries, then answer each from its best documents with the
    /// pipeline's generation stage.
    ///
    /// Args:
    ///     queries: A queries table.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     The answers table of ``generate``, one row per query.
    ///
    /// Raises:
    ///     ConfigError: The pipeline has no generation stage, or was not indexed.
    #[pyo3(signature = (queries, *, show_progress = None))]
    fn answer(
        &self,
        py: Python<'_>,
        queries: Frame,
        show_progress: Option<bool>,
    ) -> PyResult<PyDataFrame> {
        let desc = progress(py, show_progress, "answer")?;
        self.inner.check()?;
        let table = detach_with_progress(py, desc, |cancel| {
            self.inner.read_checked().answer(&queries.0, cancel)
        })?;
        Ok(PyDataFrame(table))
    }

    /// The stage names in order: each retriever's, then ``fuse``, ``rerank``, ``mmr`` and
    /// ``generate`` when present (the column prefixes of a trace).
    #[getter]
    fn stages(&self) -> PyResult<Vec<String>> {
        Ok(self.inner.read()?.stages())
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

    /// One row per stage and one for ``total``: ``stage``, ``queries``, ``repeats`` (1),
    /// ``mean_ms``, ``p25_ms``, ``p50_ms``, ``p75_ms``, ``p95_ms``, ``p99_ms`` (each query run
    /// alone, after a few untimed queries of warm-up).
    #[getter]
    fn latency(&self) -> PyDataFrame {
        PyDataFrame(self.inner.latency.clone())
    }

    /// The final run table.
    #[getter]
    fn run(&self) -> PyDataFrame {
        PyDataFrame(self.inner.run.clone())
    }

    /// The answers table (one row per query) when the pipeline has a generation stage,
    /// else ``None``; the candidates' ``generate_rank`` marks the documents each prompt held.
    #[getter]
    fn answers(&self) -> Option<PyDataFrame> {
        self.inner.answers.clone().map(PyDataFrame)
    }

    fn __repr__(&self) -> String {
        format!(
            "PipelineTrace(candidates={} rows, stages={})",
            self.inner.candidates.height(),
            self.inner.latency.height() - 1
        )
    }
}
