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

import math
from collections.abc import Iterator
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from typing import Any

from isthmus.errors import (
    DocumentParsingError,
    IllegalArgumentError,
    MapperParsingError,
    StrictDynamicMappingError,
)
from isthmus.index.completion import COMPLETION_DEFAULTS
from isthmus.index.dates import DEFAULT_DATE_FORMAT, DateParseError, looks_like_date, parse_date
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
    LEAF_PARAMS,
    LEAF_TYPES,
    NUMBER_PARAMS,
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
from isthmus.index.geo import is_single_point
from isthmus.index.vectors import check_vector_params, default_similarity, parse_vector


@dataclass(frozen=True)
class ParsedDocument:
    """What indexing needs from one source document: field path → normalised values."""

    values: dict[str, list[Any]]
    mapping_update: Mapping | None


# Unmapped arrays of this many floats are mapped as dense_vector (ES 8.11+), not as float.
DYNAMIC_VECTOR_DIMS = (128, 4096)

# ES's ``index.mapping.depth.limit`` default: how many objects may enclose a field, the root
# included. A mapping or a dynamically mapped document deeper than this is refused.
MAX_MAPPING_DEPTH = 20


# How deeply a document's objects and arrays may nest. ES allows 1000 (its JSON parser's limit);
# Isthmus serves sources through a JSON encoder that stops at 254 levels, and a source is sent
# back inside responses (hits, top_hits under nested aggregations), so documents are kept to a
# depth every response can hold. Refused at indexing, with a 400, before anything is written.
MAX_DOCUMENT_DEPTH = 100


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


def _mapper_error(reason: str) -> MapperParsingError:
    return MapperParsingError(reason)


def _unknown_type(ftype: Any, name: str) -> MapperParsingError:
    return MapperParsingError(
        f"The mapper type [{ftype}] declared on field [{name}] does not exist. It might have been "
        "created within a future version or requires a plugin to be installed. Check the "
        "documentation."
    )


def _check_depth(object_path: str) -> None:
    """``object_path`` (``a.b``) is an object field: refuse it past the depth limit."""
    if object_path.count(".") + 2 > MAX_MAPPING_DEPTH:
        raise IllegalArgumentError(
            f"Limit of mapping depth [{MAX_MAPPING_DEPTH}] has been exceeded due to object "
            f"field [{object_path}]"
        )


