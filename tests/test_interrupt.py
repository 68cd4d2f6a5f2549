"""Ctrl-C stops long work: the core sees the signal, stops, and Python gets KeyboardInterrupt."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent(
    """
    import sys
    import ragplay
    from conftest import random_run

    run, qrels = random_run(2000, 1000, seed=3, ties=False)
    print("ready", flush=True)
    try:
        for _ in range(10_000):
            ragplay.evaluate(run, qrels, ["ndcg@10", "map", "bpref"])
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(0)
    sys.exit(3)
    """
)


def test_ctrl_c_interrupts_evaluate(tmp_path):
    tests_dir = __file__.rsplit("/", 1)[0]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tests_dir,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # inside an evaluate call
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert "interrupted" in out
