//! A sweep's chunking axis: one chunker setting ([`ChunkSpec`]) as a sweep description
//! writes it, its label, the [`ChunkOptions`] it stands for, and the checks a sweep runs
//! before it starts, so that a bad setting fails at once instead of when its index is built.
//! Settings a strategy does not read (`encoder` and `percentile` without `semantic`, a
//! `tokenizer` without token units) are errors: they would change the configuration's id
//! and label without changing its chunks.

use serde::{Deserialize, Serialize};

use crate::chunk::ChunkOptions;
use crate::error::{Error, Result};

/// A chunker setting; `strategy = "none"` indexes whole documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkSpec {
    pub strategy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<usize>,
    /// `chars` or `tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// With `unit = "tokens"`: the dense retriever whose tokenizer counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    /// With `strategy = "semantic"`: the dense retriever whose encoder embeds sentences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
    /// With `strategy = "semantic"`: the breakpoint percentile (95 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<f64>,
    /// How chunk scores become document scores: `maxp`, `firstp`, `sump`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<String>,
}

impl ChunkSpec {
    /// Whole documents.
    pub fn none() -> Self {
        Self {
            strategy: "none".into(),
            size: None,
            overlap: None,
            unit: None,
            tokenizer: None,
            encoder: None,
            percentile: None,
            aggregate: None,
        }
    }

    pub fn is_none(&self) -> bool {
        self.strategy == "none"
    }

    /// The chunker options this setting stands for (defaults where it is silent).
    pub fn options(&self) -> Result<ChunkOptions> {
        let mut o = ChunkOptions {
            strategy: self.strategy.parse()?,
            ..ChunkOptions::default()
        };
        o.size = self.size.unwrap_or(o.size);
        o.overlap = self.overlap.unwrap_or(o.overlap);
        if let Some(u) = &self.unit {
            o.unit = u.parse()?;
        }
        o.percentile = self.percentile.unwrap_or(o.percentile);
        Ok(o)
    }

    /// Check the setting; `dense` names the dense retrievers (tokenizers and encoders).
    /// Check the setting against the experiment's dense retrievers (`served`: those whose
    /// model an endpoint serves, which have no tokenizer here).
    pub fn check(&self, dense: &[String], served: &[String]) -> Result<()> {
        let fail = |what: String| {
            Err(Error::config(
                "grid",
                format!("chunking {}: {what}", self.label()),
            ))
        };
        if self.is_none() {
            return Ok(());
        }
        for (what, name) in [("tokenizer", &self.tokenizer), ("encoder", &self.encoder)] {
            if let Some(t) = name.as_ref().filter(|t| !dense.contains(t)) {
                return fail(format!("{what} {t:?} is not a dense retriever's name"));
            }
        }
        if let Some(t) = self.tokenizer.as_ref().filter(|t| served.contains(t)) {
            return fail(format!(
                "tokenizer {t:?} is served by an endpoint, which counts no tokens here: name a \
                 local model's retriever"
            ));
        }
        let semantic = self.strategy == "semantic";
        if semantic && self.encoder.is_none() {
            return fail(
                "semantic chunking embeds sentences: name a dense retriever as its encoder".into(),
            );
        }
        if !semantic && (self.encoder.is_some() || self.percentile.is_some()) {
            return fail("encoder and percentile apply to the semantic strategy only".into());
        }
        let options = self.options()?;
        if self.tokenizer.is_some() && options.unit != crate::chunk::Unit::Tokens {
            return fail("a tokenizer counts tokens: set unit = \"tokens\"".into());
        }
        options.validate(self.tokenizer.is_some())
    }

    /// A short label: `none`, `recursive/1000`, `fixed/256tok+32`, `semantic/400 p90`.
    pub fn label(&self) -> String {
        if self.is_none() {
            return "documents".into();
        }
        let mut s = self.strategy.clone();
        if let Some(size) = self.size {
            s.push_str(&format!("/{size}"));
        }
        if self.unit.as_deref() == Some("tokens") {
            s.push_str("tok");
        }
        if let Some(o) = self.overlap.filter(|&o| o > 0) {
            s.push_str(&format!("+{o}"));
        }
        if let Some(p) = self.percentile {
            s.push_str(&format!(" p{p}"));
        }
        if let Some(a) = self.aggregate.as_deref().filter(|&a| a != "maxp") {
            s.push_str(&format!(" {a}"));
        }
        s
    }
}