def _parse_properties(
    props: AbcMapping[str, Any], prefix: str, out: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Validate a ``properties`` object; returns its normalised JSON form."""
    if not isinstance(props, AbcMapping):
        raise _mapper_error("Expected map for property [properties] on field [" + prefix + "]")
    norm: dict[str, Any] = {}
    for name, spec in props.items():
        full = f"{prefix}{name}"
        if not name or name.strip() != name or name.endswith("."):
            raise _mapper_error(
                f"field name cannot be an empty string or contain only whitespace [{full}]"
            )
        if not isinstance(spec, AbcMapping):
            raise _mapper_error(
                f"Expected map for property [fields] on field [{full}] but got a class java.lang.String"
            )
        ftype = spec.get("type", OBJECT if "properties" in spec or "type" not in spec else None)
        if not isinstance(ftype, str):
            raise _unknown_type(ftype, name)
        if "." in name:
            # ES expands dotted names into objects.
            head, rest = name.split(".", 1)
            expanded = {head: {"properties": {rest: spec}}}
            sub = _parse_properties(expanded, prefix, out)
            _deep_merge(norm, sub)
            continue
        if ftype in (OBJECT, "nested"):
            _check_depth(full)
            inner = _parse_properties(spec.get("properties", {}), full + ".", out)
            entry: dict[str, Any] = {"properties": inner} if inner or "properties" in spec else {}
            if ftype == "nested":
                entry["type"] = "nested"
            for key in ("dynamic", "enabled"):
                if key in spec:
                    entry[key] = spec[key]
            norm[name] = entry
            continue
        if ftype == ALIAS:
            norm[name] = _parse_alias(name, full, spec, out)
            continue
        if ftype not in LEAF_TYPES:
            raise _unknown_type(ftype, name)
        allowed = NUMBER_PARAMS if ftype in NUMERIC_TYPES else LEAF_PARAMS[ftype]
        for key in spec:
            if key != "type" and key not in allowed:
                raise _mapper_error(
                    f"unknown parameter [{key}] on mapper [{name}] of type [{ftype}]"
                )
        leaf = dict(spec)
        _check_type_params(ftype, leaf)
        if ftype == DATE and "format" in leaf:
            leaf["format"] = str(leaf["format"])
        out[full] = leaf
        subfields = spec.get("fields")
        if subfields is not None:
            if not isinstance(subfields, AbcMapping):
                raise _mapper_error(f"Expected map for property [fields] on field [{name}]")
            for sub_name, sub_spec in subfields.items():
                sub_type = sub_spec.get("type") if isinstance(sub_spec, AbcMapping) else None
                if not isinstance(sub_type, str) or sub_type not in LEAF_TYPES:
                    raise _unknown_type(sub_type, sub_name)
                out[f"{full}.{sub_name}"] = {**sub_spec, "_source_path": full}
        norm[name] = leaf
    return norm


class _ParameterError(MapperParsingError):
    """A field parameter ES refuses while parsing the mapping: reported as "Failed to parse
    mapping: <reason>" caused by the illegal_argument_exception of the parameter."""


def _parameter_error(reason: str) -> _ParameterError:
    return _ParameterError(
        f"Failed to parse mapping: {reason}", caused_by=IllegalArgumentError(reason)
    )


def _check_type_params(ftype: str, leaf: dict[str, Any]) -> None:
    """Parameters a type requires or constrains, with ES's messages."""
    if ftype == SCALED_FLOAT:
        factor = leaf.get("scaling_factor")
        if factor is None:
            raise _parameter_error("Field [scaling_factor] is required")
        try:
            number = float(factor)
        except (TypeError, ValueError):
            raise _parameter_error(
                f"[scaling_factor] must be a positive number, got [{factor}]"
            ) from None
        if not math.isfinite(number) or number <= 0:
            raise _parameter_error(f"[scaling_factor] must be a positive number, got [{number}]")
    elif ftype == DENSE_VECTOR:
        check_vector_params(leaf)
    elif ftype == COMPLETION:
        for key, default in COMPLETION_DEFAULTS.items():  # ES shows these in the mapping
            leaf.setdefault(key, default)
    elif ftype == CONSTANT_KEYWORD and "value" in leaf:
        value = leaf["value"]
        if isinstance(value, AbcMapping | list):
            raise _mapper_error(f"Property [value] on field [{leaf.get('type')}] must be a string")
        if value is not None:
            leaf["value"] = value if isinstance(value, str) else str(value)


def _parse_alias(
    name: str, full: str, spec: AbcMapping[str, Any], out: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    for key in spec:
        if key not in ("type", "path"):
            raise _mapper_error(f"unknown parameter [{key}] on mapper [{name}] of type [alias]")
    path = spec.get("path")
    if not isinstance(path, str) or not path:
        raise _mapper_error(f"The [path] property must be specified for field [{name}].")
    out[full] = {"type": ALIAS, "path": path}
    return {"type": ALIAS, "path": path}


def _check_aliases(aliases: AbcMapping[str, str], fields: AbcMapping[str, FieldSpec]) -> None:
    """Each alias names a concrete field (ES validates this once the whole mapping is known)."""
    for alias, target in aliases.items():
        problem = None
        if target == alias:
            problem = "an alias cannot refer to itself."
        elif target in aliases:
            problem = "an alias cannot refer to another alias."
        elif target not in fields:
            problem = "an alias must refer to an existing field in the mappings."
        if problem is not None:
            raise MapperParsingError(
                f"Invalid [path] value [{target}] for field alias [{alias}]: {problem}"
            )


def _deep_merge(into: dict[str, Any], new: AbcMapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, AbcMapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


class Mapping:
    """An immutable, validated index mapping (the ``mappings`` object of an index)."""

    __slots__ = (
        "_by_source",
        "_constants",
        "_flattened",
        "_json",
        "_objects",
        "_whole",
        "aliases",
        "dynamic",
        "fields",
        "nested_paths",
    )

    def __init__(self, body: AbcMapping[str, Any] | None = None) -> None:
        try:
            self._parse(dict(body or {}))
        except (DocumentParsingError, _ParameterError):
            raise
        except MapperParsingError as exc:
            # ES parses a mappings body as one step and reports any fault in it this way, for
            # index creation and ``PUT _mapping`` alike; the fault itself is the cause.
            raise MapperParsingError(
                f"Failed to parse mapping: {exc.reason}", caused_by=exc
            ) from None
        _check_aliases(self.aliases, self.fields)

    def _parse(self, body: dict[str, Any]) -> None:
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
                raise _mapper_error(
                    f"Root mapping definition has unsupported parameters:  [{key} : {body[key]}]"
                )
        dynamic = body.get("dynamic", True)
        if isinstance(dynamic, str):
            dynamic = {"true": True, "false": False}.get(dynamic, dynamic)
        if dynamic not in (True, False, "strict", "runtime"):
            raise _mapper_error(f"Could not convert [dynamic] to boolean or 'strict': [{dynamic}]")
        self.dynamic: bool | str = dynamic
        raw: dict[str, dict[str, Any]] = {}
        props = _parse_properties(body.get("properties", {}), "", raw)
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
            )
        # ``nested`` objects: each array element is a document of its own for nested queries and
        # aggregations, and its fields are not searchable from the root (search.nested).
        self.nested_paths = frozenset(_nested_paths(self._json.get("properties", {}), ""))
        # Paths whose objects and arrays are one value (geo points), not leaves to walk into.
        self._whole = frozenset(
            p for p, s in self.fields.items() if s.type in (GEO_POINT, COMPLETION)
        )
        self._constants = tuple(s for s in self.fields.values() if s.constant is not None)
        self._flattened = frozenset(p for p, s in self.fields.items() if s.mapped_type == FLATTENED)
        self._by_source: dict[str, list[FieldSpec]] = {}
        for spec_ in self.fields.values():
            self._by_source.setdefault(spec_.source_path, []).append(spec_)
        self._objects = frozenset(
            ".".join(p.split(".")[:i]) for p in self.fields for i in range(1, p.count(".") + 1)
        )

    def to_json(self) -> dict[str, Any]:
        """The mapping as ES renders it: ``properties`` sorted by field name at every level."""
        copied: dict[str, Any] = _sorted_properties(_copy(self._json))
        return copied

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
        incoming = Mapping(update)
        for path, spec in incoming.fields.items():
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
        _deep_merge(merged, incoming.to_json())
        return Mapping(merged)

    # --- documents --------------------------------------------------------------------------

    def parse_document(
        self, source: AbcMapping[str, Any], doc_id: str | None = None
    ) -> ParsedDocument:
        """Coerce ``source`` against the mapping, adding dynamic fields; raise before any write."""
        values: dict[str, list[Any]] = {}
        new_props: dict[str, Any] = {}
        for path, value in _leaves(source, "", self._whole):
            specs = self._by_source.get(path)
            if not specs:
                if path in self.aliases:
                    raise DocumentParsingError(f"Cannot write to a field alias [{path}].")
                if path in self._objects:
                    if isinstance(value, AbcMapping) or value is None:
                        continue
                    raise DocumentParsingError(
                        f"object mapping for [{path}] tried to parse field [{path.rsplit('.', 1)[-1]}]"
                        " as object, but found a concrete value"
                    )
                leaf_parent = self._mapped_parent(path)
                if leaf_parent is not None and leaf_parent.mapped_type == FLATTENED:
                    _add_flattened(values, leaf_parent, path, value, doc_id)
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
                    _check_depth(path.rsplit(".", 1)[0])
                if dyn_type == DENSE_VECTOR:
                    spec = FieldSpec(path, DENSE_VECTOR, path, similarity="cosine")
                    _add_vector(values, spec, value, doc_id, new_props)
                    _put_path(new_props, path, _dynamic_vector_json(len(value)))
                    continue
                _put_path(new_props, path, _dynamic_field_json(dyn_type))
                for sub in _dynamic_specs(path, dyn_type):
                    _add_value(values, sub, value, doc_id)
                continue
            for spec in specs:
                if spec.mapped_type == CONSTANT_KEYWORD:
                    _check_constant(spec, value, doc_id, new_props)
                elif spec.type == DENSE_VECTOR:
                    _add_vector(values, spec, value, doc_id, new_props)
                else:
                    _add_value(values, spec, value, doc_id)
        update = None
        if new_props:
            update = self.merge({"properties": new_props})
        # Every document holds a constant_keyword's value, whether its source names it or not.
        for spec in (update or self)._constants:
            values[spec.path] = [spec.constant]
        return ParsedDocument(values=values, mapping_update=update)

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


def _nested_paths(props: AbcMapping[str, Any], prefix: str) -> Iterator[str]:
    for name, entry in props.items():
        if not isinstance(entry, AbcMapping):
            continue
        if entry.get("type") == "nested":
            yield prefix + name
        inner = entry.get("properties")
        if isinstance(inner, AbcMapping):
            yield from _nested_paths(inner, prefix + name + ".")


def nested_parent(path: str, nested_paths: frozenset[str]) -> str | None:
    """The innermost nested object path enclosing field ``path`` (None: a root field)."""
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in nested_paths:
            return candidate
    return None


def _sorted_properties(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("properties", "fields") and isinstance(value, dict):
                out[key] = {k: _sorted_properties(value[k]) for k in sorted(value)}
            else:
                out[key] = _sorted_properties(value)
        return out
    return node


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


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


def _put_path(props: dict[str, Any], path: str, leaf: dict[str, Any]) -> None:
    parts = path.split(".")
    node = props
    for part in parts[:-1]:
        node = node.setdefault(part, {"properties": {}})["properties"]
    node[parts[-1]] = leaf


def _dynamic_field_json(ftype: str) -> dict[str, Any]:
    if ftype == TEXT:
        return {"type": TEXT, "fields": {"keyword": {"type": KEYWORD, "ignore_above": 256}}}
    if ftype == SLASH_DATE:
        return {"type": DATE, "format": SLASH_DATE_FORMAT}
    return {"type": ftype}


def _dynamic_vector_json(dims: int) -> dict[str, Any]:
    return {"type": DENSE_VECTOR, "dims": dims, "index": True, "similarity": "cosine"}


def _dynamic_specs(path: str, ftype: str) -> list[FieldSpec]:
    if ftype == TEXT:
        return [
            FieldSpec(path=path, type=TEXT, source_path=path),
            FieldSpec(path=f"{path}.keyword", type=KEYWORD, source_path=path, ignore_above=256),
        ]
    if ftype == SLASH_DATE:
        return [FieldSpec(path=path, type=DATE, source_path=path, format=SLASH_DATE_FORMAT)]
    return [FieldSpec(path=path, type=ftype, source_path=path)]


def _check_constant(
    spec: FieldSpec, value: Any, doc_id: str | None, new_props: dict[str, Any]
) -> None:
    """A constant_keyword value: the mapping's, or the first one seen when it has none yet
    (ES then sets it in the mapping)."""
    for item in value if isinstance(value, list) else [value]:
        if item is None:
            continue
        text = coerce(spec, item, doc_id)
        if spec.constant is None:
            _put_path(new_props, spec.path, {"type": CONSTANT_KEYWORD, "value": text})
            spec = FieldSpec(
                path=spec.path,
                type=spec.type,
                source_path=spec.source_path,
                mapped_type=CONSTANT_KEYWORD,
                constant=text,
            )
        elif text != spec.constant:
            err = field_error(spec, item, doc_id)
            err.caused_by = IllegalArgumentError(
                f"[constant_keyword] field [{spec.path}] only accepts values that are equal to the "
                f"value defined in the mappings [{spec.constant}], but got [{text}]"
            )
            raise err


def _add_vector(
    values: dict[str, list[Any]],
    spec: FieldSpec,
    value: Any,
    doc_id: str | None,
    new_props: dict[str, Any],
) -> None:
    """A dense_vector value: one vector (the whole array); the first one sets ``dims`` when
    the mapping has none."""
    if value is None:
        return
    vector = parse_vector(value, spec.path, spec.dims, spec.similarity, doc_id)
    if spec.dims is None:
        _put_path(new_props, spec.path, {"type": DENSE_VECTOR, "dims": len(vector)})
    values.setdefault(spec.path, []).append(vector)


def _add_flattened(
    values: dict[str, list[Any]], root: FieldSpec, path: str, value: Any, doc_id: str | None
) -> None:
    """A leaf under a flattened field: a root value, and ``(key, value)`` for its key."""
    key = path[len(root.path) + 1 :]
    out = values.setdefault(root.path, [])
    for item in value if isinstance(value, list) else [value]:
        if item is None:
            continue
        if isinstance(item, list):
            raise field_error(root, item, doc_id)
        text = coerce(root, item, doc_id)
        if text is not None:
            out.append(text)
            out.append((key, text))


def _add_value(
    values: dict[str, list[Any]], spec: FieldSpec, value: Any, doc_id: str | None
) -> None:
    # Fast paths for one plain value of the expected JSON type (most fields of most documents);
    # ``coerce`` below handles everything else, with the same results.
    kind = type(value)
    ftype = spec.type
    if kind is str:
        if ftype == TEXT or (
            ftype == KEYWORD and (spec.ignore_above is None or len(value) <= spec.ignore_above)
        ):
            values.setdefault(spec.path, []).append(value)
            return
    elif kind is int and ftype == "long" and -(2**63) <= value < 2**63:
        values.setdefault(spec.path, []).append(value)
        return
    items = value if kind is list else [value]
    if ftype == GEO_POINT and kind is list and is_single_point(value):
        items = [value]  # [lon, lat]: one point
    out = values.setdefault(spec.path, [])
    for item in items:
        if item is None:
            if spec.null_value is None:
                continue
            item = spec.null_value
        try:
            coerced = coerce(spec, item, doc_id)
        except DocumentParsingError:
            if spec.ignore_malformed:
                continue
            raise
        if coerced is not None:
            out.append(coerced)


__all__ = [
    "BOOLEAN",
    "DATE",
    "FLOAT_TYPES",
    "INTEGER_TYPES",
    "KEYWORD",
    "LEAF_TYPES",
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
