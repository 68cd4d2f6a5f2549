//! Grouping a run table's rows by (run, query) key, whatever the order of the rows.
//!
//! Rows are first split into maximal segments of consecutive rows with equal key (a parallel
//! scan that compares neighbours' 16-byte views a chunk at a time, reading bytes only for
//! long ids that share their length and 4-byte prefix). The scan gives up as soon as a part
//! of the table has more than one segment per `MIN_SEGMENT` rows (shuffled rows, where
//! nearly every row is its own segment): it then costs a few thousand comparisons, and each
//! row is numbered on its own instead of each segment.
//!
//! Items (segments, or rows) get group ids in two passes. Blocks of items each number their
//! own keys in a local [`KeyTable`], in parallel. Without a run column the key is the query
//! id, tagged by its 16-byte view when it is short enough to lie whole in it (no hashing and
//! no string comparison), and rows are read as slices of views; with one, the tag is the
//! FxHash of the query id mixed with that of the run name (the run's hash is reused while the
//! run name repeats), confirmed by comparing views or bytes, and keys are made a batch at a
//! time with their slots prefetched. Each local key counts its rows. The local keys are
//! merged in block order into global ids, reusing their tags (there are few distinct keys,
//! thousands, against millions of rows). Runs and groups are numbered in order of first
//! appearance.
//!
//! When segments were found and there are as many groups as segments (the usual table: each
//! query's rows together), group `g` is segment `g`, a range of rows, and nothing more is
//! built. Otherwise (shuffled rows, a join, concatenated shards) a parallel counting sort
//! lays out a small value per row (the caller's: a score, a hash, the row index), computed
//! as the row is read, so that each group's rows, ascending, are one slice of that buffer
//! and work on a group reads them from contiguous memory instead of from all over the table:
//! the merged row counts give each group's slice, and each block's rows of a group go to
//! their own sub-slice after those of earlier blocks, so blocks scatter in parallel into
//! disjoint slots. The buffer is backed by huge pages where the kernel allows
//! (`MADV_HUGEPAGE`), since the scatter writes to thousands of places at once.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::keys::{KeyTable, TableKey};
use super::views::{hash_str, same_pair, same_string, Cursor, StrArray, StrChunks, Tag};
use crate::data::schema::table;
use crate::error::{Error, Result};

/// Rows per parallel task when scanning for segment boundaries.
const SCAN_BLOCK: usize = 1 << 16;
/// Rows scanned between two checks of whether segments are too short to be worth finding.
const SCAN_CHECK: usize = 1 << 12;
/// Segments shorter than this on average (in any checked part of the table) make the scan
/// give up, and rows are numbered one by one.
const MIN_SEGMENT: usize = 2;
/// Fewest items per block when numbering keys: fewer blocks mean fewer local keys to merge.
const KEY_BLOCK: usize = 1 << 16;
/// Keys made (and their slots prefetched) before they are numbered.
const KEY_BATCH: usize = 32;

/// What the counting sort lays out for each row (see the module docs).
pub(crate) trait RowValues<T>: Sync {
    /// Call `f(row, value)` for each row of `rows`, ascending.
    fn each(&self, rows: Range<usize>, f: impl FnMut(usize, T));
}

/// A function making (once per call of `each`) a function of the row.
impl<T, V: Fn(usize) -> T, F: Fn() -> V + Sync> RowValues<T> for F {
    #[inline]
    fn each(&self, rows: Range<usize>, mut f: impl FnMut(usize, T)) {
        let value = self();
        for row in rows {
            f(row, value(row));
        }
    }
}

/// The rows of one group, ascending.
pub(crate) enum Rows<'g, T> {
    /// Consecutive rows.
    Range(Range<usize>),
    /// The value of each row (which says which row it is, if the caller needs that).
    Listed(&'g [T]),
}

/// Where each group's rows lie.
enum Layout<T> {
    /// Group `g` is segment `g`: rows `starts[g]..starts[g + 1]`, the last one ending at `n`.
    Segments { starts: Vec<usize>, n: usize },
    /// Group `g`'s rows' values are `values[offsets[g]..offsets[g + 1]]`.
    Permuted { values: Vec<T>, offsets: Vec<usize> },
}

/// A run table's rows grouped by (run, query).
pub(crate) struct Groups<'a, T> {
    /// Run names in first-appearance order.
    pub runs: Vec<&'a str>,
    /// `(run index, query id)` of each group, in first-appearance order.
    pub keys: Vec<(u32, &'a str)>,
    layout: Layout<T>,
}

