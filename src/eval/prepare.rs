//! Turning a run table and a qrels table into per-query rankings of the judged documents.
//!
//! Rows are first grouped by (run, query) key, in whatever order they come (see
//! `groups`). Metrics only need the ranks of the documents that the qrels judge, so ragplay
//! never sorts a whole ranking: it sorts the few judged documents of a query by (score desc,
//! doc id desc), and the rank of each is its place among them plus the number of unjudged
//! documents ahead of it. That number is counted for each judged document in one
//! branch-free (vectorised) pass over the query's unjudged scores, counting higher and
//! equal scores; only when some score is equal are doc ids read to settle the tie. That is
//! O(n·m) per query for n results and m judged ones (usually m ≤ 30, n ≈ 1,000), with no
//! sort of the n scores. Queries run in parallel (rayon).
//!
//! Run rows meet judgements by a 32-bit doc-id hash taken from the id's key tag (its Arrow
//! view when the id is at most 12 bytes, so short ids are never hashed byte by byte); a row
//! is checked against its query's judgements only when a 64-bit filter of the judged hashes
//! lets it through, and a document listed twice is found with a small hash table of the
//! query's rows ([`Seen`]). Ids are read and compared only where hashes are equal.

use polars::prelude::*;
use rayon::prelude::*;

use hashbrown::HashTable;
use rustc_hash::{FxHashMap, FxHashSet};

use super::metrics::{compute, Metric, QueryJudgements, QueryRanking};
use super::{EvalOptions, RunValues};
use crate::cancel::Cancel;
use crate::data::schema::{
    self, table, F64Chunks, StrChunks, DOC_ID, QUERY_ID, RELEVANCE, RUN, SCORE,
};
use crate::error::{Error, Result};
use crate::run::groups::{Groups, Rows};
use crate::run::keys::Tag;
use crate::run::order;

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

/// One query's judgements keyed by precomputed doc-id hash, with a 64-bit filter (bit
/// `h >> 26` set for every judged hash) that rejects most unjudged documents without a probe.
#[derive(Default)]
struct Judgements<'a> {
    table: HashTable<(u32, &'a str, i32)>,
    filter: u64,
}

impl<'a> Judgements<'a> {
    /// The judgement of the document with hash `h` whose id `doc()` returns; the id is read
    /// only when a judged document has the same hash.
    #[inline]
    fn get<'d>(&self, h: u32, doc: impl Fn() -> &'d str) -> Option<i32> {
        if self.filter & (1u64 << (h >> 26)) == 0 {
            return None;
        }
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
                let mut judgements = Judgements::default();
                judgements
                    .table
                    .reserve(rows_of_query.len(), |e| spread(e.0));
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
                    judgements.filter |= 1u64 << (h >> 26);
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

impl RunColumns<'_> {
    /// A function reading row `i` as a [`Row`] (cursors made once per call of this).
    fn row_reader(&self) -> impl Fn(usize) -> Row + '_ {
        let (docs, scores) = (self.docs.cursor(), self.scores.cursor());
        move |i| Row {
            score: scores.f64(i),
            hash: doc_hash(Tag::of(docs.str_view(i))),
            row: i as u32,
        }
    }
}

