//! Rank churn between two runs: how much of one ranking the other keeps, query by query.
//!
//! * **overlap@k**: `|A_k ∩ B_k| / k`, where `A_k` and `B_k` are the two rankings' first `k`
//!   documents (a ranking shorter than `k` contributes what it has; the divisor stays `k`).
//! * **RBO** (rank-biased overlap; Webber, Moffat & Zobel, "A similarity measure for
//!   indefinite rankings", ACM TOIS 28(4), 2010), extrapolated at depth `k` (their eq. 32):
//!   `RBO_ext = X_k/k · p^k + (1 − p)/p · Σ_{d=1..k} X_d/d · p^d`, where `X_d` is the size of
//!   the overlap of the first `d` documents and `p` the persistence (0.9 weighs the first ten
//!   ranks by about 86%). Equal rankings score 1, disjoint ones 0.
//!
//! Queries are paired by id; a query that only one run answers has overlap and RBO 0.

use polars::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::data::schema::{self, QUERY_ID};
use crate::error::{Error, Result};
use crate::run::{ranked_groups, validate};

/// The default depth of overlap and RBO.
pub const DEFAULT_DEPTH: usize = 10;
/// The default RBO persistence.
pub const DEFAULT_PERSISTENCE: f64 = 0.9;

/// `overlap@k` and extrapolated RBO of two rankings (document ids, best first).
pub fn overlap_and_rbo<S: AsRef<str>>(a: &[S], b: &[S], k: usize, p: f64) -> (f64, f64) {
    let mut seen_a: FxHashSet<&str> = FxHashSet::default();
    let mut seen_b: FxHashSet<&str> = FxHashSet::default();
    let (mut x, mut sum) = (0usize, 0.0);
    let mut weight = 1.0;
    for d in 0..k {
        let (da, db) = (a.get(d).map(AsRef::as_ref), b.get(d).map(AsRef::as_ref));
        if da.is_some() && da == db {
            x += 1;
        } else {
            if let Some(da) = da {
                x += usize::from(seen_b.contains(da));
                seen_a.insert(da);
            }
            if let Some(db) = db {
                x += usize::from(seen_a.contains(db));
                seen_b.insert(db);
            }
        }
        weight *= p;
        sum += x as f64 / (d + 1) as f64 * weight;
    }
    let overlap = x as f64 / k as f64;
    (overlap, overlap * weight + (1.0 - p) / p * sum)
}

/// Check the churn options.
pub fn check_churn_options(k: usize, p: f64) -> Result<()> {
    if k == 0 {
        return Err(Error::config("churn_depth", "must be at least 1"));
    }
    if !(p > 0.0 && p < 1.0) {
        return Err(Error::config(
            "persistence",
            format!("must lie in (0, 1), got {p}"),
        ));
    }
    Ok(())
}

/// Per-query churn between two run tables: `query_id` (every query either run answers, the
/// candidate's first, in order of first appearance), `overlap` and `rbo` at depth `k`.
pub fn churn(candidate: &DataFrame, baseline: &DataFrame, k: usize, p: f64) -> Result<DataFrame> {
    check_churn_options(k, p)?;
    let (cv, bv) = (validate(candidate)?, validate(baseline)?);
    let (cg, bg) = (ranked_groups(&cv)?, ranked_groups(&bv)?);
    fn top<'a>(g: &[(&'a str, f64)], k: usize) -> Vec<&'a str> {
        g.iter().take(k).map(|(d, _)| *d).collect()
    }
    let base: FxHashMap<&str, Vec<&str>> = bg.iter().map(|(q, g)| (*q, top(g, k))).collect();
    let mut queries: Vec<String> = Vec::new();
    let (mut overlap, mut rbo) = (Vec::new(), Vec::new());
    let mut push = |q: &str, (o, r): (f64, f64)| {
        queries.push(q.to_owned());
        overlap.push(o);
        rbo.push(r);
    };
    let answered: FxHashSet<&str> = cg.iter().map(|(q, _)| *q).collect();
    for (q, g) in &cg {
        let pair = base
            .get(q)
            .map_or((0.0, 0.0), |b| overlap_and_rbo(&top(g, k), b, k, p));
        push(q, pair);
    }
    for (q, _) in bg.iter().filter(|(q, _)| !answered.contains(q)) {
        push(q, (0.0, 0.0));
    }
    schema::frame(vec![
        Column::new(QUERY_ID.into(), queries),
        Column::new("overlap".into(), overlap),
        Column::new("rbo".into(), rbo),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_disjoint_and_hand_computed() {
        let a = ["a", "b", "c"];
        assert_eq!(overlap_and_rbo(&a, &a, 3, 0.9), (1.0, 1.0));
        let (o, r) = overlap_and_rbo(&a, &["x", "y", "z"], 3, 0.9);
        assert_eq!((o, r), (0.0, 0.0));
        // a b c against b a d, p = 0.5: X = 0, 2, 2.
        // RBO_ext = 2/3 · 0.125 + 1 · (0 · 0.5 + 2/2 · 0.25 + 2/3 · 0.125)
        let (o, r) = overlap_and_rbo(&a, &["b", "a", "d"], 3, 0.5);
        assert!((o - 2.0 / 3.0).abs() < 1e-15);
        let want = 2.0 / 3.0 * 0.125 + (0.25 + 2.0 / 3.0 * 0.125);
        assert!((r - want).abs() < 1e-15, "{r} {want}");
    }

    #[test]
    fn short_rankings_count_what_they_have() {
        let (o, _) = overlap_and_rbo(&["a"], &["a", "b"], 10, 0.9);
        assert!((o - 0.1).abs() < 1e-15);
    }
}
