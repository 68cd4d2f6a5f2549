//! What updating a BM25 index costs, measured on SciFact (5,183 documents): a full build,
//! `add` of 1 and of 100 documents to the built index, `delete` of 1 and of 100, `compact`
//! with a quarter of the slots dead, and a `delete` of half the corpus (which compacts by
//! itself). Each step is repeated and the median printed, so that the costs stated in the
//! docs of `ragplay::retrieve::bm25` are measured rather than guessed.
//!
//! `cargo run --example bm25_update` (the data folder is `../shared/data`, or `$RAGPLAY_DATA`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ragplay::cancel::never;
use ragplay::data;
use ragplay::polars::prelude::*;
use ragplay::retrieve::bm25::AUTO_COMPACT_DEAD_SHARE;
use ragplay::retrieve::{Bm25, Bm25Config};
use ragplay::Result;

/// Runs of each timed step; the median is reported.
const RUNS: usize = 5;

fn data_dir() -> PathBuf {
    std::env::var("RAGPLAY_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

/// The median of the times `step(run)` takes over [`RUNS`] runs.
fn median(mut step: impl FnMut(usize) -> Result<()>) -> Result<Duration> {
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..RUNS {
        let start = Instant::now();
        step(run)?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[RUNS / 2])
}

/// `rows` with every doc id prefixed by `prefix`: the same documents under new ids.
fn renamed(rows: &DataFrame, prefix: &str) -> Result<DataFrame> {
    let ids = data::schema::str_column(rows, data::schema::table::CORPUS, "doc_id")?;
    let new: Vec<String> = data::schema::str_values(ids)
        .map(|id| format!("{prefix}{id}"))
        .collect();
    let mut out = rows.clone();
    out.with_column(Column::new("doc_id".into(), new))?;
    Ok(out)
}

fn report(what: &str, time: Duration, index: &Bm25) {
    println!(
        "{what:<44} {:>9.2} ms   ({} documents, {} slots)",
        time.as_secs_f64() * 1e3,
        index.len(),
        index.num_slots()
    );
}

fn main() -> Result<()> {
    let c = data::load_beir(&data_dir().join("scifact"), "test")?;
    let corpus = &c.corpus;
    let ids: Vec<String> = {
        let col = data::schema::str_column(corpus, data::schema::table::CORPUS, "doc_id")?;
        data::schema::str_values(col).map(str::to_owned).collect()
    };
    println!(
        "SciFact: {} documents; profile: {}",
        ids.len(),
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        }
    );

    let mut index = Bm25::build(Bm25Config::default(), corpus, never())?;
    let t = median(|_| {
        index = Bm25::build(Bm25Config::default(), corpus, never())?;
        Ok(())
    })?;
    report("build", t, &index);

    // Documents added under new ids (copies of existing ones), then deleted again.
    let one = renamed(&corpus.head(Some(RUNS)), "one-")?;
    let t = median(|run| index.add(&one.slice(run as i64, 1), never()))?;
    report("add 1 document", t, &index);
    let hundreds: Vec<DataFrame> = (0..RUNS)
        .map(|run| renamed(&corpus.slice(100 * run as i64, 100), &format!("add{run}-")))
        .collect::<Result<_>>()?;
    let t = median(|run| index.add(&hundreds[run], never()))?;
    report("add 100 documents", t, &index);
    let one_ids: Vec<String> = (0..RUNS).map(|run| format!("one-{}", ids[run])).collect();
    let t = median(|run| index.delete(&one_ids[run..=run]))?;
    report("delete 1 document", t, &index);
    let t = median(|run| {
        let batch: Vec<String> = ids[100 * run..100 * (run + 1)]
            .iter()
            .map(|id| format!("add{run}-{id}"))
            .collect();
        index.delete(&batch)
    })?;
    report("delete 100 documents", t, &index);

    // Compaction with as many dead slots as `delete` leaves without compacting.
    let mut timed = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let mut index = Bm25::build(Bm25Config::default(), corpus, never())?;
        let quiet = (AUTO_COMPACT_DEAD_SHARE * ids.len() as f64).floor() as usize;
        index.delete(&ids[..quiet])?;
        let start = Instant::now();
        index.compact();
        timed.push((start.elapsed(), index));
    }
    timed.sort_by_key(|(t, _)| *t);
    let (t, compacted) = &timed[RUNS / 2];
    report("compact (a quarter of the slots dead)", *t, compacted);

    // Half the corpus in one call: past the threshold, so `delete` compacts too.
    let half: Vec<String> = ids.iter().step_by(2).cloned().collect();
    let mut timed = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let mut index = Bm25::build(Bm25Config::default(), corpus, never())?;
        let start = Instant::now();
        index.delete(&half)?;
        timed.push((start.elapsed(), index));
    }
    timed.sort_by_key(|(t, _)| *t);
    let (t, halved) = &timed[RUNS / 2];
    report("delete half (compacts by itself)", *t, halved);
    Ok(())
}
