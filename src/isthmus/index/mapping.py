"""Index mappings: the field table, dynamic mapping and merging.  [no I/O]

A :class:`Mapping` is the parsed, immutable form of an ES ``mappings`` body. It owns:

* the field table (``fields``): every searchable leaf path, including multi-fields such as
  ``title.keyword``, with the source path its values come from;
* ``parse_document``: walk a ``_source`` and produce the normalised values per field plus the
  dynamic mapping update the document implies (or an ES-style error, before anything is written);
* ``merge``: the additive update rule of ``PUT _mapping`` (a field's type never changes).

Normalised values: ``text``/``keyword`` → ``str``; integer types → ``int``; ``double``/``float``
→ ``float``; ``boolean`` → ``bool``; ``date`` → epoch milliseconds ``int``.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from typing import Any

from isthmus.errors import (
    DocumentParsingError,
    IllegalArgumentError,
    IsthmusError,
    MapperParsingError,
    NumberFormatError,
    StrictDynamicMappingError,
)
from isthmus.index.dates import DEFAULT_DATE_FORMAT, DateParseError, looks_like_date, parse_date
from isthmus.index.document_values import (
    add_flattened,
    add_value,
    add_vector,
    check_constant,
    check_flattened_depth,
    dynamic_field_json,
    dynamic_specs,
    dynamic_vector_json,
    put_path,
)
from isthmus.index.field_types import (  # re-exported: see __all__
    ALIAS,
    BOOLEAN,
    COMPLETION,
    CONSTANT_KEYWORD,
    DATE,
    DENSE_VECTOR,
    FLATTENED,
    FLOAT_TYPES,
    GEO_POINT,
    INTEGER_TYPES,
    KEYWORD,
    KEYWORD_LIKE,
    LEAF_TYPES,
    NUMERIC_TYPES,
    OBJECT,
    SCALED_FLOAT,
    SLASH_DATE,
    SLASH_DATE_FORMAT,
    TEXT,
    FieldSpec,
)
from isthmus.index.field_values import (  # re-exported: see __all__
    coerce,
    field_error,
    source_values,
    value_at,
)
from isthmus.index.mapping_body import (  # MAX_MAPPING_DEPTH re-exported: see __all__
    MAX_MAPPING_DEPTH,
    check_aliases,
    check_depth,
    copy_json,
    deep_merge,
    mapper_error,
    nested_paths,
    object_paths,
    parse_properties,
    sorted_properties,
)
from isthmus.index.mapping_params import flattened_depth_limit
from isthmus.index.vectors import check_float_elements, default_similarity


@dataclass(frozen=True)
class ParsedDocument:
    """What indexing needs from one source document: field path → normalised values."""

    values: dict[str, list[Any]]
    mapping_update: Mapping | None


# Unmapped arrays of this many floats are mapped as dense_vector (ES 8.11+), not as float.
DYNAMIC_VECTOR_DIMS = (128, 4096)


# How deeply a document's objects and arrays may nest. ES allows 1000 (its JSON parser's limit);
# Isthmus serves sources through a JSON encoder that stops at 254 levels, and a source is sent
# back inside responses (hits, top_hits under nested aggregations), so documents are kept to a
# depth every response can hold. Refused at indexing, with a 400, before anything is written.
MAX_DOCUMENT_DEPTH = 100


# ES's metadata fields, which a document's source cannot hold at its root (``_doc_count`` is
# the one ES reads from the source).
_METADATA_FIELDS = frozenset(
    {
        "_id",
        "_index",
        "_routing",
        "_source",
        "_seq_no",
        "_primary_term",
        "_version",
        "_ignored",
        "_field_names",
        "_data_stream_timestamp",
        "_tier",
    }
)


def _too_deep(depth: int) -> DocumentParsingError:
    return DocumentParsingError(
        f"Document nesting depth ({depth}) exceeds the maximum allowed ({MAX_DOCUMENT_DEPTH})"
    )


def _check_array_depth(values: list[Any], depth: int) -> None:
    """Arrays within arrays (which the field walk takes as one value): bound their depth too."""
    stack: list[tuple[Any, int]] = [(values, depth)]
    while stack:
        node, at = stack.pop()
        if at > MAX_DOCUMENT_DEPTH:
            raise _too_deep(at)
        for child in node.values() if isinstance(node, AbcMapping) else node:
            if isinstance(child, AbcMapping | list):
                stack.append((child, at + 1))


class Mapping:
    """An immutable, validated index mapping (the ``mappings`` object of an index)."""

    __slots__ = (
        "_by_source",
        "_constants",
        "_disabled",
        "_flattened",
        "_json",
        "_objects",
        "_whole",
        "aliases",
        "dynamic",
        "fields",
        "nested_paths",
    )

    def __init__(
        self,
        body: AbcMapping[str, Any] | None = None,
        *,
        update: bool = False,
        stored: bool = False,
    ) -> None:
        """``update``: ``body`` is a ``PUT _mapping`` update, whose aliases may name fields of
        the mapping it updates (they are checked on the merged mapping). ``stored``: ``body`` was
        accepted when it was put (it is read back from the cluster metadata): parameter values
        checked since are not checked again, so an index created earlier still opens."""
        try:
            self._parse(dict(body or {}), check_values=not stored)
        except DocumentParsingError:
            raise
        except MapperParsingError as exc:
            # ES parses a mappings body as one step and reports any fault in it this way, for
            # index creation and ``PUT _mapping`` alike; the fault itself is the cause (for an
            # invalid parameter value, the parameter's illegal_argument_exception).
            cause: IsthmusError = exc
            if isinstance(exc.caused_by, IllegalArgumentError | NumberFormatError) and (
                exc.caused_by.reason == exc.reason
            ):
                cause = exc.caused_by
            raise MapperParsingError(
                f"Failed to parse mapping: {exc.reason}", caused_by=cause
            ) from None
        if not update:
            check_aliases(self.aliases, self.fields)

    def _parse(self, body: dict[str, Any], check_values: bool = True) -> None:
        if "_doc" in body and isinstance(body["_doc"], AbcMapping) and len(body) == 1:
            body = dict(body["_doc"])  # typeless form accepted, like ES's include_type_name days
        for key in body:
            if key not in (
                "properties",
                "dynamic",
                "_source",
                "_meta",
                "date_detection",
                "numeric_detection",
                "dynamic_templates",
                "_routing",
                "runtime",
            ):
                raise mapper_error(
                    f"Root mapping definition has unsupported parameters:  [{key} : {body[key]}]"
                )
        dynamic = body.get("dynamic", True)
        if isinstance(dynamic, str):
            dynamic = {"true": True, "false": False}.get(dynamic, dynamic)
        if dynamic not in (True, False, "strict", "runtime"):
            raise mapper_error(f"Could not convert [dynamic] to boolean or 'strict': [{dynamic}]")
        self.dynamic: bool | str = dynamic
        raw: dict[str, dict[str, Any]] = {}
        props = parse_properties(body.get("properties", {}), "", raw, check_values)
        self._json: dict[str, Any] = {k: v for k, v in body.items() if k != "properties"}
        if props:
            self._json["properties"] = props
        self.fields: dict[str, FieldSpec] = {}
        # alias path → the path of the field it names (``field`` resolves them).
        self.aliases: dict[str, str] = {}
        for path, spec in raw.items():
            mapped = spec["type"]
            if mapped == ALIAS:
                self.aliases[path] = spec["path"]
                continue
            factor = spec.get("scaling_factor")
            self.fields[path] = FieldSpec(
                path=path,
                type=KEYWORD_LIKE.get(mapped, mapped),
                source_path=spec.get("_source_path", path),
                format=str(spec.get("format", DEFAULT_DATE_FORMAT)),
                ignore_above=spec.get("ignore_above"),
                indexed=spec.get("index", True) is not False,
                null_value=spec.get("null_value"),
                ignore_malformed=spec.get("ignore_malformed") is True,
                mapped_type=mapped if mapped in KEYWORD_LIKE else "",
                scaling_factor=float(factor) if mapped == SCALED_FLOAT and factor else None,
                constant=spec.get("value") if mapped == CONSTANT_KEYWORD else None,
                dims=int(spec["dims"]) if mapped == DENSE_VECTOR and "dims" in spec else None,
                similarity=default_similarity(spec) if mapped == DENSE_VECTOR else None,
                element_type=str(spec.get("element_type", "float")),
                depth_limit=flattened_depth_limit(spec) if mapped == FLATTENED else None,
            )
        # ``nested`` objects: each array element is a document of its own for nested queries and
        # aggregations, and its fields are not searchable from the root (search.nested).
        self.nested_paths = frozenset(nested_paths(self._json.get("properties", {}), ""))
        # Paths whose objects and arrays are one value (geo points), not leaves to walk into.
        self._whole = frozenset(
            p for p, s in self.fields.items() if s.type in (GEO_POINT, COMPLETION)
        )
        self._constants = tuple(s for s in self.fields.values() if s.constant is not None)
        self._flattened = frozenset(p for p, s in self.fields.items() if s.mapped_type == FLATTENED)
        self._by_source: dict[str, list[FieldSpec]] = {}
        for spec_ in self.fields.values():
            self._by_source.setdefault(spec_.source_path, []).append(spec_)
        declared = list(object_paths(self._json.get("properties", {}), ""))
        self._objects = frozenset(
            ".".join(p.split(".")[:i]) for p in self.fields for i in range(1, p.count(".") + 1)
        ) | frozenset(p for p, enabled in declared if enabled)
        self._disabled = frozenset(p for p, enabled in declared if not enabled)

    def to_json(self) -> dict[str, Any]:
        """The mapping as ES renders it: ``properties`` sorted by field name at every level."""
        copied: dict[str, Any] = sorted_properties(copy_json(self._json))
        return copied

    @property
    def routing_required(self) -> bool:
        """``_routing: {"required": true}``: every write and get must name a routing."""
        meta = self._json.get("_routing")
        return isinstance(meta, dict) and meta.get("required") in (True, "true")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and self._json == other._json

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.fields)))

    def __repr__(self) -> str:
        return f"<Mapping fields={len(self.fields)} dynamic={self.dynamic}>"

    def field(self, path: str) -> FieldSpec | None:
        """The field queries, aggregations and sorts mean by ``path``: a mapped field, the
        field an alias names, or a key under a ``flattened`` field (``labels.priority``)."""
        found = self.fields.get(path)
        if found is not None:
            return found
        target = self.aliases.get(path)
        if target is not None:
            return self.fields.get(target)
        if self._flattened:
            return self._flattened_key(path)
        return None

    def _flattened_key(self, path: str) -> FieldSpec | None:
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            root = ".".join(parts[:i])
            if root in self._flattened:
                return FieldSpec(
                    path=path,
                    type=KEYWORD,
                    source_path=path,
                    mapped_type=FLATTENED,
                    flattened_key=".".join(parts[i:]),
                )
        return None

    def object_paths(self) -> frozenset[str]:
        return self._objects

    def specs_for_source(self, source_path: str) -> list[FieldSpec]:
        """The field and its multi-fields whose values come from ``source_path``."""
        return self._by_source.get(source_path, [])

    def resolve(self, pattern: str) -> list[FieldSpec]:
        """Fields matching ``pattern`` (``*`` wildcards), as used by ``multi_match`` and friends."""
        if "*" not in pattern:
            spec = self.fields.get(pattern)
            return [spec] if spec else []
        from isthmus.cluster.patterns import simple_match

        return [s for p, s in self.fields.items() if simple_match(p, pattern)]

    def merge(self, update: AbcMapping[str, Any]) -> Mapping:
        """The mapping after ``PUT _mapping`` with ``update``: additive, types never change."""
        incoming = Mapping(update, update=True)
        for alias in incoming.aliases:
            replaced = self.fields.get(alias)
            if replaced is not None:
                raise IllegalArgumentError(
                    f"mapper [{alias}] cannot be changed from type [{replaced.es_type}] to [alias]"
                )
        # An object (or nested) path stays an object and a field stays a field, also an object
        # without fields yet (ES's ObjectMapper and FieldMapper merge errors).
        objects = {p for p, _ in object_paths(self._json.get("properties", {}), "")}
        for path, _ in object_paths(incoming._json.get("properties", {}), ""):
            replaced = self.fields.get(path)
            if replaced is not None:
                raise IllegalArgumentError(
                    f"mapper [{path}] cannot be changed from type [{replaced.es_type}] to [object]"
                )
        for path, spec in incoming.fields.items():
            if path in objects:
                raise IllegalArgumentError(
                    f"can't merge a non object mapping [{path}] with an object mapping"
                )
            old = self.fields.get(path)
            if old is not None and old.es_type != spec.es_type:
                raise IllegalArgumentError(
                    f"mapper [{path}] cannot be changed from type [{old.es_type}] to "
                    f"[{spec.es_type}]"
                )
            if path in self.aliases:
                raise IllegalArgumentError(
                    f"mapper [{path}] cannot be changed from type [alias] to [{spec.es_type}]"
                )
            if old is not None and old.dims is not None and spec.dims not in (None, old.dims):
                raise IllegalArgumentError(
                    f"Mapper for [{path}] conflicts with existing mapper:\n\tCannot update "
                    f"parameter [dims] from [{old.dims}] to [{spec.dims}]"
                )
            if (
                old is not None
                and old.constant is not None
                and spec.constant is not None
                and old.constant != spec.constant
            ):
                raise IllegalArgumentError(
                    f"Mapper for [{path}] conflicts with existing mapper:\n\tCannot update "
                    f"parameter [value] from [{old.constant}] to [{spec.constant}]"
                )
        merged = self.to_json()
        deep_merge(merged, incoming.to_json())
        return Mapping(merged, stored=True)  # both parts' values were checked when put

    # --- documents --------------------------------------------------------------------------

    def parse_document(
        self, source: AbcMapping[str, Any], doc_id: str | None = None, *, stored: bool = False
    ) -> ParsedDocument:
        """Coerce ``source`` against the mapping, adding dynamic fields; raise before any write.
        ``stored``: the source of an operation already accepted (a replay or rebuild), which the
        refusals added since it may have been written under (metadata fields, a value where an
        empty object is mapped) must not lose: such a value is left out, as before."""
        values: dict[str, list[Any]] = {}
        new_props: dict[str, Any] = {}
        checked_depth: set[str] = set()  # flattened fields whose depth_limit was checked
        for path, value in _leaves(source, "", self._whole):
            specs = self._by_source.get(path)
            if not specs:
                if self._disabled and self._in_disabled(path):
                    continue  # ES does not parse a disabled object's contents
                if path in _METADATA_FIELDS and not stored:
                    raise DocumentParsingError(
                        f"Field [{path}] is a metadata field and cannot be added inside a "
                        "document. Use the index API request parameters."
                    )
                if path in self.aliases:
                    raise DocumentParsingError(f"Cannot write to a field alias [{path}].")
                if path in self._objects:
                    if isinstance(value, AbcMapping) or value is None or stored:
                        continue
                    raise DocumentParsingError(
                        f"object mapping for [{path}] tried to parse field [{path.rsplit('.', 1)[-1]}]"
                        " as object, but found a concrete value"
                    )
                leaf_parent = self._mapped_parent(path)
                if leaf_parent is not None and leaf_parent.mapped_type == FLATTENED:
                    if not stored and leaf_parent.path not in checked_depth:
                        checked_depth.add(leaf_parent.path)
                        check_flattened_depth(leaf_parent, source, doc_id)
                    add_flattened(values, leaf_parent, path, value, doc_id)
                    continue
                if leaf_parent is not None:
                    # ``{"k": {"a": 1}}`` where ``k`` is a leaf field: an object where a value goes.
                    raise field_error(
                        leaf_parent, value_at(source, leaf_parent.source_path), doc_id
                    )
                dyn_type = self._dynamic_type(path, value)
                if dyn_type is None:
                    continue
                if "." in path:
                    check_depth(path.rsplit(".", 1)[0])
                if dyn_type == DENSE_VECTOR:
                    if not stored:
                        check_float_elements(value)
                    spec = FieldSpec(path, DENSE_VECTOR, path, similarity="cosine")
                    add_vector(values, spec, value, doc_id, new_props)
                    put_path(new_props, path, dynamic_vector_json(len(value)))
                    continue
                put_path(new_props, path, dynamic_field_json(dyn_type))
                for sub in dynamic_specs(path, dyn_type):
                    add_value(values, sub, value, doc_id)
                continue
            for spec in specs:
                if spec.mapped_type == CONSTANT_KEYWORD:
                    check_constant(spec, value, doc_id, new_props)
                elif spec.type == DENSE_VECTOR:
                    if not stored and spec.element_type != "byte":
                        check_float_elements(value)
                    add_vector(values, spec, value, doc_id, new_props)
                else:
                    add_value(values, spec, value, doc_id)
        update = None
        if new_props:
            update = self.merge({"properties": new_props})
        # Every document holds a constant_keyword's value, whether its source names it or not.
        for spec in (update or self)._constants:
            values[spec.path] = [spec.constant]
        return ParsedDocument(values=values, mapping_update=update)

    def _in_disabled(self, path: str) -> bool:
        parts = path.split(".")
        return any(".".join(parts[:i]) in self._disabled for i in range(1, len(parts) + 1))

    def _mapped_parent(self, path: str) -> FieldSpec | None:
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            specs = self._by_source.get(".".join(parts[:i]))
            if specs:
                return specs[0]
        return None

    def _dynamic_type(self, path: str, value: Any) -> str | None:
        sample = value
        if isinstance(value, list):
            sample = next((v for v in value if v is not None), None)
        if sample is None:
            return None
        if self.dynamic is False:
            return None
        if self.dynamic == "strict":
            parent, _, leaf = path.rpartition(".")
            where = parent or "_doc"
            raise StrictDynamicMappingError(
                f"[1:2] mapping set to strict, dynamic introduction of [{leaf}] within [{where}] is not allowed"
            )
        if isinstance(sample, bool):
            return BOOLEAN
        if (
            isinstance(value, list)
            and DYNAMIC_VECTOR_DIMS[0] <= len(value) <= DYNAMIC_VECTOR_DIMS[1]
            and all(type(v) is float for v in value)
        ):
            return DENSE_VECTOR  # ES maps an unmapped array of 128-4096 floats as a vector
        if isinstance(sample, int):
            return "long"
        if isinstance(sample, float):
            return "float"
        if isinstance(sample, str):
            if self._json.get("date_detection", True) and looks_like_date(sample):
                try:
                    parse_date(sample, "strict_date_optional_time")
                    return DATE
                except DateParseError:
                    return SLASH_DATE  # matched ES's second dynamic date format
            return TEXT
        if isinstance(sample, AbcMapping):
            return None
        return TEXT


def _leaves(
    obj: AbcMapping[str, Any], prefix: str, whole: frozenset[str] = frozenset()
) -> Iterator[tuple[str, Any]]:
    """Leaf paths of a source object, in document order; arrays of objects are flattened like
    ES ``object``. Walked with an explicit stack: a source may nest as deep as JSON parsing
    allows, far beyond Python's recursion limit), and refused past :data:`MAX_DOCUMENT_DEPTH`
    (JSON levels: an object is one, an array of objects two)."""
    stack: list[tuple[Iterator[tuple[str, Any]], int]] = [(_entries(obj, prefix), 1)]
    while stack:
        entries, depth = stack[-1]
        for path, value in entries:
            kind = type(value)
            if kind is str or kind is int or kind is float or kind is bool or value is None:
                yield path, value  # the common case, without the ABC isinstance checks below
            elif whole and path in whole:
                yield path, value  # a geo point's object or array: one value
            elif isinstance(value, AbcMapping):
                if value:
                    if depth + 1 > MAX_DOCUMENT_DEPTH:
                        raise _too_deep(depth + 1)
                    stack.append((_entries(value, path + "."), depth + 1))
                    break
            elif isinstance(value, list) and any(isinstance(v, AbcMapping) for v in value):
                if depth + 2 > MAX_DOCUMENT_DEPTH:
                    raise _too_deep(depth + 2)
                stack.append((_list_entries(value, path), depth + 2))
                break
            else:
                if isinstance(value, list) and any(isinstance(v, list) for v in value):
                    _check_array_depth(value, depth + 1)
                yield path, value
        else:
            stack.pop()


def _entries(obj: AbcMapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    return ((f"{prefix}{key}", value) for key, value in obj.items())


def _list_entries(items: list[Any], path: str) -> Iterator[tuple[str, Any]]:
    """An array holding objects: each object's fields under ``path``, other values as ``path``."""
    for item in items:
        if isinstance(item, AbcMapping):
            yield from _entries(item, path + ".")
        elif item is not None:
            yield path, item


__all__ = [
    "BOOLEAN",
    "DATE",
    "FLOAT_TYPES",
    "INTEGER_TYPES",
    "KEYWORD",
    "LEAF_TYPES",
    "MAX_DOCUMENT_DEPTH",
    "MAX_MAPPING_DEPTH",
    "NUMERIC_TYPES",
    "OBJECT",
    "SLASH_DATE",
    "SLASH_DATE_FORMAT",
    "TEXT",
    "FieldSpec",
    "Mapping",
    "ParsedDocument",
    "coerce",
    "source_values",
]
