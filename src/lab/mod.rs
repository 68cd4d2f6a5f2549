//! The lab: end-to-end experiments that tie loaders, retrievers and evaluation together.
//!
//! It holds sweeps ([`spec`]: what a sweep varies, [`chunking`] its chunking axis,
//! [`generation`] its language models, prompts and answers; [`sweep`]:
//! running it with shared work done once; [`results`]: the results table; [`store`]: the folder
//! that keeps finished configurations), the regression gate ([`gate`]: is a candidate significantly
//! worse than a baseline?) and the baseline used by the demo: a term-overlap retriever that scores
//! a document by the number of distinct query words (lower-cased alphanumeric runs) it contains. It
//! is a floor to beat, not a ranking model.

pub mod chunking;
pub mod gate;
pub mod generation;
pub mod results;
pub mod spec;
pub mod store;
pub mod sweep;
mod timing;

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashSet;

use crate::data::schema::{self, table, QUERY_ID, TEXT};
use crate::data::DocumentTexts;
use crate::error::{Error, Result};
use crate::run::{check_k, RunBuilder};
pub use gate::{check, GateOptions, GateReport, Latency};
pub use results::SweepResult;
pub use spec::{Experiment, Mode};
pub use store::Store;
pub use sweep::{sweep, SweepOptions};

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Rank the corpus for every query by distinct query-word overlap; keep the top `k` documents
/// with a positive score per query, in run order.
pub fn overlap_run(corpus: &DataFrame, queries: &DataFrame, k: usize) -> Result<DataFrame> {
    check_k(k)?;
    let documents = DocumentTexts::new(corpus)?;
    crate::retrieve::check_new_ids(documents.ids, |_| false)?;
    if documents.is_empty() {
        return Err(Error::Empty {
            what: "corpus".into(),
        });
    }
    let docs: Vec<(&str, FxHashSet<String>)> = schema::str_values(documents.ids)
        .enumerate()
        .map(|(i, id)| (id, words(&documents.text(i)).collect()))
        .collect();
    let qids = schema::str_column(queries, table::QUERIES, QUERY_ID)?;
    let qtexts = schema::str_column(queries, table::QUERIES, TEXT)?;
    let per_query: Vec<(&str, Vec<(&str, f64)>)> = schema::str_values(qids)
        .zip(schema::str_values(qtexts))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(qid, text)| {
            let terms: FxHashSet<String> = words(text).collect();
            let hits = docs
                .iter()
                .map(|(id, set)| {
                    (
                        *id,
                        terms.iter().filter(|t| set.contains(*t)).count() as f64,
                    )
                })
                .filter(|h| h.1 > 0.0)
                .collect();
            (qid, hits)
        })
        .collect();
    let mut run = RunBuilder::default();
    for (qid, hits) in per_query {
        run.push_top_k(qid, hits, k)?;
    }
    run.finish()
}
