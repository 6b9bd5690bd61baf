"""Field values: one JSON value coerced for a field's type, with ES's parse errors, and the
values of a field read back from a ``_source`` (sorting, aggregations, oracles).  [no I/O]

Normalised values: ``text``/``keyword`` → ``str``; integer types → ``int``; ``double``/``float``
→ ``float``; ``boolean`` → ``bool``; ``date`` → epoch milliseconds ``int``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping as AbcMapping
from typing import Any

from isthmus.errors import DocumentParsingError, IllegalArgumentError, MapperParsingError
from isthmus.index.completion import CompletionParseError, parse_entry
from isthmus.index.dates import DateParseError, parse_date
from isthmus.index.field_types import (
    BOOLEAN,
    COMPLETION,
    DATE,
    DATE_NANOS,
    DENSE_VECTOR,
    FLATTENED,
    FLOAT_TYPES,
    GEO_POINT,
    INTEGER_TYPES,
    IP,
    KEYWORD,
    TEXT,
    UNSIGNED_LONG,
    FieldSpec,
)
from isthmus.index.geo import GeoParseError, checked_point, is_single_point
from isthmus.index.ip import IpParseError, parse_ip
from isthmus.index.vectors import parse_vector

# date_nanos holds epoch nanoseconds in a long: 1970-01-01 to 2262-04-11T23:47:16.854775807Z.
_NANOS_MAX = 2**63 - 1


def value_at(source: AbcMapping[str, Any], path: str) -> Any:
    found = values_at(source, path)
    return found[0] if found else None


def values_at(source: AbcMapping[str, Any], path: str) -> list[Any]:
    """Every value at ``path`` in ``source`` (arrays on the way walked into), in order."""
    found: list[Any] = []
    _collect(source, path.split("."), found)
    return found


def _preview(value: Any) -> str:
    return f"'{_as_text(value)}'"


def field_error(spec: FieldSpec, value: Any, doc_id: str | None) -> DocumentParsingError:
    where = f"in document with id '{doc_id}'" if doc_id is not None else "in document"
    name = spec.source_path if spec.path != spec.source_path else spec.path
    if (
        spec.type == UNSIGNED_LONG
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        cause = f"Value [{value}] is out of range for an unsigned long"
    elif spec.type in INTEGER_TYPES or spec.type in FLOAT_TYPES:
        cause = f'For input string: "{value}"'
    elif spec.type == IP:
        cause = f"'{_as_text(value)}' is not an IP string literal."
    elif spec.type == GEO_POINT:
        try:
            checked_point(value, name)
            cause = f"unexpected value [{value}] for field [{name}]"
        except GeoParseError as exc:
            cause = str(exc)
    elif spec.type in (DATE, DATE_NANOS):
        cause = f"failed to parse date field [{value}] with format [{spec.format}]"
    elif spec.type == BOOLEAN:
        cause = f"Failed to parse value [{value}] as only [true] or [false] are allowed."
    else:
        cause = f"unexpected value [{value}] for field [{name}]"
    err = DocumentParsingError(
        f"failed to parse field [{name}] of type [{spec.es_type}] {where}. "
        f"Preview of field's value: {_preview(value)}",
        caused_by=IllegalArgumentError(cause),
    )
    err.field = name
    return err


def coerce(spec: FieldSpec, value: Any, doc_id: str | None = None) -> Any:
    """One value normalised for ``spec``'s type; ``None`` when it is not indexed (ignore_above)."""
    ftype = spec.type
    kind = type(value)
    # Fast paths for the JSON types each field type expects; everything else below.
    if kind is str:
        if ftype == TEXT:
            return value
        if ftype == KEYWORD:
            limit = spec.ignore_above
            return value if limit is None or len(value) <= limit else None
        if ftype == DATE:
            try:
                return parse_date(value, spec.format)
            except DateParseError:
                raise field_error(spec, value, doc_id) from None
    elif kind is int and ftype in INTEGER_TYPES:
        lo, hi = INTEGER_TYPES[ftype]
        if lo <= value <= hi:
            return value
    elif (kind is float or kind is int) and ftype in FLOAT_TYPES and spec.scaling_factor is None:
        return float(value)
    if ftype == IP:
        try:
            return parse_ip(value)
        except IpParseError:
            raise field_error(spec, value, doc_id) from None
    if ftype == DATE_NANOS:
        return _date_nanos(spec, value, doc_id)
    if ftype == DENSE_VECTOR:
        return parse_vector(value, spec.path, spec.dims, spec.similarity, doc_id, spec.element_type)
    if ftype == COMPLETION:
        try:
            return parse_entry(value)
        except CompletionParseError as exc:
            err = field_error(spec, value, doc_id)
            err.caused_by = IllegalArgumentError(str(exc))
            raise err from None
    if ftype == GEO_POINT:
        try:
            return checked_point(value, spec.path)
        except GeoParseError:
            raise field_error(spec, value, doc_id) from None
    if ftype == TEXT:
        if isinstance(value, AbcMapping | list):
            raise field_error(spec, value, doc_id)
        return _as_text(value)
    if ftype == KEYWORD:
        if isinstance(value, AbcMapping | list):
            raise field_error(spec, value, doc_id)
        text = _as_text(value)
        if spec.ignore_above is not None and len(text) > spec.ignore_above:
            return None
        return text
    if ftype in INTEGER_TYPES:
        lo, hi = INTEGER_TYPES[ftype]
        number: int
        try:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int):
                number = value
            elif isinstance(value, float):
                if not math.isfinite(value):
                    raise ValueError
                number = int(value)
            elif isinstance(value, str):
                number = int(float(value)) if any(c in value for c in ".eE") else int(value)
            else:
                raise ValueError
        except (ValueError, OverflowError):
            raise field_error(spec, value, doc_id) from None
        if not lo <= number <= hi:
            raise field_error(spec, value, doc_id)
        return number
    if ftype in FLOAT_TYPES:
        try:
            if isinstance(value, (bool, AbcMapping | list)):
                raise ValueError
            number_f = float(value)
            if not math.isfinite(number_f):
                raise ValueError
        except (ValueError, TypeError):
            raise field_error(spec, value, doc_id) from None
        if spec.scaling_factor is not None:
            # ES keeps round(value * factor) as a long and reads it back divided by the factor
            # (Java's Math.round: halves go up, and a product past the long range saturates at
            # Long.MIN/MAX_VALUE, so a huge finite value is kept rather than refused).
            scaled = number_f * spec.scaling_factor + 0.5
            if scaled >= 2.0**63:
                return (2**63 - 1) / spec.scaling_factor
            if scaled < -(2.0**63):
                return -(2**63) / spec.scaling_factor
            return math.floor(scaled) / spec.scaling_factor
        return number_f
    if ftype == BOOLEAN:
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        if value == "":
            return False
        raise field_error(spec, value, doc_id)
    if ftype == DATE:
        try:
            return parse_date(value, spec.format)
        except DateParseError:
            raise field_error(spec, value, doc_id) from None
    raise field_error(spec, value, doc_id)


