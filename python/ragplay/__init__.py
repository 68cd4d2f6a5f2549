"""ragplay: a lab for measuring retrieval pipelines with numbers.

Every table is a ``polars.DataFrame``; the column names are in ``ragplay.COLUMNS``. A call
that returns one table returns a DataFrame; one that returns several returns a named result
object whose attributes are DataFrames (``Evaluation``, ``Collection``). Long calls take
``show_progress`` (``None``: a bar in notebooks and terminals) and stop on Ctrl-C.
"""

from __future__ import annotations

from ._ragplay import (
    BM25,
    COLUMNS,
    OPTIONS,
    Analyzer,
    CacheStats,
    Collection,
    DenseIndex,
    EmbeddingCache,
    Encoder,
    Evaluation,
    FusionTuning,
    __version__,
    compare,
    compare_per_query,
    evaluate,
    exact_search,
    fuse,
    load_beir,
    metrics,
    mmr,
    optimize_fusion,
    overlap_run,
    rank_run,
    read_beir_qrels,
    read_trec_qrels,
    read_trec_run,
    sample_collection,
    stack_runs,
    write_trec_qrels,
    write_trec_run,
)
from .exceptions import ConfigError, DataError, ModelError, RagplayError, TruncationWarning
from .protocols import Retriever

__all__ = [
    "BM25",
    "COLUMNS",
    "OPTIONS",
    "Analyzer",
    "CacheStats",
    "Collection",
    "ConfigError",
    "DataError",
    "DenseIndex",
    "EmbeddingCache",
    "Encoder",
    "Evaluation",
    "FusionTuning",
    "ModelError",
    "RagplayError",
    "Retriever",
    "TruncationWarning",
    "__version__",
    "compare",
    "compare_per_query",
    "evaluate",
    "exact_search",
    "fuse",
    "load_beir",
    "metrics",
    "mmr",
    "optimize_fusion",
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
