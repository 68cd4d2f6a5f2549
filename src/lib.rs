//! # ragplay
//!
//! A lab for measuring retrieval pipelines with numbers: load a test collection, produce runs,
//! evaluate them exactly as `trec_eval` does, and compare them with significance tests. Every
//! table is a [`polars::DataFrame`] whose columns are named in [`data::schema`].
//!
//! The core has no Python in it: it builds and tests with plain cargo and is usable from
//! evcxr notebooks. The Python bindings live in `src/python/` behind the `python` feature.
//!
//! ```
//! use ragplay::{data, eval, cancel};
//! let sample = data::sample::sample().unwrap();
//! let run = ragplay::lab::overlap_run(&sample.corpus, &sample.queries, 10).unwrap();
//! let ev = eval::evaluate(&run, &sample.qrels, &["ndcg@10", "mrr"], &Default::default(), cancel::never()).unwrap();
//! assert_eq!(ev.summary.height(), 1);
//! ```

pub mod cancel;
pub mod chunk;
pub mod data;
pub mod embed;
pub mod error;
pub mod eval;
pub mod fuse;
pub mod http;
pub mod lab;
pub mod llm;
pub mod options;
#[cfg(test)]
mod oracle;
pub mod pipeline;
pub mod plot;
pub mod rerank;
pub mod retrieve;
pub mod rng;
pub mod run;
pub mod text;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
/// Re-exported so notebooks and downstream crates name the same polars version.
pub use polars;
