"""The contracts that ragplay's building blocks fulfil, as ``typing.Protocol`` classes.

A ``Retriever`` indexes a corpus table and searches a queries table, returning a run table
(``query_id``, ``doc_id``, ``score``, ``rank``). ``BM25`` and ``DenseIndex`` are retrievers;
any object with these members is one too (``isinstance(x, ragplay.Retriever)`` checks the
members, not the signatures), so the lab can take your own retriever beside ragplay's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, Union, runtime_checkable

import polars as pl

#: An id set: a sequence of str, a ``polars.Series`` of str, or a frame with an id column.
Ids = Union[Sequence[str], pl.Series, pl.DataFrame]


@runtime_checkable
class Retriever(Protocol):
    """Indexes a corpus, searches queries, and describes itself for the lab."""

    @property
    def name(self) -> str:
        """A short name (``"bm25"``, ``"dense"``), used as the run name in the lab."""
        ...

    def config(self) -> dict[str, Any]:
        """The configuration that defines the retriever besides its documents."""
        ...

    def index(self, corpus: pl.DataFrame, *, show_progress: bool | None = None) -> None:
        """Index a corpus table (``doc_id``, ``text``, optional ``title``), replacing what
        the index held."""
        ...

    def search(
        self,
        queries: pl.DataFrame,
        *,
        k: int = 100,
        allow: Ids | None = None,
        show_progress: bool | None = None,
    ) -> pl.DataFrame:
        """At most ``k`` documents per query (only those in ``allow`` when given), as a run
        table in run order."""
        ...
