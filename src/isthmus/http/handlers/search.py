"""Search APIs: ``_search``, ``_count``, ``_search/scroll``.

With security on, the subject's document- and field-level security for the indices the guard
left in the expression is computed here, once per request, and handed to the action; a scroll
keeps the restrictions of the search that opened it.
"""

from __future__ import annotations

from typing import Any

from isthmus.cluster.resolve import split_expression
from isthmus.http.handlers.common import COMMON_INDICES_PARAMS, json_object
from isthmus.http.router import Request, Response, Route, route
from isthmus.security.field_level import IndexRestrictions, index_restrictions
from isthmus.services import Services

SEARCH_ACTION = "indices:data/read/search"

SEARCH_PARAMS = (
    "q",
    "df",
    "default_operator",
    "analyzer",
    "analyze_wildcard",
    "lenient",
    "from",
    "size",
    "sort",
    "_source",
    "_source_includes",
    "_source_excludes",
    "track_total_hits",
    "scroll",
    "search_type",
    "rest_total_hits_as_int",
    "typed_keys",
    "allow_partial_search_results",
    "request_cache",
    "preference",
    "routing",
    "timeout",
    "ccs_minimize_roundtrips",
    "batched_reduce_size",
    "pre_filter_shard_size",
    "max_concurrent_shard_requests",
    "explain",
    "version",
    "seq_no_primary_term",
    "stored_fields",
    "docvalue_fields",
    "terminate_after",
    "track_scores",
    "stats",
    "suggest_field",
    "suggest_mode",
    "suggest_size",
    "suggest_text",
    "include_named_queries_score",
    "force_synthetic_source",
    *COMMON_INDICES_PARAMS,
)
COUNT_PARAMS = (
    "q",
    "df",
    "default_operator",
    "analyzer",
    "analyze_wildcard",
    "lenient",
    "min_score",
    "preference",
    "routing",
    "terminate_after",
    *COMMON_INDICES_PARAMS,
)


def routes(s: Services) -> list[Route]:
    def restrictions(req: Request) -> IndexRestrictions | None:
        if s.guard is None:
            return None
        return index_restrictions(
            s.guard.authorizer,
            req.subject,
            SEARCH_ACTION,
            split_expression(req.path_params.get("index")),
            s.cluster.state,
        )

    async def search(req: Request) -> dict[str, Any]:
        return await s.ccs.run(
            req.path_params.get("index"),
            json_object(req),
            req.params,
            req.subject,
            restrictions(req),
        )

    async def count(req: Request) -> dict[str, Any]:
        return await s.search.count(
            req.path_params.get("index"), json_object(req), req.params, restrictions(req)
        )

    async def scroll(req: Request) -> dict[str, Any]:
        body = json_object(req) or {}
        scroll_id = (
            req.path_params.get("scroll_id") or body.get("scroll_id") or req.params.get("scroll_id")
        )
        keep = body.get("scroll") or req.params.get("scroll")
        return await s.search.scroll(
            scroll_id, keep, req.params.get("rest_total_hits_as_int") == "true"
        )

    async def clear_scroll(req: Request) -> Response:
        body = json_object(req) or {}
        ids = req.path_params.get("scroll_id") or body.get("scroll_id") or []
        if isinstance(ids, str):
            ids = [p for p in ids.split(",") if p]
        result = s.search.clear_scroll(list(ids))
        # ES answers 404 (with the same body) when nothing was freed.
        return Response(200 if result["num_freed"] else 404, result)

    return [
        route(
            ("GET", "POST"),
            "/_search",
            search,
            params=SEARCH_PARAMS,
            action=SEARCH_ACTION,
        ),
        route(
            ("GET", "POST"),
            "/{index}/_search",
            search,
            params=SEARCH_PARAMS,
            action=SEARCH_ACTION,
        ),
        route(
            ("GET", "POST"),
            "/_count",
            count,
            params=COUNT_PARAMS,
            action=SEARCH_ACTION,
        ),
        route(
            ("GET", "POST"),
            "/{index}/_count",
            count,
            params=COUNT_PARAMS,
            action=SEARCH_ACTION,
        ),
        route(
            ("GET", "POST"),
            "/_search/scroll",
            scroll,
            params=("scroll", "scroll_id", "rest_total_hits_as_int"),
            action="indices:data/read/scroll",
        ),
        route(
            ("GET", "POST"),
            "/_search/scroll/{scroll_id}",
            scroll,
            params=("scroll", "rest_total_hits_as_int"),
            action="indices:data/read/scroll",
        ),
        route(
            "DELETE",
            "/_search/scroll",
            clear_scroll,
            action="indices:data/read/scroll/clear",
            body=True,
        ),
        route(
            "DELETE",
            "/_search/scroll/{scroll_id}",
            clear_scroll,
            action="indices:data/read/scroll/clear",
        ),
    ]
