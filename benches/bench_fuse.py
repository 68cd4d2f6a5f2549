"""Time ``ragplay.fuse`` against ``ranx.fuse`` on two synthetic runs.

Two runs of 10,000 queries x 1,000 documents by default (fixed seed; the documents of the two
runs overlap by about half, scores distinct within a query), fused with RRF (k = 60) and with
CombSUM over min-max scores. Each tool gets its canonical input, built beforehand and not
timed: polars DataFrames for ragplay, ``ranx.Run`` objects for ranx. Both keep every fused
document (``k=None`` for ragplay). Numba's JIT is warmed up first on a small input, through
each fusion's own code path, and both use every core (``numba.get_num_threads()``, rayon's
default).

ragplay is timed twice: on the runs as generated (rows grouped by query) and on copies with
their rows shuffled (``DataFrame.sample(fraction=1.0, shuffle=True)``, as after a join or
``unique()``); a ``ranx.Run`` is a dict of dicts, whose row order is not an input.

The fused scores must agree to 1e-9 on every (query, document); the table shows the first call
and the best of ``--repeats`` calls, and the ratio of ranx's best to ragplay's.

Run: ``make bench`` or ``python benches/bench_fuse.py [--queries 1000]``, with ranx and a release
build of ragplay installed.
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np
import polars as pl
import ranx

import ragplay
from timing import timed


def make_runs(n_queries: int, n_docs: int, seed: int) -> list[pl.DataFrame]:
    """Two runs over a pool of 1.5 x n_docs documents per query: run a takes the first n_docs,
    run b the last n_docs, each with its own random scores."""
    rng = np.random.default_rng(seed)
    pool = n_docs + n_docs // 2
    q = np.repeat(np.arange(n_queries), n_docs)
    runs = []
    for offset in (0, n_docs // 2):
        d = np.tile(np.arange(offset, offset + n_docs), n_queries)
        score = rng.permutation(n_queries * n_docs).astype(np.float64) / (n_queries * n_docs)
        runs.append(
            pl.DataFrame({"query_id": q, "doc_id": d, "score": score}).select(
                (pl.lit("q") + pl.col("query_id").cast(pl.String)).alias("query_id"),
                (pl.lit("d") + pl.col("doc_id").cast(pl.String).str.zfill(len(str(pool)))).alias(
                    "doc_id"
                ),
                "score",
            )
        )
    return runs


def to_ranx(run: pl.DataFrame, name: str) -> ranx.Run:
    out: dict[str, dict[str, float]] = {}
    for q, d, s in zip(run["query_id"].to_list(), run["doc_id"].to_list(), run["score"].to_list()):
        out.setdefault(q, {})[d] = s
    return ranx.Run(out, name=name)


def as_frame(run: ranx.Run) -> pl.DataFrame:
    """A ``ranx.Run`` as a run table (converted once per fusion: it takes seconds at 10k)."""
    return pl.DataFrame(
        [(q, d, s) for q, docs in run.to_dict().items() for d, s in docs.items()],
        schema={"query_id": pl.String, "doc_id": pl.String, "ref": pl.Float64},
        orient="row",
    )


def worst_gap(ours: pl.DataFrame, ref: pl.DataFrame) -> float:
    joined = ours.join(ref, on=["query_id", "doc_id"], how="full", coalesce=True)
    if joined.height != ours.height or joined.height != ref.height:
        return float("inf")
    return float((joined["score"] - joined["ref"]).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--docs", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    t0 = time.perf_counter()
    a, b = make_runs(args.queries, args.docs, args.seed)
    ra, rb = to_ranx(a, "a"), to_ranx(b, "b")
    runs = {"a": a, "b": b}
    shuffled = {
        name: run.sample(fraction=1.0, shuffle=True, seed=args.seed + i)
        for i, (name, run) in enumerate(runs.items())
    }
    print(
        f"workload: 2 runs x {args.queries:,} queries x {args.docs:,} docs = "
        f"{a.height + b.height:,} rows (built in {time.perf_counter() - t0:.1f} s)"
    )
    # The warm-up input: the first 20 queries of each run.
    first = pl.col("query_id").is_in(a["query_id"].unique(maintain_order=True).head(20).implode())
    small = [to_ranx(run.filter(first), name) for name, run in runs.items()]
    print(
        f"machine: {os.cpu_count()} logical cores, load {os.getloadavg()[0]:.2f}; "
        f"numba threads {numba.get_num_threads()}"
    )
    print(
        f"\n{'fusion':<22}{'tool':<10}{'first s':>9}{'best s':>9}{'ranx / ragplay':>16}{'max |d|':>10}"
    )
    for label, ours_kw, theirs_kw in (
        ("RRF (k=60)", {"method": "rrf"}, {"method": "rrf", "norm": None}),
        (
            "CombSUM min-max",
            {"method": "combsum", "norm": "min-max"},
            {"method": "sum", "norm": "min-max"},
        ),
    ):
        rp_times, ours = timed(
            lambda kw=ours_kw: ragplay.fuse(runs, k=None, show_progress=False, **kw), args.repeats
        )
        sh_times, ours_sh = timed(
            lambda kw=ours_kw: ragplay.fuse(shuffled, k=None, show_progress=False, **kw),
            args.repeats,
        )
        ranx.fuse(small, **theirs_kw)  # numba compiles this fusion's code path
        rx_times, theirs = timed(lambda kw=theirs_kw: ranx.fuse([ra, rb], **kw), args.repeats)
        best, ref = min(rx_times), as_frame(theirs)
        for tool, times, out in (("ragplay", rp_times, ours), ("shuffled", sh_times, ours_sh)):
            gap = worst_gap(out, ref)
            print(
                f"{label if tool == 'ragplay' else '':<22}{tool:<10}{times[0]:>9.3f}"
                f"{min(times):>9.3f}{best / min(times):>15.1f}x{gap:>10.1e}"
            )
            if not gap <= 1e-9:
                raise SystemExit(f"{label}: ragplay ({tool} rows) and ranx disagree ({gap})")
        print(f"{'':<22}{'ranx':<10}{rx_times[0]:>9.3f}{best:>9.3f}")


if __name__ == "__main__":
    main()
