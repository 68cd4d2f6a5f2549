"""The ``ragplay`` command line.

``ragplay eval RUN QRELS -m ndcg@10 -m recall@100`` evaluates a TREC run file against a TREC or
BEIR qrels file. ``ragplay check CANDIDATE BASELINE QRELS -m ndcg@10`` runs the regression gate on
two TREC run files (or ``ragplay check CANDIDATE --baseline STORE`` against the baseline
configuration of an experiment store) and exits 1 when the candidate is significantly worse.
``ragplay run experiment.toml`` runs the sweep an experiment file describes into a store and
prints its results. ``ragplay report STORE`` prints a store's ranked configurations and writes
its HTML report with the charts. ``ragplay demo`` sweeps the demo collection (or, with ``--data DIR``, any
BEIR folder) into a store and prints the configurations ranked against a naive baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

import ragplay

from . import report

DEFAULT_METRICS = ["ndcg@10", "recall@100", "mrr", "map", "p@10"]


def _read_qrels(path: Path) -> pl.DataFrame:
    """TREC qrels (4 whitespace fields) or BEIR qrels (3 tab-separated fields)."""
    with open(path, "rb") as f:
        first = next((line for line in f if line.strip()), b"")
    if first.count(b"\t") == 2:
        return ragplay.read_beir_qrels(path)
    return ragplay.read_trec_qrels(path)


def _print(df: pl.DataFrame) -> None:
    print(report.text(df))


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
    if args.store is not None:
        if args.qrels is not None:
            raise ValueError("with --baseline STORE give the candidate and at most a qrels file")
        store = ragplay.Store(args.store)
        baseline = store.baseline_run()
        qrels = _read_qrels(args.baseline) if args.baseline is not None else store.qrels()
    else:
        if args.baseline is None or args.qrels is None:
            raise ValueError("give CANDIDATE BASELINE QRELS, or CANDIDATE --baseline STORE")
        baseline = ragplay.read_trec_run(args.baseline)
        qrels = _read_qrels(args.qrels)
    gate = ragplay.check(
        ragplay.read_trec_run(args.candidate),
        baseline,
        qrels,
        args.metric or ["ndcg@10"],
        alpha=args.alpha,
        test=args.test,
        seed=args.seed,
        relevance_threshold=args.relevance_threshold,
        show_progress=False,
    )
    print(gate.describe(max_queries=args.max_queries), end="")
    return 0 if gate.passed else 1


def print_results(results: pl.DataFrame, metrics: Sequence[str]) -> None:
    """The ranked configurations: each metric with its Holm-corrected p against the baseline."""
    cols = ["label", "baseline"]
    for m in metrics:
        cols += [m, f"{m}_p_adjusted"]
    print(report.text(results.select(*cols, "p50_ms", "index_s", "cost_per_1k_queries_usd")))


def _cmd_run(args: argparse.Namespace) -> int:
    experiment = ragplay.Experiment.read(args.experiment)
    description = experiment.to_dict()
    if args.data is not None:
        data, split = args.data, args.split or "test"
    elif "collection" in description:
        data = Path(description["collection"]["path"])
        if not data.is_absolute():
            data = args.experiment.parent / data
        split = args.split or description["collection"]["split"]
    else:
        raise ValueError(f"{args.experiment}: no [collection] path; give --data DIR")
    store = args.store or args.experiment.with_suffix(".store")
    collection = ragplay.load_beir(data, split=split)
    print(f"ragplay {ragplay.__version__}: {args.experiment} on {data} into {store}")
    start = time.perf_counter()
    try:
        result = ragplay.sweep(collection, experiment, store=store)
    except KeyboardInterrupt:
        print(f"stopped; the finished configurations are kept in {store}", file=sys.stderr)
        return 130
    took = time.perf_counter() - start
    print(
        f"{result.results.height} configurations ({len(result.computed)} computed, "
        f"{len(result.reused)} from the store, {len(result.skipped)} over budget) in {took:.1f} s"
    )
    print_results(result.results, description["metrics"])
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    try:
        demo.run(args.data, store=args.store, split=args.split)
    except KeyboardInterrupt:
        print(f"stopped; the finished configurations are kept in {args.store}", file=sys.stderr)
        return 130
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    store = ragplay.Store(args.store)
    results = store.results()
    metrics = report.metric_names(results)
    print(report.text(report.ranked(results, metrics)))
    for line in report.verdict(results, metrics):
        print(line)
    print(f"report: {report.write(store, args.out)}")
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
    gate.add_argument(
        "baseline",
        type=Path,
        nargs="?",
        help="TREC run file of the baseline (with --baseline STORE: an optional qrels file)",
    )
    gate.add_argument("qrels", type=Path, nargs="?", help="TREC or BEIR qrels file")
    gate.add_argument(
        "--baseline",
        dest="store",
        type=Path,
        default=None,
        metavar="STORE",
        help="an experiment store: its baseline configuration's run and its qrels",
    )
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

    run = sub.add_parser("run", help="run the sweep an experiment TOML file describes")
    run.add_argument("experiment", type=Path, help="experiment TOML file")
    run.add_argument("--store", type=Path, default=None, help="store folder (EXPERIMENT.store)")
    run.add_argument("--data", type=Path, default=None, help="a BEIR folder (else [collection])")
    run.add_argument("--split", default=None, help="qrels split (else [collection] or test)")
    run.set_defaults(func=_cmd_run)

    rep = sub.add_parser(
        "report", help="print a store's ranked configurations and write its HTML report"
    )
    rep.add_argument("store", type=Path, help="an experiment store")
    rep.add_argument(
        "--out", type=Path, default=None, help="the report folder (default: STORE/report)"
    )
    rep.set_defaults(func=_cmd_report)

    demo = sub.add_parser(
        "demo", help="sweep the demo collection (or a BEIR folder) against a naive baseline"
    )
    demo.add_argument("--data", type=Path, default=None, help="a BEIR folder")
    demo.add_argument("--split", default="test", help="the BEIR qrels split (default: test)")
    demo.add_argument(
        "--store",
        type=Path,
        default=Path("ragplay-demo"),
        help="the experiment store (default: ./ragplay-demo); a second run reads it back",
    )
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ragplay.RagplayError, OSError, ValueError, KeyError) as e:
        print(f"ragplay: error: {e}", file=sys.stderr)
        return 2
