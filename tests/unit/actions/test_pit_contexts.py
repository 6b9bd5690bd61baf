"""Reader contexts of points in time: limits, keep-alive, sessions, and what a held searcher sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import tantivy

from isthmus.actions.pit_contexts import PitStore, ReaderContext
from isthmus.errors import SearchContextMissingError, TooManyPitContextsError
from isthmus.index.engine import DeleteOp, IndexOp, ShardEngine
from isthmus.index.mapping import Mapping
from isthmus.security.authz import Subject
from isthmus.security.ownership import Owner


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _reader(keep_ms: int = 60_000, expires: float = 1060.0) -> ReaderContext:
    fake: Any = None
    return ReaderContext(fake, 0, fake, fake, None, keep_ms, expires)


def test_limit_all_or_none_and_numbers() -> None:
    store = PitStore(Clock())
    assert store.open([_reader(), _reader()], max_open=3, owner=None) == [1, 2]
    with pytest.raises(TooManyPitContextsError, match=r"less than or equal to: \[3\]"):
        store.open([_reader(), _reader()], max_open=3, owner=None)
    assert len(store) == 2  # nothing of the refused batch was kept


def test_keep_alive_renews_from_last_use_and_expiry_frees() -> None:
    clock = Clock()
    store = PitStore(clock)
    (number,) = store.open([_reader(keep_ms=10_000, expires=1010.0)], max_open=5, owner=None)
    clock.now = 1009.0
    store.find(store.session, number, None, None)  # renewed: 10 s from now
    clock.now = 1015.0
    store.find(store.session, number, 2_000, None)  # a new keep-alive: 2 s from now
    clock.now = 1017.5
    with pytest.raises(
        SearchContextMissingError, match=rf"No search context found for id \[{number}\]"
    ):
        store.find(store.session, number, None, None)
    assert len(store) == 0


def test_another_session_or_a_freed_context_is_missing() -> None:
    store = PitStore(Clock())
    (number,) = store.open([_reader()], max_open=5, owner=None)
    with pytest.raises(SearchContextMissingError):
        store.find("other-session", number, None, None)
    assert not store.free("other-session", number, None)
    assert store.free(store.session, number, None)
    assert not store.free(store.session, number, None)


def _index(engine: ShardEngine, mapping: Mapping, doc_id: str, n: int) -> None:
    source = orjson.dumps({"n": n})
    values = mapping.parse_document(orjson.loads(source), doc_id).values
    engine.write([IndexOp(doc_id, source, values)], mapping)


def test_a_held_searcher_keeps_its_documents_and_numbers(tmp_path: Path) -> None:
    mapping = Mapping({"properties": {"n": {"type": "long"}}})
    engine = ShardEngine(tmp_path / "shard", mapping)
    try:
        for i in range(6):
            _index(engine, mapping, str(i), i)
        engine.refresh()
        schema, searcher = engine.view()
        meta: Any = None
        reader = ReaderContext(meta, 0, schema, searcher, None, 60_000, 0.0)
        hits = searcher.search(tantivy.Query.all_query(), 10).hits
        numbers = sorted(reader.doc_number(addr) for _, addr in hits)
        assert numbers == list(range(6))
        engine.write([DeleteOp("0")], mapping)
        _index(engine, mapping, "new", 9)
        engine.refresh()
        gone = tantivy.Query.term_query(schema.schema, "_id", "0")
        assert len(searcher.search(gone, 1).hits) == 1  # the held reader still has it
        assert engine.view()[1].search(gone, 1).hits == []
        later = sorted(
            reader.doc_number(addr)
            for _, addr in searcher.search(tantivy.Query.all_query(), 10).hits
        )
        assert later == numbers  # the same reader, the same numbers
    finally:
        engine.close()


def test_only_its_owner_may_use_or_free_it() -> None:
    store = PitStore(Clock())
    alice = Subject("alice", ("r",), ())
    bob = Subject("bob", ("r",), ())
    (number,) = store.open([_reader()], max_open=5, owner=Owner.of(alice))
    with pytest.raises(SearchContextMissingError):
        store.find(store.session, number, None, bob)
    with pytest.raises(SearchContextMissingError):
        store.find(store.session, number, None, None)  # the system is not its owner either
    assert not store.free(store.session, number, bob)
    assert store.find(store.session, number, None, alice).context_id == number
    assert store.free(store.session, number, alice)
