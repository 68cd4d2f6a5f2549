//! Exact (brute-force) dense retrieval: the inner product of every query vector with every
//! document vector, top-k per query. With unit-length vectors the inner product is the cosine
//! similarity. This is the reference any approximate index is measured against (faiss'
//! `IndexFlatIP`).
//!
//! Queries run in parallel; results are ranked in run order ([`crate::run::order`]: score
//! descending, ties by doc id descending). [`exact_search`] takes vectors and ids side by
//! side; [`super::DenseIndex`] keeps them together.

use polars::prelude::DataFrame;
use rayon::prelude::*;

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::run::order;
use crate::run::topk::top_k_by;
use crate::run::RunBuilder;

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

/// What a block of vectors is called in errors: the kind of row ("query", "document") and
/// the arguments holding the ids and the values.
#[derive(Clone, Copy)]
pub(crate) struct Rows {
    pub kind: &'static str,
    pub ids_arg: &'static str,
    pub values_arg: &'static str,
}

/// Query vectors passed with `query_ids`.
pub(crate) const QUERY_ROWS: Rows = Rows {
    kind: "query",
    ids_arg: "query_ids",
    values_arg: "query vectors",
};

/// Document vectors passed with `doc_ids`.
pub(crate) const DOC_ROWS: Rows = Rows {
    kind: "document",
    ids_arg: "doc_ids",
    values_arg: "doc vectors",
};

/// Check that `values` holds one row of `dim` finite values per id.
pub(crate) fn check_rows(values: &[f32], ids: &[String], dim: usize, rows: &Rows) -> Result<()> {
    let Rows {
        kind,
        ids_arg,
        values_arg,
    } = *rows;
    if values.len() != ids.len() * dim {
        return Err(Error::config(
            ids_arg,
            format!(
                "{} ids for {} {kind} vectors of {dim} values",
                ids.len(),
                values.len() / dim.max(1)
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

/// The best `k` document rows of each query row, as `(row, score)` in run order; only the
/// rows in `allow` (ascending) compete when given.
pub(crate) fn search_rows(
    queries: &[f32],
    docs: &[f32],
    doc_ids: &[String],
    dim: usize,
    k: usize,
    allow: Option<&[u32]>,
    cancel: &Cancel,
) -> Result<Vec<Vec<(usize, f32)>>> {
    cancel.start((queries.len() / dim) as u64);
    queries
        .par_chunks(dim)
        .map(|q| {
            cancel.check()?;
            let row = |r: usize| (r, dot(q, &docs[r * dim..(r + 1) * dim]));
            let scored: Vec<(usize, f32)> = match allow {
                None => (0..doc_ids.len()).map(row).collect(),
                Some(rows) => rows.iter().map(|&r| row(r as usize)).collect(),
            };
            let best = top_k_by(scored, k, |a, b| {
                order::cmp(a.1 as f64, &doc_ids[a.0], b.1 as f64, &doc_ids[b.0])
            });
            cancel.advance(1);
            Ok(best)
        })
        .collect()
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
    crate::run::check_k(k)?;
    if dim == 0 {
        return Err(Error::config("dim", "vectors must have at least one value"));
    }
    check_rows(queries, query_ids, dim, &QUERY_ROWS)?;
    check_rows(docs, doc_ids, dim, &DOC_ROWS)?;
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
    let results = search_rows(queries, docs, doc_ids, dim, k, None, cancel)?;
    let mut run = RunBuilder::default();
    for (qid, hits) in query_ids.iter().zip(&results) {
        run.push_ranked(
            qid,
            hits.iter().map(|&(i, s)| (doc_ids[i].as_str(), s as f64)),
        );
    }
    run.finish()
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
        let ids = crate::data::schema::str_column(&run, "run", "doc_id").unwrap();
        let got: Vec<&str> = crate::data::schema::str_values(ids).collect();
        assert_eq!(got, ["c", "a", "d"]);
    }
}
