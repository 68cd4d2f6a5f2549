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
//! neighbour than to the row) and prunes over-full neighbour lists with the same heuristic.
//! Closeness is the inner product (distance = −score), so with unit vectors it is cosine.
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
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let start = row as usize * self.dim;
            if let Some(v) = self.vectors.get(start..start + self.dim) {
                let p = v.as_ptr() as *const i8;
                // A vector spans several cache lines; the first ones start the stream.
                for line in (0..self.dim.min(64)).step_by(16) {
                    // SAFETY: prefetching never faults; the address lies inside `v`.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(line * 4)) };
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = row;
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
    /// `m = 16`, `ef_construction = 200` (hnswlib's usual settings) and `ef_search = 96`: the
    /// smallest of the widths measured that kept recall@10 at 0.98 or above on 100,000
    /// clustered 384-dimensional vectors and on sentence embeddings.
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            ef_search: 96,
            seed: 0,
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
    let mut x = seed ^ (row as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
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
        cancel.start((n - old) as u64);
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
    /// so a selective `keep` still yields `k` rows when that many are reachable.
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

/// The first bytes of a stored graph: a name and the format version.
const MAGIC: &[u8; 8] = b"RPHNSW\x00\x01";

/// A cursor over stored bytes; every read is `None` past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn usize(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }

    /// `n` little-endian `u32`s, checked against the bytes left before allocating.
    fn atomics(&mut self, n: usize) -> Option<Vec<AtomicU32>> {
        let bytes = self.take(n.checked_mul(4)?)?;
        Some(atomics(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ))
    }
}

impl Hnsw {
    /// Append the graph to `out`, little-endian: magic and version, the parameters, the row
    /// count, the entry point, each row's level and deleted flag, then the layer-0 and the
    /// upper-layer link blocks. The vectors are not stored.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let p = &self.params;
        out.extend_from_slice(MAGIC);
        for v in [
            p.m as u64,
            p.ef_construction as u64,
            p.ef_search as u64,
            p.seed,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        let (node, level) = self
            .entry
            .map_or((u32::MAX, 0), |e| (e.node, e.level as u32));
        out.extend_from_slice(&node.to_le_bytes());
        out.extend_from_slice(&level.to_le_bytes());
        out.extend_from_slice(&self.links.levels);
        out.extend(self.deleted.iter().map(|&d| u8::from(d)));
        out.reserve(4 * (self.links.base.len() + self.links.up.len()));
        for a in self.links.base.iter().chain(&self.links.up) {
            out.extend_from_slice(&a.load(Ordering::Relaxed).to_le_bytes());
        }
    }

    /// Read a graph written by [`Hnsw::write_to`] for a space of `rows` rows. `None` unless
    /// the bytes are exactly one well-formed graph of `rows` rows: valid parameters, levels
    /// and flags, an entry point on the top level, list lengths within capacity and every
    /// neighbour a row that exists on that layer.
    pub fn read_from(bytes: &[u8], rows: usize) -> Option<Self> {
        let mut r = Reader(bytes);
        if r.take(MAGIC.len())? != MAGIC {
            return None;
        }
        let params = HnswParams {
            m: r.usize()?,
            ef_construction: r.usize()?,
            ef_search: r.usize()?,
            seed: r.u64()?,
        };
        params.validate().ok()?;
        let n = r.usize()?;
        if n != rows || n > u32::MAX as usize {
            return None;
        }
        let (node, level) = (r.u32()?, r.u32()? as usize);
        let levels = r.take(n)?.to_vec();
        let deleted = r
            .take(n)?
            .iter()
            .map(|&b| (b <= 1).then_some(b == 1))
            .collect::<Option<Vec<bool>>>()?;
        let m = params.m;
        if levels.iter().any(|&l| l as usize > MAX_LEVEL) {
            return None;
        }
        let mut up_start = Vec::with_capacity(n);
        let mut end = 0usize;
        for &l in &levels {
            up_start.push(end);
            end += l as usize * (m + 1);
        }
        let links = Links {
            m,
            base: r.atomics(n.checked_mul(2 * m + 1)?)?,
            up: r.atomics(end)?,
            levels,
            up_start,
        };
        let entry = (n > 0).then_some(Entry { node, level });
        let top = links.levels.iter().copied().max().unwrap_or(0) as usize;
        let entry_ok = match entry {
            None => node == u32::MAX && level == 0,
            Some(e) => {
                (e.node as usize) < n
                    && links.levels[e.node as usize] as usize == level
                    && level == top
            }
        };
        if !r.0.is_empty() || !entry_ok || !links.well_formed() {
            return None;
        }
        let deleted_count = deleted.iter().filter(|&&d| d).count();
        Some(Self {
            params,
            links,
            entry,
            deleted,
            deleted_count,
        })
    }
}

impl Links {
    /// Whether every list is within capacity and names rows that exist on its layer.
    fn well_formed(&self) -> bool {
        let n = self.len();
        (0..n).all(|node| {
            (0..=self.levels[node] as usize).all(|layer| {
                let block = self.block(node as u32, layer);
                let count = block[0].load(Ordering::Relaxed) as usize;
                count < block.len()
                    && block[1..=count].iter().all(|a| {
                        let id = a.load(Ordering::Relaxed) as usize;
                        id < n && self.levels[id] as usize >= layer
                    })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SplitMix64 stream with Gaussian draws (Box–Muller).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
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
        let mut rng = Rng(seed);
        let mut v: Vec<f32> = (0..count * dim).map(|_| rng.gauss()).collect();
        v.chunks_mut(dim).for_each(unit);
        v
    }

    /// `n` unit vectors, each a random one of `centres` plus Gaussian noise of norm about
    /// `spread`, normalised.
    pub(crate) fn around(
        centres: &[f32],
        dim: usize,
        n: usize,
        spread: f32,
        seed: u64,
    ) -> Vec<f32> {
        let mut rng = Rng(seed);
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
        let space = F32Space { vectors: &data, dim };
        // 1% of the rows, spread over all clusters.
        let allowed = |r: u32| r.wrapping_mul(2_654_435_761) % 100 == 0;
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
        let space = F32Space { vectors: &data, dim };
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
        let space = F32Space { vectors: &[], dim: 8 };
        let empty = Hnsw::new(HnswParams::default()).unwrap();
        assert!(empty.search(&space, &vec![0.0; 8], 5, None).is_empty());
        let (data, dim, graph) = small(37);
        let space = F32Space { vectors: &data, dim };
        let q = space.prepare(&data[..dim]);
        let got = graph.search(&space, &q, 100, None);
        assert_eq!(got.len(), 37);
        assert_eq!(got[0].0, 0);
        assert!(graph.search(&space, &q, 0, None).is_empty());
    }

    #[test]
    fn insertion_in_batches_and_interrupted_insertion() {
        let dim = 64;
        let data = around(&sphere(20, dim, 11), dim, 3_000, 1.0, 12);
        let mut graph = build(&data[..1_000 * dim], dim, HnswParams::default());
        let space = F32Space { vectors: &data, dim };
        let cancel = Cancel::new();
        cancel.cancel();
        let mut before = Vec::new();
        graph.write_to(&mut before);
        assert!(matches!(graph.insert(&space, &cancel), Err(Error::Interrupted)));
        let mut after = Vec::new();
        graph.write_to(&mut after);
        assert_eq!(before, after);
        let short = F32Space { vectors: &data[..10 * dim], dim };
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
        assert!(bad(HnswParams { ef_construction: 0, ..d }).starts_with("invalid ef_construction"));
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
        let space = F32Space { vectors: &data, dim };
        let mut bytes = Vec::new();
        graph.write_to(&mut bytes);
        let back = Hnsw::read_from(&bytes, 1_500).unwrap();
        assert_eq!(back.params(), graph.params());
        assert!(back.is_deleted(7) && back.deleted_count() == 1);
        for q in data.chunks(dim).step_by(37) {
            let q = space.prepare(q);
            assert_eq!(back.search(&space, &q, 10, None), graph.search(&space, &q, 10, None));
        }
        let mut again = Vec::new();
        back.write_to(&mut again);
        assert_eq!(again, bytes);
        let mut empty = Vec::new();
        Hnsw::new(HnswParams::default()).unwrap().write_to(&mut empty);
        assert!(Hnsw::read_from(&empty, 0).is_some_and(|g| g.is_empty()));
    }

    #[test]
    fn malformed_bytes_are_refused_without_panicking() {
        let (_, _, graph) = small(300);
        let mut bytes = Vec::new();
        graph.write_to(&mut bytes);
        assert!(Hnsw::read_from(&bytes, 299).is_none());
        assert!(Hnsw::read_from(&[], 300).is_none());
        for cut in (0..bytes.len()).step_by(7) {
            assert!(Hnsw::read_from(&bytes[..cut], 300).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Hnsw::read_from(&longer, 300).is_none());
        // A neighbour id past the rows, a count past the capacity, a bad magic.
        let base = bytes.len() - 4 * graph.links.up.len() - 4 * graph.links.base.len();
        for (at, value) in [(base + 4, 300u32), (base, 33), (0, 0)] {
            let mut bad = bytes.clone();
            bad[at..at + 4].copy_from_slice(&value.to_le_bytes());
            assert!(Hnsw::read_from(&bad, 300).is_none(), "byte {at} = {value}");
        }
        // Random corruption: any answer but a panic.
        let mut rng = Rng(5);
        for _ in 0..2_000 {
            let mut bad = bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bad.len());
                bad[at] = rng.next() as u8;
            }
            if let Some(g) = Hnsw::read_from(&bad, 300) {
                let space = F32Space { vectors: &[0.5; 300 * 64], dim: 64 };
                g.search(&space, &vec![1.0; 64], 10, None);
            }
        }
    }
}
