"""Time ``ragplay.BM25`` against bm25s and rank_bm25: index build, queries/s and peak memory.

Two workloads, every tool on the same raw text with its own tokenizer:

* SciFact (BEIR; 5,183 documents, 300 queries), title and text joined. ragplay uses its
  default analyzer (Unicode words, Lucene's English stop words, Snowball English stemmer);
  bm25s and rank_bm25 get ``bm25s.tokenize(texts, stopwords="en", stemmer=PyStemmer english)``
  (rank_bm25 as lists of strings). The tokenizers differ, so the runs are compared by their
  nDCG@10 (``ragplay.evaluate``) and top-10 overlap rather than document by document.
* A synthetic corpus generated here (not stored in the repository): ``--docs`` documents
  (1,000,000 by default) of log-normal length (mean 50 words), words "w<rank>" drawn from
  a Zipf law (200,000 word types, exponent 1.1), and 1,000 queries of 3-6 words drawn from
  the same law. No stop words, no stemming for either tool. rank_bm25 is left out (far too
  slow at this size).

BM25 is Lucene's (k1 = 0.9, b = 0.4) for ragplay and bm25s (numba backend when numba
imports, numpy otherwise), and rank_bm25's ``BM25Okapi`` with the same k1 and b.

What each timing covers, top-100 retrieval:

* build: ragplay ``BM25.index(corpus)`` from the corpus DataFrame, its tokenization
  included; bm25s ``bm25s.tokenize`` + ``BM25.index`` (both parts shown); rank_bm25
  ``bm25s.tokenize(..., return_ids=False)`` + ``BM25Okapi(tokens)``. Best of ``--repeats``
  builds on SciFact, one build on the synthetic corpus.
* search, query tokenization included: ragplay ``BM25.search(queries, k=100)`` (a run
  DataFrame with string doc ids); bm25s ``bm25s.tokenize(queries)`` +
  ``retrieve(k=100, n_threads=...)`` (arrays of document indices); rank_bm25 tokenization +
  ``get_scores`` and an argpartition per query (one pass). Best of ``--repeats`` passes,
  after a warm-up on a small corpus that also compiles numba's functions.

Each tool and thread setting runs in a fresh subprocess. "1 thread": RAYON_NUM_THREADS,
POLARS_MAX_THREADS, NUMBA_NUM_THREADS and the BLAS variables set to 1, bm25s
``n_threads=1``; "all": the variables unset, bm25s ``n_threads`` = the cores this process
may use, ragplay rayon's default (the same cores). bm25s tokenization and rank_bm25 are
single-threaded Python either way.

Peak memory: the RSS high-water mark (``getrusage(RUSAGE_SELF).ru_maxrss``) over the first
build and the search passes, minus the RSS after imports, data loading and warm-up; the
mark is reset to that baseline through ``/proc/self/clear_refs`` (Linux), or, where that
fails, the baseline is the mark itself. "kept" is the RSS left afterwards over the baseline.

Run: ``python benches/bench_bm25.py [--docs 200000] [--skip-synthetic]`` (``--help`` lists
the options), with bm25s, PyStemmer, numba, rank-bm25 and a release build of ragplay
installed, and SciFact under ``$RAGPLAY_DATA/scifact`` (or ``--scifact PATH``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import polars as pl

import ragplay

K = 100
K1, B = 0.9, 0.4
THREAD_VARS = (
    "RAYON_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)
RESULT = "RESULT "  # prefix of the worker's result line on stdout
TOOLS = ("ragplay", "bm25s", "rank_bm25")
DEFAULT_SCIFACT = Path(os.environ.get("RAGPLAY_DATA", "../shared/data")) / "scifact"


# Synthetic corpus ------------------------------------------------------------------------------


def generate(out: Path, n_docs: int, n_queries: int, seed: int) -> None:
    """Write ``corpus.parquet`` and ``queries.parquet`` of the synthetic workload to ``out``."""
    vocab_size, exponent, mean_len, sigma = 200_000, 1.1, 50.0, 0.6
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(np.arange(1, vocab_size + 1, dtype=np.float64) ** -exponent)
    cdf /= cdf[-1]
    vocab = pl.Series("w", [f"w{i}" for i in range(vocab_size)])

    def texts(lengths: np.ndarray, first: int) -> pl.Series:
        ids = np.searchsorted(cdf, rng.random(int(lengths.sum())), side="right")
        rows = np.repeat(np.arange(first, first + len(lengths), dtype=np.uint32), lengths)
        words = pl.DataFrame({"row": rows, "w": vocab.gather(ids.astype(np.uint32))})
        joined = words.group_by("row", maintain_order=True).agg(pl.col("w").str.join(" "))
        return joined["w"].alias("text")

    chunks, step = [], 200_000
    for first in range(0, n_docs, step):
        m = min(step, n_docs - first)
        # Log-normal lengths with mean ``mean_len``; at least one word.
        raw = rng.lognormal(np.log(mean_len) - sigma**2 / 2, sigma, m)
        chunks.append(texts(np.maximum(1, np.rint(raw)).astype(np.int64), first))
    text = pl.concat(chunks)
    ids = pl.Series("doc_id", [f"d{i}" for i in range(n_docs)])
    corpus = pl.DataFrame([ids, pl.Series("title", [""] * n_docs), text])
    corpus.write_parquet(out / "corpus.parquet")
    q_text = texts(rng.integers(3, 7, n_queries), 0)
    q_ids = pl.Series("query_id", [f"q{i}" for i in range(n_queries)])
    pl.DataFrame([q_ids, q_text]).write_parquet(out / "queries.parquet")


# Worker: one tool, one thread setting, one workload, in a fresh process -----------------------


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def reset_peak() -> bool:
    """Reset the RSS high-water mark to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def timed(fn):
    """(seconds, result) of one call with the garbage collector off."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        result = fn()
        return time.perf_counter() - t0, result
    finally:
        gc.enable()


class RagplayTool:
    def __init__(self, synthetic: bool) -> None:
        self.analyzer = (
            ragplay.Analyzer(stopwords=None, stemmer=None) if synthetic else ragplay.Analyzer()
        )
        self.index = None

    def build(self, corpus: pl.DataFrame, texts: list[str]) -> dict[str, float]:
        self.index = None
        gc.collect()
        index = ragplay.BM25(variant="lucene", k1=K1, b=B, analyzer=self.analyzer)
        seconds, _ = timed(lambda: index.index(corpus, show_progress=False))
        self.index = index
        return {"build": seconds}

    def search(self, queries: pl.DataFrame, q_texts: list[str]):
        return self.index.search(queries, k=K)

    def to_run(self, result, doc_ids: list[str], query_ids: list[str]) -> pl.DataFrame:
        return result.select("query_id", "doc_id", "score")


class Bm25sTool:
    def __init__(self, synthetic: bool, n_threads: int) -> None:
        import bm25s

        try:
            import numba  # noqa: F401

            self.backend = "numba"
        except ImportError:
            self.backend = "numpy"
        self.bm25s = bm25s
        if synthetic:
            self.stopwords, self.stemmer = None, None
        else:
            import Stemmer

            self.stopwords, self.stemmer = "en", Stemmer.Stemmer("english")
        self.n_threads = n_threads
        self.index = None

    def tokenize(self, texts: list[str], **kwargs):
        return self.bm25s.tokenize(
            texts, stopwords=self.stopwords, stemmer=self.stemmer, show_progress=False, **kwargs
        )

    def build(self, corpus: pl.DataFrame, texts: list[str]) -> dict[str, float]:
        self.index = None
        gc.collect()
        index = self.bm25s.BM25(method="lucene", k1=K1, b=B, backend=self.backend)
        tokenize_s, tokens = timed(lambda: self.tokenize(texts))
        index_s, _ = timed(lambda: index.index(tokens, show_progress=False))
        self.index = index
        return {"build": tokenize_s + index_s, "tokenize": tokenize_s, "index": index_s}

    def search(self, queries: pl.DataFrame, q_texts: list[str]):
        return self.index.retrieve(
            self.tokenize(q_texts),
            k=K,
            n_threads=self.n_threads,
            backend_selection=self.backend,
            show_progress=False,
        )

    def to_run(self, result, doc_ids: list[str], query_ids: list[str]) -> pl.DataFrame:
        docs, scores = result
        return pl.DataFrame(
            {
                "query_id": np.repeat(query_ids, docs.shape[1]),
                "doc_id": np.asarray(doc_ids)[docs.ravel()],
                "score": scores.ravel().astype(np.float64),
            }
        )


class RankBm25Tool:
    def __init__(self, n_queries: int) -> None:
        import bm25s
        import Stemmer
        from rank_bm25 import BM25Okapi

        self.bm25s, self.okapi = bm25s, BM25Okapi
        self.stemmer = Stemmer.Stemmer("english")
        self.n_queries = n_queries
        self.index = None

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        return self.bm25s.tokenize(
            texts, stopwords="en", stemmer=self.stemmer, return_ids=False, show_progress=False
        )

    def build(self, corpus: pl.DataFrame, texts: list[str]) -> dict[str, float]:
        self.index = None
        gc.collect()
        tokenize_s, tokens = timed(lambda: self.tokenize(texts))
        index_s, self.index = timed(lambda: self.okapi(tokens, k1=K1, b=B))
        return {"build": tokenize_s + index_s, "tokenize": tokenize_s, "index": index_s}

    def search(self, queries: pl.DataFrame, q_texts: list[str]):
        out = []
        for tokens in self.tokenize(q_texts[: self.n_queries]):
            scores = self.index.get_scores(tokens)
            top = np.argpartition(-scores, K)[:K]
            top = top[np.argsort(-scores[top], kind="stable")]
            out.append((top, scores[top]))
        return out

    def to_run(self, result, doc_ids: list[str], query_ids: list[str]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "query_id": np.repeat(query_ids[: len(result)], K),
                "doc_id": np.asarray(doc_ids)[np.concatenate([d for d, _ in result])],
                "score": np.concatenate([s for _, s in result]).astype(np.float64),
            }
        )


def load(spec: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    if spec["data"] == "scifact":
        _c = ragplay.load_beir(spec["path"])
        corpus, queries = _c.corpus, _c.queries
        return corpus, queries
    path = Path(spec["path"])
    return pl.read_parquet(path / "corpus.parquet"), pl.read_parquet(path / "queries.parquet")


def worker(spec: dict) -> dict:
    synthetic = spec["data"] == "synthetic"
    if spec["tool"] == "ragplay":
        tool = RagplayTool(synthetic)
    elif spec["tool"] == "bm25s":
        tool = Bm25sTool(synthetic, spec["threads"])
    else:
        tool = RankBm25Tool(spec["rank_bm25_queries"])

    corpus, queries = load(spec)
    texts: list[str] = []
    if spec["tool"] != "ragplay":
        joined = pl.concat_str(["title", "text"], separator=" ", ignore_nulls=True)
        texts = corpus.select(joined.alias("joined"))["joined"].to_list()
    q_texts, doc_ids = queries["text"].to_list(), corpus["doc_id"].to_list()
    query_ids = queries["query_id"].to_list()

    # Warm-up on a small slice: numba compiles, thread pools start, lazy imports run.
    n_warm = min(corpus.height, 2 * K)
    tool.build(corpus.head(n_warm), texts[:n_warm])
    tool.search(queries.head(10), q_texts[:10])
    tool.index = None
    gc.collect()

    base = rss_kib()
    if not reset_peak():
        base = maxrss_kib()
    builds = [tool.build(corpus, texts)]
    repeats = 1 if spec["tool"] == "rank_bm25" else spec["repeats"]
    search_s, result = [], None
    for _ in range(repeats):
        result = None
        seconds, result = timed(lambda: tool.search(queries, q_texts))
        search_s.append(seconds)
    peak, kept = maxrss_kib() - base, rss_kib() - base
    for _ in range(spec["build_repeats"] - 1):
        builds.append(tool.build(corpus, texts))

    n_queries = len(q_texts)
    if spec["tool"] == "rank_bm25":
        n_queries = min(n_queries, spec["rank_bm25_queries"])
    out = {
        "builds": builds,
        "search": search_s,
        "queries": n_queries,
        "peak_mib": peak / 1024,
        "kept_mib": kept / 1024,
        "docs": corpus.height,
    }
    if spec.get("run_out"):
        tool.to_run(result, doc_ids, query_ids).write_parquet(spec["run_out"])
    return out


# Driver ----------------------------------------------------------------------------------------


def run_worker(spec: dict, threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    if threads == 1:
        env.update(dict.fromkeys(THREAD_VARS, "1"))
    cmd = [sys.executable, __file__, "--worker", json.dumps({**spec, "threads": threads})]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"worker {spec['tool']} ({threads} threads) failed: rc {proc.returncode}")
    out = json.loads(lines[-1][len(RESULT) :])
    out["wall"] = time.perf_counter() - t0
    return out


def best_build(r: dict) -> dict[str, float]:
    return min(r["builds"], key=lambda b: b["build"])


def qps(r: dict) -> float:
    return r["queries"] / min(r["search"])


def report(title: str, results: dict[str, dict[int, dict]], cores: int) -> None:
    print(f"\n{title}")
    head = ("tool", "build s 1T", f"build s {cores}T", "q/s 1T", f"q/s {cores}T", "peak MB 1T")
    print("{:<11}{:>12}{:>12}{:>11}{:>11}{:>12}{:>12}".format(*head, f"peak MB {cores}T"))
    for tool, by_threads in results.items():
        cells = []
        for key in ("build", "qps", "peak"):
            for threads in (1, cores):
                r = by_threads.get(threads)
                if r is None:
                    cells.append("-")
                elif key == "build":
                    cells.append(f"{best_build(r)['build']:.3f}")
                elif key == "qps":
                    cells.append(f"{qps(r):,.0f}")
                else:
                    cells.append(f"{r['peak_mib']:,.0f}")
        print(
            f"{tool:<11}{cells[0]:>12}{cells[1]:>12}{cells[2]:>11}{cells[3]:>11}"
            f"{cells[4]:>12}{cells[5]:>12}"
        )
    for tool, by_threads in results.items():
        for threads, r in sorted(by_threads.items()):
            b = best_build(r)
            parts = (
                f" (tokenize {b['tokenize']:.3f} + index {b['index']:.3f})"
                if "tokenize" in b
                else ""
            )
            print(
                f"  {tool} {threads}T: build {b['build']:.3f} s{parts}, best of "
                f"{len(r['builds'])}; search {min(r['search']):.3f} s for {r['queries']:,} "
                f"queries, best of {len(r['search'])}; peak +{r['peak_mib']:,.0f} MB, kept "
                f"+{r['kept_mib']:,.0f} MB; process {r['wall']:.0f} s"
            )
    ours = results["ragplay"]
    for peer in (t for t in results if t != "ragplay"):
        theirs = results[peer]
        print(f"  ragplay vs {peer} (> 1: ragplay better):")
        for threads in sorted({1, cores}):
            if threads not in theirs:
                continue
            build = best_build(theirs[threads])["build"] / best_build(ours[threads])["build"]
            q = qps(ours[threads]) / qps(theirs[threads])
            mem = ours[threads]["peak_mib"] / max(theirs[threads]["peak_mib"], 1e-9)
            print(
                f"    {threads}T: build speedup {build:.2f}x, q/s ratio {q:.2f}x, "
                f"peak memory ratio {mem:.2f} (ragplay / {peer})"
            )
        if peer == "bm25s":
            build = best_build(theirs[1])["build"] / best_build(ours[1])["build"]
            build_all = best_build(theirs[cores])["build"] / best_build(ours[cores])["build"]
            q = qps(ours[1]) / qps(theirs[1])
            mem = max(ours[t]["peak_mib"] / max(theirs[t]["peak_mib"], 1e-9) for t in {1, cores})
            checks = (
                ("q/s 1T >= 2x bm25s", q >= 2, f"{q:.2f}x"),
                ("build >= 2x faster (1T)", build >= 2, f"{build:.2f}x"),
                (f"build >= 2x faster ({cores}T)", build_all >= 2, f"{build_all:.2f}x"),
                ("peak memory <= bm25s", mem <= 1, f"worst ratio {mem:.2f}"),
            )
            print(
                "    targets: "
                + "; ".join(f"{n}: {'met' if ok else 'MISSED'} ({v})" for n, ok, v in checks)
            )


def ndcg(run_path: Path, qrels: pl.DataFrame) -> tuple[float, pl.DataFrame]:
    run = pl.read_parquet(run_path)
    evaluation = ragplay.evaluate(run, qrels, ["ndcg@10"])
    return evaluation.summary["ndcg@10"][0], run


def top10_overlap(a: pl.DataFrame, b: pl.DataFrame) -> float:
    """Mean share of ``a``'s top-10 documents that ``b`` also ranks in its top 10, over the
    queries both runs answer."""

    def top(run: pl.DataFrame) -> pl.DataFrame:
        ranked = run.sort(["query_id", "score", "doc_id"], descending=[False, True, True])
        return ranked.group_by("query_id", maintain_order=True).head(10)

    common = top(a).join(top(b), on=["query_id", "doc_id"]).group_by("query_id").len()
    queries = (
        top(a).select("query_id").unique().join(top(b).select("query_id").unique(), on="query_id")
    )
    shares = queries.join(common, on="query_id", how="left").fill_null(0)["len"] / 10
    return float(shares.mean())


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000, help="synthetic documents")
    parser.add_argument("--queries", type=int, default=1_000, help="synthetic queries")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-scifact", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="timed search passes (and builds)")
    parser.add_argument("--scifact", type=Path, default=DEFAULT_SCIFACT)
    parser.add_argument(
        "--rank-bm25-queries", type=int, default=300, help="SciFact queries rank_bm25 searches"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(RESULT + json.dumps(worker(json.loads(args.worker))), flush=True)
        return
    if args.generate:
        generate(Path(args.generate), args.docs, args.queries, args.seed)
        return

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    settings = (1,) if cores == 1 else (1, cores)
    print(
        f"ragplay {ragplay.__version__} ({Path(ragplay.__file__).parent}), "
        f"bm25s {version('bm25s')}, rank_bm25 {version('rank-bm25')}, "
        f"numba {version('numba')}, PyStemmer {version('PyStemmer')}"
    )
    print(
        f"machine: {os.cpu_count()} logical cores, {cores} usable; threads compared: 1 and "
        f"{cores}; 1-minute load average {os.getloadavg()[0]:.2f}"
    )

    with tempfile.TemporaryDirectory(prefix="bench_bm25_") as tmp:
        tmp_dir = Path(tmp)
        if not args.skip_scifact:
            results: dict[str, dict[int, dict]] = {}
            runs = {}
            for tool in TOOLS:
                results[tool] = {}
                for threads in (1,) if tool == "rank_bm25" else settings:
                    run_out = tmp_dir / f"{tool}_{threads}.parquet"
                    spec = {
                        "tool": tool,
                        "data": "scifact",
                        "path": str(args.scifact),
                        "repeats": args.repeats,
                        "build_repeats": args.repeats,
                        "rank_bm25_queries": args.rank_bm25_queries,
                        "run_out": str(run_out),
                    }
                    results[tool][threads] = run_worker(spec, threads)
                    runs[tool] = run_out
            report(f"SciFact ({results['ragplay'][1]['docs']:,} docs), top-{K}", results, cores)
            qrels = ragplay.load_beir(args.scifact).qrels
            scores = {tool: ndcg(path, qrels) for tool, path in runs.items()}
            print("  nDCG@10 (ragplay.evaluate):")
            for tool, (value, run) in scores.items():
                n_q = run["query_id"].n_unique()
                note = " (BM25Okapi formula)" if tool == "rank_bm25" else ""
                print(f"    {tool:<10}{value:.4f} over {n_q} answered queries{note}")
            for peer in ("bm25s", "rank_bm25"):
                overlap = top10_overlap(scores["ragplay"][1], scores[peer][1])
                print(f"    top-10 overlap ragplay / {peer}: {overlap:.3f} (mean share per query)")

        if not args.skip_synthetic:
            t0 = time.perf_counter()
            cmd = [sys.executable, __file__, "--generate", tmp, "--docs", str(args.docs)]
            cmd += ["--queries", str(args.queries), "--seed", str(args.seed)]
            subprocess.run(cmd, check=True)
            size = (tmp_dir / "corpus.parquet").stat().st_size / 2**20
            print(
                f"\nsynthetic corpus: {args.docs:,} docs, {args.queries:,} queries generated in "
                f"{time.perf_counter() - t0:.0f} s ({size:,.0f} MB parquet)"
            )
            results = {}
            for tool in ("ragplay", "bm25s"):
                results[tool] = {}
                for threads in settings:
                    spec = {
                        "tool": tool,
                        "data": "synthetic",
                        "path": tmp,
                        "repeats": args.repeats,
                        "build_repeats": 1,
                    }
                    results[tool][threads] = run_worker(spec, threads)
            report(f"Synthetic ({args.docs:,} docs, Zipf words), top-{K}", results, cores)


if __name__ == "__main__":
    main()
