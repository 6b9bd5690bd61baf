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

from isthmus.errors import IllegalArgumentError, StorageFullError, StorageIOError
from isthmus.index.batches import BatchPlan, SearchChange, plan_primary, plan_replicated
from isthmus.index.generations import (
    WRITER_HEAP_BYTES,
    build_generation,
    disk_size,
    drop_other_generations,
    open_generation,
    replay,
)
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
from isthmus.index.schema import IndexSchema
from isthmus.index.seq_no import (
    LocalCheckpointTracker,
    RetentionLease,
    SeqNoStats,
    new_history_uuid,
)
from isthmus.storage import search_index_error, storage_error

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


class ShardEngine:
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

    # --- tantivy generations ---------------------------------------------------------------

    def _gen_dir(self, gen: int) -> Path:
        return self.path / "tantivy" / str(gen)

    def _open_generation(self, mapping: Mapping) -> tuple[tantivy.Index, IndexSchema]:
        schema = IndexSchema.for_mapping(mapping)
        index = open_generation(self._gen_dir(self.generation), schema)
        if index is None:
            return self._build_generation(mapping, schema)
        try:
            self._replay(index, schema, mapping)
        except StorageIOError as exc:
            self._behind = True
            log.warning(
                "could not recover operations into the search index of [%s] (%s); they "
                "are replayed at the next refresh",
                self.path,
                exc.reason,
            )
        return index, schema

    def _build_generation(
        self, mapping: Mapping, schema: IndexSchema
    ) -> tuple[tantivy.Index, IndexSchema]:
        """A fresh tantivy generation from every live document in the store."""
        new_gen = self.generation + 1
        index, count = build_generation(
            self._gen_dir(new_gen), mapping, schema, self._iter_live_docs()
        )
        # Operations above the local checkpoint may still be joined by older ones: the search
        # index counts as covering the contiguous part only, so a crash replays the rest.
        covered = self.local_checkpoint
        with self._transaction():
            self._set_meta("generation", str(new_gen))
            self._set_meta("indexed_checkpoint", str(covered))
        self.generation = new_gen
        self.indexed_checkpoint = covered
        self._applied_seq = covered
        drop_other_generations(self.path / "tantivy", new_gen)
        if count:
            log.debug(
                "built search generation %s of [%s] from %s documents", new_gen, self.path, count
            )
        return index, schema

    def _replay(self, index: tantivy.Index, schema: IndexSchema, mapping: Mapping) -> None:
        """Bring a tantivy generation up to the store after a crash."""
        ops = self._db.execute(
            "SELECT seq_no, primary_term, version, op, id, source, routing FROM ops "
            "WHERE seq_no > ? "
            "ORDER BY seq_no",
            (self.indexed_checkpoint,),
        ).fetchall()
        if not ops:
            return
        replay(index, schema, mapping, ops)
        # Covered up to the local checkpoint only: an operation still missing below the last
        # one replayed must be replayed too if it arrives and the node crashes again.
        last = min(int(ops[-1][0]), self.local_checkpoint)
        self.indexed_checkpoint = last
        self._applied_seq = last
        self._checkpoint_meta()
        log.info("recovered [%s] operations into the search index of [%s]", len(ops), self.path)

    def _checkpoint_meta(self) -> None:
        """Record ``indexed_checkpoint``. On a full disk it stays unrecorded: the next open then
        replays a few operations twice, which is harmless."""
        try:
            self._set_meta_now("indexed_checkpoint", str(self.indexed_checkpoint))
        except StorageFullError:
            log.debug("indexed checkpoint of [%s] not recorded: the disk is full", self.path)

    def _iter_live_docs(self) -> Iterator[StoredDoc]:
        cur = self._db.execute(
            "SELECT d.id, d.seq_no, d.primary_term, d.version, o.source, o.routing FROM docs d "
            "JOIN ops o ON o.seq_no = d.seq_no WHERE d.deleted = 0"
        )
        for row in cur:
            yield StoredDoc(row[0], row[1], row[2], row[3], row[4], row[5])

    def ensure_mapping(self, mapping: Mapping) -> None:
        """Rebuild the search index if ``mapping`` has fields the current generation lacks."""
        with self._lock:
            self._mapping = mapping
            if self.schema.covers(mapping):
                return
            # A rebuild replaces the index and removes the old generation's directory, which an
            # in-flight commit is writing: it waits for that commit (the lock is free meanwhile).
            self._await_commit()
            if self.schema.covers(mapping):
                return
            # The new generation is built from the store, which holds every acknowledged
            # operation: what the old writer buffered is not needed.
            self._writer = None
            try:
                self._index, self.schema = self._build_generation(
                    mapping, IndexSchema.for_mapping(mapping)
                )
            except ValueError as exc:  # tantivy
                raise search_index_error(exc) from exc
            except OSError as exc:
                translated = storage_error(exc)
                if translated is None:
                    raise
                raise translated from exc
            self._dirty = False
            self._behind = False
            self._searcher = self._index.searcher()
            self.searchable_checkpoint = self.indexed_checkpoint

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
        """The checkpoint every in-sync copy has reached: this one's (single-node clusters)."""
        return self._tracker.checkpoint

    def seq_no_stats(self) -> SeqNoStats:
        with self._lock:
            checkpoint = self._tracker.checkpoint
            return SeqNoStats(self.max_seq_no, checkpoint, checkpoint)

    def _apply(self, changes: list[SearchChange]) -> None:
        if not changes:
            return
        self._dirty = True
        if self._behind:
            return  # the next refresh replays these from the store
        if self._committing:
            self._queued.extend(changes)  # handed to the writer when the commit returns
            return
        try:
            if self._writer is None:
                self._writer = self._index.writer(WRITER_HEAP_BYTES, 1)
            writer = self._writer
            for kind, doc_id, doc in changes:
                if kind != "add":
                    writer.delete_documents_by_term("_id", doc_id)
                if doc is not None:
                    writer.add_document(doc)
        except ValueError as exc:  # tantivy: a background flush failed and killed the writer
            self._fall_behind(exc)
            return
        self._applied_seq = min(self.max_seq_no, self._tracker.checkpoint)

    def _fall_behind(self, exc: BaseException) -> None:
        """The writer failed: drop it (tantivy discards what it buffered) and let the next
        refresh rebuild the difference from the store."""
        self._writer = None
        self._behind = True
        self._dirty = True
        self._queued.clear()  # stored: the replay covers them
        self._applied_seq = self.indexed_checkpoint
        self.refresh_failures += 1
        # The text, not the exception: a record kept by a handler must not keep the writer alive
        # through the exception's traceback (tantivy's lock goes with the writer).
        log.warning("search index of [%s] fell behind the store: %s", self.path, str(exc))

    # --- refresh and reads -----------------------------------------------------------------

    @property
    def needs_refresh(self) -> bool:
        return self._dirty

    def refresh(self) -> int:
        """Make every operation acknowledged before the call searchable; returns the searchable
        checkpoint.

        One refresh at a time: a second caller waits for the commit in flight, then commits
        what it did not cover (a write queued during that commit is searchable when this
        returns). The commit runs without the shard's lock, so writes go on meanwhile.
        Raises :class:`StorageIOError` when tantivy cannot write its segment; nothing is lost
        (the store has every operation) and the next refresh tries again."""
        with self._lock:
            self._await_commit()
            if self._behind:
                self._catch_up()
            elif self._dirty and self._writer is not None:
                writer = self._writer
                covered = self._applied_seq
                self._committing = True
                self._dirty = False  # a write stored during the commit sets it again
                error: BaseException | None = None
                with self._unlocked():
                    try:
                        writer.commit()
                    except BaseException as exc:  # tantivy's ValueError, or anything else
                        error = exc
                del writer  # the engine's reference alone decides the writer's life
                self._end_commit(covered, error)
            self.searchable_checkpoint = self.indexed_checkpoint
            return self.searchable_checkpoint

    @contextlib.contextmanager
    def _unlocked(self) -> Iterator[None]:
        """Release the shard's lock for the block, whatever this thread's depth of it (a
        refresh called by :meth:`close` holds it twice), and take it back after."""
        depth = 0
        while True:
            try:
                self._lock.release()
            except RuntimeError:  # no longer held by this thread
                break
            depth += 1
        try:
            yield
        finally:
            for _ in range(depth):
                self._lock.acquire()

    def _end_commit(self, covered: int, error: BaseException | None) -> None:
        """After the commit (lock held): publish what it covers and give the writer the
        changes queued meanwhile, or fall behind when it failed (whatever the failure: the
        writer's state is unknown, and the store has every operation)."""
        self._committing = False
        self._commit_done.notify_all()
        if error is not None:
            self._fall_behind(error)
            if isinstance(error, ValueError):  # tantivy
                raise search_index_error(error) from error
            raise error
        self._index.reload()
        self._searcher = self._index.searcher()
        self.refreshes += 1
        self.indexed_checkpoint = covered
        self._checkpoint_meta()
        queued, self._queued = self._queued, []
        self._apply(queued)

    def _await_commit(self) -> None:
        """Wait (lock released meanwhile) until no refresh's commit is in flight."""
        while self._committing:
            self._commit_done.wait()

    def _catch_up(self) -> None:
        """Replay what the search index lacks from the store, with a fresh writer. It commits
        under the lock (it reads the store throughout): only after a failure, so rare."""
        self._writer = None
        try:
            self._replay(self._index, self.schema, self._mapping)
        except StorageIOError:
            self.refresh_failures += 1
            raise
        self._behind = False
        self._dirty = False
        self.refreshes += 1
        self._searcher = self._index.searcher()

    @property
    def searcher(self) -> tantivy.Searcher:
        return self._searcher

    def view(self) -> tuple[IndexSchema, tantivy.Searcher]:
        """The schema and searcher of one refreshed point in time, taken together."""
        with self._lock:
            return self.schema, self._searcher

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
