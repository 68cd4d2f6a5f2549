//! A dense vector index that keeps its vectors and document ids together: documents are
//! embedded with an [`Encoder`] (optionally through an [`EmbeddingCache`]), queries are
//! embedded at search time, and search is exact inner product (the reference any approximate
//! index is measured against; faiss' `IndexFlatIP`), ties by doc id descending.
//!
//! Because the index owns the ids, filtering or reordering the corpus between indexing and
//! searching cannot misalign vectors and ids. `add` appends rows, `delete` removes them (the
//! remaining rows are moved down: O(rows · dim)), `save` writes a folder (`index.bin` with the
//! ids and vectors, `meta.json` with the format, the encoder's fingerprint and settings, and a
//! checksum), each file atomically, and `load` checks that the encoder and its settings are the
//! ones the vectors were made with.

use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::dense::{check_rows, search_rows, DOC_ROWS, QUERY_ROWS};
use super::Retriever;
use crate::cancel::Cancel;
use crate::data::io::{fnv1a64, write_atomic};
use crate::data::schema::{self, table, DOC_ID};
use crate::embed::{EmbeddingCache, EncodeOptions, Encoder};
use crate::error::{Error, Result};
use crate::run::{self, DocumentTexts};

const FORMAT: &str = "ragplay-dense";
const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"RPDENSE\x01";

/// An exact dense index over an encoder's document vectors.
pub struct DenseIndex {
    encoder: Arc<Encoder>,
    cache: Option<Arc<EmbeddingCache>>,
    options: EncodeOptions,
    ids: Vec<String>,
    slots: FxHashMap<String, u32>,
    /// Row-major `[ids.len(), dim]`.
    vectors: Vec<f32>,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    version: u32,
    dim: usize,
    documents: usize,
    encoder_fingerprint: String,
    settings: Settings,
    data_bytes: u64,
    data_fnv1a64: String,
}

impl DenseIndex {
    /// An empty index over `encoder`'s vectors; documents are embedded through `cache` when
    /// given, with `options` (batch size, normalisation).
    pub fn new(
        encoder: Arc<Encoder>,
        cache: Option<Arc<EmbeddingCache>>,
        options: EncodeOptions,
    ) -> Result<Self> {
        options.validate()?;
        Ok(Self {
            encoder,
            cache,
            options,
            ids: Vec::new(),
            slots: FxHashMap::default(),
            vectors: Vec::new(),
        })
    }

    /// An empty index with the same encoder, cache and options.
    pub fn empty_like(&self) -> Self {
        Self {
            encoder: Arc::clone(&self.encoder),
            cache: self.cache.clone(),
            options: self.options.clone(),
            ids: Vec::new(),
            slots: FxHashMap::default(),
            vectors: Vec::new(),
        }
    }

    /// The encoder.
    pub fn encoder(&self) -> &Arc<Encoder> {
        &self.encoder
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the index holds no document.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The vector dimension.
    pub fn dim(&self) -> usize {
        self.encoder.dim()
    }

    /// The document ids, in row order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The document vectors, row-major, in the order of [`DenseIndex::ids`].
    pub fn vectors(&self) -> &[f32] {
        &self.vectors
    }

    /// The vector of `doc_id`, if indexed.
    pub fn vector(&self, doc_id: &str) -> Option<&[f32]> {
        let dim = self.dim();
        self.slots
            .get(doc_id)
            .map(|&s| &self.vectors[s as usize * dim..(s as usize + 1) * dim])
    }

    /// Add the documents of `corpus` (`doc_id`, `text`, optional `title`); ids must be new.
    /// An interrupted or failed call leaves the index as it was.
    pub fn add(&mut self, corpus: &DataFrame, cancel: &Cancel) -> Result<()> {
        let documents = DocumentTexts::new(corpus)?;
        super::check_new_ids(documents.ids, |id| self.slots.contains_key(id))?;
        let e = self
            .encoder
            .encode_corpus(corpus, &self.options, self.cache.as_deref(), cancel)?;
        let ids: Vec<String> = schema::str_values(documents.ids)
            .map(str::to_owned)
            .collect();
        check_rows(&e.data, &ids, e.dim, &DOC_ROWS)?;
        self.vectors.extend_from_slice(&e.data);
        for id in schema::str_values(documents.ids) {
            self.slots.insert(id.to_owned(), self.ids.len() as u32);
            self.ids.push(id.to_owned());
        }
        Ok(())
    }

    /// Delete documents by id; an unknown id is an error and nothing is deleted.
    pub fn delete<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<()> {
        let mut gone = vec![false; self.ids.len()];
        for id in ids {
            let id = id.as_ref();
            let slot = self.slots.get(id).ok_or_else(|| Error::UnknownId {
                kind: "document",
                id: id.to_owned(),
                location: "the index".into(),
            })?;
            gone[*slot as usize] = true;
        }
        let dim = self.dim();
        let mut kept = 0;
        for (row, &gone) in gone.iter().enumerate() {
            if gone {
                continue;
            }
            self.vectors
                .copy_within(row * dim..(row + 1) * dim, kept * dim);
            self.ids.swap(row, kept);
            kept += 1;
        }
        self.vectors.truncate(kept * dim);
        self.ids.truncate(kept);
        self.slots = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
        Ok(())
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
        let q = self.encoder.encode_queries(&refs, &self.options, cancel)?;
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
        super::check_search(self.is_empty(), k)?;
        let rows = allow
            .map(|ids| super::allowed_slots(ids, |id| self.slots.get(id).copied()))
            .transpose()?;
        let dim = self.dim();
        check_rows(query_vectors, query_ids, dim, &QUERY_ROWS)?;
        let hits = search_rows(
            query_vectors,
            &self.vectors,
            &self.ids,
            dim,
            k,
            rows.as_deref(),
            cancel,
        )?;
        let qids = StringChunked::from_iter_values("".into(), query_ids.iter().map(String::as_str));
        let docs =
            StringChunked::from_iter_values(DOC_ID.into(), self.ids.iter().map(String::as_str));
        let hits: Vec<Vec<(u32, f64)>> = hits
            .into_iter()
            .map(|h| h.into_iter().map(|(r, s)| (r as u32, s as f64)).collect())
            .collect();
        run::gather(&qids, &docs, &hits)
    }
}

impl Retriever for DenseIndex {
    fn name(&self) -> String {
        "dense".into()
    }

