//! Cooperative cancellation and progress for long work.
//!
//! Core loops poll a [`Cancel`] token between units of work (a query, a batch, a document) and
//! return [`Error::Interrupted`] once it is set; they also count finished units on it. The
//! Python bindings set the flag when Ctrl-C arrives while the GIL is released, and read the
//! counts to draw a progress bar; Rust callers can share one through an `Arc`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{Error, Result};

/// A flag that asks running work to stop.
#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
    done: AtomicU64,
    total: AtomicU64,
}

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the work to stop.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether stopping was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
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

impl Cancel {
    /// Announce a new stage of `total` units (resets the count).
    pub fn start(&self, total: u64) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// Count `n` finished units.
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// `(done, total)` of the current stage.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// A token that is never cancelled, for callers that do not need one.
pub fn never() -> &'static Cancel {
    static NEVER: Cancel = Cancel {
        flag: AtomicBool::new(false),
        done: AtomicU64::new(0),
        total: AtomicU64::new(0),
    };
    &NEVER
}
