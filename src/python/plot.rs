//! Bindings for charts: the `Chart` class (inline in Jupyter as SVG and PNG, saved as
//! either) and the functions that build one from the lab's tables.

use std::path::PathBuf;

use polars::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::args::{Frame, Runs};
use super::detach::detach;
use super::frame::PyDataFrame;
use crate::plot::{self, Chart, Marks};

/// A chart: shown inline in Jupyter (``_repr_svg_``, ``_repr_png_``), written with ``save``.
#[pyclass(name = "Chart", module = "ragplay", frozen)]
pub struct PyChart {
    pub inner: Chart,
}

#[pymethods]
impl PyChart {
    /// The title.
    #[getter]
    fn title(&self) -> &str {
        &self.inner.title
    }

    /// ``(width, height)`` in pixels.
    #[getter]
    fn size(&self) -> (u32, u32) {
        (self.inner.width, self.inner.height)
    }

    /// The same chart at another size (each side 200 to 4000 pixels).
    fn resize(&self, width: u32, height: u32) -> PyResult<PyChart> {
        let inner = self.inner.clone().with_size(width, height)?;
        Ok(PyChart { inner })
    }

    /// The chart as an SVG document.
    fn svg(&self, py: Python<'_>) -> PyResult<String> {
        let chart = self.inner.clone();
        detach(py, move |_| chart.to_svg())
    }

    /// The chart as PNG bytes.
    fn png<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let chart = self.inner.clone();
        let bytes = detach(py, move |_| chart.to_png())?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Write the chart to ``path``: SVG for a ``.svg`` name, PNG for ``.png``; atomically.
    ///
    /// Raises:
    ///     ConfigError: Another extension.
    ///     OSError: The file cannot be written.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let chart = self.inner.clone();
        detach(py, move |_| chart.save(&path))
    }

    /// The plotted points of a scatter chart, where the PNG draws them: ``label``, ``x``,
    /// ``y``, ``front`` (on the Pareto front), ``px``, ``py`` (pixel column and row). Empty
    /// for other charts.
    fn points(&self, py: Python<'_>) -> PyResult<PyDataFrame> {
        let chart = self.inner.clone();
        detach(py, move |_| {
            let Marks::Scatter(points) = &chart.marks else {
                return Ok(DataFrame::new(0, points_columns(&[], &[]))?);
            };
            let (_, at) = chart.to_rgb()?;
            Ok(DataFrame::new(points.len(), points_columns(points, &at))?)
        })
        .map(PyDataFrame)
    }

    /// What the chart draws, as a table: scatter ``label``, ``x``, ``y``, ``front``; bars
    /// ``label``, ``value`` (in drawing order); lines ``series``, ``x``, ``y``; heatmap ``row``,
    /// ``column``, ``value``; histogram ``series``, ``start``, ``end``, ``share``.
    fn data(&self) -> PyResult<PyDataFrame> {
        marks_frame(&self.inner.marks)
            .map(PyDataFrame)
            .map_err(PyErr::from)
    }

    fn _repr_svg_(&self, py: Python<'_>) -> PyResult<String> {
        self.svg(py)
    }

    fn _repr_png_<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.png(py)
    }

    fn __repr__(&self) -> String {
        let kind = match &self.inner.marks {
            Marks::Scatter(_) => "scatter",
            Marks::Bars(_) => "bars",
            Marks::Lines(_) => "lines",
            Marks::Heatmap { .. } => "heatmap",
            Marks::Histogram { .. } => "histogram",
        };
        format!(
            "Chart({:?}, {kind}, {}x{})",
            self.inner.title, self.inner.width, self.inner.height
        )
    }
}

fn marks_frame(marks: &Marks) -> crate::Result<DataFrame> {
    let str_col = |name: &str, v: Vec<&str>| Column::new(name.into(), v);
    let f64_col = |name: &str, v: Vec<f64>| Column::new(name.into(), v);
    let columns = match marks {
        Marks::Scatter(points) => {
            let mut c = points_columns(points, &[]);
            c.truncate(4);
            c
        }
        Marks::Bars(bars) => vec![
            str_col("label", bars.iter().map(|b| b.0.as_str()).collect()),
            f64_col("value", bars.iter().map(|b| b.1).collect()),
        ],
        Marks::Lines(series) => {
            let rows = || {
                series
                    .iter()
                    .flat_map(|s| s.values.iter().map(move |v| (s, v)))
            };
            vec![
                str_col("series", rows().map(|(s, _)| s.name.as_str()).collect()),
                f64_col("x", rows().map(|(_, v)| v.0).collect()),
                f64_col("y", rows().map(|(_, v)| v.1).collect()),
            ]
        }
        Marks::Heatmap {
            columns,
            rows,
            values,
        } => {
            let cells = || {
                values
                    .iter()
                    .enumerate()
                    .flat_map(move |(r, row)| row.iter().enumerate().map(move |(c, v)| (r, c, *v)))
            };
            vec![
                str_col("row", cells().map(|(r, _, _)| rows[r].as_str()).collect()),
                str_col(
                    "column",
                    cells().map(|(_, c, _)| columns[c].as_str()).collect(),
                ),
                Column::new(
                    "value".into(),
                    cells().map(|(_, _, v)| v).collect::<Vec<_>>(),
                ),
            ]
        }
        Marks::Histogram { edges, series } => {
            let rows = || {
                series
                    .iter()
                    .flat_map(|s| s.values.iter().enumerate().map(move |(b, v)| (s, b, v.1)))
            };
            vec![
                str_col("series", rows().map(|(s, _, _)| s.name.as_str()).collect()),
                f64_col("start", rows().map(|(_, b, _)| edges[b]).collect()),
                f64_col("end", rows().map(|(_, b, _)| edges[b + 1]).collect()),
                f64_col("share", rows().map(|(_, _, v)| v).collect()),
            ]
        }
    };
    crate::data::schema::frame(columns)
}

