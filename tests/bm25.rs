//! BM25 without Python: effectiveness on real collections, lifecycle, persistence.

use std::path::PathBuf;

use ragplay::cancel::never;
use ragplay::data;
use ragplay::eval::{evaluate, EvalOptions};
use ragplay::polars::prelude::*;
use ragplay::retrieve::{Bm25, Bm25Config, Params, Variant};
use ragplay::Error;

fn shared(name: &str) -> PathBuf {
    let root = std::env::var("RAGPLAY_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    root.join(name)
}

fn ndcg10(index: &Bm25, c: &data::Beir) -> f64 {
    let run = index.search(&c.queries, 100, None, never()).unwrap();
    let ev = evaluate(
        &run,
        &c.qrels,
        &["ndcg@10"],
        &EvalOptions::default(),
        never(),
    )
    .unwrap();
    ev.summary
        .column("ndcg@10")
        .unwrap()
        .f64()
        .unwrap()
        .get(0)
        .unwrap()
}

#[test]
fn scifact_and_cranfield_with_the_default_configuration() {
    for (name, floor) in [("scifact", 0.679), ("cranfield", 0.0)] {
        let c = data::load_beir(&shared(name), "test").unwrap();
        let index = Bm25::build(Bm25Config::default(), &c.corpus, never()).unwrap();
        let v = ndcg10(&index, &c);
        println!("{name}: nDCG@10 = {v:.4} (BM25 default configuration)");
        assert!(v >= floor, "{name} nDCG@10 {v} below {floor}");
    }
}

#[test]
fn add_and_delete_equal_a_fresh_index() {
    let c = data::load_beir(&shared("adi"), "test").unwrap();
    for variant in [Variant::Lucene, Variant::Bm25L] {
        let config = Bm25Config {
            params: Params {
                variant,
                ..Default::default()
            },
            ..Default::default()
        };
        let n = c.corpus.height();
        let mut grown = Bm25::build(config.clone(), &c.corpus.slice(0, 50), never()).unwrap();
        grown.add(&c.corpus.slice(50, n - 50), never()).unwrap();
        let doomed: Vec<String> = ["3", "17", "60"].iter().map(|s| s.to_string()).collect();
        grown.delete(&doomed).unwrap();
        let ids = c.corpus.column("doc_id").unwrap().str().unwrap();
        let keep: BooleanChunked = data::schema::str_values(ids)
            .map(|id| !doomed.iter().any(|d| d == id))
            .collect();
        let fresh = Bm25::build(config, &c.corpus.filter(&keep).unwrap(), never()).unwrap();
        let a = grown.search(&c.queries, 20, None, never()).unwrap();
        let b = fresh.search(&c.queries, 20, None, never()).unwrap();
        assert!(a.equals(&b), "{variant:?}");
        assert!(matches!(
            grown.delete(&["nope"]),
            Err(Error::UnknownId { .. })
        ));
    }
}

#[test]
fn save_and_load_round_trip_and_reject_damage() {
    let c = data::load_beir(&shared("adi"), "test").unwrap();
    let index = Bm25::build(Bm25Config::default(), &c.corpus, never()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    index.save(dir.path()).unwrap();
    let back = Bm25::load(dir.path()).unwrap();
    let a = index.search(&c.queries, 10, None, never()).unwrap();
    assert!(a.equals(&back.search(&c.queries, 10, None, never()).unwrap()));
    let data = dir.path().join("index.bin");
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(Bm25::load(dir.path()), Err(Error::Parse { .. })));
}
