//! The lab's charts, built from its tables:
//!
//! * [`pareto`]: quality against a cost (latency, tokens, dollars) per configuration of a
//!   results table, with the Pareto front marked: the configurations no other one beats on
//!   both (cost no higher and quality no lower, one of them strictly).
//! * [`wins`]: per-query differences of a metric between two runs, sorted, as win/loss bars.
//! * [`metric_at_k`]: a metric at several cutoffs, one line per run.
//! * [`heatmap`]: a metric over two axes of a sweep (the best configuration of each cell).
//! * [`score_histogram`]: the score distributions of judged-relevant and other documents.

use polars::prelude::*;
use rustc_hash::FxHashMap;

use super::{Chart, Marks, Point, Series};
use crate::cancel::Cancel;
use crate::data::schema::{self, table, QUERY_ID, RELEVANCE, RUN, SCORE};
use crate::error::{Error, Result};
use crate::eval::{evaluate, EvalOptions};

/// The Pareto front of (cost, quality) pairs: `front[i]` when no other pair has cost no
/// higher and quality no lower, one of them strictly.
pub fn pareto_front(pairs: &[(f64, f64)]) -> Vec<bool> {
    pairs
        .iter()
        .map(|&(c, q)| {
            !pairs
                .iter()
                .any(|&(c2, q2)| c2 <= c && q2 >= q && (c2 < c || q2 > q))
        })
        .collect()
}

/// The values of a column as text, one per row (nulls as `"none"`; a value with no text
/// form, a list or a struct, as printed).
fn text_column(df: &DataFrame, table: &'static str, name: &str) -> Result<Vec<String>> {
    let c = schema::column(df, table, name)?;
    match c.cast(&DataType::String) {
        Ok(s) => Ok(s
            .str()?
            .iter()
            .map(|v| v.unwrap_or("none").to_owned())
            .collect()),
        Err(_) => Ok(c
            .as_materialized_series()
            .iter()
            .map(|v| v.to_string())
            .collect()),
    }
}

/// Quality (`quality`) against cost (`cost`) per row of a results table, labelled by
/// `label`, with the Pareto front marked (see the module documentation).
pub fn pareto(results: &DataFrame, quality: &str, cost: &str, label: &str) -> Result<Chart> {
    let t = table::RESULTS;
    let labels = text_column(results, t, label)?;
    let q = schema::f64_column(results, t, quality)?;
    let c = schema::f64_column(results, t, cost)?;
    if results.height() == 0 {
        return Err(Error::Empty {
            what: "results table".into(),
        });
    }
    let pairs: Vec<(f64, f64)> = c.into_no_null_iter().zip(q.into_no_null_iter()).collect();
    if let Some(i) = pairs
        .iter()
        .position(|p| !p.0.is_finite() || !p.1.is_finite())
    {
        return Err(Error::schema(
            t,
            format!(
                "row {i} ({:?}): {cost} or {quality} is not a finite number",
                labels[i]
            ),
        ));
    }
    let front = pareto_front(&pairs);
    let points = labels
        .into_iter()
        .zip(pairs)
        .zip(front)
        .map(|((label, (x, y)), front)| Point { label, x, y, front })
        .collect();
    Ok(Chart::new(
        format!("{quality} against {cost}"),
        cost,
        quality,
        Marks::Scatter(points),
    ))
}

/// Per-query values of `metric` for one run, every qrels query included (0 when unanswered).
fn per_query(
    run: &DataFrame,
    qrels: &DataFrame,
    metric: &str,
    cancel: &Cancel,
) -> Result<FxHashMap<String, f64>> {
    let options = EvalOptions {
        include_missing: true,
        ..EvalOptions::default()
    };
    // Evaluation names its columns after the trimmed metric.
    let metric = metric.trim();
    let ev = evaluate(run, qrels, &[metric], &options, cancel)?;
    let ids = schema::str_column(&ev.per_query, table::RUN, QUERY_ID)?;
    let values = ev.per_query.column(metric)?.f64()?.clone();
    Ok(schema::str_values(ids)
        .enumerate()
        .map(|(i, q)| (q.to_owned(), values.get(i).unwrap_or(0.0)))
        .collect())
}

/// Per-query differences `candidate − baseline` of `metric` over the qrels' queries, sorted
/// from the largest gain to the largest loss (ties by query id); `names` label the runs.
pub fn wins(
    candidate: &DataFrame,
    baseline: &DataFrame,
    qrels: &DataFrame,
    metric: &str,
    names: (&str, &str),
    cancel: &Cancel,
) -> Result<Chart> {
    let a = per_query(candidate, qrels, metric, cancel)?;
    let b = per_query(baseline, qrels, metric, cancel)?;
    let mut bars: Vec<(String, f64)> = b
        .iter()
        .map(|(q, vb)| (q.clone(), a.get(q).copied().unwrap_or(0.0) - vb))
        .collect();
    bars.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    Ok(Chart::new(
        format!("{metric} per query: {} against {}", names.0, names.1),
        format!("queries ({}), by difference", bars.len()),
        format!("{metric} difference"),
        Marks::Bars(bars),
    ))
}

