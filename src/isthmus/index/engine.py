"""One shard's storage engine: durable store (SQLite) and derived search index (tantivy).

Rules this module keeps:

* **The SQLite store is the truth.** A write batch is one SQLite transaction with
  ``synchronous=FULL``; it is acknowledged only after that commit returns (ES's default
  ``index.translog.durability: request``). ``ops`` is the operation history keyed by ``_seq_no``
  (index and delete, with the source), retained like ES's soft-deletes so that replication can
  read it; ``docs`` maps each id to its latest operation (tombstones included, so versions keep
  counting after a delete). The source is stored once, in ``ops``: trimming never drops the
  operation a live document points to.
* **tantivy is derived.** Operations are applied to the tantivy writer after the store commit and
  become searchable at refresh. ``meta.indexed_checkpoint`` records the highest ``_seq_no`` a
  tantivy commit covers; at open, operations above it are replayed (delete-by-``_id`` then add is
  idempotent, so replaying twice is harmless). When the mapping gains a field a new tantivy
  generation is built from ``docs``.
* **A full disk never loses an acknowledged write.** A store commit that fails leaves nothing
  behind and is reported as :class:`StorageFullError` (never SQLite's message); the write was not
  acknowledged. A tantivy failure after the store commit (a refresh on a full disk) drops the
  writer, whose buffered documents tantivy discards, and marks the search index *behind*: the
  next refresh replays every operation above ``indexed_checkpoint`` from the store, so the
  acknowledged writes become searchable as soon as the disk has room again.
* **Opening writes nothing that did not change** (the primary term is stored once), so a node
  restarts on a full disk; a recovery replay that cannot be committed there is retried at the
  next refresh instead of failing the open.
* **Sequence numbers** (:mod:`isthmus.index.seq_no`): a primary's :meth:`ShardEngine.write`
  assigns ``_seq_no`` in order; :meth:`ShardEngine.apply_replicated` stores operations that
  already carry theirs (a follower's, later a replica's): idempotent, safe out of order, stale
  operations recorded in the history only, deletes kept as tombstones. The local checkpoint
  (stored, with the max ``_seq_no`` of updates and deletes) advances over contiguous
  ``_seq_no`` only; operations above it are never trimmed and are replayed into tantivy at open.
* **History retention**: ``trim_history`` drops an operation only when every rule lets it go:
  older than the retention period, outside the retained count, indexed, below the local
  checkpoint, not what a live document holds, and below every unexpired retention lease (stored
  in the ``leases`` table, so they survive a restart). ``meta.history_uuid`` names this history.
* **A refresh never blocks writes for its tantivy commit** (ES's refresh does not block
  indexing). The commit (writing and fsyncing a segment: tens to hundreds of ms) runs outside the
  shard's lock; one refresh runs at a time. tantivy's writer cannot take documents during its own
  commit, so a write that arrives meanwhile is stored and acknowledged as always and its search
  changes are queued, in order, and handed to the writer when the commit returns. The commit
  covers exactly what the writer held when it started (``indexed_checkpoint`` moves to that
  point only); the queued changes are covered by the next refresh. A commit that fails drops the
  queue with the writer (the store has them: the next refresh replays them).
* Methods here are blocking and thread-safe (one lock per shard); the async layer runs them in
  worker threads, never on the event loop. Searches use the current searcher snapshot and take no
  lock.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import orjson
import tantivy

from isthmus.errors import IllegalArgumentError, StorageIOError
from isthmus.index.batches import BatchPlan, SearchChange, plan_primary, plan_replicated
from isthmus.index.engine_reads import ShardReads
from isthmus.index.engine_search_index import ShardSearchIndex
from isthmus.index.history import OperationHistory
from isthmus.index.mapping import Mapping
from isthmus.index.operations import (
    Current,
    DeleteOp,
    EngineStats,
    HistoryOp,
    IndexOp,
    Op,
    OpResult,
    ReplicaOp,
    StoredDoc,
)
from isthmus.index.recent_ops import Row as HistoryRow
from isthmus.index.seq_no import (
    LocalCheckpointTracker,
    RetentionLease,
    SeqNoStats,
    new_history_uuid,
)
from isthmus.storage import storage_error

# The operation types are part of this module's interface (callers import them from here).
__all__ = [
    "DeleteOp",
    "EngineStats",
    "HistoryOp",
    "HistoryRow",
    "IndexOp",
    "Op",
    "OpResult",
    "ReplicaOp",
    "RetentionLease",
    "SeqNoStats",
    "ShardEngine",
    "StoredDoc",
]

log = logging.getLogger("org.elasticsearch.index.engine.Engine")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
  id TEXT PRIMARY KEY, seq_no INTEGER NOT NULL, primary_term INTEGER NOT NULL,
  version INTEGER NOT NULL, deleted INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ops (
  seq_no INTEGER PRIMARY KEY, primary_term INTEGER NOT NULL, version INTEGER NOT NULL,
  op TEXT NOT NULL, id TEXT NOT NULL, source BLOB, ts INTEGER NOT NULL, routing TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class ShardEngine(ShardSearchIndex, ShardReads):
    """Durable store plus tantivy index for one shard; see the module docstring for the rules."""

    def __init__(
        self, path: Path, mapping: Mapping, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        path.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            path / "store.sqlite", check_same_thread=False, isolation_level=None
        )
        # One connection per file, held by this node (the data path is locked): exclusive
        # locking keeps WAL's index in memory instead of a -shm file, which a full disk could
        # not create, so the store still opens and reads on a full disk.
        self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone() is None:
            self._db.executescript(_SCHEMA)
        elif not any(col[1] == "routing" for col in self._db.execute("PRAGMA table_info(ops)")):
            # A store from before documents kept their ``_routing``: the column is added once
            # (SQLite changes the table's definition only; the old rows read it as NULL).
            self._db.execute("ALTER TABLE ops ADD COLUMN routing TEXT")
        self.ops_history = OperationHistory(self._db, self._transaction, clock, path)
        stored_term = self._meta("primary_term", "")
        self.primary_term = int(stored_term or "1")
        self.history_uuid = self._meta("history_uuid", "")
        if not stored_term or not self.history_uuid:  # a new shard; reopening one writes nothing
            self.history_uuid = self.history_uuid or new_history_uuid()
            with self._transaction():
                self._set_meta("primary_term", str(self.primary_term))
                self._set_meta("history_uuid", self.history_uuid)
        row = self._db.execute("SELECT MAX(seq_no) FROM ops").fetchone()
        docs_max = self._db.execute("SELECT MAX(seq_no) FROM docs").fetchone()
        self.max_seq_no = max(
            int(row[0]) if row[0] is not None else -1,
            int(docs_max[0]) if docs_max[0] is not None else -1,
            int(self._meta("max_seq_no", "-1")),
        )
        # A shard from before checkpoints were stored was written by its primary only: its
        # history has no gaps, and every operation may have been an update.
        checkpoint = int(self._meta("local_checkpoint", str(self.max_seq_no)))
        above = self._db.execute("SELECT seq_no FROM ops WHERE seq_no > ?", (checkpoint,))
        self._tracker = LocalCheckpointTracker(checkpoint, (int(r[0]) for r in above))
        self._global_checkpoint: int | None = None  # see set_global_checkpoint
        self.max_seq_no_of_updates_or_deletes = int(
            self._meta("max_seq_no_of_updates", str(self.max_seq_no))
        )
        self.indexed_checkpoint = int(self._meta("indexed_checkpoint", "-1"))
        self.generation = int(self._meta("generation", "0"))
        self.refreshes = 0
        # The highest _seq_no whose changes the writer holds (what its next commit covers).
        self._applied_seq = self.indexed_checkpoint
        self._writer: tantivy.IndexWriter | None = None
        self._dirty = False
        # A refresh's commit is in flight (off the lock): the writer belongs to it, and the
        # search changes of writes stored meanwhile wait here, in order, until it returns.
        self._committing = False
        self._queued: list[SearchChange] = []
        # Notified (with the lock held) when an in-flight commit has returned.
        self._commit_done = threading.Condition(self._lock)
        # The search index lacks operations the store acknowledged (a commit failed); the next
        # refresh replays them from the store.
        self._behind = False
        self.refresh_failures = 0
        self._mapping = mapping  # the latest mapping seen, for replays at refresh
        self._index, self.schema = self._open_generation(mapping)
        self._searcher = self._index.searcher()
        self.searchable_checkpoint = self.indexed_checkpoint

    # --- meta ------------------------------------------------------------------------------

    def _meta(self, key: str, default: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else default

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))

    def _set_meta_now(self, key: str, value: str) -> None:
        with self._transaction():
            self._set_meta(key, value)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One store transaction; a failure rolls it back (when SQLite has not already done so,
        as it does on a full disk) and a full disk is raised as :class:`StorageFullError`."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            translated = storage_error(exc)
            if translated is None:
                raise
            raise translated from exc

    # --- writes ----------------------------------------------------------------------------

    def _load_current(self, ids: set[str]) -> dict[str, Current]:
        """The latest state of ``ids`` in a few queries rather than one per document."""
        out: dict[str, Current] = {}
        id_list = list(ids)
        for start in range(0, len(id_list), 500):
            chunk = id_list[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT id, seq_no, primary_term, version, deleted FROM docs WHERE id IN ({marks})",
                chunk,
            ):
                out[row[0]] = Current(row[1], row[2], row[3], bool(row[4]))
        return out

    def write(self, ops: Sequence[Op], mapping: Mapping) -> list[OpResult]:
        """Apply ``ops`` durably, in order; per-op failures do not stop the batch."""
        with self._lock:
            self.ensure_mapping(mapping)
            current = self._load_current(
                {op.id for op in ops if not (isinstance(op, IndexOp) and op.auto_id)}
            )
            plan = plan_primary(
                ops,
                current,
                max_seq_no=self.max_seq_no,
                term=self.primary_term,
                msu=self.max_seq_no_of_updates_or_deletes,
                now_ms=int(self._clock() * 1000),
                schema=self.schema,
            )
            self._store(plan, "INSERT")
            return plan.results

    def apply_replicated(self, ops: Sequence[ReplicaOp], mapping: Mapping) -> SeqNoStats:
        """Store operations that already carry ``_seq_no``, ``_primary_term`` and ``_version``
        (a follower applying its leader's history; a replica its primary's), keeping them.

        Idempotent: an operation already processed (at or below the local checkpoint, or seen
        above it) is skipped. Safe out of order (:func:`plan_replicated`): a late, older
        operation enters the history but never overwrites a newer one, and a delete's
        tombstone keeps the document deleted. The local checkpoint advances over contiguous
        ``_seq_no`` only. Sources are parsed before anything is written: a document the
        mapping refuses fails the whole batch, unwritten."""
        with self._lock:
            self.ensure_mapping(mapping)
            batch: dict[int, ReplicaOp] = {}
            for op in ops:
                if op.op not in ("index", "delete", "noop"):
                    raise IllegalArgumentError(f"unknown operation type [{op.op}]")
                if op.seq_no < 0:
                    raise IllegalArgumentError(f"operation needs a _seq_no, got [{op.seq_no}]")
                if not self._tracker.has_processed(op.seq_no):
                    batch.setdefault(op.seq_no, op)
            if not batch:
                return self.seq_no_stats()
            ordered = [batch[n] for n in sorted(batch)]
            values = {
                op.seq_no: mapping.parse_document(
                    orjson.loads(op.source or b"{}"), op.id, stored=True
                ).values
                for op in ordered
                if op.op == "index"
            }
            plan = plan_replicated(
                ordered,
                self._load_current({op.id for op in ordered if op.op != "noop"}),
                values,
                max_seq_no=self.max_seq_no,
                msu=self.max_seq_no_of_updates_or_deletes,
                now_ms=int(self._clock() * 1000),
                schema=self.schema,
            )
            self._store(plan, "INSERT OR IGNORE")
            return self.seq_no_stats()

    def _store(self, plan: BatchPlan, insert: str) -> None:
        """Commit ``plan`` in one transaction, then move the checkpoints and apply its tantivy
        changes (from the commit on, the operations are acknowledged: the search index catches
        up with them whatever happens to the writer)."""
        if plan.op_rows:
            with self._transaction():
                self._db.executemany(
                    f"{insert} INTO ops VALUES (?, ?, ?, ?, ?, ?, ?, ?)", plan.op_rows
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?, ?)", plan.doc_rows.values()
                )
                self._set_meta("max_seq_no", str(plan.max_seq_no))
                checkpoint = self._tracker.checkpoint_with(plan.seq_nos)
                self._set_meta("local_checkpoint", str(checkpoint))
                if plan.max_seq_no_of_updates_or_deletes != self.max_seq_no_of_updates_or_deletes:
                    self._set_meta(
                        "max_seq_no_of_updates", str(plan.max_seq_no_of_updates_or_deletes)
                    )
            for seq in plan.seq_nos:
                self._tracker.mark_processed(seq)
            if insert == "INSERT":  # stored as given: followers' next reads come from memory
                self.ops_history.remember(plan.op_rows)
            else:
                self.ops_history.forget_recent()
        self.max_seq_no = plan.max_seq_no
        self.max_seq_no_of_updates_or_deletes = plan.max_seq_no_of_updates_or_deletes
        self._apply(plan.changes)

    @property
    def local_checkpoint(self) -> int:
        """Every operation at or below this ``_seq_no`` has been processed."""
        return self._tracker.checkpoint

    @property
    def global_checkpoint(self) -> int:
        """The checkpoint every in-sync copy has reached: this copy's own in a cluster of one;
        with replicas, what the primary computed from every in-sync copy's (set by
        :meth:`set_global_checkpoint`), never above this copy's own."""
        own = self._tracker.checkpoint
        known = self._global_checkpoint
        return own if known is None else min(own, known)

    def set_global_checkpoint(self, checkpoint: int | None) -> None:
        """The global checkpoint the shard's replication computed (a primary with replicas) or
        was sent (a replica); None: this copy alone decides (no replica). Held in memory: a
        copy that reopens learns it again from its primary (ES persists it; a reopened copy
        here answers with its local checkpoint until the next write)."""
        self._global_checkpoint = checkpoint

    @property
    def known_global_checkpoint(self) -> int:
        """The global checkpoint this copy was told (-1 when it was told none): what a replica
        knows every in-sync copy holds, the same operations everywhere."""
        known = self._global_checkpoint
        return -1 if known is None else min(self._tracker.checkpoint, known)

    def processed_terms(self, start: int) -> dict[int, int | None]:
        """The primary term of each operation this copy processed from ``start`` through its
        max ``_seq_no`` (None: processed, but no longer in the history)."""
        with self._lock:
            top = self.max_seq_no
            if start > top:
                return {}
            rows = self.ops_history.read(start, top, top - start + 1)
            held: dict[int, int | None] = {row.seq_no: row.primary_term for row in rows}
            return {n: held.get(n) for n in range(start, top + 1) if self._tracker.has_processed(n)}

    def set_history_uuid(self, history_uuid: str) -> None:
        """Take the primary's history uuid (a replica recovering from it): every copy of a
        shard holds one history, the one a follower cluster checks. Persisted."""
        with self._lock:
            if history_uuid == self.history_uuid:
                return
            with self._transaction():
                self._set_meta("history_uuid", history_uuid)
            self.history_uuid = history_uuid

    def set_primary_term(self, term: int) -> None:
        """Take the shard's primary term from the routing table (a primary reopened or a
        replica promoted: operations it writes from now on carry it). Persisted; a term never
        goes back."""
        with self._lock:
            if term <= self.primary_term:
                return
            with self._transaction():
                self._set_meta("primary_term", str(term))
            self.primary_term = term

    def seq_no_stats(self) -> SeqNoStats:
        with self._lock:
            checkpoint = self._tracker.checkpoint
            return SeqNoStats(self.max_seq_no, checkpoint, self.global_checkpoint)

    def close(self) -> None:
        with self._lock:
            self._await_commit()
            if self._dirty:
                try:
                    self.refresh()
                except StorageIOError:  # recovered from the store at the next open
                    log.warning("closing [%s] with its search index behind: disk full", self.path)
            if self._writer is not None:
                self._writer.wait_merging_threads()
                self._writer = None
            self._db.close()

    def __repr__(self) -> str:
        return (
            f"<ShardEngine {self.path.name} max_seq_no={self.max_seq_no} "
            f"searchable={self.searchable_checkpoint} gen={self.generation}>"
        )
