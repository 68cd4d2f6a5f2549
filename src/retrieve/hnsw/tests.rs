//! Tests of the HNSW graph: recall against brute force, filtered search, deletion,
//! insertion in batches and interruption, and the stored format.

use super::*;
use crate::rng::SplitMix64;

/// A SplitMix64 stream with Gaussian draws (Box–Muller).
struct Rng(SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn gauss(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn unit(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

/// `count` random unit vectors (cluster centres, or uniform data).
pub(crate) fn sphere(count: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(SplitMix64::new(seed));
    let mut v: Vec<f32> = (0..count * dim).map(|_| rng.gauss()).collect();
    v.chunks_mut(dim).for_each(unit);
    v
}

/// `n` unit vectors, each a random one of `centres` plus Gaussian noise of norm about
/// `spread`, normalised.
pub(crate) fn around(centres: &[f32], dim: usize, n: usize, spread: f32, seed: u64) -> Vec<f32> {
    let mut rng = Rng(SplitMix64::new(seed));
    let sigma = spread / (dim as f32).sqrt();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let start = out.len();
        let c = &centres[rng.below(centres.len() / dim) * dim..][..dim];
        out.extend(c.iter().map(|&x| x + sigma * rng.gauss()));
        unit(&mut out[start..]);
    }
    out
}

/// The exact best `k` rows of `query` among those `keep` takes.
pub(crate) fn brute(
    space: &F32Space,
    query: &[f32],
    k: usize,
    keep: impl Fn(u32) -> bool,
) -> Vec<u32> {
    let q = space.prepare(query);
    let mut all: Vec<Cand> = (0..space.len() as u32)
        .filter(|&r| keep(r))
        .map(|r| Cand {
            score: space.score(&q, r),
            id: r,
        })
        .collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    all.into_iter().take(k).map(|c| c.id).collect()
}

fn build(data: &[f32], dim: usize, params: HnswParams) -> Hnsw {
    let mut graph = Hnsw::new(params).unwrap();
    graph
        .insert(&F32Space { vectors: data, dim }, crate::cancel::never())
        .unwrap();
    graph
}

/// Mean recall@k of the graph against [`brute`] over the query rows.
fn recall(graph: &Hnsw, data: &[f32], queries: &[f32], dim: usize, k: usize) -> f64 {
    let space = F32Space { vectors: data, dim };
    let hits: usize = queries
        .par_chunks(dim)
        .map(|q| {
            let truth = brute(&space, q, k, |_| true);
            let got = graph.search(&space, &space.prepare(q), k, None);
            got.iter().filter(|(r, _)| truth.contains(r)).count()
        })
        .sum();
    hits as f64 / (queries.len() / dim * k) as f64
}

#[test]
fn recall_on_clustered_384d_vectors() {
    let dim = 384;
    let centres = sphere(200, dim, 7);
    let data = around(&centres, dim, 20_000, 1.0, 8);
    let queries = around(&centres, dim, 200, 1.0, 9);
    let graph = build(&data, dim, HnswParams::default());
    let r = recall(&graph, &data, &queries, dim, 10);
    assert!(r >= 0.98, "recall@10 {r}");
}

#[test]
fn recall_on_uniform_64d_vectors() {
    let dim = 64;
    let data = sphere(2_000, dim, 3);
    let queries = sphere(200, dim, 4);
    let graph = build(&data, dim, HnswParams::default());
    let r = recall(&graph, &data, &queries, dim, 10);
    assert!(r >= 0.98, "recall@10 {r}");
}

/// A small clustered set (64-d) with its graph.
fn small(n: usize) -> (Vec<f32>, usize, Hnsw) {
    let dim = 64;
    let data = around(&sphere(20, dim, 11), dim, n, 1.0, 12);
    let graph = build(&data, dim, HnswParams::default());
    (data, dim, graph)
}

#[test]
fn filtered_search_finds_k_allowed_rows() {
    let dim = 384;
    let centres = sphere(200, dim, 7);
    let data = around(&centres, dim, 20_000, 1.0, 8);
    let queries = around(&centres, dim, 50, 1.0, 9);
    let graph = build(&data, dim, HnswParams::default());
    let space = F32Space {
        vectors: &data,
        dim,
    };
    // 1% of the rows, spread over all clusters.
    let allowed = |r: u32| r.wrapping_mul(2_654_435_761).is_multiple_of(100);
    let keep: &(dyn Fn(u32) -> bool + Sync) = &allowed;
    let (mut hits, mut total) = (0, 0);
    for q in queries.chunks(dim) {
        let truth = brute(&space, q, 10, allowed);
        let got = graph.search(&space, &space.prepare(q), 10, Some(keep));
        assert_eq!(got.len(), truth.len().min(10));
        assert!(got.iter().all(|&(r, _)| allowed(r)));
        hits += got.iter().filter(|(r, _)| truth.contains(r)).count();
        total += truth.len();
    }
    let r = hits as f64 / total as f64;
    assert!(r >= 0.9, "filtered recall@10 {r}");
    // An allow-set of 3 rows yields exactly those 3.
    let three = |r: u32| r == 5 || r == 600 || r == 19_999;
    let got = graph.search(&space, &space.prepare(&queries[..dim]), 10, Some(&three));
    let mut rows: Vec<u32> = got.iter().map(|&(r, _)| r).collect();
    rows.sort_unstable();
    assert_eq!(rows, [5, 600, 19_999]);
}

#[test]
fn deleted_rows_are_never_returned() {
    let (data, dim, mut graph) = small(2_000);
    let space = F32Space {
        vectors: &data,
        dim,
    };
    for r in (0..2_000).step_by(3) {
        graph.mark_deleted(r);
    }
    graph.mark_deleted(0);
    graph.mark_deleted(5_000);
    assert_eq!(graph.deleted_count(), 667);
    assert!(graph.is_deleted(3) && !graph.is_deleted(4) && !graph.is_deleted(5_000));
    for q in data.chunks(dim).take(50) {
        let got = graph.search(&space, &space.prepare(q), 10, None);
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|&(r, _)| r % 3 != 0));
        assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
    }
}

