"""The Python surface: stubs that match the runtime, docstrings, the command line."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

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


def test_stub_literals_are_the_core_vocabularies():
    """Each option string's `Literal` type in the stub lists exactly what the core accepts."""
    import ast

    tree = ast.parse((ROOT / "python" / "ragplay" / "_ragplay.pyi").read_text())
    literals: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Subscript):
            target = node.targets[0]
            if isinstance(target, ast.Name) and ast.unparse(node.value.value) == "Literal":
                elts = node.value.slice.elts if isinstance(node.value.slice, ast.Tuple) else []
                literals[target.id] = [e.value for e in elts if isinstance(e, ast.Constant)]
    pairs = {
        "_Variant": "variant",
        "_Pooling": "pooling",
        "_Test": "test",
        "_Correction": "correction",
        "_Language": "stemmer",
        "_Method": "method",
        "_Norm": "norm",
        "_Activation": "activation",
        "_Backend": "backend",
        "_Storage": "storage",
        "_Strategy": "strategy",
        "_Unit": "unit",
        "_Aggregate": "aggregate",
        "_Errors": "errors",
        "_Mode": "mode",
        "_ContextOrder": "context_order",
    }
    for alias, option in pairs.items():
        assert literals[alias] == native.OPTIONS[option], (alias, literals.get(alias))
    # Every listed value is accepted, and the error for another one lists them all.
    for variant in native.OPTIONS["variant"]:
        ragplay.BM25(variant=variant)
    with pytest.raises(ragplay.ConfigError) as bad:
        ragplay.BM25(variant="bm26")
    assert str(bad.value) == (
        'invalid variant: "bm26"; use "lucene", "robertson", "atire", "bm25l", "bm25+" or "okapi"'
    )
    for language in native.OPTIONS["stemmer"]:
        ragplay.Analyzer(stemmer=language)


def test_every_public_name_is_documented():
    # Public names live at the top level, or in the chart module.
    for module in (ragplay, ragplay.plot):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.isclass(obj):
                assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"
    assert set(native.__all__) <= set(ragplay.__all__) | set(ragplay.plot.__all__)


def public_signatures() -> dict[str, inspect.Signature]:
    """The signature of every public function, constructor and method, by qualified name."""
    out: dict[str, inspect.Signature] = {}
    for name in ragplay.__all__:
        obj = getattr(ragplay, name)
        if inspect.isbuiltin(obj) or inspect.isfunction(obj):
            out[name] = inspect.signature(obj)
        elif inspect.isclass(obj) and obj.__module__ == "ragplay._ragplay":
            if obj.__text_signature__:
                out[name] = inspect.signature(obj)
            # Methods of the class and of its base (BaseRetriever's index and search).
            members = {k: v for base in reversed(obj.__mro__) for k, v in vars(base).items()}
            for attr, member in members.items():
                if attr.startswith("_") or not callable(member):
                    continue
                try:
                    out[f"{name}.{attr}"] = inspect.signature(getattr(obj, attr))
                except ValueError:  # no text signature: not a Rust method
                    continue
    return out


LONG_CALLS = [
    "BM25.index",
    "BM25.add",
    "BM25.search",
    "DenseIndex.index",
    "DenseIndex.add",
    "DenseIndex.search",
    "Encoder.encode",
    "Encoder.encode_queries",
    "Encoder.encode_corpus",
    "evaluate",
    "compare",
    "compare_per_query",
    "fuse",
    "optimize_fusion",
    "mmr",
    "rerank",
    "CrossEncoder.predict",
    "DenseIndex.compact",
    "DenseIndex.recall_report",
    "VectorIndex.add",
    "VectorIndex.compact",
    "VectorIndex.search",
    "VectorIndex.recall_report",
    "Pipeline.index",
    "Pipeline.search",
    "Pipeline.trace",
    "chunk",
    "read_documents",
    "Chunked.index",
    "Chunked.search",
    "sweep",
    "LLM.complete",
    "generate",
]


def test_tuning_knobs_are_keyword_only():
    for name, sig in public_signatures().items():
        for p in sig.parameters.values():
            if p.default is not p.empty:
                assert p.kind is p.KEYWORD_ONLY, f"{name}({p.name}=...) is not keyword-only"
    assert list(inspect.signature(ragplay.evaluate).parameters)[:3] == ["run", "qrels", "metrics"]
    assert list(inspect.signature(ragplay.compare).parameters)[:3] == ["runs", "qrels", "metrics"]


