"""The timing helper the benchmarks share."""

from __future__ import annotations

import gc
import time


def timed(fn, repeats: int):
    """Call ``fn`` ``repeats`` times with the GC off; return (seconds of each call, last result)."""
    seconds, result = [], None
    for _ in range(repeats):
        result = None
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            result = fn()
            seconds.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return seconds, result
