//! Evaluation of runs against qrels, exactly as `trec_eval` evaluates them, plus significance
//! testing between runs.
//!
//! `trec_eval`'s rules hold: within a query, documents are ranked by score descending with
//! ties broken by doc id descending (the run's own `rank` column is ignored); a query present
//! in the run but absent from the qrels is skipped; a query in the qrels that the run does not
//! answer is skipped unless `include_missing` (`trec_eval -c`) asks to count it with an empty
//! ranking; a document listed twice for one query is an error. Queries whose judgements are
//! all non-relevant are evaluated (and score 0), as in `trec_eval`.
//!
//! Scores are compared as `f64` (`trec_eval` 9.0.8+ also reads doubles).

mod ahead;
pub mod churn;
pub mod compare;
pub mod metrics;
mod prepare;
pub mod stats;

use polars::prelude::*;

use crate::cancel::Cancel;
use crate::data::schema::{self, NUM_QUERIES, QUERY_ID, RUN};
use crate::error::{Error, Result};
pub use churn::churn;
pub use compare::{compare, compare_per_query, CompareOptions, Correction, Test};
pub use metrics::{Cutoff, Kind, Metric, MetricInfo, REGISTRY};

/// Options of [`evaluate`].
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// A judgement at least this value is relevant (`trec_eval -l`); must be ≥ 1.
    pub relevance_threshold: i32,
    /// Count qrels queries that the run does not answer, with an empty ranking (`trec_eval -c`).
    pub include_missing: bool,
    /// Name of the run when the run table has no `run` column.
    pub name: String,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            relevance_threshold: 1,
            include_missing: false,
            name: "run".into(),
        }
    }
}

/// The result of [`evaluate`]: one row per (run, query) and one row per run.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Columns `run`, `query_id`, then one Float64 column per metric (in the order asked),
    /// sorted by run (first appearance) and query id.
    pub per_query: DataFrame,
    /// Columns `run`, `num_queries`, then the mean of each metric over the evaluated queries
    /// (null when no query was evaluated).
    pub summary: DataFrame,
}

/// Evaluate `run` against `qrels` with the named metrics (`"ndcg@10"`, `"recall@100"`, ...).
///
/// The run table needs `query_id`, `doc_id` and `score`; with a `run` column it holds several
/// runs, each evaluated on its own. The qrels table needs `query_id`, `doc_id`, `relevance`.
pub fn evaluate<S: AsRef<str>>(
    run: &DataFrame,
    qrels: &DataFrame,
    metrics: &[S],
    options: &EvalOptions,
    cancel: &Cancel,
) -> Result<Evaluation> {
    let metrics = Metric::parse_all(metrics)?;
    if options.relevance_threshold < 1 {
        return Err(Error::config(
            "relevance_threshold",
            format!("must be at least 1, got {}", options.relevance_threshold),
        ));
    }
    let runs = prepare::evaluate_runs(run, qrels, &metrics, options, cancel)?;
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    Ok(Evaluation {
        per_query: per_query_frame(&runs, &names)?,
        summary: summary_frame(&runs, &names)?,
    })
}

/// The metric registry as a table: `name`, `pattern` (how to write it: `p@k`, `recall[@k]`),
/// `aliases` (comma-separated), `cutoff` (`required`, `optional`, `none`), `description`,
/// `reference`.
pub fn metrics_table() -> Result<DataFrame> {
    let col = |name: &str, f: &dyn Fn(&MetricInfo) -> String| {
        Column::new(name.into(), REGISTRY.iter().map(f).collect::<Vec<String>>())
    };
    schema::frame(vec![
        col("name", &|m| m.name.to_owned()),
        col("pattern", &|m| m.pattern()),
        col("aliases", &|m| m.aliases.join(", ")),
        col("cutoff", &|m| m.cutoff.name().to_owned()),
        col("description", &|m| m.description.to_owned()),
        col("reference", &|m| m.reference.to_owned()),
    ])
}

/// Per-query values of one run.
pub(crate) struct RunValues {
    pub name: String,
    /// `(query_id, values in metric order)`, sorted by query id.
    pub queries: Vec<(String, Vec<f64>)>,
}

fn per_query_frame(runs: &[RunValues], metrics: &[&str]) -> Result<DataFrame> {
    let n: usize = runs.iter().map(|r| r.queries.len()).sum();
    let mut run_col = Vec::with_capacity(n);
    let mut qid_col = Vec::with_capacity(n);
    let mut values: Vec<Vec<f64>> = vec![Vec::with_capacity(n); metrics.len()];
    for r in runs {
        for (q, vals) in &r.queries {
            run_col.push(r.name.as_str());
            qid_col.push(q.as_str());
            for (col, v) in values.iter_mut().zip(vals) {
                col.push(*v);
            }
        }
    }
    let mut cols = vec![
        Column::new(RUN.into(), run_col),
        Column::new(QUERY_ID.into(), qid_col),
    ];
    cols.extend(
        metrics
            .iter()
            .zip(values)
            .map(|(m, v)| Column::new((*m).into(), v)),
    );
    schema::frame(cols)
}

fn summary_frame(runs: &[RunValues], metrics: &[&str]) -> Result<DataFrame> {
    let mut cols = vec![
        Column::new(
            RUN.into(),
            runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            NUM_QUERIES.into(),
            runs.iter()
                .map(|r| r.queries.len() as u32)
                .collect::<Vec<_>>(),
        ),
    ];
    for (j, m) in metrics.iter().enumerate() {
        let means: Vec<Option<f64>> = runs
            .iter()
            .map(|r| {
                (!r.queries.is_empty()).then(|| {
                    r.queries.iter().map(|(_, v)| v[j]).sum::<f64>() / r.queries.len() as f64
                })
            })
            .collect();
        cols.push(Column::new((*m).into(), means));
    }
    schema::frame(cols)
}
