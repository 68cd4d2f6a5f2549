//! Pipelines: the layer that combines retrievers into one. [`Pipeline`] runs retrievers, then
//! fusion, then re-ranking, then MMR, as one [`Retriever`]; [`Chunked`] searches chunks with
//! another retriever and returns documents. Both sit above the leaf retrievers
//! ([`crate::retrieve`]) and the run functions they call ([`crate::fuse`], [`crate::rerank`],
//! [`crate::chunk`]), and below the lab ([`crate::lab`]).
//!
//!
//! Each retriever returns its top `depth` documents per query; with more than one retriever
//! the runs are fused ([`crate::fuse`]); a [`PairScorer`] re-scores the top `depth`
//! ([`crate::rerank::rerank`]); maximal marginal relevance re-orders them
//! ([`crate::rerank::mmr`]); the result is cut at `k`. Every stage is one of the run
//! functions the library exports, so a pipeline ranks exactly as the same calls made by
//! hand.
//!
//! A generation stage ([`GenerateStage`]) can follow: [`Pipeline::answer`] retrieves, then
//! puts each query's best documents in a prompt and returns the model's answers as a table
//! ([`crate::llm::generate`]); a search, the [`Retriever`] contract, never calls the model.
//!
//! [`Pipeline::trace`] runs the queries one at a time, as a service would, and records every
//! stage's run and wall time: a table of every candidate's score and rank at every stage (why
//! a document ended where it did) and the per-stage latency percentiles ([`trace`]).
//!
//! Retrievers are shared (`Arc<RwLock<…>>`): the same index can sit in several pipelines
//! and be used on its own. `index` indexes each retriever in turn (and the MMR index when
//! it is not one of them); each replacement is atomic, the pipeline's is not: an interrupted
//! `index` leaves the retrievers not yet reached as they were.

pub mod chunked;
pub mod latency;
pub mod trace;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use polars::prelude::*;

use crate::cancel::Cancel;
use crate::data::schema::RANK;
use crate::error::{Error, Result};
use crate::fuse::{self, FuseOptions};
use crate::llm::cache::ResponseCache;
use crate::llm::generate::{self as answers, GenerateOptions};
use crate::llm::Llm;
use crate::rerank::{self, MmrOptions, PairScorer, RerankOptions};
use crate::retrieve::{DenseIndex, Retriever, SharedRetriever};
pub use chunked::Chunked;
pub use latency::{LatencyOptions, StageLatency};
pub use trace::Trace;

/// Candidates per query at every stage when a caller does not say.
pub const DEFAULT_DEPTH: usize = 100;

/// The re-ranking stage.
#[derive(Clone)]
pub struct RerankStage {
    pub scorer: Arc<dyn PairScorer>,
    /// Pairs per forward pass.
    pub batch_size: usize,
}

/// The MMR stage.
#[derive(Clone)]
pub struct MmrStage {
    /// The vectors MMR compares documents with.
    pub index: Arc<RwLock<DenseIndex>>,
    /// Weight of relevance against novelty, in [0, 1].
    pub lambda: f64,
}

/// The generation stage: a model answers from the best documents.
#[derive(Clone)]
pub struct GenerateStage {
    pub llm: Arc<dyn Llm>,
    pub options: GenerateOptions,
    pub cache: Option<Arc<ResponseCache>>,
}

/// A pipeline of retrievers, fusion, re-ranking, MMR and generation.
pub struct Pipeline {
    retrievers: Vec<(String, SharedRetriever)>,
    fuse: FuseOptions,
    rerank: Option<RerankStage>,
    mmr: Option<MmrStage>,
    generate: Option<GenerateStage>,
    depth: usize,
    corpus: Option<DataFrame>,
    /// The corpus' passages by id for the generation stage, indexed on first use.
    passages: std::sync::OnceLock<answers::Passages>,
}

fn poisoned() -> Error {
    Error::poisoned("a retriever of the pipeline")
}

/// One stage's output for the queries searched, and how long it took (stages come in the
/// order of [`Pipeline::stages`]).
pub(crate) struct StageRun {
    pub run: DataFrame,
    pub seconds: f64,
    /// The generation stage's answers (its `run` holds the documents it was given).
    pub answers: Option<DataFrame>,
}

