"""A followed shard answers reads of what it has just written from memory (``recent_ops``),
with exactly what the store would have answered: same operations, same byte bound, the same
error for a trimmed range; and it keeps nothing when nobody reads its history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest

from isthmus.errors import MissingHistoryOperationsError
from isthmus.index import recent_ops
from isthmus.index.engine import DeleteOp, HistoryOp, IndexOp, ShardEngine
from isthmus.index.mapping import Mapping
from isthmus.index.recent_ops import RecentOps

MAPPING = Mapping({"properties": {"n": {"type": "long"}}})


class Read(NamedTuple):
    ops: list[HistoryOp]
    store_queries: int


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(tmp_path: Path, clock: Clock) -> Iterator[ShardEngine]:
    eng = ShardEngine(tmp_path / "shard", MAPPING, clock=clock)
    yield eng
    eng.close()


def put(engine: ShardEngine, *ids: str, n: int = 1) -> None:
    ops = [
        IndexOp(i, orjson.dumps({"n": n}), MAPPING.parse_document({"n": n}, i).values) for i in ids
    ]
    engine.write(ops, MAPPING)


def stored(engine: ShardEngine, first: int, last: int) -> list[HistoryOp]:
    """The range as the store holds it (``history`` always reads SQLite)."""
    return engine.history(first, last, last - first + 1)


def changes(engine: ShardEngine, first: int, last: int, max_bytes: int = 1 << 20) -> Read:
    """``engine.changes`` and how many SQL statements it ran on the ``ops`` table."""
    queries: list[str] = []
    engine._db.set_trace_callback(lambda sql: queries.append(sql) if "FROM ops" in sql else None)
    try:
        return Read(engine.changes(first, last, max_bytes), len(queries))
    finally:
        engine._db.set_trace_callback(None)


def test_a_follower_reads_what_was_just_written_from_memory_as_the_store_holds_it(
    engine: ShardEngine,
) -> None:
    put(engine, "a", "b")
    assert changes(engine, 0, 1).store_queries == 1  # a follower starts reading: the store
    put(engine, "c", "a", n=2)  # an update
    engine.write([DeleteOp("b")], MAPPING)
    put(engine, "d", "e", "f")
    read = changes(engine, 2, 7)
    assert read == Read(stored(engine, 2, 7), 0)
    assert [(o.seq_no, o.op, o.id, o.version) for o in read.ops] == [
        (2, "index", "c", 1), (3, "index", "a", 2), (4, "delete", "b", 2),
        (5, "index", "d", 1), (6, "index", "e", 1), (7, "index", "f", 1),
    ]  # fmt: skip
    # The byte bound stops after the operation that passes it, from memory as from the store.
    one_op = len(orjson.dumps({"n": 1})) + 2 + 64
    assert changes(engine, 5, 7, one_op + 1) == Read(stored(engine, 5, 6), 0)
    # A range reaching below what memory holds is read from the store, whole.
    assert changes(engine, 0, 7) == Read(stored(engine, 0, 7), 1)


def test_a_shard_nobody_reads_keeps_nothing(engine: ShardEngine, clock: Clock) -> None:
    put(engine, "a")
    assert changes(engine, 0, 0) == Read(stored(engine, 0, 0), 1)
    put(engine, "b")
    assert changes(engine, 1, 1).store_queries == 0
    clock.now += recent_ops.WANTED_FOR_S + 1  # the follower went away
    put(engine, "c")
    assert changes(engine, 2, 2) == Read(stored(engine, 2, 2), 1)


def test_a_trimmed_range_is_missing_even_if_memory_held_it(
    engine: ShardEngine, clock: Clock
) -> None:
    put(engine, "a")
    engine.changes(0, 0, 1 << 20)
    put(engine, "b", "c")
    put(engine, "b", "c", n=2)  # 1 and 2 now hold no live document
    assert changes(engine, 1, 4).store_queries == 0
    engine.refresh()
    clock.now += 10
    assert engine.trim_history(retain_ms=0, retain_ops=0) == 2
    with pytest.raises(MissingHistoryOperationsError, match=r"expected seqno \[1\]"):
        engine.changes(1, 4, 1 << 20)
    assert changes(engine, 3, 4) == Read(stored(engine, 3, 4), 0)


def test_the_window_is_contiguous_bounded_and_only_from_primary_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recent_ops, "MAX_OPS", 4)
    recent = RecentOps()

    def rows(first: int, last: int) -> list[tuple[Any, ...]]:
        return [(s, 1, 1, "index", f"d{s}", b"{}", 0) for s in range(first, last + 1)]

    recent.remember(rows(0, 2), now=0.0)
    assert len(recent) == 0  # not wanted yet
    recent.wanted(0.0)
    recent.remember(rows(0, 2), now=0.0)
    recent.remember(rows(3, 5), now=0.0)
    assert (recent.first, recent.last) == (2, 5)  # the oldest went past MAX_OPS
    assert recent.rows(3, 4) == rows(3, 4)
    assert recent.rows(1, 3) is None and recent.rows(4, 6) is None
    recent.remember(rows(9, 10), now=0.0)  # not continuing the window: a new one
    assert (recent.first, recent.last) == (9, 10)
    recent.remember([*rows(11, 11), *rows(13, 13)], now=0.0)  # a gap: nothing vouched for
    assert len(recent) == 0 and recent.rows(11, 11) is None
    recent.remember(rows(20, 23), now=0.0)
    recent.drop_through(21)
    assert (recent.first, recent.last) == (22, 23)
    # Memory: the source, the id and the row's own ~300 bytes count.
    monkeypatch.setattr(recent_ops, "MAX_BYTES", 2 * (2 + 3 + 300))
    recent.remember(rows(24, 24), now=0.0)
    assert (recent.first, recent.last) == (23, 24)


def test_replicated_operations_clear_the_window(engine: ShardEngine) -> None:
    put(engine, "a")
    engine.changes(0, 0, 1 << 20)
    put(engine, "b")
    assert changes(engine, 1, 1).store_queries == 0
    replica = HistoryOp(5, 1, 1, "index", "z", orjson.dumps({"n": 5}), 0)
    engine.apply_replicated([replica], MAPPING)
    assert changes(engine, 1, 1) == Read(stored(engine, 1, 1), 1)
