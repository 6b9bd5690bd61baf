"""One shard's operation history and its retention leases, in the shard's SQLite store.

The ``ops`` table is the history keyed by ``_seq_no`` (ES's soft-deletes): replication reads it
(:meth:`OperationHistory.changes` for CCR's ``shard_changes``), scrolls read old sources from it,
and :meth:`OperationHistory.trim` drops what no retention rule keeps. Retention leases (ES's
``ReplicationTracker`` leases) live in the ``leases`` table, so they survive a restart; a lease
expires when it was not renewed within the period, and an expired lease is removed the next time
the leases are read (ES expires them lazily too).

:class:`~isthmus.index.engine.ShardEngine` owns this object and calls it under the shard's lock;
nothing here locks, and nothing here knows about tantivy. Blocking (SQLite): never on the loop.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from isthmus.errors import IllegalArgumentError, MissingHistoryOperationsError
from isthmus.index.operations import HistoryOp
from isthmus.index.recent_ops import RecentOps, Row
from isthmus.index.seq_no import (
    RetentionLease,
    check_add,
    check_remove,
    check_renew,
    retained_from,
)
from isthmus.settings.ccr import MAX_LEASES_PER_SHARD

log = logging.getLogger("org.elasticsearch.index.seqno.ReplicationTracker")

# Created when the first lease is added: a shard from before leases has no table, and opening it
# must not write.
_LEASES = """
CREATE TABLE IF NOT EXISTS leases (
  id TEXT PRIMARY KEY, retaining_seq_no INTEGER NOT NULL, ts INTEGER NOT NULL,
  source TEXT NOT NULL
)
"""
_OP_COLUMNS = "seq_no, primary_term, version, op, id, source, ts, routing"


def op_size(op: HistoryOp | Row) -> int:
    """What an operation (or its row: :class:`HistoryOp` is a row) counts against a batch's
    byte bound (ES's ``estimateSize``: the source plus the id and a fixed overhead for the
    other fields)."""
    return len(op[5] or b"") + 2 * len(op[4]) + 64


def check_lease_count(held: int, max_leases: int) -> None:
    """The bound on one shard's lease table (``ccr.retention_leases.max_per_shard``), in the
    words ES uses for its other per-node counts (scroll contexts, point-in-times)."""
    if held >= max_leases:
        raise IllegalArgumentError(
            "Trying to create too many retention leases. Must be less than or equal to: "
            f"[{max_leases}]. This limit can be set by changing the [{MAX_LEASES_PER_SHARD}] "
            "setting."
        )


class OperationHistory:
    """Reads, trims and leases of one shard's ``ops`` table (see the module docstring)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        transaction: Callable[[], contextlib.AbstractContextManager[None]],
        clock: Callable[[], float],
        path: Path,
    ) -> None:
        self._db = db
        self._transaction = transaction
        self._clock = clock
        self._path = path
        # The latest primary writes, while followers read them (see recent_ops).
        self._recent = RecentOps()

    def remember(self, rows: list[Row]) -> None:
        """Rows a primary write has just committed (plain ``INSERT``), for the next reads."""
        self._recent.remember(rows, self._clock())

    def forget_recent(self) -> None:
        """Operations were stored that the recent window cannot vouch for: drop it."""
        self._recent.clear()

    def read(self, from_seq_no: int, to_seq_no: int, limit: int) -> list[HistoryOp]:
        """The operations stored in ``from_seq_no..to_seq_no`` in order (gaps skipped)."""
        rows = self._db.execute(
            f"SELECT {_OP_COLUMNS} FROM ops WHERE seq_no BETWEEN ? AND ? ORDER BY seq_no LIMIT ?",
            (from_seq_no, to_seq_no, limit),
        ).fetchall()
        return [HistoryOp(*row) for row in rows]

    def changes(self, from_seq_no: int, to_seq_no: int, max_bytes: int) -> list[HistoryOp]:
        """Every operation of ``from_seq_no..to_seq_no`` in order, stopping after the one that
        takes the batch past ``max_bytes`` (so at least one comes back): ES's changes snapshot.
        Raises :class:`MissingHistoryOperationsError` (ES's words) when one of them is no longer
        in the history."""
        return [
            HistoryOp._make(row) for row in self.changes_rows(from_seq_no, to_seq_no, max_bytes)
        ]

    def changes_rows(self, from_seq_no: int, to_seq_no: int, max_bytes: int) -> list[Row]:
        """:meth:`changes` as the ``ops`` rows themselves (:class:`HistoryOp`'s field order),
        for a reader that encodes them at once and needs no object per operation."""
        out: list[Row] = []
        seen = 0
        self._recent.wanted(self._clock())
        held = self._recent.rows(from_seq_no, to_seq_no)
        if held is not None:  # the whole range, just written: no gap, no store read
            for row in held:
                out.append(row)
                seen += op_size(row)
                if seen > max_bytes:
                    break
            return out
        expected = from_seq_no
        cursor = self._db.execute(
            f"SELECT {_OP_COLUMNS} FROM ops WHERE seq_no BETWEEN ? AND ? ORDER BY seq_no",
            (from_seq_no, to_seq_no),
        )
        try:
            for row in cursor:
                if row[0] != expected:
                    break
                out.append(row)
                expected += 1
                seen += op_size(row)
                if seen > max_bytes:
                    return out
        finally:
            cursor.close()
        if expected <= to_seq_no:
            found = f"[{out[-1][0]}]" if out else "[]"
            raise MissingHistoryOperationsError(
                f"Not all operations between from_seqno [{from_seq_no}] and to_seqno "
                f"[{to_seq_no}] found; expected seqno [{expected}]; found {found}"
            )
        return out

    def sources_at(self, seq_nos: Sequence[int]) -> dict[int, bytes]:
        """The source of each ``index`` operation still in the history, by ``_seq_no``."""
        out: dict[int, bytes] = {}
        wanted = sorted(set(seq_nos))
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            rows = self._db.execute(
                f"SELECT seq_no, source FROM ops WHERE source IS NOT NULL AND seq_no IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            out.update((seq_no, bytes(source)) for seq_no, source in rows)
        return out

    def trim(self, keep_to: int, retain_ms: int) -> int:
        """Drop operations at or below ``keep_to`` (what the engine's own rules allow) that are
        older than ``retain_ms``, below every unexpired lease, and not the operation a live
        document points to. Returns how many went."""
        now_ms = int(self._clock() * 1000)
        retained = retained_from(self._unexpired(now_ms, retain_ms))
        if retained is not None:
            keep_to = min(keep_to, retained - 1)
        where = (
            "seq_no <= ? AND ts < ? AND NOT EXISTS (SELECT 1 FROM docs WHERE docs.id = ops.id "
            "AND docs.seq_no = ops.seq_no AND docs.deleted = 0)"
        )
        params = (keep_to, now_ms - retain_ms)
        with self._transaction():
            query = f"SELECT MAX(seq_no) FROM ops WHERE {where}"
            (highest,) = self._db.execute(query, params).fetchone()
            cur = self._db.execute(f"DELETE FROM ops WHERE {where}", params)
            if highest is not None:
                # At and below the highest dropped operation the history has gaps.
                self._recent.drop_through(int(highest))
                old = self._trimmed_to()
                self._db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES('history_trimmed_to', ?)",
                    (str(max(old, int(highest))),),
                )
        return cur.rowcount

    def _trimmed_to(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='history_trimmed_to'").fetchone()
        return int(row[0]) if row else -1

    def min_retained_seq_no(self) -> int:
        """The lowest ``_seq_no`` from which the history is complete (retention boundary)."""
        return self._trimmed_to() + 1

    # --- retention leases ------------------------------------------------------------------

    def _rows(self) -> list[RetentionLease]:
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE name='leases'").fetchone() is None:
            return []
        rows = self._db.execute("SELECT id, retaining_seq_no, ts, source FROM leases ORDER BY id")
        return [RetentionLease(r[0], int(r[1]), int(r[2]), r[3]) for r in rows]

    def leases_version(self) -> int:
        """How many times the leases changed (ES's ``RetentionLeases`` version)."""
        row = self._db.execute("SELECT value FROM meta WHERE key='leases_version'").fetchone()
        return int(row[0]) if row else 0

    def _bump_version(self) -> None:
        """Called inside each transaction that changes the leases."""
        self._db.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES('leases_version', ?)",
            (str(self.leases_version() + 1),),
        )

    def _unexpired(self, now_ms: int, period_ms: int) -> list[RetentionLease]:
        """The leases still in force; the expired ones are removed."""
        leases = self._rows()
        expired = [lease.id for lease in leases if lease.expired(now_ms, period_ms)]
        if expired:
            with self._transaction():
                self._db.executemany("DELETE FROM leases WHERE id = ?", [(i,) for i in expired])
                self._bump_version()
            log.debug("expired retention leases %s of [%s]", expired, self._path)
        return [lease for lease in leases if lease.id not in expired]

    def leases(self, period_ms: int) -> list[RetentionLease]:
        """The unexpired retention leases, by id."""
        return self._unexpired(int(self._clock() * 1000), period_ms)

    def add_lease(
        self,
        lease_id: str,
        retaining_seq_no: int,
        source: str,
        period_ms: int,
        max_leases: int | None = None,
    ) -> RetentionLease:
        """A new lease (ES's ``addRetentionLease``): ``already exists`` if the id is held;
        refused when the shard already holds ``max_leases`` unexpired leases."""
        now_ms = int(self._clock() * 1000)
        held = {lease.id: lease for lease in self._unexpired(now_ms, period_ms)}
        check_add(held.get(lease_id), lease_id)
        if max_leases is not None:
            check_lease_count(len(held), max_leases)
        with self._transaction():
            self._db.execute(_LEASES)
            self._db.execute(
                "INSERT INTO leases VALUES (?, ?, ?, ?)",
                (lease_id, retaining_seq_no, now_ms, source),
            )
            self._bump_version()
        return RetentionLease(lease_id, retaining_seq_no, now_ms, source)

    def renew_lease(
        self, lease_id: str, retaining_seq_no: int, source: str, period_ms: int
    ) -> RetentionLease:
        """The lease renewed now, retaining from ``retaining_seq_no`` (which may not go back)."""
        now_ms = int(self._clock() * 1000)
        held = {lease.id: lease for lease in self._unexpired(now_ms, period_ms)}
        check_renew(held.get(lease_id), lease_id, retaining_seq_no, source)
        with self._transaction():
            self._db.execute(
                "UPDATE leases SET retaining_seq_no = ?, ts = ?, source = ? WHERE id = ?",
                (retaining_seq_no, now_ms, source, lease_id),
            )
            self._bump_version()
        return RetentionLease(lease_id, retaining_seq_no, now_ms, source)

    def remove_lease(self, lease_id: str, period_ms: int) -> None:
        held = {lease.id: lease for lease in self._unexpired(int(self._clock() * 1000), period_ms)}
        check_remove(held.get(lease_id), lease_id)
        with self._transaction():
            self._db.execute("DELETE FROM leases WHERE id = ?", (lease_id,))
            self._bump_version()
