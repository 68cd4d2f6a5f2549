//! Core evaluation checked on hand-computed cases, without Python.

use ragplay::cancel::never;
use ragplay::eval::{compare_per_query, evaluate, CompareOptions, EvalOptions, Test};
use ragplay::polars::prelude::*;
use ragplay::Error;

fn run(rows: &[(&str, &str, f64)]) -> DataFrame {
    df!(
        "query_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "doc_id" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "score" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
    )
    .unwrap()
}

fn qrels(rows: &[(&str, &str, i32)]) -> DataFrame {
    df!(
        "query_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "doc_id" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "relevance" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
    )
    .unwrap()
}

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
