//! Bindings for the lab: the regression gate (`check`, `GateReport`) and the baseline
//! retriever used by the demo.

use pyo3::prelude::*;

use super::args::{deprecated, Frame};
use super::detach::{detach, detach_with_progress, progress};
use super::eval::compare_options;
use super::frame::PyDataFrame;
use crate::eval::EvalOptions;
use crate::lab::{self, GateOptions, GateReport, Latency};

/// A term-overlap baseline run: documents scored by the number of distinct query words they
/// contain (lower-cased alphanumeric runs), top ``k`` per query.
///
/// Args:
///     corpus: A corpus table (``doc_id``, ``title``, ``text``).
///     queries: A queries table (``query_id``, ``text``).
///     k: Documents kept per query.
///
/// Returns:
///     A run table (``query_id``, ``doc_id``, ``score``, ``rank``).
#[pyfunction]
#[pyo3(signature = (corpus, queries, *, k = 100))]
pub fn overlap_run(
    py: Python<'_>,
    corpus: Frame,
    queries: Frame,
    k: usize,
) -> PyResult<PyDataFrame> {
    detach(py, move |_| lab::overlap_run(&corpus.0, &queries.0, k)).map(PyDataFrame)
}

/// The regression gate: is ``candidate`` significantly worse than ``baseline``?
///
/// Per metric, the per-query values are paired by query (a query one run does not answer
/// counts 0 for it) and tested one-sided ("is the candidate worse?") with the paired test;
/// the metrics' p-values are Holm-corrected together, so an unchanged system fails the gate
/// with probability at most ``alpha``. A metric regresses when its mean went down and its
/// adjusted p-value is below ``alpha``. With ``latency``, the gate also fails when the
/// candidate is slower than the baseline by more than ``latency_tolerance``.
///
/// Args:
///     candidate: The run under test.
///     baseline: The run it must not be worse than.
///     qrels: A qrels table.
///     metrics: Metric names, as for ``evaluate``.
///     alpha: Family-wise significance level, in (0, 1).
///     test: ``"randomization"`` or ``"t-test"``.
///     n_resamples: Resamples for the randomization test and the bootstrap.
///     confidence: Confidence level of the bootstrap interval of the mean difference.
///     seed: Seed of the random draws.
///     relevance_threshold: As for ``evaluate``.
///     churn_depth: Depth of the rank churn measures (overlap and RBO).
///     persistence: RBO's persistence ``p``, in (0, 1).
///     latency: ``(candidate, baseline)`` latencies in one unit (e.g. the p95 milliseconds
///         of ``Pipeline.trace``), or ``None`` to skip the latency check.
///     latency_tolerance: The largest tolerated relative slowdown (0.2: 20%).
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     A ``GateReport``.
#[pyfunction]
#[pyo3(signature = (candidate, baseline, qrels, metrics, *, alpha = 0.05, test = "randomization", n_resamples = 10_000, confidence = 0.95, seed = 42, relevance_threshold = 1, churn_depth = 10, persistence = 0.9, latency = None, latency_tolerance = 0.2, show_progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn check(
    py: Python<'_>,
    candidate: Frame,
    baseline: Frame,
    qrels: Frame,
    metrics: Vec<String>,
    alpha: f64,
    test: &str,
    n_resamples: usize,
    confidence: f64,
    seed: u64,
    relevance_threshold: i32,
    churn_depth: usize,
    persistence: f64,
    latency: Option<(f64, f64)>,
    latency_tolerance: f64,
    show_progress: Option<bool>,
) -> PyResult<PyGateReport> {
    let (candidate, baseline, qrels) = (candidate.0, baseline.0, qrels.0);
    let options = GateOptions {
        metrics,
        alpha,
        compare: compare_options(None, test, n_resamples, confidence, seed, "none")?,
        eval: EvalOptions {
            relevance_threshold,
            ..EvalOptions::default()
        },
        churn_depth,
        persistence,
        latency_tolerance,
    };
    let latency = latency.map(|(candidate, baseline)| Latency {
        candidate,
        baseline,
    });
    let desc = progress(py, show_progress, "check")?;
    detach_with_progress(py, desc, move |cancel| {
        lab::check(&candidate, &baseline, &qrels, latency, &options, cancel)
    })
    .map(|inner| PyGateReport { inner })
}

/// What ``check`` returns: the verdict and what moved.
#[pyclass(name = "GateReport", module = "ragplay._ragplay", frozen)]
pub struct PyGateReport {
    inner: GateReport,
}

#[pymethods]
impl PyGateReport {
    /// Whether no metric regressed significantly and the latency stayed within tolerance.
    #[getter]
    fn passed(&self) -> bool {
        self.inner.passed
    }

