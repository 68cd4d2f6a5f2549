//! Bindings for reading an experiment store: `Store`, the folder `sweep(..., store=PATH)`
//! writes, read through the core's store (`lab::store`), format check included.

use std::path::PathBuf;

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;

use super::args::json_to_py;
use super::frame::PyDataFrame;
use crate::lab::store::Store;

/// An experiment store on disk: every finished configuration of the sweeps run into it
/// (``configs/<id>.json``, ``runs/<id>.arrow``), the judgements, the last results table and
/// a manifest.
///
/// Args:
///     path: The store folder, as given to ``ragplay.sweep(store=...)``.
///
/// Raises:
///     FileNotFoundError: No store manifest in ``path``.
///     DataError: A manifest of another format, or of a later version than this ragplay reads.
#[pyclass(name = "Store", module = "ragplay._ragplay", frozen)]
pub struct PyStore {
    inner: Store,
}

#[pymethods]
impl PyStore {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        Ok(Self {
            inner: Store::existing(path)?,
        })
    }

    /// The store folder.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.dir().to_path_buf()
    }

    /// The manifest: format, ragplay version, machine, collection fingerprint, the last
    /// experiment, the baseline id and the finished configuration ids in order.
    #[getter]
    fn manifest<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let manifest = self.inner.manifest()?;
        let value = serde_json::to_value(manifest)
            .map_err(|e| crate::Error::config("store", e.to_string()))?;
        json_to_py(py, &value)
    }

    /// The last sweep's baseline configuration id.
    ///
    /// Raises:
    ///     FileNotFoundError: The sweep into this store did not finish.
    #[getter]
    fn baseline(&self) -> PyResult<String> {
        let manifest = self.inner.manifest()?;
        manifest.and_then(|m| m.baseline).ok_or_else(|| {
            pyo3::exceptions::PyFileNotFoundError::new_err(format!(
                "{}: the sweep into this store did not finish",
                self.inner.dir().display()
            ))
        })
    }

    /// One row per finished configuration: ``config_id``, ``label``, its measurements, and
    /// its settings as JSON (``config``).
    fn configurations(&self) -> PyResult<PyDataFrame> {
        Ok(PyDataFrame(self.inner.configurations()?))
    }

    /// Every finished configuration's run, lazily (``polars.scan_ipc`` over the run files):
    /// ``config_id``, ``query_id``, ``doc_id``, ``score``, ``rank``.
    fn runs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let files: Vec<PathBuf> = self.inner.run_files()?;
        py.import("polars")?.call_method1("scan_ipc", (files,))
    }

    /// One configuration's run (``query_id``, ``doc_id``, ``score``, ``rank``).
    ///
    /// Raises:
    ///     KeyError: No finished configuration has that id.
    fn run(&self, config_id: &str) -> PyResult<PyDataFrame> {
        if self.inner.record(config_id)?.is_none() {
            let known: Vec<String> = self.inner.records()?.into_iter().map(|r| r.id).collect();
            return Err(PyKeyError::new_err(format!(
                "configuration {config_id:?} is not in {} (finished: {})",
                self.inner.dir().display(),
                known.join(", ")
            )));
        }
        Ok(PyDataFrame(self.inner.run(config_id)?))
    }

    /// The baseline configuration's run.
    fn baseline_run(&self) -> PyResult<PyDataFrame> {
        self.run(&self.baseline()?)
    }

    /// The last sweep's results table (as ``SweepResult.results``).
    fn results(&self) -> PyResult<PyDataFrame> {
        Ok(PyDataFrame(self.inner.results()?))
    }

    /// Per configuration and stage latency (as ``SweepResult.latency``).
    fn latency(&self) -> PyResult<PyDataFrame> {
        Ok(PyDataFrame(self.inner.latency()?))
    }

    /// The judgements the runs were evaluated against.
    fn qrels(&self) -> PyResult<PyDataFrame> {
        Ok(PyDataFrame(self.inner.read_table("qrels")?))
    }

    fn __repr__(&self) -> PyResult<String> {
        let n = self.inner.records()?.len();
        Ok(format!(
            "Store({:?}, configurations={n})",
            self.inner.dir().display().to_string()
        ))
    }
}
