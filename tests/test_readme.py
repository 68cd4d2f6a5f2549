"""The README's Python examples run as written, and what they print is checked against an
independent computation (pytrec_eval, ranx, numpy, or the value the README itself states);
its metric table is the core registry's, and its two commands are the Makefile's."""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import ragplay
from conftest import pytrec_reference

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def mean_reference(run: pl.DataFrame, qrels: pl.DataFrame, metric: str) -> float:
    """The mean of `metric` over the judged queries the run answers, by pytrec_eval."""
    per_query = pytrec_reference(run, qrels, [metric])
    return float(np.mean([v[metric] for v in per_query.values()]))


def assert_summary(summary: pl.DataFrame, run: pl.DataFrame, qrels: pl.DataFrame) -> None:
    metrics = [c for c in summary.columns if c not in ("run", "num_queries")]
    for m in metrics:
        assert math.isclose(summary[m][0], mean_reference(run, qrels, m), abs_tol=1e-12), m


def check_evaluation(ns: dict, out: str) -> None:
    assert_summary(ns["result"].summary, ns["run"], ns["qrels"])
    # compare: the delta is the difference of the two runs' means; explain sums to the score.
    ev = ragplay.evaluate(ns["runs"], ns["qrels"], ["ndcg@10", "map"]).summary
    means = {r["run"]: r for r in ev.iter_rows(named=True)}
    compared = ragplay.compare(ns["runs"], ns["qrels"], ["ndcg@10", "map"], baseline="overlap")
    for row in compared.iter_rows(named=True):
        want = means["bm25"][row["metric"]] - means["overlap"][row["metric"]]
        assert math.isclose(row["delta"], want, abs_tol=1e-12)
    top = ns["run"].row(0, named=True)
    explained = ns["bm25"].explain(ns["queries"]["text"][0], top["doc_id"])
    # Search scores are float32, as in Lucene and bm25s; the explanation adds float64 terms.
    assert math.isclose(explained["score"].sum(), top["score"], rel_tol=1e-6)
    assert "num_queries" in out and "baseline" in out and "idf" in out


def check_dense(ns: dict, out: str) -> None:
    summary = ragplay.evaluate(ns["run"], ns["sample"].qrels, ["ndcg@10"]).summary
    assert_summary(summary, ns["run"], ns["sample"].qrels)
    assert f"{summary['ndcg@10'][0]:.4f}"[:5] in out


def check_fusion(ns: dict, out: str) -> None:
    import ranx

    tuning, runs, qrels = ns["tuning"], ns["runs"], ns["qrels"]
    held = {r["run"]: r for r in tuning.held_out.iter_rows(named=True)}
    test = set(tuning.test_queries)
    for name, run in runs.items():
        only_test = run.filter(pl.col("query_id").is_in(list(test)))
        judged = qrels.filter(pl.col("query_id").is_in(list(test)))
        ours = ragplay.evaluate(only_test, judged, ["ndcg@10"], include_missing=True)
        assert math.isclose(held[name]["mean"], ours.summary["ndcg@10"][0], abs_tol=1e-12)
    # The weighted CombSUM run equals ranx's fusion of the same runs.
    pair = [
        ranx.Run({q: dict(zip(g["doc_id"], g["score"])) for (q,), g in r.group_by("query_id")})
        for r in runs.values()
    ]
    theirs = ranx.fuse(pair, norm="zmuv", method="wsum", params={"weights": [0.6, 0.4]})
    mine = {(q, d): s for q, d, s in ns["zsum"].select("query_id", "doc_id", "score").iter_rows()}
    for q, docs in theirs.to_dict().items():
        for d, s in docs.items():
            if (q, d) in mine:
                assert math.isclose(mine[(q, d)], s, abs_tol=1e-9)
    assert ns["diverse"].group_by("query_id").len()["len"].max() <= 10
    assert "ci_low" in out and "combsum-zscore" in out


def check_rerank(ns: dict, out: str) -> None:
    # The callable reranker orders each query's documents by length, shortest first.
    texts = {d: f"{t} {x}".strip() for d, t, x in ns["sample"].corpus.iter_rows()}
    for (_q,), group in ns["by_length"].group_by("query_id", maintain_order=True):
        lengths = [len(texts[d]) for d in group["doc_id"]]
        assert lengths == sorted(lengths)


