//! Bindings for dense retrieval: the `DenseIndex` (vectors and ids kept together) and the
//! low-level `exact_search` over numpy arrays.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::embed::{cache_arg, PyEncoder};
use super::errors::{
    detach, detach_with_progress, frame_arg, ids_arg, json_to_py, progress, to_py, Shared,
};
use super::frame::PyDataFrame;
use super::vectors::vector_options;
use crate::data::schema::{DOC_ID, QUERY_ID};
use crate::embed::EncodeOptions;
use crate::retrieve::{DenseIndex, Retriever};

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
#[pyclass(name = "DenseIndex", module = "ragplay._ragplay", frozen)]
pub struct PyDenseIndex {
    pub(super) inner: Shared<DenseIndex>,
}

fn encode_options(batch_size: usize, normalize: Option<bool>) -> EncodeOptions {
    EncodeOptions {
        batch_size,
        normalize,
        prefix: None,
    }
}

#[pymethods]
impl PyDenseIndex {
    #[new]
    #[pyo3(signature = (encoder, *, cache = None, batch_size = 32, normalize = None, backend = "exact", storage = "f32", rescore = 4, m = 16, ef_construction = 200, ef_search = 96, seed = 42))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        encoder: PyRef<'_, PyEncoder>,
        cache: Option<&Bound<'_, PyAny>>,
        batch_size: usize,
        normalize: Option<bool>,
        backend: &str,
        storage: &str,
        rescore: usize,
        m: usize,
        ef_construction: usize,
        ef_search: usize,
        seed: u64,
    ) -> PyResult<Self> {
        let vectors = vector_options(
            backend,
            storage,
            rescore,
            m,
            ef_construction,
            ef_search,
            seed,
        )?;
        let index = DenseIndex::new(
            Arc::clone(&encoder.inner),
            cache_arg(cache)?,
            encode_options(batch_size, normalize),
            vectors,
        )
        .map_err(to_py)?;
        Ok(Self {
            inner: Shared::new(index),
        })
    }

    /// Embed and index a corpus table (``doc_id``, ``text``, optional ``title``; title and
    /// text joined by a space), replacing what the index held. An interrupted call (Ctrl-C)
    /// leaves the previous index in place.
    ///
    /// Args:
    ///     corpus: A corpus table.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    #[pyo3(signature = (corpus, *, show_progress = None))]
    fn index(
        &self,
        py: Python<'_>,
        corpus: &Bound<'_, PyAny>,
        show_progress: Option<bool>,
    ) -> PyResult<()> {
        let corpus = frame_arg(corpus, "corpus")?;
        let desc = progress(py, show_progress, "dense index")?;
        // Built beside the current index, swapped in only when complete.
        let mut fresh = self.inner.read()?.empty_like();
        let built = detach_with_progress(py, desc, move |cancel| {
            Retriever::index(&mut fresh, &corpus, cancel)?;
            Ok(fresh)
        })?;
        *self.inner.write() = built;
        Ok(())
    }

    /// Embed and add documents; their ids must be new. An interrupted call adds nothing.
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
        let desc = progress(py, show_progress, "dense add")?;
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

    /// Search every query of a queries table (``query_id``, ``text``): queries are embedded
    /// with the encoder's query prefix, documents ranked by inner product.
    ///
    /// Args:
    ///     queries: A queries table.
    ///     k: Documents per query.
    ///     allow: If given, only these document ids can be returned (a list, a
    ///         ``polars.Series``, or a frame with a ``doc_id`` column). The exact backend
    ///         scans only them; the HNSW backend skips the others while navigating, or scans
    ///         the allowed ones when there are few, so ``k`` results come back whenever ``k``
    ///         are allowed.
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
        let desc = progress(py, show_progress, "dense search")?;
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
        query_vectors: &Bound<'_, PyAny>,
        query_ids: &Bound<'_, PyAny>,
        k: usize,
        allow: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyDataFrame> {
        let q = matrix_arg(query_vectors, "query_vectors")?;
        let query_ids = ids_arg(query_ids, "query_ids", QUERY_ID)?;
        let allow = allow.map(|a| ids_arg(a, "allow", DOC_ID)).transpose()?;
        let dim = self.inner.read()?.dim();
        check_dim(q.shape()[1], dim, "query_vectors")?;
        let qs = q.as_slice()?;
        detach(py, |cancel| {
            self.inner
                .read_checked()
                .search_vectors(qs, &query_ids, k, allow.as_deref(), cancel)
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
        cache: Option<&Bound<'_, PyAny>>,
        batch_size: usize,
        normalize: Option<bool>,
    ) -> PyResult<Self> {
        let encoder = Arc::clone(&encoder.inner);
        let cache = cache_arg(cache)?;
        let options = encode_options(batch_size, normalize);
        let index = detach(py, move |_| {
            DenseIndex::load(&path, encoder, cache, options)
        })?;
        Ok(Self {
            inner: Shared::new(index),
        })
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
        queries: &Bound<'_, PyAny>,
        k: usize,
        show_progress: Option<bool>,
    ) -> PyResult<PyDataFrame> {
        let queries = frame_arg(queries, "queries")?;
        let desc = progress(py, show_progress, "recall report")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| {
            self.inner.read_checked().recall_report(&queries, k, cancel)
        })
        .map(PyDataFrame)
    }

    /// The HNSW graph's candidate list size while searching (``None`` for the exact
    /// backend); assign to trade recall for speed.
    #[getter]
    fn ef_search(&self) -> PyResult<Option<usize>> {
        Ok(self
            .inner
            .read()?
            .store()
            .options()
            .hnsw
            .map(|p| p.ef_search))
    }

    #[setter]
    fn set_ef_search(&self, ef_search: usize) -> PyResult<()> {
        self.inner.check()?;
        self.inner.write().set_ef_search(ef_search).map_err(to_py)
    }

    /// The document ids, in row order.
    #[getter]
    fn doc_ids(&self) -> PyResult<Vec<String>> {
        Ok(self
            .inner
            .read()?
            .ids()
            .into_iter()
            .map(str::to_owned)
            .collect())
    }

    /// A copy of the document vectors, float32 of shape ``(len(index), dim)``, rows in the
    /// order of ``doc_ids``.
    #[getter]
    fn vectors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let index = self.inner.read()?;
        PyArray1::from_vec(py, index.vectors()).reshape([index.len(), index.dim()])
    }

    /// The vector dimension.
    #[getter]
    fn dim(&self) -> PyResult<usize> {
        Ok(self.inner.read()?.dim())
    }

    /// The retriever's name in runs and the lab: ``"dense"``.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(Retriever::name(&*self.inner.read()?))
    }

    /// The configuration (model folder, pooling, normalisation, prefixes) as a dict.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &Retriever::config(&*self.inner.read()?))
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.inner.read()?.len())
    }

    fn __repr__(&self) -> PyResult<String> {
        let index = self.inner.read()?;
        let v = index.store().options();
        Ok(format!(
            "DenseIndex(model_dir={:?}, dim={}, documents={}, backend={:?}, storage={:?})",
            index.encoder().files().dir,
            index.dim(),
            index.len(),
            v.backend(),
            v.storage.name()
        ))
    }
}

