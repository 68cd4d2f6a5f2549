"""Execute the notebooks for real and check what they print.

The Python notebooks run in the ``python3`` kernel, the Rust ones in evcxr's ``rust`` kernel
(``make test`` installs it). Each must run without an error and end by printing an NDCG@10 on
SciFact (``NDCG@10 <run> = X``), which must match the value computed here: BM25 over titled
Markdown sections of the demo collection for the 00 notebooks, the overlap run for the 01
notebooks, BM25 with the default parameters for the 02 ones, dense retrieval for the
03 ones and RRF of BM25 and dense for the 04 ones. The expected value is evaluated by
pytrec_eval, not by the library the notebooks use.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import nbformat
import polars as pl
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

import ragplay
from conftest import DATA, EMBED_CACHE, ROOT, pytrec_reference

NOTEBOOKS = ROOT / "notebooks"
KERNELS = {"python": "python3", "rust": "rust"}
# The notebooks by name, each with the run whose NDCG@10 its last cell prints (per language
# where they differ: the Rust kernel compiles ragplay unoptimised, so its embedding notebook
# works on the small sample collection).
EXPECTED_RUN = {
    "00_playground.ipynb": "demo-title",
    "01_evaluation.ipynb": "overlap",
    "02_bm25.ipynb": "lucene",
    "03_embeddings.ipynb": {"python": "dense", "rust": "dense-sample"},
    "04_hybrid.ipynb": {"python": "rrf", "rust": "rrf-sample"},
    "05_chunking.ipynb": {"python": "documents", "rust": "maxp-sample"},
    "06_sweeps.ipynb": {"python": "documents", "rust": "cranfield"},
    "07_generation.ipynb": {"python": "squad-bm25", "rust": "squad-bm25-2"},
}
CASES = [(lang, name) for name in EXPECTED_RUN for lang in KERNELS]
# Fixed so that evcxr reuses the crates it compiled on an earlier run.
EVCXR_TMPDIR = ROOT / "target" / "evcxr"


def dense_run(collection: ragplay.Collection, k: int) -> pl.DataFrame:
    corpus, queries = collection.corpus, collection.queries
    encoder = ragplay.Encoder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ragplay.TruncationWarning)
        docs = encoder.encode_corpus(corpus, cache=EMBED_CACHE, show_progress=False)
    return ragplay.exact_search(
        encoder.encode_queries(queries),
        docs,
        query_ids=queries["query_id"].to_list(),
        doc_ids=corpus["doc_id"].to_list(),
        k=k,
    )


def reference_ndcg10(run: pl.DataFrame, qrels: pl.DataFrame) -> float:
    """The mean nDCG@10 over the judged queries the run answers, computed by pytrec_eval."""
    per_query = pytrec_reference(run, qrels, ["ndcg@10"])
    return sum(v["ndcg@10"] for v in per_query.values()) / len(per_query)


def ndcg10(scifact: ragplay.Collection, run_name: str) -> float:
    """The NDCG@10 of the run a notebook reports (on SciFact unless named "-sample"),
    computed here."""
    if run_name == "demo-title":
        # BM25 over the demo collection's Markdown sections with their page title, MaxP.
        demo = ragplay.demo_collection()
        chunks = ragplay.chunk(demo.corpus, strategy="markdown", size=1000, show_progress=False)
        titles = dict(demo.corpus.select("doc_id", "title").iter_rows())
        texts = [f"{titles[d]}\n\n{t}" for d, t in chunks.select("doc_id", "text").iter_rows()]
        bm25 = ragplay.BM25()
        bm25.index(pl.DataFrame({"doc_id": chunks["chunk_id"], "text": texts}), show_progress=False)
        run = ragplay.to_documents(bm25.search(demo.queries, k=100), chunks)
        return reference_ndcg10(run, demo.qrels)
    if run_name == "maxp-sample":
        sample = ragplay.sample_collection()
        chunks = ragplay.chunk(sample.corpus, strategy="sentence", size=80, show_progress=False)
        bm25 = ragplay.BM25()
        bm25.index(chunks.select(pl.col("chunk_id").alias("doc_id"), "text"), show_progress=False)
        run = ragplay.to_documents(bm25.search(sample.queries, k=50), chunks, k=10)
        return reference_ndcg10(run, sample.qrels)
    if run_name in ("dense-sample", "rrf-sample"):
        sample = ragplay.sample_collection()
        run = dense_run(sample, 10)
        if run_name == "rrf-sample":
            bm25 = ragplay.BM25()
            bm25.index(sample.corpus, show_progress=False)
            lexical = bm25.search(sample.queries, k=10)
            run = ragplay.fuse({"bm25": lexical, "dense": run}, method="rrf")
        return reference_ndcg10(run, sample.qrels)
    if run_name.startswith("squad-bm25"):
        # BM25 over SQuAD's paragraphs for the first 8 (Python) or 2 (Rust) questions.
        squad = ragplay.load_beir(DATA / "squad-dev")
        questions = squad.queries.head(2 if run_name.endswith("-2") else 8)
        index = ragplay.BM25()
        index.index(squad.corpus, show_progress=False)
        return reference_ndcg10(index.search(questions, k=10), squad.qrels)
    if run_name == "cranfield":
        cranfield = ragplay.load_beir(DATA / "cranfield")
        index = ragplay.BM25()
        index.index(cranfield.corpus, show_progress=False)
        run = index.search(cranfield.queries, k=100)
        return reference_ndcg10(run, cranfield.qrels)
    if run_name == "dense":
        run = dense_run(scifact, 100)
    elif run_name == "overlap":
        run = ragplay.overlap_run(scifact.corpus, scifact.queries, k=100)
    elif run_name == "rrf":
        index = ragplay.BM25()
        index.index(scifact.corpus, show_progress=False)
        lexical = index.search(scifact.queries, k=100)
        run = ragplay.fuse({"bm25": lexical, "dense": dense_run(scifact, 100)}, method="rrf")
    elif run_name in ("lucene", "documents"):
        index = ragplay.BM25()
        index.index(scifact.corpus, show_progress=False)
        run = index.search(scifact.queries, k=100)
    else:
        raise ValueError(run_name)
    return reference_ndcg10(run, scifact.qrels)


def require_kernel(name: str) -> None:
    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        hint = (
            "`make test` installs it (cargo install evcxr_jupyter --locked && evcxr_jupyter --install)"
            if name == "rust"
            else "install ipykernel in the virtualenv"
        )
        pytest.fail(f"Jupyter kernel {name!r} is not installed; {hint}", pytrace=False)


def execute(path: Path, kernel: str) -> nbformat.NotebookNode:
    """Run every cell of the notebook at `path` with its folder as working directory; the
    kernel inherits this process's environment."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    require_kernel(kernel)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=900,
        kernel_name=kernel,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as e:
        pytest.fail(f"{path.relative_to(ROOT)} failed:\n{e}", pytrace=False)
    errors = [
        (i, out)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, (
        f"{path.relative_to(ROOT)}: cell {errors[0][0]} raised {errors[0][1].get('ename')}"
    )
    return nb


def printed(nb: nbformat.NotebookNode) -> str:
    """Everything the code cells wrote to stdout, in order."""
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stdout"
    )


