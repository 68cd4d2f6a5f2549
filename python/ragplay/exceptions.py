"""The ragplay exception hierarchy.

Every error ragplay raises on purpose is a ``RagplayError`` (or an ``OSError`` for files that
cannot be read or written, or ``KeyboardInterrupt`` after Ctrl-C). Bad input is also a
``ValueError``, so callers that only know the standard hierarchy can still catch it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DownloadError",
    "ModelError",
    "RagplayError",
    "RagplayWarning",
    "TruncationWarning",
]


class RagplayError(Exception):
    """Base class of ragplay's errors."""


class DataError(RagplayError, ValueError):
    """Bad input data: malformed files (with file and line), wrong or missing columns, nulls,
    NaN scores, duplicate or unknown ids, empty tables, invalid UTF-8."""


class ConfigError(RagplayError, ValueError):
    """An invalid option: an unknown metric name, ``k = 0``, a parameter out of range."""


class DownloadError(RagplayError, OSError):
    """A collection that could not be downloaded: an HTTP error, no network, a download cut
    short, a checksum mismatch, a broken zip (``ragplay.datasets``)."""


class ModelError(RagplayError):
    """A model that cannot be loaded or run: missing or corrupt weights, an unsupported
    architecture."""


class RagplayWarning(UserWarning):
    """Something ragplay left out and reports instead of raising, such as a file that
    ``read_documents(..., errors="skip")`` could not read (the message names the path and the
    reason)."""


class TruncationWarning(UserWarning):
    """Texts longer than the model's ``max_seq_length`` were cut to fit it."""
