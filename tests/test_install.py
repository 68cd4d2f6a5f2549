"""Installing ragplay into another environment, as the README describes: a wheel built with the
dev profile (whose compiled crates this test run already has, so it costs little) installs into
a fresh virtual environment and works there, away from the source tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ragplay

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import json, ragplay
sample = ragplay.sample_collection()
bm25 = ragplay.BM25()
bm25.index(sample.corpus, show_progress=False)
run = bm25.search(sample.queries, k=10, show_progress=False)
summary = ragplay.evaluate(run, sample.qrels, ["ndcg@10"]).summary
print(json.dumps({"file": ragplay.__file__, "ndcg": summary["ndcg@10"][0]}))
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=1800)


def test_a_wheel_installs_and_works_in_a_fresh_environment(tmp_path):
    import json

    dist = tmp_path / "dist"
    built = run(
        sys.executable, "-m", "maturin", "build", "--profile", "dev", "-q",
        "-i", sys.executable, "-o", str(dist), cwd=ROOT,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-4000:]
    (wheel,) = dist.glob("ragplay-*.whl")
    venv = tmp_path / "venv"
    made = run(sys.executable, "-m", "venv", str(venv), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    installed = run(str(python), "-m", "pip", "install", "-q", str(wheel), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-4000:]
    used = run(str(python), "-c", CHECK, cwd=tmp_path)
    assert used.returncode == 0, used.stderr[-4000:]
    out = json.loads(used.stdout)
    # The package imported is the installed one, not the source tree's.
    assert Path(out["file"]).resolve().is_relative_to(venv.resolve()), out["file"]
    # And it computes what the build under test computes.
    sample = ragplay.sample_collection()
    bm25 = ragplay.BM25()
    bm25.index(sample.corpus, show_progress=False)
    here = ragplay.evaluate(bm25.search(sample.queries, k=10), sample.qrels, ["ndcg@10"])
    assert out["ndcg"] == here.summary["ndcg@10"][0]
