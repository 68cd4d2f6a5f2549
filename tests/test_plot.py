"""Charts: decoded as real images (Pillow, the XML parser), their data checked against
numpy, pytrec_eval and polars."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import polars as pl
import pytest
from PIL import Image

import ragplay
from conftest import pytrec_reference

ON_FRONT = (213, 94, 0)
OFF_FRONT = (0, 114, 178)


@pytest.fixture(scope="module")
def sample_runs():
    sample = ragplay.sample_collection()
    bm25 = ragplay.BM25()
    bm25.index(sample.corpus, show_progress=False)
    runs = {
        "bm25": bm25.search(sample.queries, k=10),
        "overlap": ragplay.overlap_run(sample.corpus, sample.queries, k=10),
    }
    return sample, runs


def decode(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def results_table(seed: int, n: int) -> pl.DataFrame:
    """Points on a grid (so that no two are close), quality and cost drawn at random."""
    rng = np.random.default_rng(seed)
    cells = rng.choice(100, size=n, replace=False)
    return pl.DataFrame(
        {
            "label": [f"config {i}" for i in range(n)],
            "p50_ms": (cells % 10).astype(float) * 3.0 + 1.0,
            "mrr": (cells // 10).astype(float) / 12.0 + 0.1,
        }
    )


def dominated(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    better_or_equal = (cost[None, :] <= cost[:, None]) & (quality[None, :] >= quality[:, None])
    strictly = (cost[None, :] < cost[:, None]) | (quality[None, :] > quality[:, None])
    return (better_or_equal & strictly).any(axis=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pareto_front_and_where_it_is_drawn(seed):
    results = results_table(seed, 12)
    chart = ragplay.plot.pareto(results, "mrr", cost="p50_ms")
    points = chart.points()
    front = ~dominated(results["p50_ms"].to_numpy(), results["mrr"].to_numpy())
    assert points["front"].to_list() == front.tolist()
    assert points["label"].to_list() == results["label"].to_list()
    pixels = decode(chart.png())
    assert pixels.shape == (500, 800, 3)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20
    # Each point is drawn where points() says, in its colour; more quality is higher up and
    # more cost further right.
    for on, px, py in points.select("front", "px", "py").iter_rows():
        assert tuple(pixels[py, px]) == (ON_FRONT if on else OFF_FRONT), (on, px, py)
    order = np.argsort(results["p50_ms"].to_numpy(), kind="stable")
    px = points["px"].to_numpy()[order]
    assert (np.diff(px) >= 0).all()
    order = np.argsort(results["mrr"].to_numpy(), kind="stable")
    assert (np.diff(points["py"].to_numpy()[order]) <= 0).all()


def test_chart_files_and_sizes(tmp_path):
    chart = ragplay.plot.pareto(results_table(3, 8), "mrr")
    chart.save(tmp_path / "p.png")
    chart.save(tmp_path / "p.svg")
    assert decode((tmp_path / "p.png").read_bytes()).shape == (500, 800, 3)
    svg = ET.parse(tmp_path / "p.svg").getroot()
    assert svg.tag.endswith("svg") and (svg.get("width"), svg.get("height")) == ("800", "500")
    assert "mrr against p50_ms" in (tmp_path / "p.svg").read_text()
    assert chart._repr_svg_() == (tmp_path / "p.svg").read_text()
    assert chart._repr_png_() == (tmp_path / "p.png").read_bytes()
    big = chart.resize(1200, 900)
    assert big.size == (1200, 900) and decode(big.png()).shape == (900, 1200, 3)
    with pytest.raises(ragplay.ConfigError, match=r"\.svg or \.png"):
        chart.save(tmp_path / "p.jpg")
    with pytest.raises(ragplay.ConfigError, match="width"):
        chart.resize(10, 500)
    assert not (tmp_path / "p.jpg").exists()


def test_pareto_bad_input():
    with pytest.raises(ragplay.DataError, match='"nope"'):
        ragplay.plot.pareto(results_table(0, 3), "nope")
    with pytest.raises(TypeError, match="expected a polars.DataFrame"):
        ragplay.plot.pareto({"mrr": [1.0]}, "mrr")
    nan = results_table(0, 3).with_columns(pl.Series("mrr", [0.1, float("nan"), 0.3]))
    with pytest.raises(ragplay.DataError, match="row 1"):
        ragplay.plot.pareto(nan, "mrr")


def test_wins_are_per_query_differences(sample_runs):
    sample, runs = sample_runs
    chart = ragplay.plot.wins(runs["bm25"], runs["overlap"], sample.qrels, "ndcg@10")
    data = chart.data()
    a = pytrec_reference(runs["bm25"], sample.qrels, ["ndcg@10"])
    b = pytrec_reference(runs["overlap"], sample.qrels, ["ndcg@10"])
    expected = {q: a.get(q, {}).get("ndcg@10", 0.0) - b[q]["ndcg@10"] for q in b}
    assert dict(data.iter_rows()) == pytest.approx(expected, abs=1e-12)
    assert data["value"].to_list() == sorted(data["value"].to_list(), reverse=True)
    pixels = decode(chart.png())
    gains = int((data["value"] > 0).sum())
    # The bars are drawn in their colours.
    assert (np.all(pixels == (0, 158, 115), axis=-1).sum() > 0) == (gains > 0)


def test_metric_at_k_lines(sample_runs):
    sample, runs = sample_runs
    chart = ragplay.plot.metric_at_k(runs, sample.qrels, "recall", ks=[1, 3, 5, 10])
    data = chart.data()
    for name, run in runs.items():
        ref = pytrec_reference(run, sample.qrels, [f"recall@{k}" for k in (1, 3, 5, 10)])
        for k in (1, 3, 5, 10):
            got = data.filter((pl.col("series") == name) & (pl.col("x") == k))["y"][0]
            # Queries the run does not answer are not averaged, as in evaluate.
            assert got == pytest.approx(np.mean([v[f"recall@{k}"] for v in ref.values()]))
    assert decode(chart.png()).shape == (500, 800, 3)
    with pytest.raises(ragplay.ConfigError, match="without @k"):
        ragplay.plot.metric_at_k(runs, sample.qrels, "recall@5")


def test_heatmap_cells_are_the_best_configuration():
    results = pl.DataFrame(
        {
            "chunking": ["none", "none", "fixed", "fixed", "none"],
            "retrievers": ["bm25", "dense", "bm25", "dense", "bm25"],
            "mrr": [0.5, 0.4, 0.6, 0.7, 0.55],
        }
    )
    chart = ragplay.plot.heatmap(results, "chunking", "retrievers", "mrr")
    expected = results.group_by("retrievers", "chunking").agg(pl.col("mrr").max())
    got = chart.data().rename({"row": "retrievers", "column": "chunking", "value": "mrr"})
    assert got.sort("retrievers", "chunking").equals(
        expected.sort("retrievers", "chunking").select(got.columns)
    )
    pixels = decode(chart.png())
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20


def test_score_histogram_shares(sample_runs):
    sample, runs = sample_runs
    run = runs["bm25"]
    chart = ragplay.plot.score_histogram(run, sample.qrels, bins=8)
    data = chart.data()
    relevant = set(
        sample.qrels.filter(pl.col("relevance") >= 1).select("query_id", "doc_id").iter_rows()
    )
    scores = run["score"].to_numpy()
    is_rel = np.array([(q, d) in relevant for q, d in run.select("query_id", "doc_id").iter_rows()])
    edges = np.linspace(scores.min(), scores.max(), 9)
    for name, mask in (("relevant", is_rel), ("other", ~is_rel)):
        counts, _ = np.histogram(scores[mask], bins=edges)
        rows = data.filter(pl.col("series").str.starts_with(name))
        assert rows["share"].to_numpy() == pytest.approx(counts / mask.sum())
        assert rows["start"].to_numpy() == pytest.approx(edges[:-1])
    assert decode(chart.png()).shape == (500, 800, 3)


def test_pareto_cost_over_decades_is_drawn_on_a_log_axis():
    results = pl.DataFrame(
        {
            "label": ["a", "b", "c", "d"],
            "p50_ms": [0.1, 1.0, 10.0, 100.0],
            "mrr": [0.2, 0.4, 0.5, 0.9],
        }
    )
    chart = ragplay.plot.pareto(results, "mrr", cost="p50_ms")
    px = chart.points()["px"].to_numpy()
    # Equal ratios of cost are equal distances.
    steps = np.diff(px)
    assert steps.min() > 0 and steps.max() - steps.min() <= 2
    assert "p50_ms (log scale)" in chart.svg()
    linear = ragplay.plot.pareto(results.head(2), "mrr", cost="p50_ms")
    assert "log scale" not in linear.svg()
