//! The vector store and pipelines without Python: hand-computed rankings with ties, quantised
//! storage against the exact scan, HNSW against brute force, tombstones, the byte format, and
//! a BM25 pipeline against the same calls made by hand.

use std::sync::Arc;

use ragplay::cancel::never;
use ragplay::fuse::{fuse, FuseOptions, Method};
use ragplay::pipeline::Pipeline;
use ragplay::polars::prelude::*;
use ragplay::retrieve::{self as retrieve, SharedRetriever};
use ragplay::retrieve::{
    Bm25, Bm25Config, HnswParams, Retriever, Storage, Variant, VectorOptions, VectorStore,
};
use ragplay::rng::SplitMix64;

/// Deterministic pseudo-random values in [-0.5, 0.5).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
        .collect()
}

/// Brute force in f64: the best `k` `(row, score)` of a query, ties by id descending (signed
/// zeros tie, as in the run order).
fn brute(q: &[f32], docs: &[f32], ids: &[String], k: usize) -> Vec<(usize, f64)> {
    let dim = q.len();
    let mut all: Vec<(usize, f64)> = docs
        .chunks(dim)
        .map(|d| q.iter().zip(d).map(|(a, b)| *a as f64 * *b as f64).sum())
        .enumerate()
        .collect();
    let zero = |x: f64| if x == 0.0 { 0.0 } else { x };
    all.sort_by(|a, b| {
        zero(b.1)
            .total_cmp(&zero(a.1))
            .then_with(|| ids[b.0].cmp(&ids[a.0]))
    });
    all.truncate(k);
    all
}

fn store(dim: usize, storage: Storage, hnsw: Option<HnswParams>) -> VectorStore {
    let options = VectorOptions {
        storage,
        hnsw,
        ..VectorOptions::default()
    };
    VectorStore::new(dim, options).unwrap()
}

#[test]
fn ties_fall_to_the_larger_id_in_every_storage() {
    // Four documents with the same score for the query, two better ones.
    let docs = [1.0, 0.0, 1.0, 0.0, 2.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0];
    let ids: Vec<String> = ["b", "a", "z", "c", "y", "d"].map(String::from).to_vec();
    for storage in [Storage::F32, Storage::F16, Storage::Int8] {
        let mut s = store(2, storage, None);
        s.add(ids.clone(), &docs, never()).unwrap();
        let hits = s.search(&[1.0, 0.5], 4, None, never()).unwrap();
        let got: Vec<&str> = hits[0].iter().map(|&(r, _)| s.id(r)).collect();
        assert_eq!(got, ["z", "y", "d", "c"], "{storage:?}");
        assert_eq!(hits[0][0].1, 2.0);
    }
}

#[test]
fn the_exact_scan_keeps_ties_across_query_and_document_blocks() {
    // Small integer vectors: scores are exact integers with thousands of ties, so the cut at
    // k falls inside a tie in nearly every query. 1,100 queries make query blocks whose size
    // is not a multiple of the kernel's rows, and 3,000 documents many document blocks; the
    // first scores a scan sees are its worst, so its floor rises all the way through.
    let (dim, n, nq, k) = (4, 3000, 1100, 25);
    let level = |v: f32| (v * 6.0).round();
    let mut docs: Vec<f32> = values(n * dim, 3).into_iter().map(level).collect();
    for (row, d) in docs.chunks_mut(dim).enumerate().take(n / 2) {
        d.iter_mut()
            .for_each(|x| *x = -(x.abs()) - (row % 3) as f32);
    }
    let queries: Vec<f32> = values(nq * dim, 4).into_iter().map(level).collect();
    let ids: Vec<String> = (0..n).map(|i| format!("d{:05}", (i * 7919) % n)).collect();
    let mut s = store(dim, Storage::F32, None);
    s.add(ids.clone(), &docs, never()).unwrap();
    let deleted: Vec<String> = ids.iter().step_by(7).cloned().collect();
    s.delete(&deleted).unwrap();
    let live: Vec<usize> = (0..n).filter(|i| i % 7 != 0).collect();
    let live_docs: Vec<f32> = live
        .iter()
        .flat_map(|&i| docs[i * dim..][..dim].to_vec())
        .collect();
    let live_ids: Vec<String> = live.iter().map(|&i| ids[i].clone()).collect();
    let hits = s.search(&queries, k, None, never()).unwrap();
    assert_eq!(hits.len(), nq);
    for (q, got) in queries.chunks(dim).zip(&hits) {
        let want: Vec<(String, f64)> = brute(q, &live_docs, &live_ids, k)
            .into_iter()
            .map(|(r, score)| (live_ids[r].clone(), score))
            .collect();
        let got: Vec<(String, f64)> = got
            .iter()
            .map(|&(r, v)| (s.id(r).to_owned(), v as f64))
            .collect();
        assert_eq!(got, want, "query {q:?}");
    }
}

