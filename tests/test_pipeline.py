"""Pipelines: equal to the same stages called by hand (fuse, rerank, mmr, cut at k) on SciFact
and the sample collection, the trace table against each stage's own run, latency
percentiles against numpy, nesting, and bad input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import ragplay


def cut(run: pl.DataFrame, k: int) -> pl.DataFrame:
    return run.filter(pl.col("rank") <= k).sort("query_id", "rank")


def same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    a, b = a.sort("query_id", "rank"), b.sort("query_id", "rank")
    assert a.select("query_id", "doc_id", "rank").equals(b.select("query_id", "doc_id", "rank"))
    assert (a["score"] - b["score"]).abs().max() <= 1e-9


@pytest.fixture(scope="module")
def bm25(scifact) -> ragplay.BM25:
    index = ragplay.BM25()
    index.index(scifact.corpus, show_progress=False)
    return index


def test_pipeline_search_equals_fusing_by_hand(scifact, bm25, scifact_index):
    pipeline = ragplay.Pipeline(
        [bm25, scifact_index], fuse="combsum", norm="z-score", weights=[0.4, 0.6], depth=50
    )
    assert pipeline.stages == ["bm25", "dense", "fuse"]
    got = pipeline.search(scifact.queries, k=10, show_progress=False)
    runs = {
        "bm25": bm25.search(scifact.queries, k=50, show_progress=False),
        "dense": scifact_index.search(scifact.queries, k=50, show_progress=False),
    }
    want = ragplay.fuse(runs, method="combsum", norm="z-score", weights=[0.4, 0.6], k=50)
    same(got, cut(want, 10))
    ndcg = ragplay.evaluate(got, scifact.qrels, ["ndcg@10"]).summary["ndcg@10"][0]
    print(f"pipeline bm25+dense combsum z-score (0.4/0.6) nDCG@10 {ndcg:.4f}")
    config = pipeline.config()
    assert [r["name"] for r in config["retrievers"]] == ["bm25", "dense"]
    assert config["fuse"]["method"] == "combsum" and config["depth"] == 50
    # One retriever: no fusion, the retriever's own run cut at k.
    alone = ragplay.Pipeline([bm25], depth=20)
    same(alone.search(scifact.queries, k=5, show_progress=False), cut(runs["bm25"], 5))


@pytest.fixture(scope="module")
def sample_stack(encoder):
    sample = ragplay.sample_collection()
    bm25 = ragplay.BM25()
    dense = ragplay.DenseIndex(encoder)

    def overlap(queries: list[str], docs: list[str]) -> list[float]:
        return [
            len(set(q.lower().split()) & set(d.lower().split())) / 10 for q, d in zip(queries, docs)
        ]

    reranker = ragplay.CallableReranker(overlap)
    pipeline = ragplay.Pipeline(
        [bm25, dense], fuse="rrf", rrf_k=10, rerank=reranker, mmr_lambda=0.7, depth=8
    )
    pipeline.index(sample.corpus, show_progress=False)
    return sample, bm25, dense, reranker, pipeline


def test_pipeline_with_rerank_and_mmr_equals_the_chain_by_hand(sample_stack):
    sample, bm25, dense, reranker, pipeline = sample_stack
    assert len(bm25) == len(dense) == sample.corpus.height
    assert pipeline.stages == ["bm25", "dense", "fuse", "rerank", "mmr"]
    q = sample.queries
    runs = {
        "bm25": bm25.search(q, k=8, show_progress=False),
        "dense": dense.search(q, k=8, show_progress=False),
    }
    fused = ragplay.fuse(runs, method="rrf", rrf_k=10, k=8)
    reranked = ragplay.rerank(fused, q, sample.corpus, reranker, depth=8, k=8, show_progress=False)
    diverse = ragplay.mmr(reranked, q, dense, mmr_lambda=0.7, k=8, depth=8, show_progress=False)
    same(pipeline.search(q, k=3, show_progress=False), cut(diverse, 3))

    trace = pipeline.trace(q, k=3, show_progress=False)
    same(trace.run, cut(diverse, 3))
    table = trace.candidates
    stage_runs = {**runs, "fuse": fused, "rerank": reranked, "mmr": diverse}
    for stage, run in stage_runs.items():
        joined = run.join(table, on=["query_id", "doc_id"], how="left")
        assert joined[f"{stage}_rank"].to_list() == joined["rank"].to_list(), stage
        assert np.allclose(joined[f"{stage}_score"].to_numpy(), joined["score"].to_numpy()), stage
        # A candidate the stage did not return has nulls in its columns.
        count = table.filter(pl.col(f"{stage}_rank").is_not_null()).height
        assert count == run.height, stage
    final = table.filter(pl.col("final_rank").is_not_null())
    assert final.height == trace.run.height
    # Rows by query, then final rank.
    first = table.group_by("query_id", maintain_order=True).head(3)
    assert first["final_rank"].to_list() == [1, 2, 3] * q.height

    latency = trace.latency
    assert latency["stage"].to_list() == pipeline.stages + ["total"]
    assert latency["queries"].to_list() == [q.height] * len(latency)
    for row in latency.iter_rows(named=True):
        assert 0 <= row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
    assert latency["mean_ms"][-1] == pytest.approx(latency["mean_ms"][:-1].sum(), rel=1e-9)


def test_latency_of_one_stage_is_the_total(sample_stack):
    sample, bm25, *_ = sample_stack
    # The percentile formula is checked against numpy's values in the Rust unit tests; here
    # the table's shape, and a one-stage pipeline whose total is that stage.
    pipeline = ragplay.Pipeline([bm25], depth=5)
    trace = pipeline.trace(sample.queries, k=5, show_progress=False)
    # The traced run is the search's, row for row (queries in the queries table's order).
    assert trace.run.equals(pipeline.search(sample.queries, k=5, show_progress=False))
    lat = trace.latency
    assert lat["stage"].to_list() == ["bm25", "total"]
    # With one stage the total equals the stage.
    assert lat.row(0)[1:] == pytest.approx(lat.row(1)[1:])
    p50, p95, p99 = (lat[c][0] for c in ("p50_ms", "p95_ms", "p99_ms"))
    assert 0 < p50 <= p95 <= p99


def test_nested_pipelines_and_unique_stage_names(sample_stack):
    sample, bm25, dense, _, _ = sample_stack
    inner = ragplay.Pipeline([bm25, dense], depth=8)
    outer = ragplay.Pipeline([inner, bm25], fuse="combmnz", depth=8)
    assert outer.stages == ["pipeline", "bm25", "fuse"]
    twice = ragplay.Pipeline([bm25, bm25], depth=8)
    assert twice.stages == ["bm25", "bm25_2", "fuse"]
    run = outer.search(sample.queries, k=5, show_progress=False)
    inner_run = inner.search(sample.queries, k=8, show_progress=False)
    want = ragplay.fuse(
        {"pipeline": inner_run, "bm25": bm25.search(sample.queries, k=8, show_progress=False)},
        method="combmnz",
        k=8,
    )
    same(run, cut(want, 5))


def test_pipeline_bad_input(sample_stack, encoder):
    sample, bm25, dense, reranker, _ = sample_stack
    with pytest.raises(ragplay.ConfigError, match="retrievers"):
        ragplay.Pipeline([])
    with pytest.raises(TypeError, match="BM25, DenseIndex, Pipeline or Chunked.*str"):
        ragplay.Pipeline(["bm25"])
    with pytest.raises(ragplay.ConfigError, match="weights.*1 weights for 2"):
        ragplay.Pipeline([bm25, dense], weights=[1.0])
    with pytest.raises(ragplay.ConfigError, match="weights"):
        ragplay.Pipeline([bm25, dense], weights=[1.0, -1.0])
    with pytest.raises(ragplay.ConfigError, match="lambda.*1.5"):
        ragplay.Pipeline([bm25, dense], mmr_lambda=1.5)
    with pytest.raises(ragplay.ConfigError, match="mmr_index"):
        ragplay.Pipeline([bm25], mmr_lambda=0.5)
    with pytest.raises(ragplay.ConfigError, match='fuse: "nope"'):
        ragplay.Pipeline([bm25, dense], fuse="nope")
    with pytest.raises(ragplay.ConfigError, match="depth"):
        ragplay.Pipeline([bm25], depth=0)
    with pytest.raises(TypeError, match="reranker"):
        ragplay.Pipeline([bm25], rerank="cross-encoder")
    not_indexed = ragplay.Pipeline([bm25], rerank=reranker)
    with pytest.raises(ragplay.ConfigError, match="index the pipeline"):
        not_indexed.search(sample.queries, show_progress=False)
    empty = ragplay.Pipeline([ragplay.BM25()])
    with pytest.raises(ragplay.DataError, match="index"):
        empty.search(sample.queries, show_progress=False)
    with pytest.raises(ragplay.DataError, match="queries"):
        ragplay.Pipeline([bm25]).trace(sample.queries.head(0), show_progress=False)
