from collections.abc import Iterator
from os import PathLike
from typing import Final, final

import polars as pl

__version__: Final[str]
COLUMNS: Final[dict[str, str]]

@final
class Collection:
    @property
    def corpus(self) -> pl.DataFrame: ...
    @property
    def queries(self) -> pl.DataFrame: ...
    @property
    def qrels(self) -> pl.DataFrame: ...
    def __iter__(self) -> Iterator[pl.DataFrame]: ...
    def __len__(self) -> int: ...

@final
class Evaluation:
    @property
    def per_query(self) -> pl.DataFrame: ...
    @property
    def summary(self) -> pl.DataFrame: ...
    def __iter__(self) -> Iterator[pl.DataFrame]: ...
    def __len__(self) -> int: ...

def load_beir(path: str | PathLike[str], *, split: str = "test") -> Collection: ...
def sample_collection() -> Collection: ...
def read_trec_run(path: str | PathLike[str]) -> pl.DataFrame: ...
def write_trec_run(run: pl.DataFrame, path: str | PathLike[str], *, tag: str = "ragplay") -> None: ...
def read_trec_qrels(path: str | PathLike[str]) -> pl.DataFrame: ...
def write_trec_qrels(qrels: pl.DataFrame, path: str | PathLike[str]) -> None: ...
def read_beir_qrels(path: str | PathLike[str]) -> pl.DataFrame: ...
def rank_run(run: pl.DataFrame) -> pl.DataFrame: ...
def evaluate(
    run: pl.DataFrame,
    qrels: pl.DataFrame,
    metrics: list[str],
    *,
    relevance_threshold: int = 1,
    include_missing: bool = False,
    name: str = "run",
) -> Evaluation: ...
def compare(
    run: pl.DataFrame,
    qrels: pl.DataFrame,
    metrics: list[str],
    *,
    baseline: str | None = None,
    test: str = "randomization",
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 42,
    correction: str = "holm",
    relevance_threshold: int = 1,
) -> pl.DataFrame: ...
def compare_per_query(
    per_query: pl.DataFrame,
    metrics: list[str],
    *,
    baseline: str | None = None,
    test: str = "randomization",
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 42,
    correction: str = "holm",
) -> pl.DataFrame: ...
def overlap_run(corpus: pl.DataFrame, queries: pl.DataFrame, *, k: int = 100) -> pl.DataFrame: ...
