"""Significance tests and intervals against scipy and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

import ragplay


def per_query_table(values: dict[str, list[float]], metric: str = "m") -> pl.DataFrame:
    rows = [(run, f"q{i:03d}", v) for run, vals in values.items() for i, v in enumerate(vals)]
    return pl.DataFrame(rows, schema=["run", "query_id", metric], orient="row")


def brute_force_p(d: np.ndarray) -> float:
    observed = abs(d.sum())
    hits = 0
    total = 0
    for signs in itertools.product((1.0, -1.0), repeat=len(d)):
        s = abs(float(np.dot(signs, d)))
        hits += s >= observed - 1e-12 * max(observed, 1.0)
        total += 1
    return hits / total


@pytest.mark.parametrize("seed", range(5))
def test_t_test_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    base = rng.uniform(size=60)
    runs = {"base": base, "a": base + rng.normal(0.02, 0.1, 60), "b": base + rng.normal(0, 0.1, 60)}
    table = per_query_table({k: v.tolist() for k, v in runs.items()})
    out = ragplay.compare_per_query(table, ["m"], test="t-test", correction="none")
    for row in out.iter_rows(named=True):
        ref = stats.ttest_rel(runs[row["run"]], runs["base"])
        assert math.isclose(row["p_value"], ref.pvalue, rel_tol=1e-9, abs_tol=1e-14)
        assert math.isclose(row["delta"], float(np.mean(runs[row["run"]] - base)), abs_tol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_randomization_is_exact_on_small_inputs(seed):
    rng = np.random.default_rng(100 + seed)
    n = 10
    base = rng.integers(0, 5, n) / 4  # coarse values: ties and equal |sums| happen
    other = rng.integers(0, 5, n) / 4
    table = per_query_table({"base": base.tolist(), "other": other.tolist()})
    out = ragplay.compare_per_query(table, ["m"], n_resamples=2**n, correction="none")
    assert out["p_value"][0] == pytest.approx(brute_force_p(other - base), abs=1e-15)


def test_randomization_monte_carlo_is_close_to_exact():
    rng = np.random.default_rng(7)
    base = rng.uniform(size=16)
    other = base + rng.normal(0.05, 0.2, 16)
    exact = brute_force_p(other - base)
    table = per_query_table({"base": base.tolist(), "other": other.tolist()})
    out = ragplay.compare_per_query(table, ["m"], n_resamples=20_000, seed=1, correction="none")
    # 2^16 > 20,000 draws: Monte Carlo, p = (hits + 1) / (draws + 1); 5 standard errors.
    se = math.sqrt(exact * (1 - exact) / 20_000)
    assert abs(out["p_value"][0] - exact) < 5 * se + 1e-4
    again = ragplay.compare_per_query(table, ["m"], n_resamples=20_000, seed=1, correction="none")
    assert again.equals(out)  # the seed makes it reproducible


def test_bootstrap_interval_is_close_to_scipy():
    rng = np.random.default_rng(11)
    base = rng.uniform(size=200)
    other = base + rng.normal(0.03, 0.15, 200)
    table = per_query_table({"base": base.tolist(), "other": other.tolist()})
    out = ragplay.compare_per_query(table, ["m"], n_resamples=20_000, confidence=0.9)
    ref = stats.bootstrap(
        (other - base,),
        np.mean,
        n_resamples=20_000,
        confidence_level=0.9,
        method="percentile",
        random_state=0,
    ).confidence_interval
    width = ref.high - ref.low
    assert abs(out["ci_low"][0] - ref.low) < 0.05 * width
    assert abs(out["ci_high"][0] - ref.high) < 0.05 * width


def test_holm_and_bonferroni_against_hand_computation():
    rng = np.random.default_rng(5)
    base = rng.uniform(size=40)
    runs = {"base": base.tolist()}
    for i, shift in enumerate([0.0, 0.05, 0.1, 0.2]):
        runs[f"r{i}"] = (base + shift + rng.normal(0, 0.15, 40)).tolist()
    table = per_query_table(runs)
    raw = ragplay.compare_per_query(table, ["m"], test="t-test", correction="none")
    p = raw["p_value"].to_numpy()
    m = len(p)
    bonf = ragplay.compare_per_query(table, ["m"], test="t-test", correction="bonferroni")
    assert np.allclose(bonf["p_adjusted"].to_numpy(), np.minimum(1, p * m), atol=1e-15)
    order = np.argsort(p)
    holm = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        holm[i] = running
    got = ragplay.compare_per_query(table, ["m"], test="t-test", correction="holm")
    assert np.allclose(got["p_adjusted"].to_numpy(), holm, atol=1e-15)


def test_compare_output_and_wins_ties_losses(scifact):
    corpus, queries, qrels = scifact.corpus, scifact.queries, scifact.qrels
    a = ragplay.overlap_run(corpus, queries, k=100)
    b = ragplay.overlap_run(corpus.with_columns(text=pl.lit("")), queries, k=100)
    stacked = ragplay.stack_runs({"full": a, "title": b})
    out = ragplay.compare(stacked, qrels, ["ndcg@10", "map"], baseline="full")
    assert out.columns == [
        "metric",
        "run",
        "baseline",
        "n",
        "mean",
        "baseline_mean",
        "delta",
        "p_value",
        "p_adjusted",
        "ci_low",
        "ci_high",
        "wins",
        "ties",
        "losses",
    ]
    per_query = ragplay.evaluate(stacked, qrels, ["ndcg@10", "map"], include_missing=True).per_query
    for row in out.iter_rows(named=True):
        wide = per_query.pivot(on="run", index="query_id", values=row["metric"])
        d = (wide["title"] - wide["full"]).to_numpy()
        assert (row["wins"], row["ties"], row["losses"]) == (
            int((d > 0).sum()),
            int((d == 0).sum()),
            int((d < 0).sum()),
        )
        assert row["n"] == len(d) == 300
        assert math.isclose(row["delta"], float(d.mean()), abs_tol=1e-12)
        assert row["ci_low"] <= row["delta"] <= row["ci_high"]


def test_compare_errors():
    table = per_query_table({"only": [0.1, 0.2]})
    with pytest.raises(ragplay.ConfigError, match="at least two runs"):
        ragplay.compare_per_query(table, ["m"])
    table = per_query_table({"a": [0.1, 0.2], "b": [0.3, 0.1]})
    with pytest.raises(ragplay.DataError, match='unknown run id "zz"'):
        ragplay.compare_per_query(table, ["m"], baseline="zz")
    with pytest.raises(ragplay.ConfigError, match="test"):
        ragplay.compare_per_query(table, ["m"], test="wilcoxon")
    with pytest.raises(ragplay.ConfigError, match="confidence"):
        ragplay.compare_per_query(table, ["m"], confidence=1.5)
    with pytest.raises(ragplay.DataError, match='missing column "nope"'):
        ragplay.compare_per_query(table, ["nope"])
