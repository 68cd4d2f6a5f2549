//! Grouping a run table's rows by (run, query) key, whatever the order of the rows.
//!
//! Rows are first split into maximal segments of consecutive rows with equal key (a parallel
//! scan that compares neighbours). Segments then get group ids by hashing their key in two
//! passes: blocks of segments each number their own keys in a local map, in parallel; the
//! local maps are merged in block order into global ids (there are few distinct keys,
//! thousands, against millions of rows); each block's local ids are then remapped in
//! parallel. Runs and groups are numbered in order of first appearance.
//!
//! When there are as many groups as segments (the usual table: each query's rows together),
//! group `g` is segment `g`, a range of rows, and nothing more is built. Otherwise (shuffled
//! rows, a join, concatenated shards) a counting sort lays the row indices out so that each
//! group's rows, ascending, are one slice of that permutation, and copies a small per-row
//! value (computed in parallel in row order) alongside each index, so that work on a group
//! reads its rows' values from contiguous memory instead of from all over the table.

use std::ops::Range;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::data::schema::{table, StrChunks};
use crate::error::{Error, Result};

/// Rows per parallel task when scanning for segment boundaries.
const SCAN_BLOCK: usize = 1 << 16;
/// Fewest segments per block when hashing keys: fewer blocks mean fewer local keys to merge.
const KEY_BLOCK: usize = 1 << 16;

/// The rows of one group, ascending.
pub(super) enum Rows<'g, T> {
    /// Consecutive rows.
    Range(Range<usize>),
    /// Rows listed by index, with each row's value.
    Listed(&'g [u32], &'g [T]),
}

/// Where each group's rows lie.
enum Layout<T> {
    /// Group `g` is segment `g`: rows `starts[g]..starts[g + 1]`, the last one ending at `n`.
    Segments { starts: Vec<usize>, n: usize },
    /// Group `g`'s rows are `order[offsets[g]..offsets[g + 1]]`, their values the same slice
    /// of `values`.
    Permuted {
        order: Vec<u32>,
        values: Vec<T>,
        offsets: Vec<usize>,
    },
}

/// A run table's rows grouped by (run, query).
pub(super) struct Groups<'a, T> {
    /// Run names in first-appearance order.
    pub runs: Vec<&'a str>,
    /// `(run index, query id)` of each group, in first-appearance order.
    pub keys: Vec<(u32, &'a str)>,
    layout: Layout<T>,
}

impl<'a, T: Copy + Default + Send + Sync> Groups<'a, T> {
    /// Group the rows of a run table; without a `run` column every row belongs to the run
    /// named `default_run`. `row_values()` gives every row's value in row order; it is called
    /// only when groups are not contiguous.
    pub fn build(
        runs: Option<&StrChunks<'a>>,
        queries: &StrChunks<'a>,
        default_run: &'a str,
        row_values: impl FnOnce() -> Vec<T>,
    ) -> Result<Self> {
        let n = queries.len();
        if u32::try_from(n).is_err() {
            return Err(Error::schema(
                table::RUN,
                format!("{n} rows; evaluation supports at most {}", u32::MAX),
            ));
        }
        let starts = segment_starts(runs, queries);
        let per_block = KEY_BLOCK.max(starts.len().div_ceil(4 * rayon::current_num_threads()));
        let mut blocks: Vec<BlockKeys> = starts
            .par_chunks(per_block)
            .map(|b| BlockKeys::scan(runs, queries, b))
            .collect();
        let merged = Merged::of(&blocks, runs.is_none().then_some(default_run));
        let layout = if merged.keys.len() == starts.len() {
            // Every key is one segment, so segments and groups are numbered alike.
            Layout::Segments { starts, n }
        } else {
            blocks
                .par_iter_mut()
                .zip(&merged.remaps)
                .for_each(|(b, remap)| b.ids.iter_mut().for_each(|id| *id = remap[*id as usize]));
            let ids = blocks.iter().flat_map(|b| b.ids.iter().copied());
            let row_values = row_values();
            let (order, values, offsets) =
                counting_sort(&starts, &row_values, ids, merged.keys.len());
            Layout::Permuted {
                order,
                values,
                offsets,
            }
        };
        Ok(Groups {
            runs: merged.runs,
            keys: merged.keys,
            layout,
        })
    }

    /// The rows of group `g`.
    pub fn rows(&self, g: usize) -> Rows<'_, T> {
        match &self.layout {
            Layout::Segments { starts, n } => {
                Rows::Range(starts[g]..starts.get(g + 1).copied().unwrap_or(*n))
            }
            Layout::Permuted {
                order,
                values,
                offsets,
            } => {
                let span = offsets[g]..offsets[g + 1];
                Rows::Listed(&order[span.clone()], &values[span])
            }
        }
    }
}

/// The first rows of the maximal runs of equal (run, query) key, ascending.
fn segment_starts(runs: Option<&StrChunks>, queries: &StrChunks) -> Vec<usize> {
    let n = queries.len();
    let blocks: Vec<Vec<usize>> = (0..n.div_ceil(SCAN_BLOCK))
        .into_par_iter()
        .map(|b| {
            let (q, r) = (queries.cursor(), runs.map(|r| r.cursor()));
            let lo = b * SCAN_BLOCK;
            let hi = (lo + SCAN_BLOCK).min(n);
            (lo..hi)
                .filter(|&i| {
                    i == 0 || !q.same(i, i - 1) || r.as_ref().is_some_and(|r| !r.same(i, i - 1))
                })
                .collect()
        })
        .collect();
    blocks.concat()
}

