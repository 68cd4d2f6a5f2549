//! Bindings for sweeps: `Experiment` (a sweep description that round-trips through dicts
//! and TOML), `sweep` and its `SweepResult`.

use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::args::{type_name, Opt};
use super::data::PyCollection;
use super::detach::{detach_with_progress, progress};
use super::embed::{cache, packaged_model_paths, Cache};
use super::frame::PyDataFrame;
use super::llm::packaged_llm_paths;
use crate::lab::spec::{Experiment, Mode};
use crate::lab::store::Store;
use crate::lab::SweepResult;

/// A sweep description: named retrievers, the axes of the grid, and how the sweep runs.
///
/// The description is a dict with the keys of an experiment TOML file: ``retrievers``
/// (name → ``{"kind": "bm25", "k1": …}`` or ``{"kind": "dense", "model": …}``), ``grid``
/// (``retrievers``: combinations of names; ``chunking``: ``{"strategy": "none"}`` or chunker
/// settings; ``enrich``: templates or ``"none"``; ``fusion``; ``mmr``: lambdas or ``"none"``;
/// ``rerank``: ``{"model": …}`` or ``"none"``; ``depth``), and optionally ``metrics``, ``k``,
/// ``mode``, ``baseline``, ``budget_s``, ``context_k``, ``seed``, ``n_resamples``,
/// ``prices`` (dollars per million tokens: ``embed``, ``rerank``, ``generate``) and
/// ``collection`` (``path``, ``split``: what ``ragplay run`` loads). The first value of each
/// axis makes the baseline configuration.
///
/// Args:
///     description: The description as a dict (``None`` and ``"none"`` both switch a stage off).
///
/// Raises:
///     ConfigError: An unknown key, retriever kind or name, or a value out of range.
#[pyclass(name = "Experiment", module = "ragplay._ragplay", frozen, eq)]
#[derive(PartialEq)]
pub struct PyExperiment {
    pub(crate) inner: Experiment,
}

fn json_module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("json")
}

impl PyExperiment {
    /// An experiment from its dict description.
    pub(super) fn from_dict(description: &Bound<'_, PyDict>) -> PyResult<Experiment> {
        let py = description.py();
        // Paths (a model folder) are written as strings.
        let kwargs = PyDict::new(py);
        kwargs.set_item("default", py.import("os")?.getattr("fspath")?)?;
        let text: String = json_module(py)?
            .call_method("dumps", (description,), Some(&kwargs))?
            .extract()?;
        Ok(Experiment::from_json(&text)?)
    }
}

#[pymethods]
impl PyExperiment {
    #[new]
    fn new(description: &Bound<'_, PyDict>) -> PyResult<Self> {
        Ok(Self {
            inner: Self::from_dict(description)?,
        })
    }

    /// Parse an experiment from TOML text.
    #[staticmethod]
    fn from_toml(text: &str) -> PyResult<Self> {
        Ok(Self {
            inner: Experiment::from_toml(text)?,
        })
    }

    /// Read an experiment TOML file.
    #[staticmethod]
    fn read(path: PathBuf) -> PyResult<Self> {
        let text = std::fs::read_to_string(&path).map_err(|e| crate::Error::io(&path, e))?;
        Self::from_toml(&text)
    }

    /// The description as TOML text (``Experiment.from_toml`` reads it back equal).
    fn to_toml(&self) -> PyResult<String> {
        Ok(self.inner.to_toml()?)
    }

    /// The description as a dict, every default filled in.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_module(py)?.call_method1("loads", (self.inner.to_json().to_string(),))
    }

    /// The configurations a ``grid`` or ``one_at_a_time`` sweep runs, in order: ``config_id``,
    /// ``label``; a ``staged`` sweep starts with the first and chooses the rest as it goes.
    fn configurations(&self) -> PyResult<PyDataFrame> {
        let e = &self.inner;
        let mut ids: Vec<String> = Vec::new();
        let mut labels: Vec<String> = Vec::new();
        for p in e.points() {
            let c = e.config_at(&p);
            let id = e.config_id(&c);
            if !ids.contains(&id) {
                ids.push(id);
                labels.push(c.label());
            }
        }
        let frame = polars::prelude::DataFrame::new_infer_height(vec![
            polars::prelude::Column::new("config_id".into(), ids),
            polars::prelude::Column::new("label".into(), labels),
        ])
        .map_err(crate::Error::from)?;
        Ok(PyDataFrame(frame))
    }

    fn __repr__(&self) -> String {
        let lens = self.inner.axis_lengths();
        format!(
            "Experiment(mode={:?}, retrievers={:?}, axes={:?}, metrics={:?})",
            self.inner.mode.name(),
            self.inner.retrievers.keys().collect::<Vec<_>>(),
            lens,
            self.inner.metrics
        )
    }
}

