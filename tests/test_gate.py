"""The regression gate: a worse configuration fails it and its losing queries are named
(against pytrec_eval's per-query values), an equal one passes, one-sided p-values and the
Holm correction against scipy and a hand computation, calibration over seeded A/A
comparisons, rank churn against a direct implementation of its definition, the command line
and the pytest helper."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import scipy.stats

import ragplay
from conftest import pytrec_reference
from ragplay.testing import assert_no_regression


@pytest.fixture(scope="module")
def scifact_runs(scifact):
    bm25 = ragplay.BM25()
    bm25.index(scifact.corpus, show_progress=False)
    return {
        "bm25": bm25.search(scifact.queries, k=100, show_progress=False),
        "overlap": ragplay.overlap_run(scifact.corpus, scifact.queries, k=100),
    }


def test_a_worse_configuration_fails_and_its_losing_queries_are_named(scifact, scifact_runs):
    base, cand = scifact_runs["bm25"], scifact_runs["overlap"]
    report = ragplay.check(
        cand, base, scifact.qrels, ["ndcg@10", "recall@100"], show_progress=False
    )
    assert not report.passed
    print(report.describe())
    assert report.summary["regression"].to_list() == [True, True]

    # The losers are exactly the queries pytrec_eval scores lower for the candidate.
    ref_base = pytrec_reference(base, scifact.qrels, ["ndcg@10"])
    ref_cand = pytrec_reference(cand, scifact.qrels, ["ndcg@10"])
    judged = set(scifact.qrels["query_id"])
    want = {}
    for q in judged & (set(base["query_id"]) | set(cand["query_id"])):
        b = ref_base.get(q, {}).get("ndcg@10", 0.0)
        c = ref_cand.get(q, {}).get("ndcg@10", 0.0)
        if c < b - 1e-12:
            want[q] = c - b
    losers = report.losers.filter(pl.col("metric") == "ndcg@10")
    assert set(losers["query_id"]) == set(want)
    for q, d in zip(losers["query_id"], losers["delta"]):
        assert d == pytest.approx(want[q], abs=1e-9)
    assert losers["delta"].is_sorted()
    zeros = report.new_zeros.filter(pl.col("metric") == "ndcg@10")
    assert set(zeros["query_id"]) == {
        q for q in want if ref_cand.get(q, {}).get("ndcg@10", 0.0) == 0.0
    }
    worst = losers["query_id"][0]
    assert f'"{worst}"' in report.describe(max_queries=1)


def test_an_equal_run_passes_with_no_churn(scifact, scifact_runs):
    run = scifact_runs["bm25"]
    report = ragplay.check(run, run, scifact.qrels, ["ndcg@10", "map"], show_progress=False)
    assert report.passed
    assert report.losers.height == 0 and report.new_zeros.height == 0
    assert report.summary["delta"].to_list() == [0.0, 0.0]
    assert report.churn["overlap"].to_list() == [1.0] * report.churn.height
    assert report.churn["rbo"].to_numpy() == pytest.approx(1.0, abs=1e-12)
    assert "passed" in report.describe()


def test_one_sided_p_values_and_holm_match_scipy(scifact, scifact_runs):
    base = scifact_runs["bm25"]
    bm25 = ragplay.BM25(k1=0.6, b=0.3)
    bm25.index(scifact.corpus, show_progress=False)
    cand = bm25.search(scifact.queries, k=100, show_progress=False)
    metrics = ["ndcg@10", "recall@100"]
    report = ragplay.check(cand, base, scifact.qrels, metrics, test="t-test", show_progress=False)
    per_query = ragplay.evaluate({"c": cand, "b": base}, scifact.qrels, metrics).per_query
    wide = {
        m: per_query.pivot(on="run", index="query_id", values=m).fill_null(0.0) for m in metrics
    }
    raw = [
        scipy.stats.ttest_rel(wide[m]["c"], wide[m]["b"], alternative="less").pvalue
        for m in metrics
    ]
    assert report.summary["p_value"].to_list() == pytest.approx(raw, rel=1e-9)
    # Holm by hand: sort, scale by (m - i), running maximum, capped at 1.
    order = np.argsort(raw)
    holm = np.empty(2)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (2 - i) * raw[j]))
        holm[j] = running
    assert report.summary["p_adjusted"].to_list() == pytest.approx(holm.tolist(), rel=1e-9)
    assert report.passed == all(
        not (d < 0 and p < 0.05) for d, p in zip(report.summary["delta"], holm)
    )


def synthetic_run(
    rng: np.random.Generator, queries: int, docs: int, relevant: dict
) -> pl.DataFrame:
    """A run whose relevant documents score a little higher on average."""
    rows = {"query_id": [], "doc_id": [], "score": []}
    for q in range(queries):
        for d in range(docs):
            boost = 0.8 if (q, d) in relevant else 0.0
            rows["query_id"].append(f"q{q}")
            rows["doc_id"].append(f"d{d}")
            rows["score"].append(float(rng.normal()) + boost)
    return pl.DataFrame(rows)


def test_the_gate_fires_at_most_at_its_nominal_rate_on_a_a_comparisons():
    rng = np.random.default_rng(7)
    queries, docs = 60, 30
    relevant = {(q, int(d)) for q in range(queries) for d in rng.choice(docs, 3, replace=False)}
    qrels = pl.DataFrame(
        {
            "query_id": [f"q{q}" for q, _ in sorted(relevant)],
            "doc_id": [f"d{d}" for _, d in sorted(relevant)],
            "relevance": [1] * len(relevant),
        }
    )
    fired = 0
    for trial in range(100):
        a = synthetic_run(rng, queries, docs, relevant)
        b = synthetic_run(rng, queries, docs, relevant)
        report = ragplay.check(
            a, b, qrels, ["ndcg@10", "recall@10"], seed=trial, n_resamples=2000, show_progress=False
        )
        fired += not report.passed
    print(f"A/A: the gate fired {fired} times in 100 at alpha 0.05")
    # Nominal 5 expected; at most 10 of 100 (a calibrated gate exceeds that with probability
    # about 1%: binomial(100, 0.05)).
    assert fired <= 10


def rbo_reference(a: list[str], b: list[str], k: int, p: float) -> tuple[float, float]:
    """Overlap@k and extrapolated RBO straight from the definitions (sets at every depth)."""
    x = [len(set(a[:d]) & set(b[:d])) for d in range(1, k + 1)]
    rbo = x[-1] / k * p**k + (1 - p) / p * sum(x[d - 1] / d * p**d for d in range(1, k + 1))
    return x[-1] / k, rbo


def test_rank_churn_matches_its_definition():
    rng = np.random.default_rng(3)
    pool = [f"d{i}" for i in range(40)]
    rows_a, rows_b, want = [], [], {}
    for q in range(30):
        a = list(rng.choice(pool, 15, replace=False))
        b = list(rng.choice(pool, int(rng.integers(3, 15)), replace=False))
        want[f"q{q}"] = rbo_reference(a, b, 10, 0.8)
        rows_a += [(f"q{q}", d, float(15 - i)) for i, d in enumerate(a)]
        rows_b += [(f"q{q}", d, float(15 - i)) for i, d in enumerate(b)]
    cols = ["query_id", "doc_id", "score"]
    ra, rb = (
        pl.DataFrame(rows_a, schema=cols, orient="row"),
        pl.DataFrame(rows_b, schema=cols, orient="row"),
    )
    qrels = pl.DataFrame({"query_id": ["q0"], "doc_id": ["d0"], "relevance": [1]})
    churn = ragplay.check(ra, rb, qrels, ["ndcg@10"], persistence=0.8, show_progress=False).churn
    for q, o, r in churn.iter_rows():
        assert (o, r) == pytest.approx(want[q], abs=1e-12)


def test_the_command_line_exits_non_zero_on_a_regression(tmp_path, scifact, scifact_runs):
    base, cand = tmp_path / "base.run", tmp_path / "cand.run"
    ragplay.write_trec_run(scifact_runs["bm25"], base)
    ragplay.write_trec_run(scifact_runs["overlap"], cand)
    qrels = tmp_path / "qrels.txt"
    ragplay.write_trec_qrels(scifact.qrels, qrels)

    def gate(c, b):
        cmd = [
            sys.executable,
            "-m",
            "ragplay",
            "check",
            str(c),
            str(b),
            str(qrels),
            "-m",
            "ndcg@10",
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    worse = gate(cand, base)
    assert worse.returncode == 1, worse.stderr
    assert "REGRESSION" in worse.stdout and "worst queries on ndcg@10" in worse.stdout
    same = gate(base, base)
    assert same.returncode == 0, same.stdout + same.stderr
    missing = gate(tmp_path / "nope.run", base)
    assert missing.returncode == 2 and "nope.run" in missing.stderr


def test_assert_no_regression(scifact, scifact_runs):
    base, cand = scifact_runs["bm25"], scifact_runs["overlap"]
    report = assert_no_regression(base, base, scifact.qrels, ["ndcg@10"])
    assert report.passed
    with pytest.raises(AssertionError, match=r"ndcg@10: .*REGRESSION"):
        assert_no_regression(cand, base, scifact.qrels, ["ndcg@10"], max_queries=3)


def test_latency_tolerance(scifact, scifact_runs):
    run = scifact_runs["bm25"]
    check = ragplay.check
    slower = check(run, run, scifact.qrels, ["ndcg@10"], latency=(13.0, 10.0), show_progress=False)
    assert not slower.passed and slower.latency is not None
    assert (slower.latency.candidate, slower.latency.baseline) == (13.0, 10.0)
    assert slower.latency.regressed
    within = check(run, run, scifact.qrels, ["ndcg@10"], latency=(11.0, 10.0), show_progress=False)
    assert within.passed and within.latency is not None and not within.latency.regressed
    # The tuple it was before this release still unpacks, with a DeprecationWarning.
    with pytest.warns(DeprecationWarning, match="LatencyCheck"):
        candidate, baseline, regressed = within.latency
    assert (candidate, baseline, regressed) == (11.0, 10.0, False)
    with pytest.warns(DeprecationWarning):
        assert within.latency[-1] is False
    with pytest.warns(DeprecationWarning):
        assert within.latency == (11.0, 10.0, False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"churn_depth": 0}, "churn_depth"),
        ({"persistence": 1.0}, "persistence"),
        ({"latency": (1.0, 0.0)}, "latency"),
        ({"latency_tolerance": -0.1}, "latency_tolerance"),
        ({"test": "z"}, 'invalid test: "z"'),
    ],
)
def test_bad_options_are_named(scifact, scifact_runs, kwargs, match):
    run = scifact_runs["bm25"]
    with pytest.raises(ragplay.ConfigError, match=match):
        ragplay.check(run, run, scifact.qrels, ["ndcg@10"], show_progress=False, **kwargs)


def test_bad_metrics_are_named(scifact, scifact_runs):
    run = scifact_runs["bm25"]
    with pytest.raises(ragplay.ConfigError, match="metrics"):
        ragplay.check(run, run, scifact.qrels, [], show_progress=False)
    with pytest.raises(ragplay.RagplayError, match="nope@10"):
        ragplay.check(run, run, scifact.qrels, ["nope@10"], show_progress=False)
