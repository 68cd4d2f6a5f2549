"""Time ragplay's vector indexes against faiss, hnswlib and usearch on the same vectors.

Data: ``--docs`` (100,000) clustered unit vectors of ``--dim`` (384) values (1,000 gaussian
clusters, fixed seed) and 1,000 queries drawn the same way (not copies of documents).

1. Exact top-10 for every query: ragplay ``VectorIndex`` (f32, f16, int8 storage) and
   ``exact_search`` against faiss ``IndexFlatIP``. The ids must agree (ties aside); the
   table gives the best of ``--repeats`` calls, the ratio, and the GFLOP/s reached (2 · docs ·
   dim flops per query) against the machine's peak.
2. HNSW: build time (m = 16, ef_construction = 200 for all three), then queries/s of a batch
   of 1,000 queries over every ``ef`` in a sweep, with recall@10 against the exact result;
   for each tool the fastest setting that reaches recall 0.95 and 0.98. ragplay is timed with
   each storage (the graph search reads that copy, its results rescored with the f32
   vectors); hnswlib reads f32; usearch its default copy (bf16 in 2.x). Every tool gets the
   same threads (``--threads``, default: all cores): faiss' OpenMP, hnswlib's
   ``num_threads``, usearch's ``threads``, rayon's pool (``RAYON_NUM_THREADS``).

Run: ``make bench`` or ``python benches/bench_vectors.py``, with faiss-cpu, hnswlib, usearch
and a release build of ragplay installed.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from timing import timed


def clustered(n: int, dim: int, seed: int, clusters: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(m: int) -> np.ndarray:
        x = centres[rng.integers(0, clusters, m)]
        x = x + 0.35 * rng.standard_normal((m, dim)).astype(np.float32) / np.sqrt(dim)
        return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)

    return draw(n), draw(1000)


def recall(got: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(t)) / len(t) for g, t in zip(got, truth)]))


def ragplay_ids(run, n_queries: int, k: int) -> np.ndarray:
    import polars as pl

    out = np.full((n_queries, k), -1, dtype=np.int64)
    r = run.select(
        pl.col("query_id").cast(pl.Int64), pl.col("doc_id").cast(pl.Int64), pl.col("rank")
    )
    q, d, rank = (r[c].to_numpy() for c in ("query_id", "doc_id", "rank"))
    out[q, rank - 1] = d
    return out


def bench_exact(docs, queries, repeats, threads):
    import faiss

    import ragplay

    n, dim = docs.shape
    ids = [str(i) for i in range(n)]
    qids = [str(i) for i in range(len(queries))]
    flat = faiss.IndexFlatIP(dim)
    flat.add(docs)
    f_times, (_, truth) = timed(lambda: flat.search(queries, 10), repeats)
    rows = [("faiss IndexFlatIP", min(f_times), 1.0)]
    for storage in ["f32", "f16", "int8"]:
        index = ragplay.VectorIndex(dim, storage=storage)
        index.add(ids, docs, show_progress=False)
        t, run = timed(
            lambda index=index: index.search(queries, query_ids=qids, k=10, show_progress=False),
            repeats,
        )
        r = recall(ragplay_ids(run, len(queries), 10), truth)
        rows.append((f"ragplay VectorIndex {storage}", min(t), r))
    t, run = timed(
        lambda: ragplay.exact_search(queries, docs, query_ids=qids, doc_ids=ids, k=10), repeats
    )
    rows.append(("ragplay exact_search", min(t), recall(ragplay_ids(run, len(queries), 10), truth)))
    flops = 2.0 * n * dim * len(queries)
    print(f"\nExact top-10, {n:,} x {dim}, {len(queries):,} queries, {threads} threads")
    print(f"{'tool':<28}{'best s':>9}{'GFLOP/s':>10}{'faiss/x':>9}{'agree':>8}")
    for name, s, agree in rows:
        print(f"{name:<28}{s:>9.3f}{flops / s / 1e9:>10.1f}{min(f_times) / s:>8.2f}x{agree:>8.4f}")
    return truth


def sweep(search, to_ids, truth, efs, repeats=3):
    """(ef, recall, queries/s) for each ef: the best of ``repeats`` timed searches (the
    conversion of the result to an id array is not timed)."""
    out = []
    for ef in efs:
        search(ef)  # warm
        seconds, got = timed(lambda ef=ef: search(ef), repeats)
        out.append((ef, recall(to_ids(got), truth), len(truth) / min(seconds)))
    return out


def at_recall(points, target):
    ok = [p for p in points if p[1] >= target]
    return max(ok, key=lambda p: p[2]) if ok else None


def bench_hnsw(docs, queries, truth, threads):
    import hnswlib
    import usearch.index

    import ragplay

    n, dim = docs.shape
    labels = np.arange(n)
    efs = [10, 16, 24, 32, 48, 64, 96, 128]
    results = {}

    qids = [str(i) for i in range(len(queries))]
    for storage in ["f32", "f16", "int8"]:
        t0 = time.perf_counter()
        rp = ragplay.VectorIndex(dim, backend="hnsw", storage=storage, m=16, ef_construction=200)
        rp.add([str(i) for i in range(n)], docs, show_progress=False)
        build = time.perf_counter() - t0

        def rp_search(ef, rp=rp):
            rp.ef_search = ef
            return rp.search(queries, query_ids=qids, k=10, show_progress=False)

        results[f"ragplay {storage}"] = (
            build,
            sweep(rp_search, lambda run: ragplay_ids(run, len(queries), 10), truth, efs),
        )

    t0 = time.perf_counter()
    hl = hnswlib.Index(space="ip", dim=dim)
    hl.init_index(max_elements=n, M=16, ef_construction=200, random_seed=42)
    hl.add_items(docs, labels, num_threads=threads)
    build = time.perf_counter() - t0

    def hl_search(ef):
        hl.set_ef(max(ef, 10))
        return hl.knn_query(queries, k=10, num_threads=threads)[0]

    results["hnswlib"] = (build, sweep(hl_search, lambda x: x, truth, efs))

    t0 = time.perf_counter()
    us = usearch.index.Index(ndim=dim, metric="ip", connectivity=16, expansion_add=200)
    us.add(labels, docs, threads=threads)
    build = time.perf_counter() - t0

    def us_search(ef):
        us.expansion_search = ef
        return us.search(queries, 10, threads=threads).keys

    results["usearch"] = (build, sweep(us_search, lambda x: x, truth, efs))

    print(f"\nHNSW, {n:,} x {dim}, m=16, ef_construction=200, {threads} threads")
    print("(ragplay navigates its f32, f16 or int8 copy and rescores with f32; hnswlib f32;")
    print(f" usearch {str(us.dtype).split('.')[-1].lower()}, its default)")
    print(f"{'tool':<14}{'build s':>9}{'ef':>6}{'recall':>8}{'q/s':>9}")
    for name, (build, points) in results.items():
        for i, (ef, r, qps) in enumerate(points):
            head = f"{name:<14}{build:>9.2f}" if i == 0 else " " * 23
            print(f"{head}{ef:>6}{r:>8.4f}{qps:>9.0f}")
    print(f"\n{'':<14}{'build':>12}{'q/s @0.95':>14}{'q/s @0.98':>14}")
    for name, (build, points) in results.items():
        cells = []
        for target in (0.95, 0.98):
            p = at_recall(points, target)
            cells.append(f"{p[2]:>8.0f} ef{p[0]:<3}" if p else f"{'-':>14}")
        print(f"{name:<14}{build:>11.2f}s" + "".join(f"{c:>14}" for c in cells))
    for mine in [name for name in results if name.startswith("ragplay")]:
        rb = results[mine][0]
        for peer in ("hnswlib", "usearch"):
            pb = results[peer][0]
            line = f"{mine} vs {peer}: build {pb / rb:.2f}x"
            for target in (0.95, 0.98):
                a, b = at_recall(results[mine][1], target), at_recall(results[peer][1], target)
                if a and b:
                    line += f", q/s at recall {target}: {a[2] / b[2]:.2f}x"
                elif a:
                    line += f", q/s at recall {target}: {peer} does not reach it"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))
    import faiss

    faiss.omp_set_num_threads(args.threads)
    docs, queries = clustered(args.docs, args.dim, seed=0)
    truth = bench_exact(docs, queries, args.repeats, args.threads)
    bench_hnsw(docs, queries, truth, args.threads)


if __name__ == "__main__":
    main()