def check_vectors(ns: dict, out: str) -> None:
    # The exact index equals numpy's brute force; the recall report agrees with a count.
    vectors, queries = ns["vectors"], ns["queries"]
    scores = queries.astype(np.float64) @ vectors.astype(np.float64).T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    ids = [f"q{i}" for i in range(100)]
    exact = ns["exact"].search(queries, query_ids=ids, k=10)
    hnsw = ns["hnsw"].search(queries, query_ids=ids, k=10)
    want = {f"q{i}": {f"d{j}" for j in top[i]} for i in range(100)}
    got = {q: set(g["doc_id"]) for (q,), g in exact.group_by("query_id")}
    assert got == want
    found = {q: set(g["doc_id"]) for (q,), g in hnsw.group_by("query_id")}
    recall = np.mean([len(found[q] & want[q]) / 10 for q in ids])
    report = ns["hnsw"].recall_report(queries, k=10, show_progress=False)
    assert math.isclose(report["recall"][0], recall, abs_tol=1e-12)
    assert set(ns["run"]["doc_id"]) <= {"d1", "d2", "d3"}


def check_pipeline(ns: dict, out: str) -> None:
    # The latency printed is a measurement; what can be checked is that the trace's run is the
    # search's and that its stages are the pipeline's.
    assert ns["trace"].run.equals(ns["run"])
    assert ns["trace"].latency["stage"].to_list() == [*ns["pipeline"].stages, "total"]


def check_chunking(ns: dict, out: str) -> None:
    summary = ragplay.evaluate(ns["run"], ns["sample"].qrels, ["ndcg@10"]).summary
    assert_summary(summary, ns["run"], ns["sample"].qrels)
    text = dict(ns["sample"].corpus.select("doc_id", "text").iter_rows())
    for d, start, end, chunk in ns["semantic"].select("doc_id", "start", "end", "text").iter_rows():
        assert text[d][start:end] == chunk


def check_documents(ns: dict, out: str) -> None:
    assert ns["chunks"]["section"].to_list() == ["Install", "Install > Linux", "Notes"]
    assert "['Install', 'Install > Linux', 'Notes']" in out


def check_chunked(ns: dict, out: str) -> None:
    summary = ragplay.evaluate(ns["run"], ns["sample"].qrels, ["ndcg@10"]).summary
    assert_summary(summary, ns["run"], ns["sample"].qrels)
    # The span judges the chunks it overlaps by at least half of the shorter one, by hand.
    chunks, judged = ns["chunks"], ns["chunk_qrels_result"]
    first = chunks.filter(pl.col("doc_id") == chunks["doc_id"][0])
    want = [
        c
        for c, s, e in first.select("chunk_id", "start", "end").iter_rows()
        if min(e, 20) - max(s, 0) > 0 and min(e, 20) - max(s, 0) >= 0.5 * min(e - s, 20)
    ]
    assert judged["doc_id"].to_list() == want


def check_sweep(ns: dict, out: str) -> None:
    result, sample = ns["result"], ns["sample"]
    for row in result.results.iter_rows(named=True):
        run = result.run(row["config_id"])
        # Unanswered queries count 0, as trec_eval -c: the mean over every judged query.
        per_query = pytrec_reference(run, sample.qrels, ["ndcg@10"])
        judged = sample.qrels["query_id"].unique().to_list()
        want = sum(per_query.get(q, {}).get("ndcg@10", 0.0) for q in judged) / len(judged)
        assert math.isclose(row["ndcg@10"], want, abs_tol=1e-12), row["label"]
        assert row["ndcg@10_ci_low"] <= row["ndcg@10"] <= row["ndcg@10_ci_high"]
    assert "regression" in out or "passed" in out.lower()


def check_charts(ns: dict, out: str) -> None:
    # The Pareto front, by hand: no other configuration is at least as good on MRR and at
    # least as fast, and better on one.
    results = ns["result"].results.select("label", "mrr", "p50_ms").rows()
    front = {
        a[0]
        for a in results
        if not any(b[1] >= a[1] and b[2] <= a[2] and (b[1] > a[1] or b[2] < a[2]) for b in results)
    }
    points = ns["chart"].points()
    assert set(points.filter(pl.col("front"))["label"]) == front
    assert Path(ns["index"]).is_file()


