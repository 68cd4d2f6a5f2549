//! Core evaluation checked on hand-computed cases, without Python.

use ragplay::cancel::never;
use ragplay::eval::{compare_per_query, evaluate, CompareOptions, EvalOptions, Test};
use ragplay::polars::prelude::*;
use ragplay::Error;

mod common;
use common::{qrels, run};

fn value(df: &DataFrame, column: &str, row: usize) -> f64 {
    df.column(column).unwrap().f64().unwrap().get(row).unwrap()
}

#[test]
fn hand_computed_ranking_with_ties_and_unjudged_documents() {
    // Scores tie between d2 and d3: d3 ranks first (doc id descending).
    let r = run(&[
        ("q", "d1", 3.0),
        ("q", "d2", 2.0),
        ("q", "d3", 2.0),
        ("q", "x", 1.0),
        ("q", "d4", 0.5),
    ]);
    let j = qrels(&[
        ("q", "d1", 0),
        ("q", "d2", 2),
        ("q", "d4", 1),
        ("q", "d9", 1),
    ]);
    let metrics = ["p@2", "mrr", "map", "ndcg@3", "recall@5", "bpref", "rprec"];
    let ev = evaluate(&r, &j, &metrics, &EvalOptions::default(), never()).unwrap();
    let pq = &ev.per_query;
    // Ranking: d1(0) d3(-) d2(2) x(-) d4(1); R = 3.
    assert_eq!(value(pq, "p@2", 0), 0.0);
    assert_eq!(value(pq, "mrr", 0), 1.0 / 3.0);
    assert!((value(pq, "map", 0) - (1.0 / 3.0 + 2.0 / 5.0) / 3.0).abs() < 1e-15);
    let dcg = 2.0 / 4f64.log2();
    let idcg = 2.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
    assert!((value(pq, "ndcg@3", 0) - dcg / idcg).abs() < 1e-15);
    assert!((value(pq, "recall@5", 0) - 2.0 / 3.0).abs() < 1e-15);
    // bpref: one judged non-relevant (N = 1) above both relevant ones: 1 - 1/1 each.
    assert_eq!(value(pq, "bpref", 0), 0.0);
    // rprec: top 3 hold one relevant document.
    assert!((value(pq, "rprec", 0) - 1.0 / 3.0).abs() < 1e-15);
}

#[test]
fn queries_outside_the_qrels_are_skipped_and_missing_ones_counted_on_request() {
    let r = run(&[("q", "d1", 1.0), ("other", "d1", 1.0)]);
    let j = qrels(&[("q", "d1", 1), ("unanswered", "d1", 1)]);
    let ev = evaluate(&r, &j, &["mrr"], &EvalOptions::default(), never()).unwrap();
    assert_eq!(ev.per_query.height(), 1);
    let opts = EvalOptions {
        include_missing: true,
        ..Default::default()
    };
    let ev = evaluate(&r, &j, &["mrr"], &opts, never()).unwrap();
    assert_eq!(ev.per_query.height(), 2);
    assert_eq!(value(&ev.summary, "mrr", 0), 0.5);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let j = qrels(&[("q", "d1", 1)]);
    let dup = run(&[("q", "d1", 1.0), ("q", "d1", 0.5)]);
    assert!(matches!(
        evaluate(&dup, &j, &["map"], &EvalOptions::default(), never()),
        Err(Error::DuplicateId { .. })
    ));
    let nan = run(&[("q", "d1", f64::NAN)]);
    assert!(matches!(
        evaluate(&nan, &j, &["map"], &EvalOptions::default(), never()),
        Err(Error::NanScore { .. })
    ));
    let ok = run(&[("q", "d1", 1.0)]);
    assert!(matches!(
        evaluate(&ok, &j, &["ndcg@0"], &EvalOptions::default(), never()),
        Err(Error::UnknownMetric { .. })
    ));
    let cancelled = ragplay::cancel::Cancel::new();
    cancelled.cancel();
    assert!(matches!(
        evaluate(&ok, &j, &["map"], &EvalOptions::default(), &cancelled),
        Err(Error::Interrupted)
    ));
}

