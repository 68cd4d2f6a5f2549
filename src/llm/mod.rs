//! Language models: one [`Llm`] contract, two backends.
//!
//! - [`local::LocalLlm`] runs a GGUF model in-process through candle-transformers;
//! - an OpenAI-compatible HTTP endpoint (planned next to it) speaks `/v1/chat/completions`.
//!
//! A call takes many [`ChatRequest`]s and returns one [`Completion`] per request, in order.
//! A request that fails for a reason of its own (its prompt does not fit, the server gave
//! up on it) is a completion with a [`FailureKind`] and a message, never a missing row;
//! only an interruption or a broken backend fails the whole call. [`cache::ResponseCache`]
//! keeps completions on disk, keyed by everything that can change them.

pub mod cache;
pub mod generate;
pub mod gguf;
pub mod local;
pub mod openai;
pub mod prompt;
pub mod sample;
pub mod template;
pub mod tokenizer;

use serde::{Deserialize, Serialize};

pub use local::LocalLlm;
pub use sample::Sampling;
pub use template::Message;

use crate::cancel::Cancel;
use crate::error::Result;
use crate::options::option_enum;

option_enum! {
    /// Why a request produced no usable completion.
    pub enum FailureKind: "failure" {
        /// The prompt does not fit the model's context.
        Context => "context",
        /// The server kept answering 429 after every retry.
        RateLimit => "rate_limit",
        /// No answer within the per-attempt timeout, after every retry.
        Timeout => "timeout",
        /// The server kept failing (5xx) after every retry.
        Server => "server",
        /// The server refused the credentials (401, 403).
        Auth => "auth",
        /// The server rejected the request (another 4xx).
        Request => "request",
        /// The server could not be reached.
        Connection => "connection",
        /// The answer could not be read (not JSON, no choices).
        Unparseable => "unparseable",
        /// The query has no retrieved documents to answer from.
        NoContext => "no_context",
        /// Structured output cut off at `max_tokens` (`finish_reason = "length"`).
        Truncated => "truncated",
    }
}

/// One chat completion to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub sampling: Sampling,
}

/// What a model made of one request: an answer, or the reason there is none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The answer's text; `None` when the request failed.
    pub text: Option<String>,
    pub prompt_tokens: Option<usize>,
    pub completion_tokens: Option<usize>,
    /// `"stop"` or `"length"` (or what the server said).
    pub finish_reason: Option<String>,
    /// Wall time of the request, retries included.
    pub latency_ms: f64,
    /// Why there is no answer.
    #[serde(with = "failure_name")]
    pub failure: Option<FailureKind>,
    /// The failure's message (never containing a credential).
    pub error: Option<String>,
    /// Served from the response cache.
    #[serde(skip)]
    pub cached: bool,
    pub seed: Option<u64>,
    /// The server's `system_fingerprint`, when it gives one.
    pub system_fingerprint: Option<String>,
    /// Attempts made (1 without retries).
    pub attempts: u32,
}

impl Completion {
    /// A failed request.
    pub fn failed(kind: FailureKind, message: String, prompt_tokens: Option<usize>) -> Self {
        Self {
            failure: Some(kind),
            error: Some(message),
            prompt_tokens,
            attempts: 1,
            ..Self::default()
        }
    }
}

/// A language model.
pub trait Llm: Send + Sync {
    /// A short name for tables and charts.
    fn name(&self) -> String;
    /// Everything about the backend that can change an answer (weights' hash, or endpoint
    /// and model), for cache keys and configuration ids.
    fn fingerprint(&self) -> String;
    /// The number of tokens of `text` in the model's own tokenizer, when it is known here.
    fn count_tokens(&self, text: &str) -> Result<Option<usize>>;
    /// `text` cut to at most `max_tokens` tokens of the model's tokenizer, when it is known
    /// here.
    fn truncate(&self, text: &str, max_tokens: usize) -> Result<Option<String>>;
    /// One completion per request, in order, handing each to `on_done` (with its index)
    /// as soon as it is finished, so that an interrupted call keeps what it finished. Counts
    /// finished requests on `cancel`.
    fn complete_each(
        &self,
        requests: &[ChatRequest],
        cancel: &Cancel,
        on_done: &OnDone<'_>,
    ) -> Result<Vec<Completion>>;

    /// One completion per request, in order.
    fn complete(&self, requests: &[ChatRequest], cancel: &Cancel) -> Result<Vec<Completion>> {
        self.complete_each(requests, cancel, &|_, _| Ok(()))
    }
}

/// What [`Llm::complete_each`] calls with each finished completion and its request's index.
pub type OnDone<'a> = dyn Fn(usize, &Completion) -> Result<()> + Sync + 'a;

/// A failure kind in files by its name.
mod failure_name {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::FailureKind;

    pub fn serialize<S: Serializer>(k: &Option<FailureKind>, s: S) -> Result<S::Ok, S::Error> {
        k.map(FailureKind::name).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FailureKind>, D::Error> {
        let name: Option<String> = Option::deserialize(d)?;
        name.map(|n| n.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}
