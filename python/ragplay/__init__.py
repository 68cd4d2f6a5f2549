"""ragplay: a lab for measuring retrieval pipelines with numbers.

Every table is a ``polars.DataFrame``; the column names are in ``ragplay.COLUMNS``.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from ._ragplay import (
    COLUMNS,
    Collection,
    Evaluation,
    __version__,
    compare,
    compare_per_query,
    evaluate,
    load_beir,
    overlap_run,
    rank_run,
    read_beir_qrels,
    read_trec_qrels,
    read_trec_run,
    sample_collection,
    write_trec_qrels,
    write_trec_run,
)
from .exceptions import ConfigError, DataError, ModelError, RagplayError

__all__ = [
    "COLUMNS",
    "Collection",
    "ConfigError",
    "DataError",
    "Evaluation",
    "ModelError",
    "RagplayError",
    "__version__",
    "compare",
    "compare_per_query",
    "evaluate",
    "load_beir",
    "overlap_run",
    "rank_run",
    "read_beir_qrels",
    "read_trec_qrels",
    "read_trec_run",
    "sample_collection",
    "stack_runs",
    "write_trec_qrels",
    "write_trec_run",
]


def stack_runs(runs: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Stack named run tables into one multi-run table with a ``run`` column.

    The inputs are not modified. The result is what ``evaluate`` and ``compare`` take to
    evaluate several runs at once.

    Args:
        runs: Run name to run table (``query_id``, ``doc_id``, ``score`` and optionally
            ``rank``).

    Returns:
        One table with ``run`` first, then the run columns.
    """
    if not isinstance(runs, Mapping) or not runs:
        raise ConfigError("stack_runs needs a non-empty mapping of run name to run table")
    frames = []
    for name, frame in runs.items():
        if not isinstance(frame, pl.DataFrame):
            raise TypeError(f"run {name!r} must be a polars.DataFrame, got {type(frame).__name__}")
        if COLUMNS["RUN"] in frame.columns:
            raise DataError(f"run {name!r} already has a {COLUMNS['RUN']!r} column")
        cols = [c for c in (COLUMNS["QUERY_ID"], COLUMNS["DOC_ID"], COLUMNS["SCORE"]) if c in frame.columns]
        frames.append(
            frame.select(cols).with_columns(pl.col(COLUMNS["SCORE"]).cast(pl.Float64)).select(
                pl.lit(str(name)).alias(COLUMNS["RUN"]), *cols
            )
        )
    return pl.concat(frames, how="vertical")
