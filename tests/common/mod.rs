//! Table builders shared by the integration tests.
#![allow(dead_code)] // each test crate uses some of them

use ragplay::polars::prelude::*;

/// A run table from `(query_id, doc_id, score)` rows.
pub fn run(rows: &[(&str, &str, f64)]) -> DataFrame {
    df!(
        "query_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "doc_id" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "score" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
    )
    .unwrap()
}

/// A qrels table from `(query_id, doc_id, relevance)` rows.
pub fn qrels(rows: &[(&str, &str, i32)]) -> DataFrame {
    df!(
        "query_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "doc_id" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "relevance" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
    )
    .unwrap()
}
