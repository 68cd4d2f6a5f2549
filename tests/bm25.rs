//! BM25 without Python: effectiveness on real collections, lifecycle (add, delete,
//! compaction), persistence.

use std::path::PathBuf;

use ragplay::cancel::never;
use ragplay::data;
use ragplay::eval::{evaluate, EvalOptions};
use ragplay::polars::prelude::*;
use ragplay::retrieve::bm25::AUTO_COMPACT_DEAD_SHARE;
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

/// The doc ids of a corpus table, in row order.
fn doc_ids(corpus: &DataFrame) -> Vec<String> {
    let ids = corpus.column("doc_id").unwrap().str().unwrap();
    data::schema::str_values(ids).map(str::to_owned).collect()
}

/// The rows of `corpus` whose doc id `keep` accepts.
fn rows_where(corpus: &DataFrame, keep: impl Fn(&str) -> bool) -> DataFrame {
    let ids = corpus.column("doc_id").unwrap().str().unwrap();
    let mask: BooleanChunked = data::schema::str_values(ids).map(keep).collect();
    corpus.filter(&mask).unwrap()
}

/// Accepts the ids not in `doomed`.
fn not_in(doomed: &[String]) -> impl Fn(&str) -> bool + '_ {
    move |id| !doomed.iter().any(|d| d == id)
}

/// The size of `index.bin` when `index` is saved.
fn saved_size(index: &Bm25) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    index.save(dir.path()).unwrap();
    std::fs::metadata(dir.path().join("index.bin"))
        .unwrap()
        .len()
}

/// Asserts that `index` and `reference` return the same run for `queries` at k = 100.
fn assert_same_runs(index: &Bm25, reference: &Bm25, queries: &DataFrame, what: &str) {
    let a = index.search(queries, 100, None, never()).unwrap();
    let b = reference.search(queries, 100, None, never()).unwrap();
    assert!(a.height() > 0, "{what}: empty run");
    assert!(a.equals(&b), "{what}: runs differ");
}

/// Asserts that `index` saved and loaded back answers as it does.
fn assert_round_trip(index: &Bm25, queries: &DataFrame, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    index.save(dir.path()).unwrap();
    let back = Bm25::load(dir.path()).unwrap();
    assert_eq!(back.len(), index.len(), "{what}");
    assert_eq!(
        back.num_slots(),
        back.len(),
        "{what}: no dead slot is saved"
    );
    assert_same_runs(&back, index, queries, what);
}

#[test]
fn deleting_half_of_scifact_compacts_to_a_fresh_index() {
    let c = data::load_beir(&shared("scifact"), "test").unwrap();
    let ids = doc_ids(&c.corpus);
    let mut index = Bm25::build(Bm25Config::default(), &c.corpus, never()).unwrap();
    let full_size = saved_size(&index);
    assert_eq!(index.num_slots(), ids.len());

    let doomed: Vec<String> = ids.iter().step_by(2).cloned().collect();
    index.delete(&doomed).unwrap();
    let kept = rows_where(&c.corpus, |id| !doomed.iter().any(|d| d == id));
    let fresh = Bm25::build(Bm25Config::default(), &kept, never()).unwrap();
    // Half the slots dead is past the threshold: `delete` compacted by itself.
    assert_eq!(index.len(), ids.len() - doomed.len());
    assert_eq!(index.num_slots(), index.len());
    assert_eq!(fresh.num_slots(), index.num_slots());
    assert_eq!(index.num_terms(), fresh.num_terms());
    let size = saved_size(&index);
    assert!(size < full_size, "{size} >= {full_size}");
    assert_eq!(size, saved_size(&fresh));
    assert_same_runs(&index, &fresh, &c.queries, "after deleting half");
    // Nothing is left to reclaim.
    index.compact();
    assert_eq!(index.num_slots(), index.len());
    assert_same_runs(&index, &fresh, &c.queries, "compacted again");
    assert_round_trip(&index, &c.queries, "deleted half");
}