/// Run a sweep: every configuration of ``experiment`` on ``collection``, with shared work
/// done once.
///
/// Each distinct index (retriever × chunking × template) is built once and reused by every
/// configuration that searches it; dense indexes embed through the store's embedding cache.
/// Every configuration runs as a ``Pipeline``, all queries at once for its run; then every
/// configuration computed by the call is timed under the same conditions (queries one at a
/// time, after a warm-up, in rounds that visit the configurations in a shuffled order; see
/// ``SweepResult.results``). With ``store``, each finished configuration is written at once
/// (its run as an Arrow IPC file, its record as JSON) and again with its latency, and a later
/// call with the same store reads finished configurations back instead of recomputing them:
/// a sweep killed at any moment resumes where it stopped. Ctrl-C stops within a query or
/// batch and keeps what finished.
///
/// A configuration with a language model (the grid's ``llm`` axis; ``llms``, ``prompts`` and
/// ``generation`` in the experiment) answers the first ``generation.max_queries`` queries from
/// the run of its retrieval configuration, which is searched and timed once for all the
/// configurations that share it. Its answers are in ``SweepResult.answers``, its tokens and
/// cost in the results table. With ``store``, answers go through the response cache
/// ``STORE/responses``: an answer whose prompt and settings were asked before is not asked
/// again.
///
/// Args:
///     collection: The ``Collection`` to run on.
///     experiment: An ``Experiment`` or its dict description.
///     store: A folder to keep the sweep in (created when missing), or ``None``.
///     cache: An ``EmbeddingCache`` (or a folder for one) the dense indexes embed through;
///         ``None``: the store's own (``STORE/embeddings``), or none without a store.
///     metrics: Override the experiment's metrics.
///     mode: Override the experiment's mode (``"grid"``, ``"one_at_a_time"``, ``"staged"``).
///     baseline: Override the baseline (a configuration id or label).
///     budget_s: Start no configuration after this many seconds.
///     show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.
///
/// Returns:
///     A ``SweepResult``.
#[pyfunction]
#[pyo3(
    signature = (collection, experiment, *, store = None, cache = None, metrics = None, mode = None, baseline = None, budget_s = None, show_progress = None),
    text_signature = "(collection, experiment, *, store=None, cache=None, metrics=None, mode=None, baseline=None, budget_s=None, show_progress=None)"
)]
#[allow(clippy::too_many_arguments)]
pub fn sweep(
    py: Python<'_>,
    collection: &Bound<'_, PyCollection>,
    experiment: ExperimentArg,
    store: Option<PathBuf>,
    cache: Option<Cache>,
    metrics: Option<Vec<String>>,
    mode: Option<Opt<Mode>>,
    baseline: Option<String>,
    budget_s: Option<f64>,
    show_progress: Option<bool>,
) -> PyResult<PySweepResult> {
    let mut e = experiment.0;
    if let Some(m) = metrics {
        e.metrics = m;
    }
    if let Some(m) = mode {
        e.mode = m.0;
    }
    if baseline.is_some() {
        e.baseline = baseline;
    }
    if budget_s.is_some() {
        e.budget_s = budget_s;
    }
    e.validate()?;
    let options = crate::lab::SweepOptions {
        store: store.map(Store::open).transpose()?,
        cache: self::cache(cache),
        search_paths: [packaged_model_paths(py)?, packaged_llm_paths(py)?].concat(),
    };
    let beir = collection.get().inner.clone();
    let desc = progress(py, show_progress, "sweep")?;
    detach_with_progress(py, desc, move |cancel| {
        crate::lab::sweep(&beir, &e, &options, cancel)
    })
    .map(|inner| PySweepResult { inner })
}

/// An experiment argument: an `Experiment`, or its dict description.
pub struct ExperimentArg(pub Experiment);

impl<'a, 'py> FromPyObject<'a, 'py> for ExperimentArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(x) = obj.cast::<PyExperiment>() {
            return Ok(ExperimentArg(x.get().inner.clone()));
        }
        if let Ok(d) = obj.cast::<PyDict>() {
            return Ok(ExperimentArg(PyExperiment::from_dict(&d)?));
        }
        Err(PyTypeError::new_err(format!(
            "expected an Experiment or a dict, got {}",
            type_name(&obj)
        )))
    }
}