    /// One row per metric: ``metric``, ``n``, ``mean``, ``baseline_mean``, ``delta``,
    /// ``ci_low``, ``ci_high``, ``p_value`` (one-sided), ``p_adjusted`` (Holm over the
    /// metrics), ``wins``, ``ties``, ``losses``, ``regression``.
    #[getter]
    fn summary(&self) -> PyDataFrame {
        PyDataFrame(self.inner.summary.clone())
    }

    /// Queries the candidate scores below the baseline: ``metric``, ``query_id``,
    /// ``baseline``, ``candidate``, ``delta``; per metric, worst first.
    #[getter]
    fn losers(&self) -> PyDataFrame {
        PyDataFrame(self.inner.losers.clone())
    }

    /// Queries above 0 for the baseline and 0 for the candidate: ``metric``, ``query_id``,
    /// ``baseline``.
    #[getter]
    fn new_zeros(&self) -> PyDataFrame {
        PyDataFrame(self.inner.new_zeros.clone())
    }

    /// Per-query rank churn: ``query_id``, ``overlap`` (shared share of the top
    /// ``churn_depth``) and ``rbo`` (extrapolated rank-biased overlap).
    #[getter]
    fn churn(&self) -> PyDataFrame {
        PyDataFrame(self.inner.churn.clone())
    }

    /// The latency check when a latency was given (a ``LatencyCheck``), else ``None``.
    #[getter]
    fn latency(&self) -> Option<PyLatencyCheck> {
        self.inner.latency.map(|(l, regressed)| PyLatencyCheck {
            candidate: l.candidate,
            baseline: l.baseline,
            regressed,
        })
    }

    /// A plain-text account: the verdict, each metric, the latency, the ``max_queries``
    /// worst queries of each regressed metric, the new zeros and the churn.
    #[pyo3(signature = (*, max_queries = 5))]
    fn describe(&self, max_queries: usize) -> String {
        self.inner.describe(max_queries)
    }

    fn __repr__(&self) -> String {
        let regressed = self
            .inner
            .summary
            .column("regression")
            .ok()
            .and_then(|c| c.bool().ok().map(|b| b.sum().unwrap_or(0)))
            .unwrap_or(0);
        format!(
            "GateReport(passed={}, metrics={}, regressed={regressed}, losers={})",
            if self.inner.passed { "True" } else { "False" },
            self.inner.summary.height(),
            self.inner.losers.height()
        )
    }
}

/// The latency part of a ``GateReport``: both latencies, in the unit they were given, and
/// whether the candidate is slower than the tolerance allows. Before this release it was a
/// ``(candidate, baseline, regressed)`` tuple; unpacking and indexing it still work, with a
/// ``DeprecationWarning``.
#[pyclass(name = "LatencyCheck", module = "ragplay._ragplay", frozen)]
pub struct PyLatencyCheck {
    candidate: f64,
    baseline: f64,
    regressed: bool,
}

impl PyLatencyCheck {
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        deprecated(
            py,
            "GateReport.latency is a LatencyCheck; read .candidate, .baseline and .regressed",
        )?;
        Ok(vec![
            self.candidate.into_pyobject(py)?.into_any(),
            self.baseline.into_pyobject(py)?.into_any(),
            pyo3::types::PyBool::new(py, self.regressed)
                .to_owned()
                .into_any(),
        ])
    }
}

#[pymethods]
impl PyLatencyCheck {
    /// The candidate's latency.
    #[getter]
    fn candidate(&self) -> f64 {
        self.candidate
    }

    /// The baseline's latency.
    #[getter]
    fn baseline(&self) -> f64 {
        self.baseline
    }

    /// Whether the candidate is slower than the baseline by more than the tolerance.
    #[getter]
    fn regressed(&self) -> bool {
        self.regressed
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = pyo3::types::PyTuple::new(py, self.items(py)?)?;
        items.try_iter().map(|i| i.into_any())
    }

    fn __getitem__<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyAny>> {
        let items = self.items(py)?;
        let at = if index < 0 { index + 3 } else { index };
        usize::try_from(at)
            .ok()
            .and_then(|i| items.get(i).cloned())
            .ok_or_else(|| {
                pyo3::exceptions::PyIndexError::new_err("LatencyCheck index out of range")
            })
    }

    /// Equal to a `LatencyCheck` of the same values; equal to the tuple it was before this
    /// release with a `DeprecationWarning`.
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        if let Ok(o) = other.cast::<PyLatencyCheck>() {
            let o = o.get();
            return Ok((o.candidate, o.baseline, o.regressed)
                == (self.candidate, self.baseline, self.regressed));
        }
        match other.extract::<(f64, f64, bool)>() {
            Ok(t) => {
                self.items(py)?;
                Ok(t == (self.candidate, self.baseline, self.regressed))
            }
            Err(_) => Ok(false),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "LatencyCheck(candidate={}, baseline={}, regressed={})",
            self.candidate,
            self.baseline,
            if self.regressed { "True" } else { "False" }
        )
    }
}
