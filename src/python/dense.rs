//! Bindings for dense retrieval: the `DenseIndex` (vectors and ids kept together; `index`,
//! `search`, `name` and `config` from the retriever base class) and the low-level
//! `exact_search` over numpy arrays.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::PyArray2;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::args::{given_twice, renamed, DocIds, Frame, Matrix, QueryIds};
use super::detach::{detach, detach_with_progress, progress};
use super::embed::{cache, Cache, PyEncoder};
use super::frame::PyDataFrame;
use super::retriever::{PyRetriever, Shared};
use super::vectors::{getters, vector_options, Backend};
use crate::embed::EncodeOptions;
use crate::retrieve::{DenseIndex, Storage};

/// A dense index: documents embedded with an ``Encoder``, kept together with their ids,
/// searched by inner product (cosine similarity for unit-length vectors), ties broken by doc
/// id descending; exactly (``backend="exact"``, faiss' ``IndexFlatIP``) or through an HNSW
/// graph (``backend="hnsw"``).
///
/// Because the index holds the ids, filtering or reordering the corpus after indexing cannot
/// misalign vectors and documents.
///
/// Args:
///     encoder: The ``Encoder`` for documents and queries.
///     cache: An ``EmbeddingCache`` (or a folder for one) that document vectors are read
///         from and written to.
///     batch_size: Texts per forward pass.
///     normalize: L2-normalise vectors; the encoder's default if omitted.
///     backend: ``"exact"`` (every vector scanned) or ``"hnsw"`` (a navigable graph,
///         Malkov & Yashunin 2018; check it with ``recall_report``).
///     storage: What searches read: ``"f32"``, ``"f16"`` or ``"int8"`` (per-vector scalar
///         quantisation); with ``f16``/``int8`` a shortlist (``rescore * k`` rows of the exact
///         scan; the best ``min(ef_search, rescore * k)`` of the graph's beam) is rescored
///         with the full-precision vectors, so scores are exact. The full-precision vectors
///         are kept in memory either way; the graph is built on the same copy.
///     rescore: Shortlist size per result for quantised storage.
///     m: HNSW links per node (``2 * m`` on the bottom layer).
///     ef_construction: HNSW candidate list size while building.
///     ef_search: HNSW candidate list size while searching (at least ``k`` is used).
///     seed: Seed of the HNSW level draws.
#[pyclass(name = "DenseIndex", module = "ragplay._ragplay", extends = PyRetriever, frozen)]
pub struct PyDenseIndex {
    pub(super) inner: Shared<DenseIndex>,
}

fn encode_options(batch_size: usize, normalize: Option<bool>) -> EncodeOptions {
    EncodeOptions {
        batch_size,
        normalize,
        ..EncodeOptions::default()
    }
}

impl PyDenseIndex {
    fn wrap(index: DenseIndex) -> PyClassInitializer<Self> {
        let inner = Shared::new(index);
        PyClassInitializer::from(PyRetriever::of_dense(&inner)).add_subclass(Self { inner })
    }
}

