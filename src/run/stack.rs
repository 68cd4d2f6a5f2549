//! Several runs in one table: a `run` column names each row's run ([`stack_runs`]), and
//! [`split_runs`] takes such a table apart again.

use polars::prelude::*;

use crate::data::schema::{self, table, DOC_ID, QUERY_ID, SCORE};
use crate::error::{Error, Result};

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