/// A float32 matrix argument, borrowed from numpy.
pub(super) fn matrix_arg<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<numpy::PyReadonlyArray2<'py, f32>> {
    let arr = obj
        .cast::<PyArray2<f32>>()
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "{name} must be a 2-D numpy float32 array (np.asarray(x, dtype=np.float32))"
            ))
        })?
        .readonly();
    if !arr.is_c_contiguous() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be C-contiguous (np.ascontiguousarray)"
        )));
    }
    Ok(arr)
}

pub(super) fn check_dim(got: usize, want: usize, name: &'static str) -> PyResult<()> {
    if got != want {
        return Err(to_py(crate::Error::config(
            name,
            format!("vectors have {got} values, the index {want}"),
        )));
    }
    Ok(())
}

/// Exact dense retrieval: the top ``k`` documents of each query by inner product (cosine
/// similarity for unit-length vectors), ties broken by doc id descending. Parallel over
/// queries, GIL released. ``DenseIndex`` keeps vectors and ids together; this function takes
/// them side by side.
///
/// Args:
///     queries: Query vectors, float32 of shape ``(n_queries, dim)``.
///     docs: Document vectors, float32 of shape ``(n_docs, dim)``.
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
#[pyo3(signature = (queries, docs, *, query_ids, doc_ids, k = 100))]
pub fn exact_search(
    py: Python<'_>,
    queries: &Bound<'_, PyAny>,
    docs: &Bound<'_, PyAny>,
    query_ids: &Bound<'_, PyAny>,
    doc_ids: &Bound<'_, PyAny>,
    k: usize,
) -> PyResult<PyDataFrame> {
    let q = matrix_arg(queries, "queries")?;
    let d = matrix_arg(docs, "docs")?;
    let query_ids = ids_arg(query_ids, "query_ids", QUERY_ID)?;
    let doc_ids = ids_arg(doc_ids, "doc_ids", DOC_ID)?;
    let dim = q.shape()[1];
    if d.shape()[1] != dim {
        return Err(to_py(crate::Error::config(
            "docs",
            format!(
                "document vectors have {} values, query vectors {dim}",
                d.shape()[1]
            ),
        )));
    }
    let qs = q.as_slice()?;
    let ds = d.as_slice()?;
    detach(py, |cancel| {
        crate::retrieve::exact_search(qs, &query_ids, ds, &doc_ids, dim, k, cancel)
    })
    .map(PyDataFrame)
}