def _date_nanos(spec: FieldSpec, value: Any, doc_id: str | None) -> int:
    """Epoch nanoseconds: the millisecond parse plus the fraction's digits past the third."""
    try:
        if isinstance(value, float | int) and not isinstance(value, bool):
            nanos = round(value * 1_000_000)
        else:
            nanos = parse_date(value, spec.format) * 1_000_000
            if isinstance(value, str):
                nanos += sub_millis(value)
    except DateParseError:
        raise field_error(spec, value, doc_id) from None
    if nanos < 0:
        err = field_error(spec, value, doc_id)
        err.caused_by = IllegalArgumentError(
            f"date[{value}] is before the epoch in 1970 and cannot be stored in nanosecond "
            "resolution"
        )
        raise err
    if nanos > _NANOS_MAX:
        raise field_error(spec, value, doc_id)
    return nanos


def sub_millis(text: str) -> int:
    """The nanoseconds a date's fraction of a second holds below the millisecond."""
    dot = text.find(".", 17)
    if dot < 0:
        dot = text.find(",", 17)
    if dot < 0:
        return 0
    end = dot + 1
    while end < len(text) and text[end].isdigit():
        end += 1
    digits = text[dot + 1 : end]
    if len(digits) <= 3:
        return 0
    return int(digits[3:9].ljust(6, "0"))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def source_values(source: AbcMapping[str, Any], spec: FieldSpec) -> list[Any]:
    """The normalised values of ``spec`` in one ``_source`` (for sorting, aggregations, oracles)."""
    if spec.constant is not None:
        return [spec.constant]  # constant_keyword: every document has the mapping's value
    raw: list[Any] = []
    _collect(source, spec.source_path.split("."), raw, _WHOLE.get(spec.type))
    if spec.mapped_type == FLATTENED and spec.flattened_key is None:
        raw = flattened_leaves(raw)
    out: list[Any] = []
    for item in raw:
        if item is None:
            continue
        try:
            coerced = coerce(spec, item)
        except MapperParsingError:
            continue
        if coerced is not None:
            out.append(coerced)
    return out


