"""Public test collections, downloaded once into a local cache.

``ragplay.datasets.download("scifact")`` fetches the BEIR zip of a collection (Thakur et al.,
"BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of Information Retrieval Models",
NeurIPS 2021 Datasets and Benchmarks), checks it against the md5 the BEIR authors publish,
unpacks it and returns the folder, which ``ragplay.load_beir`` reads; ``ragplay.datasets.load``
does both. A later call finds the folder in the cache and downloads nothing.

The cache is ``$RAGPLAY_CACHE/datasets`` (else ``$XDG_CACHE_HOME/ragplay/datasets``, else
``~/.cache/ragplay/datasets``). A collection's folder appears there only once it is complete:
the zip is downloaded to a temporary file, checked, unpacked into a temporary folder and
renamed into place, and every temporary file is removed when anything fails (a 404, no
network, a truncated download, a checksum mismatch, a broken zip, Ctrl-C), so the cache never
holds half a collection.

Downloading is plain I/O, so it lives in Python (``urllib``); the collection is read by the
Rust loader.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import _progress
from .exceptions import DownloadError

if TYPE_CHECKING:
    from ._ragplay import Collection

__all__ = ["DATASETS", "Dataset", "cache_dir", "download", "load"]

_BEIR = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{}.zip"
_CHUNK = 1 << 20
_MARKER = ".ragplay-download.json"


@dataclass(frozen=True)
class Dataset:
    """A downloadable collection: where its zip is and the zip's published md5."""

    name: str
    url: str
    md5: str | None


def _beir(name: str, md5: str) -> Dataset:
    return Dataset(name, _BEIR.format(name), md5)


# The public BEIR collections with the md5 of each zip, as the BEIR README lists them.
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        _beir("scifact", "5f7d1de60b170fc8027bb7898e2efca1"),
        _beir("nfcorpus", "a89dba18a62ef92f7d323ec890a0d38d"),
        _beir("arguana", "8ad3e3c2a5867cdced806d6503f29b99"),
        _beir("scidocs", "38121350fc3a4d2f48850f6aff52e4a9"),
        _beir("fiqa", "17918ed23cd04fb15047f73e6c3bd9d9"),
        _beir("trec-covid", "ce62140cb23feb9becf6270d0d1fe6d1"),
        _beir("webis-touche2020", "46f650ba5a527fc69e0a6521c5a23563"),
        _beir("quora", "18fb154900ba42a600f84b839c173167"),
        _beir("cqadupstack", "4e41456d7df8ee7760a7f866133bda78"),
        _beir("nq", "d4d3d2e48787a744b6f6e691ff534307"),
        _beir("hotpotqa", "f412724f78b0d91183a0e86805e16114"),
        _beir("dbpedia-entity", "c2a39eb420a3164af735795df012ac2c"),
        _beir("fever", "5a818580227bfb4b35bb6fa46d9b6c03"),
        _beir("climate-fever", "8b66f0a9126c521bae2bde127b4dc99d"),
        _beir("msmarco", "444067daf65d982533ea17ebd59501e4"),
    ]
}


def cache_dir() -> Path:
    """Where downloaded collections are kept (see the module docstring)."""
    root = os.environ.get("RAGPLAY_CACHE")
    if root:
        return Path(root) / "datasets"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "ragplay" / "datasets"


