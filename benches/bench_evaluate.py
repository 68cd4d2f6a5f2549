"""Time ``ragplay.evaluate`` against ranx and pytrec_eval on one synthetic workload.

The run (10,000 queries x 1,000 documents by default, fixed seed) and its graded qrels are
generated with numpy in this process, and every tool evaluates the same six metrics on them:
ndcg@10, map, recall@100, p@10, mrr and bpref.

What each timing covers:

* ragplay: ``ragplay.evaluate(run, qrels, metrics)`` on polars DataFrames, its canonical
  input. A second row adds the conversion from the dicts the other tools take.
* ranx: ``ranx.evaluate(qrels, run, metrics)`` on ``Qrels`` / ``Run`` objects built
  beforehand (building them, which also sorts the run, is not timed), after a warm-up
  of numba's JIT on a small input. One more row times ``ranx.Run.from_dict`` of the shuffled
  rows' dicts (grouped by query already, as dicts are) and the evaluation together, once:
  the Run's sorting is work that ragplay's ``evaluate`` does inside (with the grouping).
* pytrec_eval: ``RelevanceEvaluator(qrels, measures)`` plus ``.evaluate(run)`` on dicts.

Every tool is timed twice: on the run as generated (rows grouped by query) and on a copy with
its rows shuffled (``run.sample(fraction=1.0, shuffle=True, seed=...)``, as after a join or
``unique()``), from which the other tools' dicts and objects are built as well.

Each call is timed with the garbage collector off; the table shows the first call and the
best. pytrec_eval must agree with ragplay to 1e-9 (means and per query); differences from
ranx are counted and explained.

Run: ``make bench`` or ``python benches/bench_evaluate.py [--queries 1000]`` (``--help``
lists the options), with ranx, pytrec-eval-terrier and a release build of ragplay installed.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numba
import numpy as np
import polars as pl
import pytrec_eval
import ranx

import ragplay
from timing import timed

# (ragplay name, ranx name, pytrec_eval measure, pytrec_eval result key)
METRICS = [
    ("ndcg@10", "ndcg@10", "ndcg_cut.10", "ndcg_cut_10"),
    ("map", "map", "map", "map"),
    ("recall@100", "recall@100", "recall.100", "recall_100"),
    ("p@10", "precision@10", "P.10", "P_10"),
    ("mrr", "mrr", "recip_rank", "recip_rank"),
    ("bpref", "bpref", "bpref", "bpref"),
]
POOL = 10_000_000  # doc ids d0000000..d9999999


def make_frames(n_queries: int, n_docs: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A run of ``n_docs`` distinct documents per query, and qrels judging 1-30 per query."""
    rng = np.random.default_rng(seed)
    # Query q retrieves documents (start + j * step) % POOL for j < n_docs; step is coprime
    # with POOL, so they are distinct, and j >= n_docs gives documents it did not retrieve.
    start = rng.integers(0, POOL, n_queries)
    step = rng.integers(0, POOL // 10, n_queries) * 10 + rng.choice([1, 3, 7, 9], n_queries)

    def doc_index(q: np.ndarray, j: np.ndarray) -> np.ndarray:
        return (start[q] + j * step[q]) % POOL

    scores = rng.random((n_queries, n_docs), dtype=np.float32)
    # Judged retrieved documents: 1-27 per query, the first one relevant, grades 0..3.
    width = min(27, n_docs)
    picked = np.argsort(rng.random((n_queries, n_docs), dtype=np.float32), axis=1)[:, :width]
    grades = rng.integers(0, 4, (n_queries, width))
    grades[:, 0] = rng.integers(1, 4, n_queries)
    q_ret, col = np.nonzero(np.arange(width) < rng.integers(1, width + 1, n_queries)[:, None])
    j_ret, rel_ret = picked[q_ret, col], grades[q_ret, col]
    # Relevant documents score higher (float32 arithmetic keeps scores float32-exact).
    scores[q_ret, j_ret] += np.float32(0.25) * rel_ret.astype(np.float32)
    # Judged documents the run did not retrieve: 0-3 per query.
    q_un, col = np.nonzero(np.arange(3) < rng.integers(0, 4, n_queries)[:, None])
    j_un, rel_un = n_docs + col, rng.integers(0, 4, len(q_un))

    q_run = np.repeat(np.arange(n_queries), n_docs)
    j_run = np.tile(np.arange(n_docs), n_queries)
    q_rel, j_rel = np.concatenate([q_ret, q_un]), np.concatenate([j_ret, j_un])
    rel = np.concatenate([rel_ret, rel_un])

    def ids(prefix: str, name: str, width: int) -> pl.Expr:
        return (pl.lit(prefix) + pl.col(name).cast(pl.String).str.zfill(width)).alias(name)

    run = pl.DataFrame(
        {"query_id": q_run, "doc_id": doc_index(q_run, j_run), "score": scores.ravel()}
    ).select(ids("q", "query_id", 5), ids("d", "doc_id", 7), pl.col("score").cast(pl.Float64))
    qrels = pl.DataFrame(
        {"query_id": q_rel, "doc_id": doc_index(q_rel, j_rel), "relevance": rel}
    ).select(ids("q", "query_id", 5), ids("d", "doc_id", 7), pl.col("relevance").cast(pl.Int32))
    return run, qrels


def to_dicts(frame: pl.DataFrame, value: str) -> dict[str, dict[str, float]]:
    """``{query_id: {doc_id: value}}``, the input of pytrec_eval and ranx."""
    out: dict[str, dict] = {}
    for q, d, v in zip(*(frame[c].to_list() for c in ("query_id", "doc_id", value))):
        out.setdefault(q, {})[d] = v
    return out


def from_dicts(run: dict, qrels: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The reverse of ``to_dicts``: what a caller holding dicts does before ``evaluate``."""
    frames = []
    for d, value, dtype in ((run, "score", pl.Float64), (qrels, "relevance", pl.Int32)):
        q_ids = [q for q, docs in d.items() for _ in range(len(docs))]
        doc_ids = [doc for docs in d.values() for doc in docs]
        values = [v for docs in d.values() for v in docs.values()]
        schema = {"query_id": pl.String, "doc_id": pl.String, value: dtype}
        frames.append(pl.DataFrame([q_ids, doc_ids, values], schema=schema, orient="col"))
    return frames[0], frames[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--docs", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per tool")
    parser.add_argument("--pytrec-repeats", type=int, default=2, help="timed pytrec_eval calls")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    t0 = time.perf_counter()
    run_df, qrels_df = make_frames(args.queries, args.docs, args.seed)
    run_d, qrels_d = to_dicts(run_df, "score"), to_dicts(qrels_df, "relevance")
    ranx_qrels, ranx_run = ranx.Qrels.from_dict(qrels_d), ranx.Run.from_dict(run_d)
    shuffled_df = run_df.sample(fraction=1.0, shuffle=True, seed=args.seed)
    shuffled_d = to_dicts(shuffled_df, "score")
    ranx_shuffled = ranx.Run.from_dict(shuffled_d)
    n_rows = run_df.height
    print(
        f"workload: {args.queries:,} queries x {args.docs:,} docs = {n_rows:,} run rows, "
        f"{qrels_df.height:,} qrels rows (seed {args.seed}; built in "
        f"{time.perf_counter() - t0:.1f} s)"
    )

    names = [m[0] for m in METRICS]
    rp_times, evaluation = timed(lambda: ragplay.evaluate(run_df, qrels_df, names), args.repeats)
    conv_times, _ = timed(
        lambda: ragplay.evaluate(*from_dicts(run_d, qrels_d), names), args.repeats
    )
    rp_sh_times, evaluation_sh = timed(
        lambda: ragplay.evaluate(shuffled_df, qrels_df, names), args.repeats
    )
    if not (
        evaluation_sh.per_query.equals(evaluation.per_query)
        and evaluation_sh.summary.equals(evaluation.summary)
    ):
        raise SystemExit("ragplay gives different results on shuffled rows")

    # ranx's ndcg casts uint64 doc hashes to int64 and warns on every call.
    warnings.filterwarnings("ignore", category=numba.NumbaTypeSafetyWarning)
    # Warm up numba on >= 10 queries: below that ranx.evaluate pins numba to one thread.
    small = list(qrels_d)[:20]
    ranx.evaluate(
        ranx.Qrels.from_dict({q: qrels_d[q] for q in small}),
        ranx.Run.from_dict({q: run_d[q] for q in small}),
        [m[1] for m in METRICS],
    )
    rx_times, rx_means = timed(
        lambda: ranx.evaluate(ranx_qrels, ranx_run, [m[1] for m in METRICS]), args.repeats
    )
    rx_sh_times, _ = timed(
        lambda: ranx.evaluate(ranx_qrels, ranx_shuffled, [m[1] for m in METRICS]), args.repeats
    )
    # ranx's Run building (untimed above) with its evaluation: see the module docs.
    rx_built_times, _ = timed(
        lambda: ranx.evaluate(ranx_qrels, ranx.Run.from_dict(shuffled_d), [m[1] for m in METRICS]),
        1,
    )

    def run_pytrec(run: dict):
        return pytrec_eval.RelevanceEvaluator(qrels_d, {m[2] for m in METRICS}).evaluate(run)

    pt_times, pt_per_query = timed(lambda: run_pytrec(run_d), args.pytrec_repeats)
    pt_sh_times, _ = timed(lambda: run_pytrec(shuffled_d), args.pytrec_repeats)

    best = min(rp_times)
    print(
        f"machine: {os.cpu_count()} logical cores, 1-minute load average "
        f"{os.getloadavg()[0]:.2f}; polars threads {pl.thread_pool_size()}, "
        f"numba threads {numba.get_num_threads()}"
    )
    print(f"\n{'tool':<34}{'first s':>9}{'best s':>9}{'calls':>7}{'/ ragplay':>11}")
    for label, times in (
        ("ragplay.evaluate (DataFrames)", rp_times),
        ("ragplay incl. dicts -> DataFrames", conv_times),
        ("ranx.evaluate", rx_times),
        ("pytrec_eval (evaluator+evaluate)", pt_times),
        ("ragplay.evaluate, shuffled rows", rp_sh_times),
        ("ranx.evaluate, shuffled rows", rx_sh_times),
        ("ranx incl. Run.from_dict, shuffled", rx_built_times),
        ("pytrec_eval, shuffled rows", pt_sh_times),
    ):
        print(
            f"{label:<34}{times[0]:>9.3f}{min(times):>9.3f}{len(times):>7}"
            f"{min(times) / best:>10.2f}x"
        )
    print(
        f"ragplay: {n_rows / best / 1e6:.2f} M run rows/s "
        f"(ranx/ragplay {min(rx_times) / best:.2f}x, "
        f"pytrec_eval/ragplay {min(pt_times) / best:.2f}x)"
    )
    print(
        f"ranx/ragplay: grouped rows {min(rx_times) / best:.2f}x, "
        f"shuffled rows {min(rx_sh_times) / min(rp_sh_times):.2f}x, "
        f"shuffled with Run.from_dict {min(rx_built_times) / min(rp_sh_times):.2f}x "
        f"(ragplay shuffled/grouped {min(rp_sh_times) / best:.2f}x)"
    )

    # Agreement ------------------------------------------------------------------------------
    per_query = evaluation.per_query.sort("query_id")
    summary = evaluation.summary.row(0, named=True)
    q_ids = per_query["query_id"].to_list()
    head = ("metric", "ragplay", "pytrec_eval", "|diff|", "ranx", "|diff|", "max q|d|", "q diff")
    print("\n{:<12}{:>10}{:>13}{:>9}{:>10}{:>9}{:>10}{:>8}".format(*head))
    pt_worst, rx_worst, rx_bad, rx_nan = 0.0, 0.0, set(), {}
    for name, rx_name, _, key in METRICS:
        ours = per_query[name].to_numpy()
        pt = np.array([pt_per_query[q][key] for q in q_ids])
        rx = np.array([ranx_run.scores[rx_name][q] for q in q_ids])
        pt_diff, rx_diff = abs(summary[name] - pt.mean()), abs(summary[name] - rx_means[rx_name])
        pt_worst = max(pt_worst, pt_diff, float(np.abs(ours - pt).max()))
        rx_worst = rx_worst if rx_diff <= rx_worst else rx_diff  # keeps a NaN
        gap = np.abs(ours - rx)
        bad = ~(gap <= 1e-9)  # a NaN counts as a difference
        rx_bad.update(q for q, b, v in zip(q_ids, bad, rx) if b and not np.isnan(v))
        if np.isnan(rx).any():
            rx_nan[name] = {q for q, v in zip(q_ids, rx) if np.isnan(v)}
        finite = float(np.nanmax(gap)) if not np.isnan(gap).all() else float("nan")
        print(
            f"{name:<12}{summary[name]:>10.6f}{pt.mean():>13.6f}{pt_diff:>9.1e}"
            f"{rx_means[rx_name]:>10.6f}{rx_diff:>9.1e}{finite:>10.1e}{bad.sum():>8,}"
        )
    print("(ranx vs ragplay: max q|d| per query where ranx is finite; q diff: > 1e-9 or NaN)")
    print(
        f"pytrec_eval: max |diff| (means and per query) {pt_worst:.1e} -> "
        f"{'OK' if pt_worst <= 1e-9 else 'MISMATCH'} (tolerance 1e-9)"
    )

    def queries_where(frame: pl.DataFrame, flag: pl.Expr) -> set[str]:
        return set(frame.group_by("query_id").agg(flag).filter(flag.meta.output_name())["query_id"])

    tied = queries_where(run_df, pl.col("score").is_duplicated().any().alias("tied"))
    no_nonrel = queries_where(qrels_df, (pl.col("relevance") >= 1).all().alias("all_rel"))
    print(f"ranx: max |diff| of means {rx_worst:.1e}")
    for name, queries in rx_nan.items():
        print(
            f"  {name}: NaN on {len(queries):,} queries, {len(queries & no_nonrel):,} of them "
            f"among the {len(no_nonrel):,} with no judged non-relevant document: ranx divides\n"
            "  by min(R, judged non-relevant) = 0 there; trec_eval scores 1 for each relevant "
            "document\n  retrieved above every judged non-relevant one, as ragplay does."
        )
    print(
        f"  {len(rx_bad):,} of {len(q_ids):,} queries differ beyond 1e-9 on a finite value, "
        f"{len(rx_bad & tied):,} of them with tied scores ({len(tied):,} queries have ties)."
    )
    if rx_bad & tied:
        print(
            "  ragplay and trec_eval rank tied scores by doc id descending; ranx keeps the "
            "order of\n  numba's unstable argsort, so ties around a relevant document or a "
            "cutoff can differ."
        )
    if rx_bad - tied:
        print(
            f"  {len(rx_bad - tied):,} differing queries have no ties: a difference in definition."
        )
    if pt_worst > 1e-9:
        raise SystemExit("ragplay and pytrec_eval disagree")


if __name__ == "__main__":
    main()
