//! Comparing runs per metric: mean difference, paired significance test, bootstrap
//! confidence interval, multiple-comparison correction, and wins / ties / losses.
//!
//! Queries are paired by id. A query evaluated for one run but not the other counts 0 for the
//! run that did not answer it (as `trec_eval -c` would). The correction family is the set of
//! comparisons made for one metric. Formulas and references are in [`super::stats`].

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::stats;
use super::{evaluate, EvalOptions};
use crate::cancel::Cancel;
use crate::data::schema::{self, stat, QUERY_ID, RUN};
use crate::error::{Error, Result};
use crate::options::option_enum;

option_enum! {
    /// The significance test.
    pub enum Test: "test" {
        /// Paired randomization (sign-flip permutation) test.
        Randomization => "randomization" | "permutation" | "fisher",
        /// Paired Student t-test.
        TTest => "t-test" | "ttest" | "t" | "student",
    }
}

option_enum! {
    /// The multiple-comparison correction.
    pub enum Correction: "correction" {
        Holm => "holm",
        Bonferroni => "bonferroni",
        None => "none",
    }
}

/// Options of [`compare`] and [`compare_per_query`].
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The run every other run is compared with; the first run when `None`.
    pub baseline: Option<String>,
    pub test: Test,
    /// Resamples for the randomization test and the bootstrap.
    pub n_resamples: usize,
    /// Confidence level of the bootstrap interval, in (0, 1).
    pub confidence: f64,
    pub seed: u64,
    pub correction: Correction,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            baseline: None,
            test: Test::Randomization,
            n_resamples: 10_000,
            confidence: 0.95,
            seed: 42,
            correction: Correction::Holm,
        }
    }
}

/// Evaluate the runs of a multi-run table (with a `run` column) and compare them.
pub fn compare<S: AsRef<str>>(
    run: &DataFrame,
    qrels: &DataFrame,
    metrics: &[S],
    eval: &EvalOptions,
    options: &CompareOptions,
    cancel: &Cancel,
) -> Result<DataFrame> {
    let evaluation = evaluate(run, qrels, metrics, eval, cancel)?;
    let names: Vec<&str> = metrics.iter().map(|m| m.as_ref().trim()).collect();
    compare_per_query(&evaluation.per_query, &names, options, cancel)
}

/// Compare runs given a per-query table as [`evaluate`] returns it (`run`, `query_id`, one
/// column per metric).
pub fn compare_per_query<S: AsRef<str>>(
    per_query: &DataFrame,
    metrics: &[S],
    options: &CompareOptions,
    cancel: &Cancel,
) -> Result<DataFrame> {
    if options.n_resamples == 0 {
        return Err(Error::config("n_resamples", "must be at least 1"));
    }
    if !(options.confidence > 0.0 && options.confidence < 1.0) {
        return Err(Error::config(
            "confidence",
            format!("must lie in (0, 1), got {}", options.confidence),
        ));
    }
    const TABLE: &str = "per-query table";
    let runs = schema::str_column(per_query, TABLE, RUN)?;
    let queries = schema::str_column(per_query, TABLE, QUERY_ID)?;
    let mut run_names: Vec<&str> = Vec::new();
    for r in schema::str_values(runs) {
        if run_names.last() != Some(&r) && !run_names.contains(&r) {
            run_names.push(r);
        }
    }
    if run_names.len() < 2 {
        return Err(Error::config(
            "runs",
            format!("comparing needs at least two runs, got {}", run_names.len()),
        ));
    }
    let base = match &options.baseline {
        None => 0,
        Some(b) => run_names
            .iter()
            .position(|r| r == b)
            .ok_or_else(|| Error::UnknownId {
                kind: "run",
                id: b.clone(),
                location: format!("the runs {run_names:?}"),
            })?,
    };
    let run_idx: FxHashMap<&str, usize> =
        run_names.iter().enumerate().map(|(i, r)| (*r, i)).collect();
    let mut query_idx: FxHashMap<&str, usize> = FxHashMap::default();
    let row_keys: Vec<(usize, usize)> = schema::str_values(runs)
        .zip(schema::str_values(queries))
        .map(|(r, q)| {
            let next = query_idx.len();
            (run_idx[r], *query_idx.entry(q).or_insert(next))
        })
        .collect();
    let nq = query_idx.len();

    let mut rows = Rows::default();
    cancel.start("compare", (metrics.len() * (run_names.len() - 1)) as u64);
    for metric in metrics {
        let metric = metric.as_ref();
        let values = schema::f64_column(per_query, TABLE, metric)?;
        // values[run][query]; None where the run has no row for the query.
        let mut table = vec![vec![None; nq]; run_names.len()];
        for (&(r, q), v) in row_keys.iter().zip(values.into_no_null_iter()) {
            table[r][q] = Some(v);
        }
        let others: Vec<usize> = (0..run_names.len()).filter(|&r| r != base).collect();
        let results: Vec<Comparison> = others
            .par_iter()
            .map(|&r| {
                let c = Comparison::new(&table[r], &table[base], options, cancel);
                cancel.advance(1);
                c
            })
            .collect::<Result<_>>()?;
        let raw: Vec<f64> = results.iter().map(|c| c.p_value).collect();
        let adjusted = match options.correction {
            Correction::None => raw.clone(),
            Correction::Bonferroni => stats::bonferroni(&raw),
            Correction::Holm => stats::holm(&raw),
        };
        for ((&r, c), adj) in others.iter().zip(results).zip(adjusted) {
            rows.push(metric, run_names[r], run_names[base], c, adj);
        }
    }
    rows.frame()
}