impl<'a, T: Copy + Send + Sync> Groups<'a, T> {
    /// Group the rows of a run table; without a `run` column every row belongs to the run
    /// named `default_run`. `row_values` gives the rows' values; it is used only when
    /// groups are not contiguous. Rows are counted in u32.
    pub fn build(
        runs: Option<&StrChunks<'a>>,
        queries: &StrChunks<'a>,
        default_run: &'a str,
        row_values: impl RowValues<T>,
    ) -> Result<Self> {
        let n = queries.len();
        if u32::try_from(n).is_err() {
            return Err(Error::schema(
                table::RUN,
                format!("{n} rows; at most {} are supported", u32::MAX),
            ));
        }
        let keyer = Keyer {
            runs,
            queries,
            default_run,
        };
        let (keys, layout) = match segment_starts(runs, queries) {
            Some(starts) => {
                let span = |s: usize| starts[s]..starts.get(s + 1).copied().unwrap_or(n);
                let blocks = key_blocks(&keyer, starts.len(), Items::Segments(&span));
                let merged = Merged::of(&blocks);
                if merged.keys.len() == starts.len() {
                    // Every key is one segment, so segments and groups are numbered alike.
                    (merged.keys, Layout::Segments { starts, n })
                } else {
                    let layout = scatter(&blocks, &merged, n, Items::Segments(&span), row_values);
                    (merged.keys, layout)
                }
            }
            None => {
                let blocks = key_blocks(&keyer, n, Items::Rows);
                let merged = Merged::of(&blocks);
                let layout = scatter(&blocks, &merged, n, Items::Rows, row_values);
                (merged.keys, layout)
            }
        };
        let (runs, keys) = number_runs(&keys, runs.is_none().then_some(default_run));
        Ok(Groups { runs, keys, layout })
    }

    /// The number of rows of group `g`.
    pub fn row_count(&self, g: usize) -> usize {
        match self.rows(g) {
            Rows::Range(rows) => rows.len(),
            Rows::Listed(values) => values.len(),
        }
    }

    /// The rows of group `g`.
    pub fn rows(&self, g: usize) -> Rows<'_, T> {
        match &self.layout {
            Layout::Segments { starts, n } => {
                Rows::Range(starts[g]..starts.get(g + 1).copied().unwrap_or(*n))
            }
            Layout::Permuted { values, offsets } => {
                Rows::Listed(&values[offsets[g]..offsets[g + 1]])
            }
        }
    }
}

/// The first rows of the maximal runs of equal (run, query) key, ascending; `None` when some
/// part of the table has more than one segment per `MIN_SEGMENT` rows.
fn segment_starts(runs: Option<&StrChunks>, queries: &StrChunks) -> Option<Vec<usize>> {
    let n = queries.len();
    let short = AtomicBool::new(false);
    let blocks: Option<Vec<Vec<usize>>> = (0..n.div_ceil(SCAN_BLOCK))
        .into_par_iter()
        .map(|b| {
            let (q, r) = (queries.cursor(), runs.map(|r| r.cursor()));
            let lo = b * SCAN_BLOCK;
            let hi = (lo + SCAN_BLOCK).min(n);
            let mut starts = Vec::new();
            for part in (lo..hi).step_by(SCAN_CHECK) {
                if short.load(Ordering::Relaxed) {
                    return None;
                }
                let end = (part + SCAN_CHECK).min(hi);
                let from = starts.len();
                changes(&q, part..end, &mut starts);
                if let Some(r) = &r {
                    // The part's starts are those of either column.
                    changes(r, part..end, &mut starts);
                    let mut part_starts = starts.split_off(from);
                    part_starts.sort_unstable();
                    part_starts.dedup();
                    starts.extend(part_starts);
                }
                if starts.len() * MIN_SEGMENT > end - lo {
                    short.store(true, Ordering::Relaxed);
                    return None;
                }
            }
            Some(starts)
        })
        .collect();
    blocks.map(|b| b.concat())
}

