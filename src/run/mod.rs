//! Runs, the currency of the lab: the one home of the run table.
//!
//! A run table has `query_id`, `doc_id`, `score` and `rank` (names and dtypes in
//! [`crate::data::schema`]), optionally a `run` column when it stacks several runs. This
//! module owns everything that gives such a table its meaning, so that the retrievers, the
//! TREC writer and `evaluate` share one definition:
//!
//! * [`order`]: the ranking order (score descending, ties by doc id descending, as
//!   `trec_eval`) and the NaN policy (a NaN score is an error naming query and document);
//! * [`topk`]: top-k selection in that order;
//! * [`RunBuilder`]: building a run table from ranked or unranked hits, ranks from 1;
//! * [`gather`]: building a run table from id columns' rows, copying string views;
//! * [`validate`] and [`ranked_groups`]: reading a run table back, checked;
//! * `groups` and `keys`: a run table's rows grouped by (run, query) whatever their order,
//!   and the string-key numbering under it (for `evaluate` and fusion);
//! * [`stack`]: several runs in one table with a `run` column, and back;
//! * [`trec`]: TREC run files.

pub(crate) mod gather;
pub(crate) mod groups;
pub(crate) mod keys;
pub mod order;
pub mod stack;
pub mod topk;
pub mod trec;
pub mod views;

use polars::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::data::schema::{self, table, DOC_ID, QUERY_ID, RANK, SCORE};
use crate::error::{Error, Result};
pub use gather::gather;
pub use stack::{split_runs, stack_runs};
pub use trec::{read_trec_run, write_trec_run};

/// The checked columns of a run table.
pub struct RunView<'a> {
    pub queries: &'a StringChunked,
    pub docs: &'a StringChunked,
    pub scores: Float64Chunked,
}

/// Check a run table's columns (`query_id`, `doc_id` String, `score` numeric, no nulls) and
/// its scores (no NaN); returns the columns.
pub fn validate(run: &DataFrame) -> Result<RunView<'_>> {
    let queries = schema::str_column(run, table::RUN, QUERY_ID)?;
    let docs = schema::str_column(run, table::RUN, DOC_ID)?;
    let scores = schema::f64_column(run, table::RUN, SCORE)?;
    check_scores(queries, docs, &scores)?;
    Ok(RunView {
        queries,
        docs,
        scores,
    })
}

/// The NaN policy over whole columns: one vectorised scan, and the first NaN row named.
pub fn check_scores(
    queries: &StringChunked,
    docs: &StringChunked,
    scores: &Float64Chunked,
) -> Result<()> {
    if scores.into_no_null_iter().any(f64::is_nan) {
        let (q, d) = (schema::str_values(queries), schema::str_values(docs));
        for ((q, d), s) in q.zip(d).zip(scores.into_no_null_iter()) {
            order::check_score(table::RUN, q, d, s)?;
        }
    }
    Ok(())
}

/// One query's `(doc_id, score)` rows in run order.
pub type RankedQuery<'a> = (&'a str, Vec<(&'a str, f64)>);

/// The rows of a checked run grouped by query (first-appearance order) and ranked in run
/// order; a document listed twice for one query is an error (as in `evaluate`).
pub fn ranked_groups<'a>(view: &'a RunView<'a>) -> Result<Vec<RankedQuery<'a>>> {
    let mut index: FxHashMap<&str, usize> = Default::default();
    let mut groups: Vec<RankedQuery<'a>> = Vec::new();
    for ((q, d), s) in schema::str_values(view.queries)
        .zip(schema::str_values(view.docs))
        .zip(view.scores.into_no_null_iter())
    {
        let g = *index.entry(q).or_insert_with(|| {
            groups.push((q, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push((d, s));
    }
    for (qid, rows) in &mut groups {
        rows.sort_unstable_by(|a, b| order::cmp(a.1, a.0, b.1, b.0));
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        if let Some(&(doc, _)) = rows.iter().find(|(doc, _)| !seen.insert(doc)) {
            return Err(Error::DuplicateId {
                kind: "document",
                id: doc.to_owned(),
                location: format!("the run, query {qid:?}"),
            });
        }
    }
    Ok(groups)
}

/// A run with rows in run order and `rank` recomputed (1-based, per query).
pub fn rank(run: &DataFrame) -> Result<DataFrame> {
    let view = validate(run)?;
    let mut builder = RunBuilder::default();
    for (qid, hits) in ranked_groups(&view)? {
        builder.push_ranked(qid, hits);
    }
    builder.finish()
}

/// Builds a run table query by query; `rank` is numbered from 1 per query.
#[derive(Default)]
pub struct RunBuilder<'a> {
    queries: Vec<&'a str>,
    docs: Vec<&'a str>,
    scores: Vec<f64>,
    ranks: Vec<u32>,
}

impl<'a> RunBuilder<'a> {
    /// Append a query's hits, already in run order (best first).
    pub fn push_ranked(
        &mut self,
        query_id: &'a str,
        hits: impl IntoIterator<Item = (&'a str, f64)>,
    ) {
        for (i, (doc, score)) in hits.into_iter().enumerate() {
            debug_assert!(
                i == 0 || {
                    let (pd, ps) = (
                        self.docs[self.docs.len() - 1],
                        self.scores[self.scores.len() - 1],
                    );
                    order::cmp(ps, pd, score, doc).is_le()
                },
                "hits of query {query_id:?} are not in run order"
            );
            self.queries.push(query_id);
            self.docs.push(doc);
            self.scores.push(score);
            self.ranks.push(i as u32 + 1);
        }
    }

    /// Append the best `k` of a query's hits in any order; a NaN score is an error.
    pub fn push_top_k(
        &mut self,
        query_id: &'a str,
        hits: Vec<(&'a str, f64)>,
        k: usize,
    ) -> Result<()> {
        for &(doc, score) in &hits {
            order::check_score(table::RUN, query_id, doc, score)?;
        }
        let best = topk::top_k_in_run_order(hits, k, |h| h.1, |h| h.0);
        self.push_ranked(query_id, best);
        Ok(())
    }

    /// The run table.
    pub fn finish(self) -> Result<DataFrame> {
        schema::frame(vec![
            Column::new(QUERY_ID.into(), self.queries),
            Column::new(DOC_ID.into(), self.docs),
            Column::new(SCORE.into(), self.scores),
            Column::new(RANK.into(), self.ranks),
        ])
    }
}

/// `Err` unless `k` is at least 1.
pub fn check_k(k: usize) -> Result<()> {
    if k == 0 {
        return Err(Error::config("k", "must be at least 1"));
    }
    Ok(())
}
