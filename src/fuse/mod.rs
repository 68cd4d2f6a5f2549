//! Fusion: several runs in, one run out.
//!
//! Each run's scores for a query are first normalised ([`Norm`]), then combined per document
//! ([`Method`]), each run's contribution multiplied by its weight (1 by default). The fused
//! run is ranked in the one run order ([`crate::run::order`]) and cut at `k`.
//!
//! Methods, for a document `d` and runs `i` with weight `w_i`, normalised score `s_i(d)` and
//! 1-based rank `r_i(d)` (in run order); a run that did not retrieve `d` contributes nothing
//! unless said otherwise:
//!
//! | method | fused score | reference |
//! |---|---|---|
//! | `rrf` | Σ w_i / (rrf_k + r_i(d)) | Cormack, Clarke & Büttcher, SIGIR 2009 |
//! | `combsum` (`wsum`) | Σ w_i · s_i(d) | Fox & Shaw, TREC-2 (1993) |
//! | `combmnz` | (Σ w_i · s_i(d)) · #{i : d in run i} | Fox & Shaw, TREC-2 (1993) |
//! | `combmax` | max w_i · s_i(d) over the runs holding d | Fox & Shaw, TREC-2 (1993) |
//! | `borda` | Σ w_i · points_i(d): C − r_i(d) + 1 when ranked, (C − n_i + 1) / 2 when not, C the query's candidates (union of the runs), n_i run i's length | Aslam & Montague, SIGIR 2001 |
//!
//! Normalisations, over one run's scores `x` for one query (n of them):
//!
//! | norm | value | when undefined |
//! |---|---|---|
//! | `none` | x | |
//! | `min-max` | (x − min) / (max − min) | all equal: 1 |
//! | `z-score` | (x − mean) / std (population std) | all equal: 0 |
//! | `sum` | (x − min) / Σ (x − min) | all equal: 1 / n |
//! | `max` | x / max | max ≤ 0: an error naming the run and query |
//! | `rank` | 1 − (r − 1) / n | |
//!
//! The formulas are those of ranx (Bassani, ECIR 2022), so fused scores equal `ranx.fuse`'s
//! (tested to 1e-9). Two choices differ on degenerate input: ranx divides by
//! max(denominator, 1e-9) where ragplay takes the "when undefined" column above, and ranx
//! breaks score ties within a run in the order of an unstable sort, where ragplay ranks by
//! the run order (ties by doc id descending), which changes `rrf`, `borda` and `rank` only for
//! tied documents. RRF and Borda use ranks only: any normalisation but `none` is an error.
//!
//! Queries: the fused run answers every query any input run answers; a query a run does not
//! answer counts as an empty ranking for it. Runs that share no query are an error (they are
//! almost surely from different query sets).

mod norm;
pub mod optimize;

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::cancel::Cancel;
use crate::data::schema::table;
use crate::error::{Error, Result};
use crate::run::topk::top_k_by;
use crate::run::{self, order, RunBuilder, RunView};
pub use norm::Norm;
pub use optimize::{optimize_fusion, OptimizeOptions, Tuning};

/// How normalised scores are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Reciprocal rank fusion.
    Rrf,
    /// Weighted sum of normalised scores (CombSUM; `wsum`).
    CombSum,
    /// CombSUM times the number of runs that retrieved the document.
    CombMnz,
    /// The largest weighted normalised score.
    CombMax,
    /// Borda count.
    Borda,
}

impl Method {
    /// The canonical names (aliases: `wsum`, `weighted_sum` for `combsum`).
    pub const NAMES: [&'static str; 5] = ["rrf", "combsum", "combmnz", "combmax", "borda"];

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Rrf => "rrf",
            Method::CombSum => "combsum",
            Method::CombMnz => "combmnz",
            Method::CombMax => "combmax",
            Method::Borda => "borda",
        }
    }

    /// Whether the method reads ranks only (no normalisation applies).
    pub fn rank_based(self) -> bool {
        matches!(self, Method::Rrf | Method::Borda)
    }

    /// The normalisation used when none is given: `none` for rank-based methods, `min-max`
    /// otherwise (as ranx).
    pub fn default_norm(self) -> Norm {
        if self.rank_based() {
            Norm::None
        } else {
            Norm::MinMax
        }
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "rrf" => Ok(Method::Rrf),
            "combsum" | "comb_sum" | "wsum" | "weighted_sum" => Ok(Method::CombSum),
            "combmnz" | "comb_mnz" => Ok(Method::CombMnz),
            "combmax" | "comb_max" => Ok(Method::CombMax),
            "borda" | "bordafuse" => Ok(Method::Borda),
            _ => Err(Error::not_one_of("method", s, &Self::NAMES)),
        }
    }
}