    fn config(&self) -> serde_json::Value {
        let e = &self.encoder;
        serde_json::json!({
            "model": e.files().dir.to_string_lossy(),
            "pooling": e.pooling().name(),
            "normalize": self.options.normalize.unwrap_or(e.normalize()),
            "max_seq_length": e.max_seq_length(),
            "query_prefix": e.query_prefix(),
            "document_prefix": e.document_prefix(),
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
            pooling: e.pooling().name().into(),
            normalize: self.options.normalize.unwrap_or(e.normalize()),
            max_seq_length: e.max_seq_length(),
            document_prefix: e.document_prefix().into(),
            query_prefix: e.query_prefix().into(),
        }
    }

    /// Save to a folder: `index.bin` (ids and vectors, little-endian) and `meta.json` (format,
    /// the encoder's fingerprint and settings, size and checksum of `index.bin`). Each file is
    /// written atomically, data first; a save torn between the two is detected on load.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut out: Vec<u8> = Vec::with_capacity(16 + self.vectors.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.ids.len() as u64).to_le_bytes());
        for id in &self.ids {
            out.extend_from_slice(&(id.len() as u32).to_le_bytes());
            out.extend_from_slice(id.as_bytes());
        }
        for v in &self.vectors {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let meta = Meta {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            dim: self.dim(),
            documents: self.ids.len(),
            encoder_fingerprint: self.encoder.fingerprint()?,
            settings: self.settings(),
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
    /// is an error.
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
        let mut index = Self::new(encoder, cache, options)?;
        let fingerprint = index.encoder.fingerprint()?;
        if meta.encoder_fingerprint != fingerprint || meta.settings != index.settings() {
            return Err(Error::model(
                &index.encoder.files().dir,
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
        let (ids, vectors) = read_data(dir, &meta)?;
        index.slots = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
        index.ids = ids;
        index.vectors = vectors;
        Ok(index)
    }
}

fn corrupt(path: &Path, message: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line: 0,
        message: message.into(),
    }
}

/// The checked `meta.json` of an index folder.
fn read_meta(dir: &Path) -> Result<Meta> {
    let path = dir.join("meta.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let meta: Meta = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(&path, format!("not a ragplay dense index: {e}")))?;
    if meta.format != FORMAT || meta.version != FORMAT_VERSION {
        return Err(corrupt(
            &path,
            format!(
                "format {:?} version {}, this ragplay reads {FORMAT:?} version {FORMAT_VERSION}",
                meta.format, meta.version
            ),
        ));
    }
    Ok(meta)
}

/// The ids and vectors of `index.bin`, checked against `meta`: size, checksum, count, unique
/// ids, finite values.
fn read_data(dir: &Path, meta: &Meta) -> Result<(Vec<String>, Vec<f32>)> {
    let path = dir.join("index.bin");
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    if bytes.len() as u64 != meta.data_bytes
        || format!("{:016x}", fnv1a64(&bytes)) != meta.data_fnv1a64
    {
        return Err(corrupt(
            &path,
            "corrupt index file: size or checksum differs (truncated?)",
        ));
    }
    let (ids, vectors) = decode(&bytes, meta.dim)
        .ok_or_else(|| corrupt(&path, "corrupt index file: malformed content"))?;
    if ids.len() != meta.documents {
        return Err(corrupt(&path, "corrupt index file: document count differs"));
    }
    let unique: rustc_hash::FxHashSet<&str> = ids.iter().map(String::as_str).collect();
    if unique.len() != ids.len() || vectors.iter().any(|v| !v.is_finite()) {
        return Err(corrupt(
            &path,
            "corrupt index file: duplicate id or non-finite value",
        ));
    }
    Ok((ids, vectors))
}

/// The ids and vectors of an `index.bin`, or `None` if malformed.
fn decode(bytes: &[u8], dim: usize) -> Option<(Vec<String>, Vec<f32>)> {
    let body = bytes.strip_prefix(MAGIC)?;
    let (n, mut rest) = body.split_first_chunk::<8>()?;
    let n = usize::try_from(u64::from_le_bytes(*n)).ok()?;
    let mut ids = Vec::with_capacity(n.min(rest.len() / 4));
    for _ in 0..n {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let (id, tail) = (tail.get(..len)?, tail.get(len..)?);
        ids.push(String::from_utf8(id.to_vec()).ok()?);
        rest = tail;
    }
    if rest.len() != n.checked_mul(dim)?.checked_mul(4)? {
        return None;
    }
    let vectors = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some((ids, vectors))
}
