//! Loaders and writers, without Python.

use std::path::PathBuf;

use ragplay::data::{self, schema};
use ragplay::polars::prelude::*;
use ragplay::Error;

fn shared(name: &str) -> PathBuf {
    let root = std::env::var("RAGPLAY_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    root.join(name)
}

#[test]
fn loads_adi_and_cranfield_with_the_documented_schema() {
    let adi = data::load_beir(&shared("adi"), "test").unwrap();
    assert_eq!(
        (
            adi.corpus.height(),
            adi.queries.height(),
            adi.qrels.height()
        ),
        (82, 35, 170)
    );
    assert_eq!(adi.corpus.schema().as_ref(), &schema::corpus_schema());
    assert_eq!(adi.queries.schema().as_ref(), &schema::queries_schema());
    assert_eq!(adi.qrels.schema().as_ref(), &schema::qrels_schema());
    let cran = data::load_beir(&shared("cranfield"), "test").unwrap();
    assert_eq!(cran.corpus.height(), 1400);
    let rel = cran.qrels.column("relevance").unwrap().i32().unwrap();
    assert_eq!((rel.min(), rel.max()), (Some(1), Some(4)));
}

#[test]
fn run_files_round_trip_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let run = df!(
        "query_id" => ["q1", "q1", "q2"],
        "doc_id" => ["a", "b", "a"],
        "score" => [0.1f64 / 3.0, 1e-300, -2.5],
    )
    .unwrap();
    let path = dir.path().join("r.trec");
    ragplay::run::write_trec_run(&run, &path, "t").unwrap();
    let back = ragplay::run::read_trec_run(&path).unwrap();
    assert!(back.equals(&ragplay::run::rank(&run).unwrap()));
    assert_eq!(back.schema().as_ref(), &schema::run_schema());
}

#[test]
fn errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corpus.jsonl");
    std::fs::write(
        &path,
        "{\"_id\": \"a\", \"text\": \"x\"}\n{\"title\": \"t\", \"text\": \"y\"}\n",
    )
    .unwrap();
    match data::load_corpus(&path) {
        Err(Error::Parse { line, message, .. }) => {
            assert_eq!(line, 2);
            assert!(message.contains("_id"), "{message}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    std::fs::write(&path, b"{\"_id\": \"a\", \"text\": \"\xff\"}\n").unwrap();
    assert!(matches!(
        data::load_corpus(&path),
        Err(Error::InvalidUtf8 { line: 1, .. })
    ));
    assert!(matches!(
        data::load_corpus(&dir.path().join("none.jsonl")),
        Err(Error::Io { .. })
    ));
}