/// Options of [`fuse`].
#[derive(Debug, Clone)]
pub struct FuseOptions {
    pub method: Method,
    /// `None`: the method's default ([`Method::default_norm`]).
    pub norm: Option<Norm>,
    /// One weight per run, in the order of the runs; all 1 when `None`. Finite and > 0.
    pub weights: Option<Vec<f64>>,
    /// RRF's rank offset (60 in Cormack et al.); finite and ≥ 0.
    pub rrf_k: f64,
    /// Documents kept per query (100 by default, as a retriever's `k`); all when `None`.
    pub k: Option<usize>,
}

impl Default for FuseOptions {
    fn default() -> Self {
        Self {
            method: Method::Rrf,
            norm: None,
            weights: None,
            rrf_k: 60.0,
            k: Some(100),
        }
    }
}

impl FuseOptions {
    /// The normalisation in effect, checked against the method.
    fn checked_norm(&self) -> Result<Norm> {
        let norm = self.norm.unwrap_or(self.method.default_norm());
        if self.method.rank_based() && norm != Norm::None {
            return Err(Error::config(
                "norm",
                format!(
                    "{:?} does not apply to {:?}, which uses ranks only; use \"none\"",
                    norm.name(),
                    self.method.name()
                ),
            ));
        }
        Ok(norm)
    }

    /// The weights, one per run, checked.
    pub fn checked_weights(&self, runs: usize) -> Result<Vec<f64>> {
        let Some(w) = &self.weights else {
            return Ok(vec![1.0; runs]);
        };
        if w.len() != runs {
            return Err(Error::config(
                "weights",
                format!("{} weights for {runs} runs", w.len()),
            ));
        }
        if let Some((i, x)) = w
            .iter()
            .enumerate()
            .find(|(_, x)| !(x.is_finite() && **x > 0.0))
        {
            return Err(Error::config(
                "weights",
                format!("weight {i} is {x}; weights must be finite and greater than 0"),
            ));
        }
        Ok(w.clone())
    }

    /// Check the options (the weights against the number of runs happen in [`fuse`]).
    pub fn check(&self) -> Result<()> {
        if !(self.rrf_k.is_finite() && self.rrf_k >= 0.0) {
            return Err(Error::config(
                "rrf_k",
                format!("must be finite and at least 0, got {}", self.rrf_k),
            ));
        }
        if let Some(k) = self.k {
            run::check_k(k)?;
        }
        Ok(())
    }
}

/// One run's ranked rows per query: query id -> `(doc, score)` in run order.
struct RankedRun<'a> {
    name: &'a str,
    /// Query ids in order of first appearance.
    order: Vec<&'a str>,
    queries: FxHashMap<&'a str, Vec<(&'a str, f64)>>,
}

/// Fuse named runs (each a run table: `query_id`, `doc_id`, `score`) into one run table.
pub fn fuse(
    runs: &[(&str, &DataFrame)],
    options: &FuseOptions,
    cancel: &Cancel,
) -> Result<DataFrame> {
    options.check()?;
    let views = validate_runs(runs)?;
    let prepared = Prepared::new(runs, &views, cancel)?;
    prepared.fuse(options, None, cancel)
}

/// Each run's columns, checked; at least two runs.
pub fn validate_runs<'a>(runs: &[(&str, &'a DataFrame)]) -> Result<Vec<RunView<'a>>> {
    if runs.len() < 2 {
        return Err(Error::config(
            "runs",
            format!("fusion needs at least 2 runs, got {}", runs.len()),
        ));
    }
    runs.iter().map(|(_, df)| run::validate(df)).collect()
}

