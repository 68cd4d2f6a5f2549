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


def timed_at_least(fn, repeats: int, budget_s: float):
    """``timed``, with more calls (up to 100) while the calls so far took under ``budget_s``:
    fast calls get enough samples for their best time to settle."""
    seconds, result = timed(fn, repeats)
    while sum(seconds) < budget_s and len(seconds) < 100:
        more, result = timed(fn, 1)
        seconds += more
    return seconds, result