/// Evaluate every run of the table.
pub(crate) fn evaluate_runs(
    run: &DataFrame,
    qrels: &QrelsIndex,
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
    // Every row, judged query or not, follows the run module's NaN policy.
    crate::run::check_scores(queries, docs, &scores)?;
    let cols = RunColumns {
        runs: run_names.map(StrChunks::strings),
        queries: StrChunks::strings(queries),
        docs: StrChunks::strings(docs),
        scores: F64Chunks::floats(&scores),
    };
    // 1. Group rows by (run, query) key, in any row order. When a key's rows are not all
    //    consecutive, each row's score, doc-id hash and index are laid out in group order.
    let row_value = || cols.row_reader();
    let groups = Groups::build(cols.runs.as_ref(), &cols.queries, &options.name, row_value)?;
    // 2. Rank judged documents and compute metrics per group, in parallel.
    let computed = compute_groups(&cols, &groups, qrels, metrics, options, cancel)?;
    // 3. Assemble per run.
    Ok(assemble(&groups, computed, qrels, metrics, options))
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
    cancel.start(groups.keys.len() as u64);
    (0..groups.keys.len())
        .into_par_iter()
        .map_init(Scratch::default, |scratch, g| {
            cancel.check()?;
            cancel.advance(1);
            let (ri, qid) = groups.keys[g];
            let Some(&qi) = qrels.ids.get(qid) else {
                return Ok(None);
            };
            let judgements = &qrels.docs[qi as usize];
            let ranking = match groups.rows(g) {
                Rows::Range(rows) => {
                    let read = cols.row_reader();
                    rank_judged(cols, rows.map(&read), judgements, scratch)
                }
                Rows::Listed(rows) => rank_judged(cols, rows.iter().copied(), judgements, scratch),
            }
            .map_err(|e| e.into_error(qid, groups.runs[ri as usize]))?;
            let summary = &qrels.summaries[qi as usize];
            Ok(Some(
                metrics
                    .iter()
                    .map(|m| compute(m, &ranking, summary, level))
                    .collect(),
            ))
        })
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
#[derive(Clone, Copy)]
struct Row {
    score: f64,
    hash: u32,
    row: u32,
}

#[derive(Default)]
struct Scratch<'a> {
    /// The rows seen in this query by doc-id hash: the duplicate check.
    seen: Seen,
    judged: Vec<(f64, &'a str, i32)>,
    /// Scores of the documents the qrels do not judge.
    unjudged: Vec<f64>,
}

/// The duplicate check of one query's rows: an open-addressing table (linear probing, at
/// most half full) of 4-byte slots, each 0 (empty) or 1 + the index of a `(hash, row)` in
/// `seen`, so that a 1,000-row query's table takes 8 KiB, stays in the L1 cache, and is
/// cleared by one fill.
#[derive(Default)]
struct Seen {
    slots: Vec<u32>,
    seen: Vec<(u32, u32)>,
    /// `64 - log2(slots.len())`.
    shift: u32,
}

impl Seen {
    /// Forget every row, with room for `rows` of them.
    fn reset(&mut self, rows: usize) {
        let size = (2 * rows).next_power_of_two().max(16);
        self.slots.clear();
        self.slots.resize(size, 0);
        self.seen.clear();
        self.shift = 64 - size.trailing_zeros();
    }

    /// Record `row`, whose doc id has hash `hash`; true when a row recorded before has the
    /// same doc id (`same(earlier)` compares the ids where hashes are equal).
    #[inline(always)]
    fn insert(&mut self, hash: u32, row: u32, same: impl Fn(u32) -> bool) -> bool {
        let mask = self.slots.len() - 1;
        let mut at = (spread(hash) >> self.shift) as usize;
        loop {
            let k = self.slots[at];
            if k == 0 {
                break;
            }
            let (h, earlier) = self.seen[k as usize - 1];
            if h == hash && same(earlier) {
                return true;
            }
            at = (at + 1) & mask;
        }
        self.seen.push((hash, row));
        self.slots[at] = self.seen.len() as u32;
        false
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

/// The ranks of a group's judged documents. `rows` yields the group's rows, ascending; doc
/// ids are read from the table only where a hash matches (a judged document, a possible
/// duplicate) or scores tie.
fn rank_judged<'a, I>(
    cols: &RunColumns<'a>,
    rows: I,
    judgements: &Judgements<'_>,
    s: &mut Scratch<'a>,
) -> std::result::Result<QueryRanking, Duplicate<'a>>
where
    I: ExactSizeIterator<Item = Row> + Clone,
{
    let num_ret = rows.len();
    let docs = cols.docs.cursor();
    s.seen.reset(num_ret);
    s.judged.clear();
    s.unjudged.clear();
    for Row { score, hash, row } in rows.clone() {
        let i = row as usize;
        if s.seen.insert(hash, row, |j| docs.same(j as usize, i)) {
            return Err(Duplicate(docs.str(i)));
        }
        match judgements.get(hash, || docs.str(i)) {
            Some(rel) => s.judged.push((score, docs.str(i), rel)),
            None => s.unjudged.push(score),
        }
    }
    s.judged
        .sort_unstable_by(|a, b| order::cmp(a.0, a.1, b.0, b.1));
    let judged = ranks(&s.judged, &s.unjudged, |score, doc| {
        rows.clone()
            .filter(|r| {
                let i = r.row as usize;
                r.score == score
                    && order::cmp_doc_ids(docs.str(i), doc).is_lt()
                    && judgements.get(r.hash, || docs.str(i)).is_none()
            })
            .count() as u32
    });
    Ok(QueryRanking { judged, num_ret })
}

/// `(rank, judgement)` of the judged documents, sorted best first. The i-th one's rank is
/// i + 1 plus the number of unjudged documents ahead of it: higher scores, then equal scores
/// with a larger doc id. Each judged document counts over the whole contiguous slice of
/// unjudged scores (branch-free, vectorised); only when some score equals its own does
/// `tied_ahead(score, doc)` read the group's rows to count the tied unjudged ones ahead.
fn ranks(
    judged: &[(f64, &str, i32)],
    unjudged: &[f64],
    tied_ahead: impl Fn(f64, &str) -> u32,
) -> Vec<(u32, i32)> {
    judged
        .iter()
        .enumerate()
        .map(|(idx, &(score, doc, rel))| {
            let (gt, eq) = unjudged.iter().fold((0u32, 0u32), |(g, e), &x| {
                (g + u32::from(x > score), e + u32::from(x == score))
            });
            let ahead = if eq == 0 {
                gt
            } else {
                gt + tied_ahead(score, doc)
            };
            (idx as u32 + 1 + ahead, rel)
        })
        .collect()
}
