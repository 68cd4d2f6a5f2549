//! Bindings for the BM25 retriever (the dense index is in `dense.rs`); `index`, `search`,
//! `name` and `config` come from the retriever base class (`retriever.rs`).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::args::{DocIds, Frame};
use super::detach::{detach, detach_with_progress, progress};
use super::frame::PyDataFrame;
use super::retriever::{PyRetriever, Shared};
use super::text::PyAnalyzer;
use crate::retrieve::{Bm25, Bm25Config, Fields, Params, Variant};
use crate::text::AnalyzerConfig;

/// An in-process BM25 index with exact top-k search.
///
/// Variants as bm25s and Kamphuis et al. (ECIR 2020) define them: ``"lucene"`` (default),
/// ``"robertson"``, ``"atire"``, ``"bm25l"``, ``"bm25+"``, and ``"okapi"`` (rank_bm25's
/// ``BM25Okapi``: Robertson idf with negative values raised to epsilon x the mean idf, and
/// the (k1 + 1) numerator). The defaults (k1 = 0.9, b = 0.4,
/// Lucene's English analyzer, title and text joined) are Anserini's for BEIR.
///
/// Args:
///     variant: The BM25 variant.
///     k1: Term-frequency saturation, >= 0.
///     b: Length normalisation, in [0, 1].
///     delta: The lower bound of ``bm25l`` and ``bm25+``.
///     epsilon: The idf floor factor of ``okapi``.
///     analyzer: The analyzer for documents and queries; ``Analyzer()`` if omitted.
///     fields: ``None`` joins ``title`` and ``text``; a dict of column name to weight indexes
///         each column as its own field (score = sum of weight x field score).
///
/// Raises:
///     ConfigError: A parameter out of range or an unknown variant.
#[pyclass(name = "BM25", module = "ragplay._ragplay", extends = PyRetriever, frozen)]
pub struct PyBm25 {
    inner: Shared<Bm25>,
}

impl PyBm25 {
    fn wrap(index: Bm25) -> PyClassInitializer<Self> {
        let inner = Shared::new(index);
        PyClassInitializer::from(PyRetriever::of(&inner)).add_subclass(Self { inner })
    }
}

#[pymethods]
impl PyBm25 {
    #[new]
    #[pyo3(signature = (*, variant = "lucene", k1 = 0.9, b = 0.4, delta = 0.5, epsilon = 0.25, analyzer = None, fields = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        variant: &str,
        k1: f64,
        b: f64,
        delta: f64,
        epsilon: f64,
        analyzer: Option<PyRef<'_, PyAnalyzer>>,
        fields: Option<Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let variant = variant.parse::<Variant>()?;
        let fields: Option<Vec<(String, f64)>> = fields
            .map(|d| {
                d.iter()
                    .map(|(k, v)| Ok((k.extract()?, v.extract()?)))
                    .collect::<PyResult<_>>()
            })
            .transpose()?;
        let config = Bm25Config {
            params: Params {
                variant,
                k1,
                b,
                delta,
                epsilon,
            },
            analyzer: analyzer.map_or_else(AnalyzerConfig::default, |a| a.inner.config().clone()),
            fields: fields.map_or(Fields::Joined, Fields::Separate),
        };
        Ok(Self::wrap(Bm25::new(config)?))
    }

    /// Add documents; their ids must be new. Statistics and scores are updated, so results
    /// equal those of a fresh index of all the documents. An interrupted call adds nothing.
    ///
    /// Args:
    ///     corpus: A corpus table.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    #[pyo3(signature = (corpus, *, show_progress = None))]
    fn add(&self, py: Python<'_>, corpus: Frame, show_progress: Option<bool>) -> PyResult<()> {
        let desc = progress(py, show_progress, "bm25 add")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| self.inner.write().add(&corpus.0, cancel))
    }

    /// Delete documents by id.
    ///
    /// Args:
    ///     doc_ids: The ids: a list, a ``polars.Series``, or a frame with a ``doc_id`` column.
    ///
    /// Raises:
    ///     DataError: An id the index does not hold (nothing is deleted then).
    fn delete(&self, py: Python<'_>, doc_ids: DocIds) -> PyResult<()> {
        self.inner.check()?;
        detach(py, |_| self.inner.write().delete(&doc_ids.ids))
    }

    /// Reclaim the space of deleted documents now: the live documents are renumbered densely
    /// and every per-document array shrinks. Results do not change (they equal a fresh index
    /// of the live documents). ``delete`` does this by itself once more than a quarter of the
    /// slots are dead, and ``save`` writes only the live documents.
    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.check()?;
        detach(py, |_| {
            self.inner.write().compact();
            Ok(())
        })
    }

    /// Document slots held, deleted ones included (equals ``len(index)`` after ``compact``).
    #[getter]
    fn num_slots(&self) -> PyResult<usize> {
        Ok(self.inner.read()?.num_slots())
    }

    /// Each query term's contribution to a document's score: ``field``, ``term``, ``tf``,
    /// ``df``, ``idf``, ``doc_len``, ``avg_doc_len``, ``score`` (summing to the search score).
    fn explain(&self, py: Python<'_>, query: String, doc_id: String) -> PyResult<PyDataFrame> {
        self.inner.check()?;
        detach(py, |_| self.inner.read_checked().explain(&query, &doc_id)).map(PyDataFrame)
    }

    /// Save the index to a folder (``index.bin`` and ``meta.json``), atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        self.inner.check()?;
        detach(py, |_| self.inner.read_checked().save(&path))
    }

    /// Load an index saved with ``save``.
    ///
    /// Raises:
    ///     DataError: A truncated, corrupted or foreign file, or another format version.
    ///     FileNotFoundError: The folder or a file is missing.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Py<Self>> {
        let index = detach(py, move |_| Bm25::load(&path))?;
        Py::new(py, Self::wrap(index))
    }

    /// Number of distinct terms in the vocabulary (since the last compaction, terms of deleted
    /// documents included).
    #[getter]
    fn num_terms(&self) -> PyResult<usize> {
        Ok(self.inner.read()?.num_terms())
    }

    /// The analyzer applied to documents and queries.
    #[getter]
    fn analyzer(&self) -> PyResult<PyAnalyzer> {
        let config = self.inner.read()?.analyzer().config().clone();
        Ok(PyAnalyzer {
            inner: std::sync::Arc::new(crate::text::Analyzer::new(config)?),
        })
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.inner.read()?.len())
    }

    fn __repr__(&self) -> PyResult<String> {
        let index = self.inner.read()?;
        let p = index.config().params;
        Ok(format!(
            "BM25(variant={:?}, k1={}, b={}, delta={}, documents={}, terms={})",
            p.variant.name(),
            p.k1,
            p.b,
            p.delta,
            index.len(),
            index.num_terms()
        ))
    }
}
