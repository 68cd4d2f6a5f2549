//! Per-query latency that can be compared between configurations.
//!
//! A service answers one query per request, so latency is measured on queries run one at a
//! time through every stage. To make two configurations' figures comparable, every one is
//! measured the same way, and the measurement says how much it varies:
//!
//! 1. **Warm-up**: the first [`LatencyOptions::warmup`] queries run untimed, so first-call
//!    costs (allocations, page faults, lazily built tables) are not counted.
//! 2. **Rounds**: every query is timed once per round; a query's time in each stage is the
//!    median over the rounds (a lone slow round, another process waking up, does not move it).
//! 3. **Statistics**: over the queries, per stage and in total, the mean and the 25th, 50th,
//!    75th, 95th and 99th percentiles (linear interpolation between order statistics, Hyndman
//!    & Fan 1996 definition 7, numpy's default). The interquartile range `p75 - p25` is the
//!    spread that goes with the median.
//!
//! The sweep ([`crate::lab`]) times its configurations after it has built every index, each
//! round in a seeded shuffled order, so no configuration pays for another's work and slow
//! drift of the machine falls on all of them alike.

use serde::{Deserialize, Serialize};

use super::{Pipeline, StageRun};
use crate::cancel::Cancel;
use crate::error::Result;

/// How latency is measured (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyOptions {
    /// Queries run untimed before the first round.
    pub warmup: usize,
    /// Rounds at most.
    pub repeats: usize,
    /// Rounds after the first are run only when the first took less than this many seconds
    /// (repeats where they are cheap).
    pub cheap_s: f64,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        Self {
            warmup: 5,
            repeats: 3,
            cheap_s: 1.0,
        }
    }
}

/// One stage's latency over the queries, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageLatency {
    pub stage: String,
    pub mean_ms: f64,
    /// The 25th percentile (older stores: not recorded).
    #[serde(default = "nan")]
    pub p25_ms: f64,
    pub p50_ms: f64,
    /// The 75th percentile (older stores: not recorded).
    #[serde(default = "nan")]
    pub p75_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Timed rounds each query's time is the median of (older stores: 1).
    #[serde(default = "one")]
    pub repeats: usize,
}

fn nan() -> f64 {
    f64::NAN
}

fn one() -> usize {
    1
}

/// One round's seconds: `[stage][query]`, the last row the total over the stages.
pub type Round = Vec<Vec<f64>>;

/// Run every query of `queries` alone through `pipeline`, timing each stage; `each` sees the
/// stage runs of every query (in order).
pub(crate) fn time_round(
    pipeline: &Pipeline,
    queries: &polars::prelude::DataFrame,
    cancel: &Cancel,
    each: &mut dyn FnMut(usize, &[StageRun]) -> Result<()>,
) -> Result<Round> {
    let stages = pipeline.stages().len();
    let mut seconds: Round = vec![Vec::with_capacity(queries.height()); stages + 1];
    // The stages report progress on their own token; the caller's counts queries.
    let inner = cancel.child();
    for i in 0..queries.height() {
        cancel.check()?;
        let one = queries.slice(i as i64, 1);
        let mut runs: Vec<StageRun> = Vec::with_capacity(stages);
        pipeline.run_stages(&one, None, true, &inner, &mut |s| runs.push(s))?;
        for (s, run) in runs.iter().enumerate() {
            seconds[s].push(run.seconds);
        }
        seconds[stages].push(runs.iter().map(|r| r.seconds).sum());
        each(i, &runs)?;
        cancel.advance(1);
    }
    Ok(seconds)
}

/// Run the first `n` queries untimed.
pub(crate) fn warm_up(
    pipeline: &Pipeline,
    queries: &polars::prelude::DataFrame,
    n: usize,
    cancel: &Cancel,
) -> Result<()> {
    let inner = cancel.child();
    for i in 0..n.min(queries.height()) {
        cancel.check()?;
        let one = queries.slice(i as i64, 1);
        pipeline.run_stages(&one, None, false, &inner, &mut |_| {})?;
    }
    Ok(())
}

