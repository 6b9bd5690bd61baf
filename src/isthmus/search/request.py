"""Search requests: body and URL parameters parsed into one frozen value.  [no I/O]

All validation of a ``_search`` request happens here, before any shard is touched, with
Elasticsearch's messages; the executor only reads the typed fields.

Here: which body keys exist and the token each may start with, :class:`SearchRequest` and
the parsing of a whole request. What the request asks of its hits (sort, ``_source``,
highlight, stored fields) is parsed in ``request_hits`` and re-exported here; the scalar
options in ``request_options``.
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
from isthmus.search.request_hits import FIELD_SORT_KEYS as FIELD_SORT_KEYS
from isthmus.search.request_hits import Highlight as Highlight
from isthmus.search.request_hits import SortField as SortField
from isthmus.search.request_hits import SourceFilter as SourceFilter
from isthmus.search.request_hits import _parse_highlight, _stored_fields
from isthmus.search.request_hits import parse_sort as parse_sort
from isthmus.search.request_hits import parse_source as parse_source
from isthmus.search.request_options import (
    _flag,
    _int,
    _pre_filter_shard_size,
    _terminate_after,
    _timeout_ms,
    _track_total_hits,
)
from isthmus.search.request_options import parse_indices_boost as parse_indices_boost
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
# ``dfs_query_then_fetch``: shards score with global term statistics (actions.search_dfs).
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
    # The body and URL parameters it was parsed from: what a node searching some of its shards
    # for another node of the cluster parses again (see actions/node_shards.py).
    wire: tuple[Mapping[str, Any], Mapping[str, str]] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def sorts_by_score_only(self) -> bool:
        return not self.sort or (
            len(self.sort) == 1 and self.sort[0].field == "_score" and self.sort[0].descending
        )


def parse_search(body: Mapping[str, Any] | None, params: Mapping[str, str]) -> SearchRequest:
    """Merge URL parameters over the body (ES: URL ``size``/``from``/``sort`` win)."""
    body = dict(body or {})
    for key, value in body.items():
        token = xcontent.token(value)
        allowed = _TOKENS.get(key)
        kind = _SCALAR if token.startswith("VALUE_") and token != "VALUE_NULL" else token
        if key not in BODY_KEYS or (allowed is not None and kind not in allowed):
            raise xcontent.at(
                ParsingError(f"Unknown key for a {token} in [{key}]."),
                key,
                rooted=True,
                at_value=True,
            )
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
        wire=(body, {str(k): str(v) for k, v in params.items()}),
    )


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