/// Append to `out` the rows of `rows` whose string differs from the row before's (row 0
/// always does), ascending. Rows are read a chunk at a time, as slices of views compared by
/// [`same_string`]: only long strings sharing length and prefix are compared byte by byte.
fn changes(c: &Cursor<'_, '_, StrArray>, rows: Range<usize>, out: &mut Vec<usize>) {
    let mut i = rows.start;
    while i < rows.end {
        if i == 0 || c.chunk_at(i).1 == 0 {
            // The first row of a chunk: its predecessor, if any, lies in another chunk.
            if i == 0 || !c.same(i, i - 1) {
                out.push(i);
            }
            i += 1;
            continue;
        }
        let (arr, j, chunk_end) = c.chunk_at(i);
        let hi = rows.end.min(chunk_end);
        let views = &arr.views()[j - 1..j + (hi - i)];
        for (t, pair) in views.windows(2).enumerate() {
            // SAFETY: both offsets are below the chunk's length (`hi` is at most its end).
            let bytes_equal =
                || unsafe { arr.value_unchecked(j + t) == arr.value_unchecked(j + t - 1) };
            if !same_string(pair[1].as_u128(), pair[0].as_u128(), true, bytes_equal) {
                out.push(i + t);
            }
        }
        i = hi;
    }
}

/// What a key is read from.
struct Keyer<'k, 'a> {
    runs: Option<&'k StrChunks<'a>>,
    queries: &'k StrChunks<'a>,
    default_run: &'a str,
}

/// A (run, query) key with its tag and each string with its 16-byte view.
#[derive(Clone, Copy)]
struct Key<'a> {
    tag: Tag,
    run: (&'a str, u128),
    query: (&'a str, u128),
}

impl TableKey for Key<'_> {
    #[inline(always)]
    fn tag(&self) -> Tag {
        self.tag
    }

    #[inline(always)]
    fn same(&self, other: &Self) -> bool {
        same_pair(self.query, other.query) && same_pair(self.run, other.run)
    }
}

/// The keys of one block of items, numbered locally.
struct BlockKeys<'a> {
    /// The block's items.
    items: Range<usize>,
    /// Keys in first-appearance order within the block.
    keys: Vec<Key<'a>>,
    /// Rows of each local key in the block.
    rows: Vec<usize>,
    /// Local key id of each item.
    ids: Vec<u32>,
}

/// Items `0..count` numbered by blocks in parallel.
fn key_blocks<'a>(keyer: &Keyer<'_, 'a>, count: usize, items: Items) -> Vec<BlockKeys<'a>> {
    let per_block = KEY_BLOCK.max(count.div_ceil(4 * rayon::current_num_threads()));
    (0..count.div_ceil(per_block))
        .into_par_iter()
        .map(|b| {
            let block = b * per_block..((b + 1) * per_block).min(count);
            match (&items, keyer.runs) {
                (Items::Rows, None) => BlockKeys::scan_queries(keyer, block),
                (Items::Rows, Some(_)) => BlockKeys::scan(keyer, block, &|i| i..i + 1),
                (Items::Segments(span), _) => BlockKeys::scan(keyer, block, span),
            }
        })
        .collect()
}

impl<'a> BlockKeys<'a> {
    /// No keys yet, with room for the ids of `items`.
    fn new(items: Range<usize>) -> Self {
        let mut ids = Vec::with_capacity(items.len());
        // Megabytes written once, in order: huge pages take one fault where 4 KiB pages
        // take hundreds.
        advise_huge_pages(&mut ids);
        BlockKeys {
            items,
            keys: Vec::new(),
            rows: Vec::new(),
            ids,
        }
    }

    /// The next item has local key `id` and `rows` rows.
    #[inline(always)]
    fn count(&mut self, id: u32, rows: usize) {
        if id as usize == self.rows.len() {
            self.rows.push(0);
        }
        self.rows[id as usize] += rows;
        self.ids.push(id);
    }

    /// Rows `rows` of a table without a run column: query ids read a chunk at a time, as
    /// slices of views. The table of a few thousand keys stays in cache, so lookups are not
    /// batched.
    fn scan_queries(keyer: &Keyer<'_, 'a>, rows: Range<usize>) -> Self {
        let q = keyer.queries.cursor();
        let mut out = BlockKeys::new(rows.clone());
        let mut table = KeyTable::new();
        let mut i = rows.start;
        while i < rows.end {
            let (arr, j, chunk_end) = q.chunk_at(i);
            let hi = rows.end.min(chunk_end);
            for (t, view) in arr.views()[j..j + (hi - i)].iter().enumerate() {
                let view = view.as_u128();
                // SAFETY: `j + t` is below the chunk's length (`hi` is at most its end).
                let text = || unsafe { arr.value_unchecked(j + t) };
                let tag = Tag::of_view(view, text);
                let key = || Key {
                    tag,
                    run: (keyer.default_run, 0),
                    query: (text(), view),
                };
                let id = table.number_lazy(&mut out.keys, tag, key);
                out.count(id, 1);
            }
            i = hi;
        }
        out
    }

