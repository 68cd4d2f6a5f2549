//! Maximal marginal relevance (Carbonell & Goldstein, SIGIR 1998).
//!
//! For each query, the run's top `depth` documents are the candidates. Documents are picked
//! one at a time; each pick maximises
//!
//! `λ · sim(q, d) − (1 − λ) · max over already picked s of sim(d, s)`
//!
//! with `sim` the cosine similarity of the index's vectors (the query embedded with the
//! index's encoder). λ = 1 orders by similarity to the query alone, λ = 0 by novelty alone.
//! Ties go to the document ranked higher in the input run. The first `k` picks are returned
//! with score `k' − i` for the i-th pick (0-based, k' picks in all), so that the run order
//! is the pick order.
//!
//! Cost per query: O(depth · k · dim), the largest similarity to the picked set being
//! updated once per pick.

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::run::{self, RunBuilder};

/// What MMR reads from a vector index: the queries' vectors and each candidate document's.
/// [`crate::retrieve::DenseIndex`] implements it (the queries embedded by its encoder), so MMR
/// needs nothing else of the retrieval layer.
pub trait VectorLookup: Sync {
    /// Values per vector.
    fn dim(&self) -> usize;

    /// The query ids of a queries table (`query_id`, `text`) and their vectors, row-major in
    /// the same order.
    fn query_vectors(
        &self,
        queries: &DataFrame,
        cancel: &Cancel,
    ) -> Result<(Vec<String>, Vec<f32>)>;

    /// A document's vector, or `None` when the index does not hold it.
    fn vector(&self, doc_id: &str) -> Option<&[f32]>;
}

/// Options of [`mmr`].
#[derive(Debug, Clone)]
pub struct MmrOptions {
    /// Weight of relevance against novelty, in [0, 1].
    pub lambda: f64,
    /// Documents returned per query.
    pub k: usize,
    /// Candidates per query: the run's top `depth` (all of them when `None`).
    pub depth: Option<usize>,
}

impl Default for MmrOptions {
    fn default() -> Self {
        Self {
            lambda: 0.5,
            k: 10,
            depth: None,
        }
    }
}

/// Re-rank each query's top documents of `run` by maximal marginal relevance. `queries`
/// (`query_id`, `text`) must hold every query of the run; every candidate must be in `index`.
pub fn mmr(
    run: &DataFrame,
    queries: &DataFrame,
    index: &dyn VectorLookup,
    options: &MmrOptions,
    cancel: &Cancel,
) -> Result<DataFrame> {
    if !(0.0..=1.0).contains(&options.lambda) {
        return Err(Error::config(
            "mmr_lambda",
            format!("must lie in [0, 1], got {}", options.lambda),
        ));
    }
    run::check_k(options.k)?;
    if options.depth == Some(0) {
        return Err(Error::config("depth", "must be at least 1"));
    }
    let view = run::validate(run)?;
    if view.queries.is_empty() {
        return Err(Error::Empty {
            what: "run table".into(),
        });
    }
    let groups = run::ranked_groups(&view)?;
    let (query_ids, query_vectors) = index.query_vectors(queries, cancel)?;
    let dim = index.dim();
    let rows: FxHashMap<&str, usize> = query_ids
        .iter()
        .enumerate()
        .map(|(i, q)| (q.as_str(), i))
        .collect();
    cancel.start("mmr", groups.len() as u64);
    let picked: Vec<Vec<(&str, f64)>> = groups
        .par_iter()
        .map(|(qid, hits)| {
            cancel.check()?;
            let Some(&row) = rows.get(qid) else {
                return Err(Error::UnknownId {
                    kind: "query",
                    id: (*qid).to_owned(),
                    location: "the queries table given to mmr".into(),
                });
            };
            let q = &query_vectors[row * dim..(row + 1) * dim];
            let depth = options.depth.unwrap_or(hits.len()).min(hits.len());
            let candidates = hits[..depth]
                .iter()
                .map(|&(doc, _)| {
                    index
                        .vector(doc)
                        .map(|v| (doc, v))
                        .ok_or_else(|| Error::UnknownId {
                            kind: "document",
                            id: doc.to_owned(),
                            location: format!("the vector index (query {qid:?})"),
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            let order = select(q, &candidates, options.lambda, options.k);
            cancel.advance(1);
            let n = order.len();
            Ok(order
                .into_iter()
                .enumerate()
                .map(|(i, c)| (candidates[c].0, (n - i) as f64))
                .collect())
        })
        .collect::<Result<_>>()?;
    let mut builder = RunBuilder::default();
    for ((qid, _), hits) in groups.iter().zip(picked) {
        builder.push_ranked(qid, hits);
    }
    builder.finish()
}

/// The indices of the picked candidates, in pick order (at most `k`).
fn select(query: &[f32], candidates: &[(&str, &[f32])], lambda: f64, k: usize) -> Vec<usize> {
    let unit = |v: &[f32]| -> Vec<f64> {
        let norm = v
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        v.iter().map(|&x| f64::from(x) * scale).collect()
    };
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let q = unit(query);
    let docs: Vec<Vec<f64>> = candidates.iter().map(|(_, v)| unit(v)).collect();
    let relevance: Vec<f64> = docs.iter().map(|d| dot(&q, d)).collect();
    // The largest similarity of each candidate to the picked set (none picked yet: 0).
    let mut redundancy = vec![f64::NEG_INFINITY; docs.len()];
    let mut taken = vec![false; docs.len()];
    let mut order = Vec::with_capacity(k.min(docs.len()));
    while order.len() < k.min(docs.len()) {
        let value = |i: usize| {
            let r = if order.is_empty() { 0.0 } else { redundancy[i] };
            lambda * relevance[i] - (1.0 - lambda) * r
        };
        let best =
            (0..docs.len())
                .filter(|&i| !taken[i])
                .fold(None, |b: Option<(usize, f64)>, i| {
                    let v = value(i);
                    match b {
                        Some((_, bv)) if bv >= v => b,
                        _ => Some((i, v)),
                    }
                });
        let Some((pick, _)) = best else { break };
        taken[pick] = true;
        order.push(pick);
        for (i, d) in docs.iter().enumerate() {
            if !taken[i] {
                redundancy[i] = redundancy[i].max(dot(d, &docs[pick]));
            }
        }
    }
    order
}
