"""Search requests: body and URL parameters parsed into one frozen value.  [no I/O]

All validation of a ``_search`` request happens here, before any shard is touched, with
Elasticsearch's messages; the executor only reads the typed fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from isthmus import xcontent
from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    ParsingError,
    SearchContextError,
)
from isthmus.search import dsl
from isthmus.search.collapse import Collapse, parse_collapse
from isthmus.search.fetch_fields import FieldAndFormat, parse_field_list, parse_url_list
from isthmus.search.geo_queries import GeoDistanceSort, parse_geo_distance_sort
from isthmus.search.rescore import QueryRescorer, parse_rescore
from isthmus.search.suggest import Suggestion, parse_suggest

BODY_KEYS = {
    "query",
    "from",
    "size",
    "sort",
    "_source",
    "aggs",
    "aggregations",
    "highlight",
    "track_total_hits",
    "search_after",
    "post_filter",
    "min_score",
    "timeout",
    "terminate_after",
    "track_scores",
    "version",
    "seq_no_primary_term",
    "stored_fields",
    "docvalue_fields",
    "fields",
    "explain",
    "pit",
    "runtime_mappings",
    "collapse",
    "rescore",
    "suggest",
    "indices_boost",
    "profile",
    "stats",
    "script_fields",
    "ext",
    "slice",
    "knn",
    "retriever",
}
# Known to ES but not implemented here: answered with a clear 400, never silently ignored.
UNSUPPORTED_BODY_KEYS = {
    "pit",
    "runtime_mappings",
    "script_fields",
    "ext",
    "slice",
    "retriever",
}
SUPPORTED_BODY_KEYS = BODY_KEYS - UNSUPPORTED_BODY_KEYS
# ES's search types (``query_and_fetch`` and ``dfs_query_and_fetch`` are long gone).
# ``dfs_query_then_fetch`` is accepted; shards score with their own term statistics.
SEARCH_TYPES = ("query_then_fetch", "dfs_query_then_fetch")

# Which JSON token each key may start with. ES's search source parser dispatches on the token
# first: a key given with any other token is "Unknown key for a <TOKEN> in [<key>]." (so is
# null, which is no value token).
_SCALAR = "scalar"
_TOKENS: dict[str, frozenset[str]] = {
    "from": frozenset({_SCALAR}),
    "size": frozenset({_SCALAR}),
    "timeout": frozenset({_SCALAR}),
    "terminate_after": frozenset({_SCALAR}),
    "min_score": frozenset({_SCALAR}),
    "version": frozenset({_SCALAR}),
    "seq_no_primary_term": frozenset({_SCALAR}),
    "explain": frozenset({_SCALAR}),
    "track_scores": frozenset({_SCALAR}),
    "track_total_hits": frozenset({_SCALAR}),
    "profile": frozenset({_SCALAR}),
    "_source": frozenset({_SCALAR, "START_OBJECT", "START_ARRAY"}),
    "sort": frozenset({_SCALAR, "START_OBJECT", "START_ARRAY"}),
    "stored_fields": frozenset({_SCALAR, "START_ARRAY"}),
    "query": frozenset({"START_OBJECT"}),
    "post_filter": frozenset({"START_OBJECT"}),
    "aggs": frozenset({"START_OBJECT"}),
    "aggregations": frozenset({"START_OBJECT"}),
    "highlight": frozenset({"START_OBJECT"}),
    "docvalue_fields": frozenset({"START_ARRAY"}),
    "fields": frozenset({"START_ARRAY"}),
    "search_after": frozenset({"START_ARRAY"}),
    "stats": frozenset({"START_ARRAY"}),
    # ES 8 reads only the array form (the object form needs REST API compatibility with 7,
    # which the search handler turns into the array form).
    "indices_boost": frozenset({"START_ARRAY"}),
    "collapse": frozenset({"START_OBJECT"}),
    "rescore": frozenset({"START_OBJECT", "START_ARRAY"}),
}

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


@dataclass(frozen=True)
class SearchRequest:
    query: dsl.Query = field(default_factory=dsl.MatchAll)
    post_filter: dsl.Query | None = None
    from_: int = 0
    size: int = 10
    sort: tuple[SortField, ...] = ()
    search_after: tuple[Any, ...] | None = None
    source: SourceFilter = field(default_factory=SourceFilter)
    track_total_hits: bool | int = 10000
    aggs: Mapping[str, Any] | None = None
    highlight: Highlight | None = None
    min_score: float | None = None
    track_scores: bool = False
    version: bool = False
    seq_no_primary_term: bool = False
    explain: bool = False
    timeout_ms: int | None = None
    terminate_after: int | None = None
    fields: tuple[FieldAndFormat, ...] = ()
    docvalue_fields: tuple[FieldAndFormat, ...] = ()
    # None: not asked; () with ``stored_fields_none``: ``_none_`` (no _id, no _source).
    stored_fields: tuple[str, ...] | None = None
    stored_fields_none: bool = False
    rest_total_hits_as_int: bool = False
    typed_keys: bool = False
    search_type: str = "query_then_fetch"
    # (index, alias or pattern; boost) in request order: the first entry naming an index wins.
    indices_boost: tuple[tuple[str, float], ...] = ()
    collapse: Collapse | None = None
    rescore: tuple[QueryRescorer, ...] = ()
    # Searches over more shards than this first skip the shards that cannot match (None: no
    # pre-filter, ES's default when the parameter is not given).
    pre_filter_shard_size: int | None = None
    include_named_scores: bool = False  # ``include_named_queries_score``
    suggest: tuple[Suggestion, ...] = ()

    @property
    def sorts_by_score_only(self) -> bool:
        return not self.sort or (
            len(self.sort) == 1 and self.sort[0].field == "_score" and self.sort[0].descending
        )


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ParsingError(f"[{name}] failed to parse field [{name}]")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise IllegalArgumentError(
            f"Failed to parse int parameter [{name}] with value [{value}]"
        ) from None
    if not xcontent.INT_MIN <= number <= xcontent.INT_MAX:
        # ES reads these as Java ints.
        raise IllegalArgumentError(f"Numeric value ({value}) out of range of int")
    return number


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
                        raise xcontent.unknown_field("field_sort", key, FIELD_SORT_KEYS)
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
                raise xcontent.unknown_field("highlight_field", key, _HIGHLIGHT_FIELD_OPTIONS)
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
                raise xcontent.unknown_field("highlight", key, _HIGHLIGHT_FIELDS)
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


def _track_total_hits(raw: Any) -> bool | int:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw in ("true", "false"):
        return raw == "true"
    value = _int("track_total_hits", raw)
    if value < -1:
        raise IllegalArgumentError(
            f"[track_total_hits] parameter must be positive or equals to -1, got {value}"
        )
    return value


def _timeout_ms(raw: Any) -> int | None:
    if raw is None:
        return None
    from isthmus.settings.values import parse_time

    try:
        return parse_time(raw).millis
    except ValueError:
        raise ParsingError(
            f"failed to parse setting [timeout] with value [{raw}] as a time value"
        ) from None


def parse_search(body: Mapping[str, Any] | None, params: Mapping[str, str]) -> SearchRequest:
    """Merge URL parameters over the body (ES: URL ``size``/``from``/``sort`` win)."""
    body = dict(body or {})
    for key, value in body.items():
        token = xcontent.token(value)
        allowed = _TOKENS.get(key)
        kind = _SCALAR if token.startswith("VALUE_") and token != "VALUE_NULL" else token
        if key not in BODY_KEYS or (allowed is not None and kind not in allowed):
            raise ParsingError(f"Unknown key for a {token} in [{key}].")
        if key not in SUPPORTED_BODY_KEYS:
            raise IllegalArgumentError(f"[{key}] is not supported by Isthmus yet")
    query = dsl.parse_query(body["query"]) if "query" in body else dsl.MatchAll()
    if "q" in params:
        qs: dict[str, Any] = {"query": params["q"]}
        if "df" in params:
            qs["default_field"] = params["df"]
        if "default_operator" in params:
            qs["default_operator"] = params["default_operator"]
        if "lenient" in params:
            qs["lenient"] = params["lenient"] == "true"
        query = dsl.parse_query({"query_string": qs})
    from_ = _int("from", params.get("from", body.get("from", 0)))
    size = _int("size", params.get("size", body.get("size", 10)))
    if from_ < 0:
        raise IllegalArgumentError(f"[from] parameter cannot be negative but was [{from_}]")
    if size < 0:
        raise IllegalArgumentError(f"[size] parameter cannot be negative, found [{size}]")
    if "knn" in body:
        from isthmus.search.knn import with_knn

        given = "query" in body or "q" in params
        query = with_knn(query if given else None, body["knn"], size)
    sort: tuple[SortField, ...] = ()
    if "sort" in params:
        sort = parse_sort([s for s in params["sort"].split(",") if s])
    elif "sort" in body:
        sort = parse_sort(body["sort"])
    source_raw: Any = body.get("_source")
    if "_source" in params:
        source_raw = params["_source"]
    source = parse_source(source_raw)
    if "_source_includes" in params or "_source_excludes" in params:
        source = SourceFilter(
            includes=tuple(p for p in params.get("_source_includes", "").split(",") if p),
            excludes=tuple(p for p in params.get("_source_excludes", "").split(",") if p),
        )
    tth: bool | int = 10000
    if "track_total_hits" in params:
        tth = _track_total_hits(params["track_total_hits"])
    elif "track_total_hits" in body:
        tth = _track_total_hits(body["track_total_hits"])
    if tth == -1:
        tth = True
    as_int = params.get("rest_total_hits_as_int") == "true"
    if as_int:
        # A total shown as a bare number must be exact (or absent): ES counts every hit when
        # the request says nothing, and refuses a bounded count.
        if "track_total_hits" not in params and "track_total_hits" not in body:
            tth = True
        elif tth is not True and tth is not False:
            raise IllegalArgumentError(
                "[rest_total_hits_as_int] cannot be used if the tracking of total hits is not "
                f"accurate, got {tth}"
            )
    search_type = params.get("search_type", "query_then_fetch")
    if search_type not in SEARCH_TYPES:
        raise IllegalArgumentError(f"No search type for [{search_type}]")
    aggs = body.get("aggs", body.get("aggregations"))
    if aggs is not None and not isinstance(aggs, Mapping):
        raise ParsingError("Expected [START_OBJECT] under [aggregations], but got a [VALUE_STRING]")
    search_after = body.get("search_after")
    if search_after is not None:
        if not isinstance(search_after, list):
            raise ParsingError("[search_after] must be an array")
        if not sort:
            raise IllegalArgumentError("Sort must contain at least one field.")
        if len(search_after) != len(sort):
            raise IllegalArgumentError(
                f"search_after has {len(search_after)} value(s) but sort has {len(sort)}."
            )
        if from_ > 0:
            raise IllegalArgumentError(
                "[from] parameter must be set to 0 when [search_after] is used."
            )
    fields = parse_field_list("fields", body["fields"]) if "fields" in body else ()
    collapse = parse_collapse(body["collapse"]) if "collapse" in body else None
    if (
        collapse is not None
        and search_after is not None
        and (len(sort) != 1 or sort[0].field != collapse.field)
    ):
        raise SearchContextError(
            "collapse field and sort field must be the same when use `collapse` in "
            "conjunction with `search_after`"
        )
    rescore = parse_rescore(body["rescore"]) if "rescore" in body else ()
    if "scroll" in params:
        # ES's SearchRequest.validate for a scroll, every problem in its order, numbered.
        problems = []
        if ("track_total_hits" in params or "track_total_hits" in body) and tth is not True:
            problems.append("disabling [track_total_hits] is not allowed in a scroll context")
        if from_ > 0:
            problems.append("using [from] is not allowed in a scroll context")
        if size == 0:
            problems.append("[size] cannot be [0] in a scroll context")
        if rescore:
            problems.append("using [rescore] is not allowed in a scroll context")
        if search_after:
            problems.append("[search_after] cannot be used in a scroll context")
        if collapse is not None:
            problems.append("cannot use `collapse` in a scroll context")
        if params.get("request_cache") == "true":
            problems.append("[request_cache] cannot be used in a scroll context")
        if problems:
            numbered = "".join(f"{n}: {p};" for n, p in enumerate(problems, 1))
            raise ActionRequestValidationError(f"Validation Failed: {numbered}")
    if rescore and collapse is not None:
        raise SearchContextError("cannot use `collapse` in conjunction with `rescore`")
    docvalues = (
        parse_url_list(params["docvalue_fields"])
        if "docvalue_fields" in params
        else parse_field_list("docvalue_fields", body.get("docvalue_fields", []))
    )
    stored, stored_none = _stored_fields(params.get("stored_fields", body.get("stored_fields")))
    source_asked = source_raw is not None or "_source_includes" in params
    if stored_none:
        if source_asked and source.enabled:
            raise ActionRequestValidationError(
                "Validation Failed: 1: [stored_fields] cannot be disabled if [_source] is "
                "requested;"
            )
        if fields:
            raise ActionRequestValidationError(
                "Validation Failed: 1: [stored_fields] cannot be disabled when using the "
                "[fields] option;"
            )
    if stored is not None and not source_asked:
        # Naming stored fields replaces the default _source (ES fetches it only when asked).
        source = SourceFilter(enabled=False)
    return SearchRequest(
        query=query,
        post_filter=dsl.parse_query(body["post_filter"]) if "post_filter" in body else None,
        from_=from_,
        size=size,
        sort=sort,
        search_after=tuple(search_after) if search_after is not None else None,
        source=source,
        track_total_hits=tth,
        aggs=aggs,
        highlight=_parse_highlight(body["highlight"]) if "highlight" in body else None,
        min_score=xcontent.as_float("search", "min_score", body["min_score"])
        if "min_score" in body
        else None,
        track_scores=_flag(body, params, "track_scores"),
        version=_flag(body, params, "version"),
        seq_no_primary_term=_flag(body, params, "seq_no_primary_term"),
        explain=_flag(body, params, "explain"),
        timeout_ms=_timeout_ms(params.get("timeout", body.get("timeout"))),
        terminate_after=_terminate_after(body, params),
        fields=fields,
        docvalue_fields=docvalues,
        stored_fields=stored,
        stored_fields_none=stored_none,
        rest_total_hits_as_int=as_int,
        search_type=search_type,
        indices_boost=parse_indices_boost(body.get("indices_boost", [])),
        collapse=collapse,
        rescore=rescore,
        pre_filter_shard_size=_pre_filter_shard_size(params),
        include_named_scores=params.get("include_named_queries_score") == "true",
        suggest=parse_suggest(body["suggest"]) if "suggest" in body else (),
        typed_keys=params.get("typed_keys") == "true",
    )


def parse_indices_boost(raw: list[Any]) -> tuple[tuple[str, float], ...]:
    """``[{"index": boost}, ...]``: one index, alias or pattern per object, ES's token errors."""
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ParsingError(
                f"Expected [START_OBJECT] in [indices_boost] but found [{xcontent.token(item)}]"
            )
        if not item:
            raise ParsingError("Expected [FIELD_NAME] in [indices_boost] but found [END_OBJECT]")
        name, boost = next(iter(item.items()))
        if isinstance(boost, bool) or not isinstance(boost, int | float):
            raise ParsingError(
                f"Expected [VALUE_NUMBER] in [indices_boost] but found [{xcontent.token(boost)}]"
            )
        if len(item) > 1:
            raise ParsingError("Expected [END_OBJECT] in [indices_boost] but found [FIELD_NAME]")
        out.append((name, float(boost)))
    return tuple(out)


