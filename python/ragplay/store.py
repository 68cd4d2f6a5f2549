"""Reading an experiment store: the folder ``ragplay.sweep(..., store=PATH)`` writes.

``Store`` is the core's store reader (``ragplay.Store``); this module keeps the name importable
from ``ragplay.store``.
"""

from __future__ import annotations

from ._ragplay import Store

#: The column that names a run's configuration in the store's run files.
CONFIG_ID = "config_id"

__all__ = ["CONFIG_ID", "Store"]
