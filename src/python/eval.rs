//! Bindings for evaluation and run comparison.

use pyo3::prelude::*;

use super::args::{Frame, Runs};
use super::detach::{detach_with_progress, progress};
use super::frame::PyDataFrame;
use crate::eval::{self, CompareOptions, Correction, EvalOptions, Test};

/// The result of ``evaluate``: a per-query table and a summary table.
#[pyclass(name = "Evaluation", module = "ragplay._ragplay", frozen)]
pub struct PyEvaluation {
    inner: eval::Evaluation,
}

#[pymethods]
impl PyEvaluation {
    /// One row per (run, query): ``run``, ``query_id``, then one Float64 column per metric.
    #[getter]
    fn per_query(&self) -> PyDataFrame {
        PyDataFrame(self.inner.per_query.clone())
    }

    /// One row per run: ``run``, ``num_queries``, then the mean of each metric.
    #[getter]
    fn summary(&self) -> PyDataFrame {
        PyDataFrame(self.inner.summary.clone())
    }

    fn __repr__(&self) -> String {
        format!("Evaluation(summary=\n{})", self.inner.summary)
    }
}

/// Evaluate a run against qrels, exactly as ``trec_eval`` does.
///
/// Documents are ranked per query by score descending, ties broken by doc id descending (the
/// ``rank`` column is ignored). Queries missing from the qrels are skipped; qrels queries the
/// run does not answer are skipped unless ``include_missing`` (``trec_eval -c``). A document
/// listed twice for one query is an error.
///
/// The metric names, their aliases, cut-offs and definitions are listed by
/// ``ragplay.metrics()``.
///
/// Args:
///     run: A run table (``query_id``, ``doc_id``, ``score``); with a ``run`` column it holds
///         several runs, evaluated one by one. A dict of name to run table, or a list of run
///         tables (named ``run1``, ``run2``, ...), is stacked first.
///     qrels: A qrels table (``query_id``, ``doc_id``, ``relevance``).
///     metrics: Metric names, such as ``["ndcg@10", "recall@100", "mrr"]``.
///     relevance_threshold: A judgement at least this value is relevant (``trec_eval -l``).
///     include_missing: Count unanswered qrels queries with an empty ranking.
///     name: The run's name when ``run`` has no ``run`` column.
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     An ``Evaluation`` with ``per_query`` and ``summary`` tables.
///
/// Raises:
///     ConfigError: An unknown metric name, ``k = 0``, or a threshold below 1.
///     DataError: A missing column, a NaN score, a duplicate document, empty qrels.
#[pyfunction]
#[pyo3(signature = (run, qrels, metrics, *, relevance_threshold = 1, include_missing = false, name = "run", show_progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    py: Python<'_>,
    run: Runs,
    qrels: Frame,
    metrics: Vec<String>,
    relevance_threshold: i32,
    include_missing: bool,
    name: &str,
    show_progress: Option<bool>,
) -> PyResult<PyEvaluation> {
    let qrels = qrels.0;
    let options = EvalOptions {
        relevance_threshold,
        include_missing,
        name: name.to_owned(),
    };
    let desc = progress(py, show_progress, "evaluate")?;
    let inner = detach_with_progress(py, desc, move |cancel| {
        eval::evaluate(&run.into_table()?, &qrels, &metrics, &options, cancel)
    })?;
    Ok(PyEvaluation { inner })
}

/// The options of ``compare`` and ``compare_per_query``, parsed once for both.
pub(crate) fn compare_options(
    baseline: Option<String>,
    test: &str,
    n_resamples: usize,
    confidence: f64,
    seed: u64,
    correction: &str,
) -> PyResult<CompareOptions> {
    Ok(CompareOptions {
        baseline,
        test: test.parse::<Test>()?,
        n_resamples,
        confidence,
        seed,
        correction: correction.parse::<Correction>()?,
    })
}

