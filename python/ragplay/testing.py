"""Assertions for test suites: fail a pytest run when a change makes retrieval worse.

``assert_no_regression(candidate, baseline, qrels, ["ndcg@10"])`` runs ``ragplay.check`` and
raises ``AssertionError`` with its account (the metrics, the test, the worst queries) when
the gate fails.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ._ragplay import GateReport, check

__all__ = ["assert_no_regression"]


def assert_no_regression(
    candidate: pl.DataFrame,
    baseline: pl.DataFrame,
    qrels: pl.DataFrame,
    metrics: list[str],
    *,
    max_queries: int = 5,
    **options: Any,
) -> GateReport:
    """Raise ``AssertionError`` when ``candidate`` is significantly worse than ``baseline``.

    Args:
        candidate: The run under test.
        baseline: The run it must not be worse than.
        qrels: A qrels table.
        metrics: Metric names, as for ``ragplay.evaluate``.
        max_queries: The worst queries named per regressed metric.
        **options: Keyword options of ``ragplay.check`` (``alpha``, ``test``, ``latency``...).

    Returns:
        The ``GateReport``, when the gate passes.
    """
    options.setdefault("show_progress", False)
    report = check(candidate, baseline, qrels, metrics, **options)
    if not report.passed:
        raise AssertionError(report.describe(max_queries=max_queries))
    return report
