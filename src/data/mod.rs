//! Data model: the corpus, queries, qrels and run tables, their schemas, and the loaders and
//! writers for BEIR folders and TREC files, and the reader of a folder of user documents
//! (Markdown, text, HTML). Every table is a `polars::DataFrame` whose columns
//! are named in [`schema`].

pub mod arrow_ipc;
pub mod beir;
pub mod demo;
pub mod glob;
pub mod html;
pub mod ingest;
pub mod io;
pub mod sample;
pub mod schema;
pub mod trec;

pub use beir::{load_beir, load_corpus, load_qrels_tsv, load_queries, Beir};
pub use ingest::{read_documents, Documents, ReadOptions};
pub use trec::{
    rank_run, read_trec_qrels, read_trec_run, split_runs, stack_runs, write_trec_qrels,
    write_trec_run,
};
