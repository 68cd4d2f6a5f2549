//! The sweep's latency phase: every configuration computed by a sweep is timed after all of
//! them have run, under the same conditions ([`crate::pipeline::latency`]): every index is
//! built by then, nothing else runs, each configuration is warmed up, and each round visits
//! the configurations in a seeded shuffled order, so neither the order of the experiment nor
//! a configuration that built an index just before is visible in another's figures. The first
//! round times every configuration; later rounds (up to [`LatencyOptions::repeats`]) only
//! those whose first round took less than [`LatencyOptions::cheap_s`].

use std::time::Instant;

use polars::prelude::DataFrame;

use crate::cancel::Cancel;
use crate::error::Result;
use crate::pipeline::latency::{self, LatencyOptions, Round, StageLatency};
use crate::pipeline::Pipeline;
use crate::rng::SplitMix64;

/// A configuration to time: its id, label and pipeline.
pub(crate) struct Timed {
    pub id: String,
    pub label: String,
    pub pipeline: Pipeline,
}

/// The latency of each configuration of `timed` (in the same order) on `queries`.
pub(crate) fn time_configs(
    timed: &[Timed],
    queries: &DataFrame,
    options: &LatencyOptions,
    seed: u64,
    cancel: &Cancel,
) -> Result<Vec<Vec<StageLatency>>> {
    let n = timed.len();
    cancel.set_label("latency");
    cancel.start("warm up", n as u64);
    for t in timed {
        latency::warm_up(&t.pipeline, queries, options.warmup, cancel)?;
        cancel.advance(1);
    }
    let mut rounds: Vec<Vec<Round>> = vec![Vec::new(); n];
    let mut cheap = vec![true; n];
    let mut rng = SplitMix64::new(seed);
    for r in 0..options.repeats.max(1) {
        let mut order: Vec<usize> = (0..n).filter(|&i| r == 0 || cheap[i]).collect();
        if order.is_empty() {
            break;
        }
        rng.shuffle(&mut order);
        for i in order {
            let t = &timed[i];
            cancel.set_label(&format!("latency {} (round {})", t.label, r + 1));
            cancel.start("time queries", queries.height() as u64);
            let started = Instant::now();
            let round = latency::time_round(&t.pipeline, queries, cancel, &mut |_, _| Ok(()))?;
            if r == 0 {
                cheap[i] = started.elapsed().as_secs_f64() < options.cheap_s;
            }
            rounds[i].push(round);
        }
    }
    Ok(timed
        .iter()
        .zip(&rounds)
        .map(|(t, r)| latency::summarize(&t.pipeline.stages(), r))
        .collect())
}
