"""Progress bars for long work, driven from Rust while the GIL is released.

Every long call takes ``show_progress``: ``True`` draws a bar, ``False`` never does, and
``None`` (the default everywhere) draws one when Python runs in a Jupyter kernel or stderr is
a terminal. The bar is ``tqdm.auto`` (a widget in notebooks, text in a terminal).
"""

from __future__ import annotations

import sys
from typing import Any


def wanted() -> bool:
    """Whether ``show_progress=None`` draws a bar here: in a notebook, or on a terminal."""
    if "ipykernel" in sys.modules:
        return True
    stderr = sys.stderr
    return bool(stderr is not None and hasattr(stderr, "isatty") and stderr.isatty())


class Bar:
    """A progress bar that the Rust side updates with (done, total) counts."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.label = ""
        self._bar: Any = None
        self._new_stage = False

    def _text(self) -> str:
        return f"{self.desc}: {self.label}" if self.label else self.desc

    def describe(self, label: str) -> None:
        """Say what the work is doing now (a sweep's configuration and stage); the next
        ``update`` draws it with that stage's own counts, from zero."""
        self.label = label
        self._new_stage = True

    def update(self, done: int, total: int) -> None:
        if total <= 0:
            return
        if self._bar is None:
            from tqdm.auto import tqdm  # type: ignore[import-untyped]

            self._bar = tqdm(total=total, desc=self._text(), leave=False)
        elif self._new_stage or self._bar.total != total:
            self._bar.reset(total=total)
            self._bar.set_description(self._text(), refresh=False)
        self._new_stage = False
        self._bar.update(done - self._bar.n)

    def close(self, done: int, total: int) -> None:
        if self._bar is not None:
            self.update(done, total)
            self._bar.close()
