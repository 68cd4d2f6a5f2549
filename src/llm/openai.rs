//! Models behind an OpenAI-compatible endpoint (`POST {base_url}/chat/completions`), which
//! vLLM, llama.cpp's server, Ollama, TGI, LM Studio, LiteLLM and OpenAI all speak.
//!
//! Requests run on `concurrency` worker threads over one connection pool, so the server
//! never sees more than that many at once. Each attempt has its own timeout; a rate limit
//! (429), a server error (5xx), a timeout, a dropped connection or an unreadable answer is
//! retried with exponential backoff and full jitter ("Exponential Backoff And Jitter", AWS
//! Architecture Blog, 2015), waiting at least what `Retry-After` asks. What still fails is a
//! [`Completion`] with its [`FailureKind`] and a message: a call never drops a row. The API
//! key is read from a named environment variable, sent only in the `Authorization` header,
//! and replaced by `***` wherever a message could quote it; no `Debug` output shows it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{ChatRequest, Completion, FailureKind, Llm, OnDone};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// A credential that never prints.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How to reach and call the endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// The API root, such as `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// The model name the server knows.
    pub model: String,
    /// The environment variable holding the API key (`None`: send no key).
    pub api_key_env: Option<String>,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Seconds one attempt may take.
    pub timeout_s: f64,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff, in seconds; it doubles with each retry, up to a minute.
    pub backoff_s: f64,
    /// `response_format` sent as is (a JSON schema where the server supports one).
    pub response_format: Option<Value>,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            model: String::new(),
            api_key_env: Some("OPENAI_API_KEY".into()),
            concurrency: 8,
            timeout_s: 60.0,
            max_retries: 5,
            backoff_s: 0.5,
            response_format: None,
        }
    }
}

/// A model behind an OpenAI-compatible endpoint.
#[derive(Debug)]
pub struct OpenAiLlm {
    config: OpenAiConfig,
    key: Option<Secret>,
    agent: ureq::Agent,
}

