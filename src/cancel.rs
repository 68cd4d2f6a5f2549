//! Cooperative cancellation for long work.
//!
//! Core loops poll a [`Cancel`] token between units of work (a query, a batch, a chunk) and
//! return [`Error::Interrupted`] once it is set. The Python bindings set it when Ctrl-C
//! arrives while the GIL is released; Rust callers can share one through an `Arc`.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// A flag that asks running work to stop.
#[derive(Debug, Default)]
pub struct Cancel(AtomicBool);

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the work to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether stopping was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Error::Interrupted)` once stopping was asked for.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// A token that is never cancelled, for callers that do not need one.
pub fn never() -> &'static Cancel {
    static NEVER: Cancel = Cancel(AtomicBool::new(false));
    &NEVER
}
