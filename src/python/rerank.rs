//! Bindings for re-ranking: the cross-encoder, the bi-encoder and callable rerankers, and
//! `rerank` (a function from a run to a run).

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::args::{deprecated, given_twice, renamed, type_name, Frame, Opt, Pairs};
use super::detach::{detach, detach_with_progress, progress};
use super::embed::PyEncoder;
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
/// A pair is read as ``[CLS] query [SEP] document [SEP]`` and cut to ``max_seq_length`` tokens,
/// longest part first; its score is the classifier's logits through the model's activation
/// (sigmoid for one label unless the config names another).
#[pyclass(name = "CrossEncoder", module = "ragplay._ragplay", frozen)]
pub struct PyCrossEncoder {
    pub(super) inner: Arc<CrossEncoder>,
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
    ///     max_seq_length: Tokens per pair (special tokens included); the tokenizer's
    ///         ``model_max_length`` (at most the model's positions) if omitted
    ///         (``max_length=`` before this release).
    ///     activation: ``"sigmoid"``, ``"identity"``, ``"tanh"`` or ``"softmax"``; the model's
    ///         if omitted.
    ///
    /// Raises:
    ///     ModelError: The model is not found, a file is missing or corrupt, or it is not a
    ///         BERT sequence classifier.
    ///     ConfigError: An invalid option.
    #[staticmethod]
    #[pyo3(
        signature = (name_or_path, *, revision = "main", max_seq_length = None, activation = None, **deprecated),
        text_signature = "(name_or_path, *, revision='main', max_seq_length=None, activation=None)"
    )]
    fn from_pretrained(
        py: Python<'_>,
        name_or_path: PathBuf,
        revision: &str,
        mut max_seq_length: Option<usize>,
        activation: Option<Opt<Activation>>,
        deprecated: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        for (_, value) in renamed(py, deprecated, &[("max_length", "max_seq_length")])? {
            if max_seq_length.is_some() {
                return Err(given_twice("max_length", "max_seq_length"));
            }
            max_seq_length = value.extract()?;
        }
        let options = CrossEncoderOptions {
            revision: revision.to_owned(),
            max_length: max_seq_length,
            activation: activation.map(|a| a.0),
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
        pairs: Pairs,
        batch_size: usize,
        show_progress: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pairs = pairs.0;
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
    fn max_seq_length(&self) -> usize {
        self.inner.max_length()
    }

    /// Deprecated name of ``max_seq_length``.
    #[getter]
    fn max_length(&self, py: Python<'_>) -> PyResult<usize> {
        deprecated(
            py,
            "CrossEncoder.max_length is deprecated; use max_seq_length",
        )?;
        Ok(self.inner.max_length())
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

/// Re-ranks with the cosine similarity of an ``Encoder``'s query and document vectors.
///
/// Args:
///     encoder: The ``Encoder``; its query and document prefixes apply.
#[pyclass(name = "BiEncoderReranker", module = "ragplay._ragplay", frozen)]
pub struct PyBiEncoderReranker {
    pub(super) inner: Arc<BiEncoder>,
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
    pub(super) inner: Arc<CallableScorer>,
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
        cancel.start("rerank", pairs.len() as u64);
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

/// A reranker argument: a `CrossEncoder`, `BiEncoderReranker` or `CallableReranker`.
pub struct Reranker(pub Arc<dyn PairScorer>);

impl<'a, 'py> FromPyObject<'a, 'py> for Reranker {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(c) = obj.cast::<PyCrossEncoder>() {
            Ok(Reranker(c.get().inner.clone()))
        } else if let Ok(b) = obj.cast::<PyBiEncoderReranker>() {
            Ok(Reranker(b.get().inner.clone()))
        } else if let Ok(f) = obj.cast::<PyCallableReranker>() {
            Ok(Reranker(f.get().inner.clone()))
        } else {
            Err(PyTypeError::new_err(format!(
                "expected a reranker (CrossEncoder, BiEncoderReranker or CallableReranker), \
                 got {}",
                type_name(&obj)
            )))
        }
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
    run: Frame,
    queries: Frame,
    corpus: Frame,
    reranker: Reranker,
    depth: Option<usize>,
    k: usize,
    batch_size: usize,
    show_progress: Option<bool>,
) -> PyResult<PyDataFrame> {
    let scorer = reranker.0;
    let (run, queries, corpus) = (run.0, queries.0, corpus.0);
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
