"""Execute the notebooks for real and check what they print.

The Python notebook runs in the ``python3`` kernel, the Rust one in evcxr's ``rust`` kernel
(``make test`` installs it). Both must run without an error and print the NDCG@10 of the
overlap run on SciFact, which must match the value computed here.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

import ragplay
from conftest import DATA, ROOT

NOTEBOOKS = ROOT / "notebooks"
PYTHON_NOTEBOOK = NOTEBOOKS / "python" / "01_evaluation.ipynb"
RUST_NOTEBOOK = NOTEBOOKS / "rust" / "01_evaluation.ipynb"
# Fixed so that evcxr reuses the crates it compiled on an earlier run.
EVCXR_TMPDIR = ROOT / "target" / "evcxr"
NDCG_LINE = re.compile(r"^NDCG@10 overlap = (\d+\.\d{4})$", re.MULTILINE)


@pytest.fixture(scope="module")
def expected_ndcg(scifact: ragplay.Collection) -> float:
    run = ragplay.overlap_run(scifact.corpus, scifact.queries, k=100)
    return ragplay.evaluate(run, scifact.qrels, ["ndcg@10"]).summary["ndcg@10"][0]


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


def last_ndcg(nb: nbformat.NotebookNode) -> float:
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    last = "".join(
        o.get("text", "")
        for o in code_cells[-1].get("outputs", [])
        if o.get("output_type") == "stream"
    )
    match = NDCG_LINE.search(last)
    assert match, f"the last cell printed {last!r}, not 'NDCG@10 overlap = X'"
    return float(match.group(1))


def test_python_notebook(expected_ndcg: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGPLAY_DATA", str(DATA.resolve()))
    nb = execute(PYTHON_NOTEBOOK, "python3")
    got = last_ndcg(nb)
    assert math.isclose(got, expected_ndcg, rel_tol=0, abs_tol=1e-4), (got, expected_ndcg)


def test_rust_notebook(expected_ndcg: float, monkeypatch: pytest.MonkeyPatch) -> None:
    EVCXR_TMPDIR.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("RAGPLAY_DATA", str(DATA.resolve()))
    monkeypatch.setenv("EVCXR_TMPDIR", str(EVCXR_TMPDIR))
    nb = execute(RUST_NOTEBOOK, "rust")
    got = last_ndcg(nb)
    assert math.isclose(got, expected_ndcg, rel_tol=0, abs_tol=1e-4), (
        got,
        expected_ndcg,
        printed(nb)[-2000:],
    )


def test_notebooks_committed_without_outputs() -> None:
    paths = sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    assert PYTHON_NOTEBOOK in paths and RUST_NOTEBOOK in paths, paths
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
