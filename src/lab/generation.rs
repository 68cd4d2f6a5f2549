//! Generation in sweeps: the language models, prompts and generation settings an
//! [`Experiment`] names, the generation part of a [`Config`], and the answers a sweep makes.
//!
//! An experiment names its models once (`[llms.smol]`, `kind = "gguf"` or `"openai"`) and
//! its prompts (`[prompts.short]`, a system and a user text with `{question}` and
//! `{context}`; `"default"` is [`Prompt::default`]); `[generation]` holds the sampling and
//! context settings every answer shares. The grid's axes `llm` (`"none"` answers nothing),
//! `prompt` and `context_k` come after the retrieval axes, so a staged sweep settles
//! retrieval first. A configuration without a model is the retrieval configuration it was
//! before generation existed: same canonical JSON, same id.
//!
//! A configuration that answers reuses the run of the configuration with the same retrieval
//! settings (searched once, timed once) and answers the first `max_queries` queries from
//! its top `context_k` documents ([`crate::llm::generate::generate_rows`]). With a store,
//! answers go through a response cache in `STORE/responses`, keyed by everything that can
//! change them, so configurations whose prompts come out the same (a depth that does not
//! change the top documents, a resumed sweep) make no new model call.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::spec::{Config, Experiment, Mode, Switch};
use super::sweep::Lab;
use crate::cancel::Cancel;
use crate::data::schema;
use crate::error::{Error, Result};
use crate::http::EndpointConfig;
use crate::llm::generate::{columns, generate_rows, GenerateOptions, Passages, TokenPrices};
use crate::llm::openai::{OpenAiConfig, OpenAiLlm};
use crate::llm::prompt::{ContextOptions, ContextOrder, Prompt, DEFAULT_SYSTEM, DEFAULT_USER};
use crate::llm::{gguf, Llm, LocalLlm, Sampling};

/// The name of the built-in prompt ([`Prompt::default`]).
pub const DEFAULT_PROMPT: &str = "default";

/// A named language model of the experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LlmSpec {
    /// A GGUF model run in-process ([`LocalLlm`]): a file, a folder, a hub cache repo id or
    /// a packaged model, as [`gguf::resolve`] finds it.
    Gguf {
        model: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revision: Option<String>,
        /// The experiment's `prices.generate` and `prices.completion` when unset.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prices: Option<TokenPrices>,
    },
    /// A model behind an OpenAI-compatible endpoint ([`OpenAiLlm`]).
    Openai {
        model: String,
        base_url: String,
        /// The environment variable holding the key, or `"none"` to send none.
        #[serde(default = "default_api_key_env")]
        api_key_env: Switch<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        concurrency: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_s: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_retries: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prices: Option<TokenPrices>,
    },
}

fn default_api_key_env() -> Switch<String> {
    Switch::On("OPENAI_API_KEY".into())
}

impl LlmSpec {
    fn prices(&self) -> Option<TokenPrices> {
        match self {
            LlmSpec::Gguf { prices, .. } | LlmSpec::Openai { prices, .. } => *prices,
        }
    }

    /// Load the model (nothing is downloaded); `search` lists extra package folders.
    pub fn load(&self, search: &[PathBuf]) -> Result<Arc<dyn Llm>> {
        Ok(match self {
            LlmSpec::Gguf {
                model,
                file,
                revision,
                ..
            } => {
                let revision = revision.as_deref().unwrap_or("main");
                let path = gguf::resolve(model, file.as_deref(), revision, search)?;
                Arc::new(LocalLlm::load(&path)?)
            }
            LlmSpec::Openai {
                model,
                base_url,
                api_key_env,
                concurrency,
                timeout_s,
                max_retries,
                ..
            } => {
                let d = EndpointConfig::default();
                let config = OpenAiConfig {
                    endpoint: EndpointConfig {
                        base_url: base_url.clone(),
                        api_key_env: api_key_env.as_option().cloned(),
                        concurrency: concurrency.unwrap_or(d.concurrency),
                        timeout_s: timeout_s.unwrap_or(d.timeout_s),
                        max_retries: max_retries.unwrap_or(d.max_retries),
                        ..d
                    },
                    model: model.clone(),
                    response_format: None,
                };
                Arc::new(OpenAiLlm::new(config)?)
            }
        })
    }
}

/// A named prompt: a system and a user text with `{question}` and `{context}`; each unset
/// text is [`Prompt::default`]'s, as in `ragplay.Prompt`, and a system text `"none"` sends
/// no system message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    #[serde(default = "default_system")]
    pub system: Switch<String>,
    #[serde(default = "default_user")]
    pub user: String,
}

