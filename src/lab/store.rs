//! The experiment store: a folder that keeps every finished configuration of a sweep, so a
//! sweep killed at any moment resumes without recomputing, and any two runs can be compared
//! later.
//!
//! Layout (every file is written atomically: a temporary file, synced, renamed):
//!
//! ```text
//! manifest.json          format, ragplay version, machine, collection fingerprint,
//!                        the experiment, the baseline id, finished ids in order
//! configs/<id>.json      one finished configuration: its settings and measurements
//! runs/<id>.arrow        its run (`config_id`, `query_id`, `doc_id`, `score`, `rank`)
//! qrels.arrow            the judgements the runs are evaluated against
//! results.arrow          the results table of the last sweep (and latency.arrow)
//! embeddings/            the embedding cache of the dense indexes
//! ```
//!
//! A configuration counts as finished once `configs/<id>.json` exists; it is written after
//! its run, so a kill between the two leaves a run without a record, which is recomputed.
//! Tables are Arrow IPC files ([`crate::data::arrow_ipc`]); the runs folder is one dataset:
//! `polars.scan_ipc("runs/*.arrow")` reads every configuration's run lazily.

use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::generation::AnswerSummary;
use super::spec::Config;
use crate::data::arrow_ipc::{read_ipc, write_ipc};
use crate::data::beir::Beir;
use crate::data::io::write_atomic;
use crate::error::{Error, Result};

const FORMAT: &str = "ragplay-store";
/// Version 2 renamed the results' statistics columns (`{m}_ci_low`, `{m}_p_value`,
/// `{m}_p_adjusted`) and added the latency's quartiles; version 1 tables are read as version 2
/// ([`Store::results`], [`Store::latency`]).
pub const VERSION: u32 = 2;
/// The column that names a run's configuration in the store's run files.
pub const CONFIG_ID: &str = "config_id";

pub use crate::pipeline::StageLatency;

/// A finished configuration as a sweep holds it: its record, its run and, when it answers,
/// its answers ([`crate::llm::generate`]).
pub struct Done {
    pub record: Record,
    pub run: DataFrame,
    pub answers: Option<DataFrame>,
}

/// A finished configuration: what it was and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub label: String,
    pub config: Config,
    /// Build time of the indexes it searches, each measured when it was built.
    pub index_s: f64,
    /// Corpus tokens embedded by those indexes (0 for lexical ones and cache hits).
    pub embedded_tokens: u64,
    /// Wall time of searching all queries at once.
    pub search_s: f64,
    /// Per stage, then `total`, measured in the sweep's latency phase (empty until then).
    pub latency: Vec<StageLatency>,
    /// The process' peak resident memory while the configuration ran (Linux only).
    pub peak_rss_mb: Option<f64>,
    /// Per query: tokens embedded at search time.
    pub query_tokens: f64,
    /// Per query: estimated tokens of the re-ranked pairs (4 characters a token).
    pub reranked_tokens: f64,
    /// Per query: estimated tokens of the `context_k` documents a generator would read.
    pub context_tokens: f64,
    /// Embedding the corpus, at the experiment's prices.
    pub index_cost_usd: f64,
    /// Embedding, re-ranking and generator input for 1,000 queries (estimated from
    /// `context_tokens`), or with answers their measured cost instead of the estimate.
    pub cost_per_1k_queries_usd: f64,
    /// What answering took and cost, for a configuration that answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<AnswerSummary>,
}

/// The machine a store was written on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub os: String,
    pub arch: String,
    pub cpus: usize,
}

