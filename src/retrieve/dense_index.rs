//! A dense vector index that keeps its vectors and document ids together: documents are
//! embedded with an [`Encoder`] (optionally through an [`EmbeddingCache`]), queries are
//! embedded at search time, and the vectors live in a [`VectorStore`]: exact inner product
//! (faiss' `IndexFlatIP`) or an HNSW graph, with `f32`, `f16` or `int8` storage; ties by doc id
//! descending.
//!
//! Because the index owns the ids, filtering or reordering the corpus between indexing and
//! searching cannot misalign vectors and ids. `add` appends rows, `delete` removes them (see
//! [`VectorStore`] for tombstones), `save` writes a folder (`index.bin` with the store,
//! `meta.json` with the format, the encoder's fingerprint and settings, the store's options
//! and a checksum), each file atomically, and `load` checks that the encoder and its settings
//! are the ones the vectors were made with.

use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::hnsw::HnswParams;
use super::vectors::file::{corrupt, read_store};
use super::vectors::{Storage, VectorOptions, VectorStore};
use super::Retriever;
use crate::cancel::Cancel;
use crate::data::io::{fnv1a64, write_atomic};
use crate::data::schema::{self, table};
use crate::data::DocumentTexts;
use crate::embed::{EmbeddingCache, EncodeOptions, Encoder, Pooling};
use crate::error::{Error, Result};

const FORMAT: &str = "ragplay-dense";
const FORMAT_VERSION: u32 = 2;

/// A dense index over an encoder's document vectors.
pub struct DenseIndex {
    encoder: Arc<Encoder>,
    cache: Option<Arc<EmbeddingCache>>,
    options: EncodeOptions,
    store: VectorStore,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    version: u32,
    dim: usize,
    documents: usize,
    encoder_fingerprint: String,
    settings: Settings,
    storage: String,
    rescore: usize,
    hnsw: Option<HnswParams>,
    data_bytes: u64,
    data_fnv1a64: String,
}

impl DenseIndex {
    /// An empty index over `encoder`'s vectors; documents are embedded through `cache` when
    /// given, with `options` (batch size, normalisation); `vectors` says how they are stored
    /// and searched.
    pub fn new(
        encoder: Arc<Encoder>,
        cache: Option<Arc<EmbeddingCache>>,
        options: EncodeOptions,
        vectors: VectorOptions,
    ) -> Result<Self> {
        options.validate()?;
        let store = VectorStore::new(encoder.dim(), vectors)?;
        Ok(Self {
            encoder,
            cache,
            options,
            store,
        })
    }

    /// An empty index with the same encoder, cache and options.
    pub fn empty_like(&self) -> Self {
        Self {
            encoder: Arc::clone(&self.encoder),
            cache: self.cache.clone(),
            options: self.options.clone(),
            store: VectorStore::new(self.dim(), *self.store.options())
                .expect("the options were valid when the store was made"),
        }
    }

    /// The encoder.
    pub fn encoder(&self) -> &Arc<Encoder> {
        &self.encoder
    }

