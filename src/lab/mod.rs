//! The lab: end-to-end experiments that tie loaders, retrievers and evaluation together.
//!
//! For now it holds the baseline used by the demo: a term-overlap retriever that scores a
//! document by the number of distinct query words (lower-cased alphanumeric runs) it contains.
//! It is a floor to beat, not a ranking model.

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashSet;

use crate::data::schema::{self, table, DOC_ID, QUERY_ID, TEXT, TITLE};
use crate::error::{Error, Result};

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Rank the corpus for every query by distinct query-word overlap; keep the top `k` documents
/// with a positive score per query, in `trec_eval` order.
pub fn overlap_run(corpus: &DataFrame, queries: &DataFrame, k: usize) -> Result<DataFrame> {
    if k == 0 {
        return Err(Error::config("k", "must be at least 1"));
    }
    let ids = schema::str_column(corpus, table::CORPUS, DOC_ID)?;
    let titles = schema::str_column(corpus, table::CORPUS, TITLE)?;
    let texts = schema::str_column(corpus, table::CORPUS, TEXT)?;
    if corpus.height() == 0 {
        return Err(Error::Empty {
            what: "corpus".into(),
        });
    }
    let docs: Vec<(&str, FxHashSet<String>)> = schema::str_values(ids)
        .zip(schema::str_values(titles).zip(schema::str_values(texts)))
        .map(|(id, (t, x))| (id, words(t).chain(words(x)).collect()))
        .collect();
    let qids = schema::str_column(queries, table::QUERIES, QUERY_ID)?;
    let qtexts = schema::str_column(queries, table::QUERIES, TEXT)?;
    let per_query: Vec<Vec<(&str, &str, f64)>> = schema::str_values(qids)
        .zip(schema::str_values(qtexts))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(qid, text)| {
            let terms: FxHashSet<String> = words(text).collect();
            let mut hits: Vec<(&str, &str, f64)> = docs
                .iter()
                .map(|(id, set)| {
                    (
                        qid,
                        *id,
                        terms.iter().filter(|t| set.contains(*t)).count() as f64,
                    )
                })
                .filter(|h| h.2 > 0.0)
                .collect();
            hits.sort_unstable_by(|a, b| b.2.total_cmp(&a.2).then_with(|| b.1.cmp(a.1)));
            hits.truncate(k);
            hits
        })
        .collect();
    schema::ranked_run_frame(per_query.iter().map(|hits| {
        let qid = hits.first().map_or("", |h| h.0);
        (qid, hits.iter().map(|&(_, d, s)| (d, s)))
    }))
}
