//! From chunks back to documents: a run over chunk ids turned into a run over documents.
//!
//! A retriever that indexes chunks returns a run whose `doc_id` column holds chunk ids; the
//! chunks table maps each to its document. Per query and document, the chunk scores are
//! combined as in Dai & Callan, "Deeper Text Understanding for IR with Contextual Neural
//! Language Modeling", SIGIR 2019:
//!
//! | method | document score |
//! |---|---|
//! | `maxp` | the largest score of its retrieved chunks |
//! | `firstp` | the score of its retrieved chunk with the smallest `start` |
//! | `sump` | the sum of its retrieved chunks' scores |
//!
//! FirstP in the paper scores the document's first passage only. A run holds only the
//! retrieved chunks, so here the first passage is the earliest one the run retrieved: the
//! document's first chunk when it was retrieved, else the next one in the text (ties on
//! `start` go to the chunk higher in the run). A document none of whose chunks was retrieved
//! is absent, as in the chunk run.
//!
//! The result is ranked in the run order ([`crate::run::order`]) and cut at `k` per query.

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::data::schema::{self, table, CHUNK_ID, DOC_ID, START};
use crate::error::{Error, Result};
use crate::options::option_enum;
use crate::run::{self, RunBuilder};

option_enum! {
    /// How the scores of a document's chunks become its score.
    pub enum Aggregate: "aggregate" {
        /// The best chunk's score.
        MaxP => "maxp",
        /// The score of the earliest retrieved chunk.
        FirstP => "firstp",
        /// The sum of the chunks' scores.
        SumP => "sump",
    }
}

/// Chunk id → (document id, start), from a chunks table (`chunk_id`, `doc_id`, `start`).
fn chunk_index(chunks: &DataFrame) -> Result<FxHashMap<&str, (&str, f64)>> {
    let ids = schema::str_column(chunks, table::CHUNKS, CHUNK_ID)?;
    let docs = schema::str_column(chunks, table::CHUNKS, DOC_ID)?;
    let starts = schema::f64_column(chunks, table::CHUNKS, START)?;
    let mut index = FxHashMap::with_capacity_and_hasher(ids.len(), Default::default());
    for ((c, d), s) in schema::str_values(ids)
        .zip(schema::str_values(docs))
        .zip(starts.into_no_null_iter())
    {
        if index.insert(c, (d, s)).is_some() {
            return Err(Error::DuplicateId {
                kind: "chunk",
                id: c.to_owned(),
                location: "the chunks table".into(),
            });
        }
    }
    Ok(index)
}

/// A run over chunk ids (`doc_id` holds chunk ids) as a run over documents, each scored by
/// `method` from its retrieved chunks, the best `k` per query (all when `None`).
///
/// Errors: a chunk id missing from `chunks` ([`Error::UnknownId`]), a chunk id twice in
/// `chunks` or twice for one query in the run, `k` = 0, invalid tables.
pub fn to_documents(
    run: &DataFrame,
    chunks: &DataFrame,
    method: Aggregate,
    k: Option<usize>,
) -> Result<DataFrame> {
    if let Some(k) = k {
        run::check_k(k)?;
    }
    let view = run::validate(run)?;
    let index = chunk_index(chunks)?;
    let groups = run::ranked_groups(&view)?;
    let scored: Vec<(&str, Vec<(&str, f64)>)> = groups
        .par_iter()
        .map(|(query, hits)| {
            // Document → (score, start of the chunk that set it), hits in run order.
            let mut docs: FxHashMap<&str, (f64, f64)> = FxHashMap::default();
            for &(chunk, score) in hits {
                let &(doc, start) = index.get(chunk).ok_or_else(|| Error::UnknownId {
                    kind: "chunk",
                    id: chunk.to_owned(),
                    location: format!("the chunks table (run, query {query:?})"),
                })?;
                docs.entry(doc)
                    .and_modify(|acc| match method {
                        Aggregate::MaxP => acc.0 = acc.0.max(score),
                        Aggregate::SumP => acc.0 += score,
                        Aggregate::FirstP if start < acc.1 => *acc = (score, start),
                        Aggregate::FirstP => {}
                    })
                    .or_insert((score, start));
            }
            let hits = docs.into_iter().map(|(d, (s, _))| (d, s)).collect();
            Ok((*query, hits))
        })
        .collect::<Result<_>>()?;
    let mut builder = RunBuilder::default();
    for (query, hits) in scored {
        builder.push_top_k(query, hits, k.unwrap_or(usize::MAX))?;
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::schema::{QUERY_ID, SCORE};

    #[test]
    fn maxp_firstp_sump() {
        let chunks = df!(
            CHUNK_ID => ["a#0", "a#1", "a#2", "b#0"],
            DOC_ID => ["a", "a", "a", "b"],
            START => [0u32, 10, 20, 0],
        )
        .unwrap();
        let run = df!(
            QUERY_ID => ["q", "q", "q"],
            DOC_ID => ["a#2", "b#0", "a#1"],
            SCORE => [3.0, 2.5, 1.0],
        )
        .unwrap();
        let scores = |m| {
            let out = to_documents(&run, &chunks, m, None).unwrap();
            let docs: Vec<String> = schema::str_values(out.column(DOC_ID).unwrap().str().unwrap())
                .map(str::to_owned)
                .collect();
            let s: Vec<f64> = out
                .column(SCORE)
                .unwrap()
                .f64()
                .unwrap()
                .into_no_null_iter()
                .collect();
            docs.into_iter().zip(s).collect::<Vec<_>>()
        };
        assert_eq!(
            scores(Aggregate::MaxP),
            [("a".into(), 3.0), ("b".into(), 2.5)]
        );
        assert_eq!(
            scores(Aggregate::SumP),
            [("a".into(), 4.0), ("b".into(), 2.5)]
        );
        assert_eq!(
            scores(Aggregate::FirstP),
            [("b".into(), 2.5), ("a".into(), 1.0)]
        );
        let top = to_documents(&run, &chunks, Aggregate::MaxP, Some(1)).unwrap();
        assert_eq!(top.height(), 1);
    }
}
