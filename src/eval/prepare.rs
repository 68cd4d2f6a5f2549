//! Turning a run table and a qrels table into per-query rankings of the judged documents.
//!
//! Rows are first grouped by (run, query) key, in whatever order they come (see
//! `groups`). Metrics only need the ranks of the documents that the qrels judge, so ragplay
//! never sorts a whole ranking: it sorts the few judged documents of a query by (score desc,
//! doc id desc), and the rank of each is its place among them plus the number of unjudged
//! documents ahead of it. That number is counted for each judged document by comparing it
//! with every unjudged score of the query, counting higher and equal scores, without a
//! branch and in the widest vectors the CPU has (see [`super::ahead`]); only when some score
//! is equal are doc ids read to settle the tie. That is
//! O(n·m) per query for n results and m judged ones (usually m ≤ 30, n ≈ 1,000), with no
//! sort of the n scores. Queries run in parallel (rayon).
//!
//! Run rows meet judgements by a 32-bit doc-id hash taken from the id's key tag (its Arrow
//! view when the id is at most 12 bytes, so short ids are never hashed byte by byte). One
//! branch-free pass over a query's rows (see [`rank_judged`]) sets aside the rows that a bit
//! filter of the judged hashes lets through and the rows whose hash prefix an earlier row
//! had; only those are looked up in the query's judgements or checked for a document listed
//! twice. Ids are read and compared only where hashes are equal. Rows are read a chunk at a
//! time, views and scores as slices.

use std::ops::Range;

use polars::prelude::*;
use rayon::prelude::*;

use hashbrown::HashTable;
use rustc_hash::{FxHashMap, FxHashSet};

use super::ahead::count_ahead;
use super::metrics::{compute, Metric, QueryJudgements, QueryRanking};
use super::{EvalOptions, RunValues};
use crate::cancel::Cancel;
use crate::data::schema::{self, table, DOC_ID, QUERY_ID, RELEVANCE, RUN, SCORE};
use crate::error::{Error, Result};
use crate::run::groups::{Groups, RowValues, Rows};
use crate::run::order;
use crate::run::views::{F64Chunks, StrChunks, Tag};

/// The 32-bit doc-id hash that run rows and judgements are matched by: the high half of the
/// id's mixed key tag, which for an id of at most 12 bytes is computed from its Arrow view
/// alone. Equal hashes are confirmed by comparing the ids.
#[inline(always)]
fn doc_hash(tag: Tag) -> u32 {
    (tag.mixed() >> 32) as u32
}

