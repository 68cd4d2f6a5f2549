//! Sweep descriptions: what a sweep varies, as a value that round-trips through JSON and TOML.
//!
//! An [`Experiment`] names its retrievers once (`[retrievers.bm25]`, `[retrievers.minilm]`)
//! and lists the values of each axis of a grid: chunking, enrichment template, retriever
//! combination, fusion, MMR, re-ranking and candidate depth, then the generation axes (the
//! answering model, prompt and context size; [`super::generation`]). A point of the grid is a
//! [`Config`]; settings that cannot matter are normalised away (a template without chunking,
//! fusion with one retriever), so two points that run the same pipeline are one
//! configuration. A configuration's id is a hash of its canonical JSON together with the
//! specs of the retrievers and re-ranker it uses and `k`: the store recognises finished work
//! by it, and a changed retriever setting gets a new id.
//!
//! Modes ([`Mode`]): `grid` runs the Cartesian product; `one_at_a_time` runs the baseline
//! point (the first value of every axis) and each other value of one axis with the others at
//! the baseline; `staged` walks the axes in order, keeps the best value of each (by the first
//! metric's mean) and moves on (greedy coordinate search), so it chooses its configurations
//! from results as it goes ([`crate::lab::sweep`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

pub use super::chunking::ChunkSpec;
use super::generation;
pub use super::generation::{GenerateConfig, GenerationSpec, LlmSpec, PromptSpec};
use crate::error::{Error, Result};
use crate::options::option_enum;

option_enum! {
    /// How the configurations of a sweep are chosen.
    #[derive(Default, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Mode: "mode" {
        #[default]
        Grid => "grid",
        OneAtATime => "one_at_a_time",
        Staged => "staged",
    }
}

/// A setting that may be switched off: written `"none"` (or `null` in JSON).
#[derive(Debug, Clone, PartialEq)]
pub enum Switch<T> {
    Off,
    On(T),
}

impl<T> Switch<T> {
    pub fn as_option(&self) -> Option<&T> {
        match self {
            Switch::Off => None,
            Switch::On(t) => Some(t),
        }
    }
}

impl<T: Serialize> Serialize for Switch<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Switch::Off => s.serialize_str("none"),
            Switch::On(t) => t.serialize(s),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Switch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<T> {
            Null(()),
            Word(String),
            On(T),
        }
        match Raw::<T>::deserialize(d)? {
            Raw::Null(()) => Ok(Switch::Off),
            Raw::Word(w) if w == "none" => Ok(Switch::Off),
            // A word is a setting when the setting is text (a name, a variable).
            Raw::Word(w) => {
                let as_setting = serde::de::value::StringDeserializer::<D::Error>::new(w.clone());
                T::deserialize(as_setting).map(Switch::On).map_err(|_| {
                    serde::de::Error::custom(format!("expected \"none\" or a setting, got {w:?}"))
                })
            }
            Raw::On(t) => Ok(Switch::On(t)),
        }
    }
}

/// A named retriever of the experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RetrieverSpec {
    /// BM25 ([`crate::retrieve::Bm25`]); unset fields take the BM25 defaults.
    Bm25 {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variant: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        k1: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        b: Option<f64>,
        /// A Snowball language or `"none"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stemmer: Option<String>,
        /// A built-in stop-word list or `"none"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stopwords: Option<String>,
    },
    /// Dense retrieval with a sentence encoder ([`crate::retrieve::DenseIndex`]).
    Dense {
        /// A model folder, hub cache name or installed model package.
        model: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch_size: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_seq_length: Option<usize>,
        /// `f32`, `f16` or `int8`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        storage: Option<String>,
        /// An OpenAI-compatible endpoint that serves `model` (`/embeddings`), instead of a
        /// model run in-process.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<EndpointSpec>,
    },
}

/// Where a dense retriever's model is served ([`crate::embed::Encoder::remote`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    pub base_url: String,
    /// The environment variable holding the key, or `"none"` to send none.
    #[serde(default = "default_api_key_env")]
    pub api_key_env: Switch<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_input_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_input_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

