"""The run order, defined once in the core (`src/run/order.rs`): score descending, ties broken
by doc id descending, NaN an error naming query and document. Every entry point that ranks
(evaluate, rank_run, write_trec_run, compare, the retrievers) follows it; checked here against
an independent Python sort and against pytrec_eval."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import ragplay
from conftest import pytrec_reference

ROOT = Path(__file__).resolve().parents[1]


def python_order(rows: list[tuple[str, float]]) -> list[str]:
    """Score descending, then doc id descending (two stable sorts); -0.0 equals 0.0."""
    by_id = sorted(rows, key=lambda r: r[0], reverse=True)
    return [d for d, _ in sorted(by_id, key=lambda r: -r[1])]


def tied_run() -> pl.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for q in ["q1", "q2", "q3"]:
        docs = rng.choice(200, size=60, replace=False)
        scores = rng.choice([-1.5, -0.0, 0.0, 0.25, 1.0, 3.0, math.inf, -math.inf], size=60)
        rows += [(q, f"d{d:03d}", float(s)) for d, s in zip(docs, scores)]
    order = rng.permutation(len(rows))
    return pl.DataFrame(
        [rows[i] for i in order], schema=["query_id", "doc_id", "score"], orient="row"
    )


def test_rank_run_and_the_trec_writer_follow_one_order(tmp_path):
    run = tied_run()
    ranked = ragplay.rank_run(run)
    ragplay.write_trec_run(run, tmp_path / "r.trec", tag="t")
    written = [line.split() for line in (tmp_path / "r.trec").read_text().splitlines()]
    for q in ["q1", "q2", "q3"]:
        rows = [(d, s) for qq, d, s in run.iter_rows() if qq == q]
        expected = python_order(rows)
        got = ranked.filter(pl.col("query_id") == q)
        assert got["doc_id"].to_list() == expected
        assert got["rank"].to_list() == list(range(1, len(expected) + 1))
        assert [w[2] for w in written if w[0] == q] == expected


def test_evaluate_ranks_ties_as_trec_eval(tmp_path):
    run = tied_run().filter(pl.col("score").is_finite())
    judged = run.sample(n=40, seed=1)
    qrels = pl.DataFrame(
        {
            "query_id": judged["query_id"],
            "doc_id": judged["doc_id"],
            "relevance": pl.Series(np.arange(40) % 3, dtype=pl.Int32),
        }
    )
    metrics = ["ndcg@10", "map", "mrr", "p@5"]
    result = ragplay.evaluate(run, qrels, metrics)
    reference = pytrec_reference(run, qrels, metrics)
    for row in result.per_query.iter_rows(named=True):
        for m in metrics:
            assert math.isclose(row[m], reference[row["query_id"]][m], abs_tol=1e-12), (row, m)


@pytest.mark.parametrize("judged", [True, False])
@pytest.mark.parametrize("entry", ["evaluate", "rank_run", "write_trec_run", "compare"])
def test_a_nan_score_is_one_error_everywhere(entry, judged, tmp_path):
    # The NaN is in a query the qrels judge, or in one they do not: an error either way.
    query = "a" if judged else "z"
    run = pl.DataFrame(
        {
            "query_id": ["a", query, "b"],
            "doc_id": ["d1", "d2", "d3"],
            "score": [1.0, float("nan"), 2.0],
        }
    )
    qrels = pl.DataFrame(
        {"query_id": ["a"], "doc_id": ["d1"], "relevance": [1]},
        schema_overrides={"relevance": pl.Int32},
    )
    calls = {
        "evaluate": lambda: ragplay.evaluate(run, qrels, ["map"]),
        "rank_run": lambda: ragplay.rank_run(run),
        "write_trec_run": lambda: ragplay.write_trec_run(run, tmp_path / "x.trec"),
        "compare": lambda: ragplay.compare({"x": run, "y": run}, qrels, ["map"]),
    }
    with pytest.raises(ragplay.DataError) as caught:
        calls[entry]()
    assert str(caught.value) == f'run: score of query "{query}", document "d2" is NaN'
    assert (caught.value.query_id, caught.value.doc_id) == (query, "d2")
    assert not (tmp_path / "x.trec").exists()


def test_a_document_listed_twice_is_one_error_everywhere(tmp_path):
    run = pl.DataFrame(
        {"query_id": ["a", "a", "a"], "doc_id": ["d1", "d2", "d1"], "score": [1.0, 0.5, 1.0]}
    )
    qrels = pl.DataFrame(
        {"query_id": ["a"], "doc_id": ["d1"], "relevance": [1]},
        schema_overrides={"relevance": pl.Int32},
    )
    with pytest.raises(ragplay.DataError) as ranked:
        ragplay.rank_run(run)
    assert str(ranked.value) == 'duplicate document id "d1" in the run, query "a"'
    with pytest.raises(ragplay.DataError) as written:
        ragplay.write_trec_run(run, tmp_path / "x.trec")
    assert str(written.value) == str(ranked.value)
    assert not (tmp_path / "x.trec").exists()
    with pytest.raises(ragplay.DataError) as evaluated:
        ragplay.evaluate(run, qrels, ["map"])
    assert str(evaluated.value) == 'duplicate document id "d1" in run "run", query "a"'
    corpus = pl.DataFrame({"doc_id": ["x", "x"], "title": ["", ""], "text": ["kiwi", "kiwi"]})
    with pytest.raises(ragplay.DataError, match=r'^duplicate document id "x" in the corpus'):
        ragplay.overlap_run(corpus, pl.DataFrame({"query_id": ["q"], "text": ["kiwi"]}))


def test_id_sets_take_lists_series_and_frames_only():
    corpus = pl.DataFrame({"doc_id": ["ab", "c"], "title": ["", ""], "text": ["kiwi", "kiwi"]})
    queries = pl.DataFrame({"query_id": ["q"], "text": ["kiwi"]})
    index = ragplay.BM25()
    index.index(corpus, show_progress=False)
    full = index.search(queries, k=5)
    for allow in [["ab", "c"], ("ab", "c"), pl.Series(["ab", "c"]), np.array(["ab", "c"]), corpus]:
        assert index.search(queries, k=5, allow=allow).equals(full)
    for bad, message in [
        (np.str_("ab"), "^expected a sequence of ids, got a single str"),
        ("ab", "^expected a sequence of ids, got a single str"),
        ({"ab": 1}, "^expected a list of str, a polars Series, .* got dict"),
        ({"ab", "c"}, "^expected a list of str, a polars Series, .* got set"),
        ([1, 2], r"^\[0\]: expected str, got int"),
    ]:
        with pytest.raises(TypeError, match=message) as wrong:
            index.search(queries, allow=bad)
        assert "'allow'" in " ".join(wrong.value.__notes__)


def test_retrievers_rank_ties_by_doc_id_descending():
    corpus = pl.DataFrame(
        {"doc_id": ["b", "d", "a", "c"], "title": [""] * 4, "text": ["kiwi"] * 3 + ["plum"]}
    )
    queries = pl.DataFrame({"query_id": ["q"], "text": ["kiwi"]})
    bm25 = ragplay.BM25()
    bm25.index(corpus, show_progress=False)
    assert bm25.search(queries, k=2)["doc_id"].to_list() == ["d", "b"]
    overlap = ragplay.overlap_run(corpus, queries, k=3)
    assert overlap["doc_id"].to_list() == ["d", "b", "a"]
    vectors = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]], dtype=np.float32)
    dense = ragplay.exact_search(
        np.array([[1.0, 0.0]], dtype=np.float32),
        vectors,
        query_ids=["q"],
        doc_ids=corpus["doc_id"],
        k=3,
    )
    assert dense["doc_id"].to_list() == ["d", "b", "a"]


def test_every_stage_breaks_ties_by_doc_id_descending(tmp_path):
    """Every function that ranks (fusion, re-ranking, chunk aggregation, a pipeline, the
    vector index, the TREC writer) orders tied scores by doc id descending, as trec_eval."""
    ids = ["b", "dd-long-document-id-0", "a", "dd-long-document-id-1", "c"]
    corpus = pl.DataFrame({"doc_id": ids, "title": [""] * 5, "text": ["kiwi"] * 5})
    queries = pl.DataFrame({"query_id": ["q"], "text": ["kiwi"]})
    want = python_order([(d, 1.0) for d in ids])
    tied = pl.DataFrame({"query_id": ["q"] * 5, "doc_id": ids, "score": [1.0] * 5})
    reversed_ids = tied.with_columns(pl.Series("doc_id", ids[::-1]))
    # Fusion: equal ranks in two runs whose lists are tied give equal fused scores.
    for method in ("rrf", "combsum", "borda"):
        fused = ragplay.fuse([tied, reversed_ids], method=method, show_progress=False)
        assert fused["doc_id"].to_list() == want, method
    # Re-ranking with a constant scorer, and MaxP over chunks with equal scores.
    flat = ragplay.CallableReranker(lambda qs, ds: [0.5] * len(qs))
    reranked = ragplay.rerank(tied, queries, corpus, flat, show_progress=False)
    assert reranked["doc_id"].to_list() == want
    chunks = ragplay.chunk(corpus, strategy="fixed", size=10, show_progress=False)
    chunk_run = pl.DataFrame(
        {"query_id": ["q"] * len(chunks), "doc_id": chunks["chunk_id"], "score": 1.0}
    )
    assert ragplay.to_documents(chunk_run, chunks)["doc_id"].to_list() == want
    # A pipeline of BM25 (every document scores the same) and the vector index.
    bm25 = ragplay.BM25()
    bm25.index(corpus, show_progress=False)
    assert ragplay.Pipeline([bm25, bm25]).search(queries)["doc_id"].to_list() == want
    index = ragplay.VectorIndex(2)
    index.add(ids, np.ones((5, 2), dtype=np.float32))
    vector_run = index.search(np.ones((1, 2), dtype=np.float32), query_ids=["q"], k=5)
    assert vector_run["doc_id"].to_list() == want
    # A TREC file written from any row order reads back in that order.
    ragplay.write_trec_run(tied.sample(fraction=1.0, shuffle=True, seed=3), tmp_path / "t.run")
    assert ragplay.read_trec_run(tmp_path / "t.run")["doc_id"].to_list() == want