#[test]
fn quantised_storage_rescored_equals_the_exact_scan() {
    let (dim, n) = (48, 4000);
    let docs = values(n * dim, 1);
    let queries = values(40 * dim, 2);
    let ids: Vec<String> = (0..n).map(|i| format!("d{:05}", (i * 7919) % n)).collect();
    for storage in [Storage::F32, Storage::F16, Storage::Int8] {
        let mut s = store(dim, storage, None);
        s.add(ids.clone(), &docs, never()).unwrap();
        let hits = s.search(&queries, 10, None, never()).unwrap();
        for (q, got) in queries.chunks(dim).zip(&hits) {
            let want = brute(q, &docs, &ids, 10);
            let rows: Vec<usize> = got.iter().map(|h| h.0 as usize).collect();
            assert_eq!(
                rows,
                want.iter().map(|w| w.0).collect::<Vec<_>>(),
                "{storage:?}"
            );
            for (g, w) in got.iter().zip(&want) {
                assert!((g.1 as f64 - w.1).abs() < 1e-5, "{storage:?}");
            }
        }
    }
}

/// The HNSW tests' data: 5,000 documents and 50 queries of 32 values, with ids "0".."4999".
fn graph_rows() -> (usize, Vec<f32>, Vec<f32>, Vec<String>) {
    let (dim, n) = (32, 5000);
    let ids = (0..n).map(|i| i.to_string()).collect();
    (dim, values(n * dim, 3), values(50 * dim, 4), ids)
}

#[test]
fn hnsw_navigating_quantised_rows_returns_exact_scores() {
    let (dim, docs, queries, ids) = graph_rows();
    for storage in [Storage::F16, Storage::Int8] {
        let mut s = store(dim, storage, Some(HnswParams::default()));
        s.add(ids.clone(), &docs, never()).unwrap();
        let report = s.recall_report(&queries, 10, never()).unwrap();
        assert!(report.recall >= 0.98, "{storage:?}: {report:?}");
        let hits = s.search(&queries, 10, None, never()).unwrap();
        let mut found = 0;
        for (q, got) in queries.chunks(dim).zip(&hits) {
            let want = brute(q, &docs, &ids, 10);
            found += got
                .iter()
                .filter(|g| want.iter().any(|w| w.0 == g.0 as usize))
                .count();
            // Every score is the full-precision product, not the quantised one.
            for &(row, score) in got {
                let exact: f64 = q
                    .iter()
                    .zip(&docs[row as usize * dim..][..dim])
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum();
                assert!((score as f64 - exact).abs() < 1e-5, "{storage:?}");
            }
            assert!(got.windows(2).all(|w| w[0].1 >= w[1].1), "{storage:?}");
        }
        assert!(found >= 490, "{storage:?}: {found} of 500");
    }
}

#[test]
fn small_quantised_graphs_are_searched_exactly() {
    // Near copies of one vector: their differences (1e-3 of a value) are finer than an int8
    // or f16 step, so only the full-precision vectors rank them.
    let (dim, n) = (16, 60);
    let base = values(dim, 7);
    let jitter = values(n * dim, 8);
    let docs: Vec<f32> = (0..n * dim)
        .map(|i| base[i % dim] + 1e-3 * jitter[i])
        .collect();
    let queries = values(20 * dim, 9);
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    for storage in [Storage::F16, Storage::Int8] {
        let mut s = store(dim, storage, Some(HnswParams::default()));
        s.add(ids.clone(), &docs, never()).unwrap();
        // A graph of at most ef_search rows is scanned whole and every row rescored.
        let hits = s.search(&queries, 5, None, never()).unwrap();
        for (q, got) in queries.chunks(dim).zip(&hits) {
            let want: Vec<usize> = brute(q, &docs, &ids, 5).iter().map(|w| w.0).collect();
            let got: Vec<usize> = got.iter().map(|g| g.0 as usize).collect();
            assert_eq!(got, want, "{storage:?}");
        }
    }
}

