"""One document's values for the fields of a mapping, and the updates it implies.  [no I/O]

``Mapping.parse_document`` walks a source and hands each value here: ``add_value`` coerces it
for its field (keeping ``ignore_above``/``null_value``/``ignore_malformed``), and the types
with rules of their own have theirs: a ``constant_keyword`` value must equal the mapping's (or
sets it), a ``dense_vector`` is one whole array (its first document may set ``dims``), a leaf
under a ``flattened`` field is a root value and a ``(key, value)`` pair. Dynamic mapping's new
fields are described here too (their JSON and their ``FieldSpec``s).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isthmus.errors import DocumentParsingError, IllegalArgumentError
from isthmus.index.field_types import (
    CONSTANT_KEYWORD,
    DATE,
    DENSE_VECTOR,
    GEO_POINT,
    KEYWORD,
    SLASH_DATE,
    SLASH_DATE_FORMAT,
    TEXT,
    FieldSpec,
)
from isthmus.index.field_values import coerce, field_error, values_at
from isthmus.index.geo import is_single_point
from isthmus.index.vectors import parse_vector


def put_path(props: dict[str, Any], path: str, leaf: dict[str, Any]) -> None:
    parts = path.split(".")
    node = props
    for part in parts[:-1]:
        node = node.setdefault(part, {"properties": {}})["properties"]
    node[parts[-1]] = leaf


def dynamic_field_json(ftype: str) -> dict[str, Any]:
    if ftype == TEXT:
        return {"type": TEXT, "fields": {"keyword": {"type": KEYWORD, "ignore_above": 256}}}
    if ftype == SLASH_DATE:
        return {"type": DATE, "format": SLASH_DATE_FORMAT}
    return {"type": ftype}


def dynamic_vector_json(dims: int) -> dict[str, Any]:
    return {"type": DENSE_VECTOR, "dims": dims, "index": True, "similarity": "cosine"}


def dynamic_specs(path: str, ftype: str) -> list[FieldSpec]:
    if ftype == TEXT:
        return [
            FieldSpec(path=path, type=TEXT, source_path=path),
            FieldSpec(path=f"{path}.keyword", type=KEYWORD, source_path=path, ignore_above=256),
        ]
    if ftype == SLASH_DATE:
        return [FieldSpec(path=path, type=DATE, source_path=path, format=SLASH_DATE_FORMAT)]
    return [FieldSpec(path=path, type=ftype, source_path=path)]


def check_constant(
    spec: FieldSpec, value: Any, doc_id: str | None, new_props: dict[str, Any]
) -> None:
    """A constant_keyword value: the mapping's, or the first one seen when it has none yet
    (ES then sets it in the mapping)."""
    for item in value if isinstance(value, list) else [value]:
        if item is None:
            continue
        text = coerce(spec, item, doc_id)
        if spec.constant is None:
            put_path(new_props, spec.path, {"type": CONSTANT_KEYWORD, "value": text})
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


def add_vector(
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
    vector = parse_vector(value, spec.path, spec.dims, spec.similarity, doc_id, spec.element_type)
    if spec.dims is None:
        put_path(new_props, spec.path, {"type": DENSE_VECTOR, "dims": len(vector)})
    values.setdefault(spec.path, []).append(vector)


def check_flattened_depth(root: FieldSpec, source: Mapping[str, Any], doc_id: str | None) -> None:
    """ES's FlattenedFieldParser: an object nested inside a flattened field's object, whose
    keys from the field's root are ``n`` deep, is refused when ``n + 1`` exceeds the field's
    ``depth_limit``; ES reports the first such object (document order) as the field's value
    preview, printed as a Java map."""
    limit = root.depth_limit
    if limit is None:
        return
    stack: list[tuple[Any, int]] = [(values_at(source, root.source_path), 0)]
    while stack:
        node, keys = stack.pop()
        if isinstance(node, list):
            stack.extend((item, keys) for item in reversed(node))
        elif isinstance(node, Mapping):
            if keys >= 1 and keys + 1 > limit:
                reason = (
                    f"The provided [flattened] field [{root.path}] exceeds the maximum depth "
                    f"limit of [{limit}]."
                )
                where = f"in document with id '{doc_id}'" if doc_id is not None else "in document"
                raise DocumentParsingError(
                    f"failed to parse field [{root.path}] of type [flattened] {where}. Preview "
                    f"of field's value: '{_java_text(node)}'",
                    caused_by=IllegalArgumentError(reason),
                )
            stack.extend((child, keys + 1) for child in reversed(list(node.values())))


def _java_text(value: Any) -> str:
    """A parsed JSON value as Java prints the map ES reads it into (``{a=1, b=[x, y]}``)."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_java_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def add_flattened(
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


def add_value(
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
