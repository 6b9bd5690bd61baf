"""The security store: users, roles and API keys, durable in ``_state/security.sqlite``.

ES keeps these in its replicated ``.security`` index; here they are a node-local SQLite file
written with ``synchronous=FULL`` (an acknowledged user or key survives a crash). Values are JSON
documents; password and key hashes live inside them and never leave this layer unredacted.

In a cluster of several nodes the file is this node's read copy of the cluster's security state:
a :class:`WriteListener` (:mod:`isthmus.security.replication`) hears every write made through
:meth:`SecurityStore.put` and :meth:`SecurityStore.delete`, and writes the cluster's changes back
with :meth:`SecurityStore.apply` (which it does not hear).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

import orjson

from isthmus.storage import storage_error

TABLES = ("users", "roles", "api_keys")


# SQLite's primary result codes for "no room" and "the OS refused the I/O".
_SQLITE_IOERR = 10
_SQLITE_FULL = 13
log = logging.getLogger("isthmus.security.store")


class WriteListener(Protocol):
    def written(self, table: str, key: str, value: bytes | None) -> None:
        """A document was put (``value``: its JSON) or deleted (None) on this node."""

    async def committed(self) -> None:
        """Return once every write heard so far is the cluster's (raise when it is not)."""


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
        self.listener: WriteListener | None = None  # set in a cluster of several nodes
        # Whether this copy holds the cluster's documents: a node of a multi-node cluster reads
        # them from etcd before it authenticates anyone (a key invalidated while it was down
        # must not pass on its old copy); ES answers so while its security index is unavailable.
        self.loaded = True
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
            for table in TABLES:
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
        raw = orjson.dumps(value)
        with self._lock:
            existed = self._db.execute(f"SELECT 1 FROM {table} WHERE k=?", (key,)).fetchone()
            self._write(f"INSERT OR REPLACE INTO {table}(k, v) VALUES(?, ?)", (key, raw))
        if self.listener is not None:
            self.listener.written(table, key, raw)
        return existed is None

    def delete(self, table: str, key: str) -> bool:
        with self._lock:
            cur = self._write(f"DELETE FROM {table} WHERE k=?", (key,))
        if self.listener is not None and cur.rowcount > 0:
            self.listener.written(table, key, None)
        return cur.rowcount > 0

    async def committed(self) -> None:
        """Return once every write so far is the cluster's (at once on a node of its own)."""
        if self.listener is not None:
            await self.listener.committed()

    def apply(self, table: str, key: str, value: bytes | None) -> None:
        """Write the cluster's version of one document (None: it is gone), unheard."""
        with self._lock:
            if value is None:
                self._write(f"DELETE FROM {table} WHERE k=?", (key,))
            else:
                self._write(f"INSERT OR REPLACE INTO {table}(k, v) VALUES(?, ?)", (key, value))

    def replace_all(self, docs: dict[str, dict[str, bytes]]) -> dict[str, int]:
        """Make the store hold exactly ``docs`` (table → key → JSON), in one transaction, unheard;
        returns how many documents of each table were dropped."""
        dropped: dict[str, int] = {}
        with self._lock:
            self._write("BEGIN IMMEDIATE", ())
            try:
                for table in TABLES:
                    wanted = docs.get(table, {})
                    keys = [k for (k,) in self._db.execute(f"SELECT k FROM {table}").fetchall()]
                    gone = [k for k in keys if k not in wanted]
                    for k in gone:
                        self._write(f"DELETE FROM {table} WHERE k=?", (k,))
                    for k, v in wanted.items():
                        self._write(f"INSERT OR REPLACE INTO {table}(k, v) VALUES(?, ?)", (k, v))
                    dropped[table] = len(gone)
                self._write("COMMIT", ())
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return dropped

    def all_raw(self, table: str) -> dict[str, bytes]:
        with self._lock:
            rows = self._db.execute(f"SELECT k, v FROM {table} ORDER BY k").fetchall()
        return {k: bytes(v) for k, v in rows}

    def all(self, table: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(f"SELECT k, v FROM {table} ORDER BY k").fetchall()
        return {k: orjson.loads(v) for k, v in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