/// A 32-bit hash spread over 64 bits for `hashbrown`, which takes its bucket from the low
/// bits and its control byte from the top ones.
#[inline(always)]
fn spread(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// One bit per 32-bit hash prefix: 64 bits per expected item, rounded up to a power of two
/// (from 64 to `2^max_log2`), so that a hash not inserted finds its bit set with probability
/// at most about 1/64 while the cap is not reached. Testing and setting are branch-free.
#[derive(Default)]
struct HashBits {
    words: Vec<u64>,
    /// A hash's bit is `h >> shift`.
    shift: u32,
}

impl HashBits {
    /// Clear, with room for `items` items.
    fn reset(&mut self, items: usize, max_log2: u32) {
        let bits = (64 * items).next_power_of_two().clamp(64, 1 << max_log2);
        self.words.clear();
        self.words.resize(bits / 64, 0);
        self.shift = 32 - bits.trailing_zeros();
    }

    /// The word and mask of hash `h`'s bit.
    #[inline(always)]
    fn slot(&self, h: u32) -> (usize, u64) {
        let bit = (h >> self.shift) as usize;
        (bit >> 6, 1 << (bit & 63))
    }

    /// Whether `h`'s bit is set.
    #[inline(always)]
    fn contains(&self, h: u32) -> bool {
        let (w, mask) = self.slot(h);
        self.words[w] & mask != 0
    }

    /// Set `h`'s bit; whether it was set before.
    #[inline(always)]
    fn insert(&mut self, h: u32) -> bool {
        let (w, mask) = self.slot(h);
        let word = &mut self.words[w];
        let was = *word & mask != 0;
        *word |= mask;
        was
    }
}

/// One query's judgements keyed by precomputed doc-id hash, with a filter of the judged
/// hashes ([`HashBits`], at most 2^16 bits) that rejects nearly every unjudged document
/// without a probe.
#[derive(Default)]
struct Judgements<'a> {
    table: HashTable<(u32, &'a str, i32)>,
    filter: HashBits,
}

impl<'a> Judgements<'a> {
    /// Room for `judged` documents.
    fn with_capacity(judged: usize) -> Self {
        let mut out = Judgements::default();
        out.table.reserve(judged, |e| spread(e.0));
        out.filter.reset(judged, 16);
        out
    }

    /// Whether a document with hash `h` may be judged (its filter bit is set); branch-free.
    #[inline(always)]
    fn passes(&self, h: u32) -> bool {
        self.filter.contains(h)
    }

    /// The judgement of the document with hash `h` whose id `doc()` returns; the id is read
    /// only when a judged document has the same hash.
    #[inline]
    fn get<'d>(&self, h: u32, doc: impl Fn() -> &'d str) -> Option<i32> {
        if !self.passes(h) {
            return None;
        }
        self.find(h, doc)
    }

    /// [`Judgements::get`] without the filter.
    #[inline]
    fn find<'d>(&self, h: u32, doc: impl Fn() -> &'d str) -> Option<i32> {
        self.table
            .find(spread(h), |e| e.0 == h && e.1 == doc())
            .map(|e| e.2)
    }
}

/// Qrels grouped by query.
pub(crate) struct QrelsIndex<'a> {
    ids: FxHashMap<&'a str, u32>,
    /// Query ids in first-appearance order.
    order: Vec<&'a str>,
    docs: Vec<Judgements<'a>>,
    summaries: Vec<QueryJudgements>,
}

impl<'a> QrelsIndex<'a> {
    pub fn build(qrels: &'a DataFrame, level: i32) -> Result<Self> {
        let q = schema::str_column(qrels, table::QRELS, QUERY_ID)?;
        let d = schema::str_column(qrels, table::QRELS, DOC_ID)?;
        let r = schema::i32_column(qrels, table::QRELS, RELEVANCE)?;
        if qrels.height() == 0 {
            return Err(Error::Empty {
                what: "qrels table".into(),
            });
        }
        // Assign query numbers in one sequential pass (consecutive rows usually share a
        // query), then build each query's table in parallel.
        let rows: Vec<(&str, &str, i32)> = schema::str_values(q)
            .zip(schema::str_values(d))
            .zip(r.into_no_null_iter())
            .map(|((q, d), r)| (q, d, r))
            .collect();
        let mut ids: FxHashMap<&str, u32> = FxHashMap::default();
        let mut order: Vec<&str> = Vec::new();
        let mut members: Vec<Vec<u32>> = Vec::new();
        let mut last: Option<(&str, u32)> = None;
        for (i, &(q, _, _)) in rows.iter().enumerate() {
            let qi = match last {
                Some((lq, li)) if lq == q => li,
                _ => {
                    let next = order.len() as u32;
                    let qi = *ids.entry(q).or_insert(next);
                    if qi == next {
                        order.push(q);
                        members.push(Vec::new());
                    }
                    last = Some((q, qi));
                    qi
                }
            };
            members[qi as usize].push(i as u32);
        }
        let docs: Vec<Judgements> = members
            .par_iter()
            .map(|rows_of_query| {
                let mut judgements = Judgements::with_capacity(rows_of_query.len());
                for &i in rows_of_query {
                    let (q, d, r) = rows[i as usize];
                    let h = doc_hash(Tag::of_str(d));
                    if judgements.table.find(spread(h), |e| e.1 == d).is_some() {
                        return Err(Error::DuplicateId {
                            kind: "qrels (query, document)",
                            id: format!("{q} / {d}"),
                            location: "the qrels table".into(),
                        });
                    }
                    judgements
                        .table
                        .insert_unique(spread(h), (h, d, r), |e| spread(e.0));
                    judgements.filter.insert(h);
                }
                Ok(judgements)
            })
            .collect::<Result<_>>()?;
        let mut index = QrelsIndex {
            ids,
            order,
            docs,
            summaries: vec![],
        };
        index.summaries = index
            .docs
            .par_iter()
            .map(|m| QueryJudgements::new(m.table.iter().map(|e| e.2), level))
            .collect();
        Ok(index)
    }
}

