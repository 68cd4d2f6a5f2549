//! Bindings for the BM25 retriever (the dense index is in `dense.rs`).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::{
    detach, detach_with_progress, frame_arg, ids_arg, json_to_py, progress, to_py, Shared,
};
use super::frame::PyDataFrame;
use super::text::PyAnalyzer;
use crate::data::schema::DOC_ID;
use crate::retrieve::{Bm25, Bm25Config, Fields, Params, Retriever, Variant};
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
#[pyclass(name = "BM25", module = "ragplay._ragplay", frozen)]
pub struct PyBm25 {
    pub(super) inner: Shared<Bm25>,
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
    ) -> PyResult<Self> {
        let variant: Variant = variant.parse().map_err(to_py)?;
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
        Ok(Self {
            inner: Shared::new(Bm25::new(config).map_err(to_py)?),
        })
    }

    /// Index a corpus table (``doc_id``, ``text`` and optional ``title``, or the configured
    /// fields), replacing what the index held. Runs on all cores with the GIL released; an
    /// interrupted call (Ctrl-C) leaves the previous index in place.
    ///
    /// Args:
    ///     corpus: A corpus table.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Raises:
    ///     DataError: An empty corpus, a duplicate or null id, a missing column.
    #[pyo3(signature = (corpus, *, show_progress = None))]
    fn index(
        &self,
        py: Python<'_>,
        corpus: &Bound<'_, PyAny>,
        show_progress: Option<bool>,
    ) -> PyResult<()> {
        let corpus = frame_arg(corpus, "corpus")?;
        let config = self.inner.read()?.config().clone();
        let desc = progress(py, show_progress, "BM25 index")?;
        let built =
            detach_with_progress(py, desc, move |cancel| Bm25::build(config, &corpus, cancel))?;
        *self.inner.write() = built;
        Ok(())
    }

    /// Add documents; their ids must be new. Statistics and scores are updated, so results
    /// equal those of a fresh index of all the documents. An interrupted call adds nothing.
    ///
    /// Args:
    ///     corpus: A corpus table.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    #[pyo3(signature = (corpus, *, show_progress = None))]
    fn add(
        &self,
        py: Python<'_>,
        corpus: &Bound<'_, PyAny>,
        show_progress: Option<bool>,
    ) -> PyResult<()> {
        let corpus = frame_arg(corpus, "corpus")?;
        let desc = progress(py, show_progress, "BM25 add")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| self.inner.write().add(&corpus, cancel))
    }

    /// Delete documents by id.
    ///
    /// Args:
    ///     doc_ids: The ids: a list, a ``polars.Series``, or a frame with a ``doc_id`` column.
    ///
    /// Raises:
    ///     DataError: An id the index does not hold (nothing is deleted then).
    fn delete(&self, py: Python<'_>, doc_ids: &Bound<'_, PyAny>) -> PyResult<()> {
        let doc_ids = ids_arg(doc_ids, "doc_ids", DOC_ID)?;
        self.inner.check()?;
        detach(py, |_| self.inner.write().delete(&doc_ids))
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

    /// Search every query of a queries table (``query_id``, ``text``).
    ///
    /// Exact top-k: ties broken by doc id descending (``trec_eval``'s order). A query with no
    /// indexed term (empty, only stop words) returns no rows.
    ///
    /// Args:
    ///     queries: A queries table.
    ///     k: Documents per query.
    ///     allow: If given, only these document ids can be returned (a list, a
    ///         ``polars.Series``, or a frame with a ``doc_id`` column).
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
        let desc = progress(py, show_progress, "BM25 search")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| {
            self.inner
                .read_checked()
                .search(&queries, k, allow.as_deref(), cancel)
        })
        .map(PyDataFrame)
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
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let index = detach(py, move |_| Bm25::load(&path))?;
        Ok(Self {
            inner: Shared::new(index),
        })
    }

    /// The retriever's name in runs and the lab: ``"bm25"``.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(Retriever::name(&*self.inner.read()?))
    }

    /// The configuration (variant, parameters, analyzer, fields) as a dict.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &Retriever::config(&*self.inner.read()?))
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
            inner: std::sync::Arc::new(crate::text::Analyzer::new(config).map_err(to_py)?),
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