    /// The vector store.
    pub fn store(&self) -> &VectorStore {
        &self.store
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether the index holds no document.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// The vector dimension.
    pub fn dim(&self) -> usize {
        self.encoder.dim()
    }

    /// The document ids, in row order.
    pub fn ids(&self) -> Vec<&str> {
        self.store.ids()
    }

    /// The document vectors, row-major, in the order of [`DenseIndex::ids`].
    pub fn vectors(&self) -> Vec<f32> {
        self.store.vectors()
    }

    /// The vector of `doc_id`, if indexed.
    pub fn vector(&self, doc_id: &str) -> Option<&[f32]> {
        self.store.vector(doc_id)
    }

    /// Add the documents of `corpus` (`doc_id`, `text`, optional `title`); ids must be new.
    /// An interrupted or failed call leaves the index as it was.
    pub fn add(&mut self, corpus: &DataFrame, cancel: &Cancel) -> Result<()> {
        let documents = DocumentTexts::new(corpus)?;
        super::check_new_ids(documents.ids, |id| self.store.slot(id).is_some())?;
        let e = self
            .encoder
            .encode_corpus(corpus, &self.options, self.cache.as_deref(), cancel)?;
        let ids: Vec<String> = schema::str_values(documents.ids)
            .map(str::to_owned)
            .collect();
        self.store.add(ids, &e.data, cancel)
    }

    /// Delete documents by id; an unknown id is an error and nothing is deleted.
    pub fn delete<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<()> {
        self.store.delete(ids)
    }

    /// Drop deleted documents for good (rebuilds an HNSW graph); see [`VectorStore::compact`].
    pub fn compact(&mut self, cancel: &Cancel) -> Result<()> {
        self.store.compact(cancel)
    }

    /// Set the HNSW graph's `ef_search` (an error for an exact index).
    pub fn set_ef_search(&mut self, ef_search: usize) -> Result<()> {
        self.store.set_ef_search(ef_search)
    }

    /// The query ids of a queries table (`query_id`, `text`) and their vectors (row-major),
    /// embedded with the index's encoder and options (the model's query prefix).
    pub fn query_vectors(
        &self,
        queries: &DataFrame,
        cancel: &Cancel,
    ) -> Result<(Vec<String>, Vec<f32>)> {
        let ids: Vec<String> = schema::str_values(schema::str_column(
            queries,
            table::QUERIES,
            schema::QUERY_ID,
        )?)
        .map(str::to_owned)
        .collect();
        let texts = crate::embed::query_texts(queries)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        // Never through the cache: a search's latency includes embedding its queries, as
        // when the index serves them.
        let q = self
            .encoder
            .encode_queries(&refs, &self.options, None, cancel)?;
        Ok((ids, q.data))
    }

    /// Search with query vectors (row-major, `query_ids.len()` rows of [`DenseIndex::dim`]):
    /// the top `k` documents of each by inner product, restricted to `allow` when given.
    pub fn search_vectors(
        &self,
        query_vectors: &[f32],
        query_ids: &[String],
        k: usize,
        allow: Option<&[String]>,
        cancel: &Cancel,
    ) -> Result<DataFrame> {
        self.store
            .search_run(query_vectors, query_ids, k, allow, cancel)
    }

    /// Recall@k of the index's search against the exact scan on `queries` (a queries table),
    /// with the wall time of each: [`VectorStore::recall_frame`].
    pub fn recall_report(
        &self,
        queries: &DataFrame,
        k: usize,
        cancel: &Cancel,
    ) -> Result<DataFrame> {
        super::check_search(self.is_empty(), k)?;
        let (_, vectors) = self.query_vectors(queries, cancel)?;
        self.store.recall_frame(&vectors, k, cancel)
    }
}

impl Retriever for DenseIndex {
    fn name(&self) -> String {
        "dense".into()
    }

    fn config(&self) -> serde_json::Value {
        let e = &self.encoder;
        let v = self.store.options();
        serde_json::json!({
            "model": e.source(),
            "pooling": e.pooling().map(Pooling::name),
            "normalize": self.options.normalize.unwrap_or(e.normalize()),
            "max_seq_length": e.max_seq_length(),
            "query_prefix": e.query_prefix(),
            "document_prefix": e.document_prefix(),
            "backend": v.backend().name(),
            "storage": v.storage.name(),
            "rescore": v.rescore,
            "hnsw": v.hnsw,
        })
    }

    fn index(&mut self, corpus: &DataFrame, cancel: &Cancel) -> Result<()> {
        let mut fresh = self.empty_like();
        if corpus.height() == 0 {
            return Err(Error::Empty {
                what: "corpus table".into(),
            });
        }
        fresh.add(corpus, cancel)?;
        *self = fresh;
        Ok(())
    }

    fn search(
        &self,
        queries: &DataFrame,
        k: usize,
        allow: Option<&[String]>,
        cancel: &Cancel,
    ) -> Result<DataFrame> {
        super::check_search(self.is_empty(), k)?;
        let (ids, vectors) = self.query_vectors(queries, cancel)?;
        self.search_vectors(&vectors, &ids, k, allow, cancel)
    }
}

/// How the stored vectors were made, besides the model files: what `load` checks.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Settings {
    pooling: String,
    normalize: bool,
    max_seq_length: usize,
    document_prefix: String,
    query_prefix: String,
}

impl DenseIndex {
    fn settings(&self) -> Settings {
        let e = &self.encoder;
        Settings {
            pooling: e.pooling().map_or("remote", Pooling::name).into(),
            normalize: self.options.normalize.unwrap_or(e.normalize()),
            max_seq_length: e.max_seq_length().unwrap_or(0),
            document_prefix: e.document_prefix().into(),
            query_prefix: e.query_prefix().into(),
        }
    }