/// `metric@k` for each `k` of `ks`, one line per run of `runs` (a run table, or stacked runs
/// with a `run` column). `metric` is a family with a cutoff, such as `"recall"`.
pub fn metric_at_k(
    runs: &DataFrame,
    qrels: &DataFrame,
    metric: &str,
    ks: &[usize],
    cancel: &Cancel,
) -> Result<Chart> {
    if ks.is_empty() || ks.contains(&0) {
        return Err(Error::config("ks", "give cutoffs of at least 1"));
    }
    let metric = metric.trim();
    if metric.contains('@') {
        return Err(Error::config(
            "metric",
            format!("{metric:?}: give the family without @k, such as \"recall\""),
        ));
    }
    let names: Vec<String> = ks.iter().map(|k| format!("{metric}@{k}")).collect();
    let ev = evaluate(runs, qrels, &names, &EvalOptions::default(), cancel)?;
    let run_names = text_column(&ev.summary, table::RUN, RUN)?;
    let mut series: Vec<Series> = run_names
        .iter()
        .map(|r| Series {
            name: r.clone(),
            values: Vec::with_capacity(ks.len()),
        })
        .collect();
    for (k, name) in ks.iter().zip(&names) {
        let values = ev.summary.column(name)?.f64()?.clone();
        for (i, s) in series.iter_mut().enumerate() {
            s.values
                .push((*k as f64, values.get(i).unwrap_or(f64::NAN)));
        }
    }
    Ok(Chart::new(
        format!("{metric} at k"),
        "k",
        metric,
        Marks::Lines(series),
    ))
}

/// `value` over two axes of a results table (`x` across, `y` down; values in order of first
/// appearance); a cell shows the best (largest) value of the configurations it holds.
pub fn heatmap(results: &DataFrame, x: &str, y: &str, value: &str) -> Result<Chart> {
    let t = table::RESULTS;
    let xs = text_column(results, t, x)?;
    let ys = text_column(results, t, y)?;
    let v = schema::f64_column(results, t, value)?;
    let order = |vals: &[String]| {
        let mut seen: Vec<String> = Vec::new();
        for s in vals {
            if !seen.contains(s) {
                seen.push(s.clone());
            }
        }
        seen
    };
    let (columns, rows) = (order(&xs), order(&ys));
    let mut values = vec![vec![None::<f64>; columns.len()]; rows.len()];
    for ((cx, cy), v) in xs.iter().zip(&ys).zip(v.into_no_null_iter()) {
        let c = columns.iter().position(|s| s == cx).unwrap_or(0);
        let r = rows.iter().position(|s| s == cy).unwrap_or(0);
        let cell = &mut values[r][c];
        *cell = Some(cell.map_or(v, |old: f64| old.max(v)));
    }
    Ok(Chart::new(
        format!("{value} by {x} and {y}"),
        x,
        y,
        Marks::Heatmap {
            columns,
            rows,
            values,
        },
    ))
}

/// The distribution of a run's scores: documents judged relevant (relevance at least 1) and
/// the others, each as the share of its scores in each of `bins` equal bins.
pub fn score_histogram(run: &DataFrame, qrels: &DataFrame, bins: usize) -> Result<Chart> {
    if bins == 0 {
        return Err(Error::config("bins", "give at least 1 bin"));
    }
    let q = schema::str_column(run, table::RUN, QUERY_ID)?;
    let d = schema::str_column(run, table::RUN, schema::DOC_ID)?;
    let s = schema::f64_column(run, table::RUN, SCORE)?;
    let rq = schema::str_column(qrels, table::QRELS, QUERY_ID)?;
    let rd = schema::str_column(qrels, table::QRELS, schema::DOC_ID)?;
    let rr = schema::i32_column(qrels, table::QRELS, RELEVANCE)?;
    let relevant: rustc_hash::FxHashSet<(&str, &str)> = schema::str_values(rq)
        .zip(schema::str_values(rd))
        .zip(rr.into_no_null_iter())
        .filter(|(_, r)| *r >= 1)
        .map(|(p, _)| p)
        .collect();
    let scores: Vec<(bool, f64)> = schema::str_values(q)
        .zip(schema::str_values(d))
        .zip(s.into_no_null_iter())
        .map(|(p, v)| (relevant.contains(&p), v))
        .collect();
    if scores.is_empty() {
        return Err(Error::Empty {
            what: "run table".into(),
        });
    }
    let (lo, hi) = scores
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(_, v)| {
            (a.min(v), b.max(v))
        });
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let edges: Vec<f64> = (0..=bins).map(|i| lo + width * i as f64).collect();
    let series = [(true, "relevant"), (false, "other")]
        .into_iter()
        .map(|(group, name)| {
            let mut counts = vec![0usize; bins];
            let mut n = 0usize;
            for &(g, v) in &scores {
                if g == group {
                    counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
                    n += 1;
                }
            }
            let values = counts
                .iter()
                .enumerate()
                .map(|(i, &c)| (lo + width * (i as f64 + 0.5), c as f64 / n.max(1) as f64))
                .collect();
            Series {
                name: format!("{name} ({n})"),
                values,
            }
        })
        .collect();
    Ok(Chart::new(
        "score distribution",
        "score",
        "share of documents",
        Marks::Histogram { edges, series },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_front_by_hand() {
        // (cost, quality): b dominates a; c is cheaper but worse; d equals b.
        let pairs = [(2.0, 0.5), (1.0, 0.6), (0.5, 0.4), (1.0, 0.6), (3.0, 0.9)];
        assert_eq!(pareto_front(&pairs), [false, true, true, true, true]);
    }
}
