"""Every metric, on every option, against pytrec_eval (trec_eval's own code) to 1e-9."""

from __future__ import annotations

import math

import polars as pl
import pytest

import ragplay
from conftest import ALL_METRICS, assert_matches_reference, pytrec_reference, random_run


@pytest.fixture(scope="module")
def random_data() -> tuple[pl.DataFrame, pl.DataFrame]:
    return random_run(300, 1000, seed=20261126)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_random_runs_match_pytrec_eval(random_data, level):
    run, qrels = random_data
    result = ragplay.evaluate(run, qrels, ALL_METRICS, relevance_threshold=level)
    assert_matches_reference(
        result, pytrec_reference(run, qrels, ALL_METRICS, level=level), ALL_METRICS
    )


def test_include_missing_counts_unanswered_queries(random_data):
    run, qrels = random_data
    metrics = ["ndcg@10", "map", "recall@100", "bpref", "mrr"]
    normal = ragplay.evaluate(run, qrels, metrics)
    full = ragplay.evaluate(run, qrels, metrics, include_missing=True)
    answered = set(normal.per_query["query_id"])
    qrels_queries = set(qrels["query_id"])
    assert set(full.per_query["query_id"]) == qrels_queries
    missing = full.per_query.filter(~pl.col("query_id").is_in(list(answered)))
    assert missing.height == len(qrels_queries - answered) == 5
    ref = pytrec_reference(run, qrels, metrics)
    for m in metrics:
        assert (missing[m] == 0.0).all()
        expected = sum(v[m] for v in ref.values()) / len(qrels_queries)
        assert math.isclose(full.summary[m][0], expected, abs_tol=1e-9)


def test_scifact_qrels(scifact):
    corpus, queries, qrels = scifact.corpus, scifact.queries, scifact.qrels
    run = ragplay.overlap_run(corpus, queries, k=1000)
    result = ragplay.evaluate(run, qrels, ALL_METRICS)
    assert result.summary["num_queries"][0] == 300
    assert_matches_reference(result, pytrec_reference(run, qrels, ALL_METRICS), ALL_METRICS)


@pytest.mark.parametrize("level", [1, 2, 4])
def test_cranfield_graded_qrels(cranfield, level):
    corpus, queries, qrels = cranfield.corpus, cranfield.queries, cranfield.qrels
    run = ragplay.overlap_run(corpus, queries, k=500)
    result = ragplay.evaluate(run, qrels, ALL_METRICS, relevance_threshold=level)
    ref = pytrec_reference(run, qrels, ALL_METRICS, level=level)
    assert_matches_reference(result, ref, ALL_METRICS)


def _frame(rows, cols=("query_id", "doc_id", "score")):
    return pl.DataFrame(rows, schema=list(cols), orient="row")


QRELS = pl.DataFrame(
    {
        "query_id": ["a", "a", "a", "a", "b", "b", "c"],
        "doc_id": ["d1", "d2", "d3", "d9", "d1", "d5", "d1"],
        "relevance": [2, 0, 1, 1, 0, 0, 1],
    },
    schema_overrides={"relevance": pl.Int32},
)

