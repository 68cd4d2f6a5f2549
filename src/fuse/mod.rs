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
//!
//! The work per query: each run's rows are grouped by query whatever their order
//! (`run::groups`); a query's documents are numbered across the runs (`run::keys`), checking
//! that no run lists a document twice, and each run's list is ranked in run order (only when
//! the fusion reads ranks, or sums whose rounding depends on the order: `rrf`, `borda`, and
//! the `z-score`, `sum` and `rank` norms; the others give the same result from the lists in
//! table order, and skip the sorts); a fusion is then arithmetic on arrays indexed by those
//! numbers. Queries run in parallel, and the
//! fused run's doc ids are views copied from the input columns (`run::gather`), never
//! strings. [`fuse`] does all of it query by query in reused scratch; tuning
//! ([`optimize_fusion`]) fuses the same runs many times, so [`Prepared`] keeps every
//! query's numbering and rankings.

mod norm;
pub mod optimize;

use polars::prelude::*;
use polars_arrow::array::View;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::cancel::Cancel;
use crate::data::schema::table;
use crate::error::{Error, Result};
use crate::options::option_enum;
use crate::run::gather::gather_views;
use crate::run::groups::{Groups, Rows};
use crate::run::keys::{KeyTable, StrKey};
use crate::run::topk::top_k_in_run_order;
use crate::run::views::{first_buffers, shifted, F64Chunks, StrArray, StrChunks, INLINE};
use crate::run::{self, order, RunView};
pub use norm::Norm;
pub use optimize::{optimize_fusion, OptimizeOptions, Tuning};

option_enum! {
    /// How normalised scores are combined.
    pub enum Method: "method" {
        /// Reciprocal rank fusion.
        Rrf => "rrf",
        /// Weighted sum of normalised scores (CombSUM; `wsum`).
        CombSum => "combsum" | "wsum" | "comb_sum" | "weighted_sum",
        /// CombSUM times the number of runs that retrieved the document.
        CombMnz => "combmnz" | "comb_mnz",
        /// The largest weighted normalised score.
        CombMax => "combmax" | "comb_max",
        /// Borda count.
        Borda => "borda" | "bordafuse",
    }
}

impl Method {
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

/// Fuse named runs (each a run table: `query_id`, `doc_id`, `score`) into one run table.
pub fn fuse(
    runs: &[(&str, &DataFrame)],
    options: &FuseOptions,
    cancel: &Cancel,
) -> Result<DataFrame> {
    options.check()?;
    let views = validate_runs(runs)?;
    let (norm, weights) = (
        options.checked_norm()?,
        options.checked_weights(runs.len())?,
    );
    let (grouped, doc_chunks) = group_runs(runs, &views, cancel)?;
    let queries = query_order(&grouped)?;
    cancel.start("fuse", queries.len() as u64);
    let names: Vec<&str> = runs.iter().map(|r| r.0).collect();
    // A fusion that reads neither ranks nor sums of a run's scores gives the same result
    // whatever order each run's list is in: the lists are left in table order.
    let ranked = options.method.rank_based() || !norm.order_free();
    // Each query is numbered, ranked and fused in one go, in scratch reused by the thread.
    let fused: Vec<Vec<(View, f64)>> = queries
        .par_iter()
        .map_init(
            || (QueryScratch::default(), QueryDocs::default(), Vec::new()),
            |(scratch, docs, values), &qid| {
                cancel.check()?;
                query_docs(&grouped, qid, ranked, scratch, docs)?;
                let fused = fuse_one(docs, &weights, norm, options, &names, qid, values)?;
                cancel.advance(1);
                Ok(fused)
            },
        )
        .collect::<Result<_>>()?;
    gather_views(&StringChunked::from_iter(queries), &doc_chunks, &fused)
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

/// One query's documents across the runs, and each run's ranking of them.
#[derive(Default)]
struct QueryDocs<'a> {
    /// The documents any run retrieved for the query, in first-seen order: the id, and its
    /// view pointing into the runs' doc id buffers laid end to end (what the fused run
    /// copies).
    docs: Vec<(&'a str, View)>,
    /// Each run's `(document, score)`, run after run, in run order when ranked (see
    /// [`query_docs`]); run `i`'s are `hits[bounds[i]..bounds[i + 1]]` (none when the run
    /// does not answer the query).
    hits: Vec<(u32, f64)>,
    bounds: Vec<usize>,
}

impl QueryDocs<'_> {
    fn list(&self, run: usize) -> &[(u32, f64)] {
        &self.hits[self.bounds[run]..self.bounds[run + 1]]
    }
}

/// Runs grouped by query and ranked once, each query's documents numbered across the runs,
/// ready to be fused any number of ways.
pub struct Prepared<'a> {
    names: Vec<&'a str>,
    /// The fused run's queries, in order.
    queries: Vec<&'a str>,
    /// What each query has, in the order of `queries`.
    per_query: Vec<QueryDocs<'a>>,
    /// The chunks of the runs' doc id columns, run after run.
    doc_chunks: Vec<&'a StrArray>,
}