def _pre_filter_shard_size(params: Mapping[str, str]) -> int | None:
    raw = params.get("pre_filter_shard_size")
    if raw is None:
        return None
    value = _int("pre_filter_shard_size", raw)
    if value < 1:
        raise IllegalArgumentError("preFilterShardSize must be >= 1")
    return value


def _terminate_after(body: Mapping[str, Any], params: Mapping[str, str]) -> int | None:
    """``terminate_after`` (URL parameter over body): the documents each shard collects at most;
    0 means no limit (ES's default), a negative count is refused."""
    raw = params.get("terminate_after", body.get("terminate_after"))
    if raw is None:
        return None
    value = _int("terminate_after", raw)
    if value < 0:
        raise IllegalArgumentError("terminateAfter must be > 0")
    return value or None


def _flag(body: Mapping[str, Any], params: Mapping[str, str], name: str) -> bool:
    if name in body:
        return xcontent.as_bool("search", name, body[name])
    return params.get(name) == "true"


def _stored_fields(raw: Any) -> tuple[tuple[str, ...] | None, bool]:
    """``stored_fields``: a name or a list (URL: comma-separated); ``_none_`` alone disables
    stored and metadata fields."""
    if raw is None:
        return None, False
    if isinstance(raw, str):
        names = tuple(p.strip() for p in raw.split(",") if p.strip())
    else:
        names = tuple(
            xcontent.as_str("search", "stored_fields", n)
            for n in xcontent.as_list("search", "stored_fields", raw)
        )
    if "_none_" in names:
        if len(names) > 1:
            raise IllegalArgumentError("cannot combine _none_ with other fields")
        return (), True
    return names, False


def query_of(body: Mapping[str, Any] | None, params: Mapping[str, str]) -> dsl.Query | None:
    """The query of an ``_explain`` or ``_validate/query`` request: the body's ``query``, or
    the ``q`` parameter (query string syntax); None when neither is given."""
    if "q" in params:
        qs: dict[str, Any] = {"query": params["q"]}
        for key in ("df", "default_operator"):
            if key in params:
                qs["default_field" if key == "df" else key] = params[key]
        if "lenient" in params:
            qs["lenient"] = params["lenient"] == "true"
        return dsl.parse_query({"query_string": qs})
    if body and "query" in body:
        return dsl.parse_query(body["query"])
    return None
