//! Exact (brute-force) dense retrieval: the inner product of every query vector with every
//! document vector, top-k per query. With unit-length vectors the inner product is the cosine
//! similarity. This is the reference any approximate index is measured against (faiss'
//! `IndexFlatIP`).
//!
//! Queries run in parallel; ties are broken by doc id descending, as everywhere in ragplay.

use std::cmp::Ordering;

use polars::prelude::DataFrame;
use rayon::prelude::*;

use crate::cancel::Cancel;
use crate::data::schema;
use crate::error::{Error, Result};

const LANES: usize = 16;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

/// Check that `values` holds one row of `dim` finite values per id; `kind` names the rows
/// ("query" or "document") in errors.
fn check_rows(values: &[f32], ids: &[String], dim: usize, kind: &'static str) -> Result<()> {
    let (ids_arg, values_arg) = match kind {
        "query" => ("query_ids", "query vectors"),
        _ => ("doc_ids", "doc vectors"),
    };
    if values.len() != ids.len() * dim {
        return Err(Error::config(
            ids_arg,
            format!(
                "{} ids for {} {kind} vectors of {dim} values",
                ids.len(),
                values.len() / dim
            ),
        ));
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::config(
            values_arg,
            format!("{kind} {:?} holds a non-finite value", ids[i / dim]),
        )),
        None => Ok(()),
    }
}

/// Top-`k` documents for each query by inner product.
///
/// `queries` holds `query_ids.len()` rows and `docs` holds `doc_ids.len()` rows, both of `dim`
/// values, row-major. Returns a run table (`query_id`, `doc_id`, `score`, `rank`).
pub fn exact_search(
    queries: &[f32],
    query_ids: &[String],
    docs: &[f32],
    doc_ids: &[String],
    dim: usize,
    k: usize,
    cancel: &Cancel,
) -> Result<DataFrame> {
    if k == 0 {
        return Err(Error::config("k", "must be at least 1"));
    }
    if dim == 0 {
        return Err(Error::config("dim", "vectors must have at least one value"));
    }
    check_rows(queries, query_ids, dim, "query")?;
    check_rows(docs, doc_ids, dim, "document")?;
    if doc_ids.is_empty() {
        return Err(Error::Empty {
            what: "the document vectors".into(),
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(doc_ids.len());
    for id in doc_ids {
        if !seen.insert(id.as_str()) {
            return Err(Error::DuplicateId {
                kind: "document",
                id: id.clone(),
                location: "doc_ids".into(),
            });
        }
    }
    cancel.start(query_ids.len() as u64);
    let k = k.min(doc_ids.len());
    let results: Vec<Vec<(usize, f32)>> = queries
        .par_chunks(dim)
        .map(|q| {
            cancel.check()?;
            let mut scored: Vec<(usize, f32)> = docs
                .chunks_exact(dim)
                .map(|d| dot(q, d))
                .enumerate()
                .collect();
            let order = |a: &(usize, f32), b: &(usize, f32)| -> Ordering {
                b.1.total_cmp(&a.1)
                    .then_with(|| doc_ids[b.0].cmp(&doc_ids[a.0]))
            };
            if k < scored.len() {
                scored.select_nth_unstable_by(k - 1, order);
                scored.truncate(k);
            }
            scored.sort_unstable_by(order);
            cancel.advance(1);
            Ok(scored)
        })
        .collect::<Result<_>>()?;
    schema::ranked_run_frame(query_ids.iter().zip(&results).map(|(qid, hits)| {
        (
            qid.as_str(),
            hits.iter().map(|&(i, s)| (doc_ids[i].as_str(), s as f64)),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_inner_product_with_ties_by_doc_id_descending() {
        let docs = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.6, 0.8];
        let ids: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let run = exact_search(
            &[1.0, 0.0],
            &["q".to_string()],
            &docs,
            &ids,
            2,
            3,
            crate::cancel::never(),
        )
        .unwrap();
        let ids = schema::str_column(&run, "run", schema::DOC_ID).unwrap();
        let got: Vec<&str> = schema::str_values(ids).collect();
        assert_eq!(got, ["c", "a", "d"]);
    }
}