/// A run row as a query's numbering reads it: its score, its doc id's view (pointing into
/// the runs' doc id buffers laid end to end, `run::views::shifted`) and its row. When rows
/// are laid out by query (a run whose rows are not grouped), the view travels with the row,
/// so that the numbering reads each query's rows from one place instead of the table's
/// views from all over it.
#[derive(Clone, Copy)]
struct Hit {
    score: f64,
    view: View,
    row: u32,
}

/// One run's rows grouped by query.
struct GroupedRun<'a> {
    name: &'a str,
    groups: Groups<'a, Hit>,
    /// Query id -> group.
    index: FxHashMap<&'a str, u32>,
    docs: StrChunks<'a>,
    scores: F64Chunks<'a>,
    /// Where each chunk of the run's doc ids starts in the runs' doc id buffers laid end to
    /// end (`run::views::first_buffers`).
    first_buffer: Vec<u32>,
}

impl<'a> Prepared<'a> {
    /// Group and rank the runs (`views` from [`validate_runs`], in the same order); progress
    /// counts runs, then queries.
    pub fn new(
        runs: &[(&'a str, &DataFrame)],
        views: &'a [RunView<'a>],
        cancel: &Cancel,
    ) -> Result<Self> {
        let (grouped, doc_chunks) = group_runs(runs, views, cancel)?;
        let queries = query_order(&grouped)?;
        cancel.start("fuse", queries.len() as u64);
        let per_query = queries
            .par_iter()
            .map_init(QueryScratch::default, |scratch, &qid| {
                cancel.check()?;
                let mut docs = QueryDocs::default();
                query_docs(&grouped, qid, true, scratch, &mut docs)?;
                cancel.advance(1);
                Ok(docs)
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            names: runs.iter().map(|r| r.0).collect(),
            queries,
            per_query,
            doc_chunks,
        })
    }

    /// The run names, in order.
    pub fn names(&self) -> Vec<&'a str> {
        self.names.clone()
    }

    /// The queries any run answers, in the fused run's order.
    pub fn queries(&self) -> &[&'a str] {
        &self.queries
    }

    /// Run `i` alone, restricted to `only` when given, as a run table.
    pub fn single(&self, i: usize, only: Option<&FxHashSet<&str>>) -> Result<DataFrame> {
        let (mut query_ids, mut hits) = (Vec::new(), Vec::new());
        for q in self.selected(only) {
            let docs = &self.per_query[q];
            let list = docs.list(i);
            if !list.is_empty() {
                query_ids.push(self.queries[q]);
                hits.push(
                    list.iter()
                        .map(|&(d, s)| (docs.docs[d as usize].1, s))
                        .collect(),
                );
            }
        }
        gather_views(
            &StringChunked::from_iter(query_ids),
            &self.doc_chunks,
            &hits,
        )
    }

