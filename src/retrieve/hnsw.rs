//! A hierarchical navigable small world graph (HNSW) for approximate maximum-inner-product
//! search.
//!
//! Malkov & Yashunin (2018), "Efficient and robust approximate nearest neighbor search using
//! Hierarchical Navigable Small World graphs", IEEE TPAMI 42(4), arXiv:1603.09320. Each row
//! gets a random level `⌊-ln(U)·mL⌋` with `mL = 1/ln(M)`; a row lives on every layer up to its
//! level, with at most `M` neighbours on the upper layers and `M0 = 2M` on layer 0. Search
//! descends greedily through the upper layers and runs a beam search of width `ef` on layer
//! 0 (Algorithms 2 and 5). Insertion searches each of the row's layers with
//! `ef_construction`, keeps neighbours by the paper's heuristic (Algorithm 4, as hnswlib's
//! `getNeighborsByHeuristic2`: a candidate is dropped when it is closer to an already kept
//! neighbour than to the row) and prunes over-full neighbour lists with the same heuristic;
//! the whole beam of one layer seeds the search of the next (Algorithm 1, line 10). Closeness is the inner product (distance = −score), so with unit vectors it is cosine.
//!
//! Why its own graph: the index must run inside the core without a C++ toolchain, take
//! ragplay's cancellation, filter by an allow-list during the search (hnswlib's semantics: a
//! row that is not allowed is traversed but never returned, and the search keeps expanding
//! until `ef` allowed rows are found), and store itself next to the vectors it indexes.
//!
//! Layout: layer 0 is one flat array of `[count, ids…]` blocks of `M0 + 1` values per row,
//! the upper layers one more array with blocks of `M + 1`; the levels are drawn from the
//! seed before insertion, so every block exists before any thread links to it. Rows are
//! inserted in parallel (rayon) as in hnswlib's `addPoint`: a lock per row guards writes to
//! its lists, a global lock the entry point; readers load the lists as atomics and may see a
//! list mid-rewrite, which only ever holds valid ids.

use std::cell::RefCell;
use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use super::kernels;
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;
use crate::run::views::prefetch;

/// What the graph navigates: rows scored against a prepared query; higher score = closer.
pub trait Space: Sync {
    /// A query prepared for scoring (for example a copy of its vector).
    type Query: Sync;
    /// The number of rows.
    fn len(&self) -> usize;
    /// Whether there are no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Prepare a query vector for [`Space::score`].
    fn prepare(&self, query: &[f32]) -> Self::Query;
    /// The score of `row` for `query`.
    fn score(&self, query: &Self::Query, row: u32) -> f32;
    /// The score between two rows (used while building).
    fn score_rows(&self, a: u32, b: u32) -> f32;
    /// A hint that `row` is about to be scored (a memory prefetch); does nothing by default.
    fn prefetch(&self, _row: u32) {}
}

/// Row-major `f32` vectors of `dim` values, scored by inner product ([`kernels::dot`]).
#[derive(Clone, Copy, Debug)]
pub struct F32Space<'a> {
    /// `len · dim` values, one row after the other.
    pub vectors: &'a [f32],
    /// Values per row.
    pub dim: usize,
}

impl F32Space<'_> {
    #[inline(always)]
    fn row(&self, row: u32) -> &[f32] {
        &self.vectors[row as usize * self.dim..][..self.dim]
    }
}

impl Space for F32Space<'_> {
    type Query = Vec<f32>;

    fn len(&self) -> usize {
        self.vectors.len().checked_div(self.dim).unwrap_or(0)
    }

    fn prepare(&self, query: &[f32]) -> Vec<f32> {
        query.to_vec()
    }

    #[inline(always)]
    fn score(&self, query: &Vec<f32>, row: u32) -> f32 {
        kernels::dot(query, self.row(row))
    }

    #[inline(always)]
    fn score_rows(&self, a: u32, b: u32) -> f32 {
        kernels::dot(self.row(a), self.row(b))
    }

    #[inline(always)]
    fn prefetch(&self, row: u32) {
        let start = row as usize * self.dim;
        if let Some(v) = self.vectors.get(start..start + self.dim) {
            // A vector spans several cache lines; the first ones start the stream.
            for line in (0..self.dim.min(64)).step_by(16) {
                prefetch(&v[line]);
            }
        }
    }
}

