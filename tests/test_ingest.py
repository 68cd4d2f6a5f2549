"""Reading a folder of documents from Python: the corpus table of a folder of Markdown, text
and HTML files computed by hand, Markdown sections from HTML headings, and every kind of bad
input (an unreadable file, a binary file, invalid UTF-8, broken HTML, an empty folder, a
symlink loop, a missing folder) with ``errors="raise"`` and ``errors="skip"``."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import polars as pl
import pytest

import ragplay

PAGE = """<!DOCTYPE html>
<html><head><title>The Guide</title><style>h1 { color: red }</style>
<script>document.write("<h1>not this</h1>")</script></head>
<body>
<h1>Guide</h1>
<p>Read this   first.<br>Then &amp; only then, the rest &#39;below&#x27;.</p>
<h2>Install</h2>
<ul><li>download</li><li>unpack</li></ul>
<h2>Use</h2>
<pre>
ragplay run
</pre>
</body></html>
"""

PAGE_MARKDOWN = (
    "# Guide\n\n"
    "Read this first.\nThen & only then, the rest 'below'.\n\n"
    "## Install\n\n"
    "- download\n- unpack\n\n"
    "## Use\n\n"
    "```\nragplay run\n```"
)


def write(root: Path, rel: str, data: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, "guide.html", PAGE)
    write(tmp_path, "notes.txt", "# not a title\nplain notes\n")
    write(tmp_path, "docs/intro.md", "Some words.\n\n# Introduction\n\nBody text.\n")
    write(tmp_path, "docs/sub/deep.markdown", "no heading here\n")
    write(tmp_path, "docs/paper.pdf", b"%PDF-1.7 binary")
    write(tmp_path, ".git/HEAD.txt", "hidden")
    return tmp_path


def test_a_folder_becomes_a_corpus_table(folder: Path):
    corpus = ragplay.read_documents(folder, show_progress=False)
    expected = pl.DataFrame(
        {
            "doc_id": ["docs/intro.md", "docs/sub/deep.markdown", "guide.html", "notes.txt"],
            "title": ["Introduction", "deep", "The Guide", "notes"],
            "text": [
                "Some words.\n\n# Introduction\n\nBody text.\n",
                "no heading here\n",
                PAGE_MARKDOWN,
                "# not a title\nplain notes\n",
            ],
            "format": ["markdown", "markdown", "html", "text"],
        }
    )
    assert corpus.equals(expected), corpus
    assert list(corpus.columns[:3]) == [
        ragplay.COLUMNS["DOC_ID"],
        ragplay.COLUMNS["TITLE"],
        ragplay.COLUMNS["TEXT"],
    ]
    assert ragplay.COLUMNS["FORMAT"] == "format"
    # A str path and a narrower glob; the same rows.
    only_md = ragplay.read_documents(str(folder), glob="docs/**/*.md", show_progress=False)
    assert only_md["doc_id"].to_list() == ["docs/intro.md"]


def test_html_headings_become_markdown_sections(folder: Path):
    corpus = ragplay.read_documents(folder, glob="*.html", show_progress=False)
    chunks = ragplay.chunk(corpus, strategy="markdown", size=200, show_progress=False)
    sections = chunks.select("section", "text").rows()
    assert sections == [
        ("Guide", "# Guide\n\nRead this first.\nThen & only then, the rest 'below'."),
        ("Guide > Install", "## Install\n\n- download\n- unpack"),
        ("Guide > Use", "## Use\n\n```\nragplay run\n```"),
    ]


def test_broken_html_is_read_without_error(tmp_path: Path):
    write(tmp_path, "broken.html", "<h2>Open <b>heading<p>a < b & c<div><li>item<p class='x")
    corpus = ragplay.read_documents(tmp_path, show_progress=False)
    assert corpus["text"].to_list() == ["## Open heading\n\na < b & c\n\n- item"]
    assert corpus["title"].to_list() == ["Open heading"]


def test_a_missing_folder_is_file_not_found(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ragplay.read_documents(tmp_path / "nowhere")
    write(tmp_path, "a.md", "x")
    with pytest.raises(NotADirectoryError, match="a.md"):
        ragplay.read_documents(tmp_path / "a.md")


def test_an_empty_folder_names_the_folder_and_glob(tmp_path: Path):
    with pytest.raises(ragplay.DataError, match=re.escape(f'"{tmp_path}": no documents match')):
        ragplay.read_documents(tmp_path)
    write(tmp_path, "a.md", "x")
    with pytest.raises(ragplay.DataError, match=re.escape('glob "*.rst"')):
        ragplay.read_documents(tmp_path, glob="*.rst")


def test_a_binary_file_names_the_file_and_byte(tmp_path: Path):
    write(tmp_path, "ok.md", "# fine")
    write(tmp_path, "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(ragplay.DataError) as raised:
        ragplay.read_documents(tmp_path)
    assert str(raised.value) == (
        f'"{tmp_path / "image.txt"}": not a text file: NUL byte at byte 8 (line 3)'
    )
    assert raised.value.filename == str(tmp_path / "image.txt")


def test_invalid_utf8_names_the_file_and_byte(tmp_path: Path):
    write(tmp_path, "latin1.md", "# Café\nna\u00efve".encode("latin-1"))
    with pytest.raises(
        ragplay.DataError, match=r"latin1\.md\": invalid UTF-8 at byte 5 \(line 1\)"
    ):
        ragplay.read_documents(tmp_path)


def test_a_symlink_loop_is_reported_and_the_walk_ends(tmp_path: Path):
    write(tmp_path, "a/doc.md", "# Doc")
    os.symlink("..", tmp_path / "a" / "loop")
    with pytest.raises(
        ragplay.DataError, match=re.escape(f'"{tmp_path / "a" / "loop"}": a symlink loop')
    ):
        ragplay.read_documents(tmp_path)
    with pytest.warns(ragplay.RagplayWarning, match=r"loop\": a symlink loop"):
        corpus = ragplay.read_documents(tmp_path, errors="skip")
    assert corpus["doc_id"].to_list() == ["a/doc.md"]


def test_an_unreadable_file_is_raised_or_skipped_by_path(tmp_path: Path):
    write(tmp_path, "good.md", "# Good")
    # A dangling symlink cannot be read, even by root.
    os.symlink(tmp_path / "gone.md", tmp_path / "dangling.md")
    with pytest.raises(FileNotFoundError, match="dangling.md"):
        ragplay.read_documents(tmp_path)
    with pytest.warns(ragplay.RagplayWarning, match=r"skipped .*dangling\.md: No such file"):
        corpus = ragplay.read_documents(tmp_path, errors="skip")
    assert corpus["doc_id"].to_list() == ["good.md"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its permissions")
def test_a_file_without_read_permission(tmp_path: Path):
    write(tmp_path, "good.md", "# Good")
    secret = write(tmp_path, "secret.txt", "hidden")
    secret.chmod(0)
    try:
        with pytest.raises(PermissionError, match="secret.txt"):
            ragplay.read_documents(tmp_path)
    finally:
        secret.chmod(0o600)


def test_skip_warns_once_per_file_and_keeps_the_rest(tmp_path: Path):
    write(tmp_path, "a.md", "# A")
    write(tmp_path, "b.txt", b"\x00")
    write(tmp_path, "c.html", b"<p>caf\xe9</p>")
    write(tmp_path, "d.pdf", b"%PDF")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        corpus = ragplay.read_documents(tmp_path, glob="*", errors="skip", show_progress=False)
    assert corpus["doc_id"].to_list() == ["a.md"]
    messages = [str(w.message) for w in caught]
    assert [w.category for w in caught] == [ragplay.RagplayWarning] * 3
    assert messages == [
        f'skipped "{tmp_path / "b.txt"}": not a text file: NUL byte at byte 0 (line 1)',
        f'skipped "{tmp_path / "c.html"}": invalid UTF-8 at byte 6 (line 1)',
        f'skipped "{tmp_path / "d.pdf"}": unsupported extension "pdf"; readable: md, markdown, '
        "txt, html, htm",
    ]
    assert all(w.filename == __file__ for w in caught)
    # Skipping everything leaves an empty table with the corpus columns.
    with pytest.warns(ragplay.RagplayWarning):
        empty = ragplay.read_documents(tmp_path, glob="b.txt", errors="skip")
    assert empty.columns == ["doc_id", "title", "text", "format"] and empty.height == 0


def test_bad_options_are_config_errors(tmp_path: Path):
    write(tmp_path, "a.md", "x")
    with pytest.raises(
        ragplay.ConfigError, match='invalid errors: "ignore"; use "raise" or "skip"'
    ):
        ragplay.read_documents(tmp_path, errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(
        ragplay.ConfigError, match=re.escape('invalid glob: "*.{md" has unbalanced')
    ):
        ragplay.read_documents(tmp_path, glob="*.{md")
