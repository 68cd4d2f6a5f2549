//! Bindings for the functions from runs to runs: fusion, its tuning, and MMR re-ranking.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::dense::PyDenseIndex;
use super::errors::{detach_with_progress, frame_arg, progress, to_py};
use super::frame::PyDataFrame;
use crate::data::schema::RUN;
use crate::error::Error;
use crate::fuse::{self as core, FuseOptions, Method, Norm, OptimizeOptions};
use crate::rerank::{self, MmrOptions};

/// Named runs from a dict of name to run table, a list or tuple of run tables (named
/// ``run1``, ``run2``, ...), or a stacked table with a ``run`` column.
fn named_runs(obj: &Bound<'_, PyAny>) -> PyResult<Vec<(String, polars::prelude::DataFrame)>> {
    if let Ok(dict) = obj.cast::<PyDict>() {
        return dict
            .iter()
            .map(|(name, frame)| {
                let name: String = name.extract()?;
                let frame = frame_arg(&frame, &format!("run {name:?}"))?;
                Ok((name, frame))
            })
            .collect();
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return obj
            .try_iter()?
            .enumerate()
            .map(|(i, frame)| {
                Ok((
                    format!("run{}", i + 1),
                    frame_arg(&frame?, &format!("runs[{i}]"))?,
                ))
            })
            .collect();
    }
    let frame = obj.py().import("polars")?.getattr("DataFrame")?;
    if obj.is_instance(&frame)? {
        let stacked = frame_arg(obj, "runs")?;
        if !crate::data::schema::has_column(&stacked, RUN) {
            return Err(to_py(Error::config(
                "runs",
                "a single run table has nothing to fuse; give a dict or list of runs, or a \
                 stacked table with a \"run\" column",
            )));
        }
        return crate::data::split_runs(&stacked).map_err(to_py);
    }
    let got = obj.get_type().name()?;
    Err(PyTypeError::new_err(format!(
        "runs must be a dict of run name to DataFrame, a list of DataFrames or a stacked \
         DataFrame, got {got}"
    )))
}

/// Weights given as a list (in the order of the runs) or a dict of run name to weight.
fn weights_arg(obj: Option<&Bound<'_, PyAny>>, names: &[String]) -> PyResult<Option<Vec<f64>>> {
    let Some(obj) = obj else { return Ok(None) };
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let Some(w) = dict.get_item(name)? else {
                return Err(to_py(Error::config(
                    "weights",
                    format!("no weight for run {name:?}"),
                )));
            };
            out.push(w.extract::<f64>()?);
        }
        for key in dict.keys() {
            let key: String = key.extract()?;
            if !names.contains(&key) {
                return Err(to_py(Error::config(
                    "weights",
                    format!("{key:?} is not one of the runs {names:?}"),
                )));
            }
        }
        return Ok(Some(out));
    }
    Ok(Some(obj.extract::<Vec<f64>>()?))
}

fn fuse_options(
    method: &str,
    norm: Option<&str>,
    rrf_k: f64,
    k: Option<usize>,
) -> PyResult<FuseOptions> {
    Ok(FuseOptions {
        method: method.parse::<Method>().map_err(to_py)?,
        norm: norm.map(str::parse::<Norm>).transpose().map_err(to_py)?,
        weights: None,
        rrf_k,
        k,
    })
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
    runs: &Bound<'_, PyAny>,
    method: &str,
    norm: Option<&str>,
    weights: Option<&Bound<'_, PyAny>>,
    rrf_k: f64,
    k: Option<usize>,
    show_progress: Option<bool>,
) -> PyResult<PyDataFrame> {
    let runs = named_runs(runs)?;
    let names: Vec<String> = runs.iter().map(|(n, _)| n.clone()).collect();
    let mut options = fuse_options(method, norm, rrf_k, k)?;
    options.weights = weights_arg(weights, &names)?;
    let desc = progress(py, show_progress, "fuse")?;
    detach_with_progress(py, desc, move |cancel| {
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
    runs: &Bound<'_, PyAny>,
    qrels: &Bound<'_, PyAny>,
    method: &str,
    norm: Option<&str>,
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
    let runs = named_runs(runs)?;
    let qrels = frame_arg(qrels, "qrels")?;
    let base = fuse_options(method, norm, 60.0, k)?;
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
        let refs: Vec<(&str, &polars::prelude::DataFrame)> =
            runs.iter().map(|(n, f)| (n.as_str(), f)).collect();
        core::optimize_fusion(&refs, &qrels, &options, cancel)
    })?;
    Ok(PyFusionTuning { inner })
}

/// Re-rank each query's top documents by maximal marginal relevance.
///
/// Documents are picked one at a time, each maximising ``lambda_ * sim(query, doc) -
/// (1 - lambda_) * max sim(doc, picked)``, with cosine similarities of the index's vectors
/// (the query embedded by the index's encoder); ties go to the document ranked higher in
/// ``run``. The i-th of n picks gets score n - i.
///
/// Args:
///     run: A run table; its documents must be in ``index``.
///     index: The ``DenseIndex`` holding the documents' vectors.
///     queries: A queries table holding every query of ``run``.
///     lambda_: Weight of relevance against novelty, in [0, 1].
///     k: Documents returned per query.
///     depth: Candidates per query, from the top of ``run``; all if omitted.
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     The re-ranked run table.
#[pyfunction]
#[pyo3(signature = (run, index, queries, *, lambda_ = 0.5, k = 100, depth = None, show_progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn mmr(
    py: Python<'_>,
    run: &Bound<'_, PyAny>,
    index: PyRef<'_, PyDenseIndex>,
    queries: &Bound<'_, PyAny>,
    lambda_: f64,
    k: usize,
    depth: Option<usize>,
    show_progress: Option<bool>,
) -> PyResult<PyDataFrame> {
    let run = frame_arg(run, "run")?;
    let queries = frame_arg(queries, "queries")?;
    let options = MmrOptions {
        lambda: lambda_,
        k,
        depth,
    };
    let desc = progress(py, show_progress, "mmr")?;
    index.inner.check()?;
    let inner = &index.inner;
    detach_with_progress(py, desc, |cancel| {
        rerank::mmr(&run, &inner.read_checked(), &queries, &options, cancel)
    })
    .map(PyDataFrame)
}
