//! The regression gate: does a candidate run do significantly worse than a baseline?
//!
//! For every metric the per-query values of the two runs are paired by query (a query only one
//! run answers counts 0 for the other, as in [`crate::eval::compare`]) and tested with the
//! paired test of [`CompareOptions`] (randomization by default). The gate asks a one-sided
//! question, "is the candidate worse?": both tests have null distributions symmetric about 0,
//! so the one-sided p-value is half the two-sided one when the mean went down and `1 − p/2`
//! when it went up. The p-values of the metrics are Holm-corrected together (Holm, "A simple
//! sequentially rejective multiple test procedure", Scand. J. Statist. 6, 1979), so the gate
//! fires on an unchanged system with probability at most `alpha` whatever the number of
//! metrics. A metric regresses when its mean went down and its adjusted p-value is below
//! `alpha`; the gate fails when any metric regresses, or when the candidate's latency exceeds
//! the baseline's by more than the tolerance.
//!
//! The report also names what moved: the queries the candidate loses (per metric, worst
//! first), the queries that newly score zero, and rank churn ([`crate::eval::churn`]).

use polars::prelude::*;
use rustc_hash::FxHashMap;

use crate::cancel::Cancel;
use crate::data::schema::{self, stat, QUERY_ID, RUN};
use crate::error::{Error, Result};
use crate::eval::churn::{check_churn_options, churn, DEFAULT_DEPTH, DEFAULT_PERSISTENCE};
use crate::eval::stats::holm;
use crate::eval::{compare_per_query, evaluate, CompareOptions, Correction, EvalOptions, Test};
use crate::run::stack_runs;

const CANDIDATE: &str = "candidate";
const BASELINE: &str = "baseline";

/// Options of [`check`].
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// The metrics tested; `["ndcg@10"]` by default.
    pub metrics: Vec<String>,
    /// The family-wise significance level, in (0, 1); 0.05 by default.
    pub alpha: f64,
    /// The paired test, its resamples and seed (the baseline and correction are the gate's).
    pub compare: CompareOptions,
    /// How the runs are evaluated.
    pub eval: EvalOptions,
    /// The depth of overlap and RBO; 10 by default.
    pub churn_depth: usize,
    /// RBO's persistence `p`; 0.9 by default.
    pub persistence: f64,
    /// The largest tolerated relative latency increase (0.2: 20% slower); 0.2 by default.
    pub latency_tolerance: f64,
}

impl Default for GateOptions {
    fn default() -> Self {
        Self {
            metrics: vec!["ndcg@10".into()],
            alpha: 0.05,
            compare: CompareOptions::default(),
            eval: EvalOptions::default(),
            churn_depth: DEFAULT_DEPTH,
            persistence: DEFAULT_PERSISTENCE,
            latency_tolerance: 0.2,
        }
    }
}

/// The two sides' latency, in the same unit (milliseconds at a percentile, say).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub candidate: f64,
    pub baseline: f64,
}

/// What [`check`] found.
#[derive(Debug, Clone)]
pub struct GateReport {
    /// No metric regressed significantly and latency stayed within the tolerance.
    pub passed: bool,
    /// One row per metric: `metric`, `n`, `mean`, `baseline_mean`, `delta`, `ci_low`,
    /// `ci_high` (bootstrap interval of the mean difference), `p_value` (one-sided, "worse"),
    /// `p_adjusted` (Holm over the metrics), `wins`, `ties`, `losses`, `regression`.
    pub summary: DataFrame,
    /// Queries where the candidate scores below the baseline: `metric`, `query_id`,
    /// `baseline`, `candidate`, `delta`; per metric, worst first (ties by query id).
    pub losers: DataFrame,
    /// Queries that score above 0 for the baseline and 0 for the candidate: `metric`,
    /// `query_id`, `baseline`.
    pub new_zeros: DataFrame,
    /// Per-query `overlap` and `rbo` between the two rankings (see [`churn`]).
    pub churn: DataFrame,
    /// The latency compared, when given, and whether it regressed.
    pub latency: Option<(Latency, bool)>,
    /// The options the gate ran with.
    pub options: GateOptions,
}