    /// Save to a folder: `index.bin` (the store: ids, vectors, codes, graph; little-endian)
    /// and `meta.json` (format, the encoder's fingerprint and settings, the store's options,
    /// size and checksum of `index.bin`). Each file is written atomically, data first; a save
    /// torn between the two is detected on load.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let out = self.store.to_bytes();
        let v = self.store.options();
        let meta = Meta {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            dim: self.dim(),
            documents: self.store.rows(),
            encoder_fingerprint: self.encoder.fingerprint()?,
            settings: self.settings(),
            storage: v.storage.name().into(),
            rescore: v.rescore,
            hnsw: v.hnsw,
            data_bytes: out.len() as u64,
            data_fnv1a64: format!("{:016x}", fnv1a64(&out)),
        };
        write_atomic(&dir.join("index.bin"), |w| w.write_all(&out))?;
        let json =
            serde_json::to_vec_pretty(&meta).map_err(|e| Error::config("index", e.to_string()))?;
        write_atomic(&dir.join("meta.json"), |w| w.write_all(&json))
    }

    /// Load an index saved with [`DenseIndex::save`]. `encoder` must be the model the vectors
    /// were made with (same fingerprint, pooling, `max_seq_length` and prefixes); with
    /// `options.normalize` unset, the stored normalisation is used, and a different one given
    /// is an error. The storage and graph are those saved.
    pub fn load(
        dir: &Path,
        encoder: Arc<Encoder>,
        cache: Option<Arc<EmbeddingCache>>,
        mut options: EncodeOptions,
    ) -> Result<Self> {
        let meta = read_meta(dir)?;
        let stored_normalize = meta.settings.normalize;
        if options.normalize.is_some_and(|n| n != stored_normalize) {
            return Err(Error::config(
                "normalize",
                format!(
                    "the index in {} holds vectors made with normalize={stored_normalize}",
                    dir.display()
                ),
            ));
        }
        options.normalize = Some(stored_normalize);
        let path = dir.join("meta.json");
        let vectors = VectorOptions {
            storage: meta
                .storage
                .parse::<Storage>()
                .map_err(|e| corrupt(&path, e.to_string()))?,
            rescore: meta.rescore,
            hnsw: meta.hnsw,
        };
        let mut index = Self::new(encoder, cache, options, vectors)?;
        let fingerprint = index.encoder.fingerprint()?;
        if meta.encoder_fingerprint != fingerprint || meta.settings != index.settings() {
            return Err(Error::model(
                index.encoder.source(),
                format!(
                    "the index in {} was built with another model or settings (fingerprint {}, {:?}; \
                     this encoder {fingerprint}, {:?})",
                    dir.display(),
                    meta.encoder_fingerprint,
                    meta.settings,
                    index.settings()
                ),
            ));
        }
        index.store = read_data(dir, &meta, vectors)?;
        Ok(index)
    }
}

/// The checked `meta.json` of an index folder.
fn read_meta(dir: &Path) -> Result<Meta> {
    let path = dir.join("meta.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let version: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(&path, format!("not a ragplay dense index: {e}")))?;
    if version.get("format").and_then(|f| f.as_str()) != Some(FORMAT)
        || version.get("version").and_then(|v| v.as_u64()) != Some(FORMAT_VERSION as u64)
    {
        return Err(corrupt(
            &path,
            format!(
                "format {} version {}, this ragplay reads {FORMAT:?} version {FORMAT_VERSION}",
                version.get("format").unwrap_or(&serde_json::Value::Null),
                version.get("version").unwrap_or(&serde_json::Value::Null)
            ),
        ));
    }
    serde_json::from_value(version)
        .map_err(|e| corrupt(&path, format!("not a ragplay dense index: {e}")))
}

/// The store in `index.bin`, checked against `meta`: size, checksum, layout, count, unique
/// ids, finite values.
fn read_data(dir: &Path, meta: &Meta, options: VectorOptions) -> Result<VectorStore> {
    let path = dir.join("index.bin");
    let store = read_store(
        &path,
        meta.data_bytes,
        &meta.data_fnv1a64,
        meta.dim,
        options,
    )?;
    if store.rows() != meta.documents {
        return Err(corrupt(&path, "corrupt index file: document count differs"));
    }
    Ok(store)
}

impl crate::rerank::VectorLookup for DenseIndex {
    fn dim(&self) -> usize {
        DenseIndex::dim(self)
    }

    fn query_vectors(
        &self,
        queries: &DataFrame,
        cancel: &Cancel,
    ) -> Result<(Vec<String>, Vec<f32>)> {
        DenseIndex::query_vectors(self, queries, cancel)
    }

    fn vector(&self, doc_id: &str) -> Option<&[f32]> {
        DenseIndex::vector(self, doc_id)
    }
}