EDGE_CASES = {
    "ties": [("a", "d1", 1.0), ("a", "d2", 1.0), ("a", "d3", 1.0), ("a", "d4", 1.0)],
    "negative_and_equal": [
        ("a", "d1", -2.5),
        ("a", "d2", -0.5),
        ("a", "d3", -2.5),
        ("a", "d7", 0.0),
        ("a", "d8", -0.0),
    ],
    "k_larger_than_run": [("a", "d3", 3.0), ("a", "d1", 2.0)],
    "query_without_qrels": [("a", "d1", 1.0), ("zz", "d1", 5.0), ("zz", "d2", 4.0)],
    "all_nonrelevant_query": [("b", "d1", 1.0), ("b", "d5", 2.0), ("a", "d9", 1.0)],
    "one_doc": [("c", "d1", 0.1)],
    "unjudged_only": [("a", "x1", 3.0), ("a", "x2", 2.0)],
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
@pytest.mark.parametrize("level", [1, 2])
def test_hand_made_edge_cases(case, level):
    run = _frame(EDGE_CASES[case])
    result = ragplay.evaluate(run, QRELS, ALL_METRICS, relevance_threshold=level)
    ref = pytrec_reference(run, QRELS, ALL_METRICS, level=level)
    assert_matches_reference(result, ref, ALL_METRICS)


def test_ties_are_broken_by_doc_id_descending():
    run = _frame([("a", "d1", 1.0), ("a", "d3", 1.0), ("a", "d2", 1.0)])
    per_query = ragplay.evaluate(run, QRELS, ["mrr", "p@1"]).per_query
    # d3 > d2 > d1: d3 (rel 1) is first.
    assert per_query["mrr"][0] == 1.0
    ranked = ragplay.rank_run(run)
    assert ranked["doc_id"].to_list() == ["d3", "d2", "d1"]
    assert ranked["rank"].to_list() == [1, 2, 3]


def test_rank_column_is_ignored():
    run = pl.DataFrame(
        {"query_id": ["a", "a"], "doc_id": ["d2", "d1"], "score": [2.0, 1.0], "rank": [2, 1]}
    )
    assert ragplay.evaluate(run, QRELS, ["mrr"]).per_query["mrr"][0] == 0.5


def test_empty_run():
    run = pl.DataFrame(schema={"query_id": pl.String, "doc_id": pl.String, "score": pl.Float64})
    result = ragplay.evaluate(run, QRELS, ["ndcg@10", "map"])
    assert result.per_query.height == 0
    assert result.summary["num_queries"][0] == 0
    assert result.summary["ndcg@10"][0] is None
    full = ragplay.evaluate(run, QRELS, ["ndcg@10", "map"], include_missing=True)
    assert full.per_query.height == 3
    assert full.summary["ndcg@10"][0] == 0.0


def test_duplicate_documents_in_a_run_are_an_error():
    run = _frame([("a", "d1", 1.0), ("a", "d2", 0.5), ("a", "d1", 0.2)])
    with pytest.raises(ragplay.DataError, match=r"duplicate document id \"d1\".*query \"a\""):
        ragplay.evaluate(run, QRELS, ["map"])
    # Kept once, the evaluation equals pytrec_eval's (where a dict cannot hold duplicates).
    dedup = run.unique(subset=["query_id", "doc_id"], keep="first", maintain_order=True)
    assert_matches_reference(
        ragplay.evaluate(dedup, QRELS, ALL_METRICS),
        pytrec_reference(dedup, QRELS, ALL_METRICS),
        ALL_METRICS,
    )


def test_several_runs_give_one_tidy_table(random_data):
    run, qrels = random_data
    first = run.filter(pl.col("query_id") < "q0100")
    second = run.with_columns(pl.col("score") * -1.0)
    stacked = ragplay.stack_runs({"first": first, "second": second})
    result = ragplay.evaluate(stacked, qrels, ["ndcg@10", "map"])
    assert result.summary["run"].to_list() == ["first", "second"]
    assert result.per_query.columns == ["run", "query_id", "ndcg@10", "map"]
    for name, frame in (("first", first), ("second", second)):
        alone = ragplay.evaluate(frame, qrels, ["ndcg@10", "map"], name=name)
        assert alone.per_query.equals(result.per_query.filter(pl.col("run") == name))
        assert alone.summary.equals(result.summary.filter(pl.col("run") == name))


def test_row_order_does_not_matter(random_data):
    run, qrels = random_data
    shuffled = run.sample(fraction=1.0, shuffle=True, seed=3)
    a = ragplay.evaluate(run, qrels, ["ndcg@10", "bpref"])
    b = ragplay.evaluate(shuffled, qrels, ["ndcg@10", "bpref"])
    assert a.per_query.equals(b.per_query)


def test_inputs_are_not_mutated(random_data):
    run, qrels = random_data
    before = (run.clone(), qrels.clone())
    ragplay.evaluate(run, qrels, ["ndcg@10"])
    assert run.equals(before[0]) and qrels.equals(before[1])
