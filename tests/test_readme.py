"""The README's Python examples run as written, and its metric table is the core registry's."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

import ragplay

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2, "the README has lost its Python examples"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    out = capsys.readouterr().out
    # The examples print an evaluation summary, a comparison, an explanation and a tuned
    # fusion's held-out table.
    for header in ["num_queries", "baseline", "idf", "ci_low", "combsum-zscore"]:
        assert header in out, f"{header!r} missing from the README examples' output"


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
    for row in registry.iter_rows(named=True):
        for name in [row["name"], *filter(None, row["aliases"].split(", "))]:
            metric = f"{name}@5" if row["cutoff"] == "required" else name
            sample = ragplay.sample_collection()
            run = ragplay.overlap_run(sample.corpus, sample.queries, k=10)
            assert ragplay.evaluate(run, sample.qrels, [metric]).summary.columns[-1] == metric


def test_readme_names_the_two_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci
