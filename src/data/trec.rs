//! TREC file formats, read and written exactly as `trec_eval` expects them.
//!
//! * qrels: `query_id iteration doc_id relevance` (whitespace separated; iteration ignored).
//! * run:   `query_id Q0 doc_id rank score tag`.
//!
//! Runs are written in `trec_eval` order ([`crate::run::order`]: per query by score
//! descending, ties broken by doc id descending), with ranks 1..n recomputed. Scores are
//! written with the shortest decimal form that reads back to the same `f64`, so a written run
//! reads back bit for bit. Writes are atomic.

use std::path::Path;

use polars::prelude::*;

use super::beir::{parse_relevance, qrels_frame, QrelRow};
use super::io::{write_atomic, TextFile};
use super::schema::{self, table, DOC_ID, QUERY_ID, RANK, RELEVANCE, SCORE};
use crate::error::{Error, Result};

/// Read a TREC qrels file.
pub fn read_trec_qrels(path: &Path) -> Result<DataFrame> {
    let file = TextFile::open(path)?;
    let mut rows = Vec::new();
    for line in file.lines() {
        let (no, text) = line?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 4 {
            return Err(file.error(
                no,
                format!(
                    "expected 4 fields (query_id iteration doc_id relevance), got {}",
                    fields.len()
                ),
            ));
        }
        rows.push(QrelRow {
            line: no,
            query_id: fields[0].to_owned(),
            doc_id: fields[2].to_owned(),
            relevance: parse_relevance(&file, no, fields[3])?,
        });
    }
    qrels_frame(path, &rows)
}

/// Write a qrels table as a TREC qrels file (iteration column `0`).
pub fn write_trec_qrels(qrels: &DataFrame, path: &Path) -> Result<()> {
    let q = schema::str_column(qrels, table::QRELS, QUERY_ID)?;
    let d = schema::str_column(qrels, table::QRELS, DOC_ID)?;
    let r = schema::i32_column(qrels, table::QRELS, RELEVANCE)?;
    write_atomic(path, |out| {
        for ((q, d), r) in schema::str_values(q)
            .zip(schema::str_values(d))
            .zip(r.into_no_null_iter())
        {
            writeln!(out, "{q} 0 {d} {r}")?;
        }
        Ok(())
    })
}

/// Read a TREC run file into a run table (`query_id`, `doc_id`, `score`, `rank` as in the file).
pub fn read_trec_run(path: &Path) -> Result<DataFrame> {
    let file = TextFile::open(path)?;
    let (mut qs, mut ds, mut scores, mut ranks) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for line in file.lines() {
        let (no, text) = line?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(file.error(
                no,
                format!(
                    "expected 6 fields (query_id Q0 doc_id rank score tag), got {}",
                    fields.len()
                ),
            ));
        }
        let rank: u32 = fields[3].parse().map_err(|_| {
            file.error(
                no,
                format!("rank {:?} is not a non-negative integer", fields[3]),
            )
        })?;
        let score: f64 = fields[4]
            .parse()
            .map_err(|_| file.error(no, format!("score {:?} is not a number", fields[4])))?;
        if score.is_nan() {
            return Err(file.error(no, "score is NaN"));
        }
        qs.push(fields[0].to_owned());
        ds.push(fields[2].to_owned());
        scores.push(score);
        ranks.push(rank);
    }
    schema::frame(vec![
        schema::string_col(QUERY_ID, qs),
        schema::string_col(DOC_ID, ds),
        Column::new(SCORE.into(), scores),
        Column::new(RANK.into(), ranks),
    ])
}

/// A run with rows in `trec_eval` order and `rank` recomputed (1-based, per query); see
/// [`crate::run::rank`].
pub fn rank_run(run: &DataFrame) -> Result<DataFrame> {
    crate::run::rank(run)
}

/// Write a run table as a TREC run file, ranked as `trec_eval` ranks it, with `tag` in the
/// last column.
pub fn write_trec_run(run: &DataFrame, path: &Path, tag: &str) -> Result<()> {
    if tag.is_empty() || tag.contains(char::is_whitespace) {
        return Err(Error::config(
            "tag",
            format!("{tag:?} must be one non-empty word"),
        ));
    }
    let view = crate::run::validate(run)?;
    for (name, col) in [(QUERY_ID, view.queries), (DOC_ID, view.docs)] {
        if let Some(bad) =
            schema::str_values(col).find(|v| v.is_empty() || v.contains(char::is_whitespace))
        {
            return Err(Error::schema(
                table::RUN,
                format!("{name} {bad:?} cannot be written to a TREC file (empty or contains whitespace)"),
            ));
        }
    }
    let groups = crate::run::ranked_groups(&view)?;
    write_atomic(path, |out| {
        for (qid, rows) in &groups {
            for (i, (doc, score)) in rows.iter().enumerate() {
                writeln!(out, "{qid} Q0 {doc} {} {score:?} {tag}", i + 1)?;
            }
        }
        Ok(())
    })
}

/// The runs of a multi-run table (with a `run` column), in order of first appearance, each
/// without the `run` column: the inverse of [`stack_runs`].
pub fn split_runs(stacked: &DataFrame) -> Result<Vec<(String, DataFrame)>> {
    let names = schema::str_column(stacked, table::RUN, schema::RUN)?;
    let mut rows: Vec<(&str, Vec<IdxSize>)> = Vec::new();
    let mut slot: rustc_hash::FxHashMap<&str, usize> = Default::default();
    for (i, name) in schema::str_values(names).enumerate() {
        let at = *slot.entry(name).or_insert_with(|| {
            rows.push((name, Vec::new()));
            rows.len() - 1
        });
        rows[at].1.push(i as IdxSize);
    }
    let body = stacked.drop(schema::RUN)?;
    rows.into_iter()
        .map(|(name, idx)| {
            Ok((
                name.to_owned(),
                body.take(&IdxCa::from_vec("".into(), idx))?,
            ))
        })
        .collect()
}

/// Stack named runs into one multi-run table: `run`, `query_id`, `doc_id`, `score`.
///
/// The result is what [`crate::eval::evaluate`] and [`crate::eval::compare`] take to handle
/// several runs at once. Run names must be distinct and the inputs must not already carry a
/// `run` column.
pub fn stack_runs(runs: &[(&str, &DataFrame)]) -> Result<DataFrame> {
    if runs.is_empty() {
        return Err(Error::Empty {
            what: "list of runs to stack".into(),
        });
    }
    let mut out: Option<DataFrame> = None;
    for (i, (name, run)) in runs.iter().enumerate() {
        if runs[..i].iter().any(|(other, _)| other == name) {
            return Err(Error::DuplicateId {
                kind: "run",
                id: (*name).to_owned(),
                location: "the runs to stack".into(),
            });
        }
        if schema::has_column(run, schema::RUN) {
            return Err(Error::schema(
                table::RUN,
                format!("run {name:?} already has a \"run\" column"),
            ));
        }
        let q = schema::str_column(run, table::RUN, QUERY_ID)?;
        let d = schema::str_column(run, table::RUN, DOC_ID)?;
        let s = schema::f64_column(run, table::RUN, SCORE)?;
        let part = schema::frame(vec![
            Column::new(schema::RUN.into(), vec![*name; run.height()]),
            q.clone().into_column(),
            d.clone().into_column(),
            s.with_name(SCORE.into()).into_column(),
        ])?;
        match &mut out {
            None => out = Some(part),
            Some(acc) => {
                acc.vstack_mut(&part)?;
            }
        }
    }
    let mut out = out.expect("at least one run");
    out.rechunk_mut_par();
    Ok(out)
}
