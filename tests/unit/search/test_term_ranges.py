"""Ranges over terms as one regular expression, checked against Python's string order on a
real tantivy index (code point order is tantivy's byte order)."""

from __future__ import annotations

import itertools

import tantivy

from isthmus.search.term_ranges import string_range

VALUES = ["", "a", "a b", "ab", "abc", "m:x", "v]", "z", "é", "zz", "\U0010ffff", "k\x00v", "\x00"]
BOUNDS = [None, "", "a", "ab", "abd", "m", "v]", "é", "\U0010ffff", "k\x00", "k\x01", "\x00"]


def _index(docs: list[list[str]]) -> tuple[tantivy.Schema, tantivy.Searcher]:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("f", stored=True, tokenizer_name="raw")
    builder.add_integer_field("n", stored=True)
    schema = builder.build()
    index = tantivy.Index(schema)
    writer = index.writer(15_000_000, 1)
    for n, values in enumerate(docs):
        doc = tantivy.Document()
        doc.add_integer("n", n)
        for value in values:
            doc.add_text("f", value)
        writer.add_document(doc)
    writer.commit()
    index.reload()
    return schema, index.searcher()


def _matches(
    schema: tantivy.Schema,
    searcher: tantivy.Searcher,
    bounds: tuple[str | None, str | None, bool, bool],
) -> list[int]:
    hits = searcher.search(string_range(schema, "f", bounds), 100).hits
    return sorted(searcher.doc(addr)["n"][0] for _, addr in hits)


def test_every_bound_pair_matches_python_string_order() -> None:
    schema, searcher = _index([[v] for v in VALUES])
    for low, high in itertools.product(BOUNDS, BOUNDS):
        for inc_lo, inc_hi in itertools.product([True, False], repeat=2):
            expected = [
                n
                for n, v in enumerate(VALUES)
                if (low is None or (v >= low if inc_lo else v > low))
                and (high is None or (v <= high if inc_hi else v < high))
            ]
            assert _matches(schema, searcher, (low, high, inc_lo, inc_hi)) == expected, (
                low,
                high,
                inc_lo,
                inc_hi,
            )


def test_one_value_must_satisfy_both_bounds() -> None:
    # "a" is below the range and "z" above it: the document has no value inside [m, n].
    schema, searcher = _index([["a", "z"], ["a", "m1"]])
    assert _matches(schema, searcher, ("m", "n", True, True)) == [1]
