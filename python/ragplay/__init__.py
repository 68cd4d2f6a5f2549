"""ragplay: a lab for measuring retrieval pipelines with numbers.

Every table is a ``polars.DataFrame``; the column names are in ``ragplay.COLUMNS``.
"""

from __future__ import annotations

from ._ragplay import (
    BM25,
    COLUMNS,
    Analyzer,
    Collection,
    EmbeddingCache,
    Encoder,
    Evaluation,
    __version__,
    compare,
    compare_per_query,
    evaluate,
    exact_search,
    load_beir,
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

__all__ = [
    "BM25",
    "COLUMNS",
    "Analyzer",
    "Collection",
    "ConfigError",
    "DataError",
    "EmbeddingCache",
    "Encoder",
    "Evaluation",
    "ModelError",
    "RagplayError",
    "TruncationWarning",
    "__version__",
    "compare",
    "compare_per_query",
    "evaluate",
    "exact_search",
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
