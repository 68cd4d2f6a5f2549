//! Fusion and its normalisations on hand-computed cases, without Python.

use ragplay::cancel::never;
use ragplay::fuse::{fuse, FuseOptions, Method, Norm};
use ragplay::polars::prelude::*;
use ragplay::Error;

mod common;
use common::run;

/// `(query, doc, score)` rows of a run table, in table order.
fn rows(df: &DataFrame) -> Vec<(String, String, f64)> {
    let q = df.column("query_id").unwrap().str().unwrap().clone();
    let d = df.column("doc_id").unwrap().str().unwrap().clone();
    let s = df.column("score").unwrap().f64().unwrap().clone();
    (0..df.height())
        .map(|i| {
            (
                q.get(i).unwrap().to_owned(),
                d.get(i).unwrap().to_owned(),
                s.get(i).unwrap(),
            )
        })
        .collect()
}

fn options(method: Method, norm: Option<Norm>) -> FuseOptions {
    FuseOptions {
        method,
        norm,
        k: None,
        ..FuseOptions::default()
    }
}

fn two_runs() -> (DataFrame, DataFrame) {
    // a: d1 > d2 > d3; b: d3 > d4 (d1, d2 missing from b; d4 missing from a).
    let a = run(&[("q", "d2", 2.0), ("q", "d1", 4.0), ("q", "d3", 1.0)]);
    let b = run(&[("q", "d3", 0.9), ("q", "d4", 0.3)]);
    (a, b)
}

fn fused(method: Method, norm: Option<Norm>) -> Vec<(String, String, f64)> {
    let (a, b) = two_runs();
    rows(&fuse(&[("a", &a), ("b", &b)], &options(method, norm), never()).unwrap())
}

fn close(got: &[(String, String, f64)], want: &[(&str, f64)]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((_, d, s), (wd, ws)) in got.iter().zip(want) {
        assert_eq!(d, wd, "{got:?}");
        assert!((s - ws).abs() < 1e-12, "{d}: {s} != {ws}");
    }
}

#[test]
fn rrf_by_hand() {
    let r = |rank: f64| 1.0 / (60.0 + rank);
    // d3: rank 3 in a, 1 in b; d1: 1 in a; d2: 2 in a; d4: 2 in b (ties d2: doc id desc).
    close(
        &fused(Method::Rrf, None),
        &[
            ("d3", r(3.0) + r(1.0)),
            ("d1", r(1.0)),
            ("d4", r(2.0)),
            ("d2", r(2.0)),
        ],
    );
}

#[test]
fn combsum_combmnz_combmax_with_min_max() {
    // a min-max: d1 1, d2 1/3, d3 0; b: d3 1, d4 0. d3 and d1 tie: doc id descending.
    close(
        &fused(Method::CombSum, None),
        &[("d3", 1.0), ("d1", 1.0), ("d2", 1.0 / 3.0), ("d4", 0.0)],
    );
    close(
        &fused(Method::CombMnz, Some(Norm::MinMax)),
        &[("d3", 2.0), ("d1", 1.0), ("d2", 1.0 / 3.0), ("d4", 0.0)],
    );
    close(
        &fused(Method::CombMax, Some(Norm::MinMax)),
        &[("d3", 1.0), ("d1", 1.0), ("d2", 1.0 / 3.0), ("d4", 0.0)],
    );
}

#[test]
fn z_score_sum_max_and_rank_norms() {
    // a: mean 7/3, population std sqrt(14/9); b: mean 0.6, std 0.3.
    let (m, sd) = (7.0 / 3.0, (14.0f64 / 9.0).sqrt());
    let z = |x: f64| (x - m) / sd;
    close(
        &fused(Method::CombSum, Some(Norm::ZScore)),
        &[
            ("d1", z(4.0)),
            ("d3", z(1.0) + 1.0),
            ("d2", z(2.0)),
            ("d4", -1.0),
        ],
    );
    // sum: a (x - 1) / 4, b (x - 0.3) / 0.6.
    close(
        &fused(Method::CombSum, Some(Norm::Sum)),
        &[("d3", 1.0), ("d1", 0.75), ("d2", 0.25), ("d4", 0.0)],
    );
    close(
        &fused(Method::CombSum, Some(Norm::Max)),
        &[
            ("d3", 0.25 + 1.0),
            ("d1", 1.0),
            ("d2", 0.5),
            ("d4", 1.0 / 3.0),
        ],
    );
    close(
        &fused(Method::CombSum, Some(Norm::Rank)),
        &[
            ("d3", 1.0 / 3.0 + 1.0),
            ("d1", 1.0),
            ("d2", 2.0 / 3.0),
            ("d4", 0.5),
        ],
    );
}

#[test]
fn borda_by_hand() {
    // 4 candidates. a: d1 4, d2 3, d3 2, unranked d4 (4 - 3 + 1) / 2 = 1.
    // b: d3 4, d4 3, unranked d1, d2 (4 - 2 + 1) / 2 = 1.5.
    close(
        &fused(Method::Borda, None),
        &[("d3", 6.0), ("d1", 5.5), ("d2", 4.5), ("d4", 4.0)],
    );
}

