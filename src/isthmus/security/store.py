"""The security store: users, roles and API keys, durable in ``_state/security.sqlite``.

ES keeps these in its replicated ``.security`` index; here they are a node-local SQLite file
written with ``synchronous=FULL`` (an acknowledged user or key survives a crash). Values are JSON
documents; password and key hashes live inside them and never leave this layer unredacted.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson

from isthmus.storage import storage_error

_TABLES = ("users", "roles", "api_keys")


# SQLite's primary result codes for "no room" and "the OS refused the I/O".
_SQLITE_IOERR = 10
_SQLITE_FULL = 13
log = logging.getLogger("isthmus.security.store")


class SecurityStore:
    """Shared mode by default: ``isthmus reset-password`` opens the same file while the node
    runs. On a disk too full for SQLite's shared-memory file the store opens in exclusive mode
    instead (it needs no such file), so a node still starts on a full disk; the reset tool then
    waits for the node to stop."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.path = state_dir / "security.sqlite"
        self.exclusive = False
        try:
            self._db = self._open(exclusive=False)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in (_SQLITE_IOERR, _SQLITE_FULL):
                raise
            self._db = self._open(exclusive=True)
            self.exclusive = True
            log.warning(
                "the security store [%s] is open in exclusive mode: the disk has no room for "
                "its shared-memory file; [isthmus reset-password] cannot run until the node "
                "stops",
                self.path,
            )

    def _open(self, *, exclusive: bool) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            if exclusive:
                db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            for table in _TABLES:
                db.execute(f"CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY, v BLOB)")
        except BaseException:
            db.close()
            raise
        return db

    def _write(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        """One statement that changes the store; a full disk is ES's ``i_o_exception``."""
        try:
            return self._db.execute(sql, args)
        except sqlite3.Error as exc:
            translated = storage_error(exc)
            if translated is None:
                raise
            raise translated from None

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        raw = self.get_raw(table, key)
        return None if raw is None else orjson.loads(raw)

    def get_raw(self, table: str, key: str) -> bytes | None:
        """The stored JSON document's bytes (for callers that remember what they parsed)."""
        with self._lock:
            row = self._db.execute(f"SELECT v FROM {table} WHERE k=?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, table: str, key: str, value: dict[str, Any]) -> bool:
        """Insert or replace; returns True when the key was new."""
        with self._lock:
            existed = self._db.execute(f"SELECT 1 FROM {table} WHERE k=?", (key,)).fetchone()
            self._write(
                f"INSERT OR REPLACE INTO {table}(k, v) VALUES(?, ?)", (key, orjson.dumps(value))
            )
        return existed is None

    def delete(self, table: str, key: str) -> bool:
        with self._lock:
            cur = self._write(f"DELETE FROM {table} WHERE k=?", (key,))
        return cur.rowcount > 0

    def all(self, table: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(f"SELECT k, v FROM {table} ORDER BY k").fetchall()
        return {k: orjson.loads(v) for k, v in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
