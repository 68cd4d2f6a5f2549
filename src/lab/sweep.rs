//! Sweeps: run every configuration of an [`Experiment`] on a collection, doing shared work
//! once, keeping each finished configuration in a [`Store`], and measuring quality, latency,
//! memory, tokens and cost ([`super::results`]).
//!
//! Shared work: an index is identified by (retriever name, chunking, template); it is built
//! the first time a configuration needs it and reused by every later one, so each distinct
//! chunking and enrichment is chunked and embedded once per retriever. Dense indexes embed
//! through an [`EmbeddingCache`] in the store, so texts embedded before a kill are read back
//! after it. Encoders and re-rankers are loaded once per name. Each configuration is a
//! [`Pipeline`] over the shared indexes, which searches all queries at once for the
//! configuration's run. Latency is measured afterwards, for every configuration this call
//! computed, under the same conditions ([`super::timing`]: warm-up, queries one at a time,
//! rounds in a shuffled order, repeats where cheap, the median and interquartile range).
//! Queries are embedded anew in every search (never read from the cache), so a
//! configuration's latency includes embedding its queries, as when it serves them.
//!
//! A configuration that answers ([`super::generation`]) takes the run of its retrieval
//! configuration (the same settings without the model), which is searched and timed once for
//! all the configurations that share it, and answers from it through the store's response
//! cache.
//!
//! Resumption: a configuration whose record is in the store is read back, not recomputed; the
//! rest run in the experiment's order. A record is saved as soon as its run is done and saved
//! again with its latency; a record without latency (a kill before or during the latency
//! phase) keeps its run, and only its latency is measured again (its indexes rebuilt for it). With `budget_s`, no configuration after the first starts once
//! that many seconds have passed (the skipped ones are listed). Ctrl-C stops within one query or
//! batch and keeps every finished configuration.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use polars::prelude::*;
use rustc_hash::FxHashMap;

use super::results::{self, SweepResult};
use super::spec::{
    ChunkSpec, Config, EndpointSpec, Experiment, FusionSpec, Mode, Point, RetrieverSpec, AXES,
    N_AXES,
};
use super::store::{self, Done, Record, Store};
use super::timing::{time_configs, Timed};
use crate::cancel::Cancel;
use crate::chunk::{Aggregate, CachedEmbedder, ChunkOptions, Template};
use crate::data::schema::{self, table, DOC_ID, QUERY_ID, TEXT};
use crate::data::{Beir, DocumentTexts};
use crate::embed::{EmbeddingCache, EncodeOptions, Encoder, EncoderOptions, RemoteConfig};
use crate::error::{Error, Result};
use crate::fuse::FuseOptions;
use crate::http::EndpointConfig;
use crate::llm::cache::ResponseCache;
use crate::llm::generate::Passages;
use crate::llm::Llm;
use crate::pipeline::{cut, Chunked, LatencyOptions, MmrStage, Pipeline, RerankStage};
use crate::rerank::{CrossEncoder, CrossEncoderOptions, PairScorer};
use crate::retrieve::{
    Bm25, Bm25Config, DenseIndex, Retriever, SharedRetriever, Storage, VectorOptions,
};
use crate::text::{AnalyzerConfig, StopWords};

/// Characters per token of the token estimates (context and re-ranking).
pub const CHARS_PER_TOKEN: f64 = 4.0;

/// An index built for the sweep, and what building it took.
struct Built {
    retriever: SharedRetriever,
    /// The dense index itself, for MMR (whole-document dense indexes only).
    dense: Option<Arc<RwLock<DenseIndex>>>,
    build_s: f64,
    tokens_embedded: u64,
}

/// One row of the work table.
pub struct WorkRow {
    pub retriever: String,
    pub chunking: String,
    pub enrich: Option<String>,
    pub build_s: f64,
    pub texts_embedded: u64,
    pub tokens_embedded: u64,
}

/// What [`Lab::stages`] builds for one configuration.
struct Stages {
    retrievers: Vec<SharedRetriever>,
    mmr: Option<MmrStage>,
    index_s: f64,
    embedded_tokens: u64,
}