/// Borrowed views of a run table's columns (chunks are read in place, never copied).
struct RunColumns<'a> {
    runs: Option<StrChunks<'a>>,
    queries: StrChunks<'a>,
    docs: StrChunks<'a>,
    scores: F64Chunks<'a>,
}

impl RowValues<Row> for &RunColumns<'_> {
    /// Rows read a chunk at a time: views and scores as slices, a doc id's bytes hashed only
    /// when it is too long to lie in its view.
    #[inline]
    fn each(&self, rows: Range<usize>, mut f: impl FnMut(usize, Row)) {
        let (docs, scores) = (self.docs.cursor(), self.scores.cursor());
        let mut lo = rows.start;
        while lo < rows.end {
            let (arr, j, doc_end) = docs.chunk_at(lo);
            let (values, k, score_end) = scores.chunk_at(lo);
            let hi = rows.end.min(doc_end).min(score_end);
            let views = &arr.views()[j..j + (hi - lo)];
            for (t, (view, &score)) in views.iter().zip(&values[k..k + (hi - lo)]).enumerate() {
                // SAFETY: `j + t` is below the chunk's length (`hi` is at most its end).
                let tag = Tag::of_view(view.as_u128(), || unsafe { arr.value_unchecked(j + t) });
                let row = lo + t;
                f(
                    row,
                    Row {
                        score,
                        hash: doc_hash(tag),
                        row: row as u32,
                    },
                );
            }
            lo = hi;
        }
    }
}

/// Evaluate every run of the table against the qrels, judgements at least
/// `options.relevance_threshold` being relevant.
pub(crate) fn evaluate_runs(
    run: &DataFrame,
    qrels: &DataFrame,
    metrics: &[Metric],
    options: &EvalOptions,
    cancel: &Cancel,
) -> Result<Vec<RunValues>> {
    let run_names = if schema::has_column(run, RUN) {
        Some(schema::str_column(run, table::RUN, RUN)?)
    } else {
        None
    };
    let queries = schema::str_column(run, table::RUN, QUERY_ID)?;
    let docs = schema::str_column(run, table::RUN, DOC_ID)?;
    let scores = schema::f64_column(run, table::RUN, SCORE)?;
    let cols = RunColumns {
        runs: run_names.map(StrChunks::strings),
        queries: StrChunks::strings(queries),
        docs: StrChunks::strings(docs),
        scores: F64Chunks::floats(&scores),
    };
    // 1. Index the qrels and, alongside (the index's first pass is sequential), group rows
    //    by (run, query) key, in any row order. When a key's rows are not all consecutive,
    //    each row's score, doc-id hash and index are laid out in group order. An error in
    //    the qrels is reported first.
    let (index, groups) = rayon::join(
        || QrelsIndex::build(qrels, options.relevance_threshold),
        || {
            // Every row, judged query or not, follows the run module's NaN policy.
            crate::run::check_scores(queries, docs, &scores)?;
            Groups::build(cols.runs.as_ref(), &cols.queries, &options.name, &cols)
        },
    );
    let (index, groups) = (index?, groups?);
    // 2. Rank judged documents and compute metrics per group, in parallel.
    let computed = compute_groups(&cols, &groups, &index, metrics, options, cancel)?;
    // 3. Assemble per run.
    Ok(assemble(&groups, computed, &index, metrics, options))
}

