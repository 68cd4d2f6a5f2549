//! Bindings for the functions from runs to runs: fusion, its tuning, and MMR re-ranking.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::args::{deprecated, given_twice, renamed, type_name, Frame, Opt, Runs, Weights};
use super::dense::PyDenseIndex;
use super::detach::{detach_with_progress, progress};
use super::frame::PyDataFrame;
use crate::fuse::{self as core, FuseOptions, Method, Norm, OptimizeOptions};
use crate::rerank::{self, MmrOptions};

fn fuse_options(
    method: Method,
    norm: Option<Opt<Norm>>,
    rrf_k: f64,
    k: Option<usize>,
) -> FuseOptions {
    FuseOptions {
        method,
        norm: norm.map(|n| n.0),
        weights: None,
        rrf_k,
        k,
    }
}

/// Fuse several runs into one.
///
/// Each run's scores for a query are normalised (``norm``), multiplied by the run's weight and
/// combined per document (``method``); the fused run is ranked score descending, ties by doc
/// id descending. The methods: ``"rrf"`` (sum of weight / (rrf_k + rank)), ``"combsum"``
/// (alias ``"wsum"``: weighted sum), ``"combmnz"`` (CombSUM times the number of runs holding
/// the document), ``"combmax"``, ``"borda"``. The normalisations: ``"min-max"``,
/// ``"z-score"``, ``"sum"``, ``"max"``, ``"rank"``, ``"none"``. Scores equal ``ranx.fuse``'s
/// except for documents tied within a run (ranked here by doc id) and constant score lists.
///
/// Args:
///     runs: A dict of run name to run table, a list of run tables, or a stacked table with a
///         ``run`` column; at least two runs.
///     method: How scores are combined.
///     norm: How each run's scores are rescaled per query; ``None``: ``"min-max"``, or
///         ``"none"`` for the rank-based ``"rrf"`` and ``"borda"`` (which take no other).
///     weights: One positive weight per run (a list in run order or a dict by run name);
///         all 1 if omitted.
///     rrf_k: RRF's rank offset.
///     k: Documents kept per query; ``None`` keeps all.
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     The fused run table.
///
/// Raises:
///     ConfigError: An unknown method or norm, a norm given to a rank-based method, fewer than
///         two runs, a weight that is not positive, ``k = 0``.
///     DataError: Runs without a query in common, an empty run, a duplicate document, a NaN
///         score.
#[pyfunction]
// The text signature spells out `k=100` (pyo3 writes `...` for an optional's default).
#[pyo3(
    signature = (runs, *, method = "rrf", norm = None, weights = None, rrf_k = 60.0, k = Some(100), show_progress = None),
    text_signature = "(runs, *, method='rrf', norm=None, weights=None, rrf_k=60.0, k=100, show_progress=None)"
)]
#[allow(clippy::too_many_arguments)]
pub fn fuse(
    py: Python<'_>,
    runs: Runs,
    method: &str,
    norm: Option<Opt<Norm>>,
    weights: Option<Weights>,
    rrf_k: f64,
    k: Option<usize>,
    show_progress: Option<bool>,
) -> PyResult<PyDataFrame> {
    let mut options = fuse_options(method.parse()?, norm, rrf_k, k);
    let desc = progress(py, show_progress, "fuse")?;
    detach_with_progress(py, desc, move |cancel| {
        // Splitting a stacked table copies its rows: done here, with the GIL released.
        let runs = runs.into_named()?;
        let names: Vec<String> = runs.iter().map(|(n, _)| n.clone()).collect();
        options.weights = weights.map(|w| w.resolve(&names)).transpose()?;
        let refs: Vec<(&str, &polars::prelude::DataFrame)> =
            runs.iter().map(|(n, f)| (n.as_str(), f)).collect();
        core::fuse(&refs, &options, cancel)
    })
    .map(PyDataFrame)
}

/// The result of ``optimize_fusion``.
#[pyclass(name = "FusionTuning", module = "ragplay._ragplay", frozen)]
pub struct PyFusionTuning {
    inner: core::Tuning,
}