#[test]
fn compaction_is_explicit_below_the_threshold_and_automatic_past_it() {
    let c = data::load_beir(&shared("scifact"), "test").unwrap();
    let ids = doc_ids(&c.corpus);
    let n = ids.len();
    let mut index = Bm25::build(Bm25Config::default(), &c.corpus, never()).unwrap();
    let full_size = saved_size(&index);

    // As many deletions as the threshold allows without compacting: every third document.
    let quiet = (AUTO_COMPACT_DEAD_SHARE * n as f64).floor() as usize;
    let mut doomed: Vec<String> = ids.iter().step_by(3).take(quiet).cloned().collect();
    assert_eq!(doomed.len(), quiet);
    index.delete(&doomed).unwrap();
    assert_eq!(index.num_slots(), n, "no compaction at {quiet} dead of {n}");
    let fresh = Bm25::build(
        Bm25Config::default(),
        &rows_where(&c.corpus, not_in(&doomed)),
        never(),
    )
    .unwrap();
    assert_same_runs(&index, &fresh, &c.queries, "dead slots kept");
    // The dead slots are not saved.
    let size = saved_size(&index);
    assert!(size < full_size);
    assert_eq!(size, saved_size(&fresh));
    assert_round_trip(&index, &c.queries, "dead slots kept");

    index.compact();
    assert_eq!(index.num_slots(), n - quiet);
    assert_eq!(index.num_terms(), fresh.num_terms());
    assert_same_runs(&index, &fresh, &c.queries, "compacted by hand");

    // Measured against the compacted slots: up to the threshold nothing happens, one more
    // deletion compacts.
    let m = index.num_slots();
    let quiet = (AUTO_COMPACT_DEAD_SHARE * m as f64).floor() as usize;
    let alive: Vec<String> = ids
        .iter()
        .filter(|id| not_in(&doomed)(id))
        .cloned()
        .collect();
    let more: Vec<String> = alive.iter().step_by(2).take(quiet + 1).cloned().collect();
    assert_eq!(more.len(), quiet + 1);
    index.delete(&more[..quiet]).unwrap();
    assert_eq!(index.num_slots(), m);
    index.delete(&more[quiet..]).unwrap();
    assert_eq!(index.num_slots(), m - quiet - 1);
    assert_eq!(index.num_slots(), index.len());
    doomed.extend(more);
    let fresh = Bm25::build(
        Bm25Config::default(),
        &rows_where(&c.corpus, not_in(&doomed)),
        never(),
    )
    .unwrap();
    assert_eq!(index.num_terms(), fresh.num_terms());
    assert_same_runs(&index, &fresh, &c.queries, "compacted by delete");
}

#[test]
fn delete_and_add_after_compaction_equal_a_fresh_index() {
    let c = data::load_beir(&shared("scifact"), "test").unwrap();
    for variant in [Variant::Lucene, Variant::Bm25L] {
        let config = Bm25Config {
            params: Params {
                variant,
                ..Default::default()
            },
            ..Default::default()
        };
        let ids = doc_ids(&c.corpus);
        let mut index = Bm25::build(config.clone(), &c.corpus, never()).unwrap();
        let doomed: Vec<String> = ids.iter().skip(1).step_by(2).cloned().collect();
        index.delete(&doomed).unwrap();
        assert_eq!(index.num_slots(), index.len(), "{variant:?}");

        // Back in: the deleted documents under their old ids, and copies of 100 kept ones
        // under new ids.
        let returning = rows_where(&c.corpus, |id| doomed.iter().any(|d| d == id));
        let originals = rows_where(&c.corpus.head(Some(400)), |id| {
            !doomed.iter().any(|d| d == id)
        });
        let originals = originals.head(Some(100));
        let new_ids: Vec<String> = doc_ids(&originals)
            .iter()
            .map(|id| format!("copy-{id}"))
            .collect();
        let mut copies = originals.clone();
        copies
            .with_column(Column::new("doc_id".into(), new_ids.clone()))
            .unwrap();
        index.add(&returning, never()).unwrap();
        index.add(&copies, never()).unwrap();
        assert_eq!(index.len(), ids.len() + 100, "{variant:?}");
        assert!(matches!(
            index.add(&copies.head(Some(1)), never()),
            Err(Error::DuplicateId { .. })
        ));

        // Out again: a few old, returned and new ids (few enough not to compact).
        let out: Vec<String> = [&ids[0], &doomed[0], &doomed[7], &new_ids[0], &new_ids[50]]
            .into_iter()
            .cloned()
            .collect();
        index.delete(&out).unwrap();
        assert_eq!(index.num_slots(), index.len() + out.len(), "{variant:?}");

        let everything = c.corpus.vstack(&copies).unwrap();
        let last = rows_where(&everything, |id| !out.iter().any(|d| d == id));
        let fresh = Bm25::build(config, &last, never()).unwrap();
        assert_eq!(index.len(), fresh.len());
        assert_same_runs(&index, &fresh, &c.queries, &format!("{variant:?}"));
        assert_round_trip(&index, &c.queries, &format!("{variant:?}"));
        index.compact();
        assert_eq!(index.num_slots(), index.len());
        assert_same_runs(
            &index,
            &fresh,
            &c.queries,
            &format!("{variant:?}, compacted"),
        );
    }
}
