//! A sweep's results table: one row per configuration with its settings, each metric's mean
//! with a bootstrap confidence interval, the paired test against the baseline with Holm's
//! correction across the whole sweep, latency, build time, memory, tokens and cost.
//!
//! Metrics are computed as `trec_eval -c` does: a judged query a configuration returned
//! nothing for counts 0, so every configuration is averaged over the same queries. The
//! interval of a mean is the percentile bootstrap over queries (Efron & Tibshirani 1993,
//! ch. 13); the test is the paired test of [`crate::eval::compare`] (randomization by
//! default, Smucker, Allan & Carterette 2007); the p-values of every (configuration, metric)
//! against the baseline form one family for Holm's step-down correction (Holm 1979), so the
//! chance of any false "significant" anywhere in the sweep is at most `alpha`. Rows are
//! ranked by the first metric's mean, best first.

use polars::prelude::*;
use rustc_hash::FxHashMap;

use super::generation::{AnswerSummary, GenerateConfig};
use super::spec::Experiment;
use super::store::{Done, StageLatency};
use crate::cancel::Cancel;
use crate::data::schema::stat::{self, CI_HIGH, CI_LOW, DELTA, P_ADJUSTED, P_VALUE, SIGNIFICANT};
use crate::data::schema::{self, RUN};
use crate::error::Result;
use crate::eval::compare::{compare_per_query, CompareOptions, Correction, Test};
use crate::eval::{evaluate, stats, EvalOptions};
use crate::pipeline::latency::latency_columns;

/// Family-wise level of the `_significant` columns.
pub const ALPHA: f64 = 0.05;

/// What a sweep returns.
pub struct SweepResult {
    /// The baseline configuration's id.
    pub baseline: String,
    /// One row per configuration (see the module documentation).
    pub results: DataFrame,
    /// Every configuration's run, stacked: `run` is the configuration id (no `rank`
    /// column, as [`crate::run::stack_runs`] writes it).
    pub runs: DataFrame,
    /// Each configuration's run as its pipeline returned it, by id.
    pub by_id: FxHashMap<String, DataFrame>,
    /// The answers of each configuration that answers, by id ([`crate::llm::generate`]).
    pub answers: FxHashMap<String, DataFrame>,
    /// Per configuration and stage: `config_id`, `stage`, `repeats`, `mean_ms`, `p25_ms`,
    /// `p50_ms`, `p75_ms`, `p95_ms`, `p99_ms` ([`crate::pipeline::latency`]).
    pub latency: DataFrame,
    /// One row per index built: `retriever`, `chunking`, `enrich`, `build_s`,
    /// `texts_embedded`, `tokens_embedded`.
    pub work: DataFrame,
    /// Configurations computed by this call, read back from the store, and not started
    /// because the budget was spent.
    pub computed: Vec<String>,
    pub reused: Vec<String>,
    pub skipped: Vec<String>,
}

impl SweepResult {
    /// The run of configuration `id` (`query_id`, `doc_id`, `score`, `rank`).
    pub fn run(&self, id: &str) -> Option<&DataFrame> {
        self.by_id.get(id)
    }

    /// The answers of configuration `id`, when it answers.
    pub fn answers(&self, id: &str) -> Option<&DataFrame> {
        self.answers.get(id)
    }
}

/// Per (config, metric): mean, CI, and against the baseline delta, p, Holm p.
#[derive(Default, Clone, Copy)]
struct Cell {
    mean: f64,
    low: f64,
    high: f64,
    delta: Option<f64>,
    p: Option<f64>,
    p_holm: Option<f64>,
}

