//! Times `ragplay::eval::evaluate` on the same run with its rows grouped by query and with
//! them shuffled, to show that grouping by (run, query) does not depend on row order.
//!
//! The workload: 5,000 queries × 1,000 distinct documents each (5 M rows, fixed seed), with
//! qrels judging 1-30 retrieved documents per query (grades 0..3, the first one relevant)
//! plus 0-3 documents the run did not retrieve, and the metrics ndcg@10, map, recall@100 and
//! mrr. The shuffled table is the grouped one permuted by a seeded Fisher-Yates shuffle;
//! both must give equal results.
//!
//! Run: `cargo run --example eval_order [-- QUERIES DOCS REPEATS [GRID]]`. The dev profile is fine:
//! Cargo.toml compiles ragplay itself at opt-level 3 in dev (dependencies at opt-level 1).

mod common;

use std::time::Instant;

use common::{shuffled, sizes, summary, timed};

use ragplay::cancel::never;
use ragplay::eval::{evaluate, EvalOptions};
use ragplay::polars::prelude::*;
use ragplay::rng::SplitMix64;

/// Doc ids are `d0000000`..`d9999999`.
const POOL: usize = 10_000_000;
const METRICS: [&str; 4] = ["ndcg@10", "map", "recall@100", "mrr"];

/// The run (grouped by query) and its qrels.
fn workload(
    n_queries: usize,
    n_docs: usize,
    grid: usize,
    rng: &mut SplitMix64,
) -> PolarsResult<(DataFrame, DataFrame)> {
    let rows = n_queries * n_docs;
    let (mut rq, mut rd, mut rs) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    let (mut jq, mut jd, mut jr) = (Vec::new(), Vec::new(), Vec::new());
    for q in 0..n_queries {
        let qid = format!("q{q:05}");
        // Documents (start + j * step) % POOL are distinct for j < POOL: step is coprime
        // with POOL (odd, not a multiple of 5).
        let start = rng.below(POOL);
        let step = rng.below(POOL / 10) * 10 + [1, 3, 7, 9][rng.below(4)];
        let doc = |j: usize| format!("d{:07}", (start + j * step) % POOL);
        let judged = 1 + rng.below(30);
        for j in 0..n_docs {
            // Scores on a 1/GRID grid: with the default 4096, ties are common, as with
            // quantised scores; with 2^24, as rare as with float32 scores.
            let mut score = rng.below(grid) as f64 / grid as f64;
            if j < judged {
                let rel = if j == 0 {
                    1 + rng.below(3)
                } else {
                    rng.below(4)
                };
                score += 0.25 * rel as f64;
                jq.push(qid.clone());
                jd.push(doc(j));
                jr.push(rel as i32);
            }
            rq.push(qid.clone());
            rd.push(doc(j));
            rs.push(score);
        }
        for j in 0..rng.below(4) {
            jq.push(qid.clone());
            jd.push(doc(n_docs + j));
            jr.push(rng.below(4) as i32);
        }
    }
    let run = df!("query_id" => rq, "doc_id" => rd, "score" => rs)?;
    let qrels = df!("query_id" => jq, "doc_id" => jd, "relevance" => jr)?;
    Ok((run, qrels))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let [n_queries, n_docs, repeats] = sizes([5_000, 1_000, 7])?;
    let grid: usize = std::env::args().nth(4).map_or(Ok(4096), |a| a.parse())?;
    let mut rng = SplitMix64::new(42);
    let t0 = Instant::now();
    let (run, qrels) = workload(n_queries, n_docs, grid, &mut rng)?;
    let shuffled_run = shuffled(&run, &mut rng)?;
    println!(
        "workload: {n_queries} queries x {n_docs} docs = {} run rows, {} qrels rows, \
         scores on a 1/{grid} grid (built in {:.1} s); {} rayon threads; metrics {METRICS:?}",
        run.height(),
        qrels.height(),
        t0.elapsed().as_secs_f64(),
        rayon::current_num_threads(),
    );
    let mut results = Vec::new();
    for (label, table) in [("grouped rows", &run), ("shuffled rows", &shuffled_run)] {
        let options = EvalOptions::default();
        let (ms, ev) = timed(repeats, || {
            evaluate(table, &qrels, &METRICS, &options, never())
        })?;
        println!("{label:<14} {}", summary(ms));
        results.push(ev);
    }
    let same = results[0].per_query.equals(&results[1].per_query)
        && results[0].summary.equals(&results[1].summary);
    println!("grouped and shuffled results equal: {same}");
    println!("{}", results[0].summary);
    if !same {
        return Err("grouped and shuffled evaluations differ".into());
    }
    Ok(())
}