/// The state of a running sweep.
pub(super) struct Lab<'a> {
    pub(super) e: &'a Experiment,
    pub(super) c: &'a Beir,
    store: Option<&'a Store>,
    cache: Option<Arc<EmbeddingCache>>,
    /// Where semantic chunking's sentence vectors are kept: the sweep's cache, or one in
    /// memory, so each sentence is embedded once per encoder whatever the builds.
    sentences: Arc<EmbeddingCache>,
    pub(super) search_paths: Vec<PathBuf>,
    /// Language models by name, loaded when first needed.
    pub(super) llms: FxHashMap<String, Arc<dyn Llm>>,
    /// The store's response cache (`STORE/responses`).
    pub(super) responses: Option<ResponseCache>,
    /// The corpus' passages by id, for answers (indexed on first use).
    pub(super) passages: std::sync::OnceLock<Passages>,
    /// Runs by the id of their retrieval configuration, so configurations that differ only
    /// in generation search once.
    retrieved: FxHashMap<String, (Record, DataFrame)>,
    encoders: FxHashMap<String, Arc<Encoder>>,
    rerankers: FxHashMap<String, Arc<dyn PairScorer>>,
    indexes: FxHashMap<String, Built>,
    work: Vec<WorkRow>,
    done: FxHashMap<String, Done>,
    /// Ids in the order they were first needed.
    order: Vec<String>,
    computed: Vec<String>,
    reused: Vec<String>,
    skipped: Vec<String>,
    started: Instant,
    /// The pipelines of the configurations this call computed (or read back without their
    /// latency), timed at the end.
    timed: Vec<Timed>,
    /// Text lengths (characters) per document, for the token estimates.
    doc_chars: FxHashMap<String, usize>,
    query_chars: FxHashMap<String, usize>,
}

/// Where a sweep keeps its work and finds its models.
#[derive(Default, Clone)]
pub struct SweepOptions {
    /// The store finished configurations are kept in and read back from.
    pub store: Option<Store>,
    /// The embedding cache of the dense indexes; the store's (`STORE/embeddings`) when
    /// `None`, or none without a store.
    pub cache: Option<Arc<EmbeddingCache>>,
    /// Extra folders searched for models by name (see [`EncoderOptions::search_paths`]).
    pub search_paths: Vec<PathBuf>,
}

/// Run `experiment` on `collection` (see the module documentation).
pub fn sweep(
    collection: &Beir,
    experiment: &Experiment,
    options: &SweepOptions,
    cancel: &Cancel,
) -> Result<SweepResult> {
    let store = options.store.as_ref();
    let cache = options.cache.clone();
    experiment.validate()?;
    let mut manifest = match store {
        Some(s) => Some(s.begin(collection)?),
        None => None,
    };
    let cache = match (cache, store) {
        (Some(c), _) => Some(c),
        (None, Some(s)) => Some(Arc::new(EmbeddingCache::open(s.embeddings_dir())?)),
        (None, None) => None,
    };
    let sentences = cache
        .clone()
        .unwrap_or_else(|| Arc::new(EmbeddingCache::in_memory()));
    let responses = store
        .map(|s| ResponseCache::open(s.dir().join("responses")))
        .transpose()?;
    let mut lab = Lab {
        e: experiment,
        c: collection,
        store,
        cache,
        sentences,
        search_paths: options.search_paths.clone(),
        llms: FxHashMap::default(),
        responses,
        passages: std::sync::OnceLock::new(),
        retrieved: FxHashMap::default(),
        encoders: FxHashMap::default(),
        rerankers: FxHashMap::default(),
        indexes: FxHashMap::default(),
        work: Vec::new(),
        done: FxHashMap::default(),
        order: Vec::new(),
        computed: Vec::new(),
        reused: Vec::new(),
        skipped: Vec::new(),
        started: Instant::now(),
        timed: Vec::new(),
        doc_chars: doc_lengths(&collection.corpus)?,
        query_chars: query_lengths(&collection.queries)?,
    };
    let baseline_point = [0usize; N_AXES];
    match experiment.mode {
        Mode::Grid | Mode::OneAtATime => {
            for p in experiment.points() {
                lab.ensure(&p, manifest.as_mut(), cancel)?;
            }
        }
        Mode::Staged => lab.staged(manifest.as_mut(), cancel)?,
    }
    lab.time_latency(cancel)?;
    let baseline = lab.baseline_id(&baseline_point)?;
    cancel.set_label("results");
    let finished: Vec<&Done> = lab.order.iter().filter_map(|id| lab.done.get(id)).collect();
    let result = results::assemble(
        experiment,
        &finished,
        &baseline,
        &collection.qrels,
        lab.work_table()?,
        (
            lab.computed.clone(),
            lab.reused.clone(),
            lab.skipped.clone(),
        ),
        cancel,
    )?;
    if let (Some(s), Some(mut m)) = (store, manifest) {
        s.write_table("results", &result.results)?;
        s.write_table("latency", &result.latency)?;
        s.write_table("qrels", &collection.qrels)?;
        m.baseline = Some(baseline);
        m.experiment = experiment.to_json();
        // The tables just written are in this version's names.
        m.version = store::VERSION;
        s.write_manifest(&m)?;
    }
    Ok(result)
}