/// Build the results of the finished configurations (`done`, in sweep order).
pub(crate) fn assemble(
    e: &Experiment,
    done: &[&Done],
    baseline: &str,
    qrels: &DataFrame,
    work: DataFrame,
    (computed, reused, skipped): (Vec<String>, Vec<String>, Vec<String>),
    cancel: &Cancel,
) -> Result<SweepResult> {
    let named: Vec<(&str, &DataFrame)> = done
        .iter()
        .map(|d| (d.record.id.as_str(), &d.run))
        .collect();
    let runs = crate::run::stack_runs(&named)?;
    // Configurations that answer from one retrieval share its run: its quality is computed
    // and tested once, so generation settings neither repeat a test in Holm's family nor
    // change another configuration's correction.
    let retrieval_of = |d: &Done| e.config_id(&d.record.config.retrieval());
    let rids: Vec<String> = done.iter().map(|d| retrieval_of(d)).collect();
    let mut unique: Vec<(&str, &DataFrame)> = Vec::new();
    for (rid, d) in rids.iter().zip(done) {
        if !unique.iter().any(|(u, _)| u == rid) {
            unique.push((rid.as_str(), &d.run));
        }
    }
    let baseline_rid = done
        .iter()
        .zip(&rids)
        .find(|(d, _)| d.record.id == baseline)
        .map_or(baseline, |(_, r)| r.as_str());
    let ids: Vec<&str> = unique.iter().map(|(id, _)| *id).collect();
    let per_retrieval = cells(
        e,
        &ids,
        baseline_rid,
        &crate::run::stack_runs(&unique)?,
        qrels,
        cancel,
    )?;
    let cells: Vec<Vec<Cell>> = rids
        .iter()
        .map(|rid| per_retrieval[ids.iter().position(|u| u == rid).unwrap_or(0)].clone())
        .collect();
    let mut results = table(e, done, baseline, &cells)?;
    let first = e.metrics[0].trim().to_owned();
    results = results.sort(
        [first.as_str()],
        SortMultipleOptions::default()
            .with_order_descending(true)
            .with_maintain_order(true),
    )?;
    Ok(SweepResult {
        baseline: baseline.to_owned(),
        results,
        runs,
        by_id: done
            .iter()
            .map(|d| (d.record.id.clone(), d.run.clone()))
            .collect(),
        answers: done
            .iter()
            .filter_map(|d| Some((d.record.id.clone(), d.answers.clone()?)))
            .collect(),
        latency: latency_table(done)?,
        work,
        computed,
        reused,
        skipped,
    })
}

/// Per run of `runs` (named by `ids`): each metric's mean and interval, and the paired test
/// against `baseline` with Holm's correction.
fn cells(
    e: &Experiment,
    ids: &[&str],
    baseline: &str,
    runs: &DataFrame,
    qrels: &DataFrame,
    cancel: &Cancel,
) -> Result<Vec<Vec<Cell>>> {
    let metrics: Vec<&str> = e.metrics.iter().map(|m| m.trim()).collect();
    let options = EvalOptions {
        include_missing: true,
        ..Default::default()
    };
    let per_query = evaluate(runs, qrels, &metrics, &options, cancel)?.per_query;
    let run_col = schema::str_column(&per_query, "per-query table", RUN)?;
    let row_of: FxHashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut out = vec![vec![Cell::default(); metrics.len()]; ids.len()];
    for (m, metric) in metrics.iter().enumerate() {
        let values = schema::f64_column(&per_query, "per-query table", metric)?;
        let mut by_run: Vec<Vec<f64>> = vec![Vec::new(); ids.len()];
        for (r, v) in schema::str_values(run_col).zip(values.into_no_null_iter()) {
            by_run[row_of[r]].push(v);
        }
        for (i, vals) in by_run.iter().enumerate() {
            let n = vals.len().max(1) as f64;
            let (low, high) = stats::bootstrap_ci(vals, e.n_resamples, 0.95, e.seed, cancel)?;
            out[i][m] = Cell {
                mean: vals.iter().sum::<f64>() / n,
                low,
                high,
                ..Cell::default()
            };
        }
    }
    if ids.len() < 2 {
        return Ok(out);
    }
    let compare = CompareOptions {
        baseline: Some(baseline.to_owned()),
        test: Test::Randomization,
        n_resamples: e.n_resamples,
        confidence: 0.95,
        seed: e.seed,
        correction: Correction::None,
    };
    let table = compare_per_query(&per_query, &metrics, &compare, cancel)?;
    let t_metric = schema::str_column(&table, "comparison", "metric")?;
    let t_run = schema::str_column(&table, "comparison", RUN)?;
    let delta = schema::f64_column(&table, "comparison", DELTA)?;
    let p = schema::f64_column(&table, "comparison", P_VALUE)?;
    let ps: Vec<f64> = (0..p.len()).map(|i| p.get(i).unwrap_or(f64::NAN)).collect();
    let holm = stats::holm(&ps);
    for (row, (metric, run)) in schema::str_values(t_metric)
        .zip(schema::str_values(t_run))
        .enumerate()
    {
        let m = metrics.iter().position(|x| *x == metric).unwrap_or(0);
        let cell = &mut out[row_of[run]][m];
        cell.delta = delta.get(row);
        cell.p = Some(ps[row]);
        cell.p_holm = Some(holm[row]);
    }
    let b = row_of[baseline];
    for cell in out[b].iter_mut() {
        cell.delta = Some(0.0);
    }
    Ok(out)
}

