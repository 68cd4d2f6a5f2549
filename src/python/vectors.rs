//! Bindings for the vector store: `VectorIndex`, ids and vectors given directly (no encoder),
//! exact or HNSW; and the store options `DenseIndex` shares.

use std::path::PathBuf;

use numpy::PyArray2;
use pyo3::prelude::*;

use super::args::{DocIds, Matrix, QueryIds};
use super::detach::{detach, detach_with_progress, progress};
use super::frame::PyDataFrame;
use super::retriever::Shared;
pub use crate::retrieve::Backend;
use crate::retrieve::{HnswParams, Storage, VectorOptions, VectorStore};

/// The store options of a `DenseIndex` or `VectorIndex` constructor.
pub(super) fn vector_options(
    backend: Backend,
    storage: Storage,
    rescore: usize,
    m: usize,
    ef_construction: usize,
    ef_search: usize,
    seed: u64,
) -> PyResult<VectorOptions> {
    let hnsw = HnswParams {
        m,
        ef_construction,
        ef_search,
        seed,
    };
    let options = VectorOptions {
        storage,
        rescore,
        hnsw: match backend {
            Backend::Exact => None,
            Backend::Hnsw => Some(hnsw),
        },
    };
    options.validate()?;
    Ok(options)
}

/// The getters `VectorIndex` and `DenseIndex` share, read from the vector store under each.
pub(super) mod getters {
    use numpy::{PyArray1, PyArray2, PyArrayMethods};
    use pyo3::prelude::*;

    use crate::retrieve::VectorStore;

    pub fn ef_search(store: &VectorStore) -> Option<usize> {
        store.options().hnsw.map(|p| p.ef_search)
    }

    pub fn doc_ids(store: &VectorStore) -> Vec<String> {
        store.ids().into_iter().map(str::to_owned).collect()
    }

    pub fn vectors<'py>(
        py: Python<'py>,
        store: &VectorStore,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        PyArray1::from_vec(py, store.vectors()).reshape([store.len(), store.dim()])
    }
}

/// A vector index over vectors computed elsewhere: ids and float32 vectors kept together,
/// searched by inner product (cosine similarity for unit-length vectors), ties broken by doc
/// id descending; exactly (``backend="exact"``, faiss' ``IndexFlatIP``) or through an HNSW
/// graph (``backend="hnsw"``, Malkov & Yashunin 2018). ``DenseIndex`` is the same index with
/// an ``Encoder`` in front.
///
/// Args:
///     dim: Values per vector.
///     backend: ``"exact"`` or ``"hnsw"``.
///     storage: What searches read: ``"f32"``, ``"f16"`` or ``"int8"``; a quantised search's
///         shortlist (``rescore * k`` rows of the exact scan; the best
///         ``min(ef_search, rescore * k)`` of the graph's beam) is rescored with the
///         full-precision vectors, which are kept in memory either way (the graph is built on
///         the same copy).
///     rescore: Shortlist size per result for quantised storage.
///     m: HNSW links per node (``2 * m`` on the bottom layer).
///     ef_construction: HNSW candidate list size while building.
///     ef_search: HNSW candidate list size while searching (at least ``k`` is used).
///     seed: Seed of the HNSW level draws.
#[pyclass(name = "VectorIndex", module = "ragplay._ragplay", frozen)]
pub struct PyVectorIndex {
    inner: Shared<VectorStore>,
}

