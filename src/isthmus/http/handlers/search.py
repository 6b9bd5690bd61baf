"""Search APIs: ``_search``, ``_count``, ``_search/scroll``.

With security on, the subject's document- and field-level security for the indices the guard
left in the expression is computed once per request (in
:mod:`~isthmus.http.handlers.search_requests`) and handed to the action; a scroll keeps the
restrictions of the search that opened it.

The routes live by API: :mod:`~isthmus.http.handlers.search_requests` (the dependency record,
DLS/FLS per request, terms lookups), :mod:`~isthmus.http.handlers.async_search`,
:mod:`~isthmus.http.handlers.msearch`, :mod:`~isthmus.http.handlers.search_contexts` (points in
time and scrolls) and :mod:`~isthmus.http.handlers.explain_validate`; here ``_search``,
``_count`` and ``_field_caps``, and the family's routes in the order the router tries them.
"""

from __future__ import annotations

from typing import Any

from isthmus.http.handlers import async_search, explain_validate, msearch, search_contexts
from isthmus.http.handlers.common import COMMON_INDICES_PARAMS, json_object
from isthmus.http.handlers.search_requests import (
    SEARCH_PARAMS,
    SearchApiDeps,
    restrictions,
    with_lookups,
)
from isthmus.http.router import Request, Route, route
from isthmus.search.point_in_time import check_shard_doc_sort
from isthmus.wire.names import FIELD_CAPS_ACTION, SEARCH_ACTION

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


def routes(s: SearchApiDeps) -> list[Route]:
    async def search(req: Request, named_index: bool = False) -> dict[str, Any]:
        body = json_object(req)
        if isinstance(body, dict) and "pit" in body and s.pit is not None:
            # The PIT names the indices (and is authorized on them): the path names none.
            body = await with_lookups(s, req, body)
            return await s.pit.search_with_pit(named_index, body, req.params, req.subject)
        check_shard_doc_sort(body if isinstance(body, dict) else None, req.params)
        return await s.ccs.run(
            req.path_params.get("index"),
            await with_lookups(s, req, body),
            req.params,
            req.subject,
            restrictions(s, req),
        )

    async def search_in(req: Request) -> dict[str, Any]:
        return await search(req, named_index=True)

    async def count(req: Request) -> dict[str, Any]:
        return await s.ccs.count(
            req.path_params.get("index"),
            await with_lookups(s, req, json_object(req)),
            req.params,
            req.subject,
            restrictions(s, req),
        )

    async def field_caps(req: Request) -> dict[str, Any]:
        return await s.field_caps.field_caps(
            req.path_params.get("index"),
            req.params.get("fields"),
            json_object(req),
            req.params,
            req.subject,
        )

    caps_params = (
        "fields",
        "include_unmapped",
        "filters",
        "types",
        "include_empty_fields",
        *COMMON_INDICES_PARAMS,
    )
    return [
        route(
            ("GET", "POST"),
            "/_field_caps",
            field_caps,
            params=caps_params,
            action=FIELD_CAPS_ACTION,
        ),
        route(
            ("GET", "POST"),
            "/{index}/_field_caps",
            field_caps,
            params=caps_params,
            action=FIELD_CAPS_ACTION,
        ),
        *async_search.routes(s),
        *msearch.routes(s),
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
            search_in,
            params=SEARCH_PARAMS,
            action=SEARCH_ACTION,
        ),
        *search_contexts.pit_routes(s),
        *explain_validate.routes(s),
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
        *search_contexts.scroll_routes(s),
    ]


__all__ = ["COUNT_PARAMS", "SEARCH_PARAMS", "SearchApiDeps", "routes"]