fn table(e: &Experiment, done: &[&Done], baseline: &str, cells: &[Vec<Cell>]) -> Result<DataFrame> {
    let rec = |f: &dyn Fn(&super::store::Record) -> Option<String>| -> Vec<Option<String>> {
        done.iter().map(|d| f(&d.record)).collect()
    };
    let num = |f: &dyn Fn(&super::store::Record) -> f64| -> Vec<f64> {
        done.iter().map(|d| f(&d.record)).collect()
    };
    let latency_column = |name: &str, pick: fn(&StageLatency) -> f64| {
        let total = |d: &&Done| {
            d.record
                .latency
                .iter()
                .find(|l| l.stage == "total")
                .map_or(f64::NAN, pick)
        };
        Column::new(name.into(), done.iter().map(total).collect::<Vec<f64>>())
    };
    let mut cols = vec![
        Column::new("config_id".into(), rec(&|r| Some(r.id.clone()))),
        Column::new("label".into(), rec(&|r| Some(r.label.clone()))),
        Column::new(
            "baseline".into(),
            done.iter()
                .map(|d| d.record.id == baseline)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "retrievers".into(),
            rec(&|r| Some(r.config.retrievers.join("+"))),
        ),
        Column::new("chunking".into(), rec(&|r| Some(r.config.chunking.label()))),
        Column::new("enrich".into(), rec(&|r| r.config.enrich.clone())),
        Column::new(
            "fusion".into(),
            rec(&|r| r.config.fusion.as_ref().map(|f| f.method.clone())),
        ),
        Column::new(
            "mmr".into(),
            done.iter().map(|d| d.record.config.mmr).collect::<Vec<_>>(),
        ),
        Column::new(
            "rerank".into(),
            rec(&|r| r.config.rerank.as_ref().map(|x| x.model.clone())),
        ),
        Column::new(
            "depth".into(),
            done.iter()
                .map(|d| d.record.config.depth as u32)
                .collect::<Vec<_>>(),
        ),
    ];
    for (m, metric) in e.metrics.iter().map(|m| m.trim()).enumerate() {
        let get = |f: fn(&Cell) -> Option<f64>| -> Vec<Option<f64>> {
            cells.iter().map(|row| f(&row[m])).collect()
        };
        let name = |column: &str| stat::of(metric, column).into();
        cols.push(Column::new(metric.into(), get(|c| Some(c.mean))));
        cols.push(Column::new(name(CI_LOW), get(|c| Some(c.low))));
        cols.push(Column::new(name(CI_HIGH), get(|c| Some(c.high))));
        cols.push(Column::new(name(DELTA), get(|c| c.delta)));
        cols.push(Column::new(name(P_VALUE), get(|c| c.p)));
        cols.push(Column::new(name(P_ADJUSTED), get(|c| c.p_holm)));
        let significant: Vec<Option<bool>> = cells
            .iter()
            .map(|row| row[m].p_holm.map(|p| p < ALPHA))
            .collect();
        cols.push(Column::new(name(SIGNIFICANT), significant));
    }
    cols.extend([
        latency_column("p25_ms", |l| l.p25_ms),
        latency_column("p50_ms", |l| l.p50_ms),
        latency_column("p75_ms", |l| l.p75_ms),
        latency_column("p95_ms", |l| l.p95_ms),
        latency_column("p99_ms", |l| l.p99_ms),
        Column::new("index_s".into(), num(&|r| r.index_s)),
        Column::new("search_s".into(), num(&|r| r.search_s)),
        Column::new(
            "peak_rss_mb".into(),
            done.iter()
                .map(|d| d.record.peak_rss_mb)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "embedded_tokens".into(),
            done.iter()
                .map(|d| d.record.embedded_tokens)
                .collect::<Vec<_>>(),
        ),
        Column::new("query_tokens".into(), num(&|r| r.query_tokens)),
        Column::new("reranked_tokens".into(), num(&|r| r.reranked_tokens)),
        Column::new("context_tokens".into(), num(&|r| r.context_tokens)),
        Column::new("index_cost_usd".into(), num(&|r| r.index_cost_usd)),
        Column::new(
            "cost_per_1k_queries_usd".into(),
            num(&|r| r.cost_per_1k_queries_usd),
        ),
    ]);
    if done.iter().any(|d| d.record.config.generate.is_some()) {
        generation_columns(done, &mut cols);
    }
    Ok(DataFrame::new_infer_height(cols)?)
}

