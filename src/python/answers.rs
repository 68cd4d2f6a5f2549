//! `Prompt`, `Generation` and `generate`: prompts and the generation stage from Python.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::args::{Frame, Opt};
use super::detach::{detach_with_progress, progress};
use super::frame::PyDataFrame;
use super::llm::{sampling, CacheArg, PyLlm};
use crate::llm::generate::{GenerateOptions, TokenPrices};
use crate::llm::prompt::{ContextOptions, ContextOrder, Prompt};
use crate::pipeline::GenerateStage;

/// A prompt: a system text and a user text with ``{question}`` and ``{context}``
/// placeholders (``{{`` and ``}}`` for literal braces).
///
/// Args:
///     system: The system message; ``None`` sends none.
///     user: The user message.
///
/// Raises:
///     ConfigError: A placeholder other than ``{question}`` and ``{context}``.
#[pyclass(
    name = "Prompt",
    module = "ragplay._ragplay",
    frozen,
    eq,
    hash,
    from_py_object
)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyPrompt {
    pub inner: Prompt,
}

#[pymethods]
impl PyPrompt {
    #[new]
    #[pyo3(signature = (*, system = Some(crate::llm::prompt::DEFAULT_SYSTEM.to_owned()), user = crate::llm::prompt::DEFAULT_USER.to_owned()))]
    fn new(system: Option<String>, user: String) -> PyResult<Self> {
        Ok(Self {
            inner: Prompt::new(system, user)?,
        })
    }

    /// The system message (``None``: no system message).
    #[getter]
    fn system(&self) -> Option<String> {
        self.inner.system.clone()
    }

    /// The user message.
    #[getter]
    fn user(&self) -> String {
        self.inner.user.clone()
    }

    /// The chat messages for a question and its context text.
    fn messages(&self, py: Python<'_>, question: &str, context: &str) -> PyResult<Py<PyList>> {
        let list = PyList::empty(py);
        for m in self.inner.messages(question, context)? {
            let d = PyDict::new(py);
            d.set_item("role", m.role)?;
            d.set_item("content", m.content)?;
            list.append(d)?;
        }
        Ok(list.unbind())
    }

    fn __repr__(&self) -> String {
        format!(
            "Prompt(system={:?}, user={:?})",
            self.inner.system, self.inner.user
        )
    }
}

/// A generation stage for a ``Pipeline``: the model and everything that shapes its answers,
/// the same knobs as ``generate``.
///
/// Args:
///     llm: The model.
///     prompt: A ``Prompt``; the default asks for an answer citing the passages.
///     context_k: Passages per question.
///     context_order: ``"ranked"``, ``"reversed"`` or ``"ends"`` (best at both ends).
///     passage_tokens: Cut each passage to this many tokens of the model's tokenizer.
///     context_tokens: Add passages only while the context stays within this many tokens.
///     dedup: Leave out passages repeating an earlier passage's text.
///     max_tokens, temperature, top_p, top_k, repetition_penalty, seed, stop: Decoding, as
///         in ``LLM.complete``.
///     cache: A ``ResponseCache`` or a folder for one.
///     prices: US dollars per million tokens, ``{"prompt": ..., "completion": ...}``.
///
/// Raises:
///     ConfigError: An unknown placeholder, ``context_k = 0``, ``max_tokens < 1``.
#[pyclass(name = "Generation", module = "ragplay._ragplay", frozen)]
pub struct PyGeneration {
    pub(super) stage: GenerateStage,
}

#[pymethods]
impl PyGeneration {
    #[new]
    #[pyo3(signature = (llm, *, prompt = None, context_k = 5, context_order = None, passage_tokens = None, context_tokens = None, dedup = true, max_tokens = 256, temperature = 0.0, top_p = 1.0, top_k = 0, repetition_penalty = 1.0, seed = 42, stop = None, cache = None, prices = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        llm: &Bound<'_, PyLlm>,
        prompt: Option<PyPrompt>,
        context_k: usize,
        context_order: Option<Opt<ContextOrder>>,
        passage_tokens: Option<usize>,
        context_tokens: Option<usize>,
        dedup: bool,
        max_tokens: i64,
        temperature: f32,
        top_p: f32,
        top_k: usize,
        repetition_penalty: f32,
        seed: u64,
        stop: Option<Vec<String>>,
        cache: Option<CacheArg>,
        prices: Option<std::collections::HashMap<String, f64>>,
    ) -> PyResult<Self> {
        let mut options = GenerateOptions {
            prompt: prompt.map(|p| p.inner).unwrap_or_default(),
            context: ContextOptions {
                context_k,
                order: context_order.map_or(ContextOrder::Ranked, |o| o.0),
                passage_tokens,
                context_tokens,
                dedup,
            },
            sampling: sampling(
                max_tokens,
                temperature,
                top_p,
                top_k,
                repetition_penalty,
                seed,
                stop,
            )?,
            ..GenerateOptions::default()
        };
        if let Some(p) = prices {
            options.prices = token_prices(&p, options.prices)?;
        }
        options.validate()?;
        Ok(Self {
            stage: GenerateStage {
                llm: llm.get().llm(),
                options,
                cache: cache.map(|c| c.0),
            },
        })
    }

    /// The model's name.
    #[getter]
    fn llm(&self) -> String {
        self.stage.llm.name()
    }

    /// Passages per question.
    #[getter]
    fn context_k(&self) -> usize {
        self.stage.options.context.context_k
    }

    fn __repr__(&self) -> String {
        let o = &self.stage.options;
        format!(
            "Generation(llm={:?}, context_k={}, max_tokens={}, temperature={})",
            self.stage.llm.name(),
            o.context.context_k,
            o.sampling.max_tokens,
            o.sampling.temperature
        )
    }
}

