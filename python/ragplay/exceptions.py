"""The ragplay exception hierarchy.

Every error ragplay raises on purpose is a ``RagplayError`` (or an ``OSError`` for files that
cannot be read or written, or ``KeyboardInterrupt`` after Ctrl-C). Bad input is also a
``ValueError``, so callers that only know the standard hierarchy can still catch it; a
failure inside ragplay itself is an ``InternalError`` (also a ``RuntimeError``). Every
warning ragplay emits is a ``RagplayWarning``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DownloadError",
    "InternalError",
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


class InternalError(RagplayError, RuntimeError):
    """A failure inside ragplay that no input explains (a bug: please report it with the
    message), or an index left inconsistent by an earlier such failure."""


class RagplayWarning(UserWarning):
    """Something ragplay left out and reports instead of raising, such as a file that
    ``read_documents(..., errors="skip")`` could not read (the message names the path and the
    reason)."""


class TruncationWarning(RagplayWarning):
    """Texts longer than the model's ``max_seq_length`` were cut to fit it."""
