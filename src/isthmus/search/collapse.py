"""Field collapsing: one hit per value of a field, with optional ``inner_hits`` per group.  [no I/O]

``"collapse": {"field": "user.id", "inner_hits": {"name": "recent", "size": 2, "sort": ...}}``
keeps, in the request's order, the best hit of each value of a ``keyword`` or numeric field (hits
without a value form one group of their own); each kept hit shows the value as
``fields.<field>: [value]``. The total still counts every matching document, as in ES. Each
``inner_hits`` entry lists the group's own hits (its ``from``/``size``/``sort``/``_source``).

Groups are formed at the coordinator from every match of every shard (the shards collect all
their matches when the request collapses), so paging and inner hits see whole groups; across
clusters each cluster collapses its own hits and the merge keeps the first hit of each value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, IllegalStateError, XContentParseError
from isthmus.index.field_types import FLOAT_TYPES, INTEGER_TYPES, KEYWORD
from isthmus.index.field_values import source_values
from isthmus.index.mapping import Mapping as IndexMapping

_COLLAPSE_KEYS = ("field", "inner_hits", "max_concurrent_group_searches", "collapse")
_INNER_KEYS = ("name", "from", "size", "sort", "_source", "version", "seq_no_primary_term")
# Every field ES's inner_hits parser declares: its "did you mean" candidates.
_ES_INNER_KEYS = (
    *_INNER_KEYS, "ignore_unmapped", "explain", "track_scores", "stored_fields",
    "docvalue_fields", "fields", "script_fields", "highlight", "collapse",
)  # fmt: skip


@dataclass(frozen=True)
class InnerHits:
    name: str
    from_: int = 0
    size: int = 3  # ES's default for inner hits
    sort: Any = None  # raw sort spec, parsed by request.parse_sort
    source: Any = None  # raw _source spec, parsed by request.parse_source
    version: bool = False
    seq_no_primary_term: bool = False


@dataclass(frozen=True)
class Collapse:
    field: str
    inner_hits: tuple[InnerHits, ...] = ()


def parse_collapse(raw: Any) -> Collapse:
    spec = xcontent.as_object("search", "collapse", raw)
    for key in spec:
        if key not in _COLLAPSE_KEYS:
            raise xcontent.unknown_field("collapse", key, _COLLAPSE_KEYS, parent="collapse")
    if "collapse" in spec:
        raise IllegalArgumentError("[collapse] a second level of collapsing is not supported")
    if spec.get("field") is None:
        raise XContentParseError("[collapse] Required [field]")
    name = xcontent.as_str("collapse", "field", spec["field"])
    if "max_concurrent_group_searches" in spec:
        limit = xcontent.as_int(
            "collapse", "max_concurrent_group_searches", spec["max_concurrent_group_searches"]
        )
        if limit <= 0:
            raise XContentParseError(
                "[collapse] failed to parse field [max_concurrent_group_searches]",
                caused_by=IllegalArgumentError("maxConcurrentGroupRequests` must be positive"),
            )
    raw_inner = spec.get("inner_hits")
    entries = [] if raw_inner is None else raw_inner if isinstance(raw_inner, list) else [raw_inner]
    try:
        inner = tuple(_inner_hits(name, item) for item in entries)
    except XContentParseError as exc:
        # ES's collapse parser wraps what its inner_hits field parser refused.
        raise XContentParseError(
            "[collapse] failed to parse field [inner_hits]", caused_by=exc
        ) from None
    names = [i.name for i in inner]
    for n in names:
        if names.count(n) > 1:
            raise IllegalArgumentError(f"[inner_hits] already contains an entry for key [{n}]")
    return Collapse(name, inner)


def _inner_hits(field_name: str, raw: Any) -> InnerHits:
    spec = xcontent.as_object("collapse", "inner_hits", raw)
    for key in spec:
        if key not in _INNER_KEYS:
            raise xcontent.unknown_field("inner_hits", key, _ES_INNER_KEYS, parent="inner_hits")
    from_ = xcontent.as_int("inner_hits", "from", spec.get("from", 0))
    size = xcontent.as_int("inner_hits", "size", spec.get("size", 3))
    if from_ < 0 or size < 0:
        raise IllegalArgumentError("[inner_hits] from and size must be positive")
    return InnerHits(
        name=xcontent.as_str("inner_hits", "name", spec.get("name", field_name)),
        from_=from_,
        size=size,
        sort=spec.get("sort"),
        source=spec.get("_source"),
        version=xcontent.as_bool("inner_hits", "version", spec.get("version", False)),
        seq_no_primary_term=xcontent.as_bool(
            "inner_hits", "seq_no_primary_term", spec.get("seq_no_primary_term", False)
        ),
    )


def check_collapse_field(collapse: Collapse, mapping: IndexMapping) -> None:
    """ES's shard errors for a field that cannot be collapsed on."""
    spec = mapping.field(collapse.field)
    if spec is None:
        raise IllegalArgumentError(
            f"no mapping found for `{collapse.field}` in order to collapse on"
        )
    if spec.type != KEYWORD and spec.type not in INTEGER_TYPES and spec.type not in FLOAT_TYPES:
        raise IllegalArgumentError(
            f"unknown type for collapse field `{collapse.field}`, only keywords and numbers are "
            "accepted"
        )


def group_key(
    source: Mapping[str, Any], collapse: Collapse, mapping: IndexMapping, doc: int
) -> Any:
    """The value a document collapses by (None: it has none); a multi-valued field is ES's
    illegal state."""
    spec = mapping.field(collapse.field)
    values = [] if spec is None else source_values(source, spec)
    if len(values) > 1:
        raise IllegalStateError(
            f"failed to collapse {doc}, the collapse field must be single valued"
        )
    return values[0] if values else None


def collapse_ranked(keys: Sequence[Any]) -> tuple[list[int], dict[int, list[int]]]:
    """Positions of the first hit of each key in a ranked list, and for each such position the
    positions of its group's hits (best first)."""
    first: dict[Any, int] = {}
    groups: dict[int, list[int]] = {}
    for pos, key in enumerate(keys):
        marker = ("value", key) if key is not None else ("missing",)
        head = first.setdefault(marker, pos)
        groups.setdefault(head, []).append(pos)
    return sorted(first.values()), groups


def dedupe_rendered(hits: list[dict[str, Any]], field_name: str) -> list[dict[str, Any]]:
    """Rendered hits (several clusters' answers, ranked together) with the first hit of each
    collapse value kept."""
    seen: set[Any] = set()
    out = []
    for hit in hits:
        values = (hit.get("fields") or {}).get(field_name) or [None]
        key = repr(values[0])
        if key in seen:
            continue
        seen.add(key)
        out.append(hit)
    return out


__all__ = [
    "Collapse",
    "InnerHits",
    "check_collapse_field",
    "collapse_ranked",
    "dedupe_rendered",
    "group_key",
    "parse_collapse",
]
