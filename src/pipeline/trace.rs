//! A pipeline's trace: every candidate's score and rank at every stage, and the latency of
//! each stage over the queries.
//!
//! Queries run one at a time (a service answers one query per request), so each stage's wall
//! time is a per-query latency; percentiles are linearly interpolated between order
//! statistics (Hyndman & Fan 1996, definition 7, numpy's default).

use polars::prelude::*;
use rustc_hash::FxHashMap;

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
    /// One row per stage and one for `total`: `stage`, `queries`, `mean_ms`, `p50_ms`,
    /// `p95_ms`, `p99_ms`.
    pub latency: DataFrame,
    /// The final run (the pipeline's search result).
    pub run: DataFrame,
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

/// The `q`-th percentile (0–100) of sorted values, linearly interpolated.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    crate::eval::stats::quantile_sorted(sorted, q / 100.0)
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

/// Run `pipeline` on each query of `queries` alone, recording every stage.
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
    let mut seconds: Vec<Vec<f64>> = vec![Vec::new(); stages.len() + 1];
    let mut finals = Vec::with_capacity(queries.height());
    // The stages report progress on their own token; the caller's counts queries.
    let inner = Cancel::new();
    cancel.start("trace queries", queries.height() as u64);
    for (i, qid) in schema::str_values(ids).enumerate() {
        cancel.check()?;
        let one = queries.slice(i as i64, 1);
        let mut runs: Vec<StageRun> = Vec::with_capacity(stages.len());
        let last = pipeline.run_stages(&one, None, &inner, &mut |s| runs.push(s))?;
        let last = cut(&last, k)?;
        for (s, run) in runs.iter().enumerate() {
            seconds[s].push(run.seconds);
        }
        seconds[stages.len()].push(runs.iter().map(|r| r.seconds).sum());
        columns.push_query(qid, &runs, &last)?;
        finals.push(last);
        cancel.advance(1);
    }
    // Queries in the order of the queries table, as a search returns them.
    let mut finals = finals.into_iter();
    let mut run = finals.next().expect("at least one query");
    for f in finals {
        run.vstack_mut(&f)?;
    }
    run.rechunk_mut();
    Ok(Trace {
        candidates: columns.finish()?,
        latency: latency_frame(&stages, seconds)?,
        run,
    })
}

fn latency_frame(stages: &[String], seconds: Vec<Vec<f64>>) -> Result<DataFrame> {
    let names: Vec<&str> = stages.iter().map(String::as_str).chain(["total"]).collect();
    let mut cols: [Vec<f64>; 4] = Default::default();
    let mut counts = Vec::new();
    for mut s in seconds {
        s.iter_mut().for_each(|x| *x *= 1e3);
        s.sort_by(f64::total_cmp);
        counts.push(s.len() as u32);
        cols[0].push(s.iter().sum::<f64>() / s.len().max(1) as f64);
        for (c, q) in cols[1..].iter_mut().zip([50.0, 95.0, 99.0]) {
            c.push(percentile(&s, q));
        }
    }
    let [mean, p50, p95, p99] = cols;
    schema::frame(vec![
        Column::new("stage".into(), names),
        Column::new("queries".into(), counts),
        Column::new("mean_ms".into(), mean),
        Column::new("p50_ms".into(), p50),
        Column::new("p95_ms".into(), p95),
        Column::new("p99_ms".into(), p99),
    ])
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], [50, 95, 99]) = 2.5, 3.85, 3.97
        let v = [1.0, 2.0, 3.0, 4.0];
        for (q, want) in [
            (50.0, 2.5),
            (95.0, 3.85),
            (99.0, 3.97),
            (0.0, 1.0),
            (100.0, 4.0),
        ] {
            assert!((percentile(&v, q) - want).abs() < 1e-12, "{q}");
        }
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }
}