    /// The indices of the queries in `only` (all when `None`), in order.
    fn selected(&self, only: Option<&FxHashSet<&str>>) -> Vec<usize> {
        (0..self.queries.len())
            .filter(|&q| only.is_none_or(|set| set.contains(self.queries[q])))
            .collect()
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
        let weights = options.checked_weights(self.names.len())?;
        let selected = self.selected(only);
        cancel.start("fuse", selected.len() as u64);
        let fused: Vec<Vec<(View, f64)>> = selected
            .par_iter()
            .map_init(Vec::new, |values, &q| {
                cancel.check()?;
                let (docs, qid) = (&self.per_query[q], self.queries[q]);
                let fused = fuse_one(docs, &weights, norm, options, &self.names, qid, values)?;
                cancel.advance(1);
                Ok(fused)
            })
            .collect::<Result<_>>()?;
        let query_ids = StringChunked::from_iter(selected.iter().map(|&q| self.queries[q]));
        gather_views(&query_ids, &self.doc_chunks, &fused)
    }
}

impl<'a> GroupedRun<'a> {
    fn new(name: &'a str, view: &'a RunView<'a>, first_buffer: Vec<u32>) -> Result<Self> {
        if view.queries.is_empty() {
            return Err(Error::Empty {
                what: format!("run {name:?}"),
            });
        }
        let scores = F64Chunks::floats(&view.scores);
        let docs = StrChunks::strings(view.docs);
        let groups = Groups::build(None, &StrChunks::strings(view.queries), name, || {
            let hit = Self::hit_reader(&scores, &docs, &first_buffer);
            move |row| hit(row)
        })?;
        let index = groups
            .keys
            .iter()
            .enumerate()
            .map(|(g, &(_, q))| (q, g as u32))
            .collect();
        Ok(Self {
            name,
            groups,
            index,
            docs,
            scores,
            first_buffer,
        })
    }

    /// A function reading row `row` as a [`Hit`] (cursors made once per call).
    fn hit_reader<'s>(
        scores: &'s F64Chunks<'a>,
        docs: &'s StrChunks<'a>,
        first_buffer: &'s [u32],
    ) -> impl Fn(usize) -> Hit + 's {
        let (scores, docs) = (scores.cursor(), docs.cursor());
        move |row| {
            let (_, chunk, view) = docs.chunk_view(row);
            Hit {
                score: scores.f64(row),
                view: shifted(view, first_buffer, chunk),
                row: row as u32,
            }
        }
    }

    /// The rows of group `g` as hits, in the order the table holds them.
    fn rows(&self, g: usize, out: &mut Vec<Hit>) {
        out.clear();
        match self.groups.rows(g) {
            Rows::Range(rows) => {
                let hit = Self::hit_reader(&self.scores, &self.docs, &self.first_buffer);
                out.extend(rows.map(hit));
            }
            Rows::Listed(hits) => out.extend_from_slice(hits),
        }
    }
}

/// The fused run's queries: those of the first run in its order, then each later run's new
/// ones. An error when the runs share no query at all.
fn query_order<'a>(runs: &[GroupedRun<'a>]) -> Result<Vec<&'a str>> {
    let shared = runs[0]
        .index
        .keys()
        .any(|q| runs[1..].iter().all(|r| r.index.contains_key(q)));
    if !shared {
        let names: Vec<String> = runs.iter().map(|r| format!("{:?}", r.name)).collect();
        return Err(Error::schema(
            table::RUN,
            format!(
                "runs {} have no query in common; fusion needs runs over the same queries",
                names.join(", ")
            ),
        ));
    }
    let mut seen: FxHashSet<&str> = Default::default();
    Ok(runs
        .iter()
        .flat_map(|r| r.groups.keys.iter().map(|k| k.1))
        .filter(|q| seen.insert(q))
        .collect())
}