def _collect(node: Any, parts: list[str], out: list[Any], whole: str | None = None) -> None:
    """The values at ``parts`` under ``node``. ``whole`` names what is one value although it is
    an array or object: a geo_point's ``[lon, lat]`` and ``{lat, lon}``, a dense_vector."""
    if not parts and whole is not None and _is_whole(node, whole):
        out.append(node)
        return
    if isinstance(node, list):
        for item in node:
            _collect(item, parts, out, whole)
        return
    if not parts:
        out.append(node)
        return
    if not isinstance(node, AbcMapping):
        return
    # A source may hold ``{"a.b": 1}`` as well as ``{"a": {"b": 1}}``.
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in node:
            _collect(node[key], parts[i:], out, whole)


_WHOLE = {GEO_POINT: GEO_POINT, DENSE_VECTOR: DENSE_VECTOR, COMPLETION: COMPLETION}


def _is_whole(node: Any, kind: str) -> bool:
    if kind == COMPLETION:
        return isinstance(node, AbcMapping)
    if kind == GEO_POINT:
        return isinstance(node, AbcMapping) or (isinstance(node, list) and is_single_point(node))
    return isinstance(node, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in node
    )


def flattened_leaves(values: list[Any]) -> list[Any]:
    """Every leaf value under a flattened field's objects (its root values), in order."""
    out: list[Any] = []
    stack = list(reversed(values))
    while stack:
        item = stack.pop()
        if isinstance(item, AbcMapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif item is not None:
            out.append(item)
    return out


def nanos_edge(bound: Any, millis: int, op: str) -> int:
    """A date_nanos range bound as an inclusive edge in nanoseconds. ``millis`` is the bound
    resolved with ES's rounding (gt/lte rounded up); a bound written with digits below the
    millisecond is that exact instant, otherwise the edge is the millisecond's first (gte, lt)
    or last (gt, lte) nanosecond."""
    exact = None
    if isinstance(bound, str) and "||" not in bound and not bound.startswith("now"):
        extra = sub_millis(bound)
        if extra:
            exact = millis * 1_000_000 + extra
    if op == "gte":
        return millis * 1_000_000 if exact is None else exact
    if op == "gt":
        return (millis + 1) * 1_000_000 if exact is None else exact + 1
    if op == "lt":
        return millis * 1_000_000 - 1 if exact is None else exact - 1
    return (millis + 1) * 1_000_000 - 1 if exact is None else exact  # lte