#[pymethods]
impl PyVectorIndex {
    #[new]
    #[pyo3(signature = (dim, *, backend = "exact", storage = "f32", rescore = 4, m = 16, ef_construction = 200, ef_search = 96, seed = 42))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        dim: usize,
        backend: &str,
        storage: &str,
        rescore: usize,
        m: usize,
        ef_construction: usize,
        ef_search: usize,
        seed: u64,
    ) -> PyResult<Self> {
        let options = vector_options(
            backend.parse::<Backend>()?,
            storage.parse::<Storage>()?,
            rescore,
            m,
            ef_construction,
            ef_search,
            seed,
        )?;
        Ok(Self {
            inner: Shared::new(VectorStore::new(dim, options)?),
        })
    }

    /// Add vectors; their ids must be new. With the HNSW backend the graph grows (all cores,
    /// progress, Ctrl-C); an interrupted call adds nothing.
    ///
    /// Args:
    ///     doc_ids: One id per row (a list, a ``polars.Series``, or a frame with a ``doc_id``
    ///         column).
    ///     vectors: Float32 array of shape ``(len(doc_ids), dim)``, finite values.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    #[pyo3(signature = (doc_ids, vectors, *, show_progress = None))]
    fn add(
        &self,
        py: Python<'_>,
        doc_ids: DocIds,
        vectors: Matrix<'_>,
        show_progress: Option<bool>,
    ) -> PyResult<()> {
        let ids = doc_ids.into_vec();
        vectors.check_dim(self.inner.read()?.dim(), "vectors")?;
        let values = vectors.values()?;
        let desc = progress(py, show_progress, "vector add")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| {
            let mut next = self.inner.read_checked().clone();
            next.add(ids, values, cancel)?;
            *self.inner.write() = next;
            Ok(())
        })
    }

    /// Delete vectors by id (with the HNSW backend: marked, never returned, until
    /// ``compact``).
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

    /// Drop deleted vectors for good; with the HNSW backend, rebuild the graph over the live
    /// ones. An interrupted call leaves the index as it was.
    ///
    /// Args:
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    #[pyo3(signature = (*, show_progress = None))]
    fn compact(&self, py: Python<'_>, show_progress: Option<bool>) -> PyResult<()> {
        let desc = progress(py, show_progress, "vector compact")?;
        self.inner.check()?;
        detach_with_progress(py, desc, |cancel| self.inner.write().compact(cancel))
    }

    /// The top ``k`` documents of each query vector.
    ///
    /// Args:
    ///     query_vectors: Float32 array of shape ``(n_queries, dim)``.
    ///     query_ids: The id of each row (a list, a ``polars.Series``, or a frame with a
    ///         ``query_id`` column).
    ///     k: Documents per query.
    ///     allow: If given, only these document ids can be returned; ``k`` results come
    ///         back whenever ``k`` are allowed (the HNSW backend scans the allowed vectors
    ///         exactly when there are few).
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     A run table (``query_id``, ``doc_id``, ``score``, ``rank``).
    #[pyo3(signature = (query_vectors, *, query_ids, k = 100, allow = None, show_progress = None))]
    fn search(
        &self,
        py: Python<'_>,
        query_vectors: Matrix<'_>,
        query_ids: QueryIds,
        k: usize,
        allow: Option<DocIds>,
        show_progress: Option<bool>,
    ) -> PyResult<PyDataFrame> {
        let allow = allow.map(DocIds::into_vec);
        query_vectors.check_dim(self.inner.read()?.dim(), "query_vectors")?;
        let qs = query_vectors.values()?;
        let desc = progress(py, show_progress, "vector search")?;
        detach_with_progress(py, desc, |cancel| {
            self.inner
                .read_checked()
                .search_run(qs, &query_ids.ids, k, allow.as_deref(), cancel)
        })
        .map(PyDataFrame)
    }

    /// Recall@k of ``search`` against the exact scan on these query vectors, with the wall
    /// time of each.
    ///
    /// Args:
    ///     query_vectors: Float32 array of shape ``(n_queries, dim)``.
    ///     k: Results compared per query.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     One row: ``backend``, ``storage``, ``ef_search``, ``k``, ``queries``, ``recall``
    ///     (mean), ``recall_min``, ``exact_seconds``, ``search_seconds``, ``speedup``.
    #[pyo3(signature = (query_vectors, *, k = 100, show_progress = None))]
    fn recall_report(
        &self,
        py: Python<'_>,
        query_vectors: Matrix<'_>,
        k: usize,
        show_progress: Option<bool>,
    ) -> PyResult<PyDataFrame> {
        query_vectors.check_dim(self.inner.read()?.dim(), "query_vectors")?;
        let qs = query_vectors.values()?;
        let desc = progress(py, show_progress, "recall report")?;
        detach_with_progress(py, desc, |cancel| {
            self.inner.read_checked().recall_frame(qs, k, cancel)
        })
        .map(PyDataFrame)
    }

    /// Save to a folder (``vectors.bin`` and ``meta.json``), each file atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        self.inner.check()?;
        detach(py, |_| self.inner.read_checked().save(&path))
    }

    /// Load an index saved with ``save``.
    ///
    /// Raises:
    ///     DataError: A truncated, corrupted or foreign file.
    ///     FileNotFoundError: The folder or a file is missing.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let store = detach(py, move |_| VectorStore::load(&path))?;
        Ok(Self {
            inner: Shared::new(store),
        })
    }

    /// The HNSW graph's candidate list size while searching (``None`` for the exact
    /// backend); assign to trade recall for speed.
    #[getter]
    fn ef_search(&self) -> PyResult<Option<usize>> {
        Ok(getters::ef_search(&*self.inner.read()?))
    }

    #[setter]
    fn set_ef_search(&self, ef_search: usize) -> PyResult<()> {
        self.inner.check()?;
        Ok(self.inner.write().set_ef_search(ef_search)?)
    }

    /// The document ids, in row order.
    #[getter]
    fn doc_ids(&self) -> PyResult<Vec<String>> {
        Ok(getters::doc_ids(&*self.inner.read()?))
    }

    /// A copy of the vectors, float32 of shape ``(len(index), dim)``, rows in the order of
    /// ``doc_ids``.
    #[getter]
    fn vectors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        getters::vectors(py, &*self.inner.read()?)
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
        let store = self.inner.read()?;
        let o = store.options();
        Ok(format!(
            "VectorIndex(dim={}, documents={}, backend={:?}, storage={:?})",
            store.dim(),
            store.len(),
            o.backend().name(),
            o.storage.name()
        ))
    }
}
