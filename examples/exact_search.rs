//! Times the exact scan of `ragplay::retrieve::vectors` on the workload of
//! `benches/bench_vectors.py` (top-10 of 1,000 queries over DOCS clustered unit vectors of
//! 384 values), in Rust alone, so that where the time goes (the matrix products, the top-k
//! buffers) can be profiled without Python around it. Each storage is timed REPEATS times,
//! and the rate of the products is printed in GFLOP/s (2 · queries · docs · 384 per search).
//!
//! Run: `cargo run --release --example exact_search [-- DOCS REPEATS]`.

mod common;

use common::{clustered, sizes, summary, timed};
use ragplay::cancel::never;
use ragplay::retrieve::vectors::{Storage, VectorOptions, VectorStore};

const DIM: usize = 384;
const QUERIES: usize = 1000;
const K: usize = 10;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let [n_docs, repeats, _] = sizes([100_000, 5, 0])?;
    let (docs, queries) = clustered(n_docs, QUERIES, DIM);
    let ids: Vec<String> = (0..n_docs).map(|i| format!("d{i}")).collect();
    for storage in [Storage::F32, Storage::F16, Storage::Int8] {
        let options = VectorOptions {
            storage,
            ..VectorOptions::default()
        };
        let mut store = VectorStore::new(DIM, options)?;
        store.add(ids.clone(), &docs, never())?;
        let (ms, hits) = timed(repeats, || store.search(&queries, K, None, never()))?;
        assert_eq!(hits.len(), QUERIES);
        let best = ms.iter().copied().fold(f64::INFINITY, f64::min);
        let gflop = 2.0 * (QUERIES * n_docs * DIM) as f64 / 1e9;
        println!(
            "{storage:?} {n_docs} x {DIM}, {QUERIES} queries, {} threads: {:>5.1} GFLOP/s  {}",
            rayon::current_num_threads(),
            gflop / (best / 1e3),
            summary(ms)
        );
    }
    Ok(())
}