fn points_columns(points: &[plot::Point], at: &[(i32, i32)]) -> Vec<Column> {
    vec![
        Column::new(
            "label".into(),
            points.iter().map(|p| p.label.as_str()).collect::<Vec<_>>(),
        ),
        Column::new("x".into(), points.iter().map(|p| p.x).collect::<Vec<_>>()),
        Column::new("y".into(), points.iter().map(|p| p.y).collect::<Vec<_>>()),
        Column::new(
            "front".into(),
            points.iter().map(|p| p.front).collect::<Vec<_>>(),
        ),
        Column::new("px".into(), at.iter().map(|p| p.0).collect::<Vec<_>>()),
        Column::new("py".into(), at.iter().map(|p| p.1).collect::<Vec<_>>()),
    ]
}

/// Quality against cost per configuration, with the Pareto front marked: the configurations
/// that no other one beats on both (cost no higher and quality no lower, one strictly).
///
/// Args:
///     results: A results table (``SweepResult.results``, ``Store.results()``) or any table
///         with the three columns.
///     quality: The quality column, such as ``"mrr"`` (higher is better).
///     cost: The cost column, such as ``"p50_ms"``, ``"context_tokens"`` or
///         ``"cost_per_1k_queries_usd"`` (lower is better).
///     label: The column that names each point (front points are labelled).
///
/// Returns:
///     A ``Chart``; ``Chart.points()`` says where each point is drawn.
#[pyfunction]
#[pyo3(signature = (results, quality, *, cost = "p50_ms", label = "label"))]
pub fn pareto(results: Frame, quality: &str, cost: &str, label: &str) -> PyResult<PyChart> {
    let results = results.0;
    let inner = plot::pareto(&results, quality, cost, label)?;
    Ok(PyChart { inner })
}

/// Per-query wins and losses of one run against another: the difference of ``metric`` on
/// each query of the qrels (a query a run does not answer counts 0), sorted from the largest
/// gain to the largest loss.
///
/// Args:
///     candidate: The run under test.
///     baseline: The run it is compared with.
///     qrels: A qrels table.
///     metric: A metric name, as for ``evaluate``.
///     names: How the chart names the two runs (``("candidate", "baseline")``).
#[pyfunction]
#[pyo3(signature = (candidate, baseline, qrels, metric, *, names = ("candidate".to_owned(), "baseline".to_owned())))]
pub fn wins(
    py: Python<'_>,
    candidate: Frame,
    baseline: Frame,
    qrels: Frame,
    metric: String,
    names: (String, String),
) -> PyResult<PyChart> {
    let candidate = candidate.0;
    let baseline = baseline.0;
    let qrels = qrels.0;
    let inner = detach(py, move |cancel| {
        plot::wins(
            &candidate,
            &baseline,
            &qrels,
            &metric,
            (&names.0, &names.1),
            cancel,
        )
    })?;
    Ok(PyChart { inner })
}

/// A metric at several cutoffs, one line per run.
///
/// Args:
///     runs: A run table, a stacked table with a ``run`` column, or a dict of run name to run.
///     qrels: A qrels table.
///     metric: A metric family that takes a cutoff, such as ``"recall"`` or ``"ndcg"``.
///     ks: The cutoffs (``[1, 3, 5, 10, 20, 50, 100]``).
#[pyfunction]
#[pyo3(signature = (runs, qrels, metric, *, ks = vec![1, 3, 5, 10, 20, 50, 100]))]
pub fn metric_at_k(
    py: Python<'_>,
    runs: Runs,
    qrels: Frame,
    metric: String,
    ks: Vec<usize>,
) -> PyResult<PyChart> {
    let qrels = qrels.0;
    let inner = detach(py, move |cancel| {
        plot::metric_at_k(&runs.into_table()?, &qrels, &metric, &ks, cancel)
    })?;
    Ok(PyChart { inner })
}

/// A metric over two axes of a sweep: one cell per pair of values, showing the best value
/// among the configurations that have them.
///
/// Args:
///     results: A results table.
///     x: The column across (such as ``"chunking"``).
///     y: The column down (such as ``"retrievers"``).
///     value: The metric column.
#[pyfunction]
#[pyo3(signature = (results, x, y, value))]
pub fn heatmap(results: Frame, x: &str, y: &str, value: &str) -> PyResult<PyChart> {
    let results = results.0;
    let inner = plot::heatmap(&results, x, y, value)?;
    Ok(PyChart { inner })
}

/// The score distribution of a run: documents judged relevant and the others, each as the
/// share of its scores in each bin.
///
/// Args:
///     run: A run table.
///     qrels: A qrels table (relevance at least 1 is relevant).
///     bins: The number of equal-width bins.
#[pyfunction]
#[pyo3(signature = (run, qrels, *, bins = 30))]
pub fn score_histogram(run: Frame, qrels: Frame, bins: usize) -> PyResult<PyChart> {
    let run = run.0;
    let qrels = qrels.0;
    let inner = plot::score_histogram(&run, &qrels, bins)?;
    Ok(PyChart { inner })
}