#[test]
fn hnsw_finds_the_exact_neighbours_and_respects_tombstones_and_bytes() {
    let (dim, docs, queries, ids) = graph_rows();
    let n = ids.len();
    let mut s = store(dim, Storage::F32, Some(HnswParams::default()));
    s.add(ids.clone(), &docs, never()).unwrap();
    let report = s.recall_report(&queries, 10, never()).unwrap();
    assert!(report.recall >= 0.98, "{report:?}");
    let gone: Vec<String> = (0..n).step_by(2).map(|i| i.to_string()).collect();
    s.delete(&gone).unwrap();
    assert_eq!((s.len(), s.rows()), (n / 2, n));
    let hits = s.search(&queries, 10, None, never()).unwrap();
    assert!(hits.iter().flatten().all(|&(r, _)| r % 2 == 1));
    let dir = tempfile::tempdir().unwrap();
    s.save(dir.path()).unwrap();
    let copy = VectorStore::load(dir.path()).unwrap();
    assert_eq!(copy.search(&queries, 10, None, never()).unwrap(), hits);
    s.compact(never()).unwrap();
    assert_eq!((s.len(), s.rows()), (n / 2, n / 2));
    let after = s.search(&queries, 10, None, never()).unwrap();
    let ids_after: Vec<Vec<&str>> = after
        .iter()
        .map(|h| h.iter().map(|&(r, _)| s.id(r)).collect())
        .collect();
    assert!(ids_after
        .iter()
        .flatten()
        .all(|id| id.parse::<usize>().unwrap() % 2 == 1));
}

fn bm25(variant: Variant) -> Arc<std::sync::RwLock<Bm25>> {
    let mut config = Bm25Config::default();
    config.params.variant = variant;
    let sample = ragplay::data::sample::sample().unwrap();
    retrieve::shared(Bm25::build(config, &sample.corpus, never()).unwrap())
}

#[test]
fn a_pipeline_ranks_as_the_same_calls_made_by_hand() {
    let sample = ragplay::data::sample::sample().unwrap();
    let (a, b) = (bm25(Variant::Lucene), bm25(Variant::Robertson));
    let retrievers: Vec<SharedRetriever> = vec![a.clone(), b.clone()];
    let options = FuseOptions {
        method: Method::CombMnz,
        ..FuseOptions::default()
    };
    let p = Pipeline::new(retrievers, options.clone(), None, None, 8).unwrap();
    assert_eq!(p.stages(), ["bm25", "bm25_2", "fuse"]);
    let got = p.search(&sample.queries, 3, None, never()).unwrap();
    let ra = a
        .read()
        .unwrap()
        .search(&sample.queries, 8, None, never())
        .unwrap();
    let rb = b
        .read()
        .unwrap()
        .search(&sample.queries, 8, None, never())
        .unwrap();
    let fused = fuse(
        &[("bm25", &ra), ("bm25_2", &rb)],
        &FuseOptions {
            k: Some(8),
            ..options
        },
        never(),
    )
    .unwrap();
    let want = fused
        .filter(&fused.column("rank").unwrap().u32().unwrap().lt_eq(3))
        .unwrap();
    assert!(got.equals(&want), "{got}\n{want}");
    let trace = p.trace(&sample.queries, 3, never()).unwrap();
    assert_eq!(trace.run.height(), got.height());
    let stages = trace
        .latency
        .column("stage")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    let names: Vec<String> = ragplay::data::schema::str_values(&stages)
        .map(String::from)
        .collect();
    assert_eq!(names, ["bm25", "bm25_2", "fuse", "total"]);
    assert!(trace.candidates.column("bm25_2_rank").is_ok());
}
