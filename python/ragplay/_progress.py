"""Progress bars for long work, driven from Rust while the GIL is released.

The bar is ``tqdm.auto`` (a widget in notebooks, text in a terminal) when tqdm is installed;
otherwise nothing is drawn.
"""

from __future__ import annotations

from typing import Any


class Bar:
    """A progress bar that the Rust side updates with (done, total) counts."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self._bar: Any = None

    def update(self, done: int, total: int) -> None:
        if total <= 0:
            return
        if self._bar is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # no tqdm: no bar
                return
            self._bar = tqdm(total=total, desc=self.desc, leave=False)
        if self._bar.total != total:
            self._bar.reset(total=total)
        self._bar.update(done - self._bar.n)

    def close(self, done: int, total: int) -> None:
        if self._bar is not None:
            self.update(done, total)
            self._bar.close()
