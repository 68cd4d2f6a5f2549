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

use polars::prelude::*;
use rayon::prelude::*;

use hashbrown::HashTable;
use rustc_hash::{FxHashMap, FxHashSet};

use super::metrics::{compute, Metric, QueryJudgements, QueryRanking};
use super::{EvalOptions, RunValues};
use crate::cancel::Cancel;
use crate::data::schema::{
    self, hash_str, table, F64Chunks, StrChunks, DOC_ID, QUERY_ID, RELEVANCE, RUN, SCORE,
};
use crate::error::{Error, Result};
use crate::run::groups::{Groups, Rows};
use crate::run::order;

/// One query's judgements keyed by precomputed doc-id hash, with a 64-bit filter (bit
/// `h >> 58` set for every judged hash) that rejects most unjudged documents without a probe.
#[derive(Default)]
struct Judgements<'a> {
    table: HashTable<(u64, &'a str, i32)>,
    filter: u64,
}

impl<'a> Judgements<'a> {
    /// The judgement of the document with hash `h` whose id `doc()` returns; the id is read
    /// only when a judged document has a matching hash.
    #[inline]
    fn get<'d>(&self, h: u64, doc: impl Fn() -> &'d str) -> Option<i32> {
        if self.filter & (1u64 << (h >> 58)) == 0 {
            return None;
        }
        self.table.find(h, |e| e.1 == doc()).map(|e| e.2)
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
                judgements.table.reserve(rows_of_query.len(), |e| e.0);
                for &i in rows_of_query {
                    let (q, d, r) = rows[i as usize];
                    let h = hash_str(d);
                    if judgements.table.find(h, |e| e.1 == d).is_some() {
                        return Err(Error::DuplicateId {
                            kind: "qrels (query, document)",
                            id: format!("{q} / {d}"),
                            location: "the qrels table".into(),
                        });
                    }
                    judgements.table.insert_unique(h, (h, d, r), |e| e.0);
                    judgements.filter |= 1u64 << (h >> 58);
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
    //    consecutive, rows are copied into group order with their score and doc-id hash.
    let row_value = || {
        let (docs, scores) = (cols.docs.cursor(), cols.scores.cursor());
        move |i: usize| (scores.f64(i), hash_str(docs.str(i)))
    };
    let groups = Groups::build(cols.runs.as_ref(), &cols.queries, &options.name, row_value)?;
    // 2. Rank judged documents and compute metrics per group, in parallel.
    let computed = compute_groups(&cols, &groups, qrels, metrics, options, cancel)?;
    // 3. Assemble per run.
    Ok(assemble(&groups, computed, qrels, metrics, options))
}

/// Each group's metric values, `None` for a query the qrels do not hold.
fn compute_groups(
    cols: &RunColumns,
    groups: &Groups<(f64, u64)>,
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
                    let (docs, scores) = (cols.docs.cursor(), cols.scores.cursor());
                    let rows = rows.map(|i| (i, scores.f64(i), hash_str(docs.str(i))));
                    rank_judged(cols, rows, judgements, scratch)
                }
                Rows::Listed(rows, values) => {
                    let rows = rows
                        .iter()
                        .zip(values)
                        .map(|(&i, &(x, h))| (i as usize, x, h));
                    rank_judged(cols, rows, judgements, scratch)
                }
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

#[derive(Default)]
struct Scratch<'a> {
    /// `(doc-id hash, row)` of the rows seen in this query: the duplicate check.
    seen: HashTable<(u64, u32)>,
    judged: Vec<(f64, &'a str, i32)>,
    /// Scores of the documents the qrels do not judge.
    unjudged: Vec<f64>,
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

/// The ranks of a group's judged documents. `rows` yields `(row, score, doc-id hash)` for
/// each of the group's rows, ascending; doc ids are read from the table only where a hash
/// matches (a judged document, a possible duplicate) or scores tie.
fn rank_judged<'a, I>(
    cols: &RunColumns<'a>,
    rows: I,
    judgements: &Judgements<'_>,
    s: &mut Scratch<'a>,
) -> std::result::Result<QueryRanking, Duplicate<'a>>
where
    I: ExactSizeIterator<Item = (usize, f64, u64)> + Clone,
{
    let num_ret = rows.len();
    let docs = cols.docs.cursor();
    s.seen.clear();
    s.seen.reserve(num_ret, |e| e.0);
    s.judged.clear();
    s.unjudged.clear();
    for (i, score, h) in rows.clone() {
        let same_doc = |&(hj, j): &(u64, u32)| hj == h && docs.same(j as usize, i);
        match s.seen.entry(h, same_doc, |e| e.0) {
            hashbrown::hash_table::Entry::Occupied(_) => return Err(Duplicate(docs.str(i))),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((h, i as u32));
            }
        }
        match judgements.get(h, || docs.str(i)) {
            Some(rel) => s.judged.push((score, docs.str(i), rel)),
            None => s.unjudged.push(score),
        }
    }
    s.judged
        .sort_unstable_by(|a, b| order::cmp(a.0, a.1, b.0, b.1));
    let judged = ranks(&s.judged, &s.unjudged, |score, doc| {
        rows.clone()
            .filter(|&(i, x, h)| {
                x == score
                    && order::cmp_doc_ids(docs.str(i), doc).is_lt()
                    && judgements.get(h, || docs.str(i)).is_none()
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
