//! Tuning fusion without fooling oneself: weights (and RRF's `rrf_k`) are chosen on a
//! training split of the judged queries, and the chosen setting is reported on the held-out
//! split only, beside untuned RRF, CombSUM with z-scores and each input run, with a percentile
//! bootstrap interval of each mean (Efron & Tibshirani, An Introduction to the Bootstrap, 1993).
//!
//! Reporting the best of many settings on the queries it was chosen on overstates it (the
//! winner's curse); a held-out split is the simplest honest estimate. The split is a seeded
//! shuffle of the judged queries that any run answers, sorted by id first, so it does not
//! depend on row order.
//!
//! The grid: weights are positive multiples of `step` that sum to 1 (for two runs and step
//! 0.1: (0.1, 0.9) … (0.9, 0.1)); for RRF every weight vector is tried with every `rrf_k` in
//! `rrf_ks`. The best setting has the highest training mean; ties go to the first in grid
//! order.

use polars::prelude::*;
use rustc_hash::FxHashSet;

use super::{validate_runs, FuseOptions, Method, Norm, Prepared};
use crate::cancel::Cancel;
use crate::data::schema::{self, table, NUM_QUERIES, QUERY_ID, RELEVANCE, RUN};
use crate::error::{Error, Result};
use crate::eval::stats::bootstrap_ci;
use crate::eval::{evaluate, EvalOptions};
use crate::rng::SplitMix64;

/// The largest number of settings one search may try.
const MAX_TRIALS: usize = 100_000;

/// Options of [`optimize_fusion`].
#[derive(Debug, Clone)]
pub struct OptimizeOptions {
    pub method: Method,
    /// `None`: the method's default.
    pub norm: Option<Norm>,
    /// The metric maximised on the training queries, such as `"ndcg@10"`.
    pub metric: String,
    /// Share of the judged queries used for training, in (0, 1).
    pub train_fraction: f64,
    /// Spacing of the weight grid, in (0, 0.5]; 1 / step must be a whole number.
    pub step: f64,
    /// RRF offsets tried (RRF only).
    pub rrf_ks: Vec<f64>,
    /// Seed of the split and of the bootstrap.
    pub seed: u64,
    pub n_resamples: usize,
    pub confidence: f64,
    pub relevance_threshold: i32,
    /// Documents kept per query in every fused run; all when `None`.
    pub k: Option<usize>,
}

impl Default for OptimizeOptions {
    fn default() -> Self {
        Self {
            method: Method::Rrf,
            norm: None,
            metric: "ndcg@10".into(),
            train_fraction: 0.5,
            step: 0.1,
            rrf_ks: vec![10.0, 20.0, 30.0, 40.0, 60.0, 80.0, 100.0],
            seed: 42,
            n_resamples: 10_000,
            confidence: 0.95,
            relevance_threshold: 1,
            k: Some(100),
        }
    }
}

/// What [`optimize_fusion`] found.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// The chosen fusion (method, norm, weights, `rrf_k`).
    pub options: FuseOptions,
    /// The run names, in the order of the weights.
    pub names: Vec<String>,
    pub train_queries: Vec<String>,
    pub test_queries: Vec<String>,
    /// Every setting tried: `trial`, `rrf_k`, one `weight:<run>` column per run, and the
    /// metric's training mean (column named after the metric).
    pub trials: DataFrame,
    /// On the held-out queries: `run` (`tuned`, `rrf`, `combsum-zscore`, then each input
    /// run), `num_queries`, `mean`, `ci_low`, `ci_high`.
    pub held_out: DataFrame,
    /// The held-out per-query values of the same runs (`run`, `query_id`, the metric), as
    /// `compare_per_query` takes them.
    pub per_query: DataFrame,
    /// The tuned fusion over all queries.
    pub run: DataFrame,
}

/// Search fusion weights (and `rrf_k` for RRF) on a training split of the queries; report
/// the best setting on the held-out split.
pub fn optimize_fusion(
    runs: &[(&str, &DataFrame)],
    qrels: &DataFrame,
    options: &OptimizeOptions,
    cancel: &Cancel,
) -> Result<Tuning> {
    check(options)?;
    let views = validate_runs(runs)?;
    let prepared = Prepared::new(runs, &views, cancel)?;
    let names = prepared.names();
    let (train, test) = split(&prepared, qrels, options)?;
    let (train_set, test_set): (FxHashSet<&str>, FxHashSet<&str>) = (
        train.iter().copied().collect(),
        test.iter().copied().collect(),
    );
    let train_qrels = qrels_subset(qrels, &train_set)?;
    let settings = grid(names.len(), options)?;
    let eval = EvalOptions {
        relevance_threshold: options.relevance_threshold,
        include_missing: true,
        name: "fused".into(),
    };
    let metric = [options.metric.as_str()];
    let mut means = Vec::with_capacity(settings.len());
    for fuse in &settings {
        let fused = prepared.fuse(fuse, Some(&train_set), cancel)?;
        let ev = evaluate(&fused, &train_qrels, &metric, &eval, cancel)?;
        means.push(summary_mean(&ev.summary)?);
    }
    let best = (0..settings.len()).fold(0, |b, i| if means[i] > means[b] { i } else { b });
    let chosen = settings[best].clone();
    let trials = trials_table(&settings, &means, &names, &options.metric)?;
    let (held_out, per_query) = held_out(&prepared, &chosen, qrels, &test_set, options, cancel)?;
    let run = prepared.fuse(&chosen, None, cancel)?;
    Ok(Tuning {
        options: chosen,
        names: names.iter().map(|s| (*s).to_owned()).collect(),
        train_queries: train.iter().map(|s| (*s).to_owned()).collect(),
        test_queries: test.iter().map(|s| (*s).to_owned()).collect(),
        trials,
        held_out,
        per_query,
        run,
    })
}