/// Runs grouped by query and ranked once, ready to be fused any number of ways.
pub struct Prepared<'a> {
    ranked: Vec<RankedRun<'a>>,
    /// The fused run's queries, in order.
    queries: Vec<&'a str>,
}

impl<'a> Prepared<'a> {
    /// Group and rank the runs (`views` from [`validate_runs`], in the same order); progress
    /// counts runs.
    pub fn new(
        runs: &[(&'a str, &DataFrame)],
        views: &'a [RunView<'a>],
        cancel: &Cancel,
    ) -> Result<Self> {
        cancel.start(runs.len() as u64);
        let ranked = ranked_runs(runs, views, cancel)?;
        let queries = query_order(&ranked)?;
        Ok(Self { ranked, queries })
    }

    /// The run names, in order.
    pub fn names(&self) -> Vec<&'a str> {
        self.ranked.iter().map(|r| r.name).collect()
    }

    /// The queries any run answers, in the fused run's order.
    pub fn queries(&self) -> &[&'a str] {
        &self.queries
    }

    /// Run `i` alone, restricted to `only` when given, as a run table.
    pub fn single(&self, i: usize, only: Option<&FxHashSet<&str>>) -> Result<DataFrame> {
        let mut builder = RunBuilder::default();
        for &qid in self.selected(only) {
            if let Some(hits) = self.ranked[i].queries.get(qid) {
                builder.push_ranked(qid, hits.iter().copied());
            }
        }
        builder.finish()
    }

    fn selected<'s>(
        &'s self,
        only: Option<&'s FxHashSet<&str>>,
    ) -> impl Iterator<Item = &'s &'a str> + 's {
        self.queries
            .iter()
            .filter(move |q| only.is_none_or(|set| set.contains(**q)))
    }

    /// The fused run, over the queries in `only` when given; progress counts queries.
    pub fn fuse(
        &self,
        options: &FuseOptions,
        only: Option<&FxHashSet<&str>>,
        cancel: &Cancel,
    ) -> Result<DataFrame> {
        options.check()?;
        let norm = options.checked_norm()?;
        let weights = options.checked_weights(self.ranked.len())?;
        let queries: Vec<&str> = self.selected(only).copied().collect();
        cancel.start(queries.len() as u64);
        let fused: Vec<Vec<(&str, f64)>> = queries
            .par_iter()
            .map(|&qid| {
                cancel.check()?;
                let lists: Vec<&[(&str, f64)]> = self
                    .ranked
                    .iter()
                    .map(|r| r.queries.get(qid).map_or(&[][..], Vec::as_slice))
                    .collect();
                let name = |i: usize| self.ranked[i].name;
                let hits = fuse_query(&lists, &weights, norm, options, name, qid)?;
                for &(doc, score) in &hits {
                    order::check_score(table::RUN, qid, doc, score)?;
                }
                let k = options.k.unwrap_or(hits.len());
                cancel.advance(1);
                Ok(top_k_by(hits, k, |a, b| order::cmp(a.1, a.0, b.1, b.0)))
            })
            .collect::<Result<_>>()?;
        let mut builder = RunBuilder::default();
        for (qid, hits) in queries.iter().zip(fused) {
            builder.push_ranked(qid, hits);
        }
        builder.finish()
    }
}

/// Each run grouped by query and ranked (duplicates rejected), in parallel over runs.
fn ranked_runs<'a>(
    runs: &[(&'a str, &DataFrame)],
    views: &'a [RunView<'a>],
    cancel: &Cancel,
) -> Result<Vec<RankedRun<'a>>> {
    runs.par_iter()
        .zip(views)
        .map(|(&(name, _), view)| {
            cancel.check()?;
            if view.queries.is_empty() {
                return Err(Error::Empty {
                    what: format!("run {name:?}"),
                });
            }
            let groups = run::ranked_groups(view).map_err(|e| match e {
                Error::DuplicateId { kind, id, .. } => Error::DuplicateId {
                    kind,
                    id,
                    location: format!("run {name:?}"),
                },
                e => e,
            })?;
            cancel.advance(1);
            Ok(RankedRun {
                name,
                order: groups.iter().map(|g| g.0).collect(),
                queries: groups.into_iter().collect(),
            })
        })
        .collect()
}