impl Pipeline {
    /// A pipeline over `retrievers` (at least one), fusing with `fuse` (its `k` is replaced
    /// by `depth`) when there are several, then re-ranking and MMR when given; every stage
    /// keeps `depth` documents per query. Retriever names ([`Retriever::name`]) are made
    /// unique with `_2`, `_3`, ….
    pub fn new(
        retrievers: Vec<SharedRetriever>,
        fuse: FuseOptions,
        rerank: Option<RerankStage>,
        mmr: Option<MmrStage>,
        depth: usize,
    ) -> Result<Self> {
        if retrievers.is_empty() {
            return Err(Error::config("retrievers", "give at least one retriever"));
        }
        crate::run::check_k(depth).map_err(|_| Error::config("depth", "must be at least 1"))?;
        if let Some(m) = &mmr {
            if !(0.0..=1.0).contains(&m.lambda) {
                return Err(Error::config(
                    "mmr_lambda",
                    format!("must lie in [0, 1], got {}", m.lambda),
                ));
            }
        }
        if rerank.as_ref().is_some_and(|r| r.batch_size == 0) {
            return Err(Error::config("batch_size", "must be at least 1"));
        }
        let mut fuse = fuse;
        fuse.k = Some(depth);
        fuse.check()?;
        if fuse
            .weights
            .as_ref()
            .is_some_and(|w| w.len() != retrievers.len())
        {
            return Err(Error::config(
                "weights",
                format!(
                    "{} weights for {} retrievers",
                    fuse.weights.as_ref().map_or(0, Vec::len),
                    retrievers.len()
                ),
            ));
        }
        fuse.checked_weights(retrievers.len())?;
        let mut named: Vec<(String, SharedRetriever)> = Vec::new();
        for r in retrievers {
            let base = r.read().map_err(|_| poisoned())?.name();
            let mut name = base.clone();
            let mut n = 1;
            while named.iter().any(|(other, _)| *other == name) {
                n += 1;
                name = format!("{base}_{n}");
            }
            named.push((name, r));
        }
        Ok(Self {
            retrievers: named,
            fuse,
            rerank,
            mmr,
            generate: None,
            depth,
            corpus: None,
            passages: std::sync::OnceLock::new(),
        })
    }

    /// Add a generation stage after the retrieval stages; its options are checked now.
    pub fn with_generation(mut self, stage: GenerateStage) -> Result<Self> {
        let o = &stage.options;
        o.validate()?;
        if o.context.context_k > self.depth {
            return Err(Error::config(
                "context_k",
                format!(
                    "{} passages but the pipeline keeps {} documents per query (depth)",
                    o.context.context_k, self.depth
                ),
            ));
        }
        self.generate = Some(stage);
        Ok(self)
    }

    /// The generation stage, when there is one.
    pub fn generation(&self) -> Option<&GenerateStage> {
        self.generate.as_ref()
    }

    /// The stage names in order: each retriever's, then `fuse`, `rerank`, `mmr` and
    /// `generate` when present.
    pub fn stages(&self) -> Vec<String> {
        let mut out = self.retrieval_stages();
        if self.generate.is_some() {
            out.push("generate".into());
        }
        out
    }

    /// The stages a search runs: all but `generate`.
    pub fn retrieval_stages(&self) -> Vec<String> {
        let mut out: Vec<String> = self.retrievers.iter().map(|(n, _)| n.clone()).collect();
        if self.retrievers.len() > 1 {
            out.push("fuse".into());
        }
        if self.rerank.is_some() {
            out.push("rerank".into());
        }
        if self.mmr.is_some() {
            out.push("mmr".into());
        }
        out
    }

    /// Use retrievers that are already indexed with `corpus`: the pipeline keeps the corpus
    /// for re-ranking without indexing anything (the caller vouches that the retrievers and
    /// the MMR index hold exactly its documents).
    pub fn set_corpus(&mut self, corpus: &DataFrame) {
        self.corpus = Some(corpus.clone());
        self.passages = std::sync::OnceLock::new();
    }

    /// Candidates per query at every stage.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Retrieve for `queries`, then answer them: one row per query
    /// ([`crate::llm::generate::generate`]).
    pub fn answer(&self, queries: &DataFrame, cancel: &Cancel) -> Result<DataFrame> {
        if self.generate.is_none() {
            return Err(Error::config(
                "generate",
                "this pipeline has no generation stage",
            ));
        }
        let mut answers = None;
        self.run_stages(queries, None, true, cancel, &mut |s| {
            if s.answers.is_some() {
                answers = s.answers;
            }
        })?;
        answers.ok_or_else(|| Error::Internal {
            message: "the generation stage returned no answers".into(),
        })
    }

