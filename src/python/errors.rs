//! The one mapping from core errors to Python exceptions.
//!
//! `impl From<Error> for PyErr` lets every binding use `?` on a core result. Bad input
//! (a malformed file, a missing column, an unknown id) becomes `DataError`, a bad option
//! `ConfigError`, a model that cannot be loaded `ModelError`, a failing file operation
//! `OSError`, Ctrl-C `KeyboardInterrupt`; a failure inside ragplay or polars that no input
//! explains becomes `InternalError`. The exception classes live in `ragplay/exceptions.py`
//! (so that `DataError` can be both a `RagplayError` and a `ValueError`); they are imported
//! here once.

use std::path::Path;

use pyo3::exceptions::{PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyPermissionError};
use pyo3::prelude::*;

use crate::error::Error;

pyo3::import_exception!(ragplay.exceptions, RagplayError);
pyo3::import_exception!(ragplay.exceptions, DataError);
pyo3::import_exception!(ragplay.exceptions, ConfigError);
pyo3::import_exception!(ragplay.exceptions, ModelError);
pyo3::import_exception!(ragplay.exceptions, InternalError);

fn os_error(path: &Path, e: &std::io::Error) -> PyErr {
    let args = (
        e.raw_os_error().unwrap_or(0),
        e.to_string(),
        path.to_string_lossy().into_owned(),
    );
    match e.kind() {
        std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(args),
        std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(args),
        _ => PyOSError::new_err(args),
    }
}

/// A core error as its Python exception (message from `Display`). The structured facts are
/// also attributes of the exception: `parameter` (a `ConfigError` about an option), `metric`,
/// `query_id` / `doc_id` (a NaN score, a bad span), `kind` / `id` (a duplicate or unknown
/// id), `filename` / `line` (a malformed file), `filename` (a document that cannot be read).
impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        let msg = e.to_string();
        let err = match &e {
            Error::Io { path, source } => return os_error(path, source),
            Error::Parse { .. }
            | Error::InvalidUtf8 { .. }
            | Error::Document { .. }
            | Error::DuplicateId { .. }
            | Error::UnknownId { .. }
            | Error::Empty { .. }
            | Error::Schema { .. }
            | Error::NanScore { .. }
            | Error::Span { .. } => DataError::new_err(msg),
            Error::UnknownMetric { .. } | Error::Config { .. } => ConfigError::new_err(msg),
            Error::Model { .. } => ModelError::new_err(msg),
            Error::Plot { .. } => RagplayError::new_err(msg),
            Error::Polars(_) => InternalError::new_err(format!("internal error in ragplay: {msg}")),
            Error::Internal { .. } => InternalError::new_err(msg),
            Error::Interrupted => return PyKeyboardInterrupt::new_err(msg),
        };
        Python::attach(|py| set_facts(&err, py, &e));
        err
    }
}

/// Set the structured facts of `e` as attributes of its exception.
fn set_facts(err: &PyErr, py: Python<'_>, e: &Error) {
    let value = err.value(py);
    let set = |name: &str, v: &str| value.setattr(name, v);
    let _ = match e {
        Error::Config { name, .. } => set("parameter", name),
        Error::UnknownMetric { name, .. } => set("metric", name),
        Error::NanScore {
            query_id, doc_id, ..
        }
        | Error::Span {
            query_id, doc_id, ..
        } => set("query_id", query_id).and_then(|_| set("doc_id", doc_id)),
        Error::DuplicateId { kind, id, .. } | Error::UnknownId { kind, id, .. } => {
            set("kind", kind).and_then(|_| set("id", id))
        }
        Error::Parse { path, line, .. } | Error::InvalidUtf8 { path, line, .. } => {
            set("filename", &path.to_string_lossy()).and_then(|_| value.setattr("line", *line))
        }
        Error::Document { path, .. } => set("filename", &path.to_string_lossy()),
        _ => Ok(()),
    };
}

/// An internal failure that no input explains (a panic, a poisoned lock).
pub fn internal(message: impl std::fmt::Display) -> PyErr {
    InternalError::new_err(format!("internal error in ragplay: {message}"))
}

/// Keep the base class referenced so the import is validated at module load.
pub fn check_hierarchy(py: Python<'_>) -> PyResult<()> {
    let _ = py.get_type::<RagplayError>();
    let _ = py.get_type::<InternalError>();
    Ok(())
}

/// Emit a warning of `category` (a class of `ragplay.exceptions`) with `message`.
pub fn warn(py: Python<'_>, category: &str, message: &str) -> PyResult<()> {
    let category = py.import("ragplay.exceptions")?.getattr(category)?;
    warn_as(&category, message)
}

/// Emit a warning of the class `category` with `message` (a NUL in it is dropped).
pub fn warn_as(category: &Bound<'_, PyAny>, message: &str) -> PyResult<()> {
    let message = std::ffi::CString::new(message.replace('\0', "")).unwrap_or_default();
    PyErr::warn(category.py(), category, &message, 1)
}