/// Each document's length in characters (title and text joined, as the retrievers see it).
fn doc_lengths(corpus: &DataFrame) -> Result<FxHashMap<String, usize>> {
    let docs = DocumentTexts::new(corpus)?;
    Ok(schema::str_values(docs.ids)
        .enumerate()
        .map(|(i, id)| (id.to_owned(), docs.char_count(i)))
        .collect())
}

/// Each query's length in characters.
fn query_lengths(queries: &DataFrame) -> Result<FxHashMap<String, usize>> {
    let ids = schema::str_column(queries, table::QUERIES, QUERY_ID)?;
    let texts = schema::str_column(queries, table::QUERIES, TEXT)?;
    Ok(schema::str_values(ids)
        .zip(schema::str_values(texts))
        .map(|(id, text)| (id.to_owned(), text.chars().count()))
        .collect())
}

impl Lab<'_> {
    /// The configuration at `point`, finished: read from the store or computed (or skipped
    /// when the budget is spent, `None`).
    fn ensure(
        &mut self,
        point: &Point,
        manifest: Option<&mut store::Manifest>,
        cancel: &Cancel,
    ) -> Result<Option<String>> {
        let config = self.e.config_at(point);
        let id = self.e.config_id(&config);
        if self.done.contains_key(&id) {
            return Ok(Some(id));
        }
        if self.skipped.contains(&id) {
            return Ok(None);
        }
        self.order.push(id.clone());
        if let Some((record, run, answers)) =
            self.store.map(|s| s.finished(&id)).transpose()?.flatten()
        {
            let rid = self.e.config_id(&config.retrieval());
            if record.latency.is_empty() && !self.timed.iter().any(|t| t.id == rid) {
                // Killed in the latency phase: the run stands, the latency is measured again.
                let (pipeline, _, _) = self.pipeline(&config, cancel)?;
                self.timed.push(Timed {
                    id: rid,
                    label: config.retrieval().label(),
                    pipeline,
                });
            }
            // A sweep killed between saving a configuration and listing it leaves it out of
            // the manifest: list it now.
            if let (Some(s), Some(m)) = (self.store, manifest) {
                if !m.configs.contains(&id) {
                    m.configs.push(id.clone());
                    s.write_manifest(m)?;
                }
            }
            self.reused.push(id.clone());
            self.retrieved
                .entry(self.e.config_id(&config.retrieval()))
                .or_insert_with(|| (record.clone(), run.clone()));
            self.done.insert(
                id.clone(),
                Done {
                    record,
                    run,
                    answers,
                },
            );
            return Ok(Some(id));
        }
        // The budget never skips the first configuration (the baseline of a default sweep).
        if let Some(budget) = self.e.budget_s.filter(|_| !self.done.is_empty()) {
            if self.started.elapsed().as_secs_f64() > budget {
                self.order.retain(|x| *x != id);
                self.skipped.push(id);
                return Ok(None);
            }
        }
        cancel.set_label(&format!("{} ({} done)", config.label(), self.done.len()));
        let done = self.run_config(&config, &id, cancel)?;
        if let Some(s) = self.store {
            s.save(&done.record, &done.run, done.answers.as_ref())?;
            if let Some(m) = manifest {
                m.configs.retain(|x| *x != id);
                m.configs.push(id.clone());
                m.experiment = self.e.to_json();
                s.write_manifest(m)?;
            }
        }
        self.computed.push(id.clone());
        self.done.insert(id.clone(), done);
        Ok(Some(id))
    }

    /// Greedy coordinate search: per axis, every value with the others at the best so far.
    fn staged(
        &mut self,
        mut manifest: Option<&mut store::Manifest>,
        cancel: &Cancel,
    ) -> Result<()> {
        let lens = self.e.axis_lengths();
        let metric = self.e.metrics[0].trim().to_owned();
        let mut current = [0usize; N_AXES];
        for axis in 0..AXES.len() {
            let mut best: Option<(f64, usize)> = None;
            for v in 0..lens[axis] {
                let mut p = current;
                p[axis] = v;
                let Some(id) = self.ensure(&p, manifest.as_deref_mut(), cancel)? else {
                    continue;
                };
                let score = self.mean(&id, &metric, cancel)?;
                if best.is_none_or(|(b, _)| score > b) {
                    best = Some((score, v));
                }
            }
            if let Some((_, v)) = best {
                current[axis] = v;
            }
        }
        Ok(())
    }

    /// The mean of `metric` over the judged queries (unanswered ones count 0).
    fn mean(&self, id: &str, metric: &str, cancel: &Cancel) -> Result<f64> {
        let run = &self.done[id].run;
        let options = crate::eval::EvalOptions {
            include_missing: true,
            ..Default::default()
        };
        let ev = crate::eval::evaluate(run, &self.c.qrels, &[metric], &options, cancel)?;
        let values = ev.per_query.column(metric)?.f64()?.clone();
        Ok(values.mean().unwrap_or(0.0))
    }

    /// The baseline's id: the experiment's `baseline` (an id or a label) or the first value
    /// of every axis.
    fn baseline_id(&self, point: &Point) -> Result<String> {
        let Some(wanted) = &self.e.baseline else {
            return Ok(self.e.config_id(&self.e.config_at(point)));
        };
        self.order
            .iter()
            .find(|id| {
                *id == wanted || self.done.get(*id).is_some_and(|d| d.record.label == *wanted)
            })
            .cloned()
            .ok_or_else(|| {
                Error::config(
                    "baseline",
                    format!("{wanted:?} is neither the id nor the label of a configuration of this sweep"),
                )
            })
    }

    fn encoder(&mut self, name: &str, cancel: &Cancel) -> Result<Arc<Encoder>> {
        if let Some(e) = self.encoders.get(name) {
            return Ok(Arc::clone(e));
        }
        let Some(RetrieverSpec::Dense {
            model,
            max_seq_length,
            endpoint,
            ..
        }) = self.e.retrievers.get(name)
        else {
            return Err(Error::config(
                "retrievers",
                format!("{name:?} is not a dense retriever"),
            ));
        };
        let options = EncoderOptions {
            max_seq_length: *max_seq_length,
            search_paths: self.search_paths.clone(),
            ..Default::default()
        };
        let encoder = Arc::new(match endpoint {
            None => Encoder::from_pretrained(model, &options)?,
            Some(spec) => Encoder::remote(remote_config(model, spec), &options, cancel)?,
        });
        self.encoders.insert(name.to_owned(), Arc::clone(&encoder));
        Ok(encoder)
    }

    /// A fresh, empty retriever for a named spec; the dense index too when it is one.
    fn make(
        &mut self,
        name: &str,
        cancel: &Cancel,
    ) -> Result<(SharedRetriever, Option<Arc<RwLock<DenseIndex>>>)> {
        match self.e.retrievers.get(name).cloned() {
            Some(RetrieverSpec::Bm25 {
                variant,
                k1,
                b,
                stemmer,
                stopwords,
            }) => {
                let mut config = Bm25Config::default();
                if let Some(v) = variant {
                    config.params.variant = v.parse()?;
                }
                config.params.k1 = k1.unwrap_or(config.params.k1);
                config.params.b = b.unwrap_or(config.params.b);
                let mut analyzer = AnalyzerConfig::default();
                if let Some(s) = stemmer {
                    analyzer.stemmer = Some(s).filter(|s| s != "none");
                }
                if let Some(s) = stopwords {
                    analyzer.stopwords = if s == "none" {
                        StopWords::None
                    } else {
                        StopWords::Builtin(s)
                    };
                }
                config.analyzer = analyzer;
                let bm25 = Bm25::new(config)?;
                Ok((Arc::new(RwLock::new(bm25)), None))
            }
            Some(RetrieverSpec::Dense {
                batch_size,
                storage,
                ..
            }) => {
                let encoder = self.encoder(name, cancel)?;
                let options = EncodeOptions {
                    batch_size: batch_size.unwrap_or(32),
                    ..Default::default()
                };
                let vectors = VectorOptions {
                    storage: match storage {
                        Some(s) => s.parse::<Storage>()?,
                        None => Storage::F32,
                    },
                    ..Default::default()
                };
                let index = DenseIndex::new(encoder, self.cache.clone(), options, vectors)?;
                let arc = Arc::new(RwLock::new(index));
                Ok((arc.clone(), Some(arc)))
            }
            None => Err(Error::config(
                "retrievers",
                format!("{name:?} is not defined"),
            )),
        }
    }

    /// Tokens embedded so far by every loaded encoder.
    fn embedded(&self) -> (u64, u64) {
        self.encoders.values().fold((0, 0), |(t, k), e| {
            let u = e.usage();
            (t + u.texts, k + u.tokens)
        })
    }

    /// The index of retriever `name` over `chunking` and `template`, built on first use.
    fn index(
        &mut self,
        name: &str,
        chunking: &ChunkSpec,
        template: Option<&str>,
        cancel: &Cancel,
    ) -> Result<&Built> {
        let key = serde_json::json!([name, chunking, template]).to_string();
        if !self.indexes.contains_key(&key) {
            let (base, dense) = self.make(name, cancel)?;
            let tokenizer = match &chunking.tokenizer {
                Some(t) => Some(Arc::new(
                    self.encoder(t, cancel)?
                        .tokenizer("counting chunk tokens")?
                        .clone(),
                )),
                None => None,
            };
            let (texts0, tokens0) = self.embedded();
            let started = Instant::now();
            cancel.set_label(&format!("index {name} · {}", chunking.label()));
            let (retriever, dense) = if chunking.is_none() {
                base.write()
                    .map_err(|_| Error::poisoned("a retriever of the sweep"))?
                    .index(&self.c.corpus, cancel)?;
                (base, dense)
            } else {
                let options = chunking.options()?;
                let template = template.map(str::parse::<Template>).transpose()?;
                let aggregate = match &chunking.aggregate {
                    Some(a) => a.parse::<Aggregate>()?,
                    None => Aggregate::MaxP,
                };
                let mut c = Chunked::new(base, options, tokenizer, template, aggregate, None)?;
                if let Some(e) = &chunking.encoder {
                    c = c.with_embedder(Arc::new(CachedEmbedder {
                        encoder: self.encoder(e, cancel)?,
                        cache: Arc::clone(&self.sentences),
                    }));
                }
                c.index(&self.c.corpus, cancel)?;
                let shared: SharedRetriever = Arc::new(RwLock::new(c));
                (shared, None)
            };
            let build_s = started.elapsed().as_secs_f64();
            let (texts1, tokens1) = self.embedded();
            self.work.push(WorkRow {
                retriever: name.to_owned(),
                chunking: chunking.label(),
                enrich: template.map(str::to_owned),
                build_s,
                texts_embedded: texts1 - texts0,
                tokens_embedded: tokens1 - tokens0,
            });
            let built = Built {
                retriever,
                dense,
                build_s,
                tokens_embedded: tokens1 - tokens0,
            };
            self.indexes.insert(key.clone(), built);
        }
        Ok(&self.indexes[&key])
    }

    fn reranker(&mut self, model: &str, max_length: Option<usize>) -> Result<Arc<dyn PairScorer>> {
        let key = format!("{model}\u{1f}{max_length:?}");
        if let Some(r) = self.rerankers.get(&key) {
            return Ok(Arc::clone(r));
        }
        let options = CrossEncoderOptions {
            max_length,
            ..Default::default()
        };
        let scorer: Arc<dyn PairScorer> = Arc::new(CrossEncoder::from_pretrained(model, &options)?);
        self.rerankers.insert(key, Arc::clone(&scorer));
        Ok(scorer)
    }

    /// The indexes a configuration searches and its MMR stage, built or shared, with the build
    /// time and tokens embedded counted once per distinct index.
    fn stages(&mut self, config: &Config, cancel: &Cancel) -> Result<Stages> {
        let mut retrievers = Vec::new();
        let mut index_s = 0.0;
        let mut embedded_tokens = 0;
        let mut counted: Vec<*const ()> = Vec::new();
        for name in &config.retrievers {
            let b = self.index(name, &config.chunking, config.enrich.as_deref(), cancel)?;
            index_s += b.build_s;
            embedded_tokens += b.tokens_embedded;
            counted.push(Arc::as_ptr(&b.retriever) as *const ());
            retrievers.push(Arc::clone(&b.retriever));
        }
        let mmr = match config.mmr {
            Some(lambda) => {
                let name = self.e.mmr_retriever(config).ok_or_else(|| {
                    Error::config(
                        "grid",
                        "mmr compares document vectors: define a dense retriever",
                    )
                })?;
                let b = self.index(&name, &ChunkSpec::none(), None, cancel)?;
                if !counted.contains(&(Arc::as_ptr(&b.retriever) as *const ())) {
                    index_s += b.build_s;
                    embedded_tokens += b.tokens_embedded;
                }
                let index = b.dense.clone().ok_or_else(|| {
                    Error::config(
                        "grid",
                        format!("mmr needs a dense retriever, {name:?} is not"),
                    )
                })?;
                Some(MmrStage { index, lambda })
            }
            None => None,
        };
        Ok(Stages {
            retrievers,
            mmr,
            index_s,
            embedded_tokens,
        })
    }

    /// Search every query as `config` says (or reuse the run of a configuration with the
    /// same retrieval), then answer them when it has a generation part.
    fn run_config(&mut self, config: &Config, id: &str, cancel: &Cancel) -> Result<Done> {
        let retrieval = config.retrieval();
        let rid = self.e.config_id(&retrieval);
        let (mut record, run) = match self.retrieved.get(&rid) {
            Some(found) => found.clone(),
            None => {
                let searched = self.search(&retrieval, &rid, cancel)?;
                self.retrieved.insert(rid, searched.clone());
                searched
            }
        };
        record.id = id.to_owned();
        record.label = config.label();
        record.config = config.clone();
        // The retrieval's record may come from a configuration that answered.
        record.answers = None;
        record.cost_per_1k_queries_usd = self.estimated_cost_per_1k(&record);
        let Some(g) = &config.generate else {
            return Ok(Done {
                record,
                run,
                answers: None,
            });
        };
        let (answers, summary) = self.answer(g, &run, cancel)?;
        // The measured answers replace the estimate of the generator's input, where the
        // model reported its usage.
        if summary.priced > 0 {
            let p = &self.e.prices;
            let retrieval = record.query_tokens * p.embed + record.reranked_tokens * p.rerank;
            let answer = summary.cost_usd / summary.priced as f64;
            record.cost_per_1k_queries_usd = retrieval * 1000.0 / 1e6 + answer * 1000.0;
        }
        record.answers = Some(summary);
        Ok(Done {
            record,
            run,
            answers: Some(answers),
        })
    }

    /// Embedding, re-ranking and the generator's input at `context_k` (estimated from
    /// `context_tokens`) for 1,000 queries.
    fn estimated_cost_per_1k(&self, r: &Record) -> f64 {
        let p = &self.e.prices;
        let per_query =
            r.query_tokens * p.embed + r.reranked_tokens * p.rerank + r.context_tokens * p.generate;
        per_query * 1000.0 / 1e6
    }

    /// Build (or reuse) the indexes of the retrieval configuration `config` (id `rid`),
    /// search every query through its pipeline and measure it.
    fn search(
        &mut self,
        config: &Config,
        rid: &str,
        cancel: &Cancel,
    ) -> Result<(Record, DataFrame)> {
        store::reset_peak_rss();
        let (pipeline, index_s, embedded_tokens) = self.pipeline(config, cancel)?;
        let (_, q0) = self.embedded();
        cancel.set_label(&config.label());
        let rerank_at = pipeline.stages().iter().position(|s| s == "rerank");
        let mut reranked: Option<DataFrame> = None;
        let mut stage = 0;
        let started = Instant::now();
        let last = pipeline.run_stages(&self.c.queries, None, false, cancel, &mut |s| {
            if Some(stage) == rerank_at {
                reranked = Some(s.run);
            }
            stage += 1;
        })?;
        let run = cut(&last, self.e.k)?;
        let search_s = started.elapsed().as_secs_f64();
        let (_, q1) = self.embedded();
        let queries = self.c.queries.height().max(1) as f64;
        let context_tokens = self.context_tokens(&run, &config.chunking)? / queries;
        let reranked_tokens = match &reranked {
            Some(pairs) => {
                let cap = config.rerank.as_ref().and_then(|r| r.max_seq_length);
                self.reranked_tokens(pairs, cap)? / queries
            }
            None => 0.0,
        };
        let query_tokens = (q1 - q0) as f64 / queries;
        let p = &self.e.prices;
        let per_query =
            query_tokens * p.embed + reranked_tokens * p.rerank + context_tokens * p.generate;
        let record = Record {
            id: rid.to_owned(),
            label: config.label(),
            config: config.clone(),
            index_s,
            embedded_tokens,
            search_s,
            latency: Vec::new(),
            peak_rss_mb: store::peak_rss_mb(),
            query_tokens,
            reranked_tokens,
            context_tokens,
            index_cost_usd: embedded_tokens as f64 * p.embed / 1e6,
            cost_per_1k_queries_usd: per_query * 1000.0 / 1e6,
            answers: None,
        };
        self.timed.push(Timed {
            id: rid.to_owned(),
            label: config.label(),
            pipeline,
        });
        Ok((record, run))
    }

    /// The pipeline of `config` over the shared indexes (built when first needed), with the
    /// build time and embedded tokens of its indexes.
    fn pipeline(&mut self, config: &Config, cancel: &Cancel) -> Result<(Pipeline, f64, u64)> {
        let Stages {
            retrievers,
            mmr,
            index_s,
            embedded_tokens,
        } = self.stages(config, cancel)?;
        let rerank = match &config.rerank {
            Some(r) => Some(RerankStage {
                scorer: self.reranker(&r.model, r.max_seq_length)?,
                batch_size: r.batch_size.unwrap_or(32),
            }),
            None => None,
        };
        let fuse = fuse_options(config.fusion.as_ref())?;
        let mut pipeline = Pipeline::new(retrievers, fuse, rerank, mmr, config.depth)?;
        pipeline.set_corpus(&self.c.corpus);
        Ok((pipeline, index_s, embedded_tokens))
    }

    /// Time every configuration this call computed ([`super::timing`]) and save each record
    /// again with its latency.
    fn time_latency(&mut self, cancel: &Cancel) -> Result<()> {
        if self.timed.is_empty() {
            return Ok(());
        }
        let options = LatencyOptions::default();
        let stats = time_configs(&self.timed, &self.c.queries, &options, self.e.seed, cancel)?;
        // A timed pipeline is a retrieval configuration's; every configuration that answers
        // from its run shares its latency.
        let by_retrieval: Vec<(String, String)> = self
            .done
            .iter()
            .map(|(id, d)| (self.e.config_id(&d.record.config.retrieval()), id.clone()))
            .collect();
        for (t, latency) in self.timed.iter().zip(stats) {
            for (_, id) in by_retrieval.iter().filter(|(rid, _)| *rid == t.id) {
                let Some(done) = self.done.get_mut(id) else {
                    continue;
                };
                done.record.latency = latency.clone();
                if let Some(s) = self.store {
                    s.save_record(&done.record)?;
                }
            }
        }
        Ok(())
    }

    /// Estimated tokens of the top `context_k` results of every query: a document's text, or
    /// with chunking at most one chunk of it.
    fn context_tokens(&self, run: &DataFrame, chunking: &ChunkSpec) -> Result<f64> {
        let cap = if chunking.is_none() {
            usize::MAX
        } else {
            let size = chunking.size.unwrap_or(ChunkOptions::default().size);
            match chunking.unit.as_deref() {
                Some("tokens") => (size as f64 * CHARS_PER_TOKEN) as usize,
                _ => size,
            }
        };
        let docs = schema::str_column(run, table::RUN, DOC_ID)?;
        let ranks = run.column(crate::data::schema::RANK)?.u32()?;
        let chars: usize = schema::str_values(docs)
            .zip(ranks.into_no_null_iter())
            .filter(|(_, r)| (*r as usize) <= self.e.context_k)
            .map(|(d, _)| self.doc_chars.get(d).copied().unwrap_or(0).min(cap))
            .sum();
        Ok(chars as f64 / CHARS_PER_TOKEN)
    }

    /// Estimated tokens of the pairs the re-ranker scored (the rows of its stage's run), each
    /// capped at `max_length` when set.
    fn reranked_tokens(&self, pairs: &DataFrame, max_length: Option<usize>) -> Result<f64> {
        let qids = schema::str_column(pairs, table::RUN, QUERY_ID)?;
        let docs = schema::str_column(pairs, table::RUN, DOC_ID)?;
        let cap = max_length.map_or(f64::INFINITY, |m| m as f64);
        Ok(schema::str_values(qids)
            .zip(schema::str_values(docs))
            .map(|(q, d)| {
                let chars = self.query_chars.get(q).copied().unwrap_or(0)
                    + self.doc_chars.get(d).copied().unwrap_or(0);
                (chars as f64 / CHARS_PER_TOKEN).min(cap)
            })
            .sum())
    }

    fn work_table(&self) -> Result<DataFrame> {
        let w = &self.work;
        Ok(DataFrame::new_infer_height(vec![
            Column::new(
                "retriever".into(),
                w.iter().map(|r| r.retriever.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "chunking".into(),
                w.iter().map(|r| r.chunking.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "enrich".into(),
                w.iter().map(|r| r.enrich.as_deref()).collect::<Vec<_>>(),
            ),
            Column::new(
                "build_s".into(),
                w.iter().map(|r| r.build_s).collect::<Vec<_>>(),
            ),
            Column::new(
                "texts_embedded".into(),
                w.iter().map(|r| r.texts_embedded).collect::<Vec<_>>(),
            ),
            Column::new(
                "tokens_embedded".into(),
                w.iter().map(|r| r.tokens_embedded).collect::<Vec<_>>(),
            ),
        ])?)
    }
}

/// The client settings of a served dense model.
fn remote_config(model: &str, spec: &EndpointSpec) -> RemoteConfig {
    let defaults = EndpointConfig::default();
    RemoteConfig {
        endpoint: EndpointConfig {
            base_url: spec.base_url.clone(),
            api_key_env: spec.api_key_env.as_option().cloned(),
            concurrency: spec.concurrency.unwrap_or(defaults.concurrency),
            ..defaults
        },
        model: model.to_owned(),
        dimensions: spec.dimensions,
        query_input_type: spec.query_input_type.clone(),
        document_input_type: spec.document_input_type.clone(),
    }
}

fn fuse_options(spec: Option<&FusionSpec>) -> Result<FuseOptions> {
    let mut o = FuseOptions::default();
    if let Some(f) = spec {
        o.method = f.method.parse()?;
        o.norm = f.norm.as_deref().map(str::parse).transpose()?;
        o.rrf_k = f.rrf_k.unwrap_or(o.rrf_k);
        o.weights = f.weights.clone();
    }
    Ok(o)
}
