//! Retrievers: given queries, produce runs (`query_id`, `doc_id`, `score`, `rank`).
//!
//! Top-k is exact, with ties broken by doc id descending (the order `trec_eval` ranks in), so
//! the cut at k is reproducible and the written ranks agree with an evaluation's.

pub mod bm25;
pub mod dense;

pub use bm25::{Bm25, Bm25Config, Fields, Params, Variant};
pub use dense::exact_search;