impl GateReport {
    /// A plain-text account: the verdict, each metric's change and test, the latency, the
    /// `max_queries` worst queries of each regressed metric, the new zeros and the churn.
    pub fn describe(&self, max_queries: usize) -> String {
        let o = &self.options;
        let verdict = if self.passed { "passed" } else { "FAILED" };
        let mut out = format!(
            "regression gate {verdict} (alpha {}, one-sided {} test, Holm over {} metric(s))\n",
            o.alpha,
            test_name(o.compare.test),
            o.metrics.len()
        );
        let s = &self.summary;
        let f = |c: &str, i: usize| s.column(c).ok().and_then(|c| c.f64().ok()?.get(i));
        let u = |c: &str, i: usize| s.column(c).ok().and_then(|c| c.u32().ok()?.get(i));
        let mut regressed = Vec::new();
        for i in 0..s.height() {
            let metric = s.column("metric").ok().and_then(|c| c.str().ok()?.get(i));
            let metric = metric.unwrap_or_default().to_owned();
            let bad = s
                .column("regression")
                .ok()
                .and_then(|c| c.bool().ok()?.get(i));
            out += &format!(
                "  {metric}: {:.4} -> {:.4} (delta {:+.4}, {:.0}% CI [{:+.4}, {:+.4}]), p {:.4}, adjusted {:.4}; {} losses, {} ties, {} wins{}\n",
                f(stat::BASELINE_MEAN, i).unwrap_or(f64::NAN),
                f(stat::MEAN, i).unwrap_or(f64::NAN),
                f(stat::DELTA, i).unwrap_or(f64::NAN),
                o.compare.confidence * 100.0,
                f(stat::CI_LOW, i).unwrap_or(f64::NAN),
                f(stat::CI_HIGH, i).unwrap_or(f64::NAN),
                f(stat::P_VALUE, i).unwrap_or(f64::NAN),
                f(stat::P_ADJUSTED, i).unwrap_or(f64::NAN),
                u(stat::LOSSES, i).unwrap_or(0),
                u(stat::TIES, i).unwrap_or(0),
                u(stat::WINS, i).unwrap_or(0),
                if bad == Some(true) { ": REGRESSION" } else { "" },
            );
            if bad == Some(true) {
                regressed.push(metric);
            }
        }
        if let Some((l, slower)) = self.latency {
            out += &format!(
                "  latency: {} -> {} ({:+.1}%, tolerance {:.0}%){}\n",
                l.baseline,
                l.candidate,
                (l.candidate / l.baseline - 1.0) * 100.0,
                o.latency_tolerance * 100.0,
                if slower { ": REGRESSION" } else { "" },
            );
        }
        for metric in &regressed {
            out += &self.worst(metric, max_queries);
        }
        let zeros = self.new_zeros.height();
        if zeros > 0 {
            out += &format!("  {zeros} (metric, query) pairs newly score 0\n");
        }
        let mean = |c: &str| self.churn.column(c).ok().and_then(|c| c.f64().ok()?.mean());
        out += &format!(
            "  rank churn at depth {}: mean overlap {:.3}, mean RBO (p {}) {:.3}\n",
            o.churn_depth,
            mean("overlap").unwrap_or(f64::NAN),
            o.persistence,
            mean("rbo").unwrap_or(f64::NAN),
        );
        out
    }

    /// The worst `n` losing queries of `metric`, one line.
    fn worst(&self, metric: &str, n: usize) -> String {
        let l = &self.losers;
        let col = |c: &str| l.column(c).ok().cloned();
        let (Some(m), Some(q), Some(b), Some(c)) =
            (col("metric"), col(QUERY_ID), col(BASELINE), col(CANDIDATE))
        else {
            return String::new();
        };
        let (Ok(m), Ok(q), Ok(b), Ok(c)) = (m.str(), q.str(), b.f64(), c.f64()) else {
            return String::new();
        };
        let rows: Vec<String> = (0..l.height())
            .filter(|&i| m.get(i) == Some(metric))
            .take(n)
            .map(|i| {
                format!(
                    "\"{}\" {:.4} -> {:.4}",
                    q.get(i).unwrap_or_default(),
                    b.get(i).unwrap_or(f64::NAN),
                    c.get(i).unwrap_or(f64::NAN)
                )
            })
            .collect();
        format!("  worst queries on {metric}: {}\n", rows.join(", "))
    }
}

fn test_name(test: Test) -> &'static str {
    match test {
        Test::Randomization => "randomization",
        Test::TTest => "t-test",
    }
}

