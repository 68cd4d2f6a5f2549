//! Turning a run table and a qrels table into per-query rankings of the judged documents.
//!
//! Metrics only need the ranks of the documents that the qrels judge, so ragplay never sorts
//! a whole ranking: it sorts the few judged documents of a query by (score desc, doc id desc)
//! and places every unjudged document among them by binary search, counting how many land
//! ahead of each judged one. That is O(n log m) per query for n results and m judged ones,
//! instead of O(n log n), and queries run in parallel (rayon).

use polars::prelude::*;
use rayon::prelude::*;
use std::hash::Hasher;

use hashbrown::HashTable;
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};

use super::metrics::{compute, Metric, QueryJudgements, QueryRanking};
use super::{EvalOptions, RunValues};
use crate::cancel::Cancel;
use crate::data::schema::{
    self, table, F64Chunks, StrChunks, DOC_ID, QUERY_ID, RELEVANCE, RUN, SCORE,
};
use crate::error::{Error, Result};

/// FxHash of a string: computed once per run row and reused for the duplicate check and
/// the qrels lookup.
#[inline]
fn hash_str(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

/// One query's judgements keyed by precomputed doc-id hash, with a 64-bit filter (bit
/// `h >> 58` set for every judged hash) that rejects most unjudged documents without a probe.
#[derive(Default)]
struct Judgements<'a> {
    table: HashTable<(u64, &'a str, i32)>,
    filter: u64,
}

impl<'a> Judgements<'a> {
    #[inline]
    fn get(&self, h: u64, doc: &str) -> Option<i32> {
        if self.filter & (1u64 << (h >> 58)) == 0 {
            return None;
        }
        self.table.find(h, |e| e.1 == doc).map(|e| e.2)
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

/// Rows per parallel task when scanning for group boundaries.
const SCAN_BLOCK: usize = 1 << 16;

impl RunColumns<'_> {
    /// The first rows of the maximal runs of equal (run, query) key, ascending.
    fn group_starts(&self) -> Vec<usize> {
        let n = self.queries.len();
        let blocks: Vec<Vec<usize>> = (0..n.div_ceil(SCAN_BLOCK))
            .into_par_iter()
            .map(|b| {
                let (q, r) = (
                    self.queries.cursor(),
                    self.runs.as_ref().map(|r| r.cursor()),
                );
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
}

/// Evaluate every run of the table.
pub(crate) fn evaluate_runs(
    run: &DataFrame,
    qrels: &QrelsIndex,
    metrics: &[Metric],
    options: &EvalOptions,
    cancel: &Cancel,
) -> Result<Vec<RunValues>> {
    let has_run_col = schema::has_column(run, RUN);
    let run_names = if has_run_col {
        Some(schema::str_column(run, table::RUN, RUN)?)
    } else {
        None
    };
    let queries = schema::str_column(run, table::RUN, QUERY_ID)?;
    let docs = schema::str_column(run, table::RUN, DOC_ID)?;
    let scores = schema::f64_column(run, table::RUN, SCORE)?;
    let n = run.height();
    let cols = RunColumns {
        runs: run_names.map(StrChunks::strings),
        queries: StrChunks::strings(queries),
        docs: StrChunks::strings(docs),
        scores: F64Chunks::floats(&scores),
    };

    // 1. Split rows into segments of equal (run, query) key, in parallel; a key's rows are
    //    the segments that carry it (one segment when the table is grouped, as usual).
    let starts = cols.group_starts();
    let (run_cursor, query_cursor) = (
        cols.runs.as_ref().map(|r| r.cursor()),
        cols.queries.cursor(),
    );
    let mut run_ids: Vec<&str> = Vec::new();
    if !has_run_col {
        run_ids.push(options.name.as_str());
    }
    let mut groups: FxHashMap<(u32, &str), u32> = FxHashMap::default();
    let mut keys: Vec<(u32, &str)> = Vec::new();
    let mut segments: Vec<Vec<(usize, usize)>> = Vec::new();
    for (s, &start) in starts.iter().enumerate() {
        let end = starts.get(s + 1).copied().unwrap_or(n);
        let ri = match &run_cursor {
            None => 0,
            Some(a) => {
                let name = a.str(start);
                match run_ids.iter().position(|x| *x == name) {
                    Some(p) => p as u32,
                    None => {
                        run_ids.push(name);
                        (run_ids.len() - 1) as u32
                    }
                }
            }
        };
        let q = query_cursor.str(start);
        let next = keys.len() as u32;
        let g = *groups.entry((ri, q)).or_insert(next);
        if g == next {
            keys.push((ri, q));
            segments.push(Vec::with_capacity(1));
        }
        segments[g as usize].push((start, end));
    }

    // 2. Rank judged documents and compute metrics per group, in parallel.
    let level = options.relevance_threshold;
    cancel.start(keys.len() as u64);
    let computed: Vec<Option<Vec<f64>>> = (0..keys.len())
        .into_par_iter()
        .map_init(Scratch::default, |scratch, g| {
            cancel.check()?;
            cancel.advance(1);
            let (ri, qid) = keys[g];
            let Some(&qi) = qrels.ids.get(qid) else {
                return Ok(None);
            };
            let ranking = rank_judged(&cols, &segments[g], &qrels.docs[qi as usize], scratch)
                .map_err(|e| match e {
                    RankError::Nan(doc) => Error::NanScore {
                        table: table::RUN,
                        query_id: qid.to_owned(),
                        doc_id: doc.to_owned(),
                    },
                    RankError::Duplicate(doc) => Error::DuplicateId {
                        kind: "document",
                        id: doc.to_owned(),
                        location: format!("run {:?}, query {qid:?}", run_ids[ri as usize]),
                    },
                })?;
            let summary = &qrels.summaries[qi as usize];
            Ok(Some(
                metrics
                    .iter()
                    .map(|m| compute(m, &ranking, summary, level))
                    .collect(),
            ))
        })
        .collect::<Result<_>>()?;

    // 3. Assemble per run, adding unanswered qrels queries when asked.
    let mut out: Vec<RunValues> = run_ids
        .iter()
        .map(|name| RunValues {
            name: (*name).to_owned(),
            queries: vec![],
        })
        .collect();
    let mut answered: Vec<FxHashSet<&str>> = vec![FxHashSet::default(); run_ids.len()];
    for (g, values) in computed.into_iter().enumerate() {
        let (ri, qid) = keys[g];
        answered[ri as usize].insert(qid);
        if let Some(values) = values {
            out[ri as usize].queries.push((qid.to_owned(), values));
        }
    }
    if options.include_missing {
        let empty = QueryRanking::default();
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
    Ok(out)
}

#[derive(Default)]
struct Scratch<'a> {
    /// Rows seen in this query, keyed by doc-id hash: the duplicate check.
    seen: HashTable<u32>,
    judged: Vec<(f64, &'a str, i32)>,
    /// Scores of the documents the qrels do not judge.
    unjudged: Vec<f64>,
}

enum RankError<'a> {
    Nan(&'a str),
    Duplicate(&'a str),
}

fn rank_judged<'a>(
    cols: &RunColumns<'a>,
    segments: &[(usize, usize)],
    judgements: &Judgements<'_>,
    s: &mut Scratch<'a>,
) -> std::result::Result<QueryRanking, RankError<'a>> {
    let num_ret: usize = segments.iter().map(|(a, b)| b - a).sum();
    let rows = || segments.iter().flat_map(|&(a, b)| a..b);
    s.seen.clear();
    let (docs, scores) = (cols.docs.cursor(), cols.scores.cursor());
    let lookup = cols.docs.cursor();
    let rehash = |&j: &u32| hash_str(lookup.str(j as usize));
    s.seen.reserve(num_ret, rehash);
    s.judged.clear();
    s.unjudged.clear();
    for i in rows() {
        let doc = docs.str(i);
        let score = scores.f64(i);
        if score.is_nan() {
            return Err(RankError::Nan(doc));
        }
        let h = hash_str(doc);
        match s.seen.entry(h, |&j| lookup.str(j as usize) == doc, rehash) {
            hashbrown::hash_table::Entry::Occupied(_) => return Err(RankError::Duplicate(doc)),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(i as u32);
            }
        }
        match judgements.get(h, doc) {
            Some(rel) => s.judged.push((score, doc, rel)),
            None => s.unjudged.push(score),
        }
    }
    s.judged
        .sort_unstable_by(|a, b| crate::run::order::cmp(a.0, a.1, b.0, b.1));
    // Rank of the i-th judged document = i + 1 + the unjudged ones ahead of it: higher
    // scores, then equal scores with a larger doc id. The counts run over a contiguous slice
    // of scores (vectorised); equal scores, rare, are settled by reading the doc ids.
    let unjudged = &s.unjudged;
    let judged = s
        .judged
        .iter()
        .enumerate()
        .map(|(idx, &(score, doc, rel))| {
            let (gt, eq) = unjudged.iter().fold((0u32, 0u32), |(g, e), &x| {
                (g + u32::from(x > score), e + u32::from(x == score))
            });
            let ahead = if eq == 0 {
                gt
            } else {
                gt + rows()
                    .filter(|&i| {
                        scores.f64(i) == score
                            && docs.str(i) > doc
                            && judgements.get(hash_str(docs.str(i)), docs.str(i)).is_none()
                    })
                    .count() as u32
            };
            (idx as u32 + 1 + ahead, rel)
        })
        .collect();
    Ok(QueryRanking { judged, num_ret })
}
