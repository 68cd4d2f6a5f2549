//! The one mapping from core errors to Python exceptions, and the helper that runs core work
//! with the GIL released, Ctrl-C honoured and panics contained.
//!
//! The exception classes live in `ragplay/exceptions.py` (so that `DataError` can be both a
//! `RagplayError` and a `ValueError`); they are imported here once.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use pyo3::exceptions::{
    PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyPermissionError, PyRuntimeError,
    PyTypeError,
};
use pyo3::prelude::*;
use pyo3::types::PyAnyMethods;

use crate::cancel::Cancel;
use crate::error::Error;

pyo3::import_exception!(ragplay.exceptions, RagplayError);
pyo3::import_exception!(ragplay.exceptions, DataError);
pyo3::import_exception!(ragplay.exceptions, ConfigError);
pyo3::import_exception!(ragplay.exceptions, ModelError);

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

/// Map a core error to its Python exception (message from `Display`).
pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match &e {
        Error::Io { path, source } => os_error(path, source),
        Error::Parse { .. }
        | Error::InvalidUtf8 { .. }
        | Error::DuplicateId { .. }
        | Error::UnknownId { .. }
        | Error::Empty { .. }
        | Error::Schema { .. }
        | Error::NanScore { .. }
        | Error::Polars(_) => DataError::new_err(msg),
        Error::UnknownMetric { .. } | Error::Config { .. } => ConfigError::new_err(msg),
        Error::Model { .. } => ModelError::new_err(msg),
        Error::Interrupted => PyKeyboardInterrupt::new_err(msg),
    }
}

/// Run `work` on a worker thread with the GIL released. Every 50 ms the calling thread takes
/// the GIL to check for signals; on Ctrl-C it cancels the work, waits for it to stop and
/// raises `KeyboardInterrupt`. A panic in the work becomes a `RuntimeError`.
pub fn detach<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&Cancel) -> crate::Result<T> + Send,
{
    detach_with_progress(py, None, work)
}

/// [`detach`], drawing a progress bar (`ragplay._progress.Bar`) labelled `desc` from the
/// counts the work reports on its [`Cancel`] token.
pub fn detach_with_progress<T, F>(py: Python<'_>, desc: Option<&str>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&Cancel) -> crate::Result<T> + Send,
{
    let bar = match desc {
        Some(d) => Some(
            py.import("ragplay._progress")?
                .getattr("Bar")?
                .call1((d,))?,
        ),
        None => None,
    };
    let cancel = Cancel::new();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        // `detach` needs a `Sync` closure; the receiver is only ever used by this thread.
        let rx = std::sync::Mutex::new(rx);
        let recv = |timeout: Option<Duration>| {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            match timeout {
                Some(t) => rx.recv_timeout(t),
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            }
        };
        let cancel = &cancel;
        scope.spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(cancel)));
            let _ = tx.send(out);
        });
        let outcome = loop {
            match py.detach(|| recv(Some(Duration::from_millis(50)))) {
                Ok(out) => break out,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(bar) = &bar {
                        let (done, total) = cancel.progress();
                        bar.call_method1("update", (done, total))?;
                    }
                    if let Err(err) = py.check_signals() {
                        cancel.cancel();
                        let _ = py.detach(|| recv(None));
                        return Err(err);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(PyRuntimeError::new_err(
                        "ragplay worker thread ended without a result",
                    ))
                }
            }
        };
        if let Some(bar) = &bar {
            let (done, total) = cancel.progress();
            bar.call_method1("close", (done, total))?;
        }
        match outcome {
            Ok(result) => result.map_err(to_py),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "unknown panic".into());
                Err(PyRuntimeError::new_err(format!(
                    "internal error in ragplay: {what}"
                )))
            }
        }
    })
}

/// Extract a `polars.DataFrame` argument, with a `TypeError` naming the argument otherwise.
pub fn frame_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<polars::prelude::DataFrame> {
    let py = obj.py();
    let cls = py.import("polars")?.getattr("DataFrame")?;
    if !obj.is_instance(&cls)? {
        let got = obj.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "{name} must be a polars.DataFrame, got {got}"
        )));
    }
    Ok(obj.extract::<pyo3_polars::PyDataFrame>()?.0)
}

/// Keep the base class referenced so the import is validated at module load.
pub fn check_hierarchy(py: Python<'_>) -> PyResult<()> {
    let _ = py.get_type::<RagplayError>();
    Ok(())
}
