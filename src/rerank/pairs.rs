//! Re-ranking a run with a pair scorer: each query's top `depth` documents are scored
//! together with the query's text, and the run is ranked again by those scores.
//!
//! A [`PairScorer`] scores `(query text, document text)` pairs, higher meaning more relevant:
//! the [`CrossEncoder`] (one-label models), a bi-encoder ([`BiEncoder`]: the cosine of the two
//! texts' vectors from an [`Encoder`]), or anything else that implements the trait (the
//! Python layer wraps a Python callable). Documents are read through the run module's text
//! rule (title and text joined), queries from the queries table. All pairs of all queries are
//! scored in one call, so a model batches them by length across queries.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::cross_encoder::CrossEncoder;
use crate::cancel::Cancel;
use crate::data::schema::{self, table, QUERY_ID, TEXT};
use crate::data::DocumentTexts;
use crate::embed::{EncodeOptions, Encoder};
use crate::error::{Error, Result};
use crate::run::{self, RunBuilder};

/// Scores `(query, document)` pairs; a higher score means more relevant.
pub trait PairScorer: Send + Sync {
    /// A short name for the lab (`"cross-encoder"`, `"bi-encoder"`).
    fn name(&self) -> String;

    /// One score per pair, in order; progress counts pairs.
    fn score(&self, pairs: &[(&str, &str)], batch_size: usize, cancel: &Cancel)
        -> Result<Vec<f64>>;
}

impl PairScorer for CrossEncoder {
    fn name(&self) -> String {
        "cross-encoder".into()
    }

    fn score(
        &self,
        pairs: &[(&str, &str)],
        batch_size: usize,
        cancel: &Cancel,
    ) -> Result<Vec<f64>> {
        if self.labels() != 1 {
            return Err(Error::config(
                "reranker",
                format!(
                    "the cross-encoder has {} labels; re-ranking needs a one-label model",
                    self.labels()
                ),
            ));
        }
        let scores = self.predict(pairs, batch_size, cancel)?;
        Ok(scores.data.into_iter().map(f64::from).collect())
    }
}

/// The cosine similarity of the query's and the document's vectors from one encoder (the
/// model's query and document prefixes applied).
pub struct BiEncoder(pub Arc<Encoder>);

impl PairScorer for BiEncoder {
    fn name(&self) -> String {
        "bi-encoder".into()
    }

    fn score(
        &self,
        pairs: &[(&str, &str)],
        batch_size: usize,
        cancel: &Cancel,
    ) -> Result<Vec<f64>> {
        let options = EncodeOptions {
            batch_size,
            normalize: Some(true),
            ..EncodeOptions::default()
        };
        // Each distinct text is embedded once.
        let (queries, q_rows) = distinct(pairs.iter().map(|p| p.0));
        let (docs, d_rows) = distinct(pairs.iter().map(|p| p.1));
        let q = self.0.encode_queries(&queries, &options, None, cancel)?;
        let mut d_options = options.clone();
        d_options.prefix = Some(self.0.document_prefix().to_owned());
        let d = self.0.encode(&docs, &d_options, cancel)?;
        Ok(q_rows
            .iter()
            .zip(&d_rows)
            .map(|(&qi, &di)| {
                let dot: f32 = q.row(qi).iter().zip(d.row(di)).map(|(a, b)| a * b).sum();
                f64::from(dot)
            })
            .collect())
    }
}

/// The distinct items in order of first appearance, and each item's index among them.
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> (Vec<&'a str>, Vec<usize>) {
    let mut slot: FxHashMap<&str, usize> = FxHashMap::default();
    let mut out = Vec::new();
    let rows = items
        .map(|item| {
            *slot.entry(item).or_insert_with(|| {
                out.push(item);
                out.len() - 1
            })
        })
        .collect();
    (out, rows)
}