fn default_system() -> Switch<String> {
    Switch::On(DEFAULT_SYSTEM.into())
}

fn default_user() -> String {
    DEFAULT_USER.into()
}

/// What every answer of the sweep shares: sampling, context options and how many queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationSpec {
    pub max_tokens: usize,
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: usize,
    pub repetition_penalty: f32,
    pub seed: u64,
    pub stop: Vec<String>,
    /// `ranked`, `reversed` or `ends` ([`ContextOrder`]).
    pub order: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passage_tokens: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<usize>,
    pub dedup: bool,
    /// Answer only the first this many queries of the collection (all when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_queries: Option<usize>,
}

impl Default for GenerationSpec {
    fn default() -> Self {
        let s = Sampling::default();
        let c = ContextOptions::default();
        Self {
            max_tokens: s.max_tokens,
            temperature: s.temperature,
            top_p: s.top_p,
            top_k: s.top_k,
            repetition_penalty: s.repetition_penalty,
            seed: s.seed,
            stop: s.stop,
            order: c.order.name().to_owned(),
            passage_tokens: c.passage_tokens,
            context_tokens: c.context_tokens,
            dedup: c.dedup,
            max_queries: None,
        }
    }
}

impl GenerationSpec {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The generation part of a configuration: which model answers, with which prompt, from
/// how many documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateConfig {
    pub llm: String,
    pub prompt: String,
    pub context_k: usize,
}

impl GenerateConfig {
    pub fn label(&self) -> String {
        format!(
            "answer {} · prompt {} · context {}",
            self.llm, self.prompt, self.context_k
        )
    }
}

impl Experiment {
    /// The prompt named `name`: the experiment's, or the built-in `"default"`.
    pub fn prompt(&self, name: &str) -> Result<Prompt> {
        match self.prompts.get(name) {
            Some(p) => Prompt::new(p.system.as_option().cloned(), p.user.clone()),
            None if name == DEFAULT_PROMPT => Ok(Prompt::default()),
            None => Err(Error::config(
                "grid",
                format!(
                    "prompt {name:?} is not defined (defined: {})",
                    self.prompt_names().join(", ")
                ),
            )),
        }
    }

