//! Exact (brute-force) dense retrieval: the inner product of every query vector with every
//! document vector, top-k per query. With unit-length vectors the inner product is the cosine
//! similarity. This is the reference any approximate index is measured against (faiss'
//! `IndexFlatIP`).
//!
//! The scan is [`super::vectors::exact`] (blocked matrix products, all cores); results are
//! ranked in run order ([`crate::run::order`]: score descending, ties by doc id descending).
//! [`exact_search`] takes vectors and ids side by side; [`super::DenseIndex`] keeps them
//! together.

use polars::prelude::DataFrame;

use super::vectors::codes::Codes;
use super::vectors::exact::{self, Candidates, Table};
use super::vectors::{check_rows, DOC_ROWS, QUERY_ROWS};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::run::RunBuilder;

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
    let mut row_of_rank: Vec<u32> = (0..doc_ids.len() as u32).collect();
    row_of_rank.sort_unstable_by(|&a, &b| doc_ids[a as usize].cmp(&doc_ids[b as usize]));
    let mut id_rank = vec![0u32; doc_ids.len()];
    for (rank, &row) in row_of_rank.iter().enumerate() {
        id_rank[row as usize] = rank as u32;
    }
    let table = Table {
        dim,
        vectors: docs,
        codes: &Codes::F32,
        id_rank: &id_rank,
        row_of_rank: &row_of_rank,
        deleted: &[],
    };
    let candidates = Candidates::All(doc_ids.len());
    let results = exact::search(&table, queries, candidates, k, k, cancel)?;
    let mut run = RunBuilder::default();
    for (qid, hits) in query_ids.iter().zip(&results) {
        run.push_ranked(
            qid,
            hits.iter()
                .map(|&(i, s)| (doc_ids[i as usize].as_str(), s as f64)),
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
