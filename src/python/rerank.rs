//! Bindings for re-ranking: the cross-encoder, the bi-encoder and callable rerankers, and
//! `rerank` (a function from a run to a run).

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::embed::PyEncoder;
use super::errors::{detach, detach_with_progress, frame_arg, progress, str_items, to_py};
use super::frame::PyDataFrame;
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::rerank::{
    self as core, Activation, BiEncoder, CrossEncoder, CrossEncoderOptions, PairScorer,
    RerankOptions,
};

/// A cross-encoder (a BERT sequence classifier, as sentence-transformers' ``CrossEncoder``
/// runs the ``cross-encoder/ms-marco-*`` models) run in-process with candle.
///
/// A pair is read as ``[CLS] query [SEP] document [SEP]`` and cut to ``max_length`` tokens,
/// longest part first; its score is the classifier's logits through the model's activation
/// (sigmoid for one label unless the config names another).
#[pyclass(name = "CrossEncoder", module = "ragplay._ragplay", frozen)]
pub struct PyCrossEncoder {
    inner: Arc<CrossEncoder>,
}

#[pymethods]
impl PyCrossEncoder {
    /// Load a ``BertForSequenceClassification`` model from a folder (``config.json``,
    /// ``tokenizer.json``, ``model.safetensors`` or ``pytorch_model.bin``) or from the Hugging
    /// Face hub cache by repo id. Nothing is downloaded.
    ///
    /// Args:
    ///     name_or_path: A folder, or a repo id such as ``"cross-encoder/ms-marco-MiniLM-L6-v2"``.
    ///     revision: Branch, tag or commit in the hub cache.
    ///     max_length: Tokens per pair (special tokens included); the tokenizer's
    ///         ``model_max_length`` (at most the model's positions) if omitted.
    ///     activation: ``"sigmoid"``, ``"identity"``, ``"tanh"`` or ``"softmax"``; the model's
    ///         if omitted.
    ///
    /// Raises:
    ///     ModelError: The model is not found, a file is missing or corrupt, or it is not a
    ///         BERT sequence classifier.
    ///     ConfigError: An invalid option.
    #[staticmethod]
    #[pyo3(signature = (name_or_path, *, revision = "main", max_length = None, activation = None))]
    fn from_pretrained(
        py: Python<'_>,
        name_or_path: PathBuf,
        revision: &str,
        max_length: Option<usize>,
        activation: Option<&str>,
    ) -> PyResult<Self> {
        let options = CrossEncoderOptions {
            revision: revision.to_owned(),
            max_length,
            activation: activation
                .map(str::parse::<Activation>)
                .transpose()
                .map_err(to_py)?,
        };
        let name = name_or_path.to_string_lossy().into_owned();
        let inner = detach(py, move |_| CrossEncoder::from_pretrained(&name, &options))?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Score ``(query, document)`` pairs.
    ///
    /// Args:
    ///     pairs: A list of ``(query, document)`` string pairs.
    ///     batch_size: Pairs per forward pass (pairs are sorted by length first).
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     A float32 array: shape ``(n,)`` for a one-label model, ``(n, labels)`` otherwise.
    #[pyo3(signature = (pairs, *, batch_size = 32, show_progress = None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        pairs: &Bound<'py, PyAny>,
        batch_size: usize,
        show_progress: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pairs = pairs_arg(pairs)?;
        let model = Arc::clone(&self.inner);
        let desc = progress(
            py,
            show_progress.map(|s| s && !pairs.is_empty()),
            "cross-encoder",
        )?;
        let scores = detach_with_progress(py, desc, move |cancel| {
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(q, d)| (q.as_str(), d.as_str()))
                .collect();
            model.predict(&refs, batch_size, cancel)
        })?;
        let (rows, labels) = (scores.rows, scores.labels);
        let array = PyArray1::from_vec(py, scores.data);
        if labels == 1 {
            Ok(array.into_any())
        } else {
            Ok(array.reshape([rows, labels])?.into_any())
        }
    }

    /// Number of labels (scores per pair).
    #[getter]
    fn num_labels(&self) -> usize {
        self.inner.labels()
    }

    /// Tokens per pair, special tokens included.
    #[getter]
    fn max_length(&self) -> usize {
        self.inner.max_length()
    }

    /// The activation applied to the logits.
    #[getter]
    fn activation(&self) -> &'static str {
        self.inner.activation().name()
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

fn pairs_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    obj.try_iter()?
        .enumerate()
        .map(|(i, item)| {
            let item = item?;
            let parts = str_items(&format!("pairs[{i}]"), item.try_iter()?)?;
            match <[String; 2]>::try_from(parts) {
                Ok([q, d]) => Ok((q, d)),
                Err(parts) => Err(PyTypeError::new_err(format!(
                    "pairs[{i}] must be a (query, document) pair, got {} items",
                    parts.len()
                ))),
            }
        })
        .collect()
}

/// Re-ranks with the cosine similarity of an ``Encoder``'s query and document vectors.
///
/// Args:
///     encoder: The ``Encoder``; its query and document prefixes apply.
#[pyclass(name = "BiEncoderReranker", module = "ragplay._ragplay", frozen)]
pub struct PyBiEncoderReranker {
    inner: Arc<BiEncoder>,
}