    fn scan(
        keyer: &Keyer<'_, 'a>,
        items: Range<usize>,
        span: &impl Fn(usize) -> Range<usize>,
    ) -> Self {
        let (q, r) = (keyer.queries.cursor(), keyer.runs.map(|r| r.cursor()));
        let mut out = BlockKeys::new(items.clone());
        let mut table = KeyTable::new();
        // Runs are few and usually long: the last run's hash is reused while its name repeats.
        let mut run = ((keyer.default_run, 0u128), 0u64);
        // Tags are made a batch at a time, each one's slot prefetched, then numbered: the
        // table's cache misses overlap instead of stalling one row at a time. A key's strings
        // are read only when it is new or its tag does not decide equality.
        let mut batch: Vec<(Tag, usize)> = Vec::with_capacity(KEY_BATCH);
        for first in items.clone().step_by(KEY_BATCH) {
            batch.clear();
            for s in first..(first + KEY_BATCH).min(items.end) {
                let i = span(s).start;
                // Without a run column the key is the query id, tagged by its view when short.
                let tag = match &r {
                    None => Tag::of_view(q.view(i), || q.str(i)),
                    Some(r) => {
                        let name = r.str_view(i);
                        if !same_pair(name, run.0) {
                            run = (name, hash_str(name.0));
                        }
                        let mixed = run.1.rotate_left(32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                        Tag::hashed(hash_str(q.str(i)) ^ mixed)
                    }
                };
                table.prefetch(tag);
                batch.push((tag, s));
            }
            for &(tag, s) in &batch {
                let rows = span(s);
                let i = rows.start;
                let key = || Key {
                    tag,
                    run: r.as_ref().map_or((keyer.default_run, 0), |r| r.str_view(i)),
                    query: q.str_view(i),
                };
                let id = table.number_lazy(&mut out.keys, tag, key);
                out.count(id, rows.len());
            }
        }
        out
    }
}

/// The blocks' keys merged into global numbers.
struct Merged<'a> {
    keys: Vec<Key<'a>>,
    /// For each block, the global group id of each of its local key ids.
    remaps: Vec<Vec<u32>>,
}

impl<'a> Merged<'a> {
    /// Merge in block order, which keeps first-appearance order.
    fn of(blocks: &[BlockKeys<'a>]) -> Self {
        let mut table = KeyTable::new();
        let mut keys = Vec::new();
        let remaps = blocks
            .iter()
            .map(|b| {
                b.keys
                    .iter()
                    .map(|&key| table.number(&mut keys, key))
                    .collect()
            })
            .collect();
        Merged { keys, remaps }
    }
}

/// Runs numbered in order of first appearance (that of their first key), and each key as
/// `(run index, query id)`. Without a `run` column the one run is `default_run`.
fn number_runs<'a>(
    keys: &[Key<'a>],
    default_run: Option<&'a str>,
) -> (Vec<&'a str>, Vec<(u32, &'a str)>) {
    if let Some(name) = default_run {
        return (vec![name], keys.iter().map(|k| (0, k.query.0)).collect());
    }
    let mut runs = Vec::new();
    let mut ids: FxHashMap<&str, u32> = FxHashMap::default();
    let keys = keys
        .iter()
        .map(|k| {
            let next = runs.len() as u32;
            let ri = *ids.entry(k.run.0).or_insert(next);
            if ri == next {
                runs.push(k.run.0);
            }
            (ri, k.query.0)
        })
        .collect();
    (runs, keys)
}

/// A pointer that parallel tasks write through at disjoint indices.
struct Shared<T>(*mut T);

// SAFETY: tasks write through the pointer only at indices no other task writes (see
// `scatter`), and the buffer outlives them.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as for `Send`: no two tasks touch the same index, so sharing the pointer is sound.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Write `value` at index `at`.
    ///
    /// # Safety
    /// `at` is within the buffer and no other task reads or writes it.
    #[inline(always)]
    unsafe fn write(&self, at: usize, value: T) {
        // SAFETY: the caller's contract.
        unsafe { self.0.add(at).write(value) }
    }
}