    /// Run every retrieval stage on `queries`, and the generation stage too when `answer`
    /// is set and the pipeline has one; `record` receives each stage's run and wall time.
    /// Returns the last retrieval stage's run.
    pub(crate) fn run_stages(
        &self,
        queries: &DataFrame,
        allow: Option<&[String]>,
        answer: bool,
        cancel: &Cancel,
        record: &mut dyn FnMut(StageRun),
    ) -> Result<DataFrame> {
        let depth = self.depth;
        let mut runs = Vec::with_capacity(self.retrievers.len());
        for (name, r) in &self.retrievers {
            let t = Instant::now();
            let run = r
                .read()
                .map_err(|_| poisoned())?
                .search(queries, depth, allow, cancel)?;
            runs.push((name.clone(), run.clone()));
            record(StageRun {
                run,
                seconds: t.elapsed().as_secs_f64(),
                answers: None,
            });
        }
        let mut run = if runs.len() > 1 {
            let t = Instant::now();
            let named: Vec<(&str, &DataFrame)> =
                runs.iter().map(|(n, r)| (n.as_str(), r)).collect();
            let fused = fuse::fuse(&named, &self.fuse, cancel)?;
            record(stage(&fused, t));
            fused
        } else {
            runs.pop().map(|(_, r)| r).expect("one retriever at least")
        };
        if let Some(stage_opts) = &self.rerank {
            let t = Instant::now();
            let corpus = self.corpus.as_ref().ok_or_else(|| {
                Error::config(
                    "rerank",
                    "re-ranking reads document texts: index the pipeline with a corpus first",
                )
            })?;
            let options = RerankOptions {
                depth: Some(depth),
                k: depth,
                batch_size: stage_opts.batch_size,
            };
            if run.height() > 0 {
                run = rerank::rerank(
                    &run,
                    queries,
                    corpus,
                    stage_opts.scorer.as_ref(),
                    &options,
                    cancel,
                )?;
            }
            record(stage(&run, t));
        }
        if let Some(m) = &self.mmr {
            let t = Instant::now();
            let options = MmrOptions {
                lambda: m.lambda,
                k: depth,
                depth: Some(depth),
            };
            if run.height() > 0 {
                let index = m.index.read().map_err(|_| poisoned())?;
                run = rerank::mmr(&run, queries, &*index, &options, cancel)?;
            }
            record(stage(&run, t));
        }
        if let (true, Some(g)) = (answer, &self.generate) {
            record(self.generate_stage(g, &run, queries, cancel)?);
        }
        Ok(run)
    }

    fn generate_stage(
        &self,
        g: &GenerateStage,
        run: &DataFrame,
        queries: &DataFrame,
        cancel: &Cancel,
    ) -> Result<StageRun> {
        let t = Instant::now();
        let corpus = self.corpus.as_ref().ok_or_else(|| {
            Error::config(
                "generate",
                "generation reads document texts: index the pipeline with a corpus first",
            )
        })?;
        let passages = match self.passages.get() {
            Some(p) => p,
            None => {
                let built = answers::Passages::new(corpus)?;
                self.passages.get_or_init(|| built)
            }
        };
        let table = answers::generate_rows(
            run,
            queries,
            passages,
            g.llm.as_ref(),
            &g.options,
            g.cache.as_deref(),
            cancel,
        )?;
        Ok(StageRun {
            run: held(run, &table)?,
            seconds: t.elapsed().as_secs_f64(),
            answers: Some(table),
        })
    }

    /// Search and trace `queries` one at a time: every candidate's score and rank at every
    /// stage, the final rank, and per-stage latency over the queries.
    pub fn trace(&self, queries: &DataFrame, k: usize, cancel: &Cancel) -> Result<Trace> {
        crate::run::check_k(k)?;
        trace::trace(self, queries, k, cancel)
    }
}

