"""A refresh's tantivy commit runs off the shard's lock: writes go on meanwhile, their search
changes wait for the next refresh, and failure, close and crash lose nothing acknowledged.

The commit is held open deterministically: the engine's real tantivy writer is wrapped by one
whose ``commit`` says when it starts and waits for the test's word before committing (or before
failing as tantivy does on a full disk); the wrapper also records any use of the writer while its
commit runs, which tantivy does not allow.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pytest
import tantivy

from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.routing import ShardId
from isthmus.errors import StorageFullError
from isthmus.index.engine import ShardEngine
from isthmus.index.service import Shard
from tests.unit.index.test_engine import MAPPING, Clock, crash, index_op, matches, searchable

T = TypeVar("T")
WAIT_S = 10.0  # a bound for what must happen, never a pace


class GatedWriter:
    """tantivy's writer, whose commit starts when told to (see the module docstring)."""

    def __init__(self, real: tantivy.IndexWriter, *, fail: bool) -> None:
        self.real: tantivy.IndexWriter | None = real
        self.fail = fail
        self.started = threading.Event()
        self.release = threading.Event()
        self.committing = False
        self.used_during_commit: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def add_document(self, doc: tantivy.Document) -> int:
        self._check("add_document")
        assert self.real is not None
        return self.real.add_document(doc)

    def delete_documents_by_term(self, field: str, value: Any) -> int:
        self._check("delete_documents_by_term")
        assert self.real is not None
        return self.real.delete_documents_by_term(field, value)

    def _check(self, name: str) -> None:
        if self.committing:
            self.used_during_commit.append(name)

    def commit(self) -> int:
        self.committing = True
        self.started.set()
        try:
            assert self.release.wait(WAIT_S), "the test never released the commit"
            if self.fail:  # tantivy on a full disk: the error, and the buffered documents gone
                real, self.real = self.real, None
                assert real is not None
                real.rollback()
                del real
                raise ValueError("Internal error: 'No space left on device (os error 28)'")
            assert self.real is not None
            return self.real.commit()
        finally:
            self.committing = False


class RefreshInFlight:
    """``engine.refresh()`` in a thread, held inside its tantivy commit until :meth:`finish`."""

    def __init__(self, engine: ShardEngine, *, fail: bool = False) -> None:
        assert engine._writer is not None, "a write must have given the writer something"
        self.gate = GatedWriter(engine._writer, fail=fail)
        engine._writer = self.gate  # type: ignore[assignment]
        self.engine = engine
        self.result: int | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(engine,))

    def _run(self, engine: ShardEngine) -> None:
        try:
            self.result = engine.refresh()
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> RefreshInFlight:
        self._thread.start()
        assert self.gate.started.wait(WAIT_S)
        return self

    def finish(self) -> int | None:
        self.gate.release.set()
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive()
        assert self.gate.used_during_commit == []
        # The engine keeps the real writer; the gate lets go of it (tantivy's lock goes with the
        # last reference).
        if self.engine._writer is self.gate:
            self.engine._writer = self.gate.real
        self.gate.real = None
        return self.result

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.gate.release.set()  # never leave a thread hanging on a failed assertion
        self._thread.join(WAIT_S)


def completes(fn: Callable[[], T]) -> T:
    """``fn()``, which must finish while a commit is held open (it must not wait for it)."""
    out: list[T] = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join(WAIT_S)
    assert not thread.is_alive(), "blocked behind the refresh's commit"
    assert out, "raised (see the thread's traceback)"
    return out[0]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[ShardEngine]:
    eng = ShardEngine(tmp_path / "shard", MAPPING, clock=Clock())
    yield eng
    eng.close()