/// The keys of one block of segments, numbered locally.
struct BlockKeys<'a> {
    /// Run names in first-appearance order within the block (empty without a `run` column).
    runs: Vec<&'a str>,
    /// `(local run index, query id)` in first-appearance order within the block.
    keys: Vec<(u32, &'a str)>,
    /// Local key id of each segment; global group id once remapped.
    ids: Vec<u32>,
}

impl<'a> BlockKeys<'a> {
    fn scan(runs: Option<&StrChunks<'a>>, queries: &StrChunks<'a>, starts: &[usize]) -> Self {
        let (q, r) = (queries.cursor(), runs.map(|r| r.cursor()));
        let mut out = BlockKeys {
            runs: Vec::new(),
            keys: Vec::new(),
            ids: Vec::with_capacity(starts.len()),
        };
        let mut run_ids: FxHashMap<&str, u32> = FxHashMap::default();
        let mut key_ids: FxHashMap<(u32, &str), u32> = FxHashMap::default();
        // Runs are few and usually long: remember the last one to skip most run lookups.
        let mut last_run: Option<(&str, u32)> = None;
        for &i in starts {
            let ri = match &r {
                None => 0,
                Some(r) => {
                    let name = r.str(i);
                    match last_run {
                        Some((last, ri)) if last == name => ri,
                        _ => {
                            let ri = number(&mut run_ids, &mut out.runs, name);
                            last_run = Some((name, ri));
                            ri
                        }
                    }
                }
            };
            let id = number(&mut key_ids, &mut out.keys, (ri, q.str(i)));
            out.ids.push(id);
        }
        out
    }
}

/// The number of `key` in `ids`, giving it the next number (and listing it) if it is new.
fn number<K: std::hash::Hash + Eq + Copy>(
    ids: &mut FxHashMap<K, u32>,
    list: &mut Vec<K>,
    key: K,
) -> u32 {
    let next = list.len() as u32;
    let id = *ids.entry(key).or_insert(next);
    if id == next {
        list.push(key);
    }
    id
}

/// The blocks' keys merged into global numbers.
struct Merged<'a> {
    runs: Vec<&'a str>,
    keys: Vec<(u32, &'a str)>,
    /// For each block, the global group id of each of its local key ids.
    remaps: Vec<Vec<u32>>,
}

impl<'a> Merged<'a> {
    /// Merge in block order, which keeps first-appearance order.
    fn of(blocks: &[BlockKeys<'a>], default_run: Option<&'a str>) -> Self {
        let mut runs: Vec<&str> = default_run.into_iter().collect();
        let mut run_ids: FxHashMap<&str, u32> = FxHashMap::default();
        let mut keys: Vec<(u32, &str)> = Vec::new();
        let mut key_ids: FxHashMap<(u32, &str), u32> = FxHashMap::default();
        let remaps = blocks
            .iter()
            .map(|b| {
                let run_remap: Vec<u32> = b
                    .runs
                    .iter()
                    .map(|&name| number(&mut run_ids, &mut runs, name))
                    .collect();
                b.keys
                    .iter()
                    .map(|&(lr, q)| {
                        let ri = run_remap.get(lr as usize).copied().unwrap_or(0);
                        number(&mut key_ids, &mut keys, (ri, q))
                    })
                    .collect()
            })
            .collect();
        Merged { runs, keys, remaps }
    }
}

/// Row indices ordered by group (stable: ascending within a group), their values in the same
/// order, and each group's `[offsets[g], offsets[g + 1])` in them, from the segments' starts
/// and group ids. Rows are read in order; writes go to one cursor per group.
fn counting_sort<T: Copy + Default>(
    starts: &[usize],
    row_values: &[T],
    ids: impl Iterator<Item = u32> + Clone,
    groups: usize,
) -> (Vec<u32>, Vec<T>, Vec<usize>) {
    let n = row_values.len();
    let end = |s: usize| starts.get(s + 1).copied().unwrap_or(n);
    let mut offsets = vec![0usize; groups + 1];
    for (s, g) in ids.clone().enumerate() {
        offsets[g as usize + 1] += end(s) - starts[s];
    }
    for g in 0..groups {
        offsets[g + 1] += offsets[g];
    }
    let mut next = offsets[..groups].to_vec();
    let mut order = vec![0u32; n];
    let mut values = vec![T::default(); n];
    for (s, g) in ids.enumerate() {
        let at = &mut next[g as usize];
        let (lo, hi) = (starts[s], end(s));
        let span = *at..*at + (hi - lo);
        for (slot, row) in order[span.clone()].iter_mut().zip(lo..hi) {
            // Rows fit in u32: `Groups::build` checked the table's height.
            *slot = row as u32;
        }
        values[span].copy_from_slice(&row_values[lo..hi]);
        *at += hi - lo;
    }
    (order, values, offsets)
}
