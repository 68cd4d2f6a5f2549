"""ragplay.datasets against an HTTP server on 127.0.0.1: a collection zipped here is downloaded,
checked, unpacked and read back; a 404, an unreachable host, a download cut short, a checksum
mismatch and a broken zip each raise DownloadError and leave nothing in the cache."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import ragplay
from ragplay.datasets import DATASETS, download, load


def beir_zip(collection: ragplay.Collection, top: str) -> bytes:
    """The collection as BEIR's zips hold it: one top folder with the three files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        corpus = collection.corpus.select("doc_id", "title", "text").rename({"doc_id": "_id"})
        queries = collection.queries.rename({"query_id": "_id"})
        z.writestr(f"{top}/corpus.jsonl", corpus.write_ndjson())
        z.writestr(f"{top}/queries.jsonl", queries.write_ndjson())
        qrels = collection.qrels.rename(
            {"query_id": "query-id", "doc_id": "corpus-id", "relevance": "score"}
        )
        z.writestr(f"{top}/qrels/test.tsv", qrels.write_csv(separator="\t"))
    return buf.getvalue()


class Server:
    """Serves fixed bodies by path; ``/cut/...`` promises more bytes than it sends."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append(self.path)
                body = server.files.get(self.path.removeprefix("/cut"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path.startswith("/cut"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    sample = ragplay.sample_collection()
    good = beir_zip(sample, "sample")
    s = Server({"/sample.zip": good, "/broken.zip": good[: len(good) // 3]})
    s.sample, s.good = sample, good  # type: ignore[attr-defined]
    yield s
    s.close()


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_download_checks_unpacks_and_caches(server, tmp_path):
    md5 = hashlib.md5(server.good).hexdigest()
    url = f"{server.base}/sample.zip"
    folder = download("sample", url=url, md5=md5, cache=tmp_path, show_progress=False)
    assert folder == tmp_path / "sample"
    back = ragplay.load_beir(folder)
    for name in ("corpus", "queries", "qrels"):
        assert getattr(back, name).equals(getattr(server.sample, name)), name
    assert leftovers(tmp_path) == ["sample"]
    # Found in the cache: no second request.
    again = load("sample", url=url, md5=md5, cache=tmp_path, show_progress=False)
    assert server.requests == ["/sample.zip"]
    assert again.qrels.equals(server.sample.qrels)


@pytest.mark.parametrize(
    ("path", "md5", "message"),
    [
        ("/missing.zip", None, r"HTTP 404"),
        ("/cut/sample.zip", None, r"cut short"),
        ("/sample.zip", "0" * 32, r"md5 of the download is [0-9a-f]{32}, expected 0{32}"),
        ("/broken.zip", None, r"not a readable zip archive"),
    ],
)
def test_failures_raise_and_leave_no_cache_entry(server, tmp_path, path, md5, message):
    with pytest.raises(ragplay.DownloadError, match=message) as info:
        download("sample", url=server.base + path, md5=md5, cache=tmp_path, show_progress=False)
    assert isinstance(info.value, OSError)
    assert leftovers(tmp_path) == []


def test_no_network_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/scifact.zip"
    with pytest.raises(
        ragplay.DownloadError, match=rf"cannot reach 127\.0\.0\.1:{port} .*load_beir"
    ):
        download("scifact", url=url, cache=tmp_path, show_progress=False)
    assert leftovers(tmp_path) == []


def test_a_zip_without_a_collection_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "no collection here")
    s = Server({"/x.zip": buf.getvalue()})
    try:
        with pytest.raises(ragplay.DownloadError, match="holds no BEIR collection"):
            download("x", url=f"{s.base}/x.zip", cache=tmp_path, show_progress=False)
    finally:
        s.close()
    assert leftovers(tmp_path) == []


def test_known_collections_and_bad_names(tmp_path):
    scifact = DATASETS["scifact"]
    assert scifact.url.endswith("/BEIR/datasets/scifact.zip")
    assert scifact.md5 == "5f7d1de60b170fc8027bb7898e2efca1"
    with pytest.raises(ValueError, match="unknown collection 'nope'.*scifact"):
        download("nope", cache=tmp_path)
    with pytest.raises(ValueError, match="not a collection name"):
        download("../etc", url="http://127.0.0.1:1/x.zip", cache=tmp_path)
