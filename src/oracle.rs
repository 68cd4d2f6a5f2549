//! The fast path against a naive oracle: grouping rows by (run, query), evaluation and
//! fusion, each computed again the plain way (a hash map and a sort, ids compared as
//! strings), must agree on random tables whose rows are shuffled and whose columns are cut
//! into chunks independently. The chunks are slices of one larger column, so they share data
//! buffers and their views' buffer indices must be shifted correctly; ids mix inline strings
//! with long ones that share their length and 4-byte prefix, and scores tie often. These are
//! the cases the rules of [`crate::run::views`] exist for.

use polars::prelude::*;
use proptest::prelude::*;
use rustc_hash::FxHashMap;

use crate::cancel::never;
use crate::data::schema::{DOC_ID, QUERY_ID, RELEVANCE, RUN, SCORE};
use crate::fuse::{self, FuseOptions, Method, Norm};
use crate::rng::SplitMix64;
use crate::run::groups::{Groups, Rows};
use crate::run::views::StrChunks;

/// One row of a generated run table.
#[derive(Clone, Debug)]
struct Row {
    run: String,
    query: String,
    doc: String,
    score: f64,
}

/// An id of one of four lengths: short, exactly the inline limit (12 bytes), one byte past
/// it, and long; ids of one length share their 4-byte prefix, so only their bytes tell them
/// apart.
fn id_name(kind: char, i: usize) -> String {
    match i % 4 {
        0 => format!("{kind}{i}"),
        1 => format!("{kind}{kind}{i:010}"),
        2 => format!("{kind}{kind}{kind}{i:010}"),
        _ => format!("{kind}{kind}{kind}{kind}-{i:012}"),
    }
}

fn query_name(i: usize) -> String {
    id_name('q', i)
}

fn doc_name(i: usize) -> String {
    id_name('d', i)
}

/// Scores with many exact ties (quarters), a few distinct ones, and ±0.
fn score(rng: &mut SplitMix64) -> f64 {
    match rng.below(10) {
        0 => 0.0,
        1 => -0.0,
        2..=6 => (rng.below(9) as f64 - 4.0) / 4.0,
        _ => (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64,
    }
}

/// Rows of `runs` runs over `queries` queries, each query with up to `docs` distinct
/// documents per run, in a shuffled order.
fn rows(seed: u64, runs: usize, queries: usize, docs: usize) -> Vec<Row> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::new();
    for r in 0..runs {
        for q in 0..queries {
            let mut pool: Vec<usize> = (0..3 * docs).collect();
            rng.shuffle(&mut pool);
            for &d in &pool[..1 + rng.below(docs)] {
                out.push(Row {
                    run: format!("run{r}"),
                    query: query_name(q),
                    doc: doc_name(d),
                    score: score(&mut rng),
                });
            }
        }
    }
    rng.shuffle(&mut out);
    out
}

/// A String column of `values` in chunks at random cuts: either slices of one column holding
/// every value (the chunks share its data buffers, so views must be shifted to the right
/// buffer) or chunks built on their own (each with its buffers from offset 0, so equal views
/// in two chunks may be different strings).
fn chunked(name: &str, values: &[&str], rng: &mut SplitMix64, parts: usize) -> Column {
    let shared = rng.below(2) == 0;
    let whole = StringChunked::new(name.into(), values);
    let mut cuts: Vec<usize> = (0..parts.saturating_sub(1))
        .map(|_| rng.below(values.len() + 1))
        .collect();
    cuts.extend([0, values.len()]);
    cuts.sort_unstable();
    let mut out: Option<StringChunked> = None;
    for w in cuts.windows(2) {
        let part = if shared {
            whole.slice(w[0] as i64, w[1] - w[0])
        } else {
            StringChunked::new(name.into(), &values[w[0]..w[1]])
        };
        match &mut out {
            None => out = Some(part),
            Some(ca) => ca.append(&part).unwrap(),
        }
    }
    out.unwrap().into_column()
}

