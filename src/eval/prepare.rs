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
use crate::data::schema::{self, table, StrArray, DOC_ID, QUERY_ID, RELEVANCE, RUN, SCORE};
use crate::error::{Error, Result};

/// FxHash of a string: computed once per run row and reused for the duplicate check and
/// the qrels lookup.
#[inline]
fn hash_str(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

/// One query's judgements keyed by precomputed doc-id hash.
type Judgements<'a> = HashTable<(u64, &'a str, i32)>;

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
            return Err(Error::Empty { what: "qrels table".into() });
        }
        let mut index = QrelsIndex { ids: FxHashMap::default(), order: vec![], docs: vec![], summaries: vec![] };
        for ((q, d), r) in schema::str_values(q).zip(schema::str_values(d)).zip(r.into_no_null_iter()) {
            let next = index.order.len() as u32;
            let qi = *index.ids.entry(q).or_insert(next) as usize;
            if qi == index.order.len() {
                index.order.push(q);
                index.docs.push(HashTable::new());
            }
            let h = hash_str(d);
            let table = &mut index.docs[qi];
            if table.find(h, |e| e.1 == d).is_some() {
                return Err(Error::DuplicateId {
                    kind: "qrels (query, document)",
                    id: format!("{q} / {d}"),
                    location: "the qrels table".into(),
                });
            }
            table.insert_unique(h, (h, d, r), |e| e.0);
        }
        index.summaries =
            index.docs.iter().map(|m| QueryJudgements::new(m.iter().map(|e| e.2), level)).collect();
        Ok(index)
    }
}

/// Borrowed, single-chunk views of a run table's columns.
struct RunColumns<'a> {
    runs: Option<&'a StrArray>,
    queries: &'a StrArray,
    docs: &'a StrArray,
    scores: &'a [f64],
}

impl RunColumns<'_> {
    /// Whether row `i` has another (run, query) key than row `i - 1`.
    #[inline]
    fn starts_group(&self, i: usize) -> bool {
        i == 0
            || self.queries.value(i) != self.queries.value(i - 1)
            || self.runs.is_some_and(|r| r.value(i) != r.value(i - 1))
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
        Some(schema::str_column(run, table::RUN, RUN)?.rechunk())
    } else {
        None
    };
    let queries = schema::str_column(run, table::RUN, QUERY_ID)?.rechunk();
    let docs = schema::str_column(run, table::RUN, DOC_ID)?.rechunk();
    let scores = schema::f64_column(run, table::RUN, SCORE)?
        .rechunk()
        .into_owned();
    let n = run.height();
    let empty_scores: [f64; 0] = [];
    let cols = RunColumns {
        runs: run_names.as_ref().and_then(|c| c.downcast_iter().next()),
        queries: queries
            .downcast_iter()
            .next()
            .expect("rechunked column has one chunk"),
        docs: docs
            .downcast_iter()
            .next()
            .expect("rechunked column has one chunk"),
        scores: if n == 0 {
            &empty_scores
        } else {
            scores.cont_slice()?
        },
    };

    // 1. Split rows into segments of equal (run, query) key, in parallel; a key's rows are
    //    the segments that carry it (one segment when the table is grouped, as usual).
    let starts: Vec<usize> =
        (0..n).into_par_iter().with_min_len(1 << 14).filter(|&i| cols.starts_group(i)).collect();
    let mut run_ids: Vec<&str> = Vec::new();
    if !has_run_col {
        run_ids.push(options.name.as_str());
    }
    let mut groups: FxHashMap<(u32, &str), u32> = FxHashMap::default();
    let mut keys: Vec<(u32, &str)> = Vec::new();
    let mut segments: Vec<Vec<(usize, usize)>> = Vec::new();
    for (s, &start) in starts.iter().enumerate() {
        let end = starts.get(s + 1).copied().unwrap_or(n);
        let ri = match cols.runs {
            None => 0,
            Some(a) => {
                let name = a.value(start);
                match run_ids.iter().position(|x| *x == name) {
                    Some(p) => p as u32,
                    None => {
                        run_ids.push(name);
                        (run_ids.len() - 1) as u32
                    }
                }
            }
        };
        let q = cols.queries.value(start);
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
    let computed: Vec<Option<Vec<f64>>> = (0..keys.len())
        .into_par_iter()
        .map_init(Scratch::default, |scratch, g| {
            cancel.check()?;
            let (ri, qid) = keys[g];
            let Some(&qi) = qrels.ids.get(qid) else {
                return Ok(None);
            };
            let ranking = rank_judged(&cols, &segments[g], &qrels.docs[qi as usize], scratch).map_err(
                |e| match e {
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
                },
            )?;
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
    seen: HashTable<(u64, u32)>,
    judged_flag: Vec<bool>,
    judged: Vec<(f64, &'a str, i32)>,
    ahead: Vec<u32>,
}

enum RankError<'a> {
    Nan(&'a str),
    Duplicate(&'a str),
}

/// `a` ranks before `b` in `trec_eval` order: higher score, then larger doc id.
#[inline]
fn before(a: (f64, &str), b: (f64, &str)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 > b.1)
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
    s.seen.reserve(num_ret, |e| e.0);
    s.judged.clear();
    s.judged_flag.clear();
    s.judged_flag.resize(num_ret, false);
    for (k, i) in rows().enumerate() {
        let doc = cols.docs.value(i);
        let score = cols.scores[i];
        if score.is_nan() {
            return Err(RankError::Nan(doc));
        }
        let h = hash_str(doc);
        if s.seen.find(h, |&(eh, j)| eh == h && cols.docs.value(j as usize) == doc).is_some() {
            return Err(RankError::Duplicate(doc));
        }
        s.seen.insert_unique(h, (h, i as u32), |e| e.0);
        if let Some(&(_, _, rel)) = judgements.find(h, |e| e.1 == doc) {
            s.judged.push((score, doc, rel));
            s.judged_flag[k] = true;
        }
    }
    let m = s.judged.len();
    s.judged.sort_unstable_by(|a, b| {
        b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then_with(|| b.1.cmp(a.1))
    });
    s.ahead.clear();
    s.ahead.resize(m + 1, 0);
    if m > 0 {
        for (k, i) in rows().enumerate() {
            if s.judged_flag[k] {
                continue;
            }
            let x = (cols.scores[i], cols.docs.value(i));
            let p = s.judged.partition_point(|j| before((j.0, j.1), x));
            s.ahead[p] += 1;
        }
    }
    let mut acc = 0u32;
    let judged = s
        .judged
        .iter()
        .enumerate()
        .map(|(idx, &(_, _, rel))| {
            acc += s.ahead[idx];
            (idx as u32 + 1 + acc, rel)
        })
        .collect();
    Ok(QueryRanking { judged, num_ret })
}