impl Machine {
    pub fn this() -> Self {
        Self {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// What identifies a collection: a hash of every corpus, query and judgement row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub sha256: String,
    pub documents: usize,
    pub queries: usize,
    pub judgements: usize,
}

impl Fingerprint {
    pub fn of(collection: &Beir) -> Result<Self> {
        let mut h = Sha256::new();
        for (name, frame) in [
            ("corpus", &collection.corpus),
            ("queries", &collection.queries),
            ("qrels", &collection.qrels),
        ] {
            h.update(name.as_bytes());
            let mut names: Vec<&str> = frame
                .get_column_names()
                .into_iter()
                .map(|n| n.as_str())
                .collect();
            names.sort_unstable();
            for col in names {
                h.update(col.as_bytes());
                let column = frame.column(col)?;
                match column.cast(&DataType::String) {
                    Ok(values) => {
                        for v in values.str()?.iter() {
                            match v {
                                Some(s) => {
                                    h.update(s.as_bytes());
                                    h.update([0xff]);
                                }
                                None => h.update([0xfe]),
                            }
                        }
                    }
                    // A column with no text form (a list, a struct): each value as printed.
                    Err(_) => {
                        for v in column.as_materialized_series().iter() {
                            h.update(format!("{v}").as_bytes());
                            h.update([0xff]);
                        }
                    }
                }
            }
        }
        Ok(Self {
            sha256: h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
            documents: collection.corpus.height(),
            queries: collection.queries.height(),
            judgements: collection.qrels.height(),
        })
    }
}

/// The store's table of contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub ragplay_version: String,
    pub machine: Machine,
    pub collection: Fingerprint,
    /// The last sweep's description.
    pub experiment: serde_json::Value,
    /// The last sweep's baseline configuration.
    pub baseline: Option<String>,
    /// Finished configurations, in the order they finished.
    pub configs: Vec<String>,
}

/// An experiment store folder.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `dir`, created when missing.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self { dir })
    }

    /// The store in `dir`, which a sweep has written: a missing manifest is a
    /// file-not-found error, a manifest of another format or a later version a
    /// [`Error::Document`].
    pub fn existing(dir: impl AsRef<Path>) -> Result<Self> {
        let store = Self {
            dir: dir.as_ref().to_path_buf(),
        };
        if store.manifest()?.is_none() {
            return Err(Error::io(
                store.manifest_path(),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no ragplay store here (run a sweep into it first)",
                ),
            ));
        }
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder of the dense indexes' embedding cache.
    pub fn embeddings_dir(&self) -> PathBuf {
        self.dir.join("embeddings")
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    /// The manifest, `None` for a new store.
    pub fn manifest(&self) -> Result<Option<Manifest>> {
        let path = self.manifest_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let m: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::document(&path, format!("not a ragplay store manifest: {e}")))?;
        if m.format != FORMAT || m.version > VERSION {
            return Err(Error::document(
                &path,
                format!(
                    "format {} version {} is not one this ragplay reads",
                    m.format, m.version
                ),
            ));
        }
        Ok(Some(m))
    }

    /// A manifest for `collection`, or the store's own after checking that it holds the same
    /// collection. The temporary files of writers killed mid-write are removed first.
    pub fn begin(&self, collection: &Beir) -> Result<Manifest> {
        crate::data::io::remove_stale_temporaries(&self.dir)?;
        let fingerprint = Fingerprint::of(collection)?;
        match self.manifest()? {
            Some(m) if m.collection != fingerprint => Err(Error::config(
                "store",
                format!(
                    "{} holds runs of another collection ({} documents, {} queries; this one has {} and {}); use another folder",
                    self.dir.display(),
                    m.collection.documents,
                    m.collection.queries,
                    fingerprint.documents,
                    fingerprint.queries
                ),
            )),
            Some(m) => Ok(m),
            None => Ok(Manifest {
                format: FORMAT.into(),
                version: VERSION,
                ragplay_version: env!("CARGO_PKG_VERSION").into(),
                machine: Machine::this(),
                collection: fingerprint,
                experiment: serde_json::Value::Null,
                baseline: None,
                configs: Vec::new(),
            }),
        }
    }

    pub fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        let text = serde_json::to_string_pretty(manifest)
            .map_err(|e| Error::config("store", e.to_string()))?;
        write_atomic(&self.manifest_path(), |w| w.write_all(text.as_bytes()))
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join("configs").join(format!("{id}.json"))
    }

    fn run_path(&self, id: &str) -> PathBuf {
        self.dir.join("runs").join(format!("{id}.arrow"))
    }

    fn answers_path(&self, id: &str) -> PathBuf {
        self.dir.join("answers").join(format!("{id}.arrow"))
    }

    /// Keep a finished configuration: its answers and run first, then its record.
    pub fn save(
        &self,
        record: &Record,
        run: &DataFrame,
        answers: Option<&DataFrame>,
    ) -> Result<()> {
        if let Some(a) = answers {
            write_ipc(&self.answers_path(&record.id), a)?;
        }
        let mut with_id = run.clone();
        let ids = Column::new(CONFIG_ID.into(), vec![record.id.as_str(); run.height()]);
        with_id.insert_column(0, ids)?;
        write_ipc(&self.run_path(&record.id), &with_id)?;
        let text = serde_json::to_string_pretty(record)
            .map_err(|e| Error::config("store", e.to_string()))?;
        write_atomic(&self.record_path(&record.id), |w| {
            w.write_all(text.as_bytes())
        })
    }

    /// Write a configuration's record again (after its latency was measured).
    pub fn save_record(&self, record: &Record) -> Result<()> {
        let text = serde_json::to_string_pretty(record)
            .map_err(|e| Error::config("store", e.to_string()))?;
        write_atomic(&self.record_path(&record.id), |w| {
            w.write_all(text.as_bytes())
        })
    }

    /// A finished configuration's record, `None` when it is not finished.
    pub fn record(&self, id: &str) -> Result<Option<Record>> {
        let path = self.record_path(id);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::document(&path, format!("not a configuration record: {e}")))
    }

    /// A finished configuration's record, run and answers (when it answers), `None` when
    /// it is not finished.
    pub fn finished(&self, id: &str) -> Result<Option<(Record, DataFrame, Option<DataFrame>)>> {
        let Some(record) = self.record(id)? else {
            return Ok(None);
        };
        let run = self.run(id)?;
        let answers = match record.answers {
            Some(_) => Some(read_ipc(&self.answers_path(id))?),
            None => None,
        };
        Ok(Some((record, run, answers)))
    }

    /// A configuration's run (`query_id`, `doc_id`, `score`, `rank`).
    pub fn run(&self, id: &str) -> Result<DataFrame> {
        let mut run = read_ipc(&self.run_path(id))?;
        if run.get_column_index(CONFIG_ID).is_some() {
            run.drop_in_place(CONFIG_ID)?;
        }
        Ok(run)
    }

    /// The records of the finished configurations, in the manifest's order.
    pub fn records(&self) -> Result<Vec<Record>> {
        let Some(m) = self.manifest()? else {
            return Ok(Vec::new());
        };
        m.configs
            .iter()
            .filter_map(|id| self.record(id).transpose())
            .collect()
    }

    /// The run files of the finished configurations, in the manifest's order (one Arrow IPC
    /// dataset with a `config_id` column).
    pub fn run_files(&self) -> Result<Vec<PathBuf>> {
        Ok(self
            .records()?
            .iter()
            .map(|r| self.run_path(&r.id))
            .filter(|p| p.is_file())
            .collect())
    }

    /// One row per finished configuration: `config_id`, `label`, its measurements, and its
    /// settings as JSON (`config`).
    pub fn configurations(&self) -> Result<DataFrame> {
        let records = self.records()?;
        let configs = records
            .iter()
            .map(|r| serde_json::to_string(&r.config))
            .collect::<std::result::Result<Vec<String>, _>>()
            .map_err(|e| Error::config("store", e.to_string()))?;
        let f64s = |pick: fn(&Record) -> f64| records.iter().map(pick).collect::<Vec<f64>>();
        let columns = vec![
            Column::new(
                CONFIG_ID.into(),
                records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "label".into(),
                records.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(),
            ),
            Column::new("index_s".into(), f64s(|r| r.index_s)),
            Column::new(
                "embedded_tokens".into(),
                records
                    .iter()
                    .map(|r| r.embedded_tokens)
                    .collect::<Vec<u64>>(),
            ),
            Column::new("search_s".into(), f64s(|r| r.search_s)),
            Column::new(
                "peak_rss_mb".into(),
                records
                    .iter()
                    .map(|r| r.peak_rss_mb)
                    .collect::<Vec<Option<f64>>>(),
            ),
            Column::new("query_tokens".into(), f64s(|r| r.query_tokens)),
            Column::new("reranked_tokens".into(), f64s(|r| r.reranked_tokens)),
            Column::new("context_tokens".into(), f64s(|r| r.context_tokens)),
            Column::new("index_cost_usd".into(), f64s(|r| r.index_cost_usd)),
            Column::new(
                "cost_per_1k_queries_usd".into(),
                f64s(|r| r.cost_per_1k_queries_usd),
            ),
            Column::new("config".into(), configs),
        ];
        Ok(DataFrame::new(records.len(), columns)?)
    }

    /// Write `<name>.arrow` at the top of the store.
    pub fn write_table(&self, name: &str, frame: &DataFrame) -> Result<()> {
        write_ipc(&self.dir.join(format!("{name}.arrow")), frame)
    }

    /// Read `<name>.arrow` from the top of the store.
    pub fn read_table(&self, name: &str) -> Result<DataFrame> {
        read_ipc(&self.dir.join(format!("{name}.arrow")))
    }

    /// The version of the store's tables (1 for a store written before version 2).
    fn version(&self) -> Result<u32> {
        Ok(self.manifest()?.map_or(VERSION, |m| m.version))
    }

    /// The last sweep's results table, in the current column names whatever version wrote it.
    pub fn results(&self) -> Result<DataFrame> {
        let mut results = self.read_table("results")?;
        if self.version()? < 2 {
            upgrade_results(&mut results)?;
        }
        Ok(results)
    }

    /// The last sweep's latency table, in the current column names whatever version wrote it.
    pub fn latency(&self) -> Result<DataFrame> {
        let mut latency = self.read_table("latency")?;
        if self.version()? < 2 {
            add_quartiles(&mut latency)?;
            let rows = latency.height();
            latency.with_column(Column::new("repeats".into(), vec![1u32; rows]))?;
        }
        Ok(latency)
    }
}

