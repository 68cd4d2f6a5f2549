//! The retriever base class of the bindings, and the shared index lock under every index.
//!
//! `BaseRetriever` holds a [`SharedRetriever`] and implements the methods every retriever has
//! once: `index`, `search`, `name`, `config` (as tokenizers' `PyModel` does for its models).
//! `BM25`, `DenseIndex`, `Pipeline` and `Chunked` extend it and add their own methods on a
//! typed handle to the same lock, so a `Pipeline` or `Chunked` takes any of them through
//! [`RetrieverArg`] without knowing their classes.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::args::{json_to_py, type_name, DocIds, Frame};
use super::detach::{detach_with_progress, progress};
use super::errors::internal;
use super::frame::PyDataFrame;
use crate::retrieve::{DenseIndex, Retriever, SharedRetriever};

/// An index shared by a Python object: searches read it concurrently, updates write it. A
/// panic inside an update (reported as `InternalError`) poisons the lock, since the index may
/// then be half-updated: every later use is an `InternalError` asking to rebuild it. The lock
/// is reference-counted so that pipelines can hold the same index.
pub struct Shared<T: ?Sized>(Arc<RwLock<T>>);

fn poisoned() -> PyErr {
    internal(
        "this index was left inconsistent by an earlier internal error; build or load it again",
    )
}

impl<T> Shared<T> {
    pub fn new(value: T) -> Self {
        Self(Arc::new(RwLock::new(value)))
    }
}

impl<T: ?Sized> Shared<T> {
    /// The shared lock itself (for a pipeline).
    pub fn arc(&self) -> Arc<RwLock<T>> {
        Arc::clone(&self.0)
    }

    /// `InternalError` if an earlier update panicked; every binding method calls it first.
    pub fn check(&self) -> PyResult<()> {
        if self.0.is_poisoned() {
            return Err(poisoned());
        }
        Ok(())
    }

    /// The index to read; `InternalError` if an earlier update panicked.
    pub fn read(&self) -> PyResult<RwLockReadGuard<'_, T>> {
        self.check()?;
        Ok(self.read_checked())
    }

    /// The index to read on a worker thread, after [`Shared::check`] on the calling one.
    pub fn read_checked(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The index to update on a worker thread, after [`Shared::check`] on the calling one.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// What every retriever does: index a corpus, search queries, describe itself. Not
/// constructed directly; ``BM25``, ``DenseIndex``, ``Pipeline`` and ``Chunked`` are
/// retrievers, and so is any object with the same members (``ragplay.Retriever``).
#[pyclass(name = "BaseRetriever", module = "ragplay._ragplay", subclass, frozen)]
pub struct PyRetriever {
    shared: Shared<dyn Retriever>,
    /// The dense index this retriever is, if one (MMR's default vectors in a pipeline).
    dense: Option<Arc<RwLock<DenseIndex>>>,
}

impl PyRetriever {
    /// The base of a retriever held in `shared`.
    pub fn of<T: Retriever + 'static>(shared: &Shared<T>) -> Self {
        let arc: SharedRetriever = shared.arc();
        Self {
            shared: Shared(arc),
            dense: None,
        }
    }

    /// The base of a dense index.
    pub fn of_dense(shared: &Shared<DenseIndex>) -> Self {
        Self {
            dense: Some(shared.arc()),
            ..Self::of(shared)
        }
    }

    /// The shared retriever; `InternalError` if an earlier update left it inconsistent.
    pub fn shared(&self) -> PyResult<SharedRetriever> {
        self.shared.check()?;
        Ok(self.shared.arc())
    }
}

#[pymethods]
impl PyRetriever {
    /// Index a corpus table (``doc_id``, ``text`` and optional ``title``; a ``BM25`` with
    /// ``fields`` reads those columns), replacing what the index held. Runs on all cores with the GIL released; an interrupted call (Ctrl-C)
    /// or a failed one leaves the previous index in place.
    ///
    /// Args:
    ///     corpus: A corpus table.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Raises:
    ///     DataError: An empty corpus, a duplicate or null id, a missing column.
    #[pyo3(signature = (corpus, *, show_progress = None))]
    fn index(&self, py: Python<'_>, corpus: Frame, show_progress: Option<bool>) -> PyResult<()> {
        let label = format!("{} index", self.name()?);
        let desc = progress(py, show_progress, &label)?;
        self.shared.check()?;
        detach_with_progress(py, desc, |cancel| {
            Retriever::index(&mut *self.shared.write(), &corpus.0, cancel)
        })
    }

    /// Search every query of a queries table (``query_id``, ``text``).
    ///
    /// Exact top-k for ``BM25`` and exact ``DenseIndex`` backends, ranked in run order
    /// (score descending, ties by doc id descending); a query that matches nothing returns
    /// no rows.
    ///
    /// Args:
    ///     queries: A queries table.
    ///     k: Documents per query.
    ///     allow: If given, only these document ids can be returned (a list, a
    ///         ``polars.Series``, or a frame with a ``doc_id`` column); ``k`` results come
    ///         back whenever ``k`` are allowed.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     A run table (``query_id``, ``doc_id``, ``score``, ``rank``).
    #[pyo3(signature = (queries, *, k = 100, allow = None, show_progress = None))]
    fn search(
        &self,
        py: Python<'_>,
        queries: Frame,
        k: usize,
        allow: Option<DocIds>,
        show_progress: Option<bool>,
    ) -> PyResult<PyDataFrame> {
        let allow = allow.map(DocIds::into_vec);
        let label = format!("{} search", self.name()?);
        let desc = progress(py, show_progress, &label)?;
        self.shared.check()?;
        detach_with_progress(py, desc, |cancel| {
            self.shared
                .read_checked()
                .search(&queries.0, k, allow.as_deref(), cancel)
        })
        .map(PyDataFrame)
    }

    /// The retriever's name in runs and the lab (``"bm25"``, ``"dense"``, ``"pipeline"``,
    /// ``"chunked-"`` and the inner retriever's).
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.shared.read()?.name())
    }

    /// The configuration that defines the retriever besides its documents, as a dict.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.shared.read()?.config())
    }
}

/// A retriever argument: an instance of a `BaseRetriever` subclass, shared rather than
/// copied, and the dense index it is, if one.
pub struct RetrieverArg {
    pub shared: SharedRetriever,
    pub dense: Option<Arc<RwLock<DenseIndex>>>,
}

impl<'a, 'py> FromPyObject<'a, 'py> for RetrieverArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let base = obj.cast::<PyRetriever>().map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a retriever (BM25, DenseIndex, Pipeline or Chunked), got {}",
                type_name(&obj)
            ))
        })?;
        let base = base.get();
        Ok(RetrieverArg {
            shared: base.shared()?,
            dense: base.dense.clone(),
        })
    }
}
