//! `polars.DataFrame` <-> `polars::DataFrame` through the Arrow PyCapsule interface
//! (<https://arrow.apache.org/docs/format/CDataInterface/PyCapsuleInterface.html>).
//!
//! Each column crosses as an Arrow C stream of its chunks: Python polars exports a Series
//! with `Series.__arrow_c_stream__()` and imports one with `polars.Series(obj)` when `obj` has
//! that method. Buffers are shared, not copied, in both directions (the C data interface hands
//! over ownership with a release callback). Only the public interface of Python polars is used,
//! and the core's polars build needs no Python support, so `cargo test` and the extension
//! share every compiled polars crate.

use std::ffi::CStr;
use std::sync::Mutex;

use polars::prelude::{CompatLevel, DataFrame, IntoColumn, Series};
use polars_arrow::ffi::{self, ArrowArrayStream, ArrowArrayStreamReader};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyList};

const STREAM: &CStr = c"arrow_array_stream";

/// A `polars::DataFrame` returned to Python as a `polars.DataFrame`.
pub struct PyDataFrame(pub DataFrame);

/// A `polars.DataFrame` (the caller has checked the type) read column by column.
pub fn import_frame(frame: &Bound<'_, PyAny>) -> PyResult<DataFrame> {
    let columns = frame.call_method0("get_columns")?;
    let mut out = Vec::new();
    for column in columns.cast::<PyList>()?.iter() {
        out.push(import_series(&column)?.into_column());
    }
    let height = out.first().map_or(0, |c| c.len());
    DataFrame::new(height, out).map_err(|e| PyValueError::new_err(format!("polars.DataFrame: {e}")))
}

impl<'py> IntoPyObject<'py> for PyDataFrame {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let polars = py.import("polars")?;
        let series_cls = polars.getattr("Series")?;
        let series = PyList::empty(py);
        for column in self.0.columns() {
            let stream = ColumnStream::new(column.as_materialized_series().clone());
            series.append(series_cls.call1((Bound::new(py, stream)?,))?)?;
        }
        polars.getattr("DataFrame")?.call1((series,))
    }
}

/// A `polars.Series` read through its Arrow C stream, keeping its name.
fn import_series(series: &Bound<'_, PyAny>) -> PyResult<Series> {
    let name: String = series.getattr("name")?.extract()?;
    let capsule = series.call_method1("__arrow_c_stream__", (series.py().None(),))?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let pointer = capsule.pointer_checked(Some(STREAM))?;
    // SAFETY: a capsule named "arrow_array_stream" holds an `ArrowArrayStream`; taking it leaves
    // a released (empty) stream behind, which is what the protocol asks of a consumer.
    let stream = unsafe {
        std::ptr::replace(
            pointer.as_ptr().cast::<ArrowArrayStream>(),
            ArrowArrayStream::empty(),
        )
    };
    let failed = |e: polars::prelude::PolarsError| {
        PyValueError::new_err(format!(
            "column {name:?}: cannot import its Arrow data: {e}"
        ))
    };
    // SAFETY: the stream came from the producer through the capsule protocol above.
    let mut reader =
        unsafe { ArrowArrayStreamReader::try_new(Box::new(stream)) }.map_err(failed)?;
    let field = reader.field().clone();
    let mut chunks = Vec::new();
    // SAFETY: as above; each array is owned by the reader's caller once returned.
    while let Some(array) = unsafe { reader.next() } {
        chunks.push(array.map_err(failed)?);
    }
    let series = Series::try_from((&field, chunks)).map_err(failed)?;
    Ok(series.with_name(name.into()))
}

/// One column as an object with `__arrow_c_stream__`, for `polars.Series(obj)`.
#[pyclass(module = "ragplay._ragplay", frozen)]
struct ColumnStream {
    series: Mutex<Option<Series>>,
}

impl ColumnStream {
    fn new(series: Series) -> Self {
        ColumnStream {
            series: Mutex::new(Some(series)),
        }
    }
}

#[pymethods]
impl ColumnStream {
    /// The column's chunks as an Arrow C stream (once: the stream owns what it hands over).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let series = self
            .series
            .lock()
            .map_err(|_| PyValueError::new_err("column stream poisoned"))?
            .take()
            .ok_or_else(|| PyValueError::new_err("the column stream was already consumed"))?;
        let compat = CompatLevel::newest();
        let field = series.field().to_arrow(compat);
        let chunks = (0..series.n_chunks()).map(move |i| Ok(series.to_arrow(i, compat)));
        let stream = ffi::export_iterator(Box::new(chunks), field);
        PyCapsule::new_with_value(py, stream, STREAM)
    }
}
