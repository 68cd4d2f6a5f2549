"""The ``ragplay`` command line.

``ragplay eval RUN QRELS -m ndcg@10 -m recall@100`` evaluates a TREC run file against a TREC or
BEIR qrels file. ``ragplay check CANDIDATE BASELINE QRELS -m ndcg@10`` runs the regression gate on
two TREC run files and exits 1 when the candidate is significantly worse. ``ragplay demo`` runs the lab on the bundled sample collection, or with
``--data DIR`` on any BEIR folder, and prints the evaluation.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

import ragplay

DEFAULT_METRICS = ["ndcg@10", "recall@100", "mrr", "map", "p@10"]


def _read_qrels(path: Path) -> pl.DataFrame:
    """TREC qrels (4 whitespace fields) or BEIR qrels (3 tab-separated fields)."""
    with open(path, "rb") as f:
        first = next((line for line in f if line.strip()), b"")
    if first.count(b"\t") == 2:
        return ragplay.read_beir_qrels(path)
    return ragplay.read_trec_qrels(path)


def _print(df: pl.DataFrame) -> None:
    with pl.Config(tbl_rows=-1, tbl_cols=-1, float_precision=4, tbl_hide_dataframe_shape=True):
        print(df)


def _cmd_eval(args: argparse.Namespace) -> int:
    run = ragplay.read_trec_run(args.run)
    qrels = _read_qrels(args.qrels)
    result = ragplay.evaluate(
        run,
        qrels,
        args.metric or DEFAULT_METRICS,
        relevance_threshold=args.relevance_threshold,
        include_missing=args.include_missing,
        name=Path(args.run).name,
    )
    if args.per_query:
        _print(result.per_query)
    _print(result.summary)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    report = ragplay.check(
        ragplay.read_trec_run(args.candidate),
        ragplay.read_trec_run(args.baseline),
        _read_qrels(args.qrels),
        args.metric or ["ndcg@10"],
        alpha=args.alpha,
        test=args.test,
        seed=args.seed,
        relevance_threshold=args.relevance_threshold,
        show_progress=False,
    )
    print(report.describe(max_queries=args.max_queries), end="")
    return 0 if report.passed else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.data is None:
        collection = ragplay.sample_collection()
        source = "the ragplay sample collection"
    else:
        collection = ragplay.load_beir(args.data)
        source = str(args.data)
    corpus, queries, qrels = collection.corpus, collection.queries, collection.qrels
    print(f"ragplay {ragplay.__version__} demo on {source}: {collection!r}")

    start = time.perf_counter()
    bm25 = ragplay.BM25()
    bm25.index(corpus, show_progress=False)
    built = time.perf_counter() - start
    start = time.perf_counter()
    runs = {"bm25": bm25.search(queries, k=100)}
    searched = time.perf_counter() - start
    print(
        f"{bm25!r}: indexed in {built * 1000:.1f} ms, {queries.height} queries in {searched * 1000:.1f} ms"
    )
    runs["overlap"] = ragplay.overlap_run(corpus, queries, k=100)

    stacked = ragplay.stack_runs(runs)
    _print(ragplay.evaluate(stacked, qrels, DEFAULT_METRICS).summary)
    print("BM25 against the term-overlap baseline (paired randomization test, Holm):")
    comparison = ragplay.compare(stacked, qrels, ["ndcg@10", "map"], baseline="overlap")
    _print(
        comparison.select(
            "metric", "run", "baseline", "delta", "p_value", "p_adjusted", "wins", "ties", "losses"
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragplay", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=ragplay.__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("eval", help="evaluate a TREC run file against qrels")
    ev.add_argument("run", type=Path, help="TREC run file")
    ev.add_argument("qrels", type=Path, help="TREC or BEIR qrels file")
    ev.add_argument("-m", "--metric", action="append", help="metric, e.g. ndcg@10 (repeatable)")
    ev.add_argument("-l", "--relevance-threshold", type=int, default=1, help="relevance threshold")
    ev.add_argument(
        "-c", "--include-missing", action="store_true", help="count unanswered qrels queries"
    )
    ev.add_argument("-q", "--per-query", action="store_true", help="also print per-query values")
    ev.set_defaults(func=_cmd_eval)

    gate = sub.add_parser(
        "check", help="fail (exit 1) when a run is significantly worse than a baseline run"
    )
    gate.add_argument("candidate", type=Path, help="TREC run file under test")
    gate.add_argument("baseline", type=Path, help="TREC run file of the baseline")
    gate.add_argument("qrels", type=Path, help="TREC or BEIR qrels file")
    gate.add_argument("-m", "--metric", action="append", help="metric (repeatable; ndcg@10)")
    gate.add_argument("--alpha", type=float, default=0.05, help="family-wise level (0.05)")
    gate.add_argument(
        "--test", choices=ragplay.OPTIONS["test"], default="randomization", help="paired test"
    )
    gate.add_argument("--seed", type=int, default=42, help="seed of the resampling")
    gate.add_argument(
        "-l", "--relevance-threshold", type=int, default=1, help="relevance threshold"
    )
    gate.add_argument("--max-queries", type=int, default=5, help="worst queries named per metric")
    gate.set_defaults(func=_cmd_check)

    demo = sub.add_parser("demo", help="run the lab on the sample collection or a BEIR folder")
    demo.add_argument("--data", type=Path, default=None, help="a BEIR folder")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ragplay.RagplayError, OSError) as e:
        print(f"ragplay: error: {e}", file=sys.stderr)
        return 2
