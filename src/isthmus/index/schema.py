"""The tantivy schema derived from an index mapping.

tantivy's schema is fixed per index directory, while ES mappings grow. So a shard's tantivy index
is a *generation* built for one set of mapped fields; when the mapping gains a field the shard
builds a new generation from its durable store (see ``engine``). This module owns the naming of
tantivy fields (``f0``, ``f1`` … in sorted path order — internal to one generation) and the
conversion of normalised field values into a tantivy document.

Fixed fields in every generation: ``_id`` (raw, stored, fast), ``_src`` (stored bytes: the source
as of that operation, so a search fetches what its reader saw), ``_seq_no``, ``_version``,
``_primary_term`` (stored, fast).
"""

from __future__ import annotations

from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from typing import Any

import tantivy

from isthmus.index.mapping import BOOLEAN, DATE, FLOAT_TYPES, INTEGER_TYPES, KEYWORD, TEXT, Mapping


@dataclass(frozen=True)
class TantivyField:
    name: str  # the tantivy field name in this generation
    path: str  # the ES field path
    type: str  # the ES field type


class IndexSchema:
    """One generation's schema: ES field path → tantivy field, and document building."""

    def __init__(self, fields: AbcMapping[str, str]) -> None:
        # ``fields``: path → ES type; only indexed leaf fields appear.
        self.signature: tuple[tuple[str, str], ...] = tuple(sorted(fields.items()))
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("_id", stored=True, tokenizer_name="raw", fast=True)
        builder.add_bytes_field("_src", stored=True, indexed=False, fast=False)
        for meta in ("_seq_no", "_version", "_primary_term"):
            builder.add_integer_field(meta, stored=True, indexed=True, fast=True)
        self.by_path: dict[str, TantivyField] = {}
        for i, (path, ftype) in enumerate(self.signature):
            name = f"f{i}"
            if ftype == TEXT:
                builder.add_text_field(name, stored=False, tokenizer_name="default")
            elif ftype == KEYWORD:
                builder.add_text_field(name, stored=False, tokenizer_name="raw", fast=True)
            elif ftype in INTEGER_TYPES:
                builder.add_integer_field(name, indexed=True, fast=True)
            elif ftype in FLOAT_TYPES:
                builder.add_float_field(name, indexed=True, fast=True)
            elif ftype == DATE:
                # Epoch milliseconds as an integer: what ES sorts and ranges on, with no
                # datetime objects on the indexing or query path.
                builder.add_integer_field(name, indexed=True, fast=True)
            elif ftype == BOOLEAN:
                builder.add_boolean_field(name, indexed=True, fast=True)
            else:  # pragma: no cover - Mapping only yields the types above
                continue
            self.by_path[path] = TantivyField(name=name, path=path, type=ftype)
        self.schema = builder.build()

    @classmethod
    def for_mapping(cls, mapping: Mapping) -> IndexSchema:
        return cls({p: s.type for p, s in mapping.fields.items() if s.indexed})

    def matches(self, mapping: Mapping) -> bool:
        return _signature(mapping) == self.signature

    def covers(self, mapping: Mapping) -> bool:
        """Whether every indexed field of ``mapping`` has a field here (a newer mapping may
        have been applied already by a concurrent writer: never rebuild backwards)."""
        return set(_signature(mapping)) <= set(self.signature)

    def field(self, path: str) -> TantivyField | None:
        return self.by_path.get(path)

    def document(
        self,
        doc_id: str,
        source: bytes,
        values: AbcMapping[str, list[Any]],
        seq_no: int,
        version: int,
        primary_term: int,
    ) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_text("_id", doc_id)
        doc.add_bytes("_src", source)
        doc.add_integer("_seq_no", seq_no)
        doc.add_integer("_version", version)
        doc.add_integer("_primary_term", primary_term)
        for path, items in values.items():
            tfield = self.by_path.get(path)
            if tfield is None or not items:
                continue
            name, ftype = tfield.name, tfield.type
            if ftype in (TEXT, KEYWORD):
                for item in items:
                    doc.add_text(name, item)
            elif ftype in INTEGER_TYPES:
                for item in items:
                    doc.add_integer(name, item)
            elif ftype in FLOAT_TYPES:
                for item in items:
                    doc.add_float(name, item)
            elif ftype == DATE:
                for item in items:
                    doc.add_integer(name, item)
            elif ftype == BOOLEAN:
                for item in items:
                    doc.add_boolean(name, item)
        return doc

    def __repr__(self) -> str:
        return f"<IndexSchema fields={len(self.by_path)}>"


def _signature(mapping: Mapping) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((p, s.type) for p, s in mapping.fields.items() if s.indexed))
