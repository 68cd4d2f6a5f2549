//! Cooperative cancellation and progress for long work.
//!
//! Core loops poll a [`Cancel`] token between units of work (a query, a batch, a document) and
//! return [`Error::Interrupted`] once it is set; they also count finished units on it. The
//! Python bindings set the flag when Ctrl-C arrives while the GIL is released, and read the
//! counts to draw a progress bar; Rust callers can share one through an `Arc`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// A flag that asks running work to stop.
#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
    done: AtomicU64,
    total: AtomicU64,
    /// What the work is doing now (a sweep's configuration and stage), and a count of
    /// changes so a reader can tell a new label from the one it has shown.
    label: Mutex<(u64, String)>,
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

    /// Say what the work is doing now (shown beside the progress bar).
    pub fn set_label(&self, label: &str) {
        let mut l = self.label.lock().unwrap_or_else(|p| p.into_inner());
        l.0 += 1;
        l.1 = label.to_owned();
    }

    /// The label and its change count.
    pub fn label(&self) -> (u64, String) {
        self.label.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
        label: Mutex::new((0, String::new())),
    };
    &NEVER
}
