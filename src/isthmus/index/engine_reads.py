"""What a shard's engine reads for others: the realtime get, the operation history (replication,
scroll pages), the retention leases that keep it, stats and the store snapshot a CCR restore ships.

:class:`ShardReads` is one part of :class:`~isthmus.index.engine.ShardEngine` (the rules are in
that module's docstring); every method takes the shard's lock, as the engine's own do. It holds
no state of its own: the engine's ``__init__`` sets every attribute declared below.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from isthmus.index.generations import disk_size
from isthmus.index.history import OperationHistory
from isthmus.index.operations import EngineStats, HistoryOp, StoredDoc
from isthmus.index.recent_ops import Row as HistoryRow
from isthmus.index.seq_no import RetentionLease, SeqNoStats


class ShardReads:
    """The reads of :class:`~isthmus.index.engine.ShardEngine` (a base class of it)."""

    # Set by ShardEngine.__init__.
    path: Path
    _db: sqlite3.Connection
    _lock: threading.RLock
    ops_history: OperationHistory
    max_seq_no: int
    generation: int
    indexed_checkpoint: int
    searchable_checkpoint: int
    refreshes: int

    if TYPE_CHECKING:  # the store's side, in ShardEngine

        @property
        def local_checkpoint(self) -> int: ...

        def seq_no_stats(self) -> SeqNoStats: ...

    def get(self, doc_id: str) -> StoredDoc | None:
        """Realtime get: the latest durable state, refreshed or not."""
        with self._lock:
            row = self._db.execute(
                "SELECT d.seq_no, d.primary_term, d.version, o.source, o.routing FROM docs d "
                "JOIN ops o ON o.seq_no = d.seq_no WHERE d.id=? AND d.deleted=0",
                (doc_id,),
            ).fetchone()
        return StoredDoc(doc_id, row[0], row[1], row[2], row[3], row[4]) if row else None

    # --- history (read by replication; kept by the retention rules) ------------------------

    def history(self, from_seq_no: int, to_seq_no: int, limit: int = 5120) -> list[HistoryOp]:
        """Operations with ``from_seq_no <= _seq_no <= to_seq_no`` in order (for replication)."""
        with self._lock:
            return self.ops_history.read(from_seq_no, to_seq_no, limit)

    def changes(self, from_seq_no: int, to_seq_no: int, max_bytes: int) -> list[HistoryOp]:
        """Every operation of the range, bounded by bytes (:meth:`OperationHistory.changes`)."""
        with self._lock:
            return self.ops_history.changes(from_seq_no, to_seq_no, max_bytes)

    def changes_rows(self, from_seq_no: int, to_seq_no: int, max_bytes: int) -> list[HistoryRow]:
        """:meth:`changes` as rows in :class:`HistoryOp`'s field order (no object per operation:
        a follower's read encodes them straight onto the wire)."""
        with self._lock:
            return self.ops_history.changes_rows(from_seq_no, to_seq_no, max_bytes)

    def sources_at(self, seq_nos: Sequence[int]) -> dict[int, bytes]:
        """The indexed source of each operation still in the history, by ``_seq_no`` (a scroll
        page reads its documents as the search saw them, in one call per shard)."""
        with self._lock:
            return self.ops_history.sources_at(seq_nos)

    def trim_history(self, retain_ms: int, retain_ops: int) -> int:
        """Drop operations that every retention rule lets go: older than ``retain_ms``
        (``index.soft_deletes.retention_lease.period``, which also expires leases), outside the
        last ``retain_ops``, indexed, at or below the local checkpoint, below every unexpired
        retention lease's retaining ``_seq_no``, and not the operation a live document points to
        (it holds that document's source)."""
        with self._lock:
            # Operations above indexed_checkpoint are kept: a search index that fell behind
            # (a full disk) is rebuilt from them; those above the local checkpoint are how a
            # reopened copy knows what it already holds.
            keep_to = min(
                self.indexed_checkpoint, self.local_checkpoint, self.max_seq_no - retain_ops
            )
            return self.ops_history.trim(keep_to, retain_ms)

    def retention_leases(self, period_ms: int) -> list[RetentionLease]:
        """This shard's unexpired retention leases, by id."""
        with self._lock:
            return self.ops_history.leases(period_ms)

    def retention_leases_with_version(self, period_ms: int) -> tuple[int, list[RetentionLease]]:
        """The unexpired leases and how many times the leases changed (taken together)."""
        with self._lock:
            leases = self.ops_history.leases(period_ms)
            return self.ops_history.leases_version(), leases

    def add_retention_lease(
        self,
        lease_id: str,
        retaining_seq_no: int,
        source: str,
        period_ms: int,
        max_leases: int | None = None,
    ) -> RetentionLease:
        with self._lock:
            return self.ops_history.add_lease(
                lease_id, retaining_seq_no, source, period_ms, max_leases
            )

    def renew_retention_lease(
        self, lease_id: str, retaining_seq_no: int, source: str, period_ms: int
    ) -> RetentionLease:
        with self._lock:
            return self.ops_history.renew_lease(lease_id, retaining_seq_no, source, period_ms)

    def remove_retention_lease(self, lease_id: str, period_ms: int) -> None:
        with self._lock:
            self.ops_history.remove_lease(lease_id, period_ms)

    def min_retained_seq_no(self) -> int:
        """The lowest ``_seq_no`` from which the history is complete (retention boundary)."""
        with self._lock:
            return self.ops_history.min_retained_seq_no()

    def stats(self) -> EngineStats:
        with self._lock:
            docs, deleted = self._db.execute(
                "SELECT COUNT(*) - COALESCE(SUM(deleted), 0), COALESCE(SUM(deleted), 0) FROM docs"
            ).fetchone()
            history = self._db.execute("SELECT COUNT(*) FROM ops").fetchone()[0]
        size = disk_size(self.path)
        return EngineStats(
            int(docs),
            int(deleted),
            self.max_seq_no,
            self.indexed_checkpoint,
            self.searchable_checkpoint,
            int(history),
            size,
            self.generation,
            self.refreshes,
        )

    def snapshot_store(self, dest: Path) -> SeqNoStats:
        """A consistent copy of the store at ``dest`` (SQLite's online backup, taken under the
        shard's lock: no write lands half in it), with the checkpoints it holds: what a CCR
        restore session ships to a new follower (:mod:`isthmus.index.store_snapshot`)."""
        with self._lock:
            target = sqlite3.connect(dest)
            try:
                self._db.backup(target)
            finally:
                target.close()
            return self.seq_no_stats()