#[pymethods]
impl PyFusionTuning {
    /// The fusion method.
    #[getter]
    fn method(&self) -> &'static str {
        self.inner.options.method.name()
    }

    /// The normalisation in effect.
    #[getter]
    fn norm(&self) -> &'static str {
        let o = &self.inner.options;
        o.norm.unwrap_or(o.method.default_norm()).name()
    }

    /// The run names, in the order of ``weights``.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.inner.names.clone()
    }

    /// The chosen weight of each run, in the order of ``names``.
    #[getter]
    fn weights(&self) -> Vec<f64> {
        self.inner.options.weights.clone().unwrap_or_default()
    }

    /// The chosen RRF offset (RRF only; ``None`` otherwise).
    #[getter]
    fn rrf_k(&self) -> Option<f64> {
        (self.inner.options.method == Method::Rrf).then_some(self.inner.options.rrf_k)
    }

    /// The queries the weights were chosen on.
    #[getter]
    fn train_queries(&self) -> Vec<String> {
        self.inner.train_queries.clone()
    }

    /// The held-out queries the report is computed on.
    #[getter]
    fn test_queries(&self) -> Vec<String> {
        self.inner.test_queries.clone()
    }

    /// Every setting tried: ``trial``, ``rrf_k``, one ``weight:<run>`` column per run, and the
    /// metric's mean on the training queries.
    #[getter]
    fn trials(&self) -> PyDataFrame {
        PyDataFrame(self.inner.trials.clone())
    }

    /// On the held-out queries: ``run`` (``tuned``, ``rrf``, ``combsum-zscore``, then each
    /// input run), ``num_queries``, ``mean``, ``ci_low``, ``ci_high`` (percentile bootstrap).
    #[getter]
    fn held_out(&self) -> PyDataFrame {
        PyDataFrame(self.inner.held_out.clone())
    }

    /// The held-out per-query values of the same runs, for ``compare_per_query``.
    #[getter]
    fn per_query(&self) -> PyDataFrame {
        PyDataFrame(self.inner.per_query.clone())
    }

    /// The tuned fusion over all queries.
    #[getter]
    fn run(&self) -> PyDataFrame {
        PyDataFrame(self.inner.run.clone())
    }

    fn __repr__(&self) -> String {
        format!("FusionTuning(held_out=\n{})", self.inner.held_out)
    }
}

/// Tune fusion weights (and ``rrf_k`` for RRF) on a training split of the queries, and report
/// the chosen setting on the held-out split only.
///
/// The judged queries are shuffled with ``seed`` and split; every weight vector on a grid of
/// positive multiples of ``step`` summing to 1 (times each of ``rrf_ks`` for RRF) is scored on
/// the training queries; the best is reported on the held-out queries beside untuned RRF,
/// CombSUM with z-scores and each input run, each with a bootstrap confidence interval.
///
/// Args:
///     runs: As for ``fuse``.
///     qrels: A qrels table.
///     method: As for ``fuse``.
///     norm: As for ``fuse``.
///     metric: The metric maximised, such as ``"ndcg@10"``.
///     train_fraction: Share of the judged queries used for training.
///     step: Spacing of the weight grid (1 / step must be whole).
///     rrf_ks: The RRF offsets tried (RRF only).
///     k: Documents kept per query in every fused run; ``None`` keeps all.
///     seed: Seed of the split and the bootstrap.
///     n_resamples: Bootstrap resamples.
///     confidence: Confidence level of the intervals.
///     relevance_threshold: As for ``evaluate``.
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     A ``FusionTuning`` with the chosen setting, ``trials``, ``held_out``, ``per_query``
///     and the tuned ``run``.
#[pyfunction]
#[pyo3(
    signature = (runs, qrels, *, method = "rrf", norm = None, metric = "ndcg@10", train_fraction = 0.5, step = 0.1, rrf_ks = None, k = Some(100), seed = 42, n_resamples = 10_000, confidence = 0.95, relevance_threshold = 1, show_progress = None),
    text_signature = "(runs, qrels, *, method='rrf', norm=None, metric='ndcg@10', train_fraction=0.5, step=0.1, rrf_ks=None, k=100, seed=42, n_resamples=10000, confidence=0.95, relevance_threshold=1, show_progress=None)"
)]
#[allow(clippy::too_many_arguments)]
pub fn optimize_fusion(
    py: Python<'_>,
    runs: Runs,
    qrels: Frame,
    method: &str,
    norm: Option<Opt<Norm>>,
    metric: &str,
    train_fraction: f64,
    step: f64,
    rrf_ks: Option<Vec<f64>>,
    k: Option<usize>,
    seed: u64,
    n_resamples: usize,
    confidence: f64,
    relevance_threshold: i32,
    show_progress: Option<bool>,
) -> PyResult<PyFusionTuning> {
    let qrels = qrels.0;
    let base = fuse_options(method.parse()?, norm, 60.0, k);
    let defaults = OptimizeOptions::default();
    let options = OptimizeOptions {
        method: base.method,
        norm: base.norm,
        metric: metric.to_owned(),
        train_fraction,
        step,
        rrf_ks: rrf_ks.unwrap_or(defaults.rrf_ks),
        seed,
        n_resamples,
        confidence,
        relevance_threshold,
        k,
    };
    let desc = progress(py, show_progress, "optimize fusion")?;
    let inner = detach_with_progress(py, desc, move |cancel| {
        let runs = runs.into_named()?;
        let refs: Vec<(&str, &polars::prelude::DataFrame)> =
            runs.iter().map(|(n, f)| (n.as_str(), f)).collect();
        core::optimize_fusion(&refs, &qrels, &options, cancel)
    })?;
    Ok(PyFusionTuning { inner })
}

