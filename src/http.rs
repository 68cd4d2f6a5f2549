//! One OpenAI-compatible endpoint over HTTP: JSON requests with a concurrency limit,
//! per-attempt timeouts and retries, shared by chat models ([`crate::llm::openai`]) and
//! embedding models ([`crate::embed::remote`]).
//!
//! Requests run on `concurrency` worker threads over one connection pool, so the server
//! never sees more than that many at once. Each attempt has its own timeout; a rate limit
//! (429), a server error (5xx), a timeout, a dropped connection or an unreadable answer is
//! retried with exponential backoff and full jitter ("Exponential Backoff And Jitter", AWS
//! Architecture Blog, 2015), waiting at least what `Retry-After` asks. What still fails is a
//! [`Failure`] with its [`Problem`] and a message. The API key is read from a named
//! environment variable, sent only in the `Authorization` header, and replaced by `***`
//! wherever a message could quote it; no `Debug` output shows it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::options::option_enum;
use crate::rng::SplitMix64;

/// A credential that never prints.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How to reach and call an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    /// The API root, such as `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    pub base_url: String,
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
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            api_key_env: Some("OPENAI_API_KEY".into()),
            concurrency: 8,
            timeout_s: 60.0,
            max_retries: 5,
            backoff_s: 0.5,
        }
    }
}

option_enum! {
    /// Why a request failed.
    pub enum Problem: "problem" {
        /// 429 after every retry.
        RateLimit => "rate_limit",
        /// No answer within the per-attempt timeout, after every retry.
        Timeout => "timeout",
        /// 5xx after every retry.
        Server => "server",
        /// 401 or 403.
        Auth => "auth",
        /// Another 4xx.
        Request => "request",
        /// The server could not be reached.
        Connection => "connection",
        /// The answer could not be read.
        Unparseable => "unparseable",
    }
}

/// A request that failed for good.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub problem: Problem,
    /// What happened, with the key redacted.
    pub message: String,
}

/// One attempt's outcome.
enum Attempt<T> {
    Done(T),
    /// Worth another try, after at least this long.
    Retry(Problem, String, Option<Duration>),
    Fail(Problem, String),
}

/// A client of one endpoint.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    key: Option<Secret>,
    agent: ureq::Agent,
}

impl Endpoint {
    /// A client for `config`; the key is read from its environment variable now.
    pub fn new(config: EndpointConfig) -> Result<Self> {
        let url = &config.base_url;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::config(
                "base_url",
                format!("{url:?} is not an http:// or https:// URL"),
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
        if !(config.backoff_s >= 0.0 && config.backoff_s.is_finite()) {
            return Err(Error::config("backoff_s", "must be 0 or more seconds"));
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
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.config.base_url.trim_end_matches('/')
    }

    /// `text` with the key replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(Secret(k)) if k.len() >= 4 => text.replace(k.as_str(), "***"),
            _ => text.to_owned(),
        }
    }

    /// POST `body` (JSON) to `{base_url}/{path}` through every retry; `parse` reads a 2xx
    /// answer (an `Err` is an unreadable answer, retried). `seed` and `index` seed the jitter.
    /// Returns the outcome and the number of attempts; only Ctrl-C is an `Err`.
    pub fn post<T>(
        &self,
        path: &str,
        body: &str,
        seed: u64,
        index: usize,
        cancel: &Cancel,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<(std::result::Result<T, Failure>, u32)> {
        let url = format!("{}/{path}", self.base_url());
        let mut rng = SplitMix64::new(seed ^ (index as u64).wrapping_mul(0x9E37));
        let mut attempts = 0u32;
        loop {
            cancel.check()?;
            attempts += 1;
            let (problem, message, wait) = match self.attempt(&url, body, &parse) {
                Attempt::Done(t) => return Ok((Ok(t), attempts)),
                Attempt::Fail(problem, message) => {
                    return Ok((Err(Failure { problem, message }), attempts))
                }
                Attempt::Retry(problem, message, wait) => (problem, message, wait),
            };
            if attempts > self.config.max_retries {
                let message = format!("{message} (after {attempts} attempts)");
                return Ok((Err(Failure { problem, message }), attempts));
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

    fn attempt<T>(
        &self,
        url: &str,
        body: &str,
        parse: &impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Attempt<T> {
        let mut req = self
            .agent
            .post(url)
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
        // Redact before cutting: a key cut in two would no longer match.
        let excerpt = |n: usize| self.redact(&text).chars().take(n).collect::<String>();
        let said = || format!("HTTP {status}: {}", excerpt(300));
        match status {
            200..=299 => match parse(&text) {
                Ok(t) => Attempt::Done(t),
                Err(why) => Attempt::Retry(
                    Problem::Unparseable,
                    format!("{why}: {}", excerpt(200)),
                    None,
                ),
            },
            429 => Attempt::Retry(Problem::RateLimit, said(), wait),
            500..=599 => Attempt::Retry(Problem::Server, said(), wait),
            401 | 403 => Attempt::Fail(Problem::Auth, said()),
            _ => Attempt::Fail(Problem::Request, said()),
        }
    }

    fn transport<T>(&self, e: ureq::Error) -> Attempt<T> {
        match e {
            ureq::Error::Timeout(_) => Attempt::Retry(
                Problem::Timeout,
                format!("no answer within {} s", self.config.timeout_s),
                None,
            ),
            e => Attempt::Retry(Problem::Connection, self.redact(&e.to_string()), None),
        }
    }

    /// Run `work(i)` for `i` in `0..n` on at most `concurrency` threads, in order of `i`;
    /// stops at the first error (Ctrl-C included) and returns it.
    pub fn for_each(
        &self,
        n: usize,
        cancel: &Cancel,
        work: impl Fn(usize) -> Result<()> + Sync,
    ) -> Result<()> {
        let next = AtomicUsize::new(0);
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let workers = self.config.concurrency.min(n).max(1);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || cancel.is_cancelled() {
                        return;
                    }
                    if let Err(e) = work(i) {
                        let mut slot = failed.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                        // The others stop at their next item.
                        next.store(n, Ordering::Relaxed);
                        return;
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        cancel.check()
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

/// `Retry-After` in seconds (or `retry-after-ms`), when the server sends one, capped at five
/// minutes (a value that is not a finite number is ignored).
fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let get = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite())
    };
    let seconds = match get("retry-after-ms") {
        Some(ms) => ms / 1e3,
        None => get("retry-after")?,
    };
    Some(Duration::from_secs_f64(seconds.clamp(0.0, 300.0)))
}

#[cfg(test)]
mod tests {
    use super::retry_after;
    use std::time::Duration;

    fn headers(pairs: &[(&'static str, &'static str)]) -> ureq::http::HeaderMap {
        let mut h = ureq::http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_is_read_capped_and_never_panics() {
        let secs = |p: &[(&'static str, &'static str)]| retry_after(&headers(p));
        assert_eq!(secs(&[("retry-after", "2")]), Some(Duration::from_secs(2)));
        assert_eq!(
            secs(&[("retry-after-ms", "250")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            secs(&[("retry-after", "1e30")]),
            Some(Duration::from_secs(300))
        );
        assert_eq!(secs(&[("retry-after", "-4")]), Some(Duration::ZERO));
        for bad in ["inf", "NaN", "infinity", "soon"] {
            assert_eq!(secs(&[("retry-after", bad)]), None, "{bad}");
        }
        assert_eq!(secs(&[]), None);
    }
}
