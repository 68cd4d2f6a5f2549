//! Data model: the corpus, queries and qrels tables, the column vocabulary of every table
//! ([`schema`]), the loaders and writers of BEIR folders and TREC qrels files, the text a
//! retriever sees for a document ([`documents`]), and the reader of a folder of user documents
//! (Markdown, text, HTML). Every table is a `polars::DataFrame` whose columns are named in
//! [`schema`]. Run tables are the run module's ([`crate::run`]), which builds on this one.

pub mod arrow_ipc;
pub mod beir;
pub mod bytes;
pub mod demo;
pub mod documents;
pub mod glob;
pub mod html;
pub mod ingest;
pub mod io;
pub mod sample;
pub mod schema;
pub mod trec;

pub use beir::{load_beir, load_corpus, load_qrels_tsv, load_queries, Beir};
pub use documents::DocumentTexts;
pub use ingest::{read_documents, Documents, ReadOptions};
pub use trec::{read_trec_qrels, write_trec_qrels};