/// A run table of `rows` (with a `run` column when `with_run`), each String column chunked
/// on its own.
fn table(rows: &[Row], with_run: bool, seed: u64, parts: usize) -> DataFrame {
    let mut rng = SplitMix64::new(seed);
    let pick = |f: fn(&Row) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    let mut cols = Vec::new();
    if with_run {
        cols.push(chunked(RUN, &pick(|r| &r.run), &mut rng, parts));
    }
    cols.push(chunked(QUERY_ID, &pick(|r| &r.query), &mut rng, parts));
    cols.push(chunked(DOC_ID, &pick(|r| &r.doc), &mut rng, parts));
    let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
    cols.push(Column::new(SCORE.into(), scores));
    DataFrame::new(rows.len(), cols).unwrap()
}

/// Naive grouping: (run, query) keys in first-appearance order, each with its rows ascending.
fn naive_groups(rows: &[Row], with_run: bool) -> Vec<((String, String), Vec<usize>)> {
    let mut at: FxHashMap<(String, String), usize> = FxHashMap::default();
    let mut out: Vec<((String, String), Vec<usize>)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let run = if with_run {
            r.run.clone()
        } else {
            "run".into()
        };
        let key = (run, r.query.clone());
        let g = *at.entry(key.clone()).or_insert_with(|| {
            out.push((key, Vec::new()));
            out.len() - 1
        });
        out[g].1.push(i);
    }
    out
}

/// trec_eval's order of one query's documents: score descending, ties by doc id descending.
fn ranked(mut docs: Vec<(String, f64)>) -> Vec<(String, f64)> {
    docs.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    docs
}

/// One query's documents per (run, query), from rows.
fn by_query(rows: &[Row]) -> FxHashMap<(String, String), Vec<(String, f64)>> {
    let mut out: FxHashMap<(String, String), Vec<(String, f64)>> = FxHashMap::default();
    for r in rows {
        // -0.0 ranks as 0.0 (trec_eval compares scores as numbers).
        let s = if r.score == 0.0 { 0.0 } else { r.score };
        out.entry((r.run.clone(), r.query.clone()))
            .or_default()
            .push((r.doc.clone(), s));
    }
    out
}

/// Naive trec_eval metrics of one ranking against judgements (relevant: relevance ≥ 1):
/// `[ndcg@10, map, mrr, p@5, recall@10]`.
fn naive_metrics(ranking: &[(String, f64)], judged: &FxHashMap<String, i32>) -> [f64; 5] {
    let rel = |d: &str| judged.get(d).copied().unwrap_or(0);
    let relevant = judged.values().filter(|&&r| r >= 1).count() as f64;
    let mut ideal: Vec<i32> = judged.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let dcg = |gains: &mut dyn Iterator<Item = i32>| -> f64 {
        gains
            .take(10)
            .enumerate()
            .map(|(i, g)| g.max(0) as f64 / ((i + 2) as f64).log2())
            .sum()
    };
    let idcg = dcg(&mut ideal.iter().copied());
    let ndcg = if idcg > 0.0 {
        dcg(&mut ranking.iter().map(|(d, _)| rel(d))) / idcg
    } else {
        0.0
    };
    let (mut hits, mut ap, mut rr) = (0.0, 0.0, 0.0);
    for (i, (d, _)) in ranking.iter().enumerate() {
        if rel(d) >= 1 {
            hits += 1.0;
            ap += hits / (i + 1) as f64;
            if rr == 0.0 {
                rr = 1.0 / (i + 1) as f64;
            }
        }
    }
    let top = |k: usize| ranking.iter().take(k).filter(|(d, _)| rel(d) >= 1).count() as f64;
    [ndcg, ap / relevant, rr, top(5) / 5.0, top(10) / relevant]
}