fn default_api_key_env() -> Switch<String> {
    Switch::On("OPENAI_API_KEY".into())
}

/// A retriever combination: one name or several (fused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Combo {
    One(String),
    Many(Vec<String>),
}

impl Combo {
    pub fn names(&self) -> Vec<String> {
        match self {
            Combo::One(n) => vec![n.clone()],
            Combo::Many(v) => v.clone(),
        }
    }
}

/// A fusion setting ([`crate::fuse::FuseOptions`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FusionSpec {
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrf_k: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
}

impl FusionSpec {
    pub fn rrf() -> Self {
        Self {
            method: "rrf".into(),
            norm: None,
            rrf_k: None,
            weights: None,
        }
    }

    fn label(&self) -> String {
        let mut s = self.method.clone();
        if let Some(n) = &self.norm {
            s.push_str(&format!(" {n}"));
        }
        if let Some(k) = self.rrf_k {
            s.push_str(&format!(" k={k}"));
        }
        if let Some(w) = &self.weights {
            let w: Vec<String> = w.iter().map(f64::to_string).collect();
            s.push_str(&format!(" w={}", w.join("/")));
        }
        s
    }
}

/// A cross-encoder re-ranking setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerankSpec {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Tokens per pair (`max_length` before this release, still read).
    #[serde(default, alias = "max_length", skip_serializing_if = "Option::is_none")]
    pub max_seq_length: Option<usize>,
}

fn default_enrich() -> Vec<String> {
    vec!["none".into()]
}
fn default_chunking() -> Vec<ChunkSpec> {
    vec![ChunkSpec::none()]
}
fn default_fusion() -> Vec<FusionSpec> {
    vec![FusionSpec::rrf()]
}
fn default_off<T>() -> Vec<Switch<T>> {
    vec![Switch::Off]
}
fn default_depth() -> Vec<usize> {
    vec![crate::pipeline::DEFAULT_DEPTH]
}

/// The axes of the grid, each a list of values; the first value of each is the baseline's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// Retriever combinations by name; each named retriever alone when empty.
    #[serde(default)]
    pub retrievers: Vec<Combo>,
    /// Enrichment templates (`{title}`, `{section}`, `{text}`, …) or `"none"`.
    #[serde(default = "default_enrich")]
    pub enrich: Vec<String>,
    #[serde(default = "default_off")]
    pub mmr: Vec<Switch<f64>>,
    #[serde(default = "default_depth")]
    pub depth: Vec<usize>,
    #[serde(default = "default_chunking")]
    pub chunking: Vec<ChunkSpec>,
    #[serde(default = "default_fusion")]
    pub fusion: Vec<FusionSpec>,
    #[serde(default = "default_off")]
    pub rerank: Vec<Switch<RerankSpec>>,
    /// Language models by name (`[llms]`), or `"none"` to answer nothing.
    #[serde(
        default = "generation::default_llm_axis",
        skip_serializing_if = "generation::is_default_llm_axis"
    )]
    pub llm: Vec<Switch<String>>,
    /// Prompts by name (`[prompts]`, or the built-in `"default"`).
    #[serde(
        default = "generation::default_prompt_axis",
        skip_serializing_if = "generation::is_default_prompt_axis"
    )]
    pub prompt: Vec<String>,
    /// Documents in the context of an answer; the experiment's `context_k` when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_k: Vec<usize>,
}

/// Prices in US dollars per million tokens, for the cost estimate (edit them to your
/// provider's; the defaults are only placeholders of a plausible order of magnitude).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Embedding (corpus and queries).
    pub embed: f64,
    /// Re-ranking (query and document tokens of every pair).
    pub rerank: f64,
    /// A generator's input (the context at `context_k`).
    pub generate: f64,
    /// A generator's output (the answers of a sweep that generates).
    #[serde(default = "default_completion_price")]
    pub completion: f64,
}

fn default_completion_price() -> f64 {
    0.60
}