/// Each group's metric values, `None` for a query the qrels do not hold.
fn compute_groups(
    cols: &RunColumns,
    groups: &Groups<Row>,
    qrels: &QrelsIndex,
    metrics: &[Metric],
    options: &EvalOptions,
    cancel: &Cancel,
) -> Result<Vec<Option<Vec<f64>>>> {
    let level = options.relevance_threshold;
    cancel.start("evaluate", groups.keys.len() as u64);
    (0..groups.keys.len())
        .into_par_iter()
        .map_init(
            Default::default,
            |(scratch, read): &mut (Scratch, Vec<Row>), g| {
                cancel.check()?;
                cancel.advance(1);
                let (ri, qid) = groups.keys[g];
                let Some(&qi) = qrels.ids.get(qid) else {
                    return Ok(None);
                };
                let judgements = &qrels.docs[qi as usize];
                let ranking = match groups.rows(g) {
                    Rows::Range(rows) => {
                        read.clear();
                        cols.each(rows, |_, row| read.push(row));
                        rank_judged(cols, read, judgements, scratch)
                    }
                    Rows::Listed(rows) => rank_judged(cols, rows, judgements, scratch),
                }
                .map_err(|e| e.into_error(qid, groups.runs[ri as usize]))?;
                let summary = &qrels.summaries[qi as usize];
                Ok(Some(
                    metrics
                        .iter()
                        .map(|m| compute(m, &ranking, summary, level))
                        .collect(),
                ))
            },
        )
        .collect()
}

/// Per-run values sorted by query id, adding unanswered qrels queries when asked.
fn assemble<T>(
    groups: &Groups<T>,
    computed: Vec<Option<Vec<f64>>>,
    qrels: &QrelsIndex,
    metrics: &[Metric],
    options: &EvalOptions,
) -> Vec<RunValues> {
    let mut out: Vec<RunValues> = groups
        .runs
        .iter()
        .map(|name| RunValues {
            name: (*name).to_owned(),
            queries: vec![],
        })
        .collect();
    let mut answered: Vec<FxHashSet<&str>> = vec![FxHashSet::default(); groups.runs.len()];
    for (&(ri, qid), values) in groups.keys.iter().zip(computed) {
        answered[ri as usize].insert(qid);
        if let Some(values) = values {
            out[ri as usize].queries.push((qid.to_owned(), values));
        }
    }
    if options.include_missing {
        let empty = QueryRanking::default();
        let level = options.relevance_threshold;
        for (ri, run) in out.iter_mut().enumerate() {
            for (qi, qid) in qrels.order.iter().enumerate() {
                if !answered[ri].contains(qid) {
                    let values = metrics
                        .iter()
                        .map(|m| compute(m, &empty, &qrels.summaries[qi], level))
                        .collect();
                    run.queries.push(((*qid).to_owned(), values));
                }
            }
        }
    }
    for run in &mut out {
        run.queries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    out
}

/// What evaluation reads of a run row (laid out in group order when groups are not
/// contiguous; 16 bytes).
#[derive(Clone, Copy, Default)]
struct Row {
    score: f64,
    hash: u32,
    row: u32,
}

#[derive(Default)]
struct Scratch<'a> {
    /// The duplicate check's bit per doc-id hash prefix (see [`rank_judged`]).
    marks: HashBits,
    /// Positions (in the group) of rows whose mark was set by an earlier row.
    collided: Vec<u32>,
    /// Rows that the judgement filter let through.
    maybe: Vec<Row>,
    judged: Vec<(f64, &'a str, i32)>,
    /// Scores of the documents the qrels do not judge.
    unjudged: Vec<f64>,
    /// The judged scores and the unjudged ones above and equal to each (see [`ranks`]).
    counts: (Vec<f64>, Vec<(u32, u32)>),
}

impl Scratch<'_> {
    /// Room for a group of `n` rows, with the marks cleared (at most 2^22 bits). The
    /// position lists only grow: [`rank_judged`] writes each slot before it reads it, so
    /// they are not cleared between groups.
    fn reset(&mut self, n: usize) {
        self.marks.reset(n, 22);
        if self.collided.len() < n {
            self.collided.resize(n, 0);
            self.maybe.resize(n, Row::default());
            self.unjudged.resize(n, 0.0);
        }
        self.judged.clear();
    }
}