fn check_options(o: &GateOptions) -> Result<()> {
    if !(o.alpha > 0.0 && o.alpha < 1.0) {
        return Err(Error::config(
            "alpha",
            format!("must lie in (0, 1), got {}", o.alpha),
        ));
    }
    if o.metrics.is_empty() {
        return Err(Error::config("metrics", "name at least one metric"));
    }
    if !(o.latency_tolerance >= 0.0 && o.latency_tolerance.is_finite()) {
        return Err(Error::config(
            "latency_tolerance",
            format!("must be a finite number ≥ 0, got {}", o.latency_tolerance),
        ));
    }
    check_churn_options(o.churn_depth, o.persistence)
}

/// Compare a candidate run with a baseline run on `qrels` (see the module docs); `latency`
/// adds the latency check.
pub fn check(
    candidate: &DataFrame,
    baseline: &DataFrame,
    qrels: &DataFrame,
    latency: Option<Latency>,
    options: &GateOptions,
    cancel: &Cancel,
) -> Result<GateReport> {
    check_options(options)?;
    if let Some(l) = latency {
        if !(l.candidate >= 0.0 && l.baseline > 0.0) {
            return Err(Error::config(
                "latency",
                format!(
                    "needs a baseline above 0 and a candidate ≥ 0, got {} and {}",
                    l.baseline, l.candidate
                ),
            ));
        }
    }
    let stacked = stack_runs(&[(CANDIDATE, candidate), (BASELINE, baseline)])?;
    let evaluation = evaluate(&stacked, qrels, &options.metrics, &options.eval, cancel)?;
    let compare = CompareOptions {
        baseline: Some(BASELINE.into()),
        correction: Correction::None,
        ..options.compare.clone()
    };
    let metrics: Vec<&str> = options.metrics.iter().map(|m| m.trim()).collect();
    let table = compare_per_query(&evaluation.per_query, &metrics, &compare, cancel)?;
    let summary = summary(&table, options.alpha)?;
    let regressed = summary.column("regression")?.bool()?.any();
    let latency = latency.map(|l| {
        let slower = l.candidate > l.baseline * (1.0 + options.latency_tolerance);
        (l, slower)
    });
    let (losers, new_zeros) = movers(&evaluation.per_query, &metrics)?;
    Ok(GateReport {
        passed: !regressed && !latency.is_some_and(|(_, slower)| slower),
        summary,
        losers,
        new_zeros,
        churn: churn(
            candidate,
            baseline,
            options.churn_depth,
            options.persistence,
        )?,
        latency,
        options: options.clone(),
    })
}

/// The gate's summary from `compare`'s table: one-sided p-values, Holm over the metrics.
fn summary(table: &DataFrame, alpha: f64) -> Result<DataFrame> {
    let delta: Vec<f64> = table
        .column(stat::DELTA)?
        .f64()?
        .into_no_null_iter()
        .collect();
    let two_sided = table.column(stat::P_VALUE)?.f64()?;
    let one_sided: Vec<f64> = two_sided
        .into_no_null_iter()
        .zip(&delta)
        .map(|(p, &d)| if d < 0.0 { p / 2.0 } else { 1.0 - p / 2.0 })
        .collect();
    let adjusted = holm(&one_sided);
    let regression: Vec<bool> = adjusted
        .iter()
        .zip(&delta)
        .map(|(&p, &d)| d < 0.0 && p < alpha)
        .collect();
    let pick = |name: &str| table.column(name).cloned();
    schema::frame(vec![
        pick("metric")?,
        pick("n")?,
        pick(stat::MEAN)?,
        pick(stat::BASELINE_MEAN)?,
        pick(stat::DELTA)?,
        pick(stat::CI_LOW)?,
        pick(stat::CI_HIGH)?,
        Column::new(stat::P_VALUE.into(), one_sided),
        Column::new(stat::P_ADJUSTED.into(), adjusted),
        pick(stat::WINS)?,
        pick(stat::TIES)?,
        pick(stat::LOSSES)?,
        Column::new("regression".into(), regression),
    ])
}

