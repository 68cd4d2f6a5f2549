"""Vector indexes: the exact scan against numpy brute force (ids, scores, ties by doc id
descending) on random data and SciFact embeddings, f16/int8 storage with exact rescoring,
HNSW recall against exact search on SciFact embeddings and 100k clustered synthetic
vectors, allow-lists, delete/compact, save/load, and bad input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import ragplay
from conftest import EMBED_CACHE


def brute_force(queries: np.ndarray, docs: np.ndarray, doc_ids: list[str], k: int):
    """Per query: the top-k (doc_id, score) by inner product, ties by doc id descending."""
    scores = queries.astype(np.float64) @ docs.astype(np.float64).T
    ids = np.array(doc_ids)
    out = []
    for row in scores:
        # lexsort: last key is primary; score descending, then doc id descending.
        order = np.lexsort((-np.argsort(np.argsort(ids)), -row))[:k]
        out.append([(ids[i], row[i]) for i in order])
    return out


def assert_same_ranking(
    got: list[tuple[str, float]], want: list[tuple[str, float]], k: int
) -> None:
    """``got`` (top k) against the reference's top k + 1: equal scores to float32 rounding,
    and the same document at every position whose score is apart from both neighbours'
    (near-ties may swap: the two sides sum in different orders, and kernels differ by CPU)."""
    assert len(got) == k
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want[:k]], atol=2e-4)
    scores = [np.inf] + [s for _, s in want] + [-np.inf]
    for i in range(k):
        if scores[i + 1] - scores[i + 2] > 1e-5 and scores[i] - scores[i + 1] > 1e-5:
            assert got[i][0] == want[i][0], (i, got, want)


def run_lists(run: pl.DataFrame) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {}
    for q, d, s in run.sort("query_id", "rank").select("query_id", "doc_id", "score").rows():
        out.setdefault(q, []).append((d, s))
    return out


def ids(n: int, prefix: str = "d") -> list[str]:
    # Shuffled so that row order and id order differ.
    rng = np.random.default_rng(7)
    return [f"{prefix}{i}" for i in rng.permutation(n)]


def test_exact_search_equals_brute_force_with_exact_ties():
    # Small integer vectors: every inner product is exact in float32, and ties are common.
    rng = np.random.default_rng(0)
    docs = rng.integers(-2, 3, size=(3000, 24)).astype(np.float32)
    queries = rng.integers(-2, 3, size=(70, 24)).astype(np.float32)
    doc_ids, qids = ids(3000), [f"q{i}" for i in range(70)]
    for storage in ["f32", "f16", "int8"]:
        index = ragplay.VectorIndex(24, storage=storage)
        index.add(doc_ids, docs, show_progress=False)
        got = run_lists(index.search(queries, query_ids=qids, k=25, show_progress=False))
        want = brute_force(queries, docs, doc_ids, 25)
        for q, w in zip(qids, want):
            assert [d for d, _ in got[q]] == [d for d, _ in w], (storage, q)
            assert [s for _, s in got[q]] == [s for _, s in w], (storage, q)


@pytest.mark.parametrize("storage", ["f32", "f16", "int8"])
def test_exact_search_equals_brute_force_on_random_floats(storage):
    rng = np.random.default_rng(1)
    docs = rng.standard_normal((5000, 96)).astype(np.float32)
    queries = rng.standard_normal((300, 96)).astype(np.float32)
    doc_ids, qids = ids(5000), [f"q{i}" for i in range(300)]
    index = ragplay.VectorIndex(96, storage=storage)
    index.add(doc_ids, docs, show_progress=False)
    got = run_lists(index.search(queries, query_ids=qids, k=10, show_progress=False))
    want = brute_force(queries, docs, doc_ids, 11)
    for q, w in zip(qids, want):
        assert_same_ranking(got[q], w, 10)
    # The free function agrees with the index.
    free = ragplay.exact_search(queries, docs, query_ids=qids, doc_ids=doc_ids, k=10)
    assert run_lists(free).keys() == got.keys()
    for q, w in zip(qids, want):
        assert_same_ranking(run_lists(free)[q], w, 10)


@pytest.fixture(scope="module")
def scifact_vectors(scifact, scifact_index, encoder):
    docs = scifact_index.vectors
    queries = encoder.encode_queries(scifact.queries, show_progress=False)
    return scifact_index.doc_ids, docs, scifact.queries["query_id"].to_list(), queries


def test_exact_dense_index_equals_brute_force_on_scifact(scifact, scifact_index, scifact_vectors):
    doc_ids, docs, qids, queries = scifact_vectors
    got = run_lists(scifact_index.search(scifact.queries, k=10, show_progress=False))
    want = brute_force(queries, docs, doc_ids, 11)
    for q, w in zip(qids, want):
        assert_same_ranking(got[q], w, 10)


def test_hnsw_recall_on_scifact_embeddings(scifact, scifact_vectors, encoder):
    doc_ids, docs, qids, queries = scifact_vectors
    index = ragplay.VectorIndex(docs.shape[1], backend="hnsw")
    index.add(doc_ids, docs, show_progress=False)
    report = index.recall_report(queries, k=10, show_progress=False)
    print(report)
    assert report["recall"][0] >= 0.98
    # The graph navigating the f16 or int8 copy, its results rescored: as good, exact scores.
    for storage in ["f16", "int8"]:
        quantised = ragplay.VectorIndex(docs.shape[1], backend="hnsw", storage=storage)
        quantised.add(doc_ids, docs, show_progress=False)
        q_report = quantised.recall_report(queries, k=10, show_progress=False)
        print(storage, q_report)
        assert q_report["recall"][0] >= 0.98
        run = quantised.search(queries[:20], query_ids=qids[:20], k=10, show_progress=False)
        row = {d: i for i, d in enumerate(doc_ids)}
        want = [
            float(queries[qids.index(q)] @ docs[row[d]])
            for q, d in zip(run["query_id"], run["doc_id"])
        ]
        np.testing.assert_allclose(run["score"].to_numpy(), want, rtol=0, atol=1e-5)
    # The DenseIndex with the same backend, through the encoder (vectors from the cache).
    dense = ragplay.DenseIndex(encoder, cache=EMBED_CACHE, backend="hnsw")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ragplay.TruncationWarning)
        dense.index(scifact.corpus, show_progress=False)
    dense_report = dense.recall_report(scifact.queries, k=10, show_progress=False)
    print(dense_report)
    assert dense_report["recall"][0] >= 0.98
    assert dense.config()["backend"] == "hnsw" and dense.ef_search == 96


def clustered(n: int, dim: int, clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors drawn around random unit centres, and queries near other draws."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(m: int) -> np.ndarray:
        x = centres[rng.integers(0, clusters, m)] + 0.35 * rng.standard_normal((m, dim)).astype(
            np.float32
        ) / np.sqrt(dim)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return draw(n), draw(1000)


def test_hnsw_recall_on_100k_clustered_vectors():
    docs, queries = clustered(100_000, 384, 1000, seed=3)
    index = ragplay.VectorIndex(384, backend="hnsw")
    index.add([str(i) for i in range(len(docs))], docs, show_progress=False)
    report = index.recall_report(queries, k=10, show_progress=False)
    print(report)
    assert report["recall"][0] >= 0.98
    # Against numpy on a sample of queries: the exact side of the report is brute force.
    sample = queries[:50]
    exact = ragplay.exact_search(
        sample,
        docs,
        query_ids=[str(i) for i in range(50)],
        doc_ids=[str(i) for i in range(len(docs))],
        k=10,
    )
    truth = np.argsort(-(sample @ docs.T), axis=1)[:, :10]
    got = run_lists(exact)
    hits = sum(len({d for d, _ in got[str(i)]} & {str(j) for j in truth[i]}) for i in range(50))
    assert hits >= 499  # float32 near-ties may swap the 10th and 11th


def test_filtered_search_returns_k_results():
    rng = np.random.default_rng(4)
    docs = rng.standard_normal((20_000, 32)).astype(np.float32)
    queries = rng.standard_normal((20, 32)).astype(np.float32)
    doc_ids, qids = [str(i) for i in range(20_000)], [f"q{i}" for i in range(20)]
    index = ragplay.VectorIndex(32, backend="hnsw", m=8, ef_construction=64)
    index.add(doc_ids, docs, show_progress=False)
    for allowed in (50, 6000):  # the exact fallback, then the filtered graph search
        allow = [str(i) for i in rng.choice(20_000, allowed, replace=False)]
        run = index.search(queries, query_ids=qids, k=10, allow=allow, show_progress=False)
        assert run.group_by("query_id").len()["len"].to_list() == [10] * 20
        assert set(run["doc_id"]) <= set(allow)
        rows = np.array([int(a) for a in allow])
        want = brute_force(queries, docs[rows], allow, 10)
        got = run_lists(run)
        recall = np.mean(
            [len({d for d, _ in got[q]} & {d for d, _ in w}) / 10 for q, w in zip(qids, want)]
        )
        assert recall >= (0.99 if allowed == 50 else 0.9), (allowed, recall)


def test_delete_compact_and_add_keep_results_exact():
    rng = np.random.default_rng(5)
    docs = rng.standard_normal((3000, 16)).astype(np.float32)
    queries = rng.standard_normal((30, 16)).astype(np.float32)
    doc_ids, qids = ids(3000), [f"q{i}" for i in range(30)]
    gone = doc_ids[:1000]
    keep = np.arange(1000, 3000)
    for backend in ["exact", "hnsw"]:
        index = ragplay.VectorIndex(16, backend=backend)
        index.add(doc_ids, docs, show_progress=False)
        index.delete(gone)
        assert len(index) == 2000 and set(index.doc_ids) == set(doc_ids[1000:])
        run = index.search(queries, query_ids=qids, k=10, show_progress=False)
        assert not set(run["doc_id"]) & set(gone)
        index.compact(show_progress=False)
        live = [doc_ids[i] for i in keep]
        np.testing.assert_array_equal(
            index.vectors[np.argsort(index.doc_ids)], docs[keep][np.argsort(live)]
        )
        # Re-adding a deleted id is allowed; a live one is not.
        index.add(gone[:1], docs[:1], show_progress=False)
        with pytest.raises(ragplay.DataError, match=gone[0]):
            index.add(gone[:1], docs[:1], show_progress=False)


@pytest.mark.parametrize("backend,storage", [("exact", "f16"), ("hnsw", "int8")])
def test_save_and_load_round_trip(tmp_path, backend, storage):
    rng = np.random.default_rng(6)
    docs = rng.standard_normal((2000, 24)).astype(np.float32)
    queries = rng.standard_normal((10, 24)).astype(np.float32)
    qids = [f"q{i}" for i in range(10)]
    index = ragplay.VectorIndex(24, backend=backend, storage=storage)
    index.add(ids(2000), docs, show_progress=False)
    index.delete(["d5", "d7"])
    index.save(tmp_path)
    loaded = ragplay.VectorIndex.load(tmp_path)
    a = index.search(queries, query_ids=qids, k=20, show_progress=False)
    b = loaded.search(queries, query_ids=qids, k=20, show_progress=False)
    assert a.equals(b) and len(loaded) == 1998 and "d5" not in loaded.doc_ids
    data = tmp_path / "vectors.bin"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(ragplay.DataError, match="vectors.bin"):
        ragplay.VectorIndex.load(tmp_path)


def test_dense_index_hnsw_int8_search_equals_exact(encoder, tmp_path):
    sample = ragplay.sample_collection()
    exact = ragplay.DenseIndex(encoder)
    approx = ragplay.DenseIndex(encoder, backend="hnsw", storage="int8", m=4)
    for index in (exact, approx):
        index.index(sample.corpus, show_progress=False)
    a = exact.search(sample.queries, k=5, show_progress=False)
    b = approx.search(sample.queries, k=5, show_progress=False)
    assert a.select("query_id", "doc_id", "rank").equals(b.select("query_id", "doc_id", "rank"))
    approx.save(tmp_path)
    loaded = ragplay.DenseIndex.load(tmp_path, encoder)
    assert loaded.search(sample.queries, k=5, show_progress=False).equals(b)
    assert "hnsw" in repr(loaded) and "int8" in repr(loaded)


def test_bad_input_is_named():
    index = ragplay.VectorIndex(8, backend="hnsw")
    q = np.zeros((1, 8), dtype=np.float32)
    with pytest.raises(ragplay.DataError, match="index"):
        index.search(q, query_ids=["q"], k=5)  # empty index
    docs = np.eye(8, dtype=np.float32)
    index.add([f"d{i}" for i in range(8)], docs, show_progress=False)
    # k larger than the index: every document, once.
    run = index.search(q + 1, query_ids=["q"], k=50, show_progress=False)
    assert run.height == 8 and run["doc_id"].n_unique() == 8
    with pytest.raises(ragplay.ConfigError, match="query_vectors.*7.*8"):
        index.search(np.zeros((1, 7), dtype=np.float32), query_ids=["q"])
    with pytest.raises(ragplay.ConfigError, match="vectors.*9.*8"):
        index.add(["x"], np.zeros((1, 9), dtype=np.float32))
    nan = np.zeros((1, 8), dtype=np.float32)
    nan[0, 3] = np.nan
    with pytest.raises(ragplay.ConfigError, match='"x" holds a non-finite'):
        index.add(["x"], nan)
    with pytest.raises(ragplay.ConfigError, match='"q" holds a non-finite'):
        index.search(nan, query_ids=["q"])
    with pytest.raises(ragplay.DataError, match="allow"):
        index.search(q, query_ids=["q"], allow=[])
    with pytest.raises(ragplay.DataError, match='"nope" in the allow'):
        index.search(q, query_ids=["q"], allow=["nope"])
    with pytest.raises(ragplay.DataError, match='"nope"'):
        index.delete(["nope"])
    with pytest.raises(ragplay.ConfigError, match='backend: "ivf"; use "exact" or "hnsw"'):
        ragplay.VectorIndex(8, backend="ivf")
    with pytest.raises(ragplay.ConfigError, match='storage: "bf16".*"int8"'):
        ragplay.VectorIndex(8, storage="bf16")
    with pytest.raises(ragplay.ConfigError, match="invalid m: 1; use 2 to"):
        ragplay.VectorIndex(8, backend="hnsw", m=1)
    with pytest.raises(ragplay.ConfigError, match="ef_search"):
        ragplay.VectorIndex(8, backend="hnsw", ef_search=0)
    with pytest.raises(ragplay.ConfigError, match="dim"):
        ragplay.VectorIndex(0)
    with pytest.raises(ragplay.ConfigError, match="ef_search.*exact"):
        ragplay.VectorIndex(8).ef_search = 10
    with pytest.raises(ragplay.ConfigError, match="invalid k"):
        index.search(q, query_ids=["q"], k=0)