fn check(options: &OptimizeOptions) -> Result<()> {
    if !(options.train_fraction > 0.0 && options.train_fraction < 1.0) {
        return Err(Error::config(
            "train_fraction",
            format!("must lie in (0, 1), got {}", options.train_fraction),
        ));
    }
    if !(options.step > 0.0 && options.step <= 0.5) {
        return Err(Error::config(
            "step",
            format!("must lie in (0, 0.5], got {}", options.step),
        ));
    }
    let parts = (1.0 / options.step).round();
    if (parts * options.step - 1.0).abs() > 1e-9 {
        return Err(Error::config(
            "step",
            format!("1 / step must be a whole number, got step {}", options.step),
        ));
    }
    if options.method == Method::Rrf && options.rrf_ks.is_empty() {
        return Err(Error::config(
            "rrf_ks",
            "must list at least one value for RRF",
        ));
    }
    crate::eval::Metric::parse(&options.metric)?;
    Ok(())
}

/// The judged queries any run answers, sorted by id, shuffled with the seed, and cut into
/// (train, test).
fn split<'a>(
    prepared: &Prepared<'a>,
    qrels: &DataFrame,
    options: &OptimizeOptions,
) -> Result<(Vec<&'a str>, Vec<&'a str>)> {
    let judged: FxHashSet<&str> =
        schema::str_values(schema::str_column(qrels, table::QRELS, QUERY_ID)?).collect();
    let mut queries: Vec<&str> = prepared
        .queries()
        .iter()
        .copied()
        .filter(|q| judged.contains(q))
        .collect();
    queries.sort_unstable();
    SplitMix64::new(options.seed).shuffle(&mut queries);
    let n_train = (queries.len() as f64 * options.train_fraction).round() as usize;
    if n_train == 0 || n_train == queries.len() {
        return Err(Error::config(
            "train_fraction",
            format!(
                "{} of {} judged queries leaves a split empty",
                options.train_fraction,
                queries.len()
            ),
        ));
    }
    let test = queries.split_off(n_train);
    Ok((queries, test))
}

/// The qrels rows of the queries in `keep`.
fn qrels_subset(qrels: &DataFrame, keep: &FxHashSet<&str>) -> Result<DataFrame> {
    let q = schema::str_column(qrels, table::QRELS, QUERY_ID)?;
    let d = schema::str_column(qrels, table::QRELS, schema::DOC_ID)?;
    let r = schema::i32_column(qrels, table::QRELS, RELEVANCE)?;
    let (mut qs, mut ds, mut rs) = (Vec::new(), Vec::new(), Vec::new());
    for ((q, d), r) in schema::str_values(q)
        .zip(schema::str_values(d))
        .zip(r.into_no_null_iter())
    {
        if keep.contains(q) {
            qs.push(q);
            ds.push(d);
            rs.push(r);
        }
    }
    schema::frame(vec![
        Column::new(QUERY_ID.into(), qs),
        Column::new(schema::DOC_ID.into(), ds),
        Column::new(RELEVANCE.into(), rs),
    ])
}

/// Every setting to try, in grid order.
fn grid(runs: usize, options: &OptimizeOptions) -> Result<Vec<FuseOptions>> {
    let parts = (1.0 / options.step).round() as usize;
    if runs > parts {
        return Err(Error::config(
            "step",
            format!(
                "{runs} runs need a step of at most 1/{runs}, got {}",
                options.step
            ),
        ));
    }
    let mut weights = Vec::new();
    compositions(parts, runs, &mut Vec::new(), &mut weights, options.step);
    let rrf_ks: Vec<f64> = if options.method == Method::Rrf {
        options.rrf_ks.clone()
    } else {
        vec![60.0]
    };
    if weights.len() * rrf_ks.len() > MAX_TRIALS {
        return Err(Error::config(
            "step",
            format!(
                "{} settings to try (at most {MAX_TRIALS}); use a larger step",
                weights.len() * rrf_ks.len()
            ),
        ));
    }
    Ok(rrf_ks
        .iter()
        .flat_map(|&rrf_k| {
            weights.iter().map(move |w: &Vec<f64>| FuseOptions {
                method: options.method,
                norm: options.norm,
                weights: Some(w.clone()),
                rrf_k,
                k: options.k,
            })
        })
        .collect())
}

