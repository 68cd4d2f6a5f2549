//! Dense text embeddings computed in-process: a BERT-family sentence encoder loaded with
//! candle and the tokenizers crate, pooled as the model's sentence-transformers config says.
//!
//! - [`model`]: where a model comes from (a folder, the Hugging Face hub cache, a Python
//!   package) and its validated configuration;
//! - [`bert`]: the weights and the padding-free forward pass;
//! - [`kernels`]: the CPU kernels behind it;
//! - [`cache`]: the on-disk embedding cache used by [`Encoder::encode_corpus`];
//! - [`remote`]: the same contract for a model behind an OpenAI-compatible endpoint.
//!
//! Texts are tokenized in parallel, truncated at the model's `max_seq_length` (special tokens
//! included, as sentence-transformers does; truncated texts are reported), sorted by length
//! and run in batches of `batch_size` texts. Pooling is sentence-transformers' (Reimers &
//! Gurevych 2019, "Sentence-BERT"): mean, CLS, max or mean·√len over the real tokens; L2
//! normalisation when the model's modules end in `Normalize`, unless overridden.

pub mod bert;
pub mod cache;
pub mod kernels;
pub mod model;
pub mod remote;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use polars::prelude::DataFrame;
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::cancel::Cancel;
use crate::data::schema::{self, table, TEXT};
use crate::error::{Error, Result};
pub use cache::{CacheStats, EmbeddingCache};
pub use model::{ModelFiles, Pooling};
pub use remote::{RemoteConfig, RemoteEncoder};

/// How to load an encoder; every field has a default taken from the model's own files.
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// Hub revision (branch, tag or commit) when the name is a repo id.
    pub revision: String,
    /// Override the model's max_seq_length (at most its position count).
    pub max_seq_length: Option<usize>,
    /// Override the model's pooling.
    pub pooling: Option<Pooling>,
    /// Override whether vectors are L2-normalised by default.
    pub normalize: Option<bool>,
    /// Text put before every query (E5/BGE-style models); default from the model's prompts.
    pub query_prefix: Option<String>,
    /// Text put before every document; default from the model's prompts.
    pub document_prefix: Option<String>,
    /// Extra folders in which to look for packaged models.
    pub search_paths: Vec<PathBuf>,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        Self {
            revision: "main".into(),
            max_seq_length: None,
            pooling: None,
            normalize: None,
            query_prefix: None,
            document_prefix: None,
            search_paths: Vec::new(),
        }
    }
}

/// Options of one `encode` call.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// Texts per forward pass.
    pub batch_size: usize,
    /// L2-normalise (default: the model's setting).
    pub normalize: Option<bool>,
    /// Text put before every text (default: none).
    pub prefix: Option<String>,
    /// What the texts are; a remote model may embed queries and documents differently.
    pub role: Role,
}

/// What a text being embedded is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Role {
    #[default]
    Text,
    Query,
    Document,
}

impl EncodeOptions {
    /// Reject options outside their domain.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::config("batch_size", "must be at least 1"));
        }
        Ok(())
    }
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            batch_size: 32,
            normalize: None,
            prefix: None,
            role: Role::Text,
        }
    }
}

/// Vectors of a list of texts, row-major `[rows, dim]`.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub data: Vec<f32>,
    pub rows: usize,
    pub dim: usize,
    /// Indices of the texts that were longer than max_seq_length and were cut.
    pub truncated: Vec<usize>,
}

impl Embeddings {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// A sentence encoder: a model run in-process or behind an endpoint.
pub struct Encoder {
    backend: Backend,
    normalize: bool,
    query_prefix: String,
    document_prefix: String,
    fingerprint: OnceLock<std::result::Result<String, String>>,
    /// Texts and tokens embedded since loading, and forward calls.
    usage: [AtomicU64; 3],
}

/// Where the vectors are computed.
enum Backend {
    Local(Box<Local>),
    Remote(Box<RemoteEncoder>),
}

/// A BERT-family model run with candle.
struct Local {
    files: ModelFiles,
    bert: bert::Bert,
    tokenizer: Tokenizer,
    max_seq_length: usize,
    pooling: Pooling,
}

/// What an [`Encoder`] has embedded since it was loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Calls that embedded at least one text.
    pub calls: u64,
    pub texts: u64,
    /// Tokens after truncation, special tokens included.
    pub tokens: u64,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("source", &self.source())
            .field("dim", &self.dim())
            .field("max_seq_length", &self.max_seq_length())
            .field("pooling", &self.pooling())
            .field("normalize", &self.normalize)
            .finish()
    }
}