#[pymethods]
impl PyDenseIndex {
    #[new]
    #[pyo3(signature = (encoder, *, cache = None, batch_size = 32, normalize = None, backend = "exact", storage = "f32", rescore = 4, m = 16, ef_construction = 200, ef_search = 96, seed = 42))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        encoder: PyRef<'_, PyEncoder>,
        cache: Option<Cache>,
        batch_size: usize,
        normalize: Option<bool>,
        backend: &str,
        storage: &str,
        rescore: usize,
        m: usize,
        ef_construction: usize,
        ef_search: usize,
        seed: u64,
    ) -> PyResult<PyClassInitializer<Self>> {
        let vectors = vector_options(
            backend.parse::<Backend>()?,
            storage.parse::<Storage>()?,
            rescore,
            m,
            ef_construction,
            ef_search,
            seed,
        )?;
        let index = DenseIndex::new(
            Arc::clone(&encoder.inner),
            self::cache(cache),
            encode_options(batch_size, normalize),
            vectors,
        )?;
        Ok(Self::wrap(index))
    }

    /// Embed and add documents; their ids must be new. An interrupted call adds nothing.
    ///
    /// Args:
    ///     corpus: A corpus table.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    #[pyo3(signature = (corpus, *, show_progress = None))]
    fn add(&self, py: Python<'_>, corpus: Frame, show_progress: Option<bool>) -> PyResult<()> {
        let desc = progress(py, show_progress, "dense add")?;
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

    /// Search with query vectors computed elsewhere.
    ///
    /// Args:
    ///     query_vectors: Float32 array of shape ``(n_queries, dim)``.
    ///     query_ids: The id of each row (a list, a ``polars.Series``, or a frame with a
    ///         ``query_id`` column).
    ///     k: Documents per query.
    ///     allow: As for ``search``.
    ///
    /// Returns:
    ///     A run table.
    #[pyo3(signature = (query_vectors, *, query_ids, k = 100, allow = None))]
    fn search_vectors(
        &self,
        py: Python<'_>,
        query_vectors: Matrix<'_>,
        query_ids: QueryIds,
        k: usize,
        allow: Option<DocIds>,
    ) -> PyResult<PyDataFrame> {
        let allow = allow.map(DocIds::into_vec);
        query_vectors.check_dim(self.inner.read()?.dim(), "query_vectors")?;
        let qs = query_vectors.values()?;
        detach(py, |cancel| {
            self.inner.read_checked().search_vectors(
                qs,
                &query_ids.ids,
                k,
                allow.as_deref(),
                cancel,
            )
        })
        .map(PyDataFrame)
    }

    /// Save the index to a folder (``index.bin`` and ``meta.json``), atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        self.inner.check()?;
        detach(py, |_| self.inner.read_checked().save(&path))
    }

    /// Load an index saved with ``save``.
    ///
    /// Args:
    ///     path: The folder.
    ///     encoder: The encoder the index was built with (its fingerprint is checked).
    ///     cache: As for the constructor.
    ///     batch_size: As for the constructor.
    ///     normalize: As for the constructor.
    ///
    /// Raises:
    ///     ModelError: The index was built with another model.
    ///     DataError: A truncated, corrupted or foreign file.
    ///     FileNotFoundError: The folder or a file is missing.
    #[staticmethod]
    #[pyo3(signature = (path, encoder, *, cache = None, batch_size = 32, normalize = None))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        encoder: PyRef<'_, PyEncoder>,
        cache: Option<Cache>,
        batch_size: usize,
        normalize: Option<bool>,
    ) -> PyResult<Py<Self>> {
        let encoder = Arc::clone(&encoder.inner);
        let cache = self::cache(cache);
        let options = encode_options(batch_size, normalize);
        let index = detach(py, move |_| {
            DenseIndex::load(&path, encoder, cache, options)
        })?;
        Py::new(py, Self::wrap(index))
    }

    /// Drop deleted documents for good. With the HNSW backend a deletion only marks the
    /// node (it is still navigated, never returned); ``compact`` rebuilds the graph over the
    /// live documents. An interrupted call (Ctrl-C) leaves the index as it was.
    ///
    /// Args:
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    #[pyo3(signature = (*, show_progress = None))]
    fn compact(&self, py: Python<'_>, show_progress: Option<bool>) -> PyResult<()> {
        let desc = progress(py, show_progress, "dense compact")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| self.inner.write().compact(cancel))
    }

    /// How closely the index's search matches the exact scan: recall@k of ``search``
    /// against exact search on these queries, with the wall time of each.
    ///
    /// Args:
    ///     queries: A queries table (``query_id``, ``text``).
    ///     k: Results compared per query.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     One row: ``backend``, ``storage``, ``ef_search``, ``k``, ``queries``, ``recall``
    ///     (mean), ``recall_min``, ``exact_seconds``, ``search_seconds``, ``speedup``.
    #[pyo3(signature = (queries, *, k = 100, show_progress = None))]
    fn recall_report(
        &self,
        py: Python<'_>,
        queries: Frame,
        k: usize,
        show_progress: Option<bool>,
    ) -> PyResult<PyDataFrame> {
        let desc = progress(py, show_progress, "recall report")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| {
            self.inner
                .read_checked()
                .recall_report(&queries.0, k, cancel)
        })
        .map(PyDataFrame)
    }

    /// The HNSW graph's candidate list size while searching (``None`` for the exact
    /// backend); assign to trade recall for speed.
    #[getter]
    fn ef_search(&self) -> PyResult<Option<usize>> {
        Ok(getters::ef_search(self.inner.read()?.store()))
    }

    #[setter]
    fn set_ef_search(&self, ef_search: usize) -> PyResult<()> {
        self.inner.check()?;
        Ok(self.inner.write().set_ef_search(ef_search)?)
    }

    /// The document ids, in row order.
    #[getter]
    fn doc_ids(&self) -> PyResult<Vec<String>> {
        Ok(getters::doc_ids(self.inner.read()?.store()))
    }

    /// A copy of the document vectors, float32 of shape ``(len(index), dim)``, rows in the
    /// order of ``doc_ids``.
    #[getter]
    fn vectors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        getters::vectors(py, self.inner.read()?.store())
    }

    /// The vector dimension.
    #[getter]
    fn dim(&self) -> PyResult<usize> {
        Ok(self.inner.read()?.dim())
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.inner.read()?.len())
    }

    fn __repr__(&self) -> PyResult<String> {
        let index = self.inner.read()?;
        let v = index.store().options();
        Ok(format!(
            "DenseIndex(model={:?}, dim={}, documents={}, backend={:?}, storage={:?})",
            index.encoder().source(),
            index.dim(),
            index.len(),
            v.backend().name(),
            v.storage.name()
        ))
    }
}

