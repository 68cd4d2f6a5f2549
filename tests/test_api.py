"""The Python surface: stubs that match the runtime, docstrings, the command line."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import polars as pl

import ragplay
import ragplay._ragplay as native

ROOT = Path(__file__).resolve().parents[1]


def test_stubs_match_the_runtime_module():
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ragplay._ragplay"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_stub_docstrings_are_the_rust_docstrings():
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "stubgen.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_every_public_name_is_documented():
    for name in ragplay.__all__:
        obj = getattr(ragplay, name)
        if inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), f"ragplay.{name} has no docstring"
    assert set(native.__all__) <= set(ragplay.__all__)


def test_tuning_knobs_are_keyword_only():
    sig = inspect.signature(ragplay.evaluate)
    assert [p.name for p in sig.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD] == [
        "run",
        "qrels",
        "metrics",
    ]
    assert all(
        p.kind is p.KEYWORD_ONLY
        for p in inspect.signature(ragplay.compare).parameters.values()
        if p.name not in ("run", "qrels", "metrics")
    )


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragplay", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_cli_eval_prints_the_same_numbers_as_evaluate(tmp_path, scifact):
    from conftest import DATA

    run = ragplay.overlap_run(scifact.corpus, scifact.queries, k=100)
    path = tmp_path / "overlap.run"
    ragplay.write_trec_run(run, path)
    done = cli(
        "eval",
        str(path),
        str(DATA / "scifact" / "qrels" / "test.tsv"),
        "-m",
        "ndcg@10",
        "-m",
        "recall@100",
    )
    assert done.returncode == 0, done.stderr
    summary = ragplay.evaluate(run, scifact.qrels, ["ndcg@10", "recall@100"]).summary
    for metric in ("ndcg@10", "recall@100"):
        assert metric in done.stdout
        assert f"{summary[metric][0]:.4f}" in done.stdout
    # TREC qrels work too, and -q prints per-query rows.
    qrels_path = tmp_path / "qrels.txt"
    ragplay.write_trec_qrels(scifact.qrels, qrels_path)
    done = cli("eval", str(path), str(qrels_path), "-m", "ndcg@10", "-q")
    assert done.returncode == 0 and f"{summary['ndcg@10'][0]:.4f}" in done.stdout


def test_cli_demo_runs_on_the_sample_collection():
    done = cli("demo")
    assert done.returncode == 0, done.stderr
    sample = ragplay.sample_collection()
    corpus, queries, qrels = sample.corpus, sample.queries, sample.qrels
    index = ragplay.BM25()
    index.index(corpus, show_progress=False)
    for run in (index.search(queries, k=100), ragplay.overlap_run(corpus, queries, k=100)):
        value = ragplay.evaluate(run, qrels, ["ndcg@10"]).summary["ndcg@10"][0]
        assert f"{value:.4f}" in done.stdout
    assert "ndcg@10" in done.stdout and "p_value" in done.stdout


def test_cli_reports_bad_input_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.run"
    bad.write_text("q1 Q0 d1 1 oops t\n")
    done = cli("eval", str(bad), str(bad), "-m", "ndcg@10")
    assert done.returncode == 2
    assert "bad.run:1: score" in done.stderr and "Traceback" not in done.stderr
    done = cli("eval", str(tmp_path / "none.run"), str(bad))
    assert done.returncode == 2 and "No such file" in done.stderr


def test_sample_collection_is_consistent():
    sample = ragplay.sample_collection()
    corpus, queries, qrels = sample.corpus, sample.queries, sample.qrels
    assert set(qrels["query_id"]) == set(queries["query_id"])
    assert set(qrels["doc_id"]) <= set(corpus["doc_id"])
    assert corpus["doc_id"].is_unique().all()
    assert qrels.schema["relevance"] == pl.Int32
