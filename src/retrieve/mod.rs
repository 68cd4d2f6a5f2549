//! Retrievers: given queries, produce runs (`query_id`, `doc_id`, `score`, `rank`).
//!
//! Every retriever fulfils one contract, [`Retriever`]: index a corpus table, search a queries
//! table with `k` and an optional allow-list of document ids, and describe its configuration
//! for the lab. Top-k is exact and ranked in run order ([`crate::run::order`]), so the cut at
//! k is reproducible and the written ranks agree with an evaluation's.

pub mod bm25;
pub mod dense;
pub mod dense_index;

use polars::prelude::DataFrame;

use crate::cancel::Cancel;
use crate::error::Result;
pub use bm25::{Bm25, Bm25Config, Fields, Params, Variant};
pub use dense::exact_search;
pub use dense_index::DenseIndex;

/// The contract every retriever fulfils.
pub trait Retriever: Send + Sync {
    /// A short name (`"bm25"`, `"dense"`), used as the run name in the lab.
    fn name(&self) -> String;

    /// The configuration that defines the retriever besides its documents, as JSON (what the
    /// lab stores and hashes).
    fn config(&self) -> serde_json::Value;

    /// Index a corpus table (`doc_id`, `text`, optional `title`), replacing what the index
    /// held; an interrupted or failed call leaves the previous index in place.
    fn index(&mut self, corpus: &DataFrame, cancel: &Cancel) -> Result<()>;

    /// Search a queries table (`query_id`, `text`): at most `k` documents per query, only
    /// those in `allow` when given. Returns a run table.
    fn search(
        &self,
        queries: &DataFrame,
        k: usize,
        allow: Option<&[String]>,
        cancel: &Cancel,
    ) -> Result<DataFrame>;
}

impl Retriever for Bm25 {
    fn name(&self) -> String {
        "bm25".into()
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(self.config()).unwrap_or(serde_json::Value::Null)
    }

    fn index(&mut self, corpus: &DataFrame, cancel: &Cancel) -> Result<()> {
        *self = Bm25::build(self.config().clone(), corpus, cancel)?;
        Ok(())
    }

    fn search(
        &self,
        queries: &DataFrame,
        k: usize,
        allow: Option<&[String]>,
        cancel: &Cancel,
    ) -> Result<DataFrame> {
        Bm25::search(self, queries, k, allow, cancel)
    }
}
