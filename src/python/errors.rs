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

/// Map a core error to its Python exception (message from `Display`). The structured facts
/// are also attributes of the exception: `parameter` (a `ConfigError` about an option),
/// `metric`, `query_id` / `doc_id` (a NaN score, a bad span), `kind` / `id` (a duplicate or
/// unknown id), `filename` / `line` (a malformed file), `filename` (a document that cannot be
/// read).
pub fn to_py(e: Error) -> PyErr {
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
        | Error::Span { .. }
        | Error::Polars(_) => DataError::new_err(msg),
        Error::UnknownMetric { .. } | Error::Config { .. } => ConfigError::new_err(msg),
        Error::Model { .. } => ModelError::new_err(msg),
        Error::Plot { .. } => RagplayError::new_err(msg),
        Error::Interrupted => return PyKeyboardInterrupt::new_err(msg),
    };
    Python::attach(|py| {
        let value = err.value(py);
        let set = |name: &str, v: &str| value.setattr(name, v);
        let _ = match &e {
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
    });
    err
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

/// Cancels the work when dropped, on every way out of the waiting loop (an error raised by
/// the progress bar, a signal, a panic), so the scope that joins the worker never waits for
/// work nobody wants any more.
struct CancelOnExit<'a>(&'a Cancel);

impl Drop for CancelOnExit<'_> {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

type Outcome<T> = std::thread::Result<crate::Result<T>>;

/// [`detach`], drawing a progress bar (`ragplay._progress.Bar`) labelled `desc` from the
/// counts the work reports on its [`Cancel`] token.
///
/// A `KeyboardInterrupt` can surface in two places: in `check_signals`, or inside the bar's
/// Python code (the interpreter runs signal handlers between bytecodes). Either way the work
/// is cancelled, the worker is awaited with the GIL released, the bar is closed, and the
/// exception propagates.
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
    let outcome: PyResult<Outcome<T>> = std::thread::scope(|scope| {
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
        let guard = CancelOnExit(cancel);
        scope.spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(cancel)));
            let _ = tx.send(out);
        });
        let waited = wait(py, &recv, bar.as_ref(), cancel);
        let outcome = match waited {
            Ok(out) => Ok(out),
            Err(err) => {
                // Stop the worker and let it finish without holding the GIL. If it had
                // already finished its work, that result stands (an index update is not
                // reported as undone when it was done) and the interrupt is raised again
                // as soon as the call returns to Python.
                cancel.cancel();
                match py.detach(|| recv(None)) {
                    Ok(Ok(Ok(done))) if err.is_instance_of::<PyKeyboardInterrupt>(py) => {
                        // SAFETY: the GIL is held (`py`); the call only sets a flag.
                        unsafe { pyo3::ffi::PyErr_SetInterrupt() };
                        Ok(Ok(Ok(done)))
                    }
                    _ => Err(err),
                }
            }
        };
        drop(guard);
        outcome
    });
    if let Some(bar) = &bar {
        let (done, total) = cancel.progress();
        let closed = bar.call_method1("close", (done, total));
        if outcome.is_ok() {
            closed?;
        }
    }
    match outcome? {
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
}

/// Wait for the worker's outcome, updating the bar and checking for signals every 50 ms.
fn wait<T: Send>(
    py: Python<'_>,
    recv: &(dyn Fn(Option<Duration>) -> Result<Outcome<T>, mpsc::RecvTimeoutError> + Sync),
    bar: Option<&Bound<'_, PyAny>>,
    cancel: &Cancel,
) -> PyResult<Outcome<T>> {
    let mut shown = 0u64;
    loop {
        match py.detach(|| recv(Some(Duration::from_millis(50)))) {
            Ok(out) => return Ok(out),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(bar) = bar {
                    let (version, label) = cancel.label();
                    if version != shown {
                        shown = version;
                        bar.call_method1("describe", (label,))?;
                    }
                    let (done, total) = cancel.progress();
                    bar.call_method1("update", (done, total))?;
                }
                py.check_signals()?;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "ragplay worker thread ended without a result",
                ))
            }
        }
    }
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
    super::frame::import_frame(obj)
}

/// Keep the base class referenced so the import is validated at module load.
pub fn check_hierarchy(py: Python<'_>) -> PyResult<()> {
    let _ = py.get_type::<RagplayError>();
    Ok(())
}

