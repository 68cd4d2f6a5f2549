//! TREC run files, read and written as `trec_eval` reads them: `query_id Q0 doc_id rank score
//! tag`, whitespace separated; fields after the sixth are ignored and lines whose first
//! non-blank character is `#` are comments, as in `trec_eval`'s `get_trec_results.c`.
//!
//! Runs are written in `trec_eval` order ([`crate::run::order`]: per query by score
//! descending, ties broken by doc id descending), with ranks 1..n recomputed. Scores are
//! written with the shortest decimal form that reads back to the same `f64`, so a written run
//! reads back bit for bit. Writes are atomic.

use std::path::Path;

use polars::prelude::*;

use crate::data::io::{write_atomic, TextFile};
use crate::data::schema::{self, table, DOC_ID, QUERY_ID, RANK, SCORE};
use crate::error::{Error, Result};

/// Read a TREC run file into a run table (`query_id`, `doc_id`, `score`, `rank` as in the file).
/// Comment lines are skipped and fields after the sixth ignored, as `trec_eval` does.
pub fn read_trec_run(path: &Path) -> Result<DataFrame> {
    let file = TextFile::open(path)?;
    let (mut qs, mut ds, mut scores, mut ranks) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for line in file.records() {
        let (no, text) = line?;
        let fields: Vec<&str> = text.split_whitespace().take(6).collect();
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