/// Exact dense retrieval: the top ``k`` documents of each query by inner product (cosine
/// similarity for unit-length vectors), ties broken by doc id descending. Parallel over
/// queries, GIL released. ``DenseIndex`` keeps vectors and ids together; this function takes
/// them side by side.
///
/// Args:
///     query_vectors: Query vectors, float32 of shape ``(n_queries, dim)`` (``queries=``
///         before this release).
///     doc_vectors: Document vectors, float32 of shape ``(n_docs, dim)`` (``docs=`` before
///         this release).
///     query_ids: The id of each query row (a list, a ``polars.Series``, a numpy array, or a
///         frame with a ``query_id`` column).
///     doc_ids: The id of each document row, unique (likewise, ``doc_id`` for a frame).
///     k: Documents per query.
///
/// Returns:
///     A run table (``query_id``, ``doc_id``, ``score``, ``rank``).
///
/// Raises:
///     ConfigError: Shapes and ids disagree, ``k`` is 0, or a vector holds NaN or infinity.
///     DataError: No documents, or a duplicate doc id.
#[pyfunction]
#[pyo3(
    signature = (query_vectors = None, doc_vectors = None, *, query_ids, doc_ids, k = 100, **deprecated),
    text_signature = "(query_vectors, doc_vectors, *, query_ids, doc_ids, k=100)"
)]
pub fn exact_search<'py>(
    py: Python<'py>,
    query_vectors: Option<Bound<'py, PyAny>>,
    doc_vectors: Option<Bound<'py, PyAny>>,
    query_ids: QueryIds,
    doc_ids: DocIds,
    k: usize,
    deprecated: Option<&Bound<'py, PyDict>>,
) -> PyResult<PyDataFrame> {
    let (mut queries, mut docs) = (query_vectors, doc_vectors);
    let renames = [("queries", "query_vectors"), ("docs", "doc_vectors")];
    for (new, value) in renamed(py, deprecated, &renames)? {
        let query = new == "query_vectors";
        let slot = if query { &mut queries } else { &mut docs };
        if slot.is_some() {
            let old = if query { "queries" } else { "docs" };
            return Err(given_twice(old, new));
        }
        *slot = Some(value);
    }
    let missing = |name: &str| {
        PyTypeError::new_err(format!(
            "exact_search() missing required argument: {name:?}"
        ))
    };
    let queries = queries.ok_or_else(|| missing("query_vectors"))?;
    let docs = docs.ok_or_else(|| missing("doc_vectors"))?;
    let queries: Matrix<'py> = queries
        .extract()
        .map_err(|e| named(py, "query_vectors", e))?;
    let docs: Matrix<'py> = docs.extract().map_err(|e| named(py, "doc_vectors", e))?;
    let dim = queries.dim();
    if docs.dim() != dim {
        return Err(crate::Error::config(
            "doc_vectors",
            format!(
                "document vectors have {} values, query vectors {dim}",
                docs.dim()
            ),
        )
        .into());
    }
    let (qs, ds) = (queries.values()?, docs.values()?);
    detach(py, |cancel| {
        crate::retrieve::exact_search(qs, &query_ids.ids, ds, &doc_ids.ids, dim, k, cancel)
    })
    .map(PyDataFrame)
}

/// A `TypeError` from reading an argument by hand, prefixed with its name as pyo3 does.
fn named(py: Python<'_>, name: &str, e: PyErr) -> PyErr {
    if e.is_instance_of::<PyTypeError>(py) {
        PyTypeError::new_err(format!("argument '{name}': {}", e.value(py)))
    } else {
        e
    }
}
