//! Turning a run table and a qrels table into per-query rankings of the judged documents.
//!
//! Metrics only need the ranks of the documents that the qrels judge, so ragplay never sorts
//! a whole ranking: it sorts the few judged documents of a query by (score desc, doc id desc)
//! and places every unjudged document among them by binary search, counting how many land
//! ahead of each judged one. That is O(n log m) per query for n results and m judged ones,
//! instead of O(n log n), and queries run in parallel (rayon).

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::metrics::{compute, Metric, QueryJudgements, QueryRanking};
use super::{EvalOptions, RunValues};
use crate::cancel::Cancel;
use crate::data::schema::{self, table, StrArray, DOC_ID, QUERY_ID, RELEVANCE, RUN, SCORE};
use crate::error::{Error, Result};

/// Qrels grouped by query.
pub(crate) struct QrelsIndex<'a> {
    ids: FxHashMap<&'a str, u32>,
    /// Query ids in first-appearance order.
    order: Vec<&'a str>,
    docs: Vec<FxHashMap<&'a str, i32>>,
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
        let mut index = QrelsIndex {
            ids: FxHashMap::default(),
            order: vec![],
            docs: vec![],
            summaries: vec![],
        };
        for ((q, d), r) in schema::str_values(q)
            .zip(schema::str_values(d))
            .zip(r.into_no_null_iter())
        {
            let next = index.order.len() as u32;
            let qi = *index.ids.entry(q).or_insert(next) as usize;
            if qi == index.order.len() {
                index.order.push(q);
                index.docs.push(FxHashMap::default());
            }
            if index.docs[qi].insert(d, r).is_some() {
                return Err(Error::DuplicateId {
                    kind: "qrels (query, document)",
                    id: format!("{q} / {d}"),
                    location: "the qrels table".into(),
                });
            }
        }
        index.summaries = index
            .docs
            .iter()
            .map(|m| QueryJudgements::new(m.values().copied(), level))
            .collect();
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

    // 1. Group rows by (run, query) with a counting sort; consecutive equal keys skip hashing.
    let mut run_ids: Vec<&str> = Vec::new();
    let mut groups: FxHashMap<(u32, &str), u32> = FxHashMap::default();
    let mut keys: Vec<(u32, &str)> = Vec::new();
    let mut row_group: Vec<u32> = Vec::with_capacity(n);
    let mut last: Option<(Option<&str>, &str, u32)> = None;
    let mut last_run: Option<(&str, u32)> = None;
    if !has_run_col {
        run_ids.push(options.name.as_str());
    }
    for i in 0..n {
        let r = cols.runs.map(|a| a.value(i));
        let q = cols.queries.value(i);
        if let Some((lr, lq, g)) = last {
            if lr == r && lq == q {
                row_group.push(g);
                continue;
            }
        }
        let ri = match r {
            None => 0,
            Some(name) => match last_run {
                Some((ln, li)) if ln == name => li,
                _ => {
                    let li = match run_ids.iter().position(|x| *x == name) {
                        Some(p) => p as u32,
                        None => {
                            run_ids.push(name);
                            (run_ids.len() - 1) as u32
                        }
                    };
                    last_run = Some((name, li));
                    li
                }
            },
        };
        let next = keys.len() as u32;
        let g = *groups.entry((ri, q)).or_insert(next);
        if g == next {
            keys.push((ri, q));
        }
        row_group.push(g);
        last = Some((r, q, g));
    }
    let mut offsets = vec![0usize; keys.len() + 1];
    for &g in &row_group {
        offsets[g as usize + 1] += 1;
    }
    for g in 0..keys.len() {
        offsets[g + 1] += offsets[g];
    }
    let mut fill = offsets.clone();
    let mut order = vec![0u32; n];
    for (i, &g) in row_group.iter().enumerate() {
        order[fill[g as usize]] = i as u32;
        fill[g as usize] += 1;
    }
    drop(row_group);

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
            let rows = &order[offsets[g]..offsets[g + 1]];
            let ranking = rank_judged(&cols, rows, &qrels.docs[qi as usize], scratch).map_err(
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
    seen: FxHashSet<&'a str>,
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
    rows: &[u32],
    judgements: &FxHashMap<&str, i32>,
    s: &mut Scratch<'a>,
) -> std::result::Result<QueryRanking, RankError<'a>> {
    s.seen.clear();
    s.judged.clear();
    s.judged_flag.clear();
    s.judged_flag.resize(rows.len(), false);
    for (k, &i) in rows.iter().enumerate() {
        let doc = cols.docs.value(i as usize);
        let score = cols.scores[i as usize];
        if score.is_nan() {
            return Err(RankError::Nan(doc));
        }
        if !s.seen.insert(doc) {
            return Err(RankError::Duplicate(doc));
        }
        if let Some(&rel) = judgements.get(doc) {
            s.judged.push((score, doc, rel));
            s.judged_flag[k] = true;
        }
    }
    let m = s.judged.len();
    s.judged.sort_unstable_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| b.1.cmp(a.1))
    });
    s.ahead.clear();
    s.ahead.resize(m + 1, 0);
    if m > 0 {
        for (k, &i) in rows.iter().enumerate() {
            if s.judged_flag[k] {
                continue;
            }
            let x = (cols.scores[i as usize], cols.docs.value(i as usize));
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
    Ok(QueryRanking {
        judged,
        num_ret: rows.len(),
    })
}
