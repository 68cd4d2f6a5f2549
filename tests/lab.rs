//! Sweeps and the store without Python: a grid on the sample collection against retrievers
//! built by hand, one index build per distinct input, resumption from the store with nothing
//! recomputed (also of a configuration saved but not yet listed in the manifest), and a store
//! that refuses another collection.

use ragplay::cancel::never;
use ragplay::data::{sample::sample, Beir};
use ragplay::lab::spec::Experiment;
use ragplay::lab::store::Store;
use ragplay::lab::{sweep, SweepOptions};
use ragplay::polars::prelude::*;
use ragplay::retrieve::{Bm25, Bm25Config, Retriever};

const EXPERIMENT: &str = r#"
metrics = ["ndcg@10", "mrr@10"]
k = 10
n_resamples = 500

[retrievers.bm25]
kind = "bm25"

[retrievers.robertson]
kind = "bm25"
variant = "robertson"
k1 = 1.5

[grid]
retrievers = ["bm25", "robertson", ["bm25", "robertson"]]
chunking = [{ strategy = "none" }, { strategy = "sentence", size = 120 }]
enrich = ["none", "{title}\n\n{text}"]
depth = [20]
"#;

fn strings(df: &DataFrame, name: &str) -> Vec<String> {
    let c = df.column(name).unwrap().str().unwrap().clone();
    (0..c.len())
        .map(|i| c.get(i).unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn grid_runs_equal_hand_built_retrievers_and_indexes_are_built_once() {
    let collection = sample().unwrap();
    let e = Experiment::from_toml(EXPERIMENT).unwrap();
    let result = sweep(&collection, &e, &SweepOptions::default(), never()).unwrap();
    // 3 combinations x (documents + sentence x 2 templates).
    assert_eq!(result.results.height(), 9);
    // Indexes: 2 retrievers x 3 inputs, each built once.
    assert_eq!(result.work.height(), 6);
    let labels = strings(&result.results, "label");
    let ids = strings(&result.results, "config_id");
    let base = &ids[labels
        .iter()
        .position(|l| l == "bm25 · documents · d20")
        .unwrap()];
    assert_eq!(&result.baseline, base);
    let mut bm25 = Bm25::new(Bm25Config::default()).unwrap();
    bm25.index(&collection.corpus, never()).unwrap();
    let hand = Retriever::search(&bm25, &collection.queries, 10, None, never()).unwrap();
    let mine = result.run(base).unwrap();
    assert!(mine.equals(&hand), "{mine}\n{hand}");
    let rows: usize = result.by_id.values().map(DataFrame::height).sum();
    assert_eq!(result.runs.height(), rows);
    let ndcg = result
        .results
        .column("ndcg@10")
        .unwrap()
        .f64()
        .unwrap()
        .clone();
    let sorted: Vec<f64> = ndcg.into_no_null_iter().collect();
    assert!(sorted.windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn a_store_resumes_without_recomputing_and_refuses_another_collection() {
    let dir = tempfile::tempdir().unwrap();
    let collection = sample().unwrap();
    let e = Experiment::from_toml(EXPERIMENT).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let options = SweepOptions {
        store: Some(store.clone()),
        ..SweepOptions::default()
    };
    let first = sweep(&collection, &e, &options, never()).unwrap();
    assert_eq!(first.computed.len(), 9);
    let again = sweep(&collection, &e, &options, never()).unwrap();
    assert!(again.computed.is_empty());
    assert_eq!(again.reused.len(), 9);
    assert_eq!(again.work.height(), 0);
    let cols = ["config_id", "ndcg@10", "ndcg@10_p_value"];
    assert!(first
        .results
        .select(cols)
        .unwrap()
        .equals_missing(&again.results.select(cols).unwrap()));
    let manifest = store.manifest().unwrap().unwrap();
    assert_eq!(manifest.configs.len(), 9);
    let stored = store.run(&first.baseline).unwrap();
    assert_eq!(stored.get_column_names().len(), 4);

    // Killed after saving a configuration and before listing it: the next sweep lists it.
    let mut cut = manifest.clone();
    let lost = cut.configs.remove(3);
    store.write_manifest(&cut).unwrap();
    let resumed = sweep(&collection, &e, &options, never()).unwrap();
    assert!(resumed.computed.is_empty());
    let listed = store.manifest().unwrap().unwrap().configs;
    let mut want = manifest.configs.clone();
    want.sort();
    let mut got = listed.clone();
    got.sort();
    assert_eq!(got, want, "{lost} is not listed again");
    assert_eq!(store.records().unwrap().len(), 9);

    let other = Beir {
        corpus: collection.corpus.head(Some(5)),
        ..collection.clone()
    };
    let err = match sweep(&other, &e, &options, never()) {
        Ok(_) => panic!("a store of another collection was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("another collection"), "{err}");
}
