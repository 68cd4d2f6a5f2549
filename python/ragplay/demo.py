"""The demo: the lab on the demo collection (or any BEIR folder), end to end.

``ragplay demo`` sweeps :data:`EXPERIMENT` (fixed-size and Markdown-section chunks, with and
without the page title, searched by BM25, MiniLM and their RRF fusion) into a store, prints
the configurations ranked by the first metric with each one's Holm-corrected paired test
against the naive baseline (MiniLM over fixed 500-character chunks, the first value of every
axis), and says whether the best configuration is significantly better on every metric.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from . import _ragplay as _rs

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


def verdict(results: pl.DataFrame, metrics: list[str]) -> list[str]:
    """Lines that say how the best configuration (by the first metric) compares with the
    baseline on each metric: both means, the difference, the Holm-corrected p-value."""
    base = results.filter(pl.col("baseline")).row(0, named=True)
    best = results.sort(metrics[0], descending=True).row(0, named=True)
    lines = [f"best: {best['label']}", f"naive baseline: {base['label']}"]
    if best["config_id"] == base["config_id"]:
        return [*lines, "the baseline is the best configuration"]
    for m in metrics:
        delta, p = best[f"{m}_delta"], best[f"{m}_p_holm"]
        better = delta > 0 and bool(best[f"{m}_significant"])
        lines.append(
            f"{m}: {best[m]:.4f} against {base[m]:.4f} ({delta:+.4f}, p = {p:.4f} with Holm): "
            + ("significantly better" if better else "not significantly better")
        )
    return lines


def table(results: pl.DataFrame, metrics: list[str]) -> pl.DataFrame:
    """The ranked configurations: each metric with its Holm-corrected p, latency, build."""
    cols: list[str] = ["label"]
    for m in metrics:
        cols += [m, f"{m}_p_holm"]
    return results.sort(metrics[0], descending=True).select(
        *cols, "p50_ms", "index_s", "embedded_tokens"
    )


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
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        float_precision=4,
        fmt_str_lengths=80,
        tbl_width_chars=200,
        tbl_hide_dataframe_shape=True,
    ):
        out(str(table(result.results, metrics)))
    for line in verdict(result.results, metrics):
        out(line)
    out(
        f"{len(result.computed)} configurations computed, {len(result.reused)} read from the "
        f"store, in {took:.1f} s"
    )
    return result
