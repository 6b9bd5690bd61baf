"""A shard's derived search index (tantivy): its generations, the recovery replay that brings one
up to the store, the writer that takes each stored batch's search changes, and refresh.

:class:`ShardSearchIndex` is one part of :class:`~isthmus.index.engine.ShardEngine` (whose module
docstring states the rules: tantivy is derived from the store, a refresh commits off the shard's
lock, a failed commit leaves the index *behind* and the next refresh replays from the store). It
holds no state of its own: the engine's ``__init__`` sets every attribute declared below.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import tantivy

from isthmus.errors import StorageFullError, StorageIOError
from isthmus.index.batches import SearchChange
from isthmus.index.generations import (
    WRITER_HEAP_BYTES,
    build_generation,
    drop_other_generations,
    open_generation,
    replay,
)
from isthmus.index.mapping import Mapping
from isthmus.index.operations import StoredDoc
from isthmus.index.schema import IndexSchema
from isthmus.index.seq_no import LocalCheckpointTracker
from isthmus.storage import search_index_error, storage_error

# The engine's logger: a shard's messages keep one name whichever part logs them.
log = logging.getLogger("org.elasticsearch.index.engine.Engine")


class ShardSearchIndex:
    """The tantivy side of :class:`~isthmus.index.engine.ShardEngine` (a base class of it)."""

    # Set by ShardEngine.__init__.
    path: Path
    _db: sqlite3.Connection
    _lock: threading.RLock
    _tracker: LocalCheckpointTracker
    max_seq_no: int
    generation: int
    indexed_checkpoint: int
    searchable_checkpoint: int
    refreshes: int
    refresh_failures: int
    schema: IndexSchema
    _index: tantivy.Index
    _searcher: tantivy.Searcher
    _mapping: Mapping
    _applied_seq: int
    _writer: tantivy.IndexWriter | None
    _dirty: bool
    _committing: bool
    _queued: list[SearchChange]
    _commit_done: threading.Condition
    _behind: bool

    if TYPE_CHECKING:  # the store's side, in ShardEngine

        def _set_meta(self, key: str, value: str) -> None: ...

        def _set_meta_now(self, key: str, value: str) -> None: ...

        def _transaction(self) -> contextlib.AbstractContextManager[None]: ...

        @property
        def local_checkpoint(self) -> int: ...

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