    fn prompt_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.prompts.keys().cloned().collect();
        if !self.prompts.contains_key(DEFAULT_PROMPT) {
            names.insert(0, DEFAULT_PROMPT.into());
        }
        names
    }

    /// Everything that shapes the answers of `g`.
    pub fn generate_options(&self, g: &GenerateConfig) -> Result<GenerateOptions> {
        let spec = self.llms.get(&g.llm).ok_or_else(|| {
            Error::config(
                "grid",
                format!(
                    "llm {:?} is not defined (defined: {})",
                    g.llm,
                    self.llms.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let s = &self.generation;
        let prices = spec.prices().unwrap_or(TokenPrices {
            prompt: self.prices.generate,
            completion: self.prices.completion,
        });
        let options = GenerateOptions {
            prompt: self.prompt(&g.prompt)?,
            context: ContextOptions {
                context_k: g.context_k,
                order: s.order.parse::<ContextOrder>()?,
                passage_tokens: s.passage_tokens,
                context_tokens: s.context_tokens,
                dedup: s.dedup,
            },
            sampling: Sampling {
                max_tokens: s.max_tokens,
                temperature: s.temperature,
                top_p: s.top_p,
                top_k: s.top_k,
                repetition_penalty: s.repetition_penalty,
                seed: s.seed,
                stop: s.stop.clone(),
            },
            prices,
        };
        options.validate()?;
        if !(prices.prompt.is_finite()
            && prices.prompt >= 0.0
            && prices.completion.is_finite()
            && prices.completion >= 0.0)
        {
            return Err(Error::config(
                "llms",
                format!("the prices of {:?} must be finite and >= 0", g.llm),
            ));
        }
        Ok(options)
    }

    /// The generation part at the axis values `(llm, prompt, context_k)`; `None` without a
    /// model.
    pub(super) fn generate_at(
        &self,
        llm: usize,
        prompt: usize,
        context_k: usize,
    ) -> Option<GenerateConfig> {
        let g = &self.grid;
        let llm = g.llm[llm].as_option()?.clone();
        Some(GenerateConfig {
            llm,
            prompt: g.prompt[prompt].clone(),
            context_k: g
                .context_k
                .get(context_k)
                .copied()
                .unwrap_or(self.context_k),
        })
    }

    /// Check the generation axes and settings: names defined, options in their domains.
    pub(super) fn validate_generation(&self) -> Result<()> {
        for p in &self.grid.prompt {
            self.prompt(p)?;
        }
        for &k in &self.grid.context_k {
            if k == 0 || k > self.k {
                return Err(Error::config(
                    "grid",
                    format!(
                        "context_k {k} must lie in 1..=k (k = {}): the context comes from the run",
                        self.k
                    ),
                ));
            }
        }
        if self.generation.max_queries == Some(0) {
            return Err(Error::config("max_queries", "must be at least 1"));
        }
        let answers = self.grid.llm.iter().any(|l| l.as_option().is_some());
        if answers && self.grid.context_k.is_empty() && self.context_k > self.k {
            return Err(Error::config(
                "context_k",
                format!(
                    "{} exceeds k = {}: an answer's context comes from the run",
                    self.context_k, self.k
                ),
            ));
        }
        // Away from the first model, prompts and context sizes normalise away: a sweep that
        // varies one axis at a time from a baseline without a model would vary nothing.
        let varies = self.grid.prompt.len() > 1 || self.grid.context_k.len() > 1;
        if self.mode != Mode::Grid && varies && self.grid.llm[0].as_option().is_none() {
            return Err(Error::config(
                "grid",
                format!(
                    "a {} sweep varies prompt and context_k from the baseline's llm, which is \
                     \"none\": put a model first on the llm axis, or use mode = \"grid\"",
                    self.mode.name()
                ),
            ));
        }
        for llm in self.grid.llm.iter().filter_map(Switch::as_option) {
            for p in &self.grid.prompt {
                let g = GenerateConfig {
                    llm: llm.clone(),
                    prompt: p.clone(),
                    context_k: self.context_k.min(self.k),
                };
                self.generate_options(&g)?;
            }
        }
        Ok(())
    }

    /// What a configuration's id adds for its generation part: the model's spec, the
    /// prompt's texts and the shared settings.
    pub(super) fn generation_identity(&self, g: &GenerateConfig) -> serde_json::Value {
        let prompt = self.prompt(&g.prompt).ok();
        serde_json::json!({
            "llm": self.llms.get(&g.llm),
            "prompt": prompt,
            "generation": self.generation,
        })
    }
}

impl Config {
    /// The same configuration without its generation part: the retrieval it answers from.
    pub fn retrieval(&self) -> Config {
        Config {
            generate: None,
            ..self.clone()
        }
    }
}

/// What a configuration's answers took and cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerSummary {
    /// Queries asked (rows of the answers table).
    pub queries: usize,
    /// Rows with a failure (their causes are in the table).
    pub failed: usize,
    /// Rows served from the response cache.
    pub cached: usize,
    /// Means over the rows that report them; `None` when none does (every request failed,
    /// or the server reports no usage).
    pub prompt_tokens: Option<f64>,
    pub completion_tokens: Option<f64>,
    /// Median latency of the rows not served from the cache; `None` when all were.
    pub p50_ms: Option<f64>,
    /// Wall time of answering them all.
    pub generate_s: f64,
    /// Total at the model's prices, over the `priced` rows (those that report usage).
    pub cost_usd: f64,
    pub priced: usize,
}

impl AnswerSummary {
    /// Summarise an answers table ([`crate::llm::generate`]).
    pub fn of(answers: &DataFrame, generate_s: f64) -> Result<Self> {
        let what = "answers table";
        let mean = |name: &str| -> Result<Option<f64>> {
            let c = answers.column(name)?.cast(&DataType::Float64)?;
            Ok(c.f64()?.mean())
        };
        let failed = answers
            .column(columns::FAILURE)?
            .is_not_null()
            .sum()
            .unwrap_or(0) as usize;
        let cached_flags = answers.column(columns::CACHED)?.bool()?.clone();
        let cached = cached_flags.sum().unwrap_or(0) as usize;
        let latency = schema::f64_column(answers, what, columns::LATENCY_MS)?;
        let mut fresh: Vec<f64> = latency
            .iter()
            .zip(cached_flags.iter())
            .filter(|(_, c)| *c == Some(false))
            .filter_map(|(l, _)| l)
            .collect();
        fresh.sort_by(f64::total_cmp);
        let p50_ms = match fresh.len() {
            0 => None,
            n if n % 2 == 1 => Some(fresh[n / 2]),
            n => Some((fresh[n / 2 - 1] + fresh[n / 2]) / 2.0),
        };
        let cost = answers.column(columns::COST_USD)?.f64()?.clone();
        Ok(Self {
            queries: answers.height(),
            failed,
            cached,
            prompt_tokens: mean(columns::PROMPT_TOKENS)?,
            completion_tokens: mean(columns::COMPLETION_TOKENS)?,
            p50_ms,
            generate_s,
            cost_usd: cost.sum().unwrap_or(0.0),
            priced: cost.len() - cost.null_count(),
        })
    }
}

impl Lab<'_> {
    /// The model named `name`, loaded once per sweep.
    fn llm(&mut self, name: &str) -> Result<Arc<dyn Llm>> {
        if let Some(l) = self.llms.get(name) {
            return Ok(Arc::clone(l));
        }
        let spec = self
            .e
            .llms
            .get(name)
            .ok_or_else(|| Error::config("grid", format!("llm {name:?} is not defined")))?;
        let llm = spec.load(&self.search_paths)?;
        self.llms.insert(name.to_owned(), Arc::clone(&llm));
        Ok(llm)
    }

    /// Answer the first `max_queries` queries from `run` (cut to `k`) as `g` says.
    pub(super) fn answer(
        &mut self,
        g: &GenerateConfig,
        run: &DataFrame,
        cancel: &Cancel,
    ) -> Result<(DataFrame, AnswerSummary)> {
        let options = self.e.generate_options(g)?;
        let llm = self.llm(&g.llm)?;
        let queries = match self.e.generation.max_queries {
            Some(n) => self.c.queries.head(Some(n)),
            None => self.c.queries.clone(),
        };
        cancel.set_label(&g.label());
        let started = Instant::now();
        let passages = match self.passages.get() {
            Some(p) => p,
            None => {
                let built = Passages::new(&self.c.corpus)?;
                self.passages.get_or_init(|| built)
            }
        };
        let answers = generate_rows(
            run,
            &queries,
            passages,
            llm.as_ref(),
            &options,
            self.responses.as_ref(),
            cancel,
        )?;
        let summary = AnswerSummary::of(&answers, started.elapsed().as_secs_f64())?;
        Ok((answers, summary))
    }
}

/// The `llm` axis' default: no model.
pub(super) fn default_llm_axis() -> Vec<Switch<String>> {
    vec![Switch::Off]
}

/// The `prompt` axis' default: the built-in prompt.
pub(super) fn default_prompt_axis() -> Vec<String> {
    vec![DEFAULT_PROMPT.into()]
}

pub(super) fn is_default_llm_axis(v: &[Switch<String>]) -> bool {
    v == default_llm_axis().as_slice()
}

pub(super) fn is_default_prompt_axis(v: &[String]) -> bool {
    v == default_prompt_axis().as_slice()
}

/// `BTreeMap::is_empty` for serde's `skip_serializing_if`.
pub(super) fn no_entries<V>(m: &BTreeMap<String, V>) -> bool {
    m.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::spec::N_AXES;

    const RETRIEVAL: &str = r#"
k = 10
mode = "one_at_a_time"

[retrievers.bm25]
kind = "bm25"

[grid]
depth = [100, 200]
"#;

    const GENERATION: &str = r#"
[llms.smol]
kind = "gguf"
model = "SmolLM2-135M-Instruct"

[llms.api]
kind = "openai"
model = "m"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "none"
prices = { prompt = 1.0, completion = 2.0 }

[prompts.short]
user = "{context}\n\nQ: {question}\nA:"

[generation]
max_tokens = 16
max_queries = 5
"#;

    fn with_generation(axes: &str) -> Experiment {
        let grid = format!("{axes}\ndepth = [100, 200]");
        let text = format!(
            "{}{GENERATION}",
            RETRIEVAL.replace("depth = [100, 200]", &grid)
        );
        Experiment::from_toml(&text).unwrap()
    }

    #[test]
    fn retrieval_ids_do_not_depend_on_generation() {
        let plain = Experiment::from_toml(RETRIEVAL).unwrap();
        let mut e = with_generation(r#"llm = ["none", "smol", "api"]"#);
        e.mode = Mode::Grid;
        e.grid.prompt = vec!["default".into(), "short".into()];
        e.grid.context_k = vec![1, 3];
        e.validate().unwrap();
        // 2 depths x 3 models x 2 prompts x 2 sizes.
        let points = e.points();
        assert_eq!(points.len(), 24);
        let base = e.config_at(&[0; N_AXES]);
        assert!(base.generate.is_none());
        assert_eq!(
            e.config_id(&base),
            plain.config_id(&plain.config_at(&[0; N_AXES]))
        );
        // Without a model, prompt and context size normalise away.
        let mut p = [0; N_AXES];
        p[8] = 1;
        p[9] = 1;
        assert_eq!(e.config_id(&e.config_at(&p)), e.config_id(&base));
        let mut smol = [0; N_AXES];
        smol[7] = 1;
        let c = e.config_at(&smol);
        assert_eq!(
            c.generate,
            Some(GenerateConfig {
                llm: "smol".into(),
                prompt: "default".into(),
                context_k: 1
            })
        );
        assert_eq!(
            c.label(),
            "bm25 · documents · d100 · answer smol · prompt default · context 1"
        );
        assert_eq!(e.config_id(&c.retrieval()), e.config_id(&base));
        // Without a model, prompt and context size normalise away: 2 + 2 x 8 configurations.
        let ids: std::collections::HashSet<String> = points
            .iter()
            .map(|p| e.config_id(&e.config_at(p)))
            .collect();
        assert_eq!(ids.len(), 18);
        // Round trip, and the experiment's prices for a model without its own.
        let again = Experiment::from_toml(&e.to_toml().unwrap()).unwrap();
        assert_eq!(again, e);
        let o = e.generate_options(c.generate.as_ref().unwrap()).unwrap();
        assert_eq!((o.prices.prompt, o.prices.completion), (0.15, 0.60));
        assert_eq!(o.sampling.max_tokens, 16);
        assert_eq!(o.context.context_k, 1);
    }

    #[test]
    fn ids_follow_what_shapes_the_answers() {
        let e = with_generation(r#"llm = ["smol"]"#);
        let c = e.config_at(&[0; N_AXES]);
        let id = e.config_id(&c);
        let mut changed = e.clone();
        changed.generation.temperature = 0.7;
        assert_ne!(changed.config_id(&c), id);
        let mut changed = e.clone();
        changed.llms.insert(
            "smol".into(),
            LlmSpec::Gguf {
                model: "other.gguf".into(),
                file: None,
                revision: None,
                prices: None,
            },
        );
        assert_ne!(changed.config_id(&c), id);
        // The default prompt's text is part of the id: defining it changes the id.
        let mut changed = e.clone();
        changed.prompts.insert(
            "default".into(),
            PromptSpec {
                system: Switch::Off,
                user: "{question} {context}".into(),
            },
        );
        assert_ne!(changed.config_id(&c), id);
        // A model the configuration does not use leaves it alone.
        let mut changed = e.clone();
        if let Some(LlmSpec::Openai { model, .. }) = changed.llms.get_mut("api") {
            *model = "n".into();
        }
        assert_eq!(changed.config_id(&c), id);
    }

    #[test]
    fn bad_generation_settings_name_the_problem() {
        let bad = |axes: &str, edit: &str, needle: &str| {
            let grid = format!("{axes}\ndepth = [100]");
            let text = format!(
                "{}{GENERATION}{edit}",
                RETRIEVAL.replace("depth = [100, 200]", &grid)
            );
            let err = Experiment::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle:?} not in {err}");
        };
        bad(r#"llm = ["gpt"]"#, "", "gpt");
        bad(
            r#"llm = ["smol"]
prompt = ["long"]"#,
            "",
            "long",
        );
        bad(
            r#"llm = ["smol"]
context_k = [11]"#,
            "",
            "context_k 11",
        );
        bad(r#"llm = ["smol"]"#, "order = \"random\"", "random");
        bad(r#"llm = ["smol"]"#, "temperature = -1.0", "temperature");
        bad(r#"llm = ["smol"]"#, "max_queries = 0", "max_queries");
        bad(
            r#"llm = ["smol"]
prompt = ["odd"]"#,
            "[prompts.odd]\nuser = \"{question} {passages}\"",
            "passages",
        );
        bad(r#"llm = ["smol"]"#, "colour = 1", "colour");
        bad(
            r#"llm = ["none", "smol"]
prompt = ["default", "short"]"#,
            "",
            "put a model first",
        );
        let mut e = with_generation(r#"llm = ["smol"]"#);
        e.context_k = 20;
        let err = e.validate().unwrap_err().to_string();
        assert!(err.contains("20 exceeds k = 10"), "{err}");
    }
}
