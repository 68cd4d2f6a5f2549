//! Cooperative cancellation and progress for long work.
//!
//! Core loops poll a [`Cancel`] token between units of work (a query, a batch, a document) and
//! return [`Error::Interrupted`] once it is set; they also count finished units on it. The
//! Python bindings set the flag when Ctrl-C arrives while the GIL is released, and read the
//! counts to draw a progress bar; Rust callers can share one through an `Arc`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// A flag that asks running work to stop.
#[derive(Debug, Default)]
pub struct Cancel {
    /// Shared with the [`Cancel::child`] tokens.
    flag: Arc<AtomicBool>,
    done: AtomicU64,
    total: AtomicU64,
    /// What the work is doing now (a sweep's configuration, the stage's name).
    label: Mutex<Label>,
}

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// A token that stops when this one does (and stops it), with progress counts of its
    /// own: for inner work whose counts are not the caller's (a stage run for one query of
    /// many).
    pub fn child(&self) -> Self {
        Self {
            flag: Arc::clone(&self.flag),
            ..Self::default()
        }
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
    /// Announce a new stage of `total` units named `stage` (such as `"search"`), resetting
    /// the count: the label and the counts a reader sees always belong to the same stage.
    pub fn start(&self, stage: &str, total: u64) {
        let mut l = self.label.lock().unwrap_or_else(|p| p.into_inner());
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        if l.stage != stage {
            l.stage.clear();
            l.stage.push_str(stage);
            l.version += 1;
        }
    }

    /// Count `n` finished units.
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Say what the work as a whole is doing now (a sweep's configuration): shown before the
    /// stage's name beside the progress bar.
    pub fn set_label(&self, label: &str) {
        let mut l = self.label.lock().unwrap_or_else(|p| p.into_inner());
        l.context.clear();
        l.context.push_str(label);
        l.version += 1;
    }

    /// What a progress bar shows now: the label and counts of one stage, read together.
    pub fn snapshot(&self) -> Snapshot {
        let l = self.label.lock().unwrap_or_else(|p| p.into_inner());
        let label = match (l.context.is_empty(), l.stage.is_empty()) {
            (_, true) => l.context.clone(),
            (true, false) => l.stage.clone(),
            (false, false) => format!("{} · {}", l.context, l.stage),
        };
        Snapshot {
            version: l.version,
            label,
            done: self.done.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
        }
    }

    /// `(done, total)` of the current stage.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// A progress bar's view of a [`Cancel`] token (see [`Cancel::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Changes whenever the label does, so a reader can tell a new label from the one it shows.
    pub version: u64,
    /// The work's label and the stage's name.
    pub label: String,
    /// Units of the stage finished.
    pub done: u64,
    /// Units of the stage in all.
    pub total: u64,
}

/// The label of a token: the work's context and the current stage's name.
#[derive(Debug, Default)]
struct Label {
    version: u64,
    context: String,
    stage: String,
}

/// A token that is never cancelled, for callers that do not need one.
pub fn never() -> &'static Cancel {
    static NEVER: std::sync::LazyLock<Cancel> = std::sync::LazyLock::new(Cancel::new);
    &NEVER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_stops_with_its_parent_and_counts_apart() {
        let parent = Cancel::new();
        parent.start("queries", 10);
        let child = parent.child();
        child.start("answer", 3);
        child.advance(2);
        assert_eq!(parent.progress(), (0, 10));
        assert!(child.check().is_ok());
        parent.cancel();
        assert!(matches!(child.check(), Err(Error::Interrupted)));
        let other = Cancel::new();
        other.child().cancel();
        assert!(other.is_cancelled());
    }

    #[test]
    fn a_snapshot_shows_the_counts_of_the_stage_it_names() {
        let c = Cancel::new();
        c.set_label("bm25 · fixed/500");
        c.start("search", 1000);
        c.advance(10);
        let s = c.snapshot();
        assert_eq!(s.label, "bm25 · fixed/500 · search");
        assert_eq!((s.done, s.total), (10, 1000));
        c.start("evaluate", 8);
        let t = c.snapshot();
        assert_eq!(t.label, "bm25 · fixed/500 · evaluate");
        assert_eq!((t.done, t.total), (0, 8));
        assert_ne!(s.version, t.version);
        // The same stage again keeps the version (the bar's text need not change).
        c.start("evaluate", 9);
        assert_eq!(c.snapshot().version, t.version);
    }
}