/// Judgements for the generated queries: every query but the last has some relevant
/// documents among the ids rows use (and some that no run retrieves).
fn qrels(
    rows: &[Row],
    seed: u64,
    queries: usize,
) -> (DataFrame, FxHashMap<String, FxHashMap<String, i32>>) {
    let mut rng = SplitMix64::new(seed ^ 0x5EED);
    let mut judged: FxHashMap<String, FxHashMap<String, i32>> = FxHashMap::default();
    for r in rows {
        if r.query != query_name(queries - 1) && rng.below(3) == 0 {
            judged
                .entry(r.query.clone())
                .or_default()
                .insert(r.doc.clone(), rng.below(4) as i32);
        }
    }
    for q in 0..queries.saturating_sub(1) {
        judged
            .entry(query_name(q))
            .or_default()
            .insert(doc_name(1000 + q), 2);
    }
    let mut list: Vec<(&String, &String, i32)> = judged
        .iter()
        .flat_map(|(q, ds)| ds.iter().map(move |(d, r)| (q, d, *r)))
        .collect();
    list.sort();
    let frame = DataFrame::new(
        list.len(),
        vec![
            Column::new(
                QUERY_ID.into(),
                list.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                DOC_ID.into(),
                list.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                RELEVANCE.into(),
                list.iter().map(|x| x.2).collect::<Vec<i32>>(),
            ),
        ],
    )
    .unwrap();
    (frame, judged)
}

/// Naive fusion of one query: per run, ranks in run order; RRF sums `1 / (60 + rank)`,
/// CombSUM sums min-max normalised scores (1 for a constant list); ties by doc id descending.
fn naive_fuse(lists: &[Vec<(String, f64)>], method: Method) -> Vec<(String, f64)> {
    let mut fused: FxHashMap<String, f64> = FxHashMap::default();
    for list in lists {
        let list = ranked(list.clone());
        let min = list.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
        let max = list.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
        for (rank, (d, s)) in list.iter().enumerate() {
            let value = match method {
                Method::Rrf => 1.0 / (60.0 + (rank + 1) as f64),
                _ if max > min => (s - min) / (max - min),
                _ => 1.0,
            };
            *fused.entry(d.clone()).or_default() += value;
        }
    }
    ranked(fused.into_iter().collect())
}