/// The parameters of a graph.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HnswParams {
    /// Neighbours per row on the upper layers (`2m` on layer 0).
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Beam width while searching (at least `k` is used).
    pub ef_search: usize,
    /// Seed of the random levels.
    pub seed: u64,
}

impl Default for HnswParams {
    /// `m = 16`, `ef_construction = 200` (hnswlib's usual settings) and `ef_search = 96`.
    /// Measured recall@10 on 100,000 clustered 384-dimensional unit vectors and on 4,700
    /// MiniLM sentence embeddings: 0.98 from `ef_search = 24`, 0.997 or more from 64. The
    /// margin is for data of higher intrinsic dimension: 2,000 uniform random 64-dimensional
    /// vectors need 96 for 0.98.
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            ef_search: 96,
            seed: 42,
        }
    }
}

impl HnswParams {
    /// Check the ranges: `m ≥ 2`, `ef_construction ≥ 1`, `ef_search ≥ 1`.
    pub fn validate(&self) -> Result<()> {
        if self.m < 2 || self.m > MAX_M {
            return Err(Error::config(
                "m",
                format!("{}; use 2 to {MAX_M} neighbours per row", self.m),
            ));
        }
        if self.ef_construction == 0 {
            return Err(Error::config("ef_construction", "0; use 1 or more"));
        }
        check_ef(self.ef_search)
    }
}

fn check_ef(ef: usize) -> Result<()> {
    if ef == 0 {
        return Err(Error::config("ef_search", "0; use 1 or more"));
    }
    Ok(())
}

/// The largest `m` accepted (keeps a list's length in a few cache lines and bounds what a
/// stored graph may ask to allocate).
const MAX_M: usize = 1024;

/// The highest level a row may get (a level above it has probability below `M^-31`).
const MAX_LEVEL: usize = 31;

/// A scored row; ordered by score, then by row ascending (a lower row is "greater").
#[derive(Clone, Copy, Debug, PartialEq)]
struct Cand {
    score: f32,
    id: u32,
}

impl Eq for Cand {}

impl Ord for Cand {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.id.cmp(&self.id))
    }
}

impl PartialOrd for Cand {
    #[inline(always)]
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

/// Per-thread search state, reused across searches: a visited set stamped with a
/// generation (cleared in O(1)), the two heaps of the beam search and a neighbour buffer.
#[derive(Default)]
struct Scratch {
    marks: Vec<u32>,
    generation: u32,
    candidates: BinaryHeap<Cand>,
    top: BinaryHeap<Reverse<Cand>>,
    fresh: Vec<u32>,
}

impl Scratch {
    /// Start a search over `n` rows: nothing visited, heaps empty.
    fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.fill(0);
            self.generation = 1;
        }
        self.candidates.clear();
        self.top.clear();
    }

    /// Mark `id` visited; false if it already was.
    #[inline(always)]
    fn visit(&mut self, id: u32) -> bool {
        let mark = &mut self.marks[id as usize];
        let fresh = *mark != self.generation;
        *mark = self.generation;
        fresh
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// The links of every row: layer 0 in `base` (blocks of `2m + 1`), upper layers in `up`
/// (blocks of `m + 1`, row `r`'s layer `l` at `up_start[r] + (l - 1)·(m + 1)`). A block is
/// `[count, ids…]`.
struct Links {
    m: usize,
    levels: Vec<u8>,
    up_start: Vec<usize>,
    base: Vec<AtomicU32>,
    up: Vec<AtomicU32>,
}

/// The entry point: the row with the highest level, and that level.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Entry {
    node: u32,
    level: usize,
}