#[test]
fn exact_randomization_test_on_two_queries() {
    let pq = df!(
        "run" => ["a", "a", "b", "b"],
        "query_id" => ["q1", "q2", "q1", "q2"],
        "m" => [0.0, 0.0, 1.0, 2.0],
    )
    .unwrap();
    let out = compare_per_query(&pq, &["m"], &CompareOptions::default(), never()).unwrap();
    // Differences 1 and 2: |sums| 3, 1, 1, 3 -> p = 2/4.
    assert_eq!(value(&out, "p_value", 0), 0.5);
    let t = CompareOptions {
        test: Test::TTest,
        ..Default::default()
    };
    let out = compare_per_query(&pq, &["m"], &t, never()).unwrap();
    // t = 1.5 / (0.7071 / sqrt 2) = 3, df 1: p = 1 - 2 atan(3) / pi.
    let expected = 1.0 - 2.0 * 3f64.atan() / std::f64::consts::PI;
    assert!((value(&out, "p_value", 0) - expected).abs() < 1e-12);
}

/// A tiny seeded generator (64-bit LCG, high bits), enough to build random tables.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Rows `(run, query, doc, score)` of three runs over 12 queries, with scores from a few
/// values (many ties, some negative); the run names are not in alphabetical order.
fn random_run_rows(rng: &mut Lcg) -> Vec<(String, String, String, f64)> {
    let mut rows = Vec::new();
    for run in ["zeta", "alpha", "mid"] {
        for q in 0..12 {
            let mut docs: Vec<u64> = (0..100).collect();
            let n = 1 + rng.below(60) as usize;
            for i in 0..n {
                docs.swap(i, i + rng.below((100 - i) as u64) as usize);
                let score = rng.below(7) as f64 * 0.5 - 1.0;
                rows.push((
                    run.into(),
                    format!("q{q}"),
                    format!("d{:02}", docs[i]),
                    score,
                ));
            }
        }
    }
    rows
}

fn run_frame(rows: &[(String, String, String, f64)]) -> DataFrame {
    df!(
        "run" => rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        "query_id" => rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        "doc_id" => rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
        "score" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
    )
    .unwrap()
}

/// Judgements of 20 random documents (grades -1..=3) for queries q0..q9 and one unanswered
/// query; q10 and q11 are not judged.
fn random_qrels_rows(rng: &mut Lcg) -> Vec<(String, String, i32)> {
    let mut rows = Vec::new();
    for q in (0..10)
        .map(|q| format!("q{q}"))
        .chain(["unanswered".into()])
    {
        let mut docs: Vec<u64> = (0..100).collect();
        for i in 0..20 {
            docs.swap(i, i + rng.below((100 - i) as u64) as usize);
            rows.push((
                q.clone(),
                format!("d{:02}", docs[i]),
                rng.below(5) as i32 - 1,
            ));
        }
    }
    rows
}

fn strings(ca: &StringChunked) -> Vec<&str> {
    (0..ca.len()).map(|i| ca.get(i).unwrap()).collect()
}

/// `df`'s rows in a seeded random order, except that each run's first row stays ahead of
/// the others, in their order, so that runs keep their order of first appearance.
fn shuffled(df: &DataFrame, rng: &mut Lcg) -> DataFrame {
    let runs = df.column("run").unwrap().str().unwrap();
    let mut firsts: Vec<IdxSize> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (i, r) in strings(runs).into_iter().enumerate() {
        if !seen.contains(&r) {
            seen.push(r);
            firsts.push(i as IdxSize);
        }
    }
    let mut rest: Vec<IdxSize> = (0..df.height() as IdxSize)
        .filter(|i| !firsts.contains(i))
        .collect();
    for i in (1..rest.len()).rev() {
        rest.swap(i, rng.below(i as u64 + 1) as usize);
    }
    firsts.extend(rest);
    df.take(&IdxCa::from_vec("order".into(), firsts)).unwrap()
}

/// `df` as several chunks of uneven sizes (slices stacked without rechunking).
fn chunked(df: &DataFrame) -> DataFrame {
    let n = df.height() as i64;
    let cuts = [0, 1, n / 5, n / 2, n - 3, n];
    let mut out = df.slice(0, 0);
    for w in cuts.windows(2) {
        out.vstack_mut(&df.slice(w[0], (w[1] - w[0]) as usize))
            .unwrap();
    }
    assert!(out.first_col_n_chunks() > 1);
    out
}