/// Options of [`rerank`].
#[derive(Debug, Clone)]
pub struct RerankOptions {
    /// Candidates per query: the run's top `depth` (all of them when `None`).
    pub depth: Option<usize>,
    /// Documents kept per query after re-ranking.
    pub k: usize,
    /// Pairs per forward pass.
    pub batch_size: usize,
}

impl Default for RerankOptions {
    fn default() -> Self {
        Self {
            depth: None,
            k: 100,
            batch_size: 32,
        }
    }
}

/// Re-rank each query's top documents of `run` by `scorer`'s scores. `queries` (`query_id`,
/// `text`) must hold every query of the run and `corpus` every candidate document.
pub fn rerank(
    run: &DataFrame,
    queries: &DataFrame,
    corpus: &DataFrame,
    scorer: &dyn PairScorer,
    options: &RerankOptions,
    cancel: &Cancel,
) -> Result<DataFrame> {
    run::check_k(options.k)?;
    if options.depth == Some(0) {
        return Err(Error::config("depth", "must be at least 1"));
    }
    if options.batch_size == 0 {
        return Err(Error::config("batch_size", "must be at least 1"));
    }
    let view = run::validate(run)?;
    if view.queries.is_empty() {
        return Err(Error::Empty {
            what: "run table".into(),
        });
    }
    let groups = run::ranked_groups(&view)?;
    let documents = DocumentTexts::new(corpus)?;
    let texts: Vec<Cow<str>> = (0..documents.len())
        .into_par_iter()
        .map(|i| documents.text(i))
        .collect();
    let (pairs, spans) = candidate_pairs(&groups, queries, &documents, &texts, options.depth)?;
    let scores = scorer.score(&pairs, options.batch_size, cancel)?;
    if scores.len() != pairs.len() {
        return Err(Error::config(
            "reranker",
            format!("returned {} scores for {} pairs", scores.len(), pairs.len()),
        ));
    }
    let mut builder = RunBuilder::default();
    for ((qid, hits), span) in groups.iter().zip(spans) {
        let scored: Vec<(&str, f64)> = hits
            .iter()
            .zip(&scores[span.clone()])
            .map(|(&(doc, _), &s)| (doc, s))
            .collect();
        builder.push_top_k(qid, scored, options.k)?;
    }
    builder.finish()
}

/// A `(query text, document text)` pair.
type Pair<'t> = (&'t str, &'t str);

/// The `(query text, document text)` pairs of each query's top `depth` candidates, and each
/// query's range of them.
fn candidate_pairs<'t>(
    groups: &[run::RankedQuery<'_>],
    queries: &'t DataFrame,
    documents: &DocumentTexts<'_>,
    texts: &'t [Cow<'t, str>],
    depth: Option<usize>,
) -> Result<(Vec<Pair<'t>>, Vec<Range<usize>>)> {
    let query_text: FxHashMap<&str, &str> =
        schema::str_values(schema::str_column(queries, table::QUERIES, QUERY_ID)?)
            .zip(schema::str_values(schema::str_column(
                queries,
                table::QUERIES,
                TEXT,
            )?))
            .collect();
    let doc_row: FxHashMap<&str, usize> = schema::str_values(documents.ids)
        .enumerate()
        .map(|(i, d)| (d, i))
        .collect();
    let mut pairs = Vec::new();
    let mut spans = Vec::with_capacity(groups.len());
    for (qid, hits) in groups {
        let Some(&q) = query_text.get(qid) else {
            return Err(Error::UnknownId {
                kind: "query",
                id: (*qid).to_owned(),
                location: "the queries table given to rerank".into(),
            });
        };
        let start = pairs.len();
        for &(doc, _) in &hits[..depth.unwrap_or(hits.len()).min(hits.len())] {
            let Some(&row) = doc_row.get(doc) else {
                return Err(Error::UnknownId {
                    kind: "document",
                    id: doc.to_owned(),
                    location: format!("the corpus given to rerank (query {qid:?})"),
                });
            };
            pairs.push((q, texts[row].as_ref()));
        }
        spans.push(start..pairs.len());
    }
    Ok((pairs, spans))
}
