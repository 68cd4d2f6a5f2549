//! Bindings for the lab: baseline retrievers used by the demo.

use pyo3::prelude::*;
use pyo3_polars::PyDataFrame;

use super::errors::{detach, frame_arg};
use crate::lab;

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
    corpus: &Bound<'_, PyAny>,
    queries: &Bound<'_, PyAny>,
    k: usize,
) -> PyResult<PyDataFrame> {
    let corpus = frame_arg(corpus, "corpus")?;
    let queries = frame_arg(queries, "queries")?;
    detach(py, move |_| lab::overlap_run(&corpus, &queries, k)).map(PyDataFrame)
}
