//! Times the HNSW graph of `ragplay::retrieve::hnsw` on the workload of
//! `benches/bench_vectors.py`, in Rust alone, so that where build and search time goes can be
//! profiled without Python around it.
//!
//! The workload: DOCS unit vectors of 384 values around 1,000 gaussian cluster centres and
//! 1,000 queries drawn the same way (fixed seed). The graph is built with m = 16 and
//! ef_construction = 200 on rayon's pool, then each `ef_search` of a sweep searches every
//! query (in parallel) REPEATS times; recall@10 is measured against a brute-force scan, and
//! the vectors scored per query are counted (the memory a search reads).
//! With a fourth argument, the built graph is written to (or, when it exists, read from) that
//! file, so that search can be profiled without building again.
//!
//! Run: `cargo run --release --example hnsw_search [-- DOCS REPEATS EFS_MAX [GRAPH_FILE]]`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::{clustered, sizes, summary, timed};
use ragplay::cancel::never;
use ragplay::retrieve::hnsw::{F32Space, Hnsw, HnswParams, Space};
use ragplay::retrieve::kernels::dot;
use rayon::prelude::*;

const DIM: usize = 384;
const K: usize = 10;

/// A space that counts the scores computed for queries (the vectors a search reads).
struct Counting<'a> {
    inner: F32Space<'a>,
    scores: AtomicUsize,
}

impl Space for Counting<'_> {
    type Query = Vec<f32>;

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn prepare(&self, query: &[f32]) -> Vec<f32> {
        self.inner.prepare(query)
    }

    fn score(&self, query: &Vec<f32>, row: u32) -> f32 {
        self.scores.fetch_add(1, Ordering::Relaxed);
        self.inner.score(query, row)
    }

    fn score_rows(&self, a: u32, b: u32) -> f32 {
        self.inner.score_rows(a, b)
    }
}

/// The ids of the exact top `K` of each query.
fn truth(docs: &[f32], queries: &[f32]) -> Vec<Vec<u32>> {
    queries
        .par_chunks(DIM)
        .map(|q| {
            let mut s: Vec<(f32, u32)> = docs
                .chunks(DIM)
                .enumerate()
                .map(|(i, d)| (dot(q, d), i as u32))
                .collect();
            s.select_nth_unstable_by(K, |a, b| b.0.total_cmp(&a.0));
            s[..K].iter().map(|x| x.1).collect()
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let [n_docs, repeats, ef_max] = sizes([100_000, 5, 128])?;
    let file = std::env::args().nth(4);
    let (docs, queries) = clustered(n_docs, 1000, DIM);
    let space = F32Space {
        vectors: &docs,
        dim: DIM,
    };
    let params = HnswParams {
        m: 16,
        ef_construction: 200,
        ..HnswParams::default()
    };
    let stored = file.as_ref().and_then(|f| std::fs::read(f).ok());
    let mut graph = match stored.and_then(|b| Hnsw::read_from(&b, n_docs).ok()) {
        Some(g) => {
            println!("graph read from {}", file.as_deref().unwrap_or(""));
            g
        }
        None => {
            let mut g = Hnsw::new(params)?;
            let t0 = Instant::now();
            g.insert(&space, never())?;
            println!(
                "build {n_docs} x {DIM}, {} threads: {:.2} s",
                rayon::current_num_threads(),
                t0.elapsed().as_secs_f64()
            );
            if let Some(f) = &file {
                let mut out = Vec::new();
                g.write_to(&mut out);
                std::fs::write(f, out)?;
            }
            g
        }
    };
    let truth = truth(&docs, &queries);
    let prepared: Vec<Vec<f32>> = queries.chunks(DIM).map(|q| space.prepare(q)).collect();
    for ef in [10, 16, 24, 32, 48, 64, 96, 128]
        .into_iter()
        .filter(|&e| e <= ef_max)
    {
        graph.set_ef_search(ef)?;
        let search = || -> ragplay::Result<Vec<Vec<(u32, f32)>>> {
            Ok(prepared
                .par_iter()
                .map(|q| graph.search(&space, q, K, None))
                .collect())
        };
        let (ms, hits) = timed(repeats, search)?;
        let found: usize = hits
            .iter()
            .zip(&truth)
            .map(|(h, t)| h.iter().filter(|(r, _)| t.contains(r)).count())
            .sum();
        let best = ms.iter().copied().fold(f64::INFINITY, f64::min);
        let counting = Counting {
            inner: space,
            scores: AtomicUsize::new(0),
        };
        prepared.par_iter().for_each(|q| {
            graph.search(&counting, q, K, None);
        });
        println!(
            "ef {ef:>3}  recall {:.4}  {:>4} scores/query  {:>7.0} q/s  {}",
            found as f64 / (K * truth.len()) as f64,
            counting.scores.load(Ordering::Relaxed) / prepared.len(),
            1e3 * prepared.len() as f64 / best,
            summary(ms)
        );
    }
    Ok(())
}