fn atomics(values: impl Iterator<Item = u32>) -> Vec<AtomicU32> {
    values.map(AtomicU32::new).collect()
}

impl Links {
    fn len(&self) -> usize {
        self.levels.len()
    }

    /// The links grown to `levels.len()` rows: the current ones copied, the new ones empty.
    fn grown(&self, levels: Vec<u8>) -> Links {
        let n = levels.len();
        let mut up_start = self.up_start.clone();
        let mut end = self.up.len();
        for &l in &levels[self.len()..] {
            up_start.push(end);
            end += l as usize * (self.m + 1);
        }
        let load = |a: &AtomicU32| a.load(Ordering::Relaxed);
        let base_len = n * (2 * self.m + 1);
        let base = self.base.iter().map(load);
        let up = self.up.iter().map(load);
        Links {
            m: self.m,
            base: atomics(base.chain(std::iter::repeat(0)).take(base_len)),
            up: atomics(up.chain(std::iter::repeat(0)).take(end)),
            levels,
            up_start,
        }
    }

    /// The `[count, ids…]` block of `node` on `layer` (which must be at most its level).
    #[inline(always)]
    fn block(&self, node: u32, layer: usize) -> &[AtomicU32] {
        if layer == 0 {
            let width = 2 * self.m + 1;
            &self.base[node as usize * width..][..width]
        } else {
            let width = self.m + 1;
            &self.up[self.up_start[node as usize] + (layer - 1) * width..][..width]
        }
    }

    /// The neighbours of `node` on `layer`, appended to `out`.
    #[inline(always)]
    fn neighbours(&self, node: u32, layer: usize, out: &mut Vec<u32>) {
        let block = self.block(node, layer);
        let count = (block[0].load(Ordering::Acquire) as usize).min(block.len() - 1);
        out.extend(block[1..=count].iter().map(|a| a.load(Ordering::Relaxed)));
    }

    /// Replace the neighbours of `node` on `layer` (the caller holds the row's lock).
    fn set_neighbours(&self, node: u32, layer: usize, ids: impl Iterator<Item = u32>) {
        let block = self.block(node, layer);
        let mut count = 0;
        for (slot, id) in block[1..].iter().zip(ids) {
            slot.store(id, Ordering::Relaxed);
            count += 1;
        }
        block[0].store(count, Ordering::Release);
    }
}

impl Clone for Links {
    fn clone(&self) -> Self {
        self.grown(self.levels.clone())
    }
}

/// An HNSW graph over the rows of a [`Space`]; it stores links only, not the vectors.
#[derive(Clone)]
pub struct Hnsw {
    params: HnswParams,
    links: Links,
    entry: Option<Entry>,
    deleted: Vec<bool>,
    deleted_count: usize,
}

impl std::fmt::Debug for Hnsw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hnsw")
            .field("params", &self.params)
            .field("len", &self.len())
            .field("deleted", &self.deleted_count)
            .finish()
    }
}