#[pymethods]
impl PyBiEncoderReranker {
    #[new]
    fn new(encoder: PyRef<'_, PyEncoder>) -> Self {
        Self {
            inner: Arc::new(BiEncoder(Arc::clone(&encoder.inner))),
        }
    }
}

/// Re-ranks with any Python function ``fn(queries, documents) -> scores``: two lists of
/// strings of the same length in, one float per pair out (a list or a numpy array), higher
/// meaning more relevant. It is called with at most ``batch_size`` pairs at a time.
///
/// Args:
///     fn: The scoring function.
#[pyclass(name = "CallableReranker", module = "ragplay._ragplay", frozen)]
pub struct PyCallableReranker {
    inner: Arc<CallableScorer>,
}

#[pymethods]
impl PyCallableReranker {
    #[new]
    fn new(r#fn: Bound<'_, PyAny>) -> PyResult<Self> {
        if !r#fn.is_callable() {
            return Err(PyTypeError::new_err("fn must be callable"));
        }
        Ok(Self {
            inner: Arc::new(CallableScorer(r#fn.unbind())),
        })
    }
}

/// A Python callable as a [`PairScorer`]; it runs with the GIL taken back for each batch.
pub struct CallableScorer(Py<PyAny>);

impl PairScorer for CallableScorer {
    fn name(&self) -> String {
        "callable".into()
    }

    fn score(
        &self,
        pairs: &[(&str, &str)],
        batch_size: usize,
        cancel: &Cancel,
    ) -> Result<Vec<f64>> {
        cancel.start(pairs.len() as u64);
        let mut out = Vec::with_capacity(pairs.len());
        for batch in pairs.chunks(batch_size) {
            cancel.check()?;
            let scores = Python::attach(|py| -> PyResult<Vec<f64>> {
                let queries: Vec<&str> = batch.iter().map(|p| p.0).collect();
                let docs: Vec<&str> = batch.iter().map(|p| p.1).collect();
                let result = self.0.bind(py).call1((queries, docs))?;
                let result = if result.hasattr("tolist")? {
                    result.call_method0("tolist")?
                } else {
                    result
                };
                result.extract()
            })
            .map_err(|e| Error::config("reranker", format!("the function failed: {e}")))?;
            if scores.len() != batch.len() {
                return Err(Error::config(
                    "reranker",
                    format!(
                        "the function returned {} scores for {} pairs",
                        scores.len(),
                        batch.len()
                    ),
                ));
            }
            out.extend(scores);
            cancel.advance(batch.len() as u64);
        }
        Ok(out)
    }
}

/// The scorer of a reranker argument.
pub(super) fn scorer_arg(reranker: &Bound<'_, PyAny>) -> PyResult<Arc<dyn PairScorer>> {
    if let Ok(c) = reranker.cast::<PyCrossEncoder>() {
        Ok(c.get().inner.clone())
    } else if let Ok(b) = reranker.cast::<PyBiEncoderReranker>() {
        Ok(b.get().inner.clone())
    } else if let Ok(f) = reranker.cast::<PyCallableReranker>() {
        Ok(f.get().inner.clone())
    } else {
        let got = reranker.get_type().name()?;
        Err(PyTypeError::new_err(format!(
            "reranker must be a CrossEncoder, BiEncoderReranker or CallableReranker, got {got}"
        )))
    }
}

/// Re-rank each query's top documents of a run with a reranker.
///
/// Each query's top ``depth`` documents (title and text joined) are scored with the query's
/// text; the run is ranked again by those scores (ties by doc id descending) and cut at ``k``.
///
/// Args:
///     run: A run table.
///     queries: A queries table holding every query of ``run``.
///     corpus: A corpus table holding every candidate document.
///     reranker: A ``CrossEncoder`` (one label), ``BiEncoderReranker`` or ``CallableReranker``.
///     depth: Candidates per query, from the top of ``run``; all if omitted.
///     k: Documents kept per query.
///     batch_size: Pairs per forward pass (or per call of a callable).
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     The re-ranked run table.
#[pyfunction]
#[pyo3(signature = (run, queries, corpus, reranker, *, depth = None, k = 100, batch_size = 32, show_progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn rerank(
    py: Python<'_>,
    run: &Bound<'_, PyAny>,
    queries: &Bound<'_, PyAny>,
    corpus: &Bound<'_, PyAny>,
    reranker: &Bound<'_, PyAny>,
    depth: Option<usize>,
    k: usize,
    batch_size: usize,
    show_progress: Option<bool>,
) -> PyResult<PyDataFrame> {
    let scorer = scorer_arg(reranker)?;
    let run = frame_arg(run, "run")?;
    let queries = frame_arg(queries, "queries")?;
    let corpus = frame_arg(corpus, "corpus")?;
    let options = RerankOptions {
        depth,
        k,
        batch_size,
    };
    let desc = progress(py, show_progress, "rerank")?;
    detach_with_progress(py, desc, move |cancel| {
        core::rerank(&run, &queries, &corpus, scorer.as_ref(), &options, cancel)
    })
    .map(PyDataFrame)
}