/// All ways to write `total` as `parts` positive integers, each scaled by `step`.
fn compositions(
    total: usize,
    parts: usize,
    prefix: &mut Vec<usize>,
    out: &mut Vec<Vec<f64>>,
    step: f64,
) {
    if parts == 1 {
        prefix.push(total);
        out.push(prefix.iter().map(|&p| p as f64 * step).collect());
        prefix.pop();
        return;
    }
    for first in 1..=total.saturating_sub(parts - 1) {
        prefix.push(first);
        compositions(total - first, parts - 1, prefix, out, step);
        prefix.pop();
    }
}

/// The one metric mean of an evaluation summary (0 when nothing was evaluated).
fn summary_mean(summary: &DataFrame) -> Result<f64> {
    let col = summary.columns()[2].as_materialized_series().f64()?.clone();
    Ok(col.get(0).unwrap_or(0.0))
}

fn trials_table(
    settings: &[FuseOptions],
    means: &[f64],
    names: &[&str],
    metric: &str,
) -> Result<DataFrame> {
    let mut columns = vec![
        Column::new(
            "trial".into(),
            (0..settings.len() as u32).collect::<Vec<_>>(),
        ),
        Column::new(
            "rrf_k".into(),
            settings.iter().map(|s| s.rrf_k).collect::<Vec<_>>(),
        ),
    ];
    for (i, name) in names.iter().enumerate() {
        let w: Vec<f64> = settings
            .iter()
            .map(|s| s.weights.as_ref().map_or(1.0, |w| w[i]))
            .collect();
        columns.push(Column::new(format!("weight:{name}").into(), w));
    }
    columns.push(Column::new(metric.into(), means.to_vec()));
    schema::frame(columns)
}

/// The held-out table and per-query values of the tuned fusion, the untuned references and
/// each input run.
fn held_out(
    prepared: &Prepared,
    chosen: &FuseOptions,
    qrels: &DataFrame,
    test: &FxHashSet<&str>,
    options: &OptimizeOptions,
    cancel: &Cancel,
) -> Result<(DataFrame, DataFrame)> {
    let references = [
        ("rrf", FuseOptions::default()),
        (
            "combsum-zscore",
            FuseOptions {
                method: Method::CombSum,
                norm: Some(Norm::ZScore),
                ..FuseOptions::default()
            },
        ),
    ];
    let mut runs: Vec<(String, DataFrame)> =
        vec![("tuned".into(), prepared.fuse(chosen, Some(test), cancel)?)];
    for (name, fuse) in references {
        let fuse = FuseOptions {
            k: options.k,
            ..fuse
        };
        runs.push((name.into(), prepared.fuse(&fuse, Some(test), cancel)?));
    }
    for (i, name) in prepared.names().iter().enumerate() {
        runs.push(((*name).to_owned(), prepared.single(i, Some(test))?));
    }
    let refs: Vec<(&str, &DataFrame)> = runs.iter().map(|(n, f)| (n.as_str(), f)).collect();
    let stacked = crate::run::stack_runs(&refs)?;
    let eval = EvalOptions {
        relevance_threshold: options.relevance_threshold,
        include_missing: true,
        name: "run".into(),
    };
    let test_qrels = qrels_subset(qrels, test)?;
    let ev = evaluate(
        &stacked,
        &test_qrels,
        &[options.metric.as_str()],
        &eval,
        cancel,
    )?;
    let per_query = ev.per_query;
    let run_col = schema::str_column(&per_query, "per-query table", RUN)?;
    let values = per_query.columns()[2]
        .as_materialized_series()
        .f64()?
        .clone();
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    for (r, v) in schema::str_values(run_col).zip(values.into_no_null_iter()) {
        match rows.last_mut() {
            Some((name, xs)) if name == r => xs.push(v),
            _ => rows.push((r.to_owned(), vec![v])),
        }
    }
    let (mut names, mut n, mut mean, mut lo, mut hi) = (vec![], vec![], vec![], vec![], vec![]);
    for (name, xs) in &rows {
        let (l, h) = bootstrap_ci(
            xs,
            options.n_resamples,
            options.confidence,
            options.seed,
            cancel,
        )?;
        names.push(name.as_str());
        n.push(xs.len() as u32);
        mean.push(xs.iter().sum::<f64>() / xs.len() as f64);
        lo.push(l);
        hi.push(h);
    }
    let table = schema::frame(vec![
        Column::new(RUN.into(), names),
        Column::new(NUM_QUERIES.into(), n),
        Column::new(schema::stat::MEAN.into(), mean),
        Column::new(schema::stat::CI_LOW.into(), lo),
        Column::new(schema::stat::CI_HIGH.into(), hi),
    ])?;
    Ok((table, per_query))
}
