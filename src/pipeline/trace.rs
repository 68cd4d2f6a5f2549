//! A pipeline's trace: every candidate's score and rank at every stage, and the latency of
//! each stage over the queries.
//!
//! Queries run one at a time (a service answers one query per request), after a short
//! untimed warm-up, so each stage's wall time is a per-query latency; the statistics are
//! those of [`super::latency`] over one round.

use polars::prelude::*;
use rustc_hash::FxHashMap;

use super::latency::{self, LatencyOptions, StageLatency};
use super::{cut, Pipeline, StageRun};
use crate::cancel::Cancel;
use crate::data::schema::{self, table, DOC_ID, QUERY_ID, RANK, SCORE};
use crate::error::{Error, Result};

/// What [`Pipeline::trace`] returns.
pub struct Trace {
    /// One row per (query, candidate): `query_id`, `doc_id`, `final_rank` (null when the
    /// document did not make the final top k), then `<stage>_score` and `<stage>_rank` for
    /// every stage (null where the stage did not return the document). Rows by query, then
    /// final rank, then the best rank at any stage.
    pub candidates: DataFrame,
    /// One row per stage and one for `total` ([`latency::latency_frame`]): `stage`,
    /// `queries`, `repeats`, `mean_ms`, `p25_ms`, `p50_ms`, `p75_ms`, `p95_ms`, `p99_ms`.
    pub latency: DataFrame,
    /// The same figures as records.
    pub stats: Vec<StageLatency>,
    /// The final run (the pipeline's search result).
    pub run: DataFrame,
    /// The answers, one row per query, when the pipeline has a generation stage (its
    /// `generate_rank` column marks the documents the prompt was given).
    pub answers: Option<DataFrame>,
}

/// A stage's `(score, rank)` per document of one query's run.
type Ranked<'a> = FxHashMap<&'a str, (f64, u32)>;

fn ranked(run: &DataFrame) -> Result<Ranked<'_>> {
    let docs = schema::str_column(run, table::RUN, DOC_ID)?;
    let scores = run.column(SCORE)?.f64()?;
    let ranks = run.column(RANK)?.u32()?;
    Ok(schema::str_values(docs)
        .zip(scores.into_no_null_iter())
        .zip(ranks.into_no_null_iter())
        .map(|((d, s), r)| (d, (s, r)))
        .collect())
}

/// The columns of the candidates table, filled query by query.
struct Columns {
    stages: Vec<String>,
    query_ids: Vec<String>,
    doc_ids: Vec<String>,
    final_rank: Vec<Option<u32>>,
    scores: Vec<Vec<Option<f64>>>,
    ranks: Vec<Vec<Option<u32>>>,
}

impl Columns {
    fn push_query(&mut self, query_id: &str, stages: &[StageRun], last: &DataFrame) -> Result<()> {
        let maps: Vec<Ranked> = stages
            .iter()
            .map(|s| ranked(&s.run))
            .collect::<Result<_>>()?;
        let fin = ranked(last)?;
        let mut docs: Vec<&str> = Vec::new();
        let mut seen = rustc_hash::FxHashSet::default();
        for m in &maps {
            docs.extend(m.keys().copied().filter(|d| seen.insert(*d)));
        }
        let best = |d: &str| maps.iter().filter_map(|m| m.get(d).map(|x| x.1)).min();
        docs.sort_by_key(|&d| (fin.get(d).map_or(u32::MAX, |x| x.1), best(d), d));
        for d in docs {
            self.query_ids.push(query_id.to_owned());
            self.doc_ids.push(d.to_owned());
            self.final_rank.push(fin.get(d).map(|x| x.1));
            for (i, m) in maps.iter().enumerate() {
                self.scores[i].push(m.get(d).map(|x| x.0));
                self.ranks[i].push(m.get(d).map(|x| x.1));
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<DataFrame> {
        let mut cols = vec![
            Column::new(QUERY_ID.into(), self.query_ids),
            Column::new(DOC_ID.into(), self.doc_ids),
            Column::new("final_rank".into(), self.final_rank),
        ];
        for ((name, scores), ranks) in self.stages.iter().zip(self.scores).zip(self.ranks) {
            cols.push(Column::new(format!("{name}_score").into(), scores));
            cols.push(Column::new(format!("{name}_rank").into(), ranks));
        }
        schema::frame(cols)
    }
}

/// Run `pipeline` on each query of `queries` alone, recording every stage (after a warm-up
/// of a few untimed queries, as [`super::latency`] measures).
pub(crate) fn trace(
    pipeline: &Pipeline,
    queries: &DataFrame,
    k: usize,
    cancel: &Cancel,
) -> Result<Trace> {
    let ids = schema::str_column(queries, table::QUERIES, QUERY_ID)?;
    if queries.height() == 0 {
        return Err(Error::Empty {
            what: "queries table".into(),
        });
    }
    let stages = pipeline.stages();
    let mut columns = Columns {
        query_ids: Vec::new(),
        doc_ids: Vec::new(),
        final_rank: Vec::new(),
        scores: vec![Vec::new(); stages.len()],
        ranks: vec![Vec::new(); stages.len()],
        stages: stages.clone(),
    };
    let mut finals = Vec::with_capacity(queries.height());
    let qids: Vec<&str> = schema::str_values(ids).collect();
    latency::warm_up(pipeline, queries, LatencyOptions::default().warmup, cancel)?;
    cancel.start("trace queries", queries.height() as u64);
    let mut answers: Option<DataFrame> = None;
    let round = latency::time_round(pipeline, queries, cancel, &mut |i, runs| {
        let last = runs.iter().rev().find(|r| r.answers.is_none());
        let last = cut(&last.expect("a pipeline has a retriever").run, k)?;
        columns.push_query(qids[i], runs, &last)?;
        finals.push(last);
        if let Some(a) = runs.iter().find_map(|r| r.answers.as_ref()) {
            match &mut answers {
                Some(all) => {
                    all.vstack_mut(a)?;
                }
                None => answers = Some(a.clone()),
            }
        }
        Ok(())
    })?;
    // Queries in the order of the queries table, as a search returns them.
    let mut finals = finals.into_iter();
    let mut run = finals.next().expect("at least one query");
    for f in finals {
        run.vstack_mut(&f)?;
    }
    run.rechunk_mut();
    let stats = latency::summarize(&stages, &[round]);
    Ok(Trace {
        candidates: columns.finish()?,
        latency: latency::latency_frame(&stats, queries.height())?,
        stats,
        run,
        answers: answers.map(|mut a| {
            a.rechunk_mut();
            a
        }),
    })
}
