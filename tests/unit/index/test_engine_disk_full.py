"""The engine on a full disk: a failed store commit, a failed search-index commit, a reopen.

SQLite's own ``max_page_count`` makes the store really full (SQLITE_FULL, no mock). tantivy's
commit failure is injected by a writer that behaves as tantivy's does when its segment cannot
be written: it raises the OS error and drops every document it buffered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tantivy

from isthmus.errors import StorageFullError
from isthmus.index.engine import OpResult, ShardEngine
from tests.unit.index.test_engine import MAPPING, Clock, index_op, searchable


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[ShardEngine]:
    eng = ShardEngine(tmp_path / "shard", MAPPING, clock=Clock())
    yield eng
    eng.close()


class FullDiskWriter:
    """tantivy's writer when the disk is full at commit: the commit raises the OS error and the
    buffered documents are gone (the real writer is rolled back)."""

    def __init__(self, real: tantivy.IndexWriter) -> None:
        self.real: tantivy.IndexWriter | None = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def commit(self) -> int:
        # Let go of the real writer first: the raised error's traceback keeps this frame (and
        # so this wrapper) alive, and tantivy's lock must go when the engine drops its writer.
        real, self.real = self.real, None
        assert real is not None
        real.rollback()
        del real
        raise ValueError("Internal error: 'No space left on device (os error 28)'")


def test_a_full_store_refuses_the_write_cleanly(engine: ShardEngine) -> None:
    engine.write([index_op("1", {"title": "kept"})], MAPPING)
    (pages,) = engine._db.execute("PRAGMA page_count").fetchone()
    engine._db.execute(f"PRAGMA max_page_count = {pages}")
    big = {"title": "x " * 20_000}
    with pytest.raises(StorageFullError) as info:
        engine.write([index_op("2", big)], MAPPING)
    assert info.value.reason == "No space left on device"
    assert (info.value.es_type, info.value.http_status) == ("i_o_exception", 500)
    assert engine.max_seq_no == 0 and engine.get("2") is None
    assert not engine._db.in_transaction
    engine._db.execute("PRAGMA max_page_count = 1073741823")
    # Nothing half-written: the next write takes the next sequence number.
    assert engine.write([index_op("2", big)], MAPPING) == [OpResult("2", "created", 1, 1, 1)]


def test_an_acknowledged_write_survives_a_failed_refresh(engine: ShardEngine) -> None:
    engine.write([index_op("1", {"title": "one"})], MAPPING)
    engine.refresh()
    engine.write([index_op("2", {"title": "two"}), index_op("3", {"title": "three"})], MAPPING)
    assert engine._writer is not None
    engine._writer = FullDiskWriter(engine._writer)  # type: ignore[assignment]
    with pytest.raises(StorageFullError):
        engine.refresh()
    assert searchable(engine, "2") == 0 and engine.needs_refresh
    # Writes acknowledged while the search index is behind are kept too.
    engine.write([index_op("4", {"title": "four"})], MAPPING)
    assert engine.refresh() == 3
    assert [searchable(engine, str(i)) for i in range(1, 5)] == [1, 1, 1, 1]
    assert engine.indexed_checkpoint == 3 and not engine.needs_refresh


def test_a_refresh_failure_at_close_is_recovered_at_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "shard"
    engine = ShardEngine(path, MAPPING, clock=Clock())
    engine.write([index_op("1", {"title": "one"})], MAPPING)
    engine._writer = FullDiskWriter(engine._writer)  # type: ignore[arg-type]
    engine.close()  # logs; does not raise
    again = ShardEngine(path, MAPPING, clock=Clock())
    try:
        assert searchable(again, "1") == 1
    finally:
        again.close()


def test_reopening_a_shard_writes_nothing(tmp_path: Path) -> None:
    """A node must restart on a full disk: opening an unchanged shard changes no row."""
    path = tmp_path / "shard"
    engine = ShardEngine(path, MAPPING, clock=Clock())
    engine.write([index_op("1", {"title": "one"})], MAPPING)
    engine.close()
    again = ShardEngine(path, MAPPING, clock=Clock())
    try:
        assert again._db.total_changes == 0
        assert again.primary_term == 1 and searchable(again, "1") == 1
    finally:
        again.close()