#[test]
fn weights_k_and_queries_one_run_lacks() {
    let a = run(&[("q1", "x", 2.0), ("q1", "y", 1.0), ("q2", "z", 5.0)]);
    let b = run(&[("q1", "y", 3.0), ("q1", "x", 1.0)]);
    let o = FuseOptions {
        method: Method::CombSum,
        norm: Some(Norm::None),
        weights: Some(vec![1.0, 2.0]),
        k: Some(1),
        ..FuseOptions::default()
    };
    let got = rows(&fuse(&[("a", &a), ("b", &b)], &o, never()).unwrap());
    // q1: x 2 + 2, y 1 + 6; q2 only in a.
    assert_eq!(
        got,
        vec![
            ("q1".into(), "y".into(), 7.0),
            ("q2".into(), "z".into(), 5.0)
        ]
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let (a, b) = two_runs();
    let runs = [("a", &a), ("b", &b)];
    let err = |o: FuseOptions| fuse(&runs, &o, never()).unwrap_err();
    let bad_weight = err(FuseOptions {
        weights: Some(vec![1.0, 0.0]),
        ..FuseOptions::default()
    });
    assert!(
        matches!(
            bad_weight,
            Error::Config {
                name: "weights",
                ..
            }
        ),
        "{bad_weight}"
    );
    let rank_norm = err(options(Method::Borda, Some(Norm::MinMax)));
    assert!(matches!(rank_norm, Error::Config { name: "norm", .. }));
    let c = run(&[("other", "d1", 1.0)]);
    let disjoint = fuse(&[("a", &a), ("c", &c)], &FuseOptions::default(), never()).unwrap_err();
    assert!(
        disjoint.to_string().contains("no query in common"),
        "{disjoint}"
    );
    let dup = run(&[("q", "d1", 1.0), ("q", "d1", 2.0)]);
    let e = fuse(
        &[("a", &a), ("dup", &dup)],
        &FuseOptions::default(),
        never(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "duplicate document id \"d1\" in run \"dup\", query \"q\""
    );
    assert!("zmuv".parse::<Norm>().unwrap() == Norm::ZScore);
    assert!("wsum".parse::<Method>().unwrap() == Method::CombSum);
}

#[test]
fn long_doc_ids_from_runs_of_several_chunks() {
    // Doc ids longer than 12 bytes live in their chunk's data buffers; each run here has two
    // chunks (two appended tables), so the fused run's ids come from four buffer lists.
    let long = |i: usize| format!("a-document-id-longer-than-twelve-bytes-{i:03}");
    let (ids, q): (Vec<String>, Vec<String>) = ((0..40).map(long).collect(), vec!["q".into(); 10]);
    let table = |docs: &[String], scores: Vec<f64>| {
        df!("query_id" => &q[..docs.len()], "doc_id" => docs, "score" => scores).unwrap()
    };
    let halves = |docs: &[String], base: f64| {
        let score = |k: usize| (0..docs.len() / 2).map(|i| base - (i + k) as f64).collect();
        let (first, second) = docs.split_at(docs.len() / 2);
        let mut run = table(first, score(0));
        run.vstack_mut(&table(second, score(first.len()))).unwrap();
        run
    };
    let a = halves(&ids[0..20], 100.0);
    let b = halves(&ids[10..30], 50.0);
    assert_eq!(a.column("doc_id").unwrap().n_chunks(), 2);
    let (mut a1, mut b1) = (a.clone(), b.clone());
    a1.rechunk_mut();
    b1.rechunk_mut();
    assert_eq!(a1.column("doc_id").unwrap().n_chunks(), 1);
    for method in [Method::Rrf, Method::CombSum] {
        let chunked = fuse(&[("a", &a), ("b", &b)], &options(method, None), never()).unwrap();
        let whole = fuse(&[("a", &a1), ("b", &b1)], &options(method, None), never()).unwrap();
        let (got, want) = (rows(&chunked), rows(&whole));
        assert_eq!(got, want, "{method:?}");
        // Every document of either run, once, under its own id.
        let mut docs: Vec<&str> = got.iter().map(|r| r.1.as_str()).collect();
        docs.sort_unstable();
        let mut expected: Vec<&str> = ids[0..30].iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(docs, expected, "{method:?}");
    }
}

#[test]
fn a_run_with_an_empty_chunk_that_holds_buffers() {
    use polars_arrow::array::Utf8ViewArray;
    // Run b's doc ids: a chunk, an empty slice of another chunk (rows none, data buffers
    // kept, as an Arrow import or a slice can leave), and a third chunk.
    let long = |i: usize| format!("a-document-id-longer-than-twelve-bytes-{i:03}");
    let ids: Vec<String> = (0..12).map(long).collect();
    let array = |docs: &[String]| Utf8ViewArray::from_slice_values(docs);
    let docs = StringChunked::from_chunk_iter(
        "doc_id".into(),
        [
            array(&ids[4..8]),
            array(&ids[0..4]).sliced(0, 0),
            array(&ids[8..12]),
        ],
    );
    assert_eq!(docs.chunks().len(), 3);
    let scores: Vec<f64> = (0..8).map(|i| 8.0 - i as f64).collect();
    let b = DataFrame::new(
        8,
        vec![
            Column::new("query_id".into(), vec!["q"; 8]),
            docs.into_column(),
            Column::new("score".into(), scores),
        ],
    )
    .unwrap();
    let a = run(&[
        ("q", &ids[0], 3.0),
        ("q", &ids[5], 2.0),
        ("q", &ids[9], 1.0),
    ]);
    let fused = fuse(
        &[("a", &a), ("b", &b)],
        &options(Method::Rrf, None),
        never(),
    )
    .unwrap();
    let r = |rank: f64| 1.0 / (60.0 + rank);
    // b ranks ids[4..8] then ids[8..12]; a ranks ids[0], ids[5], ids[9].
    let mut want: Vec<(String, f64)> = (0..12)
        .map(|i| {
            let in_b = if (4..12).contains(&i) {
                r((i - 3) as f64)
            } else {
                0.0
            };
            let in_a = [0, 5, 9]
                .iter()
                .position(|&j| j == i)
                .map_or(0.0, |p| r(p as f64 + 1.0));
            (ids[i].clone(), in_a + in_b)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    want.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| y.0.cmp(&x.0)));
    let want: Vec<(&str, f64)> = want.iter().map(|(d, s)| (d.as_str(), *s)).collect();
    close(&rows(&fused), &want);
}

#[test]
fn the_order_of_the_rows_never_changes_the_fused_run() {
    // Three runs over 30 queries, scores on a coarse grid (ties within and across runs),
    // some doc ids longer than 12 bytes; each run's rows then shuffled across queries, into
    // a table of two chunks.
    let mut rng = ragplay::rng::SplitMix64::new(5);
    let doc = |i: usize| match i % 3 {
        0 => format!("d{i}"),
        _ => format!("document-with-a-long-id-{i:04}"),
    };
    let mut runs = Vec::new();
    for _ in 0..3 {
        let (mut q, mut d, mut s) = (Vec::new(), Vec::new(), Vec::new());
        for query in 0..30 {
            let start = rng.below(20);
            for j in 0..40 {
                q.push(format!("q{query}"));
                d.push(doc(start + j));
                s.push(rng.below(16) as f64 / 8.0 - 0.5);
            }
        }
        runs.push(df!("query_id" => q, "doc_id" => d, "score" => s).unwrap());
    }
    let shuffled: Vec<DataFrame> = runs
        .iter()
        .map(|df| {
            let mut order: Vec<IdxSize> = (0..df.height() as IdxSize).collect();
            rng.shuffle(&mut order);
            // In two chunks.
            let all = df.take(&IdxCa::from_vec("order".into(), order)).unwrap();
            let half = all.height() as i64 / 2;
            let mut two = all.slice(0, half as usize);
            two.rechunk_mut();
            let mut rest = all.slice(half, all.height());
            rest.rechunk_mut();
            two.vstack_mut(&rest).unwrap();
            assert_eq!(two.column("doc_id").unwrap().n_chunks(), 2);
            two
        })
        .collect();
    // Queries come in order of first appearance, which the shuffle changes: compare each
    // query's ranking (a stable sort by query keeps it).
    let by_query = |df: &DataFrame| {
        let mut r = rows(df);
        r.sort_by(|a, b| a.0.cmp(&b.0));
        r
    };
    let grouped: Vec<(&str, &DataFrame)> = ["a", "b", "c"].into_iter().zip(&runs).collect();
    let shuffled: Vec<(&str, &DataFrame)> = ["a", "b", "c"].into_iter().zip(&shuffled).collect();
    // Every document any run holds for a query is fused once.
    let pairs = runs
        .iter()
        .flat_map(|df| rows(df).into_iter().map(|(q, d, _)| (q, d)))
        .collect::<std::collections::HashSet<_>>()
        .len();
    let norms = [
        Norm::None,
        Norm::MinMax,
        Norm::ZScore,
        Norm::Sum,
        Norm::Max,
        Norm::Rank,
    ];
    for method in [
        Method::Rrf,
        Method::CombSum,
        Method::CombMnz,
        Method::CombMax,
        Method::Borda,
    ] {
        for norm in norms {
            if method.rank_based() && norm != Norm::None {
                continue;
            }
            let opts = options(method, Some(norm));
            let fuse_all = |t: &[(&str, &DataFrame)]| fuse(t, &opts, never());
            match (fuse_all(&grouped), fuse_all(&shuffled)) {
                (Ok(g), Ok(s)) => {
                    let (g, s) = (by_query(&g), by_query(&s));
                    assert_eq!(g.len(), pairs, "{method:?} {norm:?}");
                    assert_eq!(g, s, "{method:?} {norm:?}");
                }
                // `max` is undefined where a run's best score is not positive: both orders
                // must say so.
                (Err(g), Err(s)) => assert_eq!(g.to_string(), s.to_string()),
                (g, s) => panic!("{method:?} {norm:?}: {:?} against {:?}", g.err(), s.err()),
            }
        }
    }
}