/// Ask the kernel to back a fresh buffer's spare capacity with huge pages before it is
/// first written. The scatter writes to one place per group per block, thousands of places
/// at once spread over the whole buffer: with 4 KiB pages nearly every write misses the TLB
/// and the first write to each page faults; 2 MiB pages make both rare. Advice only: where
/// the kernel declines (or on other systems) nothing changes.
fn advise_huge_pages<T>(buffer: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = buffer.capacity() * std::mem::size_of::<T>();
        let start = buffer.as_mut_ptr() as usize;
        let (lo, hi) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
        if hi > lo {
            // SAFETY: `lo..hi` lies inside the buffer's allocation, which nothing has written
            // yet; MADV_HUGEPAGE changes how pages are backed, never their contents.
            unsafe {
                libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buffer;
}

/// What the items numbered by [`key_blocks`] are.
enum Items<'s> {
    /// Each item is one row.
    Rows,
    /// Item `s` is the segment of rows `span(s)`.
    Segments(&'s (dyn Fn(usize) -> Range<usize> + Sync)),
}

/// The counting sort: row values ordered by group (stable: rows ascending within a group),
/// and each group's `[offsets[g], offsets[g + 1])` in them. Blocks scatter their rows in
/// parallel, each into its own slots of each group's slice.
fn scatter<T: Copy + Send + Sync>(
    blocks: &[BlockKeys],
    merged: &Merged,
    n: usize,
    items: Items,
    row_values: impl RowValues<T>,
) -> Layout<T> {
    let groups = merged.keys.len();
    let mut offsets = vec![0usize; groups + 1];
    for (b, remap) in blocks.iter().zip(&merged.remaps) {
        for (&g, &rows) in remap.iter().zip(&b.rows) {
            offsets[g as usize + 1] += rows;
        }
    }
    for g in 0..groups {
        offsets[g + 1] += offsets[g];
    }
    // Each block's first slot for each of its local keys: after the earlier blocks' rows.
    let mut next = offsets[..groups].to_vec();
    let cursors: Vec<Vec<usize>> = blocks
        .iter()
        .zip(&merged.remaps)
        .map(|(b, remap)| {
            let at = |(&g, &rows): (&u32, &usize)| {
                let at = next[g as usize];
                next[g as usize] += rows;
                at
            };
            remap.iter().zip(&b.rows).map(at).collect()
        })
        .collect();
    let mut values: Vec<T> = Vec::with_capacity(n);
    advise_huge_pages(&mut values);
    let out = Shared(values.as_mut_ptr());
    // The slots `offsets[g]..offsets[g + 1]` of group `g` are split between blocks by their
    // row counts of `g`, so each slot below `n` is written by one block, once.
    blocks
        .par_iter()
        .zip(cursors)
        .for_each(|(b, mut cursor)| match &items {
            Items::Rows => {
                let first = b.items.start;
                row_values.each(b.items.clone(), |row, value| {
                    let at = &mut cursor[b.ids[row - first] as usize];
                    // SAFETY: this block's slot for the row's group, below `n` and written
                    // by no other block (see above).
                    unsafe { out.write(*at, value) };
                    *at += 1;
                });
            }
            Items::Segments(span) => {
                for (s, &id) in b.items.clone().zip(&b.ids) {
                    let at = &mut cursor[id as usize];
                    row_values.each(span(s), |_, value| {
                        // SAFETY: this block's slot for the segment's group, below `n` and
                        // written by no other block (see above).
                        unsafe { out.write(*at, value) };
                        *at += 1;
                    });
                }
            }
        });
    // SAFETY: the slots of all groups cover `0..n` (the row counts sum to `n`), and every
    // slot was written above.
    unsafe { values.set_len(n) };
    Layout::Permuted { values, offsets }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_key<'a>(query: &'a str, run: &'a str, views: (u128, u128)) -> Key<'a> {
        Key {
            tag: Tag::hashed(5),
            run: (run, views.1),
            query: (query, views.0),
        }
    }

    /// A string column of `values` in chunks of the given sizes (appended without
    /// rechunking), each chunk with its own buffers.
    fn column(values: &[String], sizes: &[usize]) -> polars::prelude::StringChunked {
        use polars::prelude::*;
        let mut at = 0;
        let mut out: Option<StringChunked> = None;
        for &size in sizes {
            let part = StringChunked::new("q".into(), &values[at..at + size]);
            at += size;
            match &mut out {
                None => out = Some(part),
                Some(ca) => ca.append(&part).unwrap(),
            }
        }
        assert_eq!(at, values.len());
        out.unwrap()
    }

    /// Ids of every kind the view comparison tells apart differently: short ones, long ones
    /// sharing their length and 4-byte prefix (told apart only by their bytes), and equal
    /// long ones stored twice (different views of the same string); each id repeated 1 to
    /// `repeats` times.
    fn ids(n: usize, repeats: usize, seed: u64) -> Vec<String> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let id = match rng.below(4) {
                0 => format!("q{}", rng.below(3)),
                1 => format!("query-with-a-long-id-{}", rng.below(3)),
                _ => format!("query-{}-with-a-long-id", rng.below(3)),
            };
            for _ in 0..1 + rng.below(repeats) {
                out.push(id.clone());
            }
        }
        out.truncate(n);
        out
    }

    #[test]
    fn segment_starts_are_the_rows_whose_id_changes() {
        let values = ids(3000, 9, 11);
        let expected: Vec<usize> = (0..values.len())
            .filter(|&i| i == 0 || values[i] != values[i - 1])
            .collect();
        for sizes in [vec![3000], vec![1, 999, 1000, 7, 993], vec![1500, 1500]] {
            let ca = column(&values, &sizes);
            let chunks = StrChunks::strings(&ca);
            let cursor = chunks.cursor();
            // Whole, and from parts starting anywhere (inside chunks and at their edges).
            for cuts in [vec![0, 3000], vec![0, 1, 999, 1000, 1001, 2000, 3000]] {
                let mut got = Vec::new();
                for part in cuts.windows(2) {
                    changes(&cursor, part[0]..part[1], &mut got);
                }
                assert_eq!(got, expected, "chunks {sizes:?}, parts {cuts:?}");
            }
        }
        // With a run column, a row starts a segment when either id changes.
        let runs = ids(3000, 100, 12);
        let (q, r) = (column(&values, &[1000, 2000]), column(&runs, &[2999, 1]));
        let (q, r) = (StrChunks::strings(&q), StrChunks::strings(&r));
        let both: Vec<usize> = (0..values.len())
            .filter(|&i| i == 0 || values[i] != values[i - 1] || runs[i] != runs[i - 1])
            .collect();
        assert_eq!(segment_starts(Some(&r), &q), Some(both));
    }

    #[test]
    fn rows_are_grouped_by_query_id_in_any_order() {
        use rustc_hash::FxHashMap;
        let values = ids(5000, 5, 13);
        let mut shuffled = values.clone();
        crate::rng::SplitMix64::new(14).shuffle(&mut shuffled);
        for (table, sizes) in [(&values, vec![5000]), (&shuffled, vec![2500, 1, 2499])] {
            let ca = column(table, &sizes);
            let chunks = StrChunks::strings(&ca);
            let groups = Groups::build(None, &chunks, "run", || |row: usize| row).unwrap();
            // Groups in first-appearance order, each listing its rows ascending.
            let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
            let mut at: FxHashMap<&str, usize> = FxHashMap::default();
            for (row, id) in table.iter().enumerate() {
                let g = *at.entry(id).or_insert_with(|| {
                    expected.push((id.clone(), Vec::new()));
                    expected.len() - 1
                });
                expected[g].1.push(row);
            }
            let got: Vec<(String, Vec<usize>)> = (0..groups.keys.len())
                .map(|g| {
                    let rows = match groups.rows(g) {
                        Rows::Range(rows) => rows.collect(),
                        Rows::Listed(rows) => rows.to_vec(),
                    };
                    (groups.keys[g].1.to_owned(), rows)
                })
                .collect();
            assert_eq!(got, expected, "chunks {sizes:?}");
            assert_eq!(groups.runs, ["run"]);
        }
    }

    #[test]
    fn keys_differ_by_their_run_too() {
        // Long run names are compared by their bytes: the same name stored at two places
        // has two views.
        use polars_arrow::array::View;
        let view = |s: &str, at: u32| View::new_from_bytes(s.as_bytes(), 0, at).as_u128();
        let long = "a run name longer than twelve bytes";
        let (q, r1, r2) = (view("q", 0), view("r1", 0), view("r2", 0));
        let mut keys = Vec::new();
        let mut table = KeyTable::new();
        assert_eq!(table.number(&mut keys, run_key("q", "r1", (q, r1))), 0);
        assert_eq!(table.number(&mut keys, run_key("q", "r2", (q, r2))), 1);
        assert_eq!(table.number(&mut keys, run_key("q", "r1", (q, r1))), 0);
        assert_eq!(
            table.number(&mut keys, run_key("q", long, (q, view(long, 0)))),
            2
        );
        assert_eq!(
            table.number(&mut keys, run_key("q", long, (q, view(long, 40)))),
            2
        );
        assert_eq!(table.number(&mut keys, run_key("q", "r2", (q, r2))), 1);
    }
}
