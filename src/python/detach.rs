//! Running core work from Python: on a worker thread with the GIL released, Ctrl-C
//! honoured within 50 ms, a progress bar drawn from the counts the work reports, and panics
//! contained (as polars' `enter_polars` and text-splitter do).

use std::sync::mpsc;
use std::time::Duration;

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;

use super::errors::internal;
use crate::cancel::Cancel;

/// Run `work` on a worker thread with the GIL released. Every 50 ms the calling thread takes
/// the GIL to check for signals; on Ctrl-C it cancels the work, waits for it to stop and
/// raises `KeyboardInterrupt`. A panic in the work becomes an `InternalError`.
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
        Ok(result) => Ok(result?),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(internal(what))
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
                    let now = cancel.snapshot();
                    if now.version != shown {
                        shown = now.version;
                        bar.call_method1("describe", (now.label,))?;
                    }
                    bar.call_method1("update", (now.done, now.total))?;
                }
                py.check_signals()?;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(internal("the worker thread ended without a result"))
            }
        }
    }
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
