"""The security store: users, roles and API keys, durable in ``_state/security.sqlite``.

ES keeps these in its replicated ``.security`` index; here they are a node-local SQLite file
written with ``synchronous=FULL`` (an acknowledged user or key survives a crash). Values are JSON
documents; password and key hashes live inside them and never leave this layer unredacted.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson

_TABLES = ("users", "roles", "api_keys")


class SecurityStore:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            state_dir / "security.sqlite", check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        for table in _TABLES:
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY, v BLOB)")

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
            self._db.execute(
                f"INSERT OR REPLACE INTO {table}(k, v) VALUES(?, ?)", (key, orjson.dumps(value))
            )
        return existed is None

    def delete(self, table: str, key: str) -> bool:
        with self._lock:
            cur = self._db.execute(f"DELETE FROM {table} WHERE k=?", (key,))
        return cur.rowcount > 0

    def all(self, table: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(f"SELECT k, v FROM {table} ORDER BY k").fetchall()
        return {k: orjson.loads(v) for k, v in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
