//! Retrievers: given queries, produce runs (`query_id`, `doc_id`, `score`, `rank`).

pub mod bm25;
mod topk;

pub use bm25::{Bm25, Bm25Config, Fields, Params, Variant};
