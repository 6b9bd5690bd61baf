"""A hit's ``fields`` section: the ``fields`` option and ``docvalue_fields``.  [no I/O]

Both name mapped leaf fields (``*`` wildcards allowed) and show each field's values as an array:

* ``fields`` reads the values from ``_source`` through the mapping, in source order: a date as the
  field's format prints it (or the request's ``format``), numbers as the field type holds them,
  keywords longer than ``ignore_above`` left out. Unmapped fields are skipped unless
  ``include_unmapped`` (then their source values show as they are).
* ``docvalue_fields`` shows what the column store holds: values sorted, keywords without
  duplicates. A ``text`` field has no doc values: naming one is ES's field data error, raised by
  the shard (:func:`check_docvalue_fields`).

A field with no value is absent; a hit with no field at all has no ``fields`` section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, ParsingError
from isthmus.index.dates import format_date
from isthmus.index.field_types import DATE, KEYWORD, TEXT, FieldSpec
from isthmus.index.field_values import source_values
from isthmus.index.mapping import Mapping as IndexMapping

_FIELD_AND_FORMAT = ("field", "format", "include_unmapped")
# ES's ``index.max_docvalue_fields_search`` default.
DEFAULT_MAX_DOCVALUE_FIELDS = 100


@dataclass(frozen=True)
class FieldAndFormat:
    """One entry of ``fields`` or ``docvalue_fields``: a field pattern and its options."""

    field: str
    format: str | None = None
    include_unmapped: bool = False


def parse_field_list(section: str, raw: Any) -> tuple[FieldAndFormat, ...]:
    """``["a", {"field": "b*", "format": "epoch_millis"}]`` (ES's ``field_and_format`` entries)."""
    out = []
    for item in xcontent.as_list("search", section, raw):
        if isinstance(item, Mapping):
            for key in item:
                if key not in _FIELD_AND_FORMAT:
                    # ES's FieldAndFormat parser, read straight from the search body.
                    raise xcontent.unknown_field("fetch_field_and_format", key, _FIELD_AND_FORMAT)
            if "field" not in item:
                raise ParsingError(f"[{section}] Required [field]")
            fmt = item.get("format")
            out.append(
                FieldAndFormat(
                    xcontent.as_str("field_and_format", "field", item["field"]),
                    None if fmt is None else xcontent.as_str("field_and_format", "format", fmt),
                    xcontent.as_bool(
                        "field_and_format", "include_unmapped", item.get("include_unmapped", False)
                    ),
                )
            )
        else:
            out.append(FieldAndFormat(xcontent.as_str("search", section, item)))
    return tuple(out)


def parse_url_list(raw: str) -> tuple[FieldAndFormat, ...]:
    """The URL form: a comma-separated list of field patterns."""
    return tuple(FieldAndFormat(p.strip()) for p in raw.split(",") if p.strip())


def _format(spec: FieldSpec, value: Any, fmt: str | None) -> Any:
    if spec.type == DATE and isinstance(value, int):
        return format_date(value, fmt or spec.format)
    return value


def fetch_fields(
    source: Mapping[str, Any], mapping: IndexMapping, wanted: Sequence[FieldAndFormat]
) -> dict[str, list[Any]]:
    """The ``fields`` option's values for one document."""
    out: dict[str, list[Any]] = {}
    for entry in wanted:
        specs = mapping.resolve(entry.field)
        for spec in specs:
            if spec.path in out:
                continue
            values = [_format(spec, v, entry.format) for v in source_values(source, spec)]
            if values:
                out[spec.path] = values
        if not specs and entry.include_unmapped:
            raw = _unmapped(source, entry.field)
            if raw:
                out.setdefault(entry.field, raw)
    return out


def _unmapped(source: Mapping[str, Any], path: str) -> list[Any]:
    node: Any = source
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return []
        node = node[part]
    items = node if isinstance(node, list) else [node]
    return [v for v in items if v is not None and not isinstance(v, Mapping)]


def check_docvalue_fields(
    mapping: IndexMapping,
    wanted: Sequence[FieldAndFormat],
    index: str,
    max_fields: int = DEFAULT_MAX_DOCVALUE_FIELDS,
) -> None:
    """ES's errors for ``docvalue_fields``: more fields (wildcards expanded) than
    ``index.max_docvalue_fields_search``, or a ``text`` field (it has no doc values)."""
    named = {spec.path for entry in wanted for spec in mapping.resolve(entry.field)}
    if len(named) > max_fields:
        raise IllegalArgumentError(
            "Trying to retrieve too many docvalue_fields. Must be less than or equal to: "
            f"[{max_fields}] but was [{len(named)}]. This limit can be set by changing the "
            "[index.max_docvalue_fields_search] index level setting."
        )
    for entry in wanted:
        if "*" in entry.field:
            continue
        spec = mapping.field(entry.field)
        if spec is not None and spec.type == TEXT:
            raise IllegalArgumentError(
                f"Fielddata is disabled on [{spec.path}] in [{index}]. Text fields are not "
                "optimised for operations that require per-document field data like "
                "aggregations and sorting, so these operations are disabled by default. Please "
                "use a keyword field instead. Alternatively, set fielddata=true on "
                f"[{spec.path}] in order to load field data by uninverting the inverted index. "
                "Note that this can use significant memory."
            )


def docvalue_fields(
    source: Mapping[str, Any], mapping: IndexMapping, wanted: Sequence[FieldAndFormat]
) -> dict[str, list[Any]]:
    """The ``docvalue_fields`` values for one document (sorted; keywords deduplicated)."""
    out: dict[str, list[Any]] = {}
    for entry in wanted:
        for spec in mapping.resolve(entry.field):
            if spec.type == TEXT or spec.path in out:
                continue
            values = source_values(source, spec)
            # Keywords live in a sorted set, numbers and dates in a sorted list.
            values = sorted(set(values)) if spec.type == KEYWORD else sorted(values)
            if values:
                out[spec.path] = [_format(spec, v, entry.format) for v in values]
    return out


__all__ = [
    "FieldAndFormat",
    "check_docvalue_fields",
    "docvalue_fields",
    "fetch_fields",
    "parse_field_list",
    "parse_url_list",
]