/// One attempt's outcome.
enum Attempt {
    Done(Completion),
    /// Worth another try, after at least this long.
    Retry(FailureKind, String, Option<Duration>),
    Fail(FailureKind, String),
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
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(Error::config(
                "base_url",
                format!("{:?} is not an http:// or https:// URL", config.base_url),
            ));
        }
        if config.concurrency == 0 {
            return Err(Error::config("concurrency", "must be at least 1"));
        }
        if !(config.timeout_s > 0.0 && config.timeout_s.is_finite()) {
            return Err(Error::config(
                "timeout_s",
                "must be a positive number of seconds",
            ));
        }
        let key = match &config.api_key_env {
            None => None,
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.is_empty() => Some(Secret(k)),
                _ => {
                    return Err(Error::config(
                        "api_key_env",
                        format!("the environment variable {var} is not set"),
                    ))
                }
            },
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs_f64(config.timeout_s)))
            .http_status_as_error(false)
            .max_idle_connections_per_host(config.concurrency.max(1))
            .build()
            .into();
        Ok(Self { config, key, agent })
    }

    /// The configuration (the key is not part of it).
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// `text` with the key replaced by `***`.
    fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(Secret(k)) if k.len() >= 4 => text.replace(k.as_str(), "***"),
            _ => text.to_owned(),
        }
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

    fn attempt(&self, body: &str) -> Attempt {
        let url = format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        );
        let mut req = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json");
        if let Some(Secret(k)) = &self.key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let mut resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => return self.transport(e),
        };
        let status = resp.status().as_u16();
        let wait = retry_after(resp.headers());
        let text = match resp.body_mut().read_to_string() {
            Ok(t) => t,
            Err(e) => return self.transport(e),
        };
        let excerpt = || self.redact(&text.chars().take(300).collect::<String>());
        match status {
            200..=299 => self.parse(&text),
            429 => Attempt::Retry(
                FailureKind::RateLimit,
                format!("HTTP 429: {}", excerpt()),
                wait,
            ),
            500..=599 => Attempt::Retry(
                FailureKind::Server,
                format!("HTTP {status}: {}", excerpt()),
                wait,
            ),
            401 | 403 => Attempt::Fail(FailureKind::Auth, format!("HTTP {status}: {}", excerpt())),
            _ => Attempt::Fail(
                FailureKind::Request,
                format!("HTTP {status}: {}", excerpt()),
            ),
        }
    }

    fn transport(&self, e: ureq::Error) -> Attempt {
        let message = self.redact(&e.to_string());
        match e {
            ureq::Error::Timeout(_) => Attempt::Retry(
                FailureKind::Timeout,
                format!("no answer within {} s", self.config.timeout_s),
                None,
            ),
            _ => Attempt::Retry(FailureKind::Connection, message, None),
        }
    }

    fn parse(&self, text: &str) -> Attempt {
        let bad = |why: &str| {
            Attempt::Retry(
                FailureKind::Unparseable,
                format!(
                    "{why}: {}",
                    self.redact(&text.chars().take(200).collect::<String>())
                ),
                None,
            )
        };
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return bad("the answer is not JSON");
        };
        let Some(choice) = v["choices"].get(0) else {
            return bad("the answer has no choices");
        };
        let Some(content) = choice["message"]["content"].as_str() else {
            return bad("the answer's first choice has no message content");
        };
        let finish = choice["finish_reason"].as_str().map(str::to_owned);
        if finish.as_deref() == Some("length") && self.config.response_format.is_some() {
            return Attempt::Fail(
                FailureKind::Truncated,
                "structured output cut off at max_tokens (finish_reason \"length\")".into(),
            );
        }
        let usage = |k: &str| v["usage"][k].as_u64().map(|n| n as usize);
        Attempt::Done(Completion {
            text: Some(content.to_owned()),
            prompt_tokens: usage("prompt_tokens"),
            completion_tokens: usage("completion_tokens"),
            finish_reason: finish,
            system_fingerprint: v["system_fingerprint"].as_str().map(str::to_owned),
            ..Completion::default()
        })
    }

    /// One request through every retry.
    fn one(&self, request: &ChatRequest, index: usize, cancel: &Cancel) -> Result<Completion> {
        let start = Instant::now();
        let body = self.body(request).to_string();
        let mut rng = SplitMix64::new(request.sampling.seed ^ (index as u64).wrapping_mul(0x9E37));
        let mut attempts = 0u32;
        let finish = |mut c: Completion, attempts: u32| {
            c.latency_ms = start.elapsed().as_secs_f64() * 1e3;
            c.attempts = attempts;
            c.seed = Some(request.sampling.seed);
            c
        };
        loop {
            cancel.check()?;
            attempts += 1;
            match self.attempt(&body) {
                Attempt::Done(c) => return Ok(finish(c, attempts)),
                Attempt::Fail(kind, msg) => {
                    return Ok(finish(Completion::failed(kind, msg, None), attempts))
                }
                Attempt::Retry(kind, msg, wait) => {
                    if attempts > self.config.max_retries {
                        let msg = format!("{msg} (after {attempts} attempts)");
                        return Ok(finish(Completion::failed(kind, msg, None), attempts));
                    }
                    let cap = (self.config.backoff_s * 2f64.powi(attempts as i32 - 1)).min(60.0);
                    let jitter = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    let mut delay = Duration::from_secs_f64(cap * jitter);
                    if let Some(w) = wait {
                        delay = delay.max(w.min(Duration::from_secs(300)));
                    }
                    sleep(delay, cancel)?;
                }
            }
        }
    }
}

/// Sleep in short slices, stopping when asked to.
fn sleep(total: Duration, cancel: &Cancel) -> Result<()> {
    let end = Instant::now() + total;
    while Instant::now() < end {
        cancel.check()?;
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    Ok(())
}

/// `Retry-After` in seconds (or `retry-after-ms`), when the server sends one.
fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1e3));
    }
    get("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
}

impl Llm for OpenAiLlm {
    fn name(&self) -> String {
        self.config.model.clone()
    }

    fn fingerprint(&self) -> String {
        format!(
            "openai:{}|{}|{}",
            self.config.base_url.trim_end_matches('/'),
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
        let next = AtomicUsize::new(0);
        let out: Mutex<Vec<Option<Completion>>> = Mutex::new(vec![None; requests.len()]);
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let workers = self.config.concurrency.min(requests.len()).max(1);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests.len() || cancel.is_cancelled() {
                        return;
                    }
                    match self
                        .one(&requests[i], i, cancel)
                        .and_then(|c| on_done(i, &c).map(|_| c))
                    {
                        Ok(c) => {
                            out.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(c);
                            cancel.advance(1);
                        }
                        Err(e) => {
                            failed
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                            return;
                        }
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        cancel.check()?;
        Ok(out
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .map(|c| c.unwrap_or_default())
            .collect())
    }
}