/// What ``sweep`` returns.
#[pyclass(name = "SweepResult", module = "ragplay._ragplay", frozen)]
pub struct PySweepResult {
    inner: SweepResult,
}

#[pymethods]
impl PySweepResult {
    /// The baseline configuration's id.
    #[getter]
    fn baseline(&self) -> String {
        self.inner.baseline.clone()
    }

    /// One row per configuration, best first by the first metric: ``config_id``, ``label``,
    /// ``baseline``, the settings (``retrievers``, ``chunking``, ``enrich``, ``fusion``,
    /// ``mmr``, ``rerank``, ``depth``); per metric its mean and, after the metric's name and
    /// ``_``, ``ci_low`` / ``ci_high`` (95% bootstrap interval), ``delta`` against the
    /// baseline, ``p_value`` (paired randomization test), ``p_adjusted`` (Holm over every
    /// configuration and metric) and ``significant`` (``p_adjusted`` < 0.05), the column names
    /// of ``compare``; then the latency of a query run alone through all stages: ``p25_ms``,
    /// ``p50_ms``, ``p75_ms``, ``p95_ms``, ``p99_ms`` (measured after every index is built,
    /// each configuration warmed up, each query's time the median of up to 3 rounds, the
    /// rounds in a shuffled order: the interquartile range ``p75_ms - p25_ms`` is the spread
    /// that goes with ``p50_ms``); ``index_s``, ``search_s`` (all queries at once),
    /// ``peak_rss_mb``, ``embedded_tokens``, ``query_tokens``, ``reranked_tokens``,
    /// ``context_tokens`` (per query; re-ranked and context tokens estimated at 4 characters a
    /// token), ``index_cost_usd`` and ``cost_per_1k_queries_usd``.
    #[getter]
    fn results(&self) -> PyDataFrame {
        PyDataFrame(self.inner.results.clone())
    }

    /// Every configuration's run, stacked (``run`` is the configuration id; no ``rank``
    /// column), ready for ``evaluate`` and ``compare``.
    #[getter]
    fn runs(&self) -> PyDataFrame {
        PyDataFrame(self.inner.runs.clone())
    }

    /// Per configuration and stage: ``config_id``, ``stage``, ``repeats`` (the rounds each
    /// query's time is the median of), ``mean_ms``, ``p25_ms``, ``p50_ms``, ``p75_ms``,
    /// ``p95_ms``, ``p99_ms``.
    #[getter]
    fn latency(&self) -> PyDataFrame {
        PyDataFrame(self.inner.latency.clone())
    }

    /// One row per index this call built: ``retriever``, ``chunking``, ``enrich``,
    /// ``build_s``, ``texts_embedded``, ``tokens_embedded``.
    #[getter]
    fn work(&self) -> PyDataFrame {
        PyDataFrame(self.inner.work.clone())
    }

    /// Ids of the configurations this call computed.
    #[getter]
    fn computed(&self) -> Vec<String> {
        self.inner.computed.clone()
    }

    /// Ids of the configurations read back from the store.
    #[getter]
    fn reused(&self) -> Vec<String> {
        self.inner.reused.clone()
    }

    /// Ids of the configurations not started because the budget was spent.
    #[getter]
    fn skipped(&self) -> Vec<String> {
        self.inner.skipped.clone()
    }

    /// The answers of one configuration that answers: one row per query asked, as
    /// ``ragplay.generate`` returns them.
    fn answers(&self, config_id: &str) -> PyResult<PyDataFrame> {
        match self.inner.answers(config_id) {
            Some(a) => Ok(PyDataFrame(a.clone())),
            None => Err(crate::Error::UnknownId {
                kind: "configuration with answers",
                id: config_id.to_owned(),
                location: "this sweep".into(),
            }
            .into()),
        }
    }

    /// The run of one configuration.
    fn run(&self, config_id: &str) -> PyResult<PyDataFrame> {
        match self.inner.run(config_id) {
            Some(run) => Ok(PyDataFrame(run.clone())),
            None => Err(crate::Error::UnknownId {
                kind: "configuration",
                id: config_id.to_owned(),
                location: "this sweep".into(),
            }
            .into()),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "SweepResult(configurations={}, computed={}, reused={}, skipped={}, baseline={:?})",
            self.inner.results.height(),
            self.inner.computed.len(),
            self.inner.reused.len(),
            self.inner.skipped.len(),
            self.inner.baseline
        )
    }
}