/// The bar label to draw for `show_progress`, or `None`: `True` and `False` decide; `None`
/// draws a bar when Python runs in a notebook or stderr is a terminal
/// (`ragplay._progress.wanted`).
pub fn progress<'a>(
    py: Python<'_>,
    show: Option<bool>,
    desc: &'a str,
) -> PyResult<Option<&'a str>> {
    let on = match show {
        Some(on) => on,
        None => py
            .import("ragplay._progress")?
            .getattr("wanted")?
            .call0()?
            .extract()?,
    };
    Ok(on.then_some(desc))
}

/// An id set argument: a list or tuple of str, a `polars.Series` of strings, a 1-D numpy
/// array of str, or a `polars.DataFrame` with a `column` column. Names `name` in errors; a
/// single str, a mapping or any other object is a `TypeError`.
pub fn ids_arg(obj: &Bound<'_, PyAny>, name: &str, column: &str) -> PyResult<Vec<String>> {
    let py = obj.py();
    let pl = py.import("polars")?;
    let kind = obj.get_type().name()?;
    let values = if obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a sequence of ids, not a single str"
        )));
    } else if obj.is_instance(&pl.getattr("DataFrame")?)? {
        let columns: Vec<String> = obj.getattr("columns")?.extract()?;
        if !columns.iter().any(|c| c == column) {
            return Err(DataError::new_err(format!(
                "{name}: a DataFrame of ids needs a {column:?} column (columns: {columns:?})"
            )));
        }
        obj.get_item(column)?.call_method0("to_list")?
    } else if obj.is_instance(&pl.getattr("Series")?)? {
        obj.call_method0("to_list")?
    } else if obj.is_instance(&py.import("numpy")?.getattr("ndarray")?)? {
        obj.call_method0("tolist")?
    } else if obj.is_instance_of::<pyo3::types::PyList>()
        || obj.is_instance_of::<pyo3::types::PyTuple>()
    {
        obj.clone()
    } else {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a list of str, a polars Series, a numpy array or a DataFrame with \
             a {column:?} column, got {kind}"
        )));
    };
    str_items(name, values.try_iter()?)
}

/// The items of a sequence as owned strings; a non-str item is a `TypeError` and a string
/// that is not valid UTF-8 (a lone surrogate) a `DataError`, both naming `name[i]`.
pub fn str_items<'py>(
    name: &str,
    items: impl IntoIterator<Item = PyResult<Bound<'py, PyAny>>>,
) -> PyResult<Vec<String>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let item = item?;
            let s = item.cast::<pyo3::types::PyString>().map_err(|_| {
                let got = item
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                PyTypeError::new_err(format!("{name}[{i}] must be str, got {got}"))
            })?;
            let text = s.to_cow().map_err(|e| {
                DataError::new_err(format!("{name}[{i}] is not valid UTF-8 text: {e}"))
            })?;
            Ok(text.into_owned())
        })
        .collect()
}

/// A JSON value as the Python object `json.loads` makes of it.
pub fn json_to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?
        .call_method1("loads", (value.to_string(),))
}

/// An index shared by a Python object: searches read it concurrently, updates write it. A
/// panic inside an update (reported as `RuntimeError`) poisons the lock, since the index may
/// then be half-updated: every later use is a `RuntimeError` asking to rebuild it. The lock
/// is reference-counted so that pipelines can hold the same index.
pub struct Shared<T>(std::sync::Arc<std::sync::RwLock<T>>);

fn poisoned() -> PyErr {
    PyRuntimeError::new_err(
        "this index was left inconsistent by an internal error in an earlier call; build or \
         load it again",
    )
}

impl<T> Shared<T> {
    pub fn new(value: T) -> Self {
        Self(std::sync::Arc::new(std::sync::RwLock::new(value)))
    }
    /// The shared lock itself (for a pipeline).
    pub fn arc(&self) -> std::sync::Arc<std::sync::RwLock<T>> {
        std::sync::Arc::clone(&self.0)
    }
    /// `RuntimeError` if an earlier update panicked; every binding method calls it first.
    pub fn check(&self) -> PyResult<()> {
        if self.0.is_poisoned() {
            return Err(poisoned());
        }
        Ok(())
    }
    /// The index to read; `RuntimeError` if an earlier update panicked.
    pub fn read(&self) -> PyResult<std::sync::RwLockReadGuard<'_, T>> {
        self.check()?;
        Ok(self.read_checked())
    }
    /// The index to read on a worker thread, after [`Shared::check`] on the calling one.
    pub fn read_checked(&self) -> std::sync::RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }
    /// The index to update on a worker thread, after [`Shared::check`] on the calling one.
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}