/// The rows of `run` whose documents went into each query's prompt (the answers'
/// `context_doc_ids`: duplicates and passages past the token budget are left out), ranked
/// among themselves in run order.
fn held(run: &DataFrame, answers_table: &DataFrame) -> Result<DataFrame> {
    use crate::data::schema::{self, QUERY_ID};
    let qids = schema::str_column(answers_table, "answers table", QUERY_ID)?;
    let lists = answers_table
        .column(answers::columns::CONTEXT_DOC_IDS)?
        .list()?
        .clone();
    let mut prompt: rustc_hash::FxHashMap<&str, rustc_hash::FxHashSet<String>> = Default::default();
    for (q, docs) in schema::str_values(qids).zip(lists.amortized_iter()) {
        let docs = docs.map(|s| {
            s.as_ref()
                .str()
                .map(|c| schema::str_values(c).map(str::to_owned).collect())
                .unwrap_or_default()
        });
        prompt.insert(q, docs.unwrap_or_default());
    }
    let view = crate::run::validate(run)?;
    let groups = crate::run::ranked_groups(&view)?;
    let mut builder = crate::run::RunBuilder::default();
    for (q, hits) in &groups {
        let Some(docs) = prompt.get(q) else { continue };
        builder.push_ranked(q, hits.iter().copied().filter(|(d, _)| docs.contains(*d)));
    }
    builder.finish()
}

fn stage(run: &DataFrame, t: Instant) -> StageRun {
    StageRun {
        run: run.clone(),
        seconds: t.elapsed().as_secs_f64(),
        answers: None,
    }
}

/// The rows of a run ranked at most `k` (the run's ranks are 1-based per query).
pub fn cut(run: &DataFrame, k: usize) -> Result<DataFrame> {
    let ranks = run.column(RANK)?.u32()?;
    let mask = ranks.lt_eq(k as u32);
    Ok(run.filter(&mask)?)
}

impl Retriever for Pipeline {
    fn name(&self) -> String {
        "pipeline".into()
    }

    fn config(&self) -> serde_json::Value {
        let retrievers: Vec<serde_json::Value> = self
            .retrievers
            .iter()
            .map(|(name, r)| {
                let config = r
                    .read()
                    .map(|r| r.config())
                    .unwrap_or(serde_json::Value::Null);
                serde_json::json!({"name": name, "config": config})
            })
            .collect();
        let f = &self.fuse;
        let mut config = serde_json::json!({
            "retrievers": retrievers,
            "fuse": (self.retrievers.len() > 1).then(|| serde_json::json!({
                "method": f.method.name(),
                "norm": f.norm.unwrap_or(f.method.default_norm()).name(),
                "weights": f.weights,
                "rrf_k": f.rrf_k,
            })),
            "rerank": self.rerank.as_ref().map(|r| r.scorer.name()),
            "mmr": self.mmr.as_ref().map(|m| serde_json::json!({"lambda": m.lambda})),
            "depth": self.depth,
        });
        // Only a pipeline that generates says so: the ids of the others stay as they were.
        if let Some(g) = &self.generate {
            let o = &g.options;
            let value = |v: serde_json::Result<serde_json::Value>| v.unwrap_or_default();
            config["generate"] = serde_json::json!({
                "llm": g.llm.name(),
                "fingerprint": g.llm.fingerprint(),
                "prompt": value(serde_json::to_value(&o.prompt)),
                "context": value(serde_json::to_value(&o.context)),
                "sampling": value(serde_json::to_value(&o.sampling)),
            });
        }
        config
    }

    fn index(&mut self, corpus: &DataFrame, cancel: &Cancel) -> Result<()> {
        crate::data::DocumentTexts::new(corpus)?;
        for (_, r) in &self.retrievers {
            r.write().map_err(|_| poisoned())?.index(corpus, cancel)?;
        }
        if let Some(m) = &self.mmr {
            let mmr_ptr = Arc::as_ptr(&m.index) as *const ();
            let shared = self
                .retrievers
                .iter()
                .any(|(_, r)| Arc::as_ptr(r) as *const () == mmr_ptr);
            if !shared {
                m.index
                    .write()
                    .map_err(|_| poisoned())?
                    .index(corpus, cancel)?;
            }
        }
        self.corpus = Some(corpus.clone());
        self.passages = std::sync::OnceLock::new();
        Ok(())
    }

    fn search(
        &self,
        queries: &DataFrame,
        k: usize,
        allow: Option<&[String]>,
        cancel: &Cancel,
    ) -> Result<DataFrame> {
        crate::run::check_k(k)?;
        let run = self.run_stages(queries, allow, false, cancel, &mut |_| {})?;
        cut(&run, k)
    }
}
