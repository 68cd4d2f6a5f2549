//! Times `ragplay::fuse::fuse` on the workload of `benches/bench_fuse.py`, in Rust alone, so
//! that where the time goes can be profiled without Python around it.
//!
//! The workload: two runs of QUERIES × DOCS rows (fixed seed); for each query run `a` holds
//! documents `0..DOCS` and run `b` documents `DOCS/2..DOCS/2+DOCS`, each with distinct random
//! scores. Both runs are fused with RRF (k = 60) and with CombSUM over min-max scores,
//! keeping every document, first with each query's rows together and then with the rows of
//! both runs shuffled; both orders must give the same fused rows.
//!
//! Run: `cargo run --release --example fuse_runs [-- QUERIES DOCS REPEATS]`.

use std::time::Instant;

use ragplay::cancel::never;
use ragplay::fuse::{fuse, FuseOptions, Method, Norm};
use ragplay::polars::prelude::*;

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

/// The two runs, each query's rows together.
fn workload(n_queries: usize, n_docs: usize, rng: &mut Rng) -> PolarsResult<[DataFrame; 2]> {
    let width = (n_docs + n_docs / 2).to_string().len();
    let make = |offset: usize, rng: &mut Rng| {
        let rows = n_queries * n_docs;
        let (mut q, mut d, mut s) = (
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
        );
        for query in 0..n_queries {
            for doc in offset..offset + n_docs {
                q.push(format!("q{query}"));
                d.push(format!("d{doc:0width$}"));
                // Distinct scores: a random permutation's position would do; random 53-bit
                // fractions collide with negligible probability.
                s.push((rng.next() >> 11) as f64 / (1u64 << 53) as f64);
            }
        }
        df!("query_id" => q, "doc_id" => d, "score" => s)
    };
    Ok([make(0, rng)?, make(n_docs / 2, rng)?])
}

/// The rows of `df` in a seeded random order.
fn shuffled(df: &DataFrame, rng: &mut Rng) -> PolarsResult<DataFrame> {
    let mut order: Vec<IdxSize> = (0..df.height() as IdxSize).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    df.take(&IdxCa::from_vec("order".into(), order))
}

/// Milliseconds of each of `repeats` fusions, and the last fused run.
fn time_fuse(
    runs: &[DataFrame; 2],
    options: &FuseOptions,
    repeats: usize,
) -> ragplay::Result<(Vec<f64>, DataFrame)> {
    let named = [("a", &runs[0]), ("b", &runs[1])];
    let mut ms = Vec::with_capacity(repeats);
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        let fused = fuse(&named, options, never())?;
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        last = Some(fused);
    }
    last.map(|f| (ms, f))
        .ok_or_else(|| ragplay::Error::config("repeats", "must be at least 1"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let n_queries = args.first().copied().unwrap_or(1_000);
    let n_docs = args.get(1).copied().unwrap_or(1_000);
    let repeats = args.get(2).copied().unwrap_or(7);
    let mut rng = Rng(42);
    let t0 = Instant::now();
    let grouped = workload(n_queries, n_docs, &mut rng)?;
    let shuffled_runs = [
        shuffled(&grouped[0], &mut rng)?,
        shuffled(&grouped[1], &mut rng)?,
    ];
    println!(
        "workload: 2 runs x {n_queries} queries x {n_docs} docs (built in {:.1} s); \
         {} rayon threads",
        t0.elapsed().as_secs_f64(),
        rayon::current_num_threads(),
    );
    for (label, method, norm) in [
        ("RRF (k=60)", Method::Rrf, Norm::None),
        ("CombSUM min-max", Method::CombSum, Norm::MinMax),
    ] {
        let options = FuseOptions {
            method,
            norm: Some(norm),
            k: None,
            ..FuseOptions::default()
        };
        let mut fused = Vec::new();
        for (rows, runs) in [("grouped", &grouped), ("shuffled", &shuffled_runs)] {
            let (mut ms, run) = time_fuse(runs, &options, repeats)?;
            let first = ms[0];
            ms.sort_by(f64::total_cmp);
            println!(
                "{label:<16} {rows:<9} first {first:>7.1} ms  best {:>7.1} ms  median {:>7.1} ms",
                ms[0],
                ms[ms.len() / 2],
            );
            fused.push(run);
        }
        // Queries come in order of first appearance, which the shuffle changes.
        let by_query =
            |df: &DataFrame| df.sort(["query_id", "rank"], SortMultipleOptions::default());
        if !by_query(&fused[0])?.equals(&by_query(&fused[1])?) {
            return Err(format!("{label}: grouped and shuffled rows fuse differently").into());
        }
    }
    Ok(())
}