/// Group each run's rows by query (progress counts runs); with the chunks of the runs' doc id
/// columns, run after run, whose data buffers the fused runs' doc id views point into.
fn group_runs<'a>(
    runs: &[(&'a str, &DataFrame)],
    views: &'a [RunView<'a>],
    cancel: &Cancel,
) -> Result<(Vec<GroupedRun<'a>>, Vec<&'a StrArray>)> {
    let rows: usize = views.iter().map(|v| v.docs.len()).sum();
    if u32::try_from(rows).is_err() {
        return Err(Error::schema(
            table::RUN,
            format!("{rows} rows in all; fusion supports at most {}", u32::MAX),
        ));
    }
    cancel.start("group runs", runs.len() as u64);
    let mut grouped = Vec::with_capacity(runs.len());
    let mut doc_chunks: Vec<&StrArray> = Vec::new();
    for (&(name, _), view) in runs.iter().zip(views) {
        cancel.check()?;
        // The buffers of the chunks listed so far come first.
        let buffers = doc_chunks
            .iter()
            .map(|a| a.data_buffers().len() as u32)
            .sum();
        let first_buffer = first_buffers(view.docs.downcast_iter(), buffers);
        grouped.push(GroupedRun::new(name, view, first_buffer)?);
        doc_chunks.extend(view.docs.downcast_iter());
        cancel.advance(1);
    }
    Ok((grouped, doc_chunks))
}

/// One query's fused run: its `(doc id view, score)`, in run order, cut at `k`. `values` is
/// scratch.
fn fuse_one(
    docs: &QueryDocs,
    weights: &[f64],
    norm: Norm,
    options: &FuseOptions,
    names: &[&str],
    qid: &str,
    values: &mut Vec<f64>,
) -> Result<Vec<(View, f64)>> {
    let hits = fuse_query(docs, weights, norm, options, |i| names[i], qid, values)?;
    for &(d, score) in &hits {
        order::check_score(table::RUN, qid, docs.docs[d as usize].0, score)?;
    }
    let k = options.k.unwrap_or(hits.len());
    let doc = |d: u32| &docs.docs[d as usize];
    let best = top_k_in_run_order(hits, k, |h| h.1, |h| doc_id(doc(h.0)));
    Ok(best.into_iter().map(|(d, s)| (doc(d).1, s)).collect())
}

/// A document's id from its entry in [`QueryDocs::docs`], for comparing tied scores: an id
/// of at most 12 bytes is read from the entry's own copy of its view, beside the entry in
/// cache, rather than from the table, where rows laid out by query lie anywhere.
#[inline(always)]
fn doc_id<'s>((text, view): &'s (&str, View)) -> &'s str {
    match view.get_inlined_slice() {
        // SAFETY: the view is a copy of a view of a valid UTF-8 string.
        Some(bytes) => unsafe { std::str::from_utf8_unchecked(bytes) },
        None => text,
    }
}

/// What [`query_docs`] reuses from one query to the next.
#[derive(Default)]
struct QueryScratch<'a> {
    table: KeyTable,
    keys: Vec<StrKey<'a>>,
    rows: Vec<Hit>,
    /// The run (index + 1) that last listed each document, to find one listed twice.
    last_run: Vec<u32>,
}

/// How many rows ahead [`query_docs`] asks for the view of a doc id longer than 12 bytes,
/// whose bytes it reads from the table.
const VIEW_PREFETCH: usize = 16;