/// ndcg@10 and map of one ranking by the trec_eval definitions: documents sorted by score
/// descending, then doc id descending; relevant means a judgement of at least 1.
fn reference(docs: &[(&str, f64)], judged: &[(&str, i32)]) -> (f64, f64) {
    let mut ranking = docs.to_vec();
    ranking.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(b.0.cmp(a.0)));
    let rel = |d: &str| judged.iter().find(|j| j.0 == d).map(|j| j.1);
    let (mut dcg, mut ap, mut hits) = (0.0, 0.0, 0);
    for (i, (d, _)) in ranking.iter().enumerate() {
        let r = rel(d).unwrap_or(0);
        if i < 10 && r > 0 {
            dcg += r as f64 / ((i + 2) as f64).log2();
        }
        if r >= 1 {
            hits += 1;
            ap += hits as f64 / (i + 1) as f64;
        }
    }
    let mut ideal: Vec<i32> = judged.iter().map(|j| j.1).filter(|&r| r > 0).collect();
    ideal.sort_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, &r)| r as f64 / ((i + 2) as f64).log2())
        .sum();
    let num_rel = judged.iter().filter(|j| j.1 >= 1).count();
    let ndcg = if idcg > 0.0 { dcg / idcg } else { 0.0 };
    (
        ndcg,
        if num_rel > 0 {
            ap / num_rel as f64
        } else {
            0.0
        },
    )
}

#[test]
fn row_order_and_chunks_do_not_change_the_evaluation() {
    let mut rng = Lcg(7);
    let rows = random_run_rows(&mut rng);
    let judged = random_qrels_rows(&mut rng);
    let r = run_frame(&rows);
    let j = df!(
        "query_id" => judged.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        "doc_id" => judged.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
        "relevance" => judged.iter().map(|x| x.2).collect::<Vec<_>>(),
    )
    .unwrap();
    let metrics = [
        "ndcg@10",
        "map",
        "p@5",
        "recall@20",
        "mrr",
        "bpref",
        "rprec",
        "ndcg",
    ];
    let opts = EvalOptions::default();
    let built = evaluate(&r, &j, &metrics, &opts, never()).unwrap();
    let mixed = shuffled(&r, &mut rng);
    let mixed_chunks = chunked(&shuffled(&r, &mut rng));
    for table in [&mixed, &mixed_chunks] {
        let ev = evaluate(table, &j, &metrics, &opts, never()).unwrap();
        assert!(ev.per_query.equals(&built.per_query), "{}", ev.per_query);
        assert!(ev.summary.equals(&built.summary), "{}", ev.summary);
    }
    // Runs in first-appearance order, queries sorted, only judged queries evaluated.
    let pq = &built.per_query;
    let runs = strings(pq.column("run").unwrap().str().unwrap());
    let queries = strings(pq.column("query_id").unwrap().str().unwrap());
    let mut expected = Vec::new();
    for run in ["zeta", "alpha", "mid"] {
        let mut qs: Vec<String> = (0..10).map(|q| format!("q{q}")).collect();
        qs.sort();
        expected.extend(qs.into_iter().map(|q| (run, q)));
    }
    let got: Vec<(&str, String)> = runs
        .into_iter()
        .zip(queries.iter().map(|q| q.to_string()))
        .collect();
    assert_eq!(got, expected);
    for (row, (run, q)) in expected.iter().enumerate() {
        let docs: Vec<(&str, f64)> = rows
            .iter()
            .filter(|x| x.0 == *run && x.1 == *q)
            .map(|x| (x.2.as_str(), x.3))
            .collect();
        let judged: Vec<(&str, i32)> = judged
            .iter()
            .filter(|x| x.0 == *q)
            .map(|x| (x.1.as_str(), x.2))
            .collect();
        let (ndcg, ap) = reference(&docs, &judged);
        assert!(
            (value(pq, "ndcg@10", row) - ndcg).abs() < 1e-12,
            "{run} {q}"
        );
        assert!((value(pq, "map", row) - ap).abs() < 1e-12, "{run} {q}");
    }
}

