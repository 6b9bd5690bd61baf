"""One shard's engine: durable SQLite store, derived tantivy index, history and recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import tantivy

from isthmus.errors import VersionConflictError
from isthmus.index.engine import DeleteOp, IndexOp, OpResult, ShardEngine
from isthmus.index.mapping import Mapping

MAPPING = Mapping({"properties": {"title": {"type": "text"}, "n": {"type": "long"}}})


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

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


def index_op(doc_id: str, source: dict[str, Any], mapping: Mapping = MAPPING, **kw: Any) -> IndexOp:
    values = mapping.parse_document(source, doc_id).values
    return IndexOp(doc_id, orjson.dumps(source), values, **kw)


def searchable(engine: ShardEngine, doc_id: str) -> int:
    schema, searcher = engine.view()
    return searcher.search(tantivy.Query.term_query(schema.schema, "_id", doc_id), 10).count


def matches(engine: ShardEngine, path: str, term: object) -> int:
    schema, searcher = engine.view()
    field = schema.field(path)
    assert field is not None, path
    return searcher.search(tantivy.Query.term_query(schema.schema, field.name, term), 10).count


def crash(engine: ShardEngine) -> None:
    """Drop the engine as a killed process would: no tantivy commit, no orderly close."""
    engine._writer = None
    engine._db.close()


# --- writes and reads ---------------------------------------------------------------------------


def test_fresh_engine(engine: ShardEngine) -> None:
    assert engine.max_seq_no == -1
    assert engine.indexed_checkpoint == -1
    assert engine.searchable_checkpoint == -1
    assert engine.primary_term == 1
    assert engine.generation == 1
    assert engine.get("x") is None
    assert engine.needs_refresh is False
    assert repr(engine) == "<ShardEngine shard max_seq_no=-1 searchable=-1 gen=1>"


def test_write_assigns_seq_nos_and_versions(engine: ShardEngine) -> None:
    results = engine.write(
        [
            index_op("1", {"title": "hello", "n": 1}),
            index_op("2", {"title": "world"}),
            index_op("1", {"title": "again", "n": 2}),
        ],
        MAPPING,
    )
    assert results == [
        OpResult("1", "created", 0, 1, 1),
        OpResult("2", "created", 1, 1, 1),
        OpResult("1", "updated", 2, 1, 2),
    ]
    assert engine.max_seq_no == 2
    doc = engine.get("1")
    assert doc is not None
    assert (doc.seq_no, doc.primary_term, doc.version) == (2, 1, 2)
    assert orjson.loads(doc.source) == {"title": "again", "n": 2}


def test_delete_and_tombstone_versions(engine: ShardEngine) -> None:
    engine.write([index_op("1", {"n": 1})], MAPPING)
    results = engine.write([DeleteOp("1"), DeleteOp("1"), DeleteOp("never")], MAPPING)
    assert results == [
        OpResult("1", "deleted", 1, 1, 2),
        OpResult("1", "not_found", 2, 1, 3),
        OpResult("never", "not_found", 3, 1, 1),
    ]
    assert engine.get("1") is None
    again = engine.write([index_op("1", {"n": 5})], MAPPING)
    assert again == [OpResult("1", "created", 4, 1, 4)]
    stats = engine.stats()
    assert (stats.docs, stats.deleted_docs, stats.max_seq_no, stats.history_ops) == (1, 1, 4, 5)


def test_create_conflict(engine: ShardEngine) -> None:
    engine.write([index_op("1", {"n": 1}), index_op("1", {"n": 2})], MAPPING)
    results = engine.write(
        [index_op("1", {"n": 3}, create=True), index_op("2", {"n": 4}, create=True)], MAPPING
    )
    assert results[0].result is None
    assert results[0].seq_no == -2
    err = results[0].error
    assert isinstance(err, VersionConflictError)
    assert err.reason == "[1]: version conflict, document already exists (current version [2])"
    assert err.http_status == 409
    assert err.to_body()["error"]["type"] == "version_conflict_engine_exception"
    assert results[1] == OpResult("2", "created", 2, 1, 1)
    doc = engine.get("1")
    assert doc is not None and orjson.loads(doc.source) == {"n": 2}


def test_create_after_delete_succeeds(engine: ShardEngine) -> None:
    engine.write([index_op("1", {"n": 1}), DeleteOp("1")], MAPPING)
    assert engine.write([index_op("1", {"n": 2}, create=True)], MAPPING) == [
        OpResult("1", "created", 2, 1, 3)
    ]


def test_create_conflict_within_one_batch(engine: ShardEngine) -> None:
    results = engine.write(
        [index_op("1", {"n": 1}, create=True), index_op("1", {"n": 2}, create=True)], MAPPING
    )
    assert results[0].result == "created"
    assert results[1].error is not None
    assert "document already exists (current version [1])" in results[1].error.reason


def test_if_seq_no(engine: ShardEngine) -> None:
    engine.write([index_op("1", {"n": 1}), index_op("2", {"n": 1})], MAPPING)
    ok = engine.write([index_op("1", {"n": 2}, if_seq_no=0, if_primary_term=1)], MAPPING)
    assert ok == [OpResult("1", "updated", 2, 1, 2)]
    stale = engine.write([index_op("1", {"n": 3}, if_seq_no=0, if_primary_term=1)], MAPPING)
    assert stale[0].error is not None
    assert stale[0].error.reason == (
        "[1]: version conflict, required seqNo [0], primary term [1]. current document has "
        "seqNo [2] and primary term [1]"
    )
    wrong_term = engine.write([DeleteOp("2", if_seq_no=1, if_primary_term=2)], MAPPING)
    assert wrong_term[0].error is not None
    assert wrong_term[0].error.reason == (
        "[2]: version conflict, required seqNo [1], primary term [2]. current document has "
        "seqNo [1] and primary term [1]"
    )
    missing = engine.write([index_op("9", {"n": 1}, if_seq_no=5, if_primary_term=1)], MAPPING)
    assert missing[0].error is not None
    assert missing[0].error.reason == (
        "[9]: version conflict, required seqNo [5], primary term [1]. but no document was found"
    )
    assert engine.max_seq_no == 2  # failed ops consume no sequence number


# --- refresh and search -------------------------------------------------------------------------


def test_refresh_makes_writes_searchable(engine: ShardEngine) -> None:
    engine.write([index_op("1", {"title": "Hello World", "n": 7})], MAPPING)
    assert engine.needs_refresh is True
    assert searchable(engine, "1") == 0
    assert engine.get("1") is not None  # realtime get does not wait for refresh
    assert engine.refresh() == 0
    assert engine.needs_refresh is False
    assert searchable(engine, "1") == 1
    assert matches(engine, "title", "hello") == 1
    assert matches(engine, "n", 7) == 1
    assert engine.searchable_checkpoint == engine.indexed_checkpoint == 0
    assert engine.stats().refreshes == 1
    assert engine.refresh() == 0
    assert engine.stats().refreshes == 1  # nothing to do


def test_update_replaces_and_delete_removes_from_search(engine: ShardEngine) -> None:
    engine.write([index_op("1", {"title": "old"})], MAPPING)
    engine.refresh()
    engine.write([index_op("1", {"title": "new"})], MAPPING)
    engine.refresh()
    assert searchable(engine, "1") == 1
    assert matches(engine, "title", "old") == 0
    assert matches(engine, "title", "new") == 1
    engine.write([DeleteOp("1")], MAPPING)
    engine.refresh()
    assert searchable(engine, "1") == 0


def test_searcher_snapshot_is_stable(engine: ShardEngine) -> None:
    engine.write([index_op("1", {"title": "a"})], MAPPING)
    engine.refresh()
    schema, before = engine.view()
    engine.write([index_op("2", {"title": "b"})], MAPPING)
    engine.refresh()
    assert before.search(tantivy.Query.term_query(schema.schema, "_id", "2"), 10).count == 0
    assert searchable(engine, "2") == 1


# --- durability and recovery --------------------------------------------------------------------


def test_reopen_after_close(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "shard"
    eng = ShardEngine(path, MAPPING, clock=clock)
    eng.write([index_op("1", {"title": "kept"}), index_op("2", {"n": 1})], MAPPING)
    eng.close()  # refreshes what was pending
    again = ShardEngine(path, MAPPING, clock=clock)
    try:
        assert again.max_seq_no == 1
        assert again.indexed_checkpoint == 1
        assert again.generation == 1
        assert searchable(again, "1") == 1
        assert matches(again, "title", "kept") == 1
        assert again.write([index_op("3", {"n": 1})], MAPPING) == [
            OpResult("3", "created", 2, 1, 1)
        ]
    finally:
        again.close()


def test_crash_before_refresh_is_replayed(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "shard"
    eng = ShardEngine(path, MAPPING, clock=clock)
    eng.write([index_op("1", {"title": "first"})], MAPPING)
    eng.refresh()
    eng.write(
        [
            index_op("2", {"title": "unrefreshed"}),
            index_op("1", {"title": "changed"}),
            DeleteOp("x"),
        ],
        MAPPING,
    )
    assert eng.indexed_checkpoint == 0
    crash(eng)
    again = ShardEngine(path, MAPPING, clock=clock)
    try:
        assert again.max_seq_no == 3
        assert again.indexed_checkpoint == 3
        assert again.searchable_checkpoint == 3
        assert searchable(again, "2") == 1
        assert searchable(again, "1") == 1
        assert matches(again, "title", "unrefreshed") == 1
        assert matches(again, "title", "changed") == 1
        assert matches(again, "title", "first") == 0
        doc = again.get("1")
        assert doc is not None and doc.version == 2
        assert again.write([index_op("4", {})], MAPPING)[0].seq_no == 4
    finally:
        again.close()


def test_crash_replays_deletes(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "shard"
    eng = ShardEngine(path, MAPPING, clock=clock)
    eng.write([index_op("1", {"title": "gone"})], MAPPING)
    eng.refresh()
    eng.write([DeleteOp("1")], MAPPING)
    crash(eng)
    again = ShardEngine(path, MAPPING, clock=clock)
    try:
        assert searchable(again, "1") == 0
        assert again.get("1") is None
    finally:
        again.close()


# --- mapping growth -----------------------------------------------------------------------------


def test_new_field_builds_a_new_generation(engine: ShardEngine) -> None:
    engine.write([index_op("1", {"title": "a", "extra": "old doc"})], MAPPING)
    engine.refresh()
    assert engine.generation == 1
    grown = MAPPING.merge({"properties": {"tag": {"type": "keyword"}}})
    engine.write([index_op("2", {"title": "b", "tag": "red"}, grown)], grown)
    assert engine.generation == 2
    assert engine.schema.field("tag") is not None
    engine.refresh()
    assert searchable(engine, "1") == 1
    assert searchable(engine, "2") == 1
    assert matches(engine, "tag", "red") == 1
    assert matches(engine, "title", "a") == 1
    dirs = sorted(p.name for p in (engine.path / "tantivy").iterdir())
    assert dirs == ["2"]
    assert engine.stats().generation == 2


def test_ensure_mapping_same_fields_keeps_generation(engine: ShardEngine) -> None:
    engine.ensure_mapping(
        Mapping({"properties": {"n": {"type": "long"}, "title": {"type": "text"}}})
    )
    assert engine.generation == 1


def test_rebuild_keeps_unrefreshed_writes(engine: ShardEngine) -> None:
    engine.write([index_op("1", {"title": "pending"})], MAPPING)
    grown = MAPPING.merge({"properties": {"tag": {"type": "keyword"}}})
    engine.ensure_mapping(grown)
    assert searchable(engine, "1") == 1
    assert engine.indexed_checkpoint == 0


# --- history ------------------------------------------------------------------------------------


def test_history_range(engine: ShardEngine, clock: Clock) -> None:
    engine.write([index_op("a", {"n": 1})], MAPPING)
    clock.now += 1
    engine.write([index_op("b", {"n": 2}), DeleteOp("a"), index_op("a", {"n": 3})], MAPPING)
    ops = engine.history(1, 2)
    assert [(o.seq_no, o.op, o.id, o.version) for o in ops] == [
        (1, "index", "b", 1),
        (2, "delete", "a", 2),
    ]
    assert ops[0].source == b'{"n":2}'
    assert ops[1].source is None
    assert ops[0].timestamp_ms == 1_001_000
    assert ops[0].primary_term == 1
    assert [o.seq_no for o in engine.history(0, 100)] == [0, 1, 2, 3]
    assert [o.seq_no for o in engine.history(0, 100, limit=2)] == [0, 1]
    assert engine.history(10, 20) == []
    assert engine.history(3, 1) == []


def test_trim_history_by_age(engine: ShardEngine, clock: Clock) -> None:
    engine.write([index_op("1", {"n": 1}), index_op("2", {"n": 1})], MAPPING)
    clock.now += 10
    engine.write([index_op("1", {"n": 2}), DeleteOp("2")], MAPPING)
    engine.refresh()
    clock.now += 5
    # seq 0 and 1 are older than 8 s and superseded; seq 2 and 3 are too young
    assert engine.trim_history(retain_ms=8_000, retain_ops=0) == 2
    assert [o.seq_no for o in engine.history(0, 10)] == [2, 3]
    assert engine.min_retained_seq_no() == 2
    assert engine.stats().history_ops == 2


def test_trim_history_keeps_retained_op_count(engine: ShardEngine, clock: Clock) -> None:
    engine.write([index_op(str(i), {"n": i}) for i in range(5)], MAPPING)
    engine.write([index_op(str(i), {"n": -i}) for i in range(5)], MAPPING)
    engine.refresh()
    clock.now += 100
    # ops 8 and 9 are retained by count; 0-4 are superseded; 5-9 are what live documents hold
    assert engine.trim_history(retain_ms=0, retain_ops=2) == 5
    assert [o.seq_no for o in engine.history(0, 20)] == [5, 6, 7, 8, 9]
    assert engine.min_retained_seq_no() == 5


def test_trim_history_never_drops_unindexed_ops(engine: ShardEngine, clock: Clock) -> None:
    engine.write([index_op("a", {"n": 0})], MAPPING)
    engine.refresh()
    engine.write([index_op("a", {"n": 1}), index_op("a", {"n": 2})], MAPPING)  # not refreshed
    clock.now += 1_000
    assert engine.indexed_checkpoint == 0
    assert engine.trim_history(retain_ms=0, retain_ops=0) == 1
    assert [o.seq_no for o in engine.history(0, 10)] == [1, 2]
    engine.refresh()
    assert engine.trim_history(retain_ms=0, retain_ops=0) == 1
    assert [o.seq_no for o in engine.history(0, 10)] == [2]


def test_trim_history_keeps_what_live_documents_hold(engine: ShardEngine, clock: Clock) -> None:
    engine.write([index_op("1", {"title": "keep me"})], MAPPING)
    engine.refresh()
    clock.now += 1_000
    assert engine.trim_history(retain_ms=0, retain_ops=0) == 0
    doc = engine.get("1")
    assert doc is not None
    assert orjson.loads(doc.source) == {"title": "keep me"}


def test_min_retained_seq_no(engine: ShardEngine, clock: Clock) -> None:
    assert engine.min_retained_seq_no() == 0
    engine.write([index_op("1", {}), index_op("1", {}), index_op("1", {})], MAPPING)
    engine.refresh()
    assert engine.min_retained_seq_no() == 0  # nothing trimmed yet
    clock.now += 10
    engine.trim_history(0, 0)
    assert engine.min_retained_seq_no() == 2


def test_stats(engine: ShardEngine) -> None:
    engine.write([index_op("1", {}), index_op("2", {}), DeleteOp("2")], MAPPING)
    stats = engine.stats()
    assert stats.docs == 1
    assert stats.deleted_docs == 1
    assert stats.max_seq_no == 2
    assert stats.indexed_checkpoint == -1
    assert stats.searchable_checkpoint == -1
    assert stats.history_ops == 3
    assert stats.store_bytes > 0
    engine.refresh()
    assert engine.stats().searchable_checkpoint == 2
