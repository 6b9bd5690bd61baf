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

from isthmus.index.field_types import (
    COMPLETION,
    CONSTANT_KEYWORD,
    DATE_NANOS,
    DENSE_VECTOR,
    FLATTENED,
    GEO_POINT,
    IP,
    UNSIGNED_LONG,
    FieldSpec,
)
from isthmus.index.ip import Ip, from_sortable
from isthmus.index.mapping import (
    BOOLEAN,
    DATE,
    FLOAT_TYPES,
    INTEGER_TYPES,
    KEYWORD,
    TEXT,
    Mapping,
)
from isthmus.index.mapping_body import nested_parent

# Storage kinds beyond the ES types that are stored as themselves (see ``storage_kind``).
_CONSTANT_PREFIX = CONSTANT_KEYWORD + "="


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
        builder.add_text_field("_routing", stored=True, tokenizer_name="raw")
        for meta in ("_seq_no", "_version", "_primary_term"):
            builder.add_integer_field(meta, stored=True, indexed=True, fast=True)
        self.by_path: dict[str, TantivyField] = {}
        # flattened field path → the JSON field holding its ``key → value`` pairs.
        self._keyed: dict[str, str] = {}
        for i, (path, kind) in enumerate(self.signature):
            name = f"f{i}"
            ftype = KEYWORD if kind.startswith(_CONSTANT_PREFIX) else kind
            if ftype == TEXT:
                builder.add_text_field(name, stored=False, tokenizer_name="default")
            elif ftype in (KEYWORD, IP):
                # ip: the address's 16 bytes as hex digits, whose order is ES's (index.ip).
                builder.add_text_field(name, stored=False, tokenizer_name="raw", fast=True)
            elif ftype == FLATTENED:
                builder.add_text_field(name, stored=False, tokenizer_name="raw", fast=True)
                builder.add_json_field(name + "k", stored=False, tokenizer_name="raw", fast=True)
                # "key\0value" terms too: pattern and range queries on a key (JSON paths take
                # terms only), as ES's keyed flattened field holds them.
                builder.add_text_field(name + "p", stored=False, tokenizer_name="raw")
                self._keyed[path] = name + "k"
            elif ftype == UNSIGNED_LONG:
                builder.add_unsigned_field(name, indexed=True, fast=True)
            elif ftype == GEO_POINT:
                # The latitudes: geo queries narrow by a latitude range, then test each
                # candidate's points (search.geo_queries).
                builder.add_float_field(name, indexed=True, fast=True)
            elif ftype in INTEGER_TYPES or ftype == DATE_NANOS:
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
        return cls(_searchable(mapping))

    def matches(self, mapping: Mapping) -> bool:
        return _signature(mapping) == self.signature

    def covers(self, mapping: Mapping) -> bool:
        """Whether every indexed field of ``mapping`` has a field here (a newer mapping may
        have been applied already by a concurrent writer: never rebuild backwards)."""
        return set(_signature(mapping)) <= set(self.signature)

    def field(self, path: str) -> TantivyField | None:
        """The tantivy field of ``path``; a key under a flattened field (``labels.priority``)
        is that key's path inside the flattened field's JSON field."""
        found = self.by_path.get(path)
        if found is None and self._keyed:
            parts = path.split(".")
            for i in range(len(parts) - 1, 0, -1):
                json_name = self._keyed.get(".".join(parts[:i]))
                if json_name is not None:
                    return TantivyField(f"{json_name}.{'.'.join(parts[i:])}", path, KEYWORD)
        return found

    def keyed_pairs(self, spec: FieldSpec) -> str | None:
        """For a key under a flattened field: the field of its ``key\0value`` terms."""
        if spec.flattened_key is None:
            return None
        root = spec.path[: -len(spec.flattened_key) - 1]
        json_name = self._keyed.get(root)
        return None if json_name is None else json_name[:-1] + "p"

    def sort_field(self, spec: FieldSpec | None) -> TantivyField | None:
        """The fast field a one-key sort on ``spec`` can order by (None: sort from sources)."""
        if spec is None or spec.flattened_key is not None or spec.type == GEO_POINT:
            return None
        return self.by_path.get(spec.path)

    def document(
        self,
        doc_id: str,
        source: bytes,
        values: AbcMapping[str, list[Any]],
        seq_no: int,
        version: int,
        primary_term: int,
        routing: str | None = None,
    ) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_text("_id", doc_id)
        doc.add_bytes("_src", source)
        if routing is not None:  # the document's ``_routing``, shown in search hits
            doc.add_text("_routing", routing)
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
            elif ftype == IP:
                for item in items:
                    doc.add_text(name, item.sortable if isinstance(item, Ip) else item)
            elif ftype == FLATTENED:
                for item in items:
                    if isinstance(item, tuple):
                        doc.add_json(self._keyed[path], _nested(*item))
                        doc.add_text(name + "p", f"{item[0]}\0{item[1]}")
                    else:
                        doc.add_text(name, item)
            elif ftype == UNSIGNED_LONG:
                for item in items:
                    doc.add_unsigned(name, item)
            elif ftype == GEO_POINT:
                for item in items:
                    doc.add_float(name, item.lat)
            elif ftype in INTEGER_TYPES or ftype == DATE_NANOS:
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


def storage_kind(spec: FieldSpec) -> str:
    """How a field is held in a generation: its type, except a constant_keyword, whose kind
    names its value (a mapping that gains the value builds a generation where every document
    has it) and a flattened field."""
    if spec.mapped_type == CONSTANT_KEYWORD:
        return f"{_CONSTANT_PREFIX}{spec.constant or ''}"
    if spec.mapped_type == FLATTENED:
        return FLATTENED
    return spec.type


def _nested(key: str, value: str) -> dict[str, Any]:
    """``a.b`` → ``{"a": {"b": value}}``: the JSON path a keyed term query names."""
    node: dict[str, Any] = {}
    top = node
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return top


def _searchable(mapping: Mapping) -> dict[str, str]:
    """Path → storage kind of the fields a root query can match: indexed, and not inside a
    nested object (those are matched per object by the nested query, as in ES)."""
    nested = mapping.nested_paths
    return {
        p: storage_kind(s)
        for p, s in mapping.fields.items()
        if s.indexed
        # Searched from the sources: vectors by knn (search.knn), suggestions by the
        # completion suggester (search.completion).
        and s.type not in (DENSE_VECTOR, COMPLETION)
        and (not nested or nested_parent(s.source_path, nested) is None)
    }


def _signature(mapping: Mapping) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(_searchable(mapping).items()))


def indexed_value(spec: FieldSpec, value: Any) -> Any:
    """A value read back from the index (a fast-field sort) as the field's values are shown:
    an ip's hex digits become its address (an :class:`Ip` read from a source already is one)."""
    if spec.type == IP and isinstance(value, str) and not isinstance(value, Ip):
        return from_sortable(value)
    return value