/// The losing queries and the new zeros, per metric, from the per-query table.
fn movers(per_query: &DataFrame, metrics: &[&str]) -> Result<(DataFrame, DataFrame)> {
    const TABLE: &str = "per-query table";
    let runs = schema::str_column(per_query, TABLE, RUN)?;
    let queries = schema::str_column(per_query, TABLE, QUERY_ID)?;
    let mut losers = Movers::default();
    let mut zeros = Movers::default();
    for &metric in metrics {
        let values = schema::f64_column(per_query, TABLE, metric)?;
        // (candidate, baseline) per query, first appearance order; a missing side counts 0.
        let mut pairs: FxHashMap<&str, (f64, f64)> = FxHashMap::default();
        let mut order: Vec<&str> = Vec::new();
        for ((r, q), v) in schema::str_values(runs)
            .zip(schema::str_values(queries))
            .zip(values.into_no_null_iter())
        {
            let e = pairs.entry(q).or_insert_with(|| {
                order.push(q);
                (0.0, 0.0)
            });
            if r == CANDIDATE {
                e.0 = v;
            } else {
                e.1 = v;
            }
        }
        let mut lost: Vec<(&str, f64, f64)> = order
            .iter()
            .map(|q| (*q, pairs[q].0, pairs[q].1))
            .filter(|&(_, c, b)| c < b)
            .collect();
        lost.sort_by(|x, y| (x.1 - x.2).total_cmp(&(y.1 - y.2)).then(x.0.cmp(y.0)));
        for &(q, c, b) in &lost {
            losers.push(metric, q, b, c);
            if c == 0.0 {
                zeros.push(metric, q, b, c);
            }
        }
    }
    Ok((losers.frame(true)?, zeros.frame(false)?))
}

#[derive(Default)]
struct Movers {
    metric: Vec<String>,
    query: Vec<String>,
    baseline: Vec<f64>,
    candidate: Vec<f64>,
}

impl Movers {
    fn push(&mut self, metric: &str, query: &str, baseline: f64, candidate: f64) {
        self.metric.push(metric.to_owned());
        self.query.push(query.to_owned());
        self.baseline.push(baseline);
        self.candidate.push(candidate);
    }

    fn frame(self, with_candidate: bool) -> Result<DataFrame> {
        let mut columns = vec![
            Column::new("metric".into(), self.metric),
            Column::new(QUERY_ID.into(), self.query),
            Column::new(BASELINE.into(), &self.baseline),
        ];
        if with_candidate {
            let delta: Vec<f64> = self
                .candidate
                .iter()
                .zip(&self.baseline)
                .map(|(c, b)| c - b)
                .collect();
            columns.push(Column::new(CANDIDATE.into(), self.candidate));
            columns.push(Column::new(stat::DELTA.into(), delta));
        }
        schema::frame(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rows: &[(&str, &str, f64)]) -> DataFrame {
        df!(
            "query_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "doc_id" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "score" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn bad_options_are_named() {
        let r = run(&[("q", "d", 1.0)]);
        let qrels = df!("query_id" => ["q"], "doc_id" => ["d"], "relevance" => [1i32]).unwrap();
        let name = |o: GateOptions| match check(&r, &r, &qrels, None, &o, crate::cancel::never()) {
            Err(Error::Config { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        let o = GateOptions::default;
        assert_eq!(name(GateOptions { alpha: 1.0, ..o() }), "alpha");
        assert_eq!(
            name(GateOptions {
                metrics: vec![],
                ..o()
            }),
            "metrics"
        );
        assert_eq!(
            name(GateOptions {
                churn_depth: 0,
                ..o()
            }),
            "churn_depth"
        );
        assert_eq!(
            name(GateOptions {
                persistence: 1.0,
                ..o()
            }),
            "persistence"
        );
        let lat = Latency {
            candidate: 1.0,
            baseline: 0.0,
        };
        let err = check(&r, &r, &qrels, Some(lat), &o(), crate::cancel::never());
        assert!(matches!(
            err,
            Err(Error::Config {
                name: "latency",
                ..
            })
        ));
    }

    #[test]
    fn an_equal_run_passes_and_a_slower_one_fails() {
        let r = run(&[("q1", "a", 2.0), ("q1", "b", 1.0), ("q2", "b", 1.0)]);
        let qrels =
            df!("query_id" => ["q1", "q2"], "doc_id" => ["a", "b"], "relevance" => [1i32, 1])
                .unwrap();
        let o = GateOptions::default();
        let report = check(&r, &r, &qrels, None, &o, crate::cancel::never()).unwrap();
        assert!(report.passed);
        assert_eq!(report.losers.height(), 0);
        let slow = Latency {
            candidate: 13.0,
            baseline: 10.0,
        };
        let report = check(&r, &r, &qrels, Some(slow), &o, crate::cancel::never()).unwrap();
        assert!(!report.passed);
        assert_eq!(report.latency, Some((slow, true)));
    }
}
