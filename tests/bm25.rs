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
fn word_segmentation_equals_unicode_words_on_real_text() {
    use unicode_segmentation::UnicodeSegmentation;
    for name in ["scifact", "cranfield", "adi"] {
        let c = data::load_beir(&shared(name), "test").unwrap();
        let mut texts: Vec<String> = Vec::new();
        for (table, column) in [
            (&c.corpus, "title"),
            (&c.corpus, "text"),
            (&c.queries, "text"),
        ] {
            let col = table.column(column).unwrap().str().unwrap();
            texts.extend((0..col.len()).filter_map(|i| col.get(i)).map(str::to_owned));
        }
        assert!(texts.len() > 100, "{name}");
        for text in &texts {
            let mut ours = Vec::new();
            ragplay::text::analyzer::words(text, |w| ours.push(w));
            let reference: Vec<&str> = text.unicode_words().collect();
            assert_eq!(ours, reference, "{name}: {text:?}");
        }
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

/// A corpus of Zipf-distributed words (w0 most common) and queries of common and rare words,
/// where early termination applies.
fn zipf_collection(n_docs: usize, n_queries: usize) -> (DataFrame, DataFrame) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let vocab = 5000usize;
    let weights: Vec<f64> = (1..=vocab).map(|r| (r as f64).powf(-1.1)).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(vocab);
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut word = || {
        let u = next();
        format!("w{}", cdf.partition_point(|&c| c < u).min(vocab - 1))
    };
    let texts: Vec<String> = (0..n_docs)
        .map(|i| {
            let len = 5 + (i * 7919) % 60;
            (0..len).map(|_| word()).collect::<Vec<_>>().join(" ")
        })
        .collect();
    let queries: Vec<String> = (0..n_queries)
        .map(|i| (0..3 + i % 4).map(|_| word()).collect::<Vec<_>>().join(" "))
        .collect();
    let corpus = df!(
        "doc_id" => (0..n_docs).map(|i| format!("d{i}")).collect::<Vec<_>>(),
        "title" => vec![""; n_docs],
        "text" => texts,
    )
    .unwrap();
    let queries = df!(
        "query_id" => (0..n_queries).map(|i| format!("q{i}")).collect::<Vec<_>>(),
        "text" => queries,
    )
    .unwrap();
    (corpus, queries)
}

#[test]
fn early_termination_returns_the_exact_top_k() {
    let (corpus, queries) = zipf_collection(20_000, 200);
    let ids: Vec<String> = (0..20_000).map(|i| format!("d{i}")).collect();
    for variant in [
        Variant::Lucene,
        Variant::Robertson,
        Variant::Atire,
        Variant::Okapi,
        Variant::Bm25L,
    ] {
        let config = Bm25Config {
            params: Params {
                variant,
                ..Default::default()
            },
            analyzer: ragplay::text::AnalyzerConfig {
                stopwords: ragplay::text::StopWords::None,
                stemmer: None,
                ..Default::default()
            },
            ..Default::default()
        };
        let index = Bm25::build(config, &corpus, never()).unwrap();
        for k in [1, 10, 100] {
            let fast = index.search(&queries, k, None, never()).unwrap();
            // An allow-list of every document turns early termination off.
            let full = index.search(&queries, k, Some(&ids), never()).unwrap();
            if !fast.equals(&full) {
                let n = fast.height().min(full.height());
                let at = (0..n)
                    .find(|&i| fast.slice(i as i64, 1) != full.slice(i as i64, 1))
                    .unwrap_or(n);
                let d = format!(
                    "heights {} {}; first difference at row {at}\n{}\n{}",
                    fast.height(),
                    full.height(),
                    fast.slice(at as i64 - 2, 5),
                    full.slice(at as i64 - 2, 5)
                );
                panic!("{variant:?}, k = {k}: {d}");
            }
            if variant == Variant::Lucene {
                // Lucene's idf is positive: every query that matches fills its k.
                assert_eq!(fast.height(), 200 * k, "k = {k}");
            }
        }
    }
}