/// The statistics of `rounds` (each `[stage][query]` seconds, the same shape), stages named
/// by `stages` and then `total`: each query's median over the rounds, then the mean and
/// percentiles over the queries, in milliseconds.
pub fn summarize(stages: &[String], rounds: &[Round]) -> Vec<StageLatency> {
    let names = stages.iter().map(String::as_str).chain(["total"]);
    names
        .enumerate()
        .map(|(s, name)| {
            let queries = rounds.first().map_or(0, |r| r[s].len());
            let mut per_query: Vec<f64> = (0..queries)
                .map(|q| {
                    let mut times: Vec<f64> = rounds.iter().map(|r| r[s][q] * 1e3).collect();
                    times.sort_by(f64::total_cmp);
                    percentile(&times, 50.0)
                })
                .collect();
            per_query.sort_by(f64::total_cmp);
            let at = |q: f64| percentile(&per_query, q);
            StageLatency {
                stage: name.to_owned(),
                mean_ms: per_query.iter().sum::<f64>() / per_query.len().max(1) as f64,
                p25_ms: at(25.0),
                p50_ms: at(50.0),
                p75_ms: at(75.0),
                p95_ms: at(95.0),
                p99_ms: at(99.0),
                repeats: rounds.len(),
            }
        })
        .collect()
}

/// The `q`-th percentile (0–100) of sorted values, linearly interpolated; NaN when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    crate::eval::stats::quantile_sorted(sorted, q / 100.0)
}

/// The measurement columns of a latency table, one row per record: `repeats`, `mean_ms`,
/// `p25_ms`, `p50_ms`, `p75_ms`, `p95_ms`, `p99_ms`.
pub fn latency_columns<'a>(
    latency: impl Iterator<Item = &'a StageLatency> + Clone,
) -> Vec<polars::prelude::Column> {
    use polars::prelude::Column;
    let f = |pick: fn(&StageLatency) -> f64| latency.clone().map(pick).collect::<Vec<f64>>();
    vec![
        Column::new(
            "repeats".into(),
            latency
                .clone()
                .map(|l| l.repeats as u32)
                .collect::<Vec<_>>(),
        ),
        Column::new("mean_ms".into(), f(|l| l.mean_ms)),
        Column::new("p25_ms".into(), f(|l| l.p25_ms)),
        Column::new("p50_ms".into(), f(|l| l.p50_ms)),
        Column::new("p75_ms".into(), f(|l| l.p75_ms)),
        Column::new("p95_ms".into(), f(|l| l.p95_ms)),
        Column::new("p99_ms".into(), f(|l| l.p99_ms)),
    ]
}

/// The latency table of `latency`: `stage`, `queries`, then [`latency_columns`].
pub fn latency_frame(
    latency: &[StageLatency],
    queries: usize,
) -> Result<polars::prelude::DataFrame> {
    use polars::prelude::Column;
    let mut columns = vec![
        Column::new(
            "stage".into(),
            latency.iter().map(|l| l.stage.as_str()).collect::<Vec<_>>(),
        ),
        Column::new("queries".into(), vec![queries as u32; latency.len()]),
    ];
    columns.extend(latency_columns(latency.iter()));
    crate::data::schema::frame(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], [50, 95, 99]) = 2.5, 3.85, 3.97
        let v = [1.0, 2.0, 3.0, 4.0];
        for (q, want) in [
            (50.0, 2.5),
            (95.0, 3.85),
            (99.0, 3.97),
            (0.0, 1.0),
            (100.0, 4.0),
            (25.0, 1.75),
        ] {
            assert!((percentile(&v, q) - want).abs() < 1e-12, "{q}");
        }
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn a_query_counts_its_median_round() {
        // One stage, three queries, three rounds; round 2 is slow for every query.
        let rounds: Vec<Round> = vec![
            vec![vec![0.001, 0.002, 0.003], vec![0.001, 0.002, 0.003]],
            vec![vec![0.100, 0.100, 0.100], vec![0.100, 0.100, 0.100]],
            vec![vec![0.002, 0.003, 0.004], vec![0.002, 0.003, 0.004]],
        ];
        let stats = summarize(&["bm25".to_owned()], &rounds);
        assert_eq!(stats.len(), 2);
        assert_eq!(stats[1].stage, "total");
        // Medians per query: 2, 3, 4 ms; numpy.percentile([2, 3, 4], [25, 50, 75]).
        let s = &stats[0];
        assert!((s.p50_ms - 3.0).abs() < 1e-9);
        assert!((s.p25_ms - 2.5).abs() < 1e-9);
        assert!((s.p75_ms - 3.5).abs() < 1e-9);
        assert!((s.mean_ms - 3.0).abs() < 1e-9);
        assert_eq!(s.repeats, 3);
    }
}
