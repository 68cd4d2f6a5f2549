"""Span qrels to chunk qrels: ragplay.chunk_qrels against a pure-Python reference (overlaps
counted as sets of Python string positions, which are ragplay's character offsets) on random
spans over the chunks of every strategy, hand-computed cases, bad input, and chunk qrels
evaluating a chunk run on SciFact."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ragplay

STRATEGIES = ["fixed", "sentence", "recursive", "markdown"]
PIECES = st.sampled_from(
    [
        "word ",
        "e\u0301 ",
        "👩‍👩‍👧 ",
        "日本語の文章です。",
        "A sentence ends here. ",
        "\n\n",
        "# Heading\n",
        "x" * 17,
    ]
)
TEXTS = st.lists(PIECES, min_size=1, max_size=30).map("".join)


def reference(
    span_qrels: pl.DataFrame, chunks: pl.DataFrame, corpus: pl.DataFrame, min_overlap: float
) -> list[tuple[str, str, int]]:
    """The documented rule, on Python string positions."""
    texts = dict(zip(corpus["doc_id"], corpus["text"]))
    for row in chunks.iter_rows(named=True):  # the chunk offsets are Python's
        assert texts[row["doc_id"]][row["start"] : row["end"]] == row["text"]
    queries = list(dict.fromkeys(span_qrels["query_id"]))
    best: dict[tuple[int, int], int] = {}
    for q, d, s, e, rel in span_qrels.iter_rows():
        span = set(range(s, e))
        for i, c in enumerate(chunks.iter_rows(named=True)):
            if c["doc_id"] != d:
                continue
            shared = len(span & set(range(c["start"], c["end"])))
            shorter = min(e - s, c["end"] - c["start"])
            if shared > 0 and shared >= min_overlap * shorter:
                key = (queries.index(q), i)
                best[key] = max(best.get(key, rel), rel)
    ids = chunks["chunk_id"].to_list()
    return [(queries[q], ids[i], r) for (q, i), r in sorted(best.items())]


def rows(qrels: pl.DataFrame) -> list[tuple[str, str, int]]:
    assert qrels.schema == {"query_id": pl.String, "doc_id": pl.String, "relevance": pl.Int32}
    return list(qrels.iter_rows())


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    texts=st.lists(TEXTS, min_size=1, max_size=3),
    strategy=st.sampled_from(STRATEGIES),
    size=st.integers(10, 60),
    min_overlap=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
    data=st.data(),
)
def test_chunk_qrels_equal_the_reference(texts, strategy, size, min_overlap, data):
    corpus = pl.DataFrame({"doc_id": [f"d{i}" for i in range(len(texts))], "text": texts})
    chunks = ragplay.chunk(corpus, strategy=strategy, size=size, show_progress=False)
    spans = []
    for _ in range(data.draw(st.integers(0, 8))):
        doc = data.draw(st.integers(0, len(texts) - 1))
        length = len(texts[doc])
        start = data.draw(st.integers(0, length - 1))
        end = data.draw(st.integers(start + 1, length))
        query = data.draw(st.sampled_from(["q1", "q2", "q3"]))
        spans.append((query, f"d{doc}", start, end, data.draw(st.integers(0, 3))))
    span_qrels = pl.DataFrame(
        spans,
        schema={
            "query_id": pl.String,
            "doc_id": pl.String,
            "start": pl.Int64,
            "end": pl.Int64,
            "relevance": pl.Int32,
        },
        orient="row",
    )
    got = ragplay.chunk_qrels(span_qrels, chunks, corpus, min_overlap=min_overlap)
    assert rows(got) == reference(span_qrels, chunks, corpus, min_overlap)


def small() -> tuple[pl.DataFrame, pl.DataFrame]:
    corpus = pl.DataFrame({"doc_id": ["a", "b"], "text": ["aaaa bbbb cccc dddd", "éé ee"]})
    chunks = ragplay.chunk(corpus, strategy="fixed", size=10, show_progress=False)
    assert chunks.select("chunk_id", "start", "end").rows() == [
        ("a#0", 0, 9),
        ("a#1", 10, 19),
        ("b#0", 0, 5),
    ]
    return corpus, chunks


def spans(*rows: tuple[str, str, int, int, int]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["query_id", "doc_id", "start", "end", "relevance"], orient="row"
    )


def test_hand_computed_cases():
    corpus, chunks = small()
    # "bbbb cc" (7 characters): 4 in a#0 (>= 0.5 x 7), 2 in a#1 (< 3.5).
    s = spans(("q", "a", 5, 12, 1))
    assert rows(ragplay.chunk_qrels(s, chunks, corpus)) == [("q", "a#0", 1)]
    assert rows(ragplay.chunk_qrels(s, chunks, corpus, min_overlap=0.0)) == [
        ("q", "a#0", 1),
        ("q", "a#1", 1),
    ]
    # A span over the whole text judges each chunk (each lies inside it), the largest
    # relevance wins, and a span over the whitespace between chunks judges none.
    s = spans(
        ("q2", "a", 0, 19, 1), ("q2", "a", 11, 13, 2), ("q3", "a", 9, 10, 1), ("q", "b", 1, 2, 0)
    )
    assert rows(ragplay.chunk_qrels(s, chunks, corpus, min_overlap=1.0)) == [
        ("q2", "a#0", 1),
        ("q2", "a#1", 2),
        ("q", "b#0", 0),
    ]


def test_chunk_qrels_evaluate_a_chunk_run(scifact):
    """Spans over whole relevant documents judge every chunk of them."""
    lengths = scifact.corpus.select("doc_id", end=pl.col("text").str.len_chars())
    span_qrels = scifact.qrels.join(lengths, on="doc_id").select(
        "query_id", "doc_id", start=pl.lit(0), end="end", relevance="relevance"
    )
    chunks = ragplay.chunk(scifact.corpus, strategy="sentence", size=400, show_progress=False)
    qrels = ragplay.chunk_qrels(span_qrels, chunks, scifact.corpus)
    judged = chunks.join(scifact.qrels, on="doc_id")
    assert qrels.height == judged.height
    bm25 = ragplay.BM25()
    bm25.index(chunks.select(doc_id="chunk_id", text="text"), show_progress=False)
    run = bm25.search(scifact.queries, k=10, show_progress=False)
    ndcg = ragplay.evaluate(run, qrels, ["ndcg@10"]).summary["ndcg@10"][0]
    print(f"BM25 over sentence chunks, chunk-level nDCG@10 on SciFact: {ndcg:.4f}")
    assert 0.3 < ndcg < 1.0


def test_bad_spans_are_named():
    corpus, chunks = small()

    def call(*rows, **kwargs):
        return ragplay.chunk_qrels(spans(*rows), chunks, corpus, **kwargs)

    with pytest.raises(
        ragplay.DataError,
        match=r'query "q", document "a": span \[3, 20\) ends past the document\'s text '
        r"\(19 characters\)",
    ):
        call(("q", "a", 3, 20, 1))
    with pytest.raises(
        ragplay.DataError, match=r'document "b": span \[6, 6\) is empty or reversed'
    ):
        call(("q", "b", 6, 6, 1))
    with pytest.raises(ragplay.DataError, match=r"span \[-1, 2\) is empty or reversed"):
        call(("q", "b", -1, 2, 1))
    with pytest.raises(ragplay.DataError, match=r'unknown document id "zz" .*query "q7"'):
        call(("q7", "zz", 0, 1, 1))
    with pytest.raises(ragplay.DataError, match=r'"q", document "a": .*negative relevance \(-1\)'):
        call(("q", "a", 0, 1, -1))
    with pytest.raises(ragplay.ConfigError, match=r"min_overlap: 1.5 must lie in \[0, 1\]"):
        call(("q", "a", 0, 1, 1), min_overlap=1.5)
    with pytest.raises(ragplay.DataError, match=r'span qrels: missing column "start"'):
        ragplay.chunk_qrels(spans(("q", "a", 0, 1, 1)).drop("start"), chunks, corpus)
    with pytest.raises(ragplay.DataError, match=r'span qrels: column "end" must be an integer'):
        ragplay.chunk_qrels(
            spans(("q", "a", 0, 1, 1)).with_columns(pl.col("end").cast(pl.Float64)), chunks, corpus
        )
    try:
        call(("q", "a", 3, 20, 1))
    except ragplay.DataError as e:
        assert (e.query_id, e.doc_id) == ("q", "a")