/// Compare runs per metric with a paired significance test.
///
/// Each run is compared with the baseline on the queries either one answers (a query one run
/// does not answer counts 0 for it). The output has one row per (metric, run): ``metric``,
/// ``run``, ``baseline``, ``n``, ``mean``, ``baseline_mean``, ``delta``, ``p_value``,
/// ``p_adjusted`` (corrected across the runs compared on that metric), ``ci_low`` /
/// ``ci_high`` (percentile bootstrap interval of the mean delta), ``wins``, ``ties``,
/// ``losses``.
///
/// Args:
///     runs: A dict of run name to run table, a list of run tables (named ``run1``,
///         ``run2``, ...), or a stacked table with a ``run`` column (see ``stack_runs``).
///     qrels: A qrels table.
///     metrics: Metric names, as for ``evaluate``.
///     baseline: The run the others are compared with; the first run if omitted.
///     test: ``"randomization"`` (paired sign-flip test, exact when 2^n <= n_resamples)
///         or ``"t-test"`` (paired Student t-test).
///     n_resamples: Resamples for the randomization test and the bootstrap.
///     confidence: Confidence level of the bootstrap interval.
///     seed: Seed of the random draws.
///     correction: ``"holm"``, ``"bonferroni"`` or ``"none"``.
///     relevance_threshold: As for ``evaluate``.
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     A polars DataFrame, one row per (metric, compared run).
#[pyfunction]
#[pyo3(signature = (runs, qrels, metrics, *, baseline = None, test = "randomization", n_resamples = 10_000, confidence = 0.95, seed = 42, correction = "holm", relevance_threshold = 1, show_progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn compare(
    py: Python<'_>,
    runs: Runs,
    qrels: Frame,
    metrics: Vec<String>,
    baseline: Option<String>,
    test: &str,
    n_resamples: usize,
    confidence: f64,
    seed: u64,
    correction: &str,
    relevance_threshold: i32,
    show_progress: Option<bool>,
) -> PyResult<PyDataFrame> {
    let qrels = qrels.0;
    let options = compare_options(baseline, test, n_resamples, confidence, seed, correction)?;
    let eval_options = EvalOptions {
        relevance_threshold,
        ..EvalOptions::default()
    };
    let desc = progress(py, show_progress, "compare")?;
    detach_with_progress(py, desc, move |cancel| {
        let run = runs.into_table()?;
        eval::compare(&run, &qrels, &metrics, &eval_options, &options, cancel)
    })
    .map(PyDataFrame)
}

/// Compare runs from a per-query table as ``evaluate(...).per_query`` returns it.
///
/// Same options and output as ``compare``; ``metrics`` names columns of the table.
#[pyfunction]
#[pyo3(signature = (per_query, metrics, *, baseline = None, test = "randomization", n_resamples = 10_000, confidence = 0.95, seed = 42, correction = "holm", show_progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn compare_per_query(
    py: Python<'_>,
    per_query: Frame,
    metrics: Vec<String>,
    baseline: Option<String>,
    test: &str,
    n_resamples: usize,
    confidence: f64,
    seed: u64,
    correction: &str,
    show_progress: Option<bool>,
) -> PyResult<PyDataFrame> {
    let per_query = per_query.0;
    let options = compare_options(baseline, test, n_resamples, confidence, seed, correction)?;
    let desc = progress(py, show_progress, "compare")?;
    detach_with_progress(py, desc, move |cancel| {
        eval::compare_per_query(&per_query, &metrics, &options, cancel)
    })
    .map(PyDataFrame)
}

/// The metrics ``evaluate`` knows, one row per family: ``name``, ``pattern`` (how to write
/// it: ``p@k``, ``recall[@k]``), ``aliases``, ``cutoff`` (``"required"``, ``"optional"`` or
/// ``"none"``), ``description`` and ``reference``.
#[pyfunction]
pub fn metrics() -> PyResult<PyDataFrame> {
    Ok(PyDataFrame(eval::metrics_table()?))
}