/// A document listed twice for one query (scores were checked for NaN up front).
struct Duplicate<'a>(&'a str);

impl Duplicate<'_> {
    /// The error naming the query (and run) it was found in.
    fn into_error(self, qid: &str, run: &str) -> Error {
        Error::DuplicateId {
            kind: "document",
            id: self.0.to_owned(),
            location: format!("run {run:?}, query {qid:?}"),
        }
    }
}

/// The ranks of a group's judged documents. `rows` are the group's rows, ascending; doc
/// ids are read from the table only where a hash matches (a judged document, a possible
/// duplicate) or scores tie.
///
/// One pass over the rows, without a branch that depends on the data, sorts them three
/// ways: a row the judgement filter rejects has its score appended to the unjudged ones, a
/// row it lets through goes to `maybe` (looked up afterwards: the judged rows and, by the
/// filter's size, an expected 1/64 or less of the unjudged ones), and a row whose bit in
/// `marks` an earlier row set goes to `collided`. Only the collided rows (an expected n/128
/// of n rows while the marks are not capped) are checked for an earlier row with the same
/// hash and doc id.
fn rank_judged<'a>(
    cols: &RunColumns<'a>,
    rows: &[Row],
    judgements: &Judgements<'_>,
    s: &mut Scratch<'a>,
) -> std::result::Result<QueryRanking, Duplicate<'a>> {
    let num_ret = rows.len();
    let docs = cols.docs.cursor();
    s.reset(num_ret);
    let (mut unjudged, mut maybe, mut collided) = (0, 0, 0);
    for (at, &r) in rows.iter().enumerate() {
        let pass = judgements.passes(r.hash);
        s.unjudged[unjudged] = r.score;
        unjudged += usize::from(!pass);
        s.maybe[maybe] = r;
        maybe += usize::from(pass);
        s.collided[collided] = at as u32;
        collided += usize::from(s.marks.insert(r.hash));
    }
    if let Some(i) = duplicate(rows, &s.collided[..collided], |a, b| docs.same(a, b)) {
        return Err(Duplicate(docs.str(i)));
    }
    for &Row { score, hash, row } in &s.maybe[..maybe] {
        let i = row as usize;
        match judgements.find(hash, || docs.str(i)) {
            Some(rel) => s.judged.push((score, docs.str(i), rel)),
            None => {
                s.unjudged[unjudged] = score;
                unjudged += 1;
            }
        }
    }
    s.judged
        .sort_unstable_by(|a, b| order::cmp(a.0, a.1, b.0, b.1));
    let judged = ranks(
        &s.judged,
        &s.unjudged[..unjudged],
        &mut s.counts,
        |score, doc| {
            rows.iter()
                .filter(|r| {
                    let i = r.row as usize;
                    r.score == score
                        && order::cmp_doc_ids(docs.str(i), doc).is_lt()
                        && judgements.get(r.hash, || docs.str(i)).is_none()
                })
                .count() as u32
        },
    );
    Ok(QueryRanking { judged, num_ret })
}

/// A row whose doc id an earlier row of the group has, among the rows at the `collided`
/// positions of `rows` (those [`rank_judged`] found with a collided mark; `same(i, j)`
/// compares the ids of table rows `i` and `j`). Each
/// collided row's hash is counted among the earlier rows' (vectorised) when that costs at
/// most a few passes over the group; otherwise (large groups, where collided rows number in
/// the hundreds) one pass lists every row whose hash a collided row has, and equal hashes are
/// found by sorting that list.
fn duplicate(rows: &[Row], collided: &[u32], same: impl Fn(usize, usize) -> bool) -> Option<usize> {
    let row = |at: u32| rows[at as usize].row as usize;
    let scan: usize = collided.iter().map(|&at| at as usize).sum();
    if scan <= 8 * rows.len() {
        return collided.iter().find_map(|&at| {
            let (h, earlier) = (rows[at as usize].hash, &rows[..at as usize]);
            if earlier.iter().fold(0u32, |n, r| n + u32::from(r.hash == h)) == 0 {
                return None;
            }
            (0..at)
                .any(|e| earlier[e as usize].hash == h && same(row(e), row(at)))
                .then(|| row(at))
        });
    }
    let wanted: FxHashSet<u32> = collided.iter().map(|&at| rows[at as usize].hash).collect();
    let mut listed: Vec<(u32, u32)> = (0..rows.len() as u32)
        .filter(|&at| wanted.contains(&rows[at as usize].hash))
        .map(|at| (rows[at as usize].hash, at))
        .collect();
    listed.sort_unstable();
    listed.chunk_by(|a, b| a.0 == b.0).find_map(|equal| {
        equal.iter().enumerate().find_map(|(k, &(_, a))| {
            equal[k + 1..]
                .iter()
                .find(|&&(_, b)| same(row(a), row(b)))
                .map(|&(_, b)| row(b))
        })
    })
}