/// `got` (documents with scores, in order) equals `want`, up to rounding: a position may hold
/// another document only where the two scores tie within 1e-12.
fn assert_same_ranking(got: &[(String, f64)], want: &[(String, f64)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let by_doc: FxHashMap<&str, f64> = want.iter().map(|(d, s)| (d.as_str(), *s)).collect();
    for (i, ((gd, gs), (wd, ws))) in got.iter().zip(want).enumerate() {
        assert!(
            (gs - ws).abs() < 1e-12,
            "{what}: score at {i}: {gs} vs {ws}"
        );
        let same = gd == wd
            || (by_doc
                .get(gd.as_str())
                .is_some_and(|s| (s - ws).abs() < 1e-12));
        assert!(same, "{what}: document at {i}: {gd} vs {wd}");
    }
}

/// The rows of a run table, per query id, in table order.
fn run_lists(run: &DataFrame) -> FxHashMap<String, Vec<(String, f64)>> {
    let q = run.column(QUERY_ID).unwrap().str().unwrap().clone();
    let d = run.column(DOC_ID).unwrap().str().unwrap().clone();
    let s = run.column(SCORE).unwrap().f64().unwrap().clone();
    let mut out: FxHashMap<String, Vec<(String, f64)>> = FxHashMap::default();
    for i in 0..run.height() {
        out.entry(q.get(i).unwrap().to_owned())
            .or_default()
            .push((d.get(i).unwrap().to_owned(), s.get(i).unwrap()));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn grouping_matches_a_hash_map(
        seed in any::<u64>(), runs in 1usize..4, queries in 1usize..12, docs in 1usize..20,
        parts in 1usize..40, with_run in any::<bool>(), grouped in any::<bool>(),
    ) {
        let mut rows = rows(seed, runs, queries, docs);
        if grouped {
            rows.sort_by(|a, b| (&a.run, &a.query).cmp(&(&b.run, &b.query)));
        }
        let t = table(&rows, with_run, seed, parts);
        let q = t.column(QUERY_ID).unwrap().str().unwrap().clone();
        let r = with_run.then(|| t.column(RUN).unwrap().str().unwrap().clone());
        let (qc, rc) = (StrChunks::strings(&q), r.as_ref().map(StrChunks::strings));
        let groups = Groups::build(rc.as_ref(), &qc, "run", || |row: usize| row as u32).unwrap();
        let want = naive_groups(&rows, with_run);
        prop_assert_eq!(groups.keys.len(), want.len());
        for (g, ((run, query), rows)) in want.iter().enumerate() {
            let (ri, qid) = groups.keys[g];
            prop_assert_eq!(groups.runs[ri as usize], run.as_str());
            prop_assert_eq!(qid, query.as_str());
            let got: Vec<usize> = match groups.rows(g) {
                Rows::Range(range) => range.collect(),
                Rows::Listed(values) => values.iter().map(|&v| v as usize).collect(),
            };
            prop_assert_eq!(&got, rows);
        }
    }

    #[test]
    fn evaluation_matches_a_naive_evaluator(
        seed in any::<u64>(), runs in 1usize..3, queries in 2usize..10, docs in 1usize..25,
        parts in 1usize..20,
    ) {
        let rows = rows(seed, runs, queries, docs);
        let t = table(&rows, true, seed, parts);
        let (qrels, judged) = qrels(&rows, seed, queries);
        let metrics = ["ndcg@10", "map", "mrr", "p@5", "recall@10"];
        let ev = crate::eval::evaluate(&t, &qrels, &metrics, &Default::default(), never()).unwrap();
        let pq = &ev.per_query;
        let run_col = pq.column(RUN).unwrap().str().unwrap();
        let q_col = pq.column(QUERY_ID).unwrap().str().unwrap();
        let lists = by_query(&rows);
        let mut expected = 0;
        for ((run, query), docs) in &lists {
            if let Some(j) = judged.get(query) {
                expected += 1;
                let want = naive_metrics(&ranked(docs.clone()), j);
                let i = (0..pq.height())
                    .find(|&i| run_col.get(i) == Some(run.as_str()) && q_col.get(i) == Some(query.as_str()))
                    .expect("every judged query of every run is evaluated");
                for (m, w) in metrics.iter().zip(want) {
                    let got = pq.column(m).unwrap().f64().unwrap().get(i).unwrap();
                    prop_assert!((got - w).abs() < 1e-12, "{} {} {}: {} vs {}", run, query, m, got, w);
                }
            }
        }
        prop_assert_eq!(pq.height(), expected);
    }

    #[test]
    fn fusion_matches_a_naive_fusion(
        seed in any::<u64>(), queries in 1usize..10, docs in 1usize..25, parts in 1usize..20,
        rrf in any::<bool>(),
    ) {
        let rows = rows(seed, 2, queries, docs);
        let runs: Vec<Vec<Row>> = ["run0", "run1"]
            .iter()
            .map(|name| rows.iter().filter(|r| r.run == *name).cloned().collect())
            .collect();
        let tables: Vec<DataFrame> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| table(r, false, seed.wrapping_add(i as u64), parts))
            .collect();
        let method = if rrf { Method::Rrf } else { Method::CombSum };
        let options = FuseOptions {
            method,
            norm: (!rrf).then_some(Norm::MinMax),
            k: None,
            ..Default::default()
        };
        let named = [("a", &tables[0]), ("b", &tables[1])];
        let fused = run_lists(&fuse::fuse(&named, &options, never()).unwrap());
        let per_run: Vec<_> = runs.iter().map(|r| by_query(r)).collect();
        for q in 0..queries {
            let query = query_name(q);
            let lists: Vec<Vec<(String, f64)>> = ["run0", "run1"]
                .iter()
                .zip(&per_run)
                .filter_map(|(name, m)| m.get(&(name.to_string(), query.clone())).cloned())
                .collect();
            let want = naive_fuse(&lists, method);
            let got = fused.get(&query).cloned().unwrap_or_default();
            assert_same_ranking(&got, &want, &query);
        }
    }
}