# Each example, named by a line it holds, and its check.
def check_generate(ns: dict, out: str) -> None:
    """One row per query; the documents in each prompt are the run's top two (ranked as
    trec_eval ranks: score, then doc id descending); the prompt's token count is that of
    transformers' tokenizer and chat template over the same messages."""
    import shutil

    from llm_reference import reference_tokenizer

    answers, run, sample = ns["answers"], ns["run"], ns["sample"]
    assert answers["query_id"].to_list() == sample.queries["query_id"].to_list()
    ranked = run.sort(["query_id", "score", "doc_id"], descending=[False, True, True])
    tok = reference_tokenizer()
    texts = dict(zip(sample.corpus["doc_id"], sample.corpus["text"]))
    titles = dict(zip(sample.corpus["doc_id"], sample.corpus["title"]))
    for row, question in zip(answers.iter_rows(named=True), sample.queries["text"]):
        top = ranked.filter(pl.col("query_id") == row["query_id"])["doc_id"].head(2).to_list()
        assert row["context_doc_ids"] == top
        context = "\n\n".join(
            f"[{n}] {' '.join(x for x in (titles[d], texts[d]) if x)}" for n, d in enumerate(top, 1)
        )
        messages = [
            {
                "role": "system",
                "content": "Answer from the numbered passages and cite them as [n].",
            },
            {"role": "user", "content": f"{context}\n\nQuestion: {question}"},
        ]
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
        assert row["prompt_tokens"] == len(ids["input_ids"])
        assert row["failure"] is None
    assert "context_doc_ids" in out
    shutil.rmtree(".ragplay/answers", ignore_errors=True)


CHECKS = {
    'result = ragplay.evaluate(run, qrels, ["ndcg@10", "recall@100", "mrr", "map"])': (
        check_evaluation
    ),
    "dense = ragplay.DenseIndex(encoder)": check_dense,
    "tuning = ragplay.optimize_fusion(": check_fusion,
    "by_length = ragplay.rerank(": check_rerank,
    'hnsw = ragplay.VectorIndex(64, backend="hnsw"': check_vectors,
    "pipeline = ragplay.Pipeline(": check_pipeline,
    'semantic = ragplay.chunk(sample.corpus, strategy="semantic"': check_chunking,
    "corpus = ragplay.read_documents(folder)": check_documents,
    "chunked = ragplay.Chunked(": check_chunked,
    "result = ragplay.sweep(sample, experiment, store=store)": check_sweep,
    "chart = ragplay.plot.pareto(": check_charts,
    "answers = ragplay.generate(": check_generate,
}


def block_id(block: str) -> str:
    for marker in CHECKS:
        if marker in block:
            return marker
    return block.splitlines()[2] if len(block.splitlines()) > 2 else block


@pytest.mark.parametrize("block", BLOCKS, ids=[block_id(b)[:40] for b in BLOCKS])
def test_readme_example_prints_what_an_independent_computation_gives(block: str) -> None:
    markers = [m for m in CHECKS if m in block]
    assert len(markers) == 1, "every README example has one check here"
    namespace: dict = {}
    # The chunk_qrels line prints its result; keep it for the check.
    source = block.replace(
        "print(ragplay.chunk_qrels(", "chunk_qrels_result = (ragplay.chunk_qrels("
    )
    if source != block:
        source += "print(chunk_qrels_result)\n"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, str(README), "exec"), namespace)
    CHECKS[markers[0]](namespace, out.getvalue())


def test_every_check_has_its_example() -> None:
    assert len(BLOCKS) == len(CHECKS)
    for marker in CHECKS:
        assert sum(marker in b for b in BLOCKS) == 1, marker


def metric_table(registry: pl.DataFrame) -> str:
    lines = ["| metric | aliases | definition | reference |", "|---|---|---|---|"]
    for row in registry.iter_rows(named=True):
        aliases = ", ".join(f"`{a}`" for a in row["aliases"].split(", ") if a)
        lines.append(
            f"| `{row['pattern']}` | {aliases} | {row['description']} | {row['reference']} |"
        )
    return "\n".join(lines)


def test_readme_metric_table_is_the_registry():
    text = README.read_text()
    found = re.search(r"<!-- metrics -->\n(.*?)\n<!-- /metrics -->", text, flags=re.S)
    assert found, "the README has no metric table between <!-- metrics --> markers"
    registry = ragplay.metrics()
    assert found.group(1) == metric_table(registry)
    # Every name and alias in the registry parses as a metric.
    sample = ragplay.sample_collection()
    run = ragplay.overlap_run(sample.corpus, sample.queries, k=10)
    for row in registry.iter_rows(named=True):
        for name in [row["name"], *filter(None, row["aliases"].split(", "))]:
            metric = f"{name}@5" if row["cutoff"] == "required" else name
            assert ragplay.evaluate(run, sample.qrels, [metric]).summary.columns[-1] == metric


def test_the_two_commands_are_the_makefiles_and_ci_runs_the_test_command():
    """The README's commands are Makefile targets, `make test` is what CI runs, and `make demo`
    installs nothing of the test toolchain."""
    text = README.read_text()
    commands = re.search(r"```sh\n(make demo.*?)\n(make test.*?)\n```", text)
    assert commands, "the README's first shell block names make demo and make test"
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)
    demo_deps = re.search(r"^\$\(VENV\)/\.runtime:.*?\n\n", makefile, flags=re.M | re.S)
    assert demo_deps and "--group test" not in demo_deps.group(0)