def test_a_write_completes_during_a_commit_and_is_searchable_after_the_next_refresh(
    engine: ShardEngine,
) -> None:
    engine.write([index_op("1", {"title": "one"})], MAPPING)
    with RefreshInFlight(engine) as refresh:
        results = completes(lambda: engine.write([index_op("2", {"title": "two"})], MAPPING))
        assert results[0].seq_no == 1
        assert engine.get("2") is not None  # durable at once
        deleted = completes(lambda: engine.write([index_op("1", {"title": "uno"})], MAPPING))
        assert deleted[0].result == "updated"
        assert searchable(engine, "1") == 0  # the last refreshed point in time: before any
        # The commit covers what the writer held when it started: _seq_no 0 only.
        assert refresh.finish() == 0
    assert engine.indexed_checkpoint == engine.searchable_checkpoint == 0
    assert searchable(engine, "1") == 1 and searchable(engine, "2") == 0
    assert engine.needs_refresh
    assert engine.refresh() == 2
    assert searchable(engine, "1") == 1 and searchable(engine, "2") == 1
    assert not engine.needs_refresh


def test_a_second_refresh_waits_and_covers_the_writes_queued_meanwhile(
    engine: ShardEngine,
) -> None:
    """``refresh=true`` after a write: the caller sees its write even when another refresh's
    commit was in flight (and did not cover it)."""
    engine.write([index_op("1", {"title": "one"})], MAPPING)
    with RefreshInFlight(engine) as first:
        completes(lambda: engine.write([index_op("2", {"title": "two"})], MAPPING))
        out: list[int] = []
        caller = threading.Thread(target=lambda: out.append(engine.refresh()))
        caller.start()
        caller.join(0.2)
        assert caller.is_alive() and not out  # one refresh at a time: it waits
        assert first.finish() == 0
    caller.join(WAIT_S)
    assert out == [1]
    assert searchable(engine, "2") == 1 and engine.refreshes == 2


def test_a_refresh_that_finds_everything_covered_commits_nothing_more(
    engine: ShardEngine,
) -> None:
    engine.write([index_op("1", {"title": "one"})], MAPPING)
    with RefreshInFlight(engine) as first:
        completes(lambda: engine.write([index_op("2", {"title": "two"})], MAPPING))
        assert first.finish() == 0
    assert engine.refresh() == 1
    assert engine.refresh() == 1 and engine.refreshes == 2


def test_a_failed_commit_falls_behind_and_the_queued_writes_are_replayed(
    engine: ShardEngine,
) -> None:
    engine.write([index_op("1", {"title": "one"})], MAPPING)
    with RefreshInFlight(engine, fail=True) as refresh:
        completes(lambda: engine.write([index_op("2", {"title": "two"})], MAPPING))
        refresh.finish()
    assert isinstance(refresh.error, StorageFullError)
    assert engine.needs_refresh and engine.refresh_failures == 1
    assert searchable(engine, "1") == 0 and engine.indexed_checkpoint == -1
    # A write while behind is kept for the replay too.
    engine.write([index_op("3", {"title": "three"})], MAPPING)
    assert engine.refresh() == 2
    assert [searchable(engine, str(i)) for i in (1, 2, 3)] == [1, 1, 1]
    assert not engine.needs_refresh


def test_close_waits_for_the_commit_in_flight(tmp_path: Path) -> None:
    """Even with nothing left to refresh (the request meanwhile changed nothing), close must
    not drop the writer and the store under the commit."""
    path = tmp_path / "shard"
    engine = ShardEngine(path, MAPPING, clock=Clock())
    engine.write([index_op("1", {"title": "one"})], MAPPING)
    with RefreshInFlight(engine) as refresh:
        (refused,) = completes(
            lambda: engine.write([index_op("1", {"title": "uno"}, create=True)], MAPPING)
        )
        assert refused.error is not None and not engine.needs_refresh
        closer = threading.Thread(target=engine.close)
        closer.start()
        closer.join(0.2)
        assert closer.is_alive()
        assert refresh.finish() == 0
    closer.join(WAIT_S)
    assert not closer.is_alive() and refresh.error is None
    again = ShardEngine(path, MAPPING, clock=Clock())
    try:
        assert again.indexed_checkpoint == 0 and searchable(again, "1") == 1
    finally:
        again.close()


