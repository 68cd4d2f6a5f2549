//! Chunked retrieval as a retriever: documents are cut into chunks, the chunks (enriched by a
//! template) are indexed in another retriever, and its chunk runs are mapped back to
//! documents.
//!
//! `index(corpus)` chunks the corpus ([`crate::chunk::chunk_with`]; the `semantic` strategy embeds
//! sentences with the embedder given by [`Chunked::with_embedder`]), renders the template over the
//! chunks ([`crate::chunk::enrich`]; the raw chunk text without one) and indexes them in the inner
//! retriever as a corpus of `doc_id` = chunk id and `text` = the (enriched) text, with no title
//! column (the template places the title). `search(queries, k, allow)` asks the inner retriever for
//! `depth` chunks per query (10 × `k` when not set), only chunks of the `allow`ed documents when
//! given, and turns them into the top `k` documents with [`crate::chunk::to_documents`]. Each step
//! is the library's own function, so the result is exactly that of the same calls made by hand.

use std::sync::Arc;

use polars::prelude::*;
use rustc_hash::FxHashMap;
use tokenizers::Tokenizer;

use crate::cancel::Cancel;
use crate::chunk::{self, Aggregate, ChunkOptions, Embedder, Strategy, Template};
use crate::data::schema::{self, table, CHUNK_ID, DOC_ID, TEXT};
use crate::error::{Error, Result};
use crate::retrieve::{Retriever, SharedRetriever};

/// Chunks searched per document asked for when `depth` is not set.
pub const DEPTH_PER_K: usize = 10;

/// What an inner retriever indexed: the chunks table and each document's chunk ids.
struct Indexed {
    chunks: DataFrame,
    chunk_ids: FxHashMap<String, Vec<String>>,
}

/// A retriever over chunks that returns documents.
pub struct Chunked {
    inner: SharedRetriever,
    options: ChunkOptions,
    tokenizer: Option<Arc<Tokenizer>>,
    embedder: Option<Arc<dyn Embedder + Send>>,
    template: Option<Template>,
    aggregate: Aggregate,
    depth: Option<usize>,
    indexed: Option<Indexed>,
}

fn poisoned() -> Error {
    Error::poisoned("the inner retriever")
}

impl Chunked {
    /// Wrap `inner`: chunk with `options` (tokens counted by `tokenizer`), enrich with
    /// `template` (none: the chunk text), combine chunk scores with `aggregate`, search
    /// `depth` chunks per query (10 × `k` if `None`).
    ///
    /// Errors: invalid chunk options, `depth` = 0.
    pub fn new(
        inner: SharedRetriever,
        options: ChunkOptions,
        tokenizer: Option<Arc<Tokenizer>>,
        template: Option<Template>,
        aggregate: Aggregate,
        depth: Option<usize>,
    ) -> Result<Self> {
        options.validate(tokenizer.is_some())?;
        if depth == Some(0) {
            return Err(Error::config("depth", "must be at least 1"));
        }
        Ok(Self {
            inner,
            options,
            tokenizer,
            embedder: None,
            template,
            aggregate,
            depth,
            indexed: None,
        })
    }

    /// The embedder of the sentences for the `semantic` strategy (an [`crate::embed::Encoder`],
    /// say); without one, indexing with `semantic` is an [`Error::Config`] naming `encoder`.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder + Send>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    /// The chunks table of the last `index` (enriched text when a template is set).
    pub fn chunks(&self) -> Option<&DataFrame> {
        self.indexed.as_ref().map(|i| &i.chunks)
    }

    /// Chunks searched per query for `k` documents.
    pub fn depth_for(&self, k: usize) -> usize {
        self.depth.unwrap_or(k.saturating_mul(DEPTH_PER_K))
    }

    /// The chunk ids of the allowed documents; an id not in the indexed corpus is an error.
    fn allowed_chunks(&self, indexed: &Indexed, allow: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for id in allow {
            let ids = indexed.chunk_ids.get(id).ok_or_else(|| Error::UnknownId {
                kind: "document",
                id: id.clone(),
                location: "the allow list".into(),
            })?;
            out.extend(ids.iter().cloned());
        }
        Ok(out)
    }
}

/// Each document's chunk ids (documents without chunks get none).
fn chunk_ids_of(corpus: &DataFrame, chunks: &DataFrame) -> Result<FxHashMap<String, Vec<String>>> {
    let ids = schema::str_column(corpus, table::CORPUS, DOC_ID)?;
    let mut out: FxHashMap<String, Vec<String>> = schema::str_values(ids)
        .map(|d| (d.to_owned(), Vec::new()))
        .collect();
    let docs = schema::str_column(chunks, table::CHUNKS, DOC_ID)?;
    let cids = schema::str_column(chunks, table::CHUNKS, CHUNK_ID)?;
    for (d, c) in schema::str_values(docs).zip(schema::str_values(cids)) {
        if let Some(v) = out.get_mut(d) {
            v.push(c.to_owned());
        }
    }
    Ok(out)
}

impl Retriever for Chunked {
    fn name(&self) -> String {
        let inner = self.inner.read().map(|r| r.name()).unwrap_or_default();
        format!("chunked-{inner}")
    }

    fn config(&self) -> serde_json::Value {
        let inner = self.inner.read().ok();
        let semantic = self.options.strategy == Strategy::Semantic;
        serde_json::json!({
            "chunker": {
                "strategy": self.options.strategy.name(),
                "size": self.options.size,
                "overlap": self.options.overlap,
                "unit": self.options.unit.name(),
                "percentile": semantic.then_some(self.options.percentile),
                "encoder": semantic
                    .then(|| self.embedder.as_ref().and_then(|e| e.model()))
                    .flatten(),
            },
            "template": self.template.as_ref().map(Template::source),
            "aggregate": self.aggregate.name(),
            "depth": self.depth,
            "retriever": {
                "name": inner.as_ref().map(|r| r.name()),
                "config": inner.as_ref().map(|r| r.config()),
            },
        })
    }

    fn index(&mut self, corpus: &DataFrame, cancel: &Cancel) -> Result<()> {
        let tokenizer = self.tokenizer.as_deref();
        let embedder = self.embedder.as_deref().map(|e| e as &dyn Embedder);
        let raw = chunk::chunk_with(corpus, &self.options, tokenizer, embedder, cancel)?;
        let chunks = match &self.template {
            Some(t) => chunk::enrich(&raw, corpus, t)?,
            None => raw,
        };
        let chunk_corpus = schema::frame(vec![
            chunks.column(CHUNK_ID)?.clone().with_name(DOC_ID.into()),
            chunks.column(TEXT)?.clone(),
        ])?;
        let chunk_ids = chunk_ids_of(corpus, &chunks)?;
        self.inner
            .write()
            .map_err(|_| poisoned())?
            .index(&chunk_corpus, cancel)?;
        self.indexed = Some(Indexed { chunks, chunk_ids });
        Ok(())
    }

    fn search(
        &self,
        queries: &DataFrame,
        k: usize,
        allow: Option<&[String]>,
        cancel: &Cancel,
    ) -> Result<DataFrame> {
        crate::run::check_k(k)?;
        let indexed = self.indexed.as_ref().ok_or_else(|| Error::Empty {
            what: "the index (index a corpus first)".into(),
        })?;
        let allow = allow.map(|a| self.allowed_chunks(indexed, a)).transpose()?;
        let run = self.inner.read().map_err(|_| poisoned())?.search(
            queries,
            self.depth_for(k),
            allow.as_deref(),
            cancel,
        )?;
        chunk::to_documents(&run, &indexed.chunks, self.aggregate, Some(k))
    }
}