def test_the_same_parameter_has_the_same_name_and_default_everywhere():
    signatures = public_signatures()
    assert len(signatures) > 40, sorted(signatures)
    defaults: dict[str, dict[object, list[str]]] = {}
    names: set[str] = set()
    for name, sig in signatures.items():
        for p in sig.parameters.values():
            if p.name in ("self", "cls"):
                continue
            names.add(p.name)
            if p.default is not p.empty:
                defaults.setdefault(p.name, {}).setdefault(repr(p.default), []).append(name)
    # Where a pipeline stage is a parameter of the Pipeline, None leaves the stage out; the
    # function of the same stage takes the stage's own default.
    for stage_off in ("mmr_lambda",):
        defaults[stage_off].pop("None")
    differing = {n: d for n, d in defaults.items() if len(d) > 1}
    assert not differing, f"parameters with different defaults: {differing}"
    # One word per concept: none of these synonyms of a canonical parameter name appears.
    synonyms = {
        "top_k": "k",
        "topk": "k",
        "n": "k",
        "progress": "show_progress",
        "verbose": "show_progress",
        "ids": "doc_ids",
        "document_ids": "doc_ids",
        "docids": "doc_ids",
        "qids": "query_ids",
        "threshold": "relevance_threshold",
        "level": "relevance_threshold",
        "measures": "metrics",
        "filter": "allow",
        "allowed": "allow",
        "num_resamples": "n_resamples",
        # Renamed in this release (the old names still work, with a DeprecationWarning).
        "lambda_": "mmr_lambda",
        "mmr": "mmr_lambda",
        "max_length": "max_seq_length",
        "docs": "doc_vectors",
    }
    # `top_k` is the sampling knob of language-model calls (as in transformers and
    # llama.cpp), beside `temperature`; a retrieval depth is always `k`.
    for name, sig in signatures.items():
        if "top_k" in sig.parameters:
            assert "temperature" in sig.parameters, f"{name}: a depth is k, not top_k"
    names.discard("top_k")
    used = {s: c for s, c in synonyms.items() if s in names}
    assert not used, f"use the canonical names: {used}"
    # Every long call shows progress the same way: None (in notebooks and terminals).
    for name in LONG_CALLS:
        p = signatures[name].parameters["show_progress"]
        assert p.default is None and p.kind is p.KEYWORD_ONLY, name


def test_results_are_frames_or_named_results():
    sample = ragplay.sample_collection()
    assert not hasattr(sample, "__iter__") and not hasattr(sample, "__len__")
    run = ragplay.overlap_run(sample.corpus, sample.queries, k=10)
    result = ragplay.evaluate(run, sample.qrels, ["ndcg@10"])
    assert not hasattr(result, "__iter__")
    assert isinstance(result.per_query, pl.DataFrame) and isinstance(result.summary, pl.DataFrame)
    runs = {"a": run, "b": run.with_columns(pl.col("score") * 0.5)}
    from_dict = ragplay.compare(runs, sample.qrels, ["ndcg@10"])
    from_table = ragplay.compare(ragplay.stack_runs(runs), sample.qrels, ["ndcg@10"])
    assert isinstance(from_dict, pl.DataFrame) and from_dict.equals(from_table)
    assert ragplay.evaluate(runs, sample.qrels, ["ndcg@10"]).summary.equals(
        ragplay.evaluate(ragplay.stack_runs(runs), sample.qrels, ["ndcg@10"]).summary
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


def test_one_name_per_concept_in_getters_and_tables():
    """The same concept has one name in getters, options and tables across the API."""
    # Token limits are max_seq_length on every model.
    for cls in (ragplay.Encoder, ragplay.CrossEncoder):
        assert "max_seq_length" in dir(cls), cls
    # Statistics tables share one column scheme: compare, check, fusion tuning and the sweep.
    sample = ragplay.sample_collection()
    run = ragplay.overlap_run(sample.corpus, sample.queries, k=10)
    other = run.with_columns(pl.col("score") * -1.0)
    compared = ragplay.compare({"a": run, "b": other}, sample.qrels, ["ndcg@10"])
    gate = ragplay.check(other, run, sample.qrels, ["ndcg@10"], show_progress=False).summary
    stats = ["delta", "p_value", "p_adjusted", "ci_low", "ci_high", "wins", "ties", "losses"]
    for table in (compared, gate):
        assert set(stats) <= set(table.columns), table.columns
    # Every option's Literal type accepts its advertised aliases (fusion's "wsum").
    assert "wsum" in native.OPTIONS["method"]
    assert ragplay.fuse({"a": run, "b": other}, method="wsum").equals(
        ragplay.fuse({"a": run, "b": other}, method="combsum")
    )


def test_renamed_names_still_work_with_a_deprecation_warning():
    sample = ragplay.sample_collection()
    bm25 = ragplay.BM25()
    bm25.index(sample.corpus, show_progress=False)
    # The old keyword sets MMR's lambda: without a dense index that is the MMR error.
    with pytest.warns(DeprecationWarning, match="mmr= is deprecated; use mmr_lambda="):
        with pytest.raises(ragplay.ConfigError, match="MMR needs a DenseIndex"):
            ragplay.Pipeline([bm25], mmr=0.5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'nonsense'"):
        ragplay.Pipeline([bm25], nonsense=1)  # type: ignore[call-arg]
    # Both names at once is a TypeError, not a silent choice.
    with pytest.warns(DeprecationWarning):
        with pytest.raises(TypeError, match="give mmr_lambda= or its old name mmr=, not both"):
            ragplay.Pipeline([bm25], mmr=0.5, mmr_lambda=0.7)  # type: ignore[call-arg]
    # Warnings are RagplayWarnings, errors RagplayErrors.
    assert issubclass(ragplay.TruncationWarning, ragplay.RagplayWarning)
    assert issubclass(ragplay.InternalError, ragplay.RagplayError)
    assert issubclass(ragplay.InternalError, RuntimeError)
