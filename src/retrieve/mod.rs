//! Retrievers: given queries, produce runs (`query_id`, `doc_id`, `score`, `rank`).
//!
//! This layer holds the leaf retrievers (BM25, vector indexes, the dense index) and the
//! contract they share; the layer that combines retrievers (pipelines, chunked retrieval) is
//! [`crate::pipeline`], above this one.
//!
//! Every retriever fulfils one contract, [`Retriever`]: index a corpus table, search a queries
//! table with `k` and an optional allow-list of document ids, and describe its configuration
//! for the lab. Top-k is exact and ranked in run order ([`crate::run::order`]), so the cut at
//! k is reproducible and the written ranks agree with an evaluation's.

pub mod bm25;
pub mod dense;
pub mod dense_index;
pub mod hnsw;
pub mod kernels;
pub mod vectors;

use std::sync::{Arc, RwLock};

use polars::prelude::{DataFrame, StringChunked};
use rustc_hash::FxHashMap;

use crate::cancel::Cancel;
use crate::data::schema;
use crate::error::{Error, Result};
pub use bm25::{Bm25, Bm25Config, Fields, Params, Variant};
pub use dense::exact_search;
pub use dense_index::DenseIndex;
pub use hnsw::HnswParams;
pub use vectors::{Backend, RecallReport, Storage, VectorOptions, VectorStore};

/// A retriever shared between pipelines, bindings and its other users.
pub type SharedRetriever = Arc<RwLock<dyn Retriever>>;

/// Share a retriever.
pub fn shared<R: Retriever + 'static>(retriever: R) -> Arc<RwLock<R>> {
    Arc::new(RwLock::new(retriever))
}

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

/// Check the ids of documents to add: unique within the corpus table and not yet in the
/// index (`known`).
pub(crate) fn check_new_ids(ids: &StringChunked, known: impl Fn(&str) -> bool) -> Result<()> {
    let mut seen: FxHashMap<&str, usize> = FxHashMap::default();
    for (row, id) in schema::str_values(ids).enumerate() {
        if let Some(first) = seen.insert(id, row) {
            return Err(Error::DuplicateId {
                kind: "document",
                id: id.to_owned(),
                location: format!("the corpus table (rows {first} and {row})"),
            });
        }
        if known(id) {
            return Err(Error::DuplicateId {
                kind: "document",
                id: id.to_owned(),
                location: "the index (delete it first to replace it)".into(),
            });
        }
    }
    Ok(())
}

/// Check a search's `k` and that the index holds documents.
pub(crate) fn check_search(index_is_empty: bool, k: usize) -> Result<()> {
    crate::run::check_k(k)?;
    if index_is_empty {
        return Err(Error::Empty {
            what: "the index (index a corpus first)".into(),
        });
    }
    Ok(())
}

/// The slots of an allow-list's ids (`slot` looks one up), ascending and distinct; an id the
/// index does not hold is an error.
pub(crate) fn allowed_slots(
    ids: &[String],
    slot: impl Fn(&str) -> Option<u32>,
) -> Result<Vec<u32>> {
    let mut slots: Vec<u32> = ids
        .iter()
        .map(|id| {
            slot(id).ok_or_else(|| Error::UnknownId {
                kind: "document",
                id: id.clone(),
                location: "the allow list".into(),
            })
        })
        .collect::<Result<_>>()?;
    slots.sort_unstable();
    slots.dedup();
    Ok(slots)
}