def last_ndcg(nb: nbformat.NotebookNode, run_name: str) -> float:
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    # A Rust notebook ends on the line as the cell's value: evcxr sends a value before the
    # kernel reports idle, while a line printed at the end of a cell may arrive after it.
    last = "".join(
        o.get("text", "") if o.get("output_type") == "stream" else o["data"].get("text/plain", "")
        for o in code_cells[-1].get("outputs", [])
        if o.get("output_type") in ("stream", "execute_result")
    )
    line = re.compile(rf'^"?NDCG@10 {re.escape(run_name)} = (\d+\.\d{{4}})"?$', re.MULTILINE)
    match = line.search(last)
    assert match, f"the last cell printed {last!r}, not 'NDCG@10 {run_name} = X'"
    return float(match.group(1))


@pytest.mark.parametrize(("lang", "name"), CASES, ids=[f"{lang}/{name}" for lang, name in CASES])
def test_notebook(
    lang: str, name: str, scifact: ragplay.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGPLAY_DATA", str(DATA.resolve()))
    monkeypatch.setenv("RAGPLAY_EMBED_CACHE", str(EMBED_CACHE))
    if lang == "rust":
        EVCXR_TMPDIR.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv("EVCXR_TMPDIR", str(EVCXR_TMPDIR))
    nb = execute(NOTEBOOKS / lang / name, KERNELS[lang])
    expected_run = EXPECTED_RUN[name]
    run_name = expected_run[lang] if isinstance(expected_run, dict) else expected_run
    if name == "00_playground.ipynb":
        # The charts are in the outputs, as images.
        images = [
            out["data"]
            for cell in nb.cells
            if cell.cell_type == "code"
            for out in cell.get("outputs", [])
            if "image/svg+xml" in out.get("data", {}) or "image/png" in out.get("data", {})
        ]
        assert len(images) >= (3 if lang == "python" else 1), printed(nb)[-2000:]
        assert all("<svg" in str(d.get("image/svg+xml", "<svg")) for d in images)
    got = last_ndcg(nb, run_name)
    expected = ndcg10(scifact, run_name)
    assert math.isclose(got, expected, rel_tol=0, abs_tol=1e-4), (
        got,
        expected,
        printed(nb)[-2000:],
    )


def test_notebooks_committed_without_outputs() -> None:
    paths = sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    missing = [
        NOTEBOOKS / lang / name for lang, name in CASES if NOTEBOOKS / lang / name not in paths
    ]
    assert not missing, (missing, paths)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        dirty = [
            i
            for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code"
            and (cell.get("outputs") != [] or cell.get("execution_count") is not None)
        ]
        assert not dirty, (
            f"{path.relative_to(ROOT)}: clear the outputs and execution counts of cells {dirty}"
        )
