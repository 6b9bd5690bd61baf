"""The tantivy schema of one generation: field naming and document building."""

from __future__ import annotations

import tantivy

from isthmus.index.mapping import Mapping
from isthmus.index.schema import IndexSchema, TantivyField

FIELDS = {"t": "text", "k": "keyword", "n": "long", "f": "double", "d": "date", "b": "boolean"}


def test_fields_named_in_sorted_path_order() -> None:
    s = IndexSchema(FIELDS)
    assert s.signature == (
        ("b", "boolean"),
        ("d", "date"),
        ("f", "double"),
        ("k", "keyword"),
        ("n", "long"),
        ("t", "text"),
    )
    assert s.field("b") == TantivyField("f0", "b", "boolean")
    assert s.field("t") == TantivyField("f5", "t", "text")
    assert s.field("missing") is None
    assert repr(s) == "<IndexSchema fields=6>"


def test_for_mapping_and_matches() -> None:
    m = Mapping(
        {
            "properties": {
                "t": {"type": "text", "fields": {"kw": {"type": "keyword"}}},
                "off": {"type": "keyword", "index": False},
            }
        }
    )
    s = IndexSchema.for_mapping(m)
    assert s.signature == (("t", "text"), ("t.kw", "keyword"))
    assert s.matches(m)
    assert not s.matches(m.merge({"properties": {"n": {"type": "long"}}}))
    assert IndexSchema.for_mapping(Mapping()).signature == ()


def test_covers_a_subset_of_fields() -> None:
    small = Mapping({"properties": {"a": {"type": "keyword"}}})
    big = small.merge({"properties": {"b": {"type": "long"}}})
    s = IndexSchema.for_mapping(big)
    assert s.covers(small)
    assert s.covers(big)
    assert not IndexSchema.for_mapping(small).covers(big)
    retyped = Mapping({"properties": {"a": {"type": "text"}}})
    assert not s.covers(retyped)


def test_document_is_searchable_by_every_type() -> None:
    s = IndexSchema(FIELDS)
    index = tantivy.Index(s.schema)
    writer = index.writer(15_000_000, 1)
    values = {
        "t": ["Hello World"],
        "k": ["Red"],
        "n": [5, 7],
        "f": [1.5],
        "d": [1704153600000],
        "b": [True],
        "not-in-schema": [1],
        "k-empty": [],
    }
    writer.add_document(s.document("x", b'{"a":1}', values, seq_no=3, version=2, primary_term=1))
    writer.commit()
    index.reload()
    searcher = index.searcher()

    def count(path: str, value: object) -> int:
        field = s.field(path)
        assert field is not None
        return searcher.search(tantivy.Query.term_query(s.schema, field.name, value), 10).count

    assert count("t", "hello") == 1  # analysed: lower-cased tokens
    assert count("t", "Hello") == 0
    assert count("k", "Red") == 1  # keyword: raw
    assert count("k", "red") == 0
    assert count("n", 7) == 1
    assert count("n", 6) == 0
    assert count("b", True) == 1
    assert count("d", 1704153600000) == 1  # dates are indexed as epoch milliseconds
    date_field = s.field("d")
    assert date_field is not None
    days = tantivy.Query.range_query(
        s.schema, date_field.name, tantivy.FieldType.Integer, 1704153600000, 1704153600001
    )
    assert searcher.search(days, 10).count == 1
    stored = searcher.doc(searcher.search(tantivy.Query.all_query(), 1).hits[0][1])
    assert stored["_id"] == ["x"]
    assert stored["_src"] == [b'{"a":1}']
    assert stored["_seq_no"] == [3]
    assert stored["_version"] == [2]
    assert stored["_primary_term"] == [1]
