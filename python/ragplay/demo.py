"""The demo: the lab on the demo collection (or any BEIR folder), end to end.

``ragplay demo`` sweeps :data:`EXPERIMENT` (fixed-size and Markdown-section chunks, with and
without the page title, searched by BM25, MiniLM and their RRF fusion) into a store, prints
the configurations ranked by the first metric with each one's Holm-corrected paired test
against the naive baseline (MiniLM over fixed 500-character chunks, the first value of every
axis), says whether the best configuration is significantly better on every metric, and
writes the report (``ragplay.report``: the table and the charts) into ``STORE/report``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _ragplay as _rs
from . import report

#: The demo's experiment: the first value of every axis makes the naive baseline.
EXPERIMENT: dict[str, Any] = {
    "metrics": ["mrr", "recall@5", "ndcg@10"],
    "mode": "grid",
    "k": 100,
    "retrievers": {
        "bm25": {"kind": "bm25"},
        "minilm": {"kind": "dense", "model": "sentence-transformers/all-MiniLM-L6-v2"},
    },
    "grid": {
        "retrievers": ["minilm", "bm25", ["bm25", "minilm"]],
        "chunking": [
            {"strategy": "fixed", "size": 500, "unit": "chars"},
            {"strategy": "markdown", "size": 1000},
        ],
        "enrich": ["none", "{title}\n\n{text}"],
    },
}


def run(
    data: str | Path | None = None,
    *,
    store: str | Path,
    split: str = "test",
    out: Callable[[str], None] = print,
) -> _rs.SweepResult:
    """Run the demo sweep into ``store`` and print what it found with ``out``."""
    if data is None:
        collection = _rs.demo_collection()
        source = "the demo collection (the Cairn home server manual)"
    else:
        collection = _rs.load_beir(data, split=split)
        source = str(data)
    experiment = _rs.Experiment(EXPERIMENT)
    metrics = list(EXPERIMENT["metrics"])
    out(f"ragplay {_rs.__version__} demo on {source}: {collection!r}")
    out(f"{len(experiment.configurations())} configurations into {store}")
    start = time.perf_counter()
    result = _rs.sweep(collection, experiment, store=store)
    took = time.perf_counter() - start
    out(report.text(report.ranked(result.results, metrics)))
    out(report.LATENCY_NOTE)
    for line in report.verdict(result.results, metrics):
        out(line)
    out(
        f"{len(result.computed)} configurations computed, {len(result.reused)} read from the "
        f"store, in {took:.1f} s"
    )
    index = report.write(store)
    out(f"report: {index} (charts beside it, the Pareto chart in {index.parent / 'pareto.png'})")
    return result
