//! TREC qrels files, read and written as `trec_eval` reads them: `query_id iteration doc_id
//! relevance`, whitespace separated, the iteration ignored; lines whose first non-blank
//! character is `#` are comments. Writes are atomic. Run files are the run module's
//! ([`crate::run::trec`]).

use std::path::Path;

use polars::prelude::*;

use super::beir::{parse_relevance, qrels_frame, QrelRow};
use super::io::{write_atomic, TextFile};
use super::schema::{self, table, DOC_ID, QUERY_ID, RELEVANCE};
use crate::error::Result;

/// Read a TREC qrels file.
pub fn read_trec_qrels(path: &Path) -> Result<DataFrame> {
    let file = TextFile::open(path)?;
    let mut rows = Vec::new();
    for line in file.records() {
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