struct Comparison {
    n: u32,
    mean: f64,
    baseline_mean: f64,
    p_value: f64,
    ci: (f64, f64),
    wins: u32,
    ties: u32,
    losses: u32,
}

impl Comparison {
    fn new(
        run: &[Option<f64>],
        base: &[Option<f64>],
        o: &CompareOptions,
        cancel: &Cancel,
    ) -> Result<Self> {
        let pairs: Vec<(f64, f64)> = run
            .iter()
            .zip(base)
            .filter(|(a, b)| a.is_some() || b.is_some())
            .map(|(a, b)| (a.unwrap_or(0.0), b.unwrap_or(0.0)))
            .collect();
        let d: Vec<f64> = pairs.iter().map(|(a, b)| a - b).collect();
        let n = pairs.len();
        let avg = |f: &dyn Fn(&(f64, f64)) -> f64| {
            if n == 0 {
                f64::NAN
            } else {
                pairs.iter().map(f).sum::<f64>() / n as f64
            }
        };
        let p_value = match o.test {
            Test::TTest => stats::paired_t_test(&d).1,
            Test::Randomization => stats::randomization_test(&d, o.n_resamples, o.seed, cancel)?,
        };
        Ok(Comparison {
            n: n as u32,
            mean: avg(&|p| p.0),
            baseline_mean: avg(&|p| p.1),
            p_value,
            ci: stats::bootstrap_ci(&d, o.n_resamples, o.confidence, o.seed, cancel)?,
            wins: d.iter().filter(|&&x| x > 0.0).count() as u32,
            ties: d.iter().filter(|&&x| x == 0.0).count() as u32,
            losses: d.iter().filter(|&&x| x < 0.0).count() as u32,
        })
    }
}

#[derive(Default)]
struct Rows {
    metric: Vec<String>,
    run: Vec<String>,
    baseline: Vec<String>,
    c: Vec<Comparison>,
    adjusted: Vec<f64>,
}

impl Rows {
    fn push(&mut self, metric: &str, run: &str, baseline: &str, c: Comparison, adjusted: f64) {
        self.metric.push(metric.to_owned());
        self.run.push(run.to_owned());
        self.baseline.push(baseline.to_owned());
        self.c.push(c);
        self.adjusted.push(adjusted);
    }

    fn frame(self) -> Result<DataFrame> {
        let f = |g: fn(&Comparison) -> f64| self.c.iter().map(g).collect::<Vec<f64>>();
        let u = |g: fn(&Comparison) -> u32| self.c.iter().map(g).collect::<Vec<u32>>();
        schema::frame(vec![
            Column::new("metric".into(), &self.metric),
            Column::new(RUN.into(), &self.run),
            Column::new("baseline".into(), &self.baseline),
            Column::new("n".into(), u(|c| c.n)),
            Column::new(stat::MEAN.into(), f(|c| c.mean)),
            Column::new(stat::BASELINE_MEAN.into(), f(|c| c.baseline_mean)),
            Column::new(stat::DELTA.into(), f(|c| c.mean - c.baseline_mean)),
            Column::new(stat::P_VALUE.into(), f(|c| c.p_value)),
            Column::new(stat::P_ADJUSTED.into(), self.adjusted.clone()),
            Column::new(stat::CI_LOW.into(), f(|c| c.ci.0)),
            Column::new(stat::CI_HIGH.into(), f(|c| c.ci.1)),
            Column::new(stat::WINS.into(), u(|c| c.wins)),
            Column::new(stat::TIES.into(), u(|c| c.ties)),
            Column::new(stat::LOSSES.into(), u(|c| c.losses)),
        ])
    }
}
