"""The demo collection and ``ragplay demo``: the collection holds what its documentation
promises, and the demo's verdict (the best configuration beats the naive baseline
significantly on MRR and recall@5) is checked against pytrec_eval and scipy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

import ragplay
from conftest import pytrec_reference
from ragplay import demo


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragplay", *args], capture_output=True, text=True, cwd=cwd
    )


def test_demo_collection_is_what_it_says():
    c = ragplay.demo_collection()
    corpus, queries, qrels = c.corpus, c.queries, c.qrels
    spans = ragplay.demo_span_qrels()
    assert (corpus.height, queries.height, qrels.height, spans.height) == (100, 200, 200, 200)
    assert corpus["doc_id"].is_unique().all() and queries["query_id"].is_unique().all()
    assert spans.select("query_id", "doc_id").equals(qrels.select("query_id", "doc_id"))
    texts = dict(corpus.select("doc_id", "text").iter_rows())
    titles = dict(corpus.select("doc_id", "title").iter_rows())
    asked = dict(queries.select("query_id", "text").iter_rows())
    codes = 0
    for q, d, start, end in spans.select("query_id", "doc_id", "start", "end").iter_rows():
        text = texts[d]
        assert text.isascii() and text.startswith(f"# {titles[d]}\n")
        assert 0 <= start < end <= len(text)
        span = text[start:end]
        code = re.fullmatch(r"What does error (CRN-\d+) mean\?", asked[q])
        if code:
            codes += 1
            # An error code is on one line of one page, and that line is the span.
            assert [k for k, t in texts.items() if code[1] in t] == [d]
            assert span.startswith(f"- {code[1]}: ") and "\n" not in span
            continue
        # A topic section: its heading, its sentences, and not the feature's name, which
        # only the title (and the question) holds.
        assert span.startswith("## ") and "\n## " not in span
        feature = titles[d].split(":")[0]
        assert feature.lower() not in span.lower()
        assert text[end:].startswith("\n\n## "), span
    assert codes == 50
    # Each page is longer than MiniLM's 256 tokens (about 4 characters a token).
    assert corpus["text"].str.len_chars().min() > 4 * 256


def test_span_qrels_turn_into_section_chunk_qrels():
    c = ragplay.demo_collection()
    chunks = ragplay.chunk(c.corpus, strategy="markdown", size=1000)
    judged = ragplay.chunk_qrels(ragplay.demo_span_qrels(), chunks, c.corpus)
    # One judged chunk per question: the section (or the messages list) holding the span.
    assert judged.height == 200 and judged["query_id"].is_unique().all()


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """One run of ``ragplay demo`` into a fresh store, and what it printed."""
    where = tmp_path_factory.mktemp("demo")
    done = cli("demo", "--store", str(where / "store"), cwd=where)
    assert done.returncode == 0, done.stderr
    return where / "store", done.stdout


def per_query(run: pl.DataFrame, qrels: pl.DataFrame, metric: str) -> dict[str, float]:
    """Per-query values from pytrec_eval (recall@k), or reciprocal rank written here."""
    if metric == "mrr":
        relevant = set(qrels.select("query_id", "doc_id").iter_rows())
        out = {}
        for (q,), rows in run.sort("score", "doc_id", descending=True).group_by(
            "query_id", maintain_order=True
        ):
            ranks = [i for i, d in enumerate(rows["doc_id"], 1) if (q, d) in relevant]
            out[q] = 1.0 / ranks[0] if ranks else 0.0
        return out
    return {q: v[metric] for q, v in pytrec_reference(run, qrels, [metric]).items()}


def test_demo_best_beats_the_naive_baseline_significantly(demo_store):
    path, printed = demo_store
    store = ragplay.Store(path)
    results = store.results()
    qrels = store.qrels()
    n = results.height
    best = results.sort("mrr", descending=True).row(0, named=True)
    base = results.filter(pl.col("baseline")).row(0, named=True)
    assert base["label"] == "minilm · fixed/500 · d100"
    assert f"best: {best['label']}" in printed
    # The report and its Pareto chart are written next to the store's runs.
    assert f"report: {path / 'report' / 'index.html'}" in printed
    pareto = ragplay.plot.pareto(results, "mrr", cost="p50_ms")
    assert (path / "report" / "pareto.png").read_bytes() == pareto.png()
    for metric in ("mrr", "recall@5"):
        a = per_query(store.run(best["config_id"]), qrels, metric)
        b = per_query(store.run(base["config_id"]), qrels, metric)
        queries = sorted(set(qrels["query_id"]))
        x = np.array([a.get(q, 0.0) for q in queries])
        y = np.array([b.get(q, 0.0) for q in queries])
        # The printed means are the reference's.
        line = f"{metric}: {x.mean():.4f} against {y.mean():.4f}"
        assert (
            f"{line} (" in printed
            and printed.split(line)[1].split("\n")[0].endswith("significantly better")
            and "not significantly" not in printed.split(line)[1].split("\n")[0]
        )
        # And the difference is significant by an independent test, Bonferroni-corrected
        # over every comparison of the sweep (stricter than Holm).
        p = stats.wilcoxon(x, y, alternative="greater").pvalue
        assert x.mean() > y.mean() and p * (n - 1) * 3 < 0.05


def test_demo_runs_again_from_its_store(demo_store, tmp_path):
    path, printed = demo_store
    done = cli("demo", "--store", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "0 configurations computed, 12 read from the store" in done.stdout
    assert (
        done.stdout.split("\n", 2)[2].split("0 configurations computed")[0]
        == (printed.split("\n", 2)[2].split("12 configurations computed")[0])
    )


def test_demo_on_a_beir_folder(tmp_path):
    sample = ragplay.sample_collection()
    folder = tmp_path / "sample"
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for d, title, text in sample.corpus.select("doc_id", "title", "text").iter_rows():
            f.write(json.dumps({"_id": d, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for q, text in sample.queries.iter_rows():
            f.write(json.dumps({"_id": q, "text": text}) + "\n")
    sample.qrels.rename(
        {"query_id": "query-id", "doc_id": "corpus-id", "relevance": "score"}
    ).write_csv(folder / "qrels" / "test.tsv", separator="\t")
    done = cli("demo", "--data", str(folder), "--store", str(tmp_path / "store"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results = ragplay.Store(tmp_path / "store").results()
    assert results.height == len(ragplay.Experiment(demo.EXPERIMENT).configurations())
    for label, value in results.select("label", "mrr").iter_rows():
        assert any(label in line and f"{value:.4f}" in line for line in done.stdout.splitlines())
    done = cli(
        "demo", "--data", str(tmp_path / "missing"), "--store", str(tmp_path / "s2"), cwd=tmp_path
    )
    assert done.returncode == 2 and "missing" in done.stderr and "Traceback" not in done.stderr