/// `(rank, judgement)` of the judged documents, sorted best first. The i-th one's rank is
/// i + 1 plus the number of unjudged documents ahead of it: higher scores, then equal scores
/// with a larger doc id. The unjudged scores above and equal to each judged one are counted
/// over the whole contiguous slice of them ([`count_ahead`]; `work` is room for the judged
/// scores and their counts); only when some score equals its own does
/// `tied_ahead(score, doc)` read the group's rows to count the tied unjudged ones ahead.
fn ranks(
    judged: &[(f64, &str, i32)],
    unjudged: &[f64],
    work: &mut (Vec<f64>, Vec<(u32, u32)>),
    tied_ahead: impl Fn(f64, &str) -> u32,
) -> Vec<(u32, i32)> {
    let (scores, counts) = work;
    scores.clear();
    scores.extend(judged.iter().map(|j| j.0));
    counts.clear();
    counts.resize(judged.len(), (0, 0));
    count_ahead(scores, unjudged, counts);
    judged
        .iter()
        .zip(counts.iter())
        .enumerate()
        .map(|(idx, (&(score, doc, rel), &(gt, eq)))| {
            let ahead = if eq == 0 {
                gt
            } else {
                gt + tied_ahead(score, doc)
            };
            (idx as u32 + 1 + ahead, rel)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Table rows 100, 101, ... with the given hashes.
    fn rows(hashes: &[u32]) -> Vec<Row> {
        (100..)
            .zip(hashes)
            .map(|(row, &hash)| Row {
                score: 0.0,
                hash,
                row,
            })
            .collect()
    }

    #[test]
    fn duplicates_are_found_by_scanning_and_by_sorting() {
        // 3,000 rows: docs[i] is row i's doc id; hashes are its low 8 bits, so that many
        // rows with different ids share a hash.
        let n = 3000;
        let mut docs: Vec<u32> = (0..n).map(|i| i * 7919 + 13).collect();
        let hashes = |docs: &[u32]| docs.iter().map(|&d| d & 0xff).collect::<Vec<_>>();
        let same = |docs: &[u32]| {
            let docs = docs.to_vec();
            move |a: usize, b: usize| docs[a - 100] == docs[b - 100]
        };
        let few: Vec<u32> = vec![5, 700, 2999];
        let all: Vec<u32> = (0..n).collect();
        // Equal hashes, no equal ids: nothing, whichever way collided rows are checked.
        for collided in [&few, &all] {
            assert_eq!(
                duplicate(&rows(&hashes(&docs)), collided, same(&docs)),
                None
            );
        }
        // Row 2999 repeats row 1234's id: found from position 2999 both ways (a few
        // collided rows are scanned; all of them are too many to scan and are sorted).
        docs[2999] = docs[1234];
        for collided in [&few, &all] {
            let found = duplicate(&rows(&hashes(&docs)), collided, same(&docs));
            assert_eq!(found, Some(100 + 2999));
        }
        // Only the listed collided positions are checked.
        assert_eq!(
            duplicate(&rows(&hashes(&docs)), &few[..2], same(&docs)),
            None
        );
    }
}