/// Lock a mutex, going on after a panic elsewhere (the data it guards stays valid).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The level of `row`: `⌊-ln(U)/ln(m)⌋` with `U` in (0, 1] drawn from (seed, row) by
/// SplitMix64, so a row's level does not depend on insertion order or batches.
fn level_of(seed: u64, row: usize, m: usize) -> u8 {
    let x = SplitMix64::new(seed ^ (row as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64();
    let u = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let level = -u.ln() / (m as f64).ln();
    (level as usize).min(MAX_LEVEL) as u8
}

/// The paper's neighbour selection (Algorithm 4 without extension or kept pruned links):
/// walk `sorted` (best first) and keep a candidate unless it scores higher with a kept one
/// than with the base row; at most `m` are kept. Lists of `m` or fewer are kept whole.
fn select<S: Space>(space: &S, sorted: &[Cand], m: usize) -> Vec<Cand> {
    if sorted.len() <= m {
        return sorted.to_vec();
    }
    let mut kept: Vec<Cand> = Vec::with_capacity(m);
    for &c in sorted {
        if kept.len() >= m {
            break;
        }
        if kept.iter().all(|r| space.score_rows(c.id, r.id) <= c.score) {
            kept.push(c);
        }
    }
    kept
}

/// The rows of a finished beam search, best first.
fn drain_sorted(s: &mut Scratch) -> Vec<Cand> {
    let mut out: Vec<Cand> = s.top.drain().map(|Reverse(c)| c).collect();
    out.sort_unstable_by(|a, b| b.cmp(a));
    out
}

impl Links {
    /// Greedy walk on `layer` from `cur` to a row none of whose neighbours scores higher.
    fn greedy(
        &self,
        score: &impl Fn(u32) -> f32,
        mut cur: Cand,
        layer: usize,
        buf: &mut Vec<u32>,
    ) -> Cand {
        loop {
            buf.clear();
            self.neighbours(cur.id, layer, buf);
            let before = cur.id;
            for &id in buf.iter() {
                let s = score(id);
                if s > cur.score {
                    cur = Cand { score: s, id };
                }
            }
            if cur.id == before {
                return cur;
            }
        }
    }

    /// Beam search of `layer` from `entries` (Algorithm 2) for the `ef` best rows that
    /// `accept` takes, left in `s.top`. Rows that `accept` refuses still extend the beam, and
    /// the search stops only once `ef` accepted rows are held (hnswlib's filtered search).
    #[allow(clippy::too_many_arguments)]
    fn beam<S: Space>(
        &self,
        space: &S,
        score: &impl Fn(u32) -> f32,
        entries: &[Cand],
        ef: usize,
        layer: usize,
        accept: &impl Fn(u32) -> bool,
        s: &mut Scratch,
    ) {
        s.reset(self.len());
        let admit = |s: &mut Scratch, c: Cand| {
            s.candidates.push(c);
            if accept(c.id) {
                s.top.push(Reverse(c));
                if s.top.len() > ef {
                    s.top.pop();
                }
            }
        };
        for &e in entries {
            if s.visit(e.id) {
                admit(s, e);
            }
        }
        let mut fresh = std::mem::take(&mut s.fresh);
        while let Some(c) = s.candidates.pop() {
            if s.top.len() >= ef && s.top.peek().is_some_and(|w| c.score < w.0.score) {
                break;
            }
            fresh.clear();
            self.neighbours(c.id, layer, &mut fresh);
            fresh.retain(|&id| s.visit(id));
            for &id in &fresh {
                space.prefetch(id);
            }
            for &id in &fresh {
                let score = score(id);
                let worst = match s.top.peek() {
                    Some(w) if s.top.len() >= ef => w.0.score,
                    _ => f32::NEG_INFINITY,
                };
                if score > worst || s.top.len() < ef {
                    admit(s, Cand { score, id });
                }
            }
        }
        s.fresh = fresh;
    }

    /// Link `node` to the rows selected from `found` on `layer`, and them back to it,
    /// pruning a full list with [`select`] (hnswlib's `mutuallyConnectNewElement`).
    fn connect<S: Space>(
        &self,
        space: &S,
        node: u32,
        found: &[Cand],
        layer: usize,
        locks: &[Mutex<()>],
    ) {
        let cap = if layer == 0 { 2 * self.m } else { self.m };
        let selected = select(space, found, self.m);
        {
            let _guard = lock(&locks[node as usize]);
            self.set_neighbours(node, layer, selected.iter().map(|c| c.id));
        }
        let mut ids = Vec::with_capacity(cap + 1);
        for c in &selected {
            let _guard = lock(&locks[c.id as usize]);
            ids.clear();
            self.neighbours(c.id, layer, &mut ids);
            if ids.len() < cap {
                ids.push(node);
                self.set_neighbours(c.id, layer, ids.iter().copied());
                continue;
            }
            let mut cands: Vec<Cand> = ids
                .iter()
                .map(|&x| Cand {
                    score: space.score_rows(c.id, x),
                    id: x,
                })
                .collect();
            cands.push(Cand {
                score: c.score,
                id: node,
            });
            cands.sort_unstable_by(|a, b| b.cmp(a));
            let kept = select(space, &cands, cap);
            self.set_neighbours(c.id, layer, kept.iter().map(|k| k.id));
        }
    }

    /// Insert row `node` (hnswlib's `addPoint`). A row above the current top level holds the
    /// entry lock until it is linked, so no search starts from an unlinked row.
    fn insert_node<S: Space>(
        &self,
        space: &S,
        node: u32,
        entry: &Mutex<Option<Entry>>,
        locks: &[Mutex<()>],
        ef_construction: usize,
    ) {
        let level = self.levels[node as usize] as usize;
        let mut guard = lock(entry);
        let Some(top) = *guard else {
            *guard = Some(Entry { node, level });
            return;
        };
        let held = if level > top.level {
            Some(guard)
        } else {
            drop(guard);
            None
        };
        let score = |r: u32| space.score_rows(node, r);
        let mut cur = Cand {
            score: score(top.node),
            id: top.node,
        };
        SCRATCH.with_borrow_mut(|s| {
            for layer in (level + 1..=top.level).rev() {
                cur = self.greedy(&score, cur, layer, &mut s.fresh);
            }
            let mut entries = vec![cur];
            for layer in (0..=level.min(top.level)).rev() {
                self.beam(
                    space,
                    &score,
                    &entries,
                    ef_construction,
                    layer,
                    &|r| r != node,
                    s,
                );
                entries = drain_sorted(s);
                self.connect(space, node, &entries, layer, locks);
            }
        });
        if let Some(mut guard) = held {
            *guard = Some(Entry { node, level });
        }
    }
}

impl Hnsw {
    /// An empty graph with validated `params`.
    pub fn new(params: HnswParams) -> Result<Self> {
        params.validate()?;
        Ok(Self {
            params,
            links: Links {
                m: params.m,
                levels: Vec::new(),
                up_start: Vec::new(),
                base: Vec::new(),
                up: Vec::new(),
            },
            entry: None,
            deleted: Vec::new(),
            deleted_count: 0,
        })
    }

    /// The parameters the graph was built with.
    pub fn params(&self) -> &HnswParams {
        &self.params
    }

    /// Change the beam width of later searches (at least 1).
    pub fn set_ef_search(&mut self, ef: usize) -> Result<()> {
        check_ef(ef)?;
        self.params.ef_search = ef;
        Ok(())
    }

    /// The number of rows in the graph, deleted ones included.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether the graph holds no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Insert rows `self.len()..space.len()` of `space`; the rows already in the graph keep
    /// their links (new rows may be added to them). Rows are inserted in parallel on rayon's
    /// current pool, in ascending order as far as threads allow; `cancel` counts one unit per
    /// row and is polled before each.
    ///
    /// The new graph is built beside the current one and replaces it only on success: on
    /// `Err` (interrupted, or `space` has fewer rows than the graph) the graph is unchanged.
    pub fn insert<S: Space>(&mut self, space: &S, cancel: &Cancel) -> Result<()> {
        let (old, n) = (self.len(), space.len());
        if n < old {
            return Err(Error::config(
                "space",
                format!("{n} rows, fewer than the {old} already in the graph"),
            ));
        }
        if n > u32::MAX as usize {
            return Err(Error::config(
                "space",
                format!("{n} rows; at most 2^32 - 1 fit"),
            ));
        }
        cancel.start("build graph", (n - old) as u64);
        if n == old {
            return Ok(());
        }
        let mut levels = self.links.levels.clone();
        levels.extend((old..n).map(|r| level_of(self.params.seed, r, self.params.m)));
        let links = self.links.grown(levels);
        let entry = Mutex::new(self.entry);
        let locks: Vec<Mutex<()>> = (0..n).map(|_| Mutex::new(())).collect();
        let next = AtomicUsize::new(old);
        let ef = self.params.ef_construction;
        let workers = rayon::current_num_threads().clamp(1, n - old);
        (0..workers)
            .into_par_iter()
            .try_for_each(|_| -> Result<()> {
                loop {
                    let row = next.fetch_add(1, Ordering::Relaxed);
                    if row >= n {
                        return Ok(());
                    }
                    cancel.check()?;
                    links.insert_node(space, row as u32, &entry, &locks, ef);
                    cancel.advance(1);
                }
            })?;
        self.links = links;
        self.entry = entry.into_inner().unwrap_or_else(|e| e.into_inner());
        self.deleted.resize(n, false);
        Ok(())
    }

    /// The best `k` rows for `query` as `(row, score)`, score descending (ties: row
    /// ascending). Layer 0 is searched with `ef = max(ef_search, k)`. Rows for which `keep`
    /// is false, and deleted rows, are never returned but still lead the search to others;
    /// the search goes on until it holds `ef` returnable rows or has seen every reachable row,
    /// so a selective `keep` still yields `k` rows when that many are reachable. A graph of
    /// no more than `ef` rows is scanned whole instead: the beam would visit every row anyway,
    /// and the scan also finds rows that neighbour pruning left without incoming links.
    ///
    /// # Panics
    /// If `space` holds fewer rows than the graph.
    pub fn search<S: Space>(
        &self,
        space: &S,
        query: &S::Query,
        k: usize,
        keep: Option<&(dyn Fn(u32) -> bool + Sync)>,
    ) -> Vec<(u32, f32)> {
        let Some(top) = self.entry else {
            return Vec::new();
        };
        if k == 0 {
            return Vec::new();
        }
        assert!(
            space.len() >= self.len(),
            "the space holds {} rows, the graph {}",
            space.len(),
            self.len()
        );
        let score = |r: u32| space.score(query, r);
        let ef = self.params.ef_search.max(k);
        let deleted = (self.deleted_count > 0).then_some(&self.deleted[..]);
        let accept = |r: u32| deleted.is_none_or(|d| !d[r as usize]) && keep.is_none_or(|f| f(r));
        if self.len() <= ef {
            let mut all: Vec<Cand> = (0..self.len() as u32)
                .filter(|&r| accept(r))
                .map(|id| Cand {
                    score: score(id),
                    id,
                })
                .collect();
            all.sort_unstable_by(|a, b| b.cmp(a));
            return all.into_iter().take(k).map(|c| (c.id, c.score)).collect();
        }
        SCRATCH.with_borrow_mut(|s| {
            let mut cur = Cand {
                score: score(top.node),
                id: top.node,
            };
            for layer in (1..=top.level).rev() {
                cur = self.links.greedy(&score, cur, layer, &mut s.fresh);
            }
            self.links.beam(space, &score, &[cur], ef, 0, &accept, s);
            let best = drain_sorted(s);
            best.into_iter().take(k).map(|c| (c.id, c.score)).collect()
        })
    }

    /// Mark `row` deleted: it stays in the graph as a waypoint but is never returned. A row
    /// outside the graph or already deleted is left alone.
    pub fn mark_deleted(&mut self, row: u32) {
        if let Some(d) = self.deleted.get_mut(row as usize) {
            if !*d {
                *d = true;
                self.deleted_count += 1;
            }
        }
    }

    /// Whether `row` is marked deleted (false outside the graph).
    pub fn is_deleted(&self, row: u32) -> bool {
        self.deleted.get(row as usize).copied().unwrap_or(false)
    }

    /// The number of rows marked deleted.
    pub fn deleted_count(&self) -> usize {
        self.deleted_count
    }
}

mod store;
#[cfg(test)]
mod tests;