/// The settings and measurements of answering, in a sweep where some configuration
/// answers (null for those that do not).
fn generation_columns(done: &[&Done], cols: &mut Vec<Column>) {
    let g = |f: &dyn Fn(&GenerateConfig) -> String| -> Vec<Option<String>> {
        done.iter()
            .map(|d| d.record.config.generate.as_ref().map(f))
            .collect()
    };
    let a = |f: fn(&AnswerSummary) -> Option<f64>| -> Vec<Option<f64>> {
        done.iter()
            .map(|d| d.record.answers.as_ref().and_then(f))
            .collect()
    };
    let n = |f: fn(&AnswerSummary) -> usize| -> Vec<Option<u32>> {
        done.iter()
            .map(|d| d.record.answers.as_ref().map(|s| f(s) as u32))
            .collect()
    };
    let context_k: Vec<Option<u32>> = done
        .iter()
        .map(|d| {
            d.record
                .config
                .generate
                .as_ref()
                .map(|g| g.context_k as u32)
        })
        .collect();
    cols.extend([
        Column::new("llm".into(), g(&|g| g.llm.clone())),
        Column::new("prompt".into(), g(&|g| g.prompt.clone())),
        Column::new("context_k".into(), context_k),
        Column::new("answered".into(), n(|s| s.queries - s.failed)),
        Column::new("answer_failures".into(), n(|s| s.failed)),
        Column::new("answers_cached".into(), n(|s| s.cached)),
        Column::new("prompt_tokens".into(), a(|s| s.prompt_tokens)),
        Column::new("completion_tokens".into(), a(|s| s.completion_tokens)),
        Column::new("answer_p50_ms".into(), a(|s| s.p50_ms)),
        Column::new("generate_s".into(), a(|s| Some(s.generate_s))),
        Column::new("answer_cost_usd".into(), a(|s| Some(s.cost_usd))),
    ]);
}

fn latency_table(done: &[&Done]) -> Result<DataFrame> {
    let rows: Vec<(&str, &StageLatency)> = done
        .iter()
        .flat_map(|d| {
            d.record
                .latency
                .iter()
                .map(move |l| (d.record.id.as_str(), l))
        })
        .collect();
    let mut columns = vec![
        Column::new(
            "config_id".into(),
            rows.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        ),
        Column::new(
            "stage".into(),
            rows.iter()
                .map(|(_, l)| l.stage.as_str())
                .collect::<Vec<_>>(),
        ),
    ];
    columns.extend(latency_columns(rows.iter().map(|(_, l)| *l)));
    Ok(DataFrame::new_infer_height(columns)?)
}