#[test]
fn errors_name_the_same_rows_when_rows_are_shuffled() {
    let mut rng = Lcg(11);
    let rows = random_run_rows(&mut rng);
    let j = qrels(&[("q3", "d00", 1), ("q5", "d00", 1)]);
    let opts = EvalOptions::default();
    // A NaN score in query q3 of run "alpha".
    let mut nan_rows = rows.clone();
    let at = nan_rows
        .iter()
        .position(|x| x.0 == "alpha" && x.1 == "q3")
        .unwrap();
    nan_rows[at].3 = f64::NAN;
    let doc = nan_rows[at].2.clone();
    // A second copy of a document of query q5 in run "mid".
    let mut dup_rows = rows.clone();
    let at = dup_rows
        .iter()
        .position(|x| x.0 == "mid" && x.1 == "q5")
        .unwrap();
    let mut copy = dup_rows[at].clone();
    copy.3 = 9.0;
    dup_rows.push(copy.clone());
    for table in [
        run_frame(&nan_rows),
        shuffled(&run_frame(&nan_rows), &mut rng),
    ] {
        match evaluate(&table, &j, &["map"], &opts, never()) {
            Err(Error::NanScore {
                query_id, doc_id, ..
            }) => {
                assert_eq!((query_id.as_str(), doc_id.as_str()), ("q3", doc.as_str()));
            }
            other => panic!("expected a NaN error, got {other:?}"),
        }
    }
    for table in [
        run_frame(&dup_rows),
        chunked(&shuffled(&run_frame(&dup_rows), &mut rng)),
    ] {
        match evaluate(&table, &j, &["map"], &opts, never()) {
            Err(Error::DuplicateId { id, location, .. }) => {
                assert_eq!(id, copy.2);
                assert_eq!(location, "run \"mid\", query \"q5\"");
            }
            other => panic!("expected a duplicate error, got {other:?}"),
        }
    }
}

/// A table of 180 k rows (more than one block of every parallel pass): four runs, one with a
/// name longer than 12 bytes, over 300 queries, every other one with a long id.
fn large_run_rows(rng: &mut Lcg) -> (Vec<(String, String, String, f64)>, DataFrame) {
    let mut rows = Vec::new();
    let (mut jq, mut jd, mut jr) = (Vec::new(), Vec::new(), Vec::new());
    let qid = |q: usize| match q % 2 {
        0 => format!("q{q}"),
        _ => format!("query-{q}-with-a-long-id"),
    };
    for q in 0..300 {
        for d in 0..12 {
            jq.push(qid(q));
            jd.push(format!("d{}", d * 7));
            jr.push(rng.below(4) as i32);
        }
    }
    for run in ["zeta", "a-run-named-at-length", "alpha", "mid"] {
        for q in 0..300 {
            for d in 0..1 + rng.below(300) {
                let score = rng.below(50) as f64;
                rows.push((run.into(), qid(q), format!("d{d}"), score));
            }
        }
    }
    let qrels = df!("query_id" => jq, "doc_id" => jd, "relevance" => jr).unwrap();
    (rows, qrels)
}

#[test]
fn partly_shuffled_and_split_groups_evaluate_like_grouped_ones() {
    let mut rng = Lcg(5);
    let (rows, j) = large_run_rows(&mut rng);
    let metrics = ["ndcg@10", "map", "recall@100", "mrr", "bpref"];
    let opts = EvalOptions::default();
    let built = evaluate(&run_frame(&rows), &j, &metrics, &opts, never()).unwrap();
    assert_eq!(built.per_query.height(), 4 * 300);
    // The first half of the rows grouped, the rest shuffled.
    let mut half = rows.clone();
    let mid = half.len() / 2;
    for i in (mid + 1..half.len()).rev() {
        half.swap(i, mid + rng.below((i - mid + 1) as u64) as usize);
    }
    // Every group split in two, all first parts ahead of all second parts: segments are
    // long, but each group is two of them.
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at < rows.len() {
        let end = (at..rows.len())
            .find(|&i| (&rows[i].0, &rows[i].1) != (&rows[at].0, &rows[at].1))
            .unwrap_or(rows.len());
        let cut = at + (end - at).div_ceil(2);
        first.extend_from_slice(&rows[at..cut]);
        second.extend_from_slice(&rows[cut..end]);
        at = end;
    }
    first.extend(second);
    let tables = [
        run_frame(&half),
        chunked(&run_frame(&half)),
        run_frame(&first),
        chunked(&run_frame(&first)),
        shuffled(&run_frame(&rows), &mut rng),
        chunked(&shuffled(&run_frame(&rows), &mut rng)),
    ];
    for table in &tables {
        let ev = evaluate(table, &j, &metrics, &opts, never()).unwrap();
        assert!(ev.per_query.equals(&built.per_query), "{}", ev.per_query);
        assert!(ev.summary.equals(&built.summary), "{}", ev.summary);
    }
}