impl Default for Prices {
    fn default() -> Self {
        Self {
            embed: 0.02,
            rerank: 0.05,
            generate: 0.15,
            completion: default_completion_price(),
        }
    }
}

/// A BEIR folder to run the sweep on (`ragplay run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionSpec {
    pub path: String,
    #[serde(default = "default_split")]
    pub split: String,
}

fn default_split() -> String {
    "test".into()
}
fn default_metrics() -> Vec<String> {
    ["ndcg@10", "recall@100", "mrr@10"]
        .map(String::from)
        .to_vec()
}
fn default_k() -> usize {
    100
}
fn default_context_k() -> usize {
    5
}
fn default_seed() -> u64 {
    42
}
fn default_resamples() -> usize {
    10_000
}

/// A sweep: its retrievers, its grid and how it is run and measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    #[serde(default = "default_metrics")]
    pub metrics: Vec<String>,
    /// Documents per query in every configuration's run.
    #[serde(default = "default_k")]
    pub k: usize,
    #[serde(default)]
    pub mode: Mode,
    /// The configuration the others are tested against (an id or a label); the first value
    /// of every axis when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// No configuration starts after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_s: Option<f64>,
    /// The documents a generator would read per query (the context tokens).
    #[serde(default = "default_context_k")]
    pub context_k: usize,
    /// Seed of the bootstrap and the randomization test.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Resamples of the bootstrap and the randomization test.
    #[serde(default = "default_resamples")]
    pub n_resamples: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<CollectionSpec>,
    #[serde(default)]
    pub prices: Prices,
    pub retrievers: BTreeMap<String, RetrieverSpec>,
    /// Language models by name, for the grid's `llm` axis.
    #[serde(default, skip_serializing_if = "generation::no_entries")]
    pub llms: BTreeMap<String, LlmSpec>,
    /// Prompts by name, for the grid's `prompt` axis.
    #[serde(default, skip_serializing_if = "generation::no_entries")]
    pub prompts: BTreeMap<String, PromptSpec>,
    /// The sampling and context settings every answer shares.
    #[serde(default, skip_serializing_if = "GenerationSpec::is_default")]
    pub generation: GenerationSpec,
    pub grid: Grid,
}

/// One point of the grid, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub retrievers: Vec<String>,
    pub chunking: ChunkSpec,
    /// The template, `None` without one (and always without chunking).
    pub enrich: Option<String>,
    /// `None` with a single retriever.
    pub fusion: Option<FusionSpec>,
    pub mmr: Option<f64>,
    pub rerank: Option<RerankSpec>,
    pub depth: usize,
    /// The answering model, prompt and context size; absent without a model (so the ids of
    /// retrieval configurations do not depend on generation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<GenerateConfig>,
}

impl Config {
    /// A one-line description: `bm25+minilm · recursive/1000 · title · rrf · mmr 0.7 · d100`.
    pub fn label(&self) -> String {
        let mut parts = vec![self.retrievers.join("+"), self.chunking.label()];
        if let Some(t) = &self.enrich {
            parts.push(template_label(t));
        }
        if let Some(f) = &self.fusion {
            parts.push(f.label());
        }
        if let Some(l) = self.mmr {
            parts.push(format!("mmr {l}"));
        }
        if let Some(r) = &self.rerank {
            let name = r.model.rsplit(['/', '\\']).next().unwrap_or(&r.model);
            parts.push(format!("rerank {name}"));
        }
        parts.push(format!("d{}", self.depth));
        if let Some(g) = &self.generate {
            parts.push(g.label());
        }
        parts.join(" · ")
    }
}

/// `{title}\n\n{text}` reads `title`; other templates show their placeholders.
fn template_label(t: &str) -> String {
    let names: Vec<&str> = t
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(n, _)| n))
        .filter(|n| !n.is_empty() && *n != "text")
        .collect();
    if names.is_empty() {
        "text".into()
    } else {
        names.join("+")
    }
}

/// The number of axes of a grid.
pub const N_AXES: usize = 10;

