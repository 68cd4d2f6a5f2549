//! Models behind an OpenAI-compatible endpoint (`POST {base_url}/chat/completions`), which
//! vLLM, llama.cpp's server, Ollama, TGI, LM Studio, LiteLLM and OpenAI all speak.
//!
//! The transport ([`crate::http`]) limits concurrency, times out and retries each attempt
//! and redacts the key; what still fails is a [`Completion`] with its [`FailureKind`] and a
//! message: a call never drops a row. Structured output cut off at `max_tokens` is a
//! `truncated` failure, not an answer.

use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Value};

use super::{ChatRequest, Completion, FailureKind, Llm, OnDone};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::http::{Endpoint, EndpointConfig, Problem};

/// How to reach and call the endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// Where and how requests go: URL, key, concurrency, timeouts and retries.
    pub endpoint: EndpointConfig,
    /// The model name the server knows.
    pub model: String,
    /// `response_format` sent as is (a JSON schema where the server supports one).
    pub response_format: Option<Value>,
}

/// A model behind an OpenAI-compatible endpoint.
#[derive(Debug)]
pub struct OpenAiLlm {
    config: OpenAiConfig,
    endpoint: Endpoint,
}

impl From<Problem> for FailureKind {
    fn from(p: Problem) -> Self {
        match p {
            Problem::RateLimit => FailureKind::RateLimit,
            Problem::Timeout => FailureKind::Timeout,
            Problem::Server => FailureKind::Server,
            Problem::Auth => FailureKind::Auth,
            Problem::Request => FailureKind::Request,
            Problem::Connection => FailureKind::Connection,
            Problem::Unparseable => FailureKind::Unparseable,
        }
    }
}

impl OpenAiLlm {
    /// A client for `config`; the key is read from its environment variable now.
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        if config.model.is_empty() {
            return Err(Error::config(
                "model",
                "name the model the server should run",
            ));
        }
        let endpoint = Endpoint::new(config.endpoint.clone())?;
        Ok(Self { config, endpoint })
    }

    /// The configuration (the key is not part of it).
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    fn body(&self, request: &ChatRequest) -> Value {
        let s = &request.sampling;
        let mut body = json!({
            "model": self.config.model,
            "messages": request.messages,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "seed": s.seed,
        });
        if !s.stop.is_empty() {
            body["stop"] = json!(s.stop);
        }
        // Extensions of vLLM, llama.cpp and TGI; sent only when asked for.
        if s.top_k > 0 {
            body["top_k"] = json!(s.top_k);
        }
        if s.repetition_penalty != 1.0 {
            body["repetition_penalty"] = json!(s.repetition_penalty);
        }
        if let Some(format) = &self.config.response_format {
            body["response_format"] = format.clone();
        }
        body
    }

    /// One request through every retry.
    fn one(&self, request: &ChatRequest, index: usize, cancel: &Cancel) -> Result<Completion> {
        let start = Instant::now();
        let body = self.body(request).to_string();
        let seed = request.sampling.seed;
        let (outcome, attempts) =
            self.endpoint
                .post("chat/completions", &body, seed, index, cancel, parse)?;
        let mut c = match outcome {
            Ok(c) => c,
            Err(f) => Completion::failed(f.problem.into(), f.message, None),
        };
        if c.finish_reason.as_deref() == Some("length") && self.config.response_format.is_some() {
            c = Completion::failed(
                FailureKind::Truncated,
                "structured output cut off at max_tokens (finish_reason \"length\")".into(),
                c.prompt_tokens,
            );
        }
        c.latency_ms = start.elapsed().as_secs_f64() * 1e3;
        c.attempts = attempts;
        c.seed = Some(seed);
        Ok(c)
    }
}

/// A chat completion from the server's JSON.
fn parse(text: &str) -> std::result::Result<Completion, String> {
    let v: Value = serde_json::from_str(text).map_err(|_| "the answer is not JSON".to_owned())?;
    let choice = v["choices"]
        .get(0)
        .ok_or_else(|| "the answer has no choices".to_owned())?;
    let content = choice["message"]["content"]
        .as_str()
        .ok_or_else(|| "the answer's first choice has no message content".to_owned())?;
    let usage = |k: &str| v["usage"][k].as_u64().map(|n| n as usize);
    Ok(Completion {
        text: Some(content.to_owned()),
        prompt_tokens: usage("prompt_tokens"),
        completion_tokens: usage("completion_tokens"),
        finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
        system_fingerprint: v["system_fingerprint"].as_str().map(str::to_owned),
        ..Completion::default()
    })
}

impl Llm for OpenAiLlm {
    fn name(&self) -> String {
        self.config.model.clone()
    }

    fn fingerprint(&self) -> String {
        format!(
            "openai:{}|{}|{}",
            self.endpoint.base_url(),
            self.config.model,
            self.config
                .response_format
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default()
        )
    }

    fn count_tokens(&self, _text: &str) -> Result<Option<usize>> {
        Ok(None)
    }

    fn truncate(&self, _text: &str, _max_tokens: usize) -> Result<Option<String>> {
        Ok(None)
    }

    fn complete_each(
        &self,
        requests: &[ChatRequest],
        cancel: &Cancel,
        on_done: &OnDone<'_>,
    ) -> Result<Vec<Completion>> {
        for r in requests {
            r.sampling.validate()?;
        }
        let out: Mutex<Vec<Option<Completion>>> = Mutex::new(vec![None; requests.len()]);
        self.endpoint.for_each(requests.len(), cancel, |i| {
            let c = self.one(&requests[i], i, cancel)?;
            on_done(i, &c)?;
            out.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(c);
            cancel.advance(1);
            Ok(())
        })?;
        Ok(out
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .map(|c| c.unwrap_or_default())
            .collect())
    }
}
