"""Charts of the lab's tables, drawn in Rust (plotters) as SVG and PNG.

Each function returns a :class:`ragplay.Chart`, which Jupyter shows inline and ``save`` writes
as ``.svg`` or ``.png``:

* :func:`pareto`: quality against latency or cost per configuration, the Pareto front marked.
* :func:`wins`: per-query wins and losses of one run against another.
* :func:`metric_at_k`: a metric at several cutoffs, one line per run.
* :func:`heatmap`: a metric over two axes of a sweep.
* :func:`score_histogram`: score distributions of relevant and other documents.
"""

from ._ragplay import Chart, heatmap, metric_at_k, pareto, score_histogram, wins

__all__ = ["Chart", "heatmap", "metric_at_k", "pareto", "score_histogram", "wins"]
