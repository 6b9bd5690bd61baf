"""A document's ``_routing`` in the engine: stored with its operation, read back by a get, the
search index, the history a follower reads, a crash replay and a store copy; and a store
written before routing was kept still opens and reads."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import tantivy

from isthmus.index.engine import IndexOp, ShardEngine
from isthmus.index.mapping import Mapping
from isthmus.index.store_snapshot import install_snapshot

MAPPING = Mapping({"properties": {"n": {"type": "long"}}})


def op(doc_id: str, n: int, routing: str | None = None) -> IndexOp:
    source = {"n": n}
    values = MAPPING.parse_document(source, doc_id).values
    return IndexOp(doc_id, orjson.dumps(source), values, routing=routing)


def searched_routing(engine: ShardEngine, doc_id: str) -> Any:
    engine.refresh()
    schema, searcher = engine.view()
    ((_score, addr),) = searcher.search(
        tantivy.Query.term_query(schema.schema, "_id", doc_id), 10
    ).hits
    return searcher.doc(addr).get_first("_routing")


def test_routing_is_stored_replicated_replayed_and_copied(tmp_path: Path) -> None:
    leader = ShardEngine(tmp_path / "leader", MAPPING)
    leader.write([op("a", 1, "r1"), op("b", 2)], MAPPING)
    stored = leader.get("a")
    assert stored is not None and stored.routing == "r1"
    plain = leader.get("b")
    assert plain is not None and plain.routing is None
    assert (searched_routing(leader, "a"), searched_routing(leader, "b")) == ("r1", None)
    rows = leader.changes_rows(0, 1, 1 << 20)  # from memory (just written)
    history = leader.history(0, 1)  # from SQLite
    assert [r[7] for r in rows] == [h.routing for h in history] == ["r1", None]
    # A follower applying the leader's operations keeps the leader's routing.
    follower = ShardEngine(tmp_path / "follower", MAPPING)
    follower.apply_replicated(history, MAPPING)
    copied = follower.get("a")
    assert copied is not None and copied.routing == "r1"
    assert searched_routing(follower, "a") == "r1"
    follower.close()
    # A store copy (a restore session's) carries it too.
    leader.snapshot_store(tmp_path / "copy.sqlite")
    install_snapshot(tmp_path / "copy.sqlite", tmp_path / "restored")
    restored = ShardEngine(tmp_path / "restored", MAPPING)
    doc = restored.get("a")
    assert doc is not None and doc.routing == "r1"
    assert searched_routing(restored, "a") == "r1"  # its search index is built from the store
    restored.close()
    # A crash before the refresh: the replay at open indexes the routing.
    leader.write([op("c", 3, "r3")], MAPPING)
    leader._writer = None
    leader._db.close()
    reopened = ShardEngine(tmp_path / "leader", MAPPING)
    assert searched_routing(reopened, "c") == "r3"
    reopened.close()


def test_a_store_from_before_routing_was_kept_opens_and_reads(tmp_path: Path) -> None:
    shard = tmp_path / "shard"
    engine = ShardEngine(shard, MAPPING)
    engine.write([op("a", 1), op("b", 2)], MAPPING)
    engine.close()
    # Back to the layout of before: ``ops`` without its routing column, and a search
    # generation whose documents have no ``_routing`` field, recorded in ``schema.json``.
    db = sqlite3.connect(shard / "store.sqlite")
    db.executescript(
        """
        CREATE TABLE old_ops (
          seq_no INTEGER PRIMARY KEY, primary_term INTEGER NOT NULL, version INTEGER NOT NULL,
          op TEXT NOT NULL, id TEXT NOT NULL, source BLOB, ts INTEGER NOT NULL
        );
        INSERT INTO old_ops SELECT seq_no, primary_term, version, op, id, source, ts FROM ops;
        DROP TABLE ops;
        ALTER TABLE old_ops RENAME TO ops;
        """
    )
    db.close()
    (gen_dir,) = (shard / "tantivy").iterdir()
    shutil.rmtree(gen_dir)
    gen_dir.mkdir()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("_id", stored=True, tokenizer_name="raw", fast=True)
    builder.add_bytes_field("_src", stored=True, indexed=False, fast=False)
    for meta in ("_seq_no", "_version", "_primary_term"):
        builder.add_integer_field(meta, stored=True, indexed=True, fast=True)
    builder.add_integer_field("f0", stored=False, indexed=True, fast=True)
    old = tantivy.Index(builder.build(), path=str(gen_dir), reuse=False)
    writer = old.writer(15_000_000, 1)
    writer.add_document(tantivy.Document(_id="a", _seq_no=0, _version=1, _primary_term=1))
    writer.commit()
    writer.wait_merging_threads()
    (gen_dir / "schema.json").write_bytes(orjson.dumps([["n", "long"]]))

    engine = ShardEngine(shard, MAPPING)
    doc = engine.get("a")
    assert doc is not None and orjson.loads(doc.source) == {"n": 1} and doc.routing is None
    assert [h.id for h in engine.history(0, 10)] == ["a", "b"]
    assert searched_routing(engine, "b") is None  # rebuilt from the store: every document
    engine.write([op("c", 3, "r3")], MAPPING)
    assert searched_routing(engine, "c") == "r3"
    engine.close()
    reopened = ShardEngine(shard, MAPPING)
    routed = reopened.get("c")
    assert routed is not None and routed.routing == "r3"
    reopened.close()
