//! Times `ragplay::fuse::fuse` on the workload of `benches/bench_fuse.py`, in Rust alone, so
//! that where the time goes can be profiled without Python around it.
//!
//! The workload: two runs of QUERIES × DOCS rows (fixed seed); for each query run `a` holds
//! documents `0..DOCS` and run `b` documents `DOCS/2..DOCS/2+DOCS`, each with distinct random
//! scores. Both runs are fused with RRF (k = 60) and with CombSUM over min-max scores,
//! keeping every document, first with each query's rows together and then with the rows of
//! both runs shuffled; both orders must give the same fused rows. The last line times the
//! sorts alone that any exact RRF of this workload makes (each run's scores per query, and
//! the fused list), a floor under RRF's time on this machine.
//!
//! Run: `cargo run --release --example fuse_runs [-- QUERIES DOCS REPEATS]`.

mod common;

use std::time::Instant;

use common::{shuffled, sizes, summary, timed};
use ragplay::cancel::never;
use ragplay::fuse::{fuse, FuseOptions, Method, Norm};
use ragplay::polars::prelude::*;
use ragplay::rng::SplitMix64;

/// The two runs, each query's rows together.
fn workload(n_queries: usize, n_docs: usize, rng: &mut SplitMix64) -> PolarsResult<[DataFrame; 2]> {
    let width = (n_docs + n_docs / 2).to_string().len();
    let make = |offset: usize, rng: &mut SplitMix64| {
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
                s.push((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64);
            }
        }
        df!("query_id" => q, "doc_id" => d, "score" => s)
    };
    Ok([make(0, rng)?, make(n_docs / 2, rng)?])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let [n_queries, n_docs, repeats] = sizes([1_000, 1_000, 7])?;
    let mut rng = SplitMix64::new(42);
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
    let mut rrf = None;
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
            let named = [("a", &runs[0]), ("b", &runs[1])];
            let (ms, run) = timed(repeats, || fuse(&named, &options, never()))?;
            println!("{label:<16} {rows:<9} {}", summary(ms));
            if method == Method::Rrf && rows == "grouped" {
                rrf = Some(run.clone());
            }
            fused.push(run);
        }
        // Queries come in order of first appearance, which the shuffle changes.
        let by_query =
            |df: &DataFrame| df.sort(["query_id", "rank"], SortMultipleOptions::default());
        if !by_query(&fused[0])?.equals(&by_query(&fused[1])?) {
            return Err(format!("{label}: grouped and shuffled rows fuse differently").into());
        }
    }
    let rrf = rrf.ok_or("no RRF run")?;
    let ms = sorting_floor(&[&grouped[0], &grouped[1], &rrf], n_queries, repeats)?;
    println!("RRF's sorts alone         {}", summary(ms));
    Ok(())
}

/// The sorts that any exact RRF of this workload makes: each run's scores for each query
/// (the runs list them in random order) and the fused list, each sorted as `u64` keys with
/// the standard library's `sort_unstable`, queries in parallel: milliseconds per repeat.
/// The lists are copied out of the tables beforehand, untimed; a query's rows are
/// contiguous in each table, in equal numbers.
fn sorting_floor(
    tables: &[&DataFrame],
    n_queries: usize,
    repeats: usize,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    use ragplay::run::order::score_key;
    use rayon::prelude::*;
    let mut lists: Vec<Vec<Vec<u64>>> = vec![Vec::new(); n_queries];
    for table in tables {
        let scores: Vec<u64> = table
            .column("score")?
            .f64()?
            .into_no_null_iter()
            .map(score_key)
            .collect();
        for (q, list) in scores.chunks(scores.len() / n_queries).enumerate() {
            lists[q].push(list.to_vec());
        }
    }
    Ok(timed(repeats, || {
        lists.par_iter().for_each_init(Vec::new, |buf, query| {
            for list in query {
                buf.clear();
                buf.extend_from_slice(list);
                buf.sort_unstable();
            }
        });
        Ok(())
    })?
    .0)
}
