//! Times `ragplay::eval::evaluate` on the same run with its rows grouped by query and with
//! them shuffled, to show that grouping by (run, query) does not depend on row order.
//!
//! The workload: 5,000 queries × 1,000 distinct documents each (5 M rows, fixed seed), with
//! qrels judging 1-30 retrieved documents per query (grades 0..3, the first one relevant)
//! plus 0-3 documents the run did not retrieve, and the metrics ndcg@10, map, recall@100 and
//! mrr. The shuffled table is the grouped one permuted by a seeded Fisher-Yates shuffle;
//! both must give equal results.
//!
//! Run: `cargo run --example eval_order [-- QUERIES DOCS REPEATS]`. The dev profile is fine:
//! Cargo.toml compiles ragplay itself at opt-level 3 in dev (dependencies at opt-level 1).

use std::time::Instant;

use ragplay::cancel::never;
use ragplay::eval::{evaluate, EvalOptions};
use ragplay::polars::prelude::*;

/// Doc ids are `d0000000`..`d9999999`.
const POOL: u64 = 10_000_000;
const METRICS: [&str; 4] = ["ndcg@10", "map", "recall@100", "mrr"];

/// SplitMix64: a small seeded generator, enough for a synthetic workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// The run (grouped by query) and its qrels.
fn workload(
    n_queries: usize,
    n_docs: usize,
    rng: &mut Rng,
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
        let step = rng.below(POOL / 10) * 10 + [1, 3, 7, 9][rng.below(4) as usize];
        let doc = |j: u64| format!("d{:07}", (start + j * step) % POOL);
        let judged = 1 + rng.below(30) as usize;
        for j in 0..n_docs {
            // Scores on a 1/4096 grid: ties are common, as with quantised scores.
            let mut score = rng.below(4096) as f64 / 4096.0;
            if j < judged {
                let rel = if j == 0 {
                    1 + rng.below(3)
                } else {
                    rng.below(4)
                };
                score += 0.25 * rel as f64;
                jq.push(qid.clone());
                jd.push(doc(j as u64));
                jr.push(rel as i32);
            }
            rq.push(qid.clone());
            rd.push(doc(j as u64));
            rs.push(score);
        }
        for j in 0..rng.below(4) {
            jq.push(qid.clone());
            jd.push(doc((n_docs as u64) + j));
            jr.push(rng.below(4) as i32);
        }
    }
    let run = df!("query_id" => rq, "doc_id" => rd, "score" => rs)?;
    let qrels = df!("query_id" => jq, "doc_id" => jd, "relevance" => jr)?;
    Ok((run, qrels))
}

/// The rows of `df` in a seeded random order.
fn shuffled(df: &DataFrame, rng: &mut Rng) -> PolarsResult<DataFrame> {
    let mut order: Vec<IdxSize> = (0..df.height() as IdxSize).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    df.take(&IdxCa::from_vec("order".into(), order))
}

/// Seconds of each of `repeats` calls of `evaluate`, and the last result.
fn time_evaluate(
    run: &DataFrame,
    qrels: &DataFrame,
    repeats: usize,
) -> ragplay::Result<(Vec<f64>, ragplay::eval::Evaluation)> {
    let mut seconds = Vec::with_capacity(repeats);
    let mut last = None;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let ev = evaluate(run, qrels, &METRICS, &EvalOptions::default(), never())?;
        seconds.push(t0.elapsed().as_secs_f64());
        last = Some(ev);
    }
    last.map(|ev| (seconds, ev))
        .ok_or_else(|| ragplay::Error::config("repeats", "must be at least 1"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let n_queries = args.first().copied().unwrap_or(5_000);
    let n_docs = args.get(1).copied().unwrap_or(1_000);
    let repeats = args.get(2).copied().unwrap_or(7);
    let mut rng = Rng(42);
    let t0 = Instant::now();
    let (run, qrels) = workload(n_queries, n_docs, &mut rng)?;
    let shuffled_run = shuffled(&run, &mut rng)?;
    println!(
        "workload: {n_queries} queries x {n_docs} docs = {} run rows, {} qrels rows \
         (built in {:.1} s); {} rayon threads; metrics {METRICS:?}",
        run.height(),
        qrels.height(),
        t0.elapsed().as_secs_f64(),
        rayon::current_num_threads(),
    );
    let mut results = Vec::new();
    for (label, table) in [("grouped rows", &run), ("shuffled rows", &shuffled_run)] {
        let (mut seconds, ev) = time_evaluate(table, &qrels, repeats)?;
        let first = seconds[0];
        seconds.sort_by(f64::total_cmp);
        println!(
            "{label:<14} first {:>7.1} ms  best {:>7.1} ms  median {:>7.1} ms  ({repeats} calls)",
            first * 1e3,
            seconds[0] * 1e3,
            seconds[seconds.len() / 2] * 1e3,
        );
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
