"""Failures of the storage layers (SQLite, the OS, tantivy) translated into the exception tree.

The stores call :func:`storage_error` at the one place each meets a foreign exception. A full
disk becomes :class:`StorageFullError` (ES's ``i_o_exception`` "No space left on device"), never
a raw database message. The decision is made on error codes: SQLite's ``SQLITE_FULL``, the OS's
``ENOSPC``/``EDQUOT``, and for tantivy the OS error number or the Rust ``io::ErrorKind`` it
names (tantivy reports every failure as a ``ValueError`` whose text carries ``(os error 28)`` or
``StorageFull``; those are the only codes it exposes).
"""

from __future__ import annotations

import errno
import re
import sqlite3

from isthmus.errors import StorageFullError, StorageIOError

NO_SPACE = "No space left on device"
_SQLITE_FULL = 13
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_OS_ERROR = re.compile(r"os error (\d+)")


def is_storage_full(exc: BaseException) -> bool:
    if isinstance(exc, StorageFullError):
        return True
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    if isinstance(exc, ValueError):  # tantivy
        text = str(exc)
        codes = {int(code) for code in _OS_ERROR.findall(text)}
        return "StorageFull" in text or bool(codes & _FULL_ERRNOS)
    return False


def storage_error(exc: BaseException) -> StorageFullError | None:
    """The error to raise instead of ``exc``, or None when ``exc`` is not a full disk."""
    if isinstance(exc, StorageFullError):
        return exc
    return StorageFullError(NO_SPACE) if is_storage_full(exc) else None


def search_index_error(exc: ValueError) -> StorageIOError:
    """A tantivy write failure (commit, or a writer whose background flush failed). tantivy
    names no cause for a killed writer, so what is not recognisably a full disk is reported as
    a plain I/O failure of the search index."""
    return storage_error(exc) or StorageIOError(f"failed to write the search index: {exc}")