/// Re-rank each query's top documents by maximal marginal relevance.
///
/// Documents are picked one at a time, each maximising ``mmr_lambda * sim(query, doc) -
/// (1 - mmr_lambda) * max sim(doc, picked)``, with cosine similarities of the index's vectors
/// (the query embedded by the index's encoder); ties go to the document ranked higher in
/// ``run``. The i-th of n picks gets score n - i.
///
/// Args:
///     run: A run table; its documents must be in ``index``.
///     queries: A queries table holding every query of ``run``.
///     index: The ``DenseIndex`` holding the documents' vectors.
///     mmr_lambda: Weight of relevance against novelty, in [0, 1] (``lambda_=`` before this
///         release, and the order ``(run, index, queries)``; both still work, with a
///         ``DeprecationWarning``).
///     k: Documents returned per query.
///     depth: Candidates per query, from the top of ``run``; all if omitted.
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     The re-ranked run table.
#[pyfunction]
#[pyo3(
    signature = (run, queries, index, *, mmr_lambda = 0.5, k = 100, depth = None, show_progress = None, **deprecated),
    text_signature = "(run, queries, index, *, mmr_lambda=0.5, k=100, depth=None, show_progress=None)"
)]
#[allow(clippy::too_many_arguments)]
pub fn mmr(
    py: Python<'_>,
    run: Frame,
    queries: &Bound<'_, PyAny>,
    index: &Bound<'_, PyAny>,
    mut mmr_lambda: f64,
    k: usize,
    depth: Option<usize>,
    show_progress: Option<bool>,
    deprecated: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyDataFrame> {
    for (_, value) in renamed(py, deprecated, &[("lambda_", "mmr_lambda")])? {
        // The new name at its default is taken as not given.
        if mmr_lambda != 0.5 {
            return Err(given_twice("lambda_", "mmr_lambda"));
        }
        mmr_lambda = value.extract()?;
    }
    // The order before this release was (run, index, queries).
    let (queries, index) = if queries.cast::<PyDenseIndex>().is_ok() {
        self::deprecated(
            py,
            "mmr(run, index, queries) is deprecated; use mmr(run, queries, index)",
        )?;
        (index, queries)
    } else {
        (queries, index)
    };
    let queries = Frame::named(queries, "queries")?;
    let index = index.cast::<PyDenseIndex>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "index must be a DenseIndex, got {}",
            type_name(index)
        ))
    })?;
    let options = MmrOptions {
        lambda: mmr_lambda,
        k,
        depth,
    };
    let desc = progress(py, show_progress, "mmr")?;
    let inner = &index.get().inner;
    inner.check()?;
    detach_with_progress(py, desc, |cancel| {
        rerank::mmr(&run.0, &queries, &*inner.read_checked(), &options, cancel)
    })
    .map(PyDataFrame)
}
