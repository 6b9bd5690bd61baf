"""Durable cluster metadata: one SQLite file under ``<path.data>/_state``.

The whole metadata is small and changes rarely, so each update rewrites one row in a
``synchronous=FULL`` transaction: an acknowledged index creation or settings change survives a
crash. Transient settings are never written (as in ES, they do not survive a full restart).
A full disk is reported as :class:`StorageFullError`, never as SQLite's own message.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import orjson

from isthmus.cluster.metadata import ClusterMetadata
from isthmus.storage import storage_error


class ClusterStore:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            state_dir / "cluster.sqlite", check_same_thread=False, isolation_level=None
        )
        # One connection per file, held by this node (the data path is locked): exclusive
        # locking keeps WAL's index in memory instead of a -shm file, which a full disk could
        # not create, so the store still opens and reads on a full disk.
        self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB)")

    def load(self) -> ClusterMetadata | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key='metadata'").fetchone()
        return ClusterMetadata.from_json(orjson.loads(row[0])) if row else None

    def save(self, meta: ClusterMetadata) -> None:
        blob = orjson.dumps(meta.to_json())
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO state(key, value) VALUES('metadata', ?)", (blob,)
                )
            except sqlite3.Error as exc:
                translated = storage_error(exc)
                if translated is None:
                    raise
                raise translated from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()
