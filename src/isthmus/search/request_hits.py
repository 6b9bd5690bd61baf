"""What a search request asks of its hits: their order (``sort``), their ``_source``, their
highlighting and their ``stored_fields``, parsed with Elasticsearch's messages.  [no I/O]

``search.request`` builds its :class:`~isthmus.search.request.SearchRequest` from these and
re-exports them; other requests that take a ``sort`` or a ``_source`` (top_hits, collapse's
inner hits, get, explain) parse them here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, ParsingError
from isthmus.search.geo_queries import GeoDistanceSort, parse_geo_distance_sort

# The keys of a field sort (ES's FieldSortBuilder), also the candidates of its "did you mean".
FIELD_SORT_KEYS = ("order", "missing", "unmapped_type", "mode", "numeric_type", "format")


@dataclass(frozen=True)
class SortField:
    field: str  # "_score", "_doc", or a field path
    order: str = "asc"
    missing: Any = None  # None → "_last"
    unmapped_type: str | None = None
    geo: GeoDistanceSort | None = None  # a _geo_distance sort on ``field`` (search.geo_queries)

    @property
    def descending(self) -> bool:
        return self.order == "desc"


@dataclass(frozen=True)
class SourceFilter:
    enabled: bool = True
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Highlight:
    fields: dict[str, dict[str, Any]]
    pre_tags: tuple[str, ...] = ("<em>",)
    post_tags: tuple[str, ...] = ("</em>",)
    fragment_size: int = 100
    number_of_fragments: int = 5
    require_field_match: bool = True


def parse_sort(raw: Any) -> tuple[SortField, ...]:
    if not isinstance(raw, list | str | Mapping):
        raise ParsingError(
            "malformed sort format, either start with array, object, or an actual string"
        )
    items = raw if isinstance(raw, list) else [raw]
    out = []
    expanded: list[Any] = []
    for item in items:
        # {"a": "asc", "b": "desc"} is two sort keys, in order.
        if isinstance(item, Mapping) and len(item) > 1:
            expanded.extend({k: v} for k, v in item.items())
        else:
            expanded.append(item)
    for item in expanded:
        if isinstance(item, str):
            name, _, order = item.partition(":")
            default = "desc" if name == "_score" else "asc"
            out.append(SortField(name, (order or default).lower()))
        elif isinstance(item, Mapping) and len(item) == 1:
            ((name, spec),) = item.items()
            if name == "_geo_distance":
                geo_field, geo_order, geo = parse_geo_distance_sort(spec)
                out.append(SortField(geo_field, geo_order, geo=geo))
                continue
            default = "desc" if name == "_score" else "asc"
            if isinstance(spec, str):
                out.append(SortField(name, spec.lower()))
            elif isinstance(spec, Mapping):
                unmapped = spec.get("unmapped_type")
                for key in spec:
                    if key not in FIELD_SORT_KEYS:
                        # ES's field_sort object parser (its type errors are x-content's too).
                        raise xcontent.at(
                            xcontent.unknown_field("field_sort", key, FIELD_SORT_KEYS),
                            "sort",
                            "*",
                            key,
                        )
                out.append(
                    SortField(
                        name,
                        xcontent.as_str("field_sort", "order", spec.get("order", default)).lower(),
                        _sort_missing(spec.get("missing")),
                        None
                        if unmapped is None
                        else xcontent.as_str("field_sort", "unmapped_type", unmapped),
                    )
                )
            else:
                raise ParsingError(f"[sort] failed to parse field [{name}]")
        else:
            raise ParsingError(
                "malformed sort format, within the sort array, an object, or an "
                "actual string are allowed"
            )
    for s in out:
        if s.order not in ("asc", "desc"):
            raise IllegalArgumentError(f"Unknown SortOrder [{s.order}]")
    return tuple(out)


def _sort_missing(value: Any) -> Any:
    if isinstance(value, Mapping | list):
        raise xcontent.wrong_type("field_sort", "missing", value)
    return value


def _patterns(field: str, value: Any) -> tuple[str, ...]:
    return tuple(
        xcontent.as_str("_source", field, p) for p in xcontent.as_list("_source", field, value)
    )


def parse_source(raw: Any) -> SourceFilter:
    if raw is None:
        return SourceFilter()
    if isinstance(raw, bool):
        return SourceFilter(enabled=raw)
    if isinstance(raw, str):
        if raw in ("true", "false"):
            return SourceFilter(enabled=raw == "true")
        return SourceFilter(includes=tuple(p.strip() for p in raw.split(",") if p.strip()))
    if isinstance(raw, list):
        return SourceFilter(includes=_patterns("includes", raw))
    if isinstance(raw, Mapping):
        for key in raw:
            if key not in ("includes", "include", "excludes", "exclude"):
                raise ParsingError(f"Unknown key for a {xcontent.token(raw[key])} in [{key}].")
        inc = raw.get("includes", raw.get("include", []))
        exc = raw.get("excludes", raw.get("exclude", []))
        return SourceFilter(
            includes=_patterns("includes", inc), excludes=_patterns("excludes", exc)
        )
    raise ParsingError("[_source] unsupported value")


def _highlight_fields(raw: Any) -> dict[str, dict[str, Any]]:
    """``fields`` as an object (name → options) or, as ES also accepts, an array of one-key
    objects (which keeps their order)."""
    items: list[tuple[str, Any]] = []
    if isinstance(raw, Mapping):
        items = list(raw.items())
    elif isinstance(raw, list):
        for item in raw:
            if not isinstance(item, Mapping) or len(item) != 1:
                raise ParsingError(
                    "If highlighter fields is an array it must contain objects containing a "
                    "single field"
                )
            items.extend(item.items())
    else:
        raise xcontent.wrong_type("highlight", "fields", raw)
    fields: dict[str, dict[str, Any]] = {}
    for name, opts in items:
        opts = {} if opts is None else dict(xcontent.as_object("highlight_field", name, opts))
        for key in opts:
            if key not in _HIGHLIGHT_FIELD_OPTIONS:
                raise xcontent.at(
                    xcontent.unknown_field("highlight_field", key, _HIGHLIGHT_FIELD_OPTIONS),
                    "fields",
                    "*",
                    key,
                )
        for key in ("fragment_size", "number_of_fragments"):
            if key in opts:
                opts[key] = xcontent.as_int("highlight_field", key, opts[key])
        fields[name] = opts
    return fields


# Every field ES's highlight parsers declare (options Isthmus does not apply are accepted and
# ignored, as before): an unknown one is refused with its "did you mean". Both the request's
# highlight and each field's options take the common options; then ``fields``, and per field
# ``fragment_offset`` and ``matched_fields``.
_HIGHLIGHT_COMMON = (
    "pre_tags", "post_tags", "order", "highlight_filter", "fragment_size",
    "number_of_fragments", "encoder", "tags_schema", "require_field_match", "boundary_scanner",
    "boundary_max_scan", "boundary_chars", "boundary_scanner_locale", "type", "fragmenter",
    "no_match_size", "force_source", "phrase_limit", "max_analyzed_offset", "options",
    "highlight_query",
)  # fmt: skip
_HIGHLIGHT_FIELDS = ("fields", *_HIGHLIGHT_COMMON)
_HIGHLIGHT_FIELD_OPTIONS = (*_HIGHLIGHT_COMMON, "fragment_offset", "matched_fields")


def _parse_highlight(raw: Any) -> Highlight:
    if isinstance(raw, Mapping):
        for key in raw:
            if key not in _HIGHLIGHT_FIELDS:
                raise xcontent.unknown_field(
                    "highlight", key, _HIGHLIGHT_FIELDS, parent="highlight"
                )
    if not isinstance(raw, Mapping) or "fields" not in raw:
        raise ParsingError("[highlight] requires a [fields] object")
    fields = _highlight_fields(raw["fields"])
    pre = xcontent.as_list("highlight", "pre_tags", raw.get("pre_tags") or ["<em>"])
    post = xcontent.as_list("highlight", "post_tags", raw.get("post_tags") or ["</em>"])
    return Highlight(
        fields=fields,
        pre_tags=tuple(xcontent.as_str("highlight", "pre_tags", t) for t in pre),
        post_tags=tuple(xcontent.as_str("highlight", "post_tags", t) for t in post),
        fragment_size=xcontent.as_int("highlight", "fragment_size", raw.get("fragment_size", 100)),
        number_of_fragments=xcontent.as_int(
            "highlight", "number_of_fragments", raw.get("number_of_fragments", 5)
        ),
        require_field_match=xcontent.as_bool(
            "highlight", "require_field_match", raw.get("require_field_match", True)
        ),
    )


def _stored_fields(raw: Any) -> tuple[tuple[str, ...] | None, bool]:
    """``stored_fields``: a name or a list (URL: comma-separated); ``_none_`` alone disables
    stored and metadata fields."""
    if raw is None:
        return None, False
    if isinstance(raw, str):
        names = tuple(p.strip() for p in raw.split(",") if p.strip())
    else:
        if not isinstance(raw, list):  # StoredFieldsContext.fromXContent takes these two only
            raise ParsingError(
                "Expected [VALUE_STRING] or [START_ARRAY] in [stored_fields] but found "
                f"[{xcontent.token(raw)}]"
            )
        names = tuple(
            xcontent.as_str("search", "stored_fields", n)
            for n in xcontent.as_list("search", "stored_fields", raw)
        )
    if "_none_" in names:
        if len(names) > 1:
            raise IllegalArgumentError("cannot combine _none_ with other fields")
        return (), True
    return names, False