/// The fused run's queries: those of the first run in its order, then each later run's new
/// ones. An error when the runs share no query at all.
fn query_order<'a>(ranked: &[RankedRun<'a>]) -> Result<Vec<&'a str>> {
    let shared = ranked[0]
        .queries
        .keys()
        .any(|q| ranked[1..].iter().all(|r| r.queries.contains_key(q)));
    if !shared {
        let names: Vec<String> = ranked.iter().map(|r| format!("{:?}", r.name)).collect();
        return Err(Error::schema(
            table::RUN,
            format!(
                "runs {} have no query in common; fusion needs runs over the same queries",
                names.join(", ")
            ),
        ));
    }
    let mut seen: FxHashSet<&str> = Default::default();
    Ok(ranked
        .iter()
        .flat_map(|r| r.order.iter().copied())
        .filter(|q| seen.insert(q))
        .collect())
}

/// One query's fused `(doc, score)`, unordered. `lists[i]` is run `i`'s ranking.
fn fuse_query<'a>(
    lists: &[&[(&'a str, f64)]],
    weights: &[f64],
    norm: Norm,
    options: &FuseOptions,
    run_name: impl Fn(usize) -> &'a str,
    qid: &str,
) -> Result<Vec<(&'a str, f64)>> {
    if options.method == Method::Borda {
        return Ok(borda(lists, weights));
    }
    // Documents in first-seen order, each with (sum, max, number of runs holding it).
    let mut slot: FxHashMap<&str, usize> = FxHashMap::default();
    let mut docs: Vec<(&str, f64, f64, u32)> = Vec::new();
    let mut values = Vec::new();
    for (i, list) in lists.iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        if options.method == Method::Rrf {
            values.clear();
            values.extend((1..=list.len()).map(|r| 1.0 / (options.rrf_k + r as f64)));
        } else {
            norm.apply(list, &mut values)
                .map_err(|why| norm_error(norm, run_name(i), qid, why))?;
        }
        for (&(doc, _), &x) in list.iter().zip(&values) {
            let at = *slot.entry(doc).or_insert_with(|| {
                docs.push((doc, 0.0, f64::NEG_INFINITY, 0));
                docs.len() - 1
            });
            let v = weights[i] * x;
            let d = &mut docs[at];
            d.1 += v;
            d.2 = d.2.max(v);
            d.3 += 1;
        }
    }
    Ok(docs
        .into_iter()
        .map(|(doc, sum, max, count)| {
            let score = match options.method {
                Method::CombMax => max,
                Method::CombMnz => sum * f64::from(count),
                _ => sum,
            };
            (doc, score)
        })
        .collect())
}

/// Borda points summed over the runs, for the query's candidates (the union of the runs, in
/// first-seen order).
fn borda<'a>(lists: &[&[(&'a str, f64)]], weights: &[f64]) -> Vec<(&'a str, f64)> {
    let mut slot: FxHashMap<&str, usize> = FxHashMap::default();
    let mut out: Vec<(&str, f64)> = Vec::new();
    for &(doc, _) in lists.iter().flat_map(|l| l.iter()) {
        slot.entry(doc).or_insert_with(|| {
            out.push((doc, 0.0));
            out.len() - 1
        });
    }
    let c = out.len() as f64;
    let mut ranked = vec![false; out.len()];
    for (i, list) in lists.iter().enumerate() {
        ranked.iter_mut().for_each(|x| *x = false);
        for (r, &(doc, _)) in list.iter().enumerate() {
            let at = slot[doc];
            ranked[at] = true;
            out[at].1 += weights[i] * (c - r as f64);
        }
        let unranked = weights[i] * (c - list.len() as f64 + 1.0) / 2.0;
        for (o, _) in out.iter_mut().zip(&ranked).filter(|(_, &r)| !r) {
            o.1 += unranked;
        }
    }
    out
}

fn norm_error(norm: Norm, run: &str, qid: &str, why: &str) -> Error {
    Error::config(
        "norm",
        format!(
            "{:?} is undefined for run {run:?}, query {qid:?}: {why}",
            norm.name()
        ),
    )
}
