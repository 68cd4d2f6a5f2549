//! The one error type of the ragplay core.
//!
//! Every fallible core function returns [`Result`]. Variants carry the structured facts a user
//! needs to fix the input (file, line, column, id); `Display` turns them into one sentence.
//! The Python bindings map each variant once, exhaustively, onto the `ragplay.RagplayError`
//! hierarchy (`src/python/errors.rs`); IO failures become `OSError` there.

use std::path::PathBuf;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of an input file could not be parsed.
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// Bytes that are not valid UTF-8.
    #[error("{path}:{line}: invalid UTF-8 at byte {byte} of the line")]
    InvalidUtf8 {
        path: PathBuf,
        line: usize,
        byte: usize,
    },
    /// A document that cannot be read as text, or a folder without documents to read.
    #[error("{path:?}: {message}")]
    Document { path: PathBuf, message: String },
    /// The same id appears twice where ids must be unique.
    #[error("duplicate {kind} id {id:?} in {location}")]
    DuplicateId {
        kind: &'static str,
        id: String,
        location: String,
    },
    /// An id refers to something that does not exist.
    #[error("unknown {kind} id {id:?} in {location}")]
    UnknownId {
        kind: &'static str,
        id: String,
        location: String,
    },
    /// A table or collection that must not be empty is empty.
    #[error("{what} is empty")]
    Empty { what: String },
    /// A table lacks a column, has the wrong dtype, or holds nulls / NaN.
    #[error("{table}: {message}")]
    Schema {
        table: &'static str,
        message: String,
    },
    /// A judged character range that does not fit its document (span qrels).
    #[error("span qrels: query {query_id:?}, document {doc_id:?}: span [{start}, {end}) {reason}")]
    Span {
        query_id: String,
        doc_id: String,
        start: i64,
        end: i64,
        reason: String,
    },
    /// A score that cannot be ranked (NaN).
    #[error("{table}: score of query {query_id:?}, document {doc_id:?} is NaN")]
    NanScore {
        table: &'static str,
        query_id: String,
        doc_id: String,
    },
    /// A metric name that ragplay does not know or cannot parse.
    #[error("unknown metric {name:?}: {reason}")]
    UnknownMetric { name: String, reason: String },
    /// An invalid option or parameter value.
    #[error("invalid {name}: {message}")]
    Config { name: &'static str, message: String },
    /// A model folder that is missing, incomplete, corrupt, or of an unsupported kind.
    #[error("model {path}: {message}")]
    Model { path: PathBuf, message: String },
    /// A chart that cannot be drawn (no font for its text, a backend error).
    #[error("chart: {message}")]
    Plot { message: String },
    /// A failure inside ragplay that no input explains, or an index left inconsistent by
    /// one (a lock poisoned by a panic).
    #[error("internal error: {message}")]
    Internal { message: String },
    /// The user asked the work to stop (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// An error raised inside polars while building or reading a DataFrame.
    #[error("polars: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
}

impl Error {
    /// Wrap an IO error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`Error::Config`] with a formatted message.
    pub fn config(name: &'static str, message: impl Into<String>) -> Self {
        Error::Config {
            name,
            message: message.into(),
        }
    }

    /// A [`Error::Config`] for `value`, not one of `names`: `"x"; use "a", "b" or "c"`.
    pub fn not_one_of(name: &'static str, value: &str, names: &[&str]) -> Self {
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        let list = match quoted.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        Error::config(name, format!("{value:?}; use {list}"))
    }

    /// A [`Error::Document`] about the file or folder at `path`.
    pub fn document(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Document {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A retriever left inconsistent by an internal error in an earlier call (its lock
    /// poisoned by a panic).
    pub fn poisoned(what: &str) -> Self {
        Error::Internal {
            message: format!(
                "{what} was left inconsistent by an internal error in an earlier call; build or \
                 load it again"
            ),
        }
    }

    /// A [`Error::Model`] about the model at `path`.
    pub fn model(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A [`Error::Schema`] with a formatted message.
    pub fn schema(table: &'static str, message: impl Into<String>) -> Self {
        Error::Schema {
            table,
            message: message.into(),
        }
    }
}