def test_a_write_queued_during_the_commit_survives_close(tmp_path: Path) -> None:
    path = tmp_path / "shard"
    engine = ShardEngine(path, MAPPING, clock=Clock())
    engine.write([index_op("1", {"title": "one"})], MAPPING)
    with RefreshInFlight(engine) as refresh:
        completes(lambda: engine.write([index_op("2", {"title": "two"})], MAPPING))
        closer = threading.Thread(target=engine.close)
        closer.start()
        assert refresh.finish() == 0
    closer.join(WAIT_S)
    assert not closer.is_alive() and refresh.error is None
    again = ShardEngine(path, MAPPING, clock=Clock())
    try:
        assert again.indexed_checkpoint == 1
        assert searchable(again, "1") == 1 and searchable(again, "2") == 1
    finally:
        again.close()


def test_a_crash_after_a_commit_replays_the_writes_it_did_not_cover(tmp_path: Path) -> None:
    path = tmp_path / "shard"
    engine = ShardEngine(path, MAPPING, clock=Clock())
    engine.write([index_op("1", {"title": "one"})], MAPPING)
    with RefreshInFlight(engine) as refresh:
        completes(lambda: engine.write([index_op("2", {"title": "two"})], MAPPING))
        assert refresh.finish() == 0
    crash(engine)  # "2" was handed to the writer after the commit, never committed
    again = ShardEngine(path, MAPPING, clock=Clock())
    try:
        assert searchable(again, "1") == 1 and searchable(again, "2") == 1
        assert again.get("2") is not None and again.indexed_checkpoint == 1
    finally:
        again.close()


async def test_wait_for_needs_the_refresh_that_covers_the_write(tmp_path: Path) -> None:
    """``refresh=wait_for`` returns once a refresh covers the write: not when a commit that
    started before the write returns."""
    meta = IndexMetadata("i", "i-uuid", {"index.refresh_interval": "1h"}, MAPPING)
    engine = ShardEngine(tmp_path / "shard", MAPPING, clock=Clock())
    shard = Shard(ShardId("i-uuid", 0, "i"), engine, meta)
    await shard.write([index_op("1", {"title": "one"})], MAPPING)
    assert engine._writer is not None
    gate = GatedWriter(engine._writer, fail=False)
    engine._writer = gate  # type: ignore[assignment]
    try:
        first = asyncio.create_task(shard.refresh())
        assert await asyncio.to_thread(gate.started.wait, WAIT_S)
        (result,) = await asyncio.wait_for(
            shard.write([index_op("2", {"title": "two"})], MAPPING), WAIT_S
        )
        waiter = asyncio.create_task(shard.wait_for_refresh(result.seq_no or 0))
        gate.release.set()
        await first
        await asyncio.sleep(0.05)
        assert not waiter.done()  # the refresh that returned did not cover it
        await shard.refresh()
        await asyncio.wait_for(waiter, WAIT_S)
        assert searchable(engine, "2") == 1
    finally:
        gate.release.set()
        await asyncio.to_thread(engine.close)


def test_a_new_field_during_a_commit_waits_for_it_then_rebuilds(engine: ShardEngine) -> None:
    """A rebuild replaces the generation the commit is writing: it waits for the commit."""
    wider = MAPPING.merge({"properties": {"tag": {"type": "keyword"}}})
    engine.write([index_op("1", {"title": "one"})], MAPPING)
    with RefreshInFlight(engine) as refresh:
        completes(lambda: engine.write([index_op("2", {"title": "two"})], MAPPING))
        widening = threading.Thread(
            target=engine.write, args=([index_op("3", {"tag": "t"}, wider)], wider)
        )
        widening.start()
        widening.join(0.2)
        assert widening.is_alive()
        assert refresh.finish() == 0
    widening.join(WAIT_S)
    assert not widening.is_alive() and engine.generation == 2
    engine.refresh()
    assert [searchable(engine, str(i)) for i in (1, 2, 3)] == [1, 1, 1]
    assert matches(engine, "tag", "t") == 1