def download(
    name: str,
    *,
    url: str | None = None,
    md5: str | None = None,
    cache: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    show_progress: bool | None = None,
) -> Path:
    """Download collection ``name`` into the cache (once) and return its BEIR folder.

    Args:
        name: A name of ``DATASETS`` (``"scifact"``, ``"nfcorpus"``, ...), or any name with
            ``url``.
        url: Where the zip is (default: the BEIR mirror's address for ``name``).
        md5: The zip's expected md5 (default: the published one for a known name; ``None``
            with a ``url`` of your own skips the check).
        cache: The cache folder (default: ``cache_dir()``).
        timeout: Seconds to wait for the server on each read.
        show_progress: A download bar (``None``: in notebooks and terminals).

    Raises:
        DownloadError: The server answered with an error, could not be reached, the download
            was cut short, the md5 differs, or the zip is broken or holds no BEIR collection.
            Nothing is left in the cache.
    """
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"name: {name!r} is not a collection name")
    known = DATASETS.get(name)
    if url is None:
        if known is None:
            raise ValueError(
                f"name: unknown collection {name!r}; known: {', '.join(sorted(DATASETS))} "
                "(or pass url=)"
            )
        url = known.url
        md5 = md5 or known.md5
    root = Path(cache) if cache is not None else cache_dir()
    target = root / name
    if (target / _MARKER).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f".{name}.{os.getpid()}.zip.part"
    unpacked = root / f".{name}.{os.getpid()}.part"
    try:
        digest = _fetch(url, archive, timeout, show_progress)
        if md5 is not None and digest != md5.lower():
            raise DownloadError(
                f"{url}: md5 of the download is {digest}, expected {md5.lower()} "
                "(corrupted download or changed file)"
            )
        folder = _unpack(url, archive, unpacked)
        (folder / _MARKER).write_text(json.dumps({"url": url, "md5": digest}))
        if target.exists():  # an unfinished folder left by something else: replace it
            shutil.rmtree(target)
        os.replace(folder, target)
        return target
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(unpacked, ignore_errors=True)


def load(name: str, *, split: str = "test", **options: object) -> Collection:
    """``download(name, **options)`` then ``ragplay.load_beir(folder, split=split)``."""
    from ._ragplay import load_beir

    return load_beir(download(name, **options), split=split)  # type: ignore[arg-type]


def _fetch(url: str, path: Path, timeout: float, show_progress: bool | None) -> str:
    """Stream ``url`` into ``path``; return the md5 of what arrived."""
    request = urllib.request.Request(url, headers={"User-Agent": "ragplay"})
    host = urlsplit(url).netloc or url
    md5 = hashlib.md5(usedforsecurity=False)
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, path.open("wb") as out:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            bar = _bar(url, expected, show_progress)
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    md5.update(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: the server answered HTTP {e.code} {e.reason}") from None
    except http.client.IncompleteRead as e:
        got = received + len(e.partial)
        raise DownloadError(
            f"{url}: the download was cut short after {got} bytes"
            + (f" of {got + e.expected}" if e.expected else "")
        ) from None
    except (urllib.error.URLError, socket.timeout, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(
            f"cannot reach {host} ({reason}); without a network, put the collection's BEIR "
            "folder on disk and read it with ragplay.load_beir(path)"
        ) from None
    if expected is not None and received != expected:
        raise DownloadError(f"{url}: the download was cut short: {received} of {expected} bytes")
    return md5.hexdigest()


def _bar(url: str, total: int | None, show_progress: bool | None):  # noqa: ANN202
    if not (_progress.wanted() if show_progress is None else show_progress):
        return None
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    name = url.rsplit("/", 1)[-1]
    return tqdm(total=total, desc=f"download {name}", unit="B", unit_scale=True, leave=False)


def _unpack(url: str, archive: Path, into: Path) -> Path:
    """Extract the zip into ``into`` and return the BEIR folder inside it."""
    try:
        with zipfile.ZipFile(archive) as z:
            for member in z.infolist():
                parts = Path(member.filename).parts
                if member.filename.startswith(("/", "\\")) or ".." in parts:
                    raise DownloadError(f"{url}: the zip holds an unsafe path {member.filename!r}")
            z.extractall(into)
    except (zipfile.BadZipFile, EOFError) as e:
        raise DownloadError(
            f"{url}: not a readable zip archive (truncated or corrupt: {e})"
        ) from None
    found = [p.parent for p in into.rglob("corpus.jsonl")]
    if len(found) != 1 or not (found[0] / "queries.jsonl").is_file():
        raise DownloadError(
            f"{url}: the zip holds no BEIR collection (one corpus.jsonl beside queries.jsonl)"
        )
    return found[0]