/// The index of each axis' value at one point: chunking, enrich, retrievers, fusion, mmr,
/// rerank, depth, llm, prompt, context_k (the order of [`AXES`]).
pub type Point = [usize; N_AXES];

/// The axes in the order a staged sweep walks them: retrieval first, then generation.
pub const AXES: [&str; N_AXES] = [
    "chunking",
    "enrich",
    "retrievers",
    "fusion",
    "mmr",
    "rerank",
    "depth",
    "llm",
    "prompt",
    "context_k",
];

impl Experiment {
    /// Parse a description from TOML.
    pub fn from_toml(text: &str) -> Result<Self> {
        let e: Self =
            toml::from_str(text).map_err(|e| Error::config("experiment", e.to_string()))?;
        e.validate()?;
        Ok(e)
    }

    /// Parse a description from JSON.
    pub fn from_json(text: &str) -> Result<Self> {
        let e: Self =
            serde_json::from_str(text).map_err(|e| Error::config("experiment", e.to_string()))?;
        e.validate()?;
        Ok(e)
    }

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::config("experiment", e.to_string()))
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The retriever combinations: the grid's, or each named retriever alone.
    pub fn combos(&self) -> Vec<Vec<String>> {
        if self.grid.retrievers.is_empty() {
            self.retrievers.keys().map(|k| vec![k.clone()]).collect()
        } else {
            self.grid.retrievers.iter().map(Combo::names).collect()
        }
    }

    /// Values per axis, in the order of [`AXES`].
    pub fn axis_lengths(&self) -> Point {
        let g = &self.grid;
        [
            g.chunking.len(),
            g.enrich.len(),
            self.combos().len(),
            g.fusion.len(),
            g.mmr.len(),
            g.rerank.len(),
            g.depth.len(),
            g.llm.len(),
            g.prompt.len(),
            g.context_k.len().max(1),
        ]
    }

    /// Check names, values and axes.
    pub fn validate(&self) -> Result<()> {
        if self.retrievers.is_empty() {
            return Err(Error::config("retrievers", "name at least one retriever"));
        }
        if self.metrics.is_empty() {
            return Err(Error::config("metrics", "give at least one metric"));
        }
        crate::eval::metrics::Metric::parse_all(&self.metrics)?;
        crate::run::check_k(self.k)?;
        if self.context_k == 0 {
            return Err(Error::config("context_k", "must be at least 1"));
        }
        if self.n_resamples == 0 {
            return Err(Error::config("n_resamples", "must be at least 1"));
        }
        if self.budget_s.is_some_and(|b| b.is_nan() || b < 0.0) {
            return Err(Error::config(
                "budget_s",
                "must be a number of seconds >= 0",
            ));
        }
        for (axis, n) in AXES.iter().zip(self.axis_lengths()) {
            if n == 0 {
                return Err(Error::config(
                    "grid",
                    format!("the {axis} axis has no value"),
                ));
            }
        }
        for combo in self.combos() {
            if combo.is_empty() {
                return Err(Error::config("grid", "an empty retriever combination"));
            }
            for name in &combo {
                if !self.retrievers.contains_key(name) {
                    return Err(Error::config(
                        "grid",
                        format!(
                            "retriever {name:?} is not defined (defined: {})",
                            self.retrievers
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        if let Some(d) = self.grid.depth.iter().find(|&&d| d < self.k) {
            return Err(Error::config(
                "grid",
                format!(
                    "depth {d} is below k = {}: a pipeline keeps depth candidates",
                    self.k
                ),
            ));
        }
        for m in self.grid.mmr.iter().filter_map(Switch::as_option) {
            if !(0.0..=1.0).contains(m) {
                return Err(Error::config(
                    "grid",
                    format!("mmr lambda must lie in [0, 1], got {m}"),
                ));
            }
            if self.dense_names().is_empty() {
                return Err(Error::config(
                    "grid",
                    "mmr compares document vectors: define a dense retriever",
                ));
            }
        }
        let dense = self.dense_names();
        let served: Vec<String> = self
            .retrievers
            .iter()
            .filter(|(_, s)| {
                matches!(
                    s,
                    RetrieverSpec::Dense {
                        endpoint: Some(_),
                        ..
                    }
                )
            })
            .map(|(n, _)| n.clone())
            .collect();
        for c in &self.grid.chunking {
            c.check(&dense, &served)?;
        }
        self.validate_generation()
    }

    /// The names of the dense retrievers, in name order.
    pub fn dense_names(&self) -> Vec<String> {
        self.retrievers
            .iter()
            .filter(|(_, s)| matches!(s, RetrieverSpec::Dense { .. }))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The configuration at `point`, normalised.
    pub fn config_at(&self, point: &Point) -> Config {
        let g = &self.grid;
        let retrievers = self.combos()[point[2]].clone();
        let chunking = g.chunking[point[0]].clone();
        let enrich =
            Some(g.enrich[point[1]].clone()).filter(|t| t != "none" && !chunking.is_none());
        let fusion = (retrievers.len() > 1).then(|| g.fusion[point[3]].clone());
        Config {
            retrievers,
            chunking,
            enrich,
            fusion,
            mmr: g.mmr[point[4]].as_option().copied(),
            rerank: g.rerank[point[5]].as_option().cloned(),
            depth: g.depth[point[6]],
            generate: self.generate_at(point[7], point[8], point[9]),
        }
    }

    /// The points a `grid` or `one_at_a_time` sweep runs, in order (a `staged` sweep starts
    /// from the baseline point and chooses the rest as it goes).
    pub fn points(&self) -> Vec<Point> {
        let lens = self.axis_lengths();
        match self.mode {
            Mode::Grid => {
                let mut out = vec![[0usize; N_AXES]];
                for (axis, &n) in lens.iter().enumerate() {
                    out = out
                        .into_iter()
                        .flat_map(|p| {
                            (0..n).map(move |v| {
                                let mut q = p;
                                q[axis] = v;
                                q
                            })
                        })
                        .collect();
                }
                out
            }
            Mode::OneAtATime | Mode::Staged => {
                let mut out = vec![[0usize; N_AXES]];
                if self.mode == Mode::OneAtATime {
                    for (axis, &n) in lens.iter().enumerate() {
                        for v in 1..n {
                            let mut q = [0usize; N_AXES];
                            q[axis] = v;
                            out.push(q);
                        }
                    }
                }
                out
            }
        }
    }

    /// The id of a configuration: 12 hex digits of the SHA-256 of its canonical JSON, the
    /// specs of the retrievers it uses and `k`.
    pub fn config_id(&self, config: &Config) -> String {
        let used: BTreeMap<&String, &RetrieverSpec> = self
            .retrievers
            .iter()
            .filter(|(n, _)| {
                config.retrievers.contains(n)
                    || config.chunking.tokenizer.as_ref() == Some(*n)
                    || config.chunking.encoder.as_ref() == Some(*n)
                    || (config.mmr.is_some() && self.mmr_retriever(config).as_ref() == Some(*n))
            })
            .collect();
        let mut canonical = serde_json::json!({
            "config": config,
            "retrievers": used,
            "k": self.k,
        });
        if let (Some(g), Some(map)) = (&config.generate, canonical.as_object_mut()) {
            map.insert("generate".into(), self.generation_identity(g));
        }
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    /// The dense retriever whose whole-document vectors MMR compares: the configuration's
    /// first dense retriever, else the experiment's first.
    pub fn mmr_retriever(&self, config: &Config) -> Option<String> {
        let dense = self.dense_names();
        config
            .retrievers
            .iter()
            .find(|n| dense.contains(n))
            .or_else(|| dense.first())
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
metrics = ["ndcg@10", "mrr@10"]
k = 10
mode = "one_at_a_time"

[retrievers.bm25]
kind = "bm25"
k1 = 1.2

[retrievers.minilm]
kind = "dense"
model = "all-MiniLM-L6-v2"

[grid]
retrievers = ["bm25", "minilm", ["bm25", "minilm"]]
enrich = ["none", "{title}\n\n{text}"]
mmr = ["none", 0.7]
depth = [100]
chunking = [{ strategy = "none" }, { strategy = "recursive", size = 1000 }]
fusion = [{ method = "rrf" }, { method = "combsum", norm = "z-score" }]
"#;

    #[test]
    fn toml_round_trips_and_normalises() {
        let e = Experiment::from_toml(TOML).unwrap();
        let again = Experiment::from_toml(&e.to_toml().unwrap()).unwrap();
        assert_eq!(e, again);
        let json = Experiment::from_json(&e.to_json().to_string()).unwrap();
        assert_eq!(e, json);
        assert_eq!(e.grid.mmr, vec![Switch::Off, Switch::On(0.7)]);
        assert_eq!(e.grid.rerank, vec![Switch::Off]);
        // Baseline plus one per other value: chunking 1, enrich 1, retrievers 2, fusion 1, mmr 1.
        assert_eq!(e.points().len(), 7);
        let base = e.config_at(&[0; N_AXES]);
        assert_eq!(base.label(), "bm25 · documents · d100");
        // A template without chunking and fusion with one retriever normalise away.
        assert_eq!(
            e.config_id(&base),
            e.config_id(&e.config_at(&[0, 1, 0, 1, 0, 0, 0, 0, 0, 0]))
        );
        let hybrid = e.config_at(&[1, 1, 2, 1, 1, 0, 0, 0, 0, 0]);
        assert_eq!(
            hybrid.label(),
            "bm25+minilm · recursive/1000 · title · combsum z-score · mmr 0.7 · d100"
        );
    }

    #[test]
    fn grid_is_the_product_and_ids_follow_specs() {
        let mut e = Experiment::from_toml(TOML).unwrap();
        e.mode = Mode::Grid;
        assert_eq!(e.points().len(), 2 * 2 * 3 * 2 * 2);
        let base = e.config_at(&[0; N_AXES]);
        let id = e.config_id(&base);
        assert_eq!(id.len(), 12);
        // Changing a retriever the configuration does not use keeps its id.
        if let Some(RetrieverSpec::Dense { batch_size, .. }) = e.retrievers.get_mut("minilm") {
            *batch_size = Some(8);
        }
        assert_eq!(e.config_id(&base), id);
        if let Some(RetrieverSpec::Bm25 { k1, .. }) = e.retrievers.get_mut("bm25") {
            *k1 = Some(0.9);
        }
        assert_ne!(e.config_id(&base), id);
    }

    #[test]
    fn bad_descriptions_name_the_problem() {
        let bad = |edit: &str, needle: &str| {
            let text = format!("{TOML}\n{edit}");
            let err = Experiment::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        };
        bad("[retrievers.x]\nkind = \"sparse\"", "sparse");
        let e = Experiment::from_toml(&TOML.replace("[\"bm25\", \"minilm\"]]", "\"colbert\"]"));
        assert!(e.unwrap_err().to_string().contains("colbert"));
        let e = Experiment::from_toml(&TOML.replace("0.7]", "1.5]"));
        assert!(e.unwrap_err().to_string().contains("1.5"));
        let e = Experiment::from_toml(&TOML.replace("depth = [100]", "depth = [5]"));
        assert!(e.unwrap_err().to_string().contains("depth 5"));
        let e = Experiment::from_toml(&TOML.replace("\"none\", 0.7", "\"off\", 0.7"));
        assert!(e.is_err());
        bad("colour = 1", "colour");
        let served = TOML.replace(
            "{ strategy = \"recursive\", size = 1000 }",
            "{ strategy = \"recursive\", size = 100, unit = \"tokens\", tokenizer = \"api\" }",
        ) + "[retrievers.api]\nkind = \"dense\"\nmodel = \"m\"\nendpoint = { base_url = \"http://127.0.0.1:9/v1\" }\n";
        let err = Experiment::from_toml(&served).unwrap_err().to_string();
        assert!(err.contains("served by an endpoint"), "{err}");
    }
}