impl Encoder {
    /// Load a model by folder or hub repo id (see [`model::resolve`]).
    pub fn from_pretrained(name_or_path: &str, options: &EncoderOptions) -> Result<Self> {
        let files = model::resolve(name_or_path, &options.revision, &options.search_paths)?;
        Self::from_files(files, options)
    }

    /// Load a model from already resolved files.
    pub fn from_files(files: ModelFiles, options: &EncoderOptions) -> Result<Self> {
        let max_pos = files.config.max_position_embeddings;
        let max_seq_length = match options.max_seq_length {
            Some(0) => return Err(Error::config("max_seq_length", "must be at least 1")),
            Some(n) if n > max_pos => {
                return Err(Error::config(
                    "max_seq_length",
                    format!("{n} exceeds the model's {max_pos} positions"),
                ))
            }
            Some(n) => n,
            None => files.max_seq_length,
        };
        let mut tokenizer = Tokenizer::from_file(&files.tokenizer)
            .map_err(|e| Error::model(&files.tokenizer, format!("cannot read tokenizer: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::model(&files.tokenizer, format!("truncation: {e}")))?;
        let bert = bert::Bert::load(&files)?;
        let pooling = options.pooling.unwrap_or(files.pooling);
        Ok(Encoder {
            normalize: options.normalize.unwrap_or(files.normalize),
            query_prefix: options
                .query_prefix
                .clone()
                .unwrap_or_else(|| files.query_prefix.clone()),
            document_prefix: options
                .document_prefix
                .clone()
                .unwrap_or_else(|| files.document_prefix.clone()),
            backend: Backend::Local(Box::new(Local {
                files,
                bert,
                tokenizer,
                max_seq_length,
                pooling,
            })),
            fingerprint: OnceLock::new(),
            usage: Default::default(),
        })
    }

    /// An encoder for a model behind an OpenAI-compatible `/embeddings` endpoint; vectors
    /// are L2-normalised by default, and the prefixes are empty unless given.
    /// The server truncates long texts as it sees fit, without saying so: its model's own
    /// limit applies, not `max_seq_length`. `cancel` stops the probe request's retries.
    pub fn remote(config: RemoteConfig, options: &EncoderOptions, cancel: &Cancel) -> Result<Self> {
        if options.max_seq_length.is_some() {
            return Err(Error::config(
                "max_seq_length",
                "the server decides the truncation of a remote model",
            ));
        }
        if options.pooling.is_some() {
            return Err(Error::config(
                "pooling",
                "the server decides the pooling of a remote model",
            ));
        }
        Ok(Encoder {
            normalize: options.normalize.unwrap_or(true),
            query_prefix: options.query_prefix.clone().unwrap_or_default(),
            document_prefix: options.document_prefix.clone().unwrap_or_default(),
            backend: Backend::Remote(Box::new(RemoteEncoder::new(config, cancel)?)),
            fingerprint: OnceLock::new(),
            usage: Default::default(),
        })
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        match &self.backend {
            Backend::Local(l) => l.bert.hidden(),
            Backend::Remote(r) => r.dim(),
        }
    }
    /// Tokens per text, special tokens included; longer texts are cut. `None` for a remote
    /// model, whose server decides.
    pub fn max_seq_length(&self) -> Option<usize> {
        self.local().map(|l| l.max_seq_length)
    }
    /// The pooling applied to token vectors; `None` for a remote model.
    pub fn pooling(&self) -> Option<Pooling> {
        self.local().map(|l| l.pooling)
    }
    /// Whether vectors are L2-normalised by default.
    pub fn normalize(&self) -> bool {
        self.normalize
    }
    /// The prefix of queries.
    pub fn query_prefix(&self) -> &str {
        &self.query_prefix
    }
    /// The prefix of documents.
    pub fn document_prefix(&self) -> &str {
        &self.document_prefix
    }
    /// The files a local model was loaded from.
    pub fn files(&self) -> Option<&ModelFiles> {
        self.local().map(|l| &l.files)
    }
    /// The remote model's client.
    pub fn remote_model(&self) -> Option<&RemoteEncoder> {
        match &self.backend {
            Backend::Remote(r) => Some(r),
            Backend::Local(_) => None,
        }
    }
    /// Where the model is: its folder, or `model at base_url`.
    pub fn source(&self) -> String {
        match &self.backend {
            Backend::Local(l) => l.files.dir.to_string_lossy().into_owned(),
            Backend::Remote(r) => r.describe(),
        }
    }
    /// The tokenizer of a local model (truncating at `max_seq_length`); [`crate::chunk`]
    /// counts tokens with it. A remote model has none: an error naming `what` needs it.
    pub fn tokenizer(&self, what: &str) -> Result<&Tokenizer> {
        self.local()
            .map(|l| &l.tokenizer)
            .ok_or_else(|| self.no_tokenizer(what))
    }

    fn local(&self) -> Option<&Local> {
        match &self.backend {
            Backend::Local(l) => Some(l),
            Backend::Remote(_) => None,
        }
    }

    fn no_tokenizer(&self, what: &str) -> Error {
        Error::model(
            self.source(),
            format!("{what} needs the model's tokenizer; a remote model has none, use a local one"),
        )
    }

    /// SHA-256 (hex) over a local model's config, tokenizer and weight files, or over a
    /// remote model's URL, name and settings.
    pub fn fingerprint(&self) -> Result<String> {
        let local = match &self.backend {
            Backend::Local(l) => l,
            Backend::Remote(r) => return Ok(r.fingerprint()),
        };
        self.fingerprint
            .get_or_init(|| {
                let mut h = Sha256::new();
                let mut files = vec![
                    local.files.dir.join("config.json"),
                    local.files.tokenizer.clone(),
                    local.files.weights.clone(),
                ];
                for extra in ["1_Pooling/config.json", "sentence_bert_config.json"] {
                    let p = local.files.dir.join(extra);
                    if p.is_file() {
                        files.push(p);
                    }
                }
                for p in files {
                    let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    h.update((bytes.len() as u64).to_le_bytes());
                    h.update(&bytes);
                }
                Ok(format!("{:x}", h.finalize()))
            })
            .clone()
            .map_err(|m| Error::model(&local.files.dir, m))
    }

    /// The cache namespace of vectors made with `prefix` and `normalize`.
    fn namespace(&self, prefix: &str, normalize: bool, role: Role) -> Result<String> {
        let mut h = Sha256::new();
        h.update(self.fingerprint()?.as_bytes());
        // A release may compute vectors differently: its own namespace.
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(
            format!(
                "\0{}\0{}\0{}\0{}\0",
                self.pooling().map_or("remote", Pooling::name),
                normalize,
                self.max_seq_length().unwrap_or(0),
                // Only a remote model sends the role.
                match (&self.backend, role) {
                    (Backend::Local(_), _) | (_, Role::Text) => "",
                    (_, Role::Query) => "query",
                    (_, Role::Document) => "document",
                }
            )
            .as_bytes(),
        );
        h.update(prefix.as_bytes());
        Ok(format!("{:x}", h.finalize())[..32].to_owned())
    }

    /// Tokenize `texts` (with `prefix`), returning token ids and whether each was truncated.
    fn tokenize(&self, texts: &[&str], prefix: &str) -> Result<Vec<(Vec<u32>, bool)>> {
        let local = self
            .local()
            .ok_or_else(|| self.no_tokenizer("tokenizing"))?;
        let inputs: Vec<String> = texts.iter().map(|t| format!("{prefix}{t}")).collect();
        let encodings = local.tokenizer.encode_batch(inputs, true).map_err(|e| {
            Error::model(&local.files.tokenizer, format!("tokenization failed: {e}"))
        })?;
        Ok(encodings
            .into_iter()
            .map(|e| {
                let truncated = !e.get_overflowing().is_empty();
                (e.get_ids().to_vec(), truncated)
            })
            .collect())
    }

    /// What this encoder has embedded since it was loaded (texts read from an embedding
    /// cache are not embedded and not counted).
    pub fn usage(&self) -> Usage {
        let [calls, texts, tokens] = &self.usage;
        Usage {
            calls: calls.load(Ordering::Relaxed),
            texts: texts.load(Ordering::Relaxed),
            tokens: tokens.load(Ordering::Relaxed),
        }
    }

    /// Token counts of `texts` after truncation, special tokens included (a local model).
    pub fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>> {
        Ok(self
            .tokenize(texts, "")?
            .into_iter()
            .map(|(ids, _)| ids.len())
            .collect())
    }

    /// Floating-point operations (2 per multiply-add) of the matrix products of one forward
    /// pass over a text of `tokens` tokens: per layer 2·t·h·(3h + h + 2·inter) for the linear
    /// layers and 4·t²·h for attention. `None` for a remote model.
    pub fn forward_flops(&self, tokens: usize) -> Option<f64> {
        let c = &self.local()?.bert.config;
        let (t, h, i) = (
            tokens as f64,
            c.hidden_size as f64,
            c.intermediate_size as f64,
        );
        Some(c.num_hidden_layers as f64 * (2.0 * t * h * (4.0 * h + 2.0 * i) + 4.0 * t * t * h))
    }

    /// Embed `texts`. Progress (texts done) and Ctrl-C go through `cancel`.
    pub fn encode(
        &self,
        texts: &[&str],
        options: &EncodeOptions,
        cancel: &Cancel,
    ) -> Result<Embeddings> {
        cancel.start("encode", texts.len() as u64);
        self.encode_batches(texts, options, cancel)
    }

    /// [`Encoder::encode`] without starting a new progress stage.
    fn encode_batches(
        &self,
        texts: &[&str],
        options: &EncodeOptions,
        cancel: &Cancel,
    ) -> Result<Embeddings> {
        options.validate()?;
        let normalize = options.normalize.unwrap_or(self.normalize);
        let prefix = options.prefix.as_deref().unwrap_or("");
        let (mut data, tokens, truncated) = match &self.backend {
            Backend::Local(local) => {
                let tokens = self.tokenize(texts, prefix)?;
                let n: usize = tokens.iter().map(|(ids, _)| ids.len()).sum();
                let truncated = (0..texts.len()).filter(|&i| tokens[i].1).collect();
                (
                    local.encode(&tokens, options.batch_size, cancel)?,
                    n as u64,
                    truncated,
                )
            }
            Backend::Remote(remote) => {
                let with_prefix: Vec<String>;
                let inputs: Vec<&str> = if prefix.is_empty() {
                    texts.to_vec()
                } else {
                    with_prefix = texts.iter().map(|t| format!("{prefix}{t}")).collect();
                    with_prefix.iter().map(String::as_str).collect()
                };
                let (data, used) =
                    remote.embed(&inputs, options.role, options.batch_size, cancel)?;
                (data, used, Vec::new())
            }
        };
        if !texts.is_empty() {
            let [calls, count, total] = &self.usage;
            calls.fetch_add(1, Ordering::Relaxed);
            count.fetch_add(texts.len() as u64, Ordering::Relaxed);
            total.fetch_add(tokens, Ordering::Relaxed);
        }
        let dim = self.dim();
        if normalize {
            for out in data.chunks_exact_mut(dim) {
                let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                out.iter_mut().for_each(|v| *v /= norm);
            }
        }
        Ok(Embeddings {
            data,
            rows: texts.len(),
            dim,
            truncated,
        })
    }

    /// Embed queries, with the model's query prefix; through `cache` when given, as
    /// [`Encoder::encode_corpus`] does.
    pub fn encode_queries(
        &self,
        texts: &[&str],
        options: &EncodeOptions,
        cache: Option<&EmbeddingCache>,
        cancel: &Cancel,
    ) -> Result<Embeddings> {
        let mut o = options.clone();
        o.prefix.get_or_insert_with(|| self.query_prefix.clone());
        o.role = Role::Query;
        match cache {
            Some(cache) => self.encode_cached(texts, &o, cache, cancel),
            None => self.encode(texts, &o, cancel),
        }
    }

    /// Embed the documents of a corpus table (`doc_id`, `text`, optional `title`; title and
    /// text joined by a space as in BEIR), in corpus order, with the model's document prefix.
    /// With a cache, vectors already there are read and new ones are written as each group of
    /// batches finishes, so an interrupted run keeps what it computed.
    pub fn encode_corpus(
        &self,
        corpus: &DataFrame,
        options: &EncodeOptions,
        cache: Option<&EmbeddingCache>,
        cancel: &Cancel,
    ) -> Result<Embeddings> {
        let texts = corpus_texts(corpus)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut o = options.clone();
        o.prefix.get_or_insert_with(|| self.document_prefix.clone());
        o.role = Role::Document;
        match cache {
            Some(cache) => self.encode_cached(&refs, &o, cache, cancel),
            None => self.encode(&refs, &o, cancel),
        }
    }

    /// Embed `refs` like [`Encoder::encode`], reading the vectors `cache` holds and writing
    /// new ones as each group of batches finishes.
    pub fn encode_cached(
        &self,
        refs: &[&str],
        o: &EncodeOptions,
        cache: &EmbeddingCache,
        cancel: &Cancel,
    ) -> Result<Embeddings> {
        let normalize = o.normalize.unwrap_or(self.normalize);
        let prefix = o.prefix.clone().unwrap_or_default();
        let ns = self.namespace(&prefix, normalize, o.role)?;
        let dim = self.dim();
        let keys: Vec<cache::TextKey> = refs.iter().map(|t| cache::text_key(t)).collect();
        let mut data = vec![0.0f32; refs.len() * dim];
        let mut found = vec![false; refs.len()];
        cache.lookup(&ns, dim, &keys, &mut data, &mut found)?;
        let missing: Vec<usize> = (0..refs.len()).filter(|&i| !found[i]).collect();
        let mut truncated = Vec::new();
        // Write to the cache every few batches.
        let group = (o.batch_size * 8).max(256);
        cancel.start("encode", missing.len() as u64);
        for chunk in missing.chunks(group) {
            let sub: Vec<&str> = chunk.iter().map(|&i| refs[i]).collect();
            let e = self.encode_batches(&sub, o, cancel)?;
            let chunk_keys: Vec<cache::TextKey> = chunk.iter().map(|&i| keys[i]).collect();
            cache.store(&ns, dim, &chunk_keys, &e.data)?;
            for (j, &i) in chunk.iter().enumerate() {
                data[i * dim..(i + 1) * dim].copy_from_slice(e.row(j));
            }
            truncated.extend(e.truncated.iter().map(|&j| chunk[j]));
        }
        truncated.sort_unstable();
        Ok(Embeddings {
            data,
            rows: refs.len(),
            dim,
            truncated,
        })
    }
}

impl Local {
    /// Pooled vectors of tokenized texts, in their order, not normalised; longest first in
    /// batches of `batch_size`, so similar lengths share a batch and the largest buffers
    /// come first. Progress advances per batch.
    fn encode(
        &self,
        tokens: &[(Vec<u32>, bool)],
        batch_size: usize,
        cancel: &Cancel,
    ) -> Result<Vec<f32>> {
        let dim = self.bert.hidden();
        let mut order: Vec<usize> = (0..tokens.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].0.len()));
        let mut data = vec![0.0f32; tokens.len() * dim];
        let threads = rayon::current_num_threads();
        for batch in order.chunks(batch_size) {
            cancel.check()?;
            let mut ids = Vec::new();
            let mut offsets = vec![0usize];
            for &i in batch {
                ids.extend_from_slice(&tokens[i].0);
                offsets.push(ids.len());
            }
            let hidden = self.bert.forward(&ids, None, &offsets, threads, cancel)?;
            for (s, &i) in batch.iter().enumerate() {
                let rows = &hidden[offsets[s] * dim..offsets[s + 1] * dim];
                pool(self.pooling, rows, dim, &mut data[i * dim..(i + 1) * dim]);
            }
            cancel.advance(batch.len() as u64);
        }
        Ok(data)
    }
}

/// The text of each query of a queries table (`query_id`, `text`).
pub fn query_texts(queries: &DataFrame) -> Result<Vec<String>> {
    let _ids = schema::str_column(queries, table::QUERIES, schema::QUERY_ID)?;
    let text = schema::str_column(queries, table::QUERIES, TEXT)?;
    Ok(schema::str_values(text).map(str::to_owned).collect())
}

/// The text of each document, title and text joined ([`crate::data::documents`]).
pub fn corpus_texts(corpus: &DataFrame) -> Result<Vec<String>> {
    let documents = crate::data::DocumentTexts::new(corpus)?;
    Ok((0..documents.len())
        .map(|i| documents.text(i).into_owned())
        .collect())
}

/// Pool token vectors `rows` (`[len, dim]`) into `out`.
fn pool(pooling: Pooling, rows: &[f32], dim: usize, out: &mut [f32]) {
    let len = rows.len() / dim;
    out.iter_mut().for_each(|v| *v = 0.0);
    if len == 0 {
        return;
    }
    match pooling {
        Pooling::Cls => out.copy_from_slice(&rows[..dim]),
        Pooling::Max => {
            out.copy_from_slice(&rows[..dim]);
            for r in rows.chunks_exact(dim).skip(1) {
                for (o, v) in out.iter_mut().zip(r) {
                    *o = o.max(*v);
                }
            }
        }
        Pooling::Mean | Pooling::MeanSqrtLen => {
            for r in rows.chunks_exact(dim) {
                for (o, v) in out.iter_mut().zip(r) {
                    *o += v;
                }
            }
            let div = if pooling == Pooling::Mean {
                len as f32
            } else {
                (len as f32).sqrt()
            };
            out.iter_mut().for_each(|v| *v /= div);
        }
    }
}