#[test]
fn small_and_empty_graphs() {
    let space = F32Space {
        vectors: &[],
        dim: 8,
    };
    let empty = Hnsw::new(HnswParams::default()).unwrap();
    assert!(empty.search(&space, &vec![0.0; 8], 5, None).is_empty());
    let (data, dim, graph) = small(37);
    let space = F32Space {
        vectors: &data,
        dim,
    };
    let q = space.prepare(&data[..dim]);
    // k above the row count: every row, in exact order, even one that pruning left
    // without incoming links.
    let got = graph.search(&space, &q, 100, None);
    let ids: Vec<u32> = got.iter().map(|&(r, _)| r).collect();
    assert_eq!(ids, brute(&space, &data[..dim], 100, |_| true));
    assert_eq!(got[0].0, 0);
    let odd = |r: u32| r % 2 == 1;
    let got: Vec<u32> = graph
        .search(&space, &q, 100, Some(&odd))
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(got, brute(&space, &data[..dim], 100, odd));
    assert!(graph.search(&space, &q, 0, None).is_empty());
}

#[test]
fn insertion_in_batches_and_interrupted_insertion() {
    let dim = 64;
    let data = around(&sphere(20, dim, 11), dim, 3_000, 1.0, 12);
    let mut graph = build(&data[..1_000 * dim], dim, HnswParams::default());
    let space = F32Space {
        vectors: &data,
        dim,
    };
    let cancel = Cancel::new();
    cancel.cancel();
    let mut before = Vec::new();
    graph.write_to(&mut before);
    assert!(matches!(
        graph.insert(&space, &cancel),
        Err(Error::Interrupted)
    ));
    let mut after = Vec::new();
    graph.write_to(&mut after);
    assert_eq!(before, after);
    let short = F32Space {
        vectors: &data[..10 * dim],
        dim,
    };
    assert!(graph.insert(&short, crate::cancel::never()).is_err());
    graph.insert(&space, crate::cancel::never()).unwrap();
    assert_eq!(graph.len(), 3_000);
    let r = recall(&graph, &data, &data[2_500 * dim..2_600 * dim], dim, 10);
    assert!(r >= 0.98, "recall@10 {r}");
}

#[test]
fn parameters_are_validated() {
    let bad = |p: HnswParams| Hnsw::new(p).unwrap_err().to_string();
    let d = HnswParams::default();
    assert!(bad(HnswParams { m: 1, ..d }).starts_with("invalid m"));
    assert!(bad(HnswParams {
        ef_construction: 0,
        ..d
    })
    .starts_with("invalid ef_construction"));
    assert!(bad(HnswParams { ef_search: 0, ..d }).starts_with("invalid ef_search"));
    let mut g = Hnsw::new(d).unwrap();
    assert!(g.set_ef_search(0).is_err());
    g.set_ef_search(7).unwrap();
    assert_eq!(g.params().ef_search, 7);
}

#[test]
fn write_and_read_round_trip() {
    let (data, dim, mut graph) = small(1_500);
    graph.mark_deleted(7);
    let space = F32Space {
        vectors: &data,
        dim,
    };
    let mut bytes = Vec::new();
    graph.write_to(&mut bytes);
    let back = Hnsw::read_from(&bytes, 1_500).unwrap();
    assert_eq!(back.params(), graph.params());
    assert!(back.is_deleted(7) && back.deleted_count() == 1);
    for q in data.chunks(dim).step_by(37) {
        let q = space.prepare(q);
        assert_eq!(
            back.search(&space, &q, 10, None),
            graph.search(&space, &q, 10, None)
        );
    }
    let mut again = Vec::new();
    back.write_to(&mut again);
    assert_eq!(again, bytes);
    let mut empty = Vec::new();
    Hnsw::new(HnswParams::default())
        .unwrap()
        .write_to(&mut empty);
    assert!(Hnsw::read_from(&empty, 0).is_ok_and(|g| g.is_empty()));
}

#[test]
fn malformed_bytes_are_refused_without_panicking() {
    let (_, _, graph) = small(300);
    let mut bytes = Vec::new();
    graph.write_to(&mut bytes);
    assert!(Hnsw::read_from(&bytes, 299).is_err());
    assert!(Hnsw::read_from(&[], 300).is_err());
    for cut in (0..bytes.len()).step_by(7) {
        assert!(Hnsw::read_from(&bytes[..cut], 300).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Hnsw::read_from(&longer, 300).is_err());
    // A neighbour id past the rows, a count past the capacity, a bad magic.
    let base = bytes.len() - 4 * graph.links.up.len() - 4 * graph.links.base.len();
    for (at, value) in [(base + 4, 300u32), (base, 33), (0, 0)] {
        let mut bad = bytes.clone();
        bad[at..at + 4].copy_from_slice(&value.to_le_bytes());
        assert!(Hnsw::read_from(&bad, 300).is_err(), "byte {at} = {value}");
    }
    // Random corruption: any answer but a panic.
    let mut rng = Rng(SplitMix64::new(5));
    for _ in 0..2_000 {
        let mut bad = bytes.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bad.len());
            bad[at] = rng.next() as u8;
        }
        if let Ok(g) = Hnsw::read_from(&bad, 300) {
            let space = F32Space {
                vectors: &[0.5; 300 * 64],
                dim: 64,
            };
            g.search(&space, &vec![1.0; 64], 10, None);
        }
    }
}
