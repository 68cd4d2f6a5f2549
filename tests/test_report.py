"""``ragplay report``: the ranked table and the charts, written as files and as one HTML page
that a headless Chromium renders with the table and the charts in it."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

import ragplay

ON_FRONT = (213, 94, 0)
BORDER = (204, 204, 204)
CHARTS = ["pareto", "wins", "recall_at_k", "heatmap"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A small sweep on the demo collection: two BM25 settings, two chunkings, titles."""
    path = tmp_path_factory.mktemp("report") / "store"
    experiment = ragplay.Experiment(
        {
            "metrics": ["mrr", "recall@5"],
            "retrievers": {"bm25": {"kind": "bm25"}, "bm25_k12": {"kind": "bm25", "k1": 1.2}},
            "grid": {
                "retrievers": ["bm25", "bm25_k12"],
                "chunking": [{"strategy": "fixed", "size": 500}, {"strategy": "markdown"}],
                "enrich": ["none", "{title}\n\n{text}"],
            },
        }
    )
    ragplay.sweep(ragplay.demo_collection(), experiment, store=path, show_progress=False)
    return path


@pytest.fixture(scope="module")
def reported(store):
    done = subprocess.run(
        [sys.executable, "-m", "ragplay", "report", str(store)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return store / "report", done.stdout


class Page(HTMLParser):
    """The table cells and image sources of the report page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.images: dict[str, str] = {}
        self._cell: list[str] | None = None
        self._figure = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "figure":
            self._figure = a["id"]
        elif tag == "img":
            self.images[self._figure] = a["src"]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_report_files_and_page(reported, store):
    folder, printed = reported
    results = ragplay.Store(store).results()
    assert f"report: {folder / 'index.html'}" in printed
    for label, mrr in results.select("label", "mrr").iter_rows():
        assert any(label in line and f"{mrr:.4f}" in line for line in printed.splitlines())
    for stem in CHARTS:
        png = Image.open(folder / f"{stem}.png")
        assert png.format == "PNG" and png.size == (800, 500)
        assert (folder / f"{stem}.svg").read_text().startswith("<svg")
    page = Page()
    page.feed((folder / "index.html").read_text(encoding="utf-8"))
    header, *rows = page.rows
    assert header[:3] == ["configuration", "mrr", "recall@5"]
    ranked = results.sort("mrr", descending=True)
    assert [r[0] for r in rows] == ranked["label"].to_list()
    for row, (mrr, p, significant, delta) in zip(
        rows, ranked.select("mrr", "mrr_p_adjusted", "mrr_significant", "mrr_delta").iter_rows()
    ):
        assert row[1].startswith(f"{mrr:.4f}")
        assert ("baseline" in row[1]) == (p is None)
        assert ("▲" in row[1]) == bool(significant and delta > 0)
        assert ("▼" in row[1]) == bool(significant and delta < 0)
    # The page is self-contained: each chart is embedded, byte for byte.
    assert sorted(page.images) == sorted(CHARTS)
    for stem, src in page.images.items():
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]) == (folder / f"{stem}.png").read_bytes()


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.fail("no Chromium: `make test` installs Debian's chromium package", pytrace=False)


def test_report_renders_in_a_headless_browser(reported, store, tmp_path):
    folder, _ = reported
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1280,3200",
            f"--screenshot={shot}",
            (folder / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr
    page = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    chart = np.asarray(Image.open(folder / "pareto.png").convert("RGB")).astype(int)

    # The Pareto chart is the first image with its orange: find its topmost orange pixel in
    # both, and the whole chart must be there, pixel for pixel.
    def first_orange(img: np.ndarray) -> tuple[int, int]:
        ys, xs = np.nonzero(np.all(img == ON_FRONT, axis=-1))
        i = np.lexsort((xs, ys))[0]
        return int(ys[i]), int(xs[i])

    (py, px), (cy, cx) = first_orange(page), first_orange(chart)
    top, left = py - cy, px - cx
    assert top > 0 and left >= 0
    block = page[top : top + 500, left : left + 800]
    assert block.shape == chart.shape
    assert (np.abs(block - chart).max(axis=-1) <= 2).mean() > 0.99
    # Above the chart: the table, one border line per row and the header's two.
    above = page[:top]
    lines = int((np.all(above == BORDER, axis=-1).sum(axis=1) > 300).sum())
    results = ragplay.Store(store).results()
    assert lines >= results.height + 2
    # And the text of the page is dark ink on white.
    assert (above.sum(axis=-1) < 200).sum() > 1000


def test_report_of_a_missing_store(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "ragplay", "report", str(tmp_path / "none")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "no ragplay store" in done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(r"none", done.stderr)


def test_report_charts_follow_the_results(store):
    from ragplay import report

    charts = report.charts(ragplay.Store(store), ["mrr", "recall@5"])
    results = ragplay.Store(store).results()
    points = charts["pareto"].data()
    assert points["label"].to_list() == results["label"].to_list()
    heat = charts["heatmap"].data()
    best = results.group_by("retrievers", "chunking").agg(pl.col("mrr").max())
    assert heat.height == best.height