/// A version-1 results table in version 2's names: per metric `_low`, `_high`, `_p` and
/// `_p_holm` become `_ci_low`, `_ci_high`, `_p_value` and `_p_adjusted`; the latency's
/// quartiles, not measured then, are NaN.
fn upgrade_results(results: &mut DataFrame) -> Result<()> {
    use crate::data::schema::stat;
    let metrics: Vec<String> = results
        .get_column_names()
        .iter()
        .filter_map(|c| c.strip_suffix("_p_holm").map(str::to_owned))
        .collect();
    for m in &metrics {
        for (old, new) in [
            ("low", stat::CI_LOW),
            ("high", stat::CI_HIGH),
            ("p", stat::P_VALUE),
            ("p_holm", stat::P_ADJUSTED),
        ] {
            let old = format!("{m}_{old}");
            if results.get_column_index(&old).is_some() {
                results.rename(&old, stat::of(m, new).into())?;
            }
        }
    }
    add_quartiles(results)
}

/// Add `p25_ms` and `p75_ms` (NaN) to a version-1 table that has `p50_ms`.
fn add_quartiles(table: &mut DataFrame) -> Result<()> {
    let rows = table.height();
    for name in ["p25_ms", "p75_ms"] {
        if table.get_column_index(name).is_none() {
            table.with_column(Column::new(name.into(), vec![f64::NAN; rows]))?;
        }
    }
    Ok(())
}

/// Reset the process' peak resident memory (Linux: `clear_refs` 5), so the next
/// [`peak_rss_mb`] measures from now. Does nothing elsewhere.
pub fn reset_peak_rss() {
    let _ = fs::write("/proc/self/clear_refs", "5");
}

/// The process' peak resident memory in MiB since the last reset (Linux `VmHWM`).
pub fn peak_rss_mb() -> Option<f64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