/// Answer every query from the documents a run retrieved for it.
///
/// The best ``context_k`` documents of each query become numbered passages in the prompt's
/// ``{context}``; the model answers all queries at once, through ``cache`` when given.
///
/// Args:
///     run: The run (``query_id``, ``doc_id``, ``score``).
///     queries: The queries table (``query_id``, ``text``): one answer row per query.
///     corpus: The corpus table (``doc_id``, ``text``, optional ``title``).
///     llm: The model.
///     prompt, context_k, context_order, passage_tokens, context_tokens, dedup, max_tokens,
///         temperature, top_p, top_k, repetition_penalty, seed, stop, cache, prices: As for
///         ``Generation``.
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     A DataFrame, one row per query: ``query_id``, ``answer``, ``context_doc_ids`` (in
///     prompt order), ``prompt_tokens``, ``completion_tokens``, ``latency_ms``,
///     ``cost_usd``, ``finish_reason``, ``cached``, ``failure``, ``error`` and
///     ``passages_truncated``. A query without retrieved documents has
///     ``failure = "no_context"``.
///
/// Raises:
///     ConfigError: An unknown placeholder, ``context_k = 0``, ``max_tokens < 1``.
///     DataError: An empty run, a missing column, a run document not in the corpus.
#[pyfunction]
#[pyo3(signature = (run, queries, corpus, llm, *, prompt = None, context_k = 5, context_order = None, passage_tokens = None, context_tokens = None, dedup = true, max_tokens = 256, temperature = 0.0, top_p = 1.0, top_k = 0, repetition_penalty = 1.0, seed = 42, stop = None, cache = None, prices = None, show_progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn generate(
    py: Python<'_>,
    run: Frame,
    queries: Frame,
    corpus: Frame,
    llm: &Bound<'_, PyLlm>,
    prompt: Option<PyPrompt>,
    context_k: usize,
    context_order: Option<Opt<ContextOrder>>,
    passage_tokens: Option<usize>,
    context_tokens: Option<usize>,
    dedup: bool,
    max_tokens: i64,
    temperature: f32,
    top_p: f32,
    top_k: usize,
    repetition_penalty: f32,
    seed: u64,
    stop: Option<Vec<String>>,
    cache: Option<CacheArg>,
    prices: Option<std::collections::HashMap<String, f64>>,
    show_progress: Option<bool>,
) -> PyResult<PyDataFrame> {
    let GenerateStage {
        llm,
        options,
        cache,
    } = PyGeneration::new(
        llm,
        prompt,
        context_k,
        context_order,
        passage_tokens,
        context_tokens,
        dedup,
        max_tokens,
        temperature,
        top_p,
        top_k,
        repetition_penalty,
        seed,
        stop,
        cache,
        prices,
    )?
    .stage;
    let (run, queries, corpus) = (run.0, queries.0, corpus.0);
    let desc = progress(py, show_progress, "generate")?;
    let table = detach_with_progress(py, desc, move |cancel| {
        crate::llm::generate::generate(
            &run,
            &queries,
            &corpus,
            llm.as_ref(),
            &options,
            cache.as_deref(),
            cancel,
        )
    })?;
    Ok(PyDataFrame(table))
}

fn token_prices(
    given: &std::collections::HashMap<String, f64>,
    default: TokenPrices,
) -> crate::Result<TokenPrices> {
    let mut out = default;
    for (k, v) in given {
        if !(v.is_finite() && *v >= 0.0) {
            return Err(crate::Error::config(
                "prices",
                format!("{k}: {v} is not a price >= 0"),
            ));
        }
        match k.as_str() {
            "prompt" => out.prompt = *v,
            "completion" => out.completion = *v,
            other => {
                return Err(crate::Error::not_one_of(
                    "prices",
                    other,
                    &["prompt", "completion"],
                ))
            }
        }
    }
    Ok(out)
}