/// Query `qid`'s documents numbered across the runs and each run's list of them, ranked in
/// run order when `ranked` (in table order otherwise), into `out` (its old contents
/// dropped); a document listed twice by one run is an error.
fn query_docs<'a>(
    runs: &[GroupedRun<'a>],
    qid: &str,
    ranked: bool,
    scratch: &mut QueryScratch<'a>,
    out: &mut QueryDocs<'a>,
) -> Result<()> {
    let QueryScratch {
        table,
        keys,
        rows,
        last_run,
    } = scratch;
    let groups: Vec<Option<usize>> = runs
        .iter()
        .map(|r| r.index.get(qid).map(|&g| g as usize))
        .collect();
    let total: usize = runs
        .iter()
        .zip(&groups)
        .filter_map(|(r, g)| g.map(|g| r.groups.row_count(g)))
        .sum();
    table.reset(total);
    keys.clear();
    last_run.clear();
    out.docs.clear();
    out.docs.reserve(total);
    out.hits.clear();
    out.hits.reserve(total);
    out.bounds.clear();
    out.bounds.push(0);
    for (i, (run, g)) in runs.iter().zip(&groups).enumerate() {
        if let Some(g) = *g {
            // Rows are numbered in table order (the doc ids are read one after the other, not
            // in score order), then ranked.
            run.rows(g, rows);
            let docs = run.docs.cursor();
            let start = out.hits.len();
            for (j, &Hit { score, view, row }) in rows.iter().enumerate() {
                // Rows gathered by the counting sort lie anywhere in the table.
                if let Some(ahead) = rows.get(j + VIEW_PREFETCH) {
                    if ahead.view.length as usize > INLINE {
                        docs.prefetch(ahead.row as usize);
                    }
                }
                // SAFETY: `view` is row `row`'s view (its buffer index shifted, its length
                // unchanged).
                let text = unsafe { docs.str_with_view(row as usize, view) };
                let key = StrKey::new((text, view.as_u128()));
                let d = table.number(keys, key) as usize;
                if d == out.docs.len() {
                    out.docs.push((text, view));
                    last_run.push(0);
                } else if last_run[d] == i as u32 + 1 {
                    return Err(Error::DuplicateId {
                        kind: "document",
                        id: text.to_owned(),
                        location: format!("run {:?}, query {qid:?}", run.name),
                    });
                }
                last_run[d] = i as u32 + 1;
                out.hits.push((d as u32, score));
            }
            if ranked {
                let names = &out.docs;
                let hits = &mut out.hits[start..];
                order::sort_in_run_order(hits, |h| h.1, |h| doc_id(&names[h.0 as usize]));
            }
        }
        out.bounds.push(out.hits.len());
    }
    Ok(())
}

/// One query's fused `(document, score)`, unordered. `values` is scratch.
fn fuse_query<'a>(
    docs: &QueryDocs<'a>,
    weights: &[f64],
    norm: Norm,
    options: &FuseOptions,
    run_name: impl Fn(usize) -> &'a str,
    qid: &str,
    values: &mut Vec<f64>,
) -> Result<Vec<(u32, f64)>> {
    if options.method == Method::Borda {
        return Ok(borda(docs, weights));
    }
    // Per document: (sum, max, number of runs holding it).
    let mut acc = vec![(0.0, f64::NEG_INFINITY, 0u32); docs.docs.len()];
    for (i, &w) in weights.iter().enumerate() {
        let list = docs.list(i);
        if list.is_empty() {
            continue;
        }
        if options.method == Method::Rrf {
            values.clear();
            values.extend((1..=list.len()).map(|r| 1.0 / (options.rrf_k + r as f64)));
        } else {
            norm.apply(list, values)
                .map_err(|why| norm_error(norm, run_name(i), qid, why))?;
        }
        for (&(d, _), &x) in list.iter().zip(values.iter()) {
            let v = w * x;
            let a = &mut acc[d as usize];
            a.0 += v;
            a.1 = a.1.max(v);
            a.2 += 1;
        }
    }
    Ok(acc
        .into_iter()
        .zip(0..)
        .map(|((sum, max, count), d)| {
            let score = match options.method {
                Method::CombMax => max,
                Method::CombMnz => sum * f64::from(count),
                _ => sum,
            };
            (d, score)
        })
        .collect())
}

/// Borda points summed over the runs, for the query's candidates (the union of the runs).
fn borda(docs: &QueryDocs, weights: &[f64]) -> Vec<(u32, f64)> {
    let c = docs.docs.len() as f64;
    let mut out: Vec<(u32, f64)> = (0..docs.docs.len() as u32).map(|d| (d, 0.0)).collect();
    let mut ranked = vec![false; out.len()];
    for (i, &w) in weights.iter().enumerate() {
        let list = docs.list(i);
        ranked.iter_mut().for_each(|x| *x = false);
        for (r, &(d, _)) in list.iter().enumerate() {
            ranked[d as usize] = true;
            out[d as usize].1 += w * (c - r as f64);
        }
        let unranked = w * (c - list.len() as f64 + 1.0) / 2.0;
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
