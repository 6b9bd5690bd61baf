"""Search contexts kept between requests: points in time (``_pit``) and scrolls
(``_search/scroll``). A scroll keeps the restrictions of the search that opened it.
"""

from __future__ import annotations

from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError
from isthmus.http.handlers.common import COMMON_INDICES_PARAMS, bool_param, int_param, json_object
from isthmus.http.handlers.search_requests import SearchApiDeps
from isthmus.http.router import Request, Response, Route, route
from isthmus.wire.names import OPEN_PIT_ACTION

PIT_PARAMS = (
    "keep_alive",
    "routing",
    "preference",
    "allow_partial_search_results",
    "max_concurrent_shard_requests",
    *COMMON_INDICES_PARAMS,
)

CLEAR_ALL_SCROLLS_ACTION = "cluster:admin/indices/scroll/clear_all"


def pit_routes(s: SearchApiDeps) -> list[Route]:
    """Opening and closing points in time."""

    def check_pit_params(req: Request) -> None:
        """The open request's typed parameters, with ES's messages (both are otherwise unused:
        every local shard is available, and shards are opened together)."""
        bool_param(req, "allow_partial_search_results")
        concurrent = int_param(req, "max_concurrent_shard_requests")
        if concurrent is not None and concurrent < 1:
            raise IllegalArgumentError("maxConcurrentShardRequests must be >= 1")

    async def open_pit(req: Request) -> dict[str, Any]:
        assert s.pit is not None
        check_pit_params(req)
        return await s.pit.open(
            req.path_params.get("index"), req.params, json_object(req), req.subject
        )

    async def open_pit_nowhere(req: Request) -> dict[str, Any]:
        assert s.pit is not None
        return await s.pit.open(None, req.params, json_object(req), req.subject)

    async def close_pit(req: Request) -> Response:
        assert s.pit is not None
        status, body = await s.pit.close(json_object(req), req.subject)
        return Response(status, body)

    return [
        route("POST", "/{index}/_pit", open_pit, params=PIT_PARAMS, action=OPEN_PIT_ACTION),
        # No index: ES's validation error (the guard's narrowing would invent one).
        route("POST", "/_pit", open_pit_nowhere, params=PIT_PARAMS, action=""),
        # ES lets anyone holding some index privilege close a PIT (RBACEngine's scroll-related
        # actions); the id alone names what is freed.
        route("DELETE", "/_pit", close_pit, action="", body=True),
    ]


def scroll_routes(s: SearchApiDeps) -> list[Route]:
    """Scroll pages and clearing scrolls."""

    async def scroll(req: Request) -> dict[str, Any]:
        body = json_object(req) or {}
        # ES's precedence: a value parsed from the body wins over the path and the query string.
        scroll_id = (
            _text("scroll_id", body.get("scroll_id"))
            or req.path_params.get("scroll_id")
            or req.params.get("scroll_id")
        )
        keep = _text("scroll", body.get("scroll")) or req.params.get("scroll")
        return await s.search.scroll(
            scroll_id, keep, req.params.get("rest_total_hits_as_int") == "true", req.subject
        )

    async def clear_scroll(req: Request) -> Response:
        body = json_object(req) or {}
        # The body's ids win over the path's, as in ES.
        ids = body.get("scroll_id") or req.path_params.get("scroll_id") or []
        if isinstance(ids, str):
            ids = [p for p in ids.split(",") if p]
        ids = [
            xcontent.as_str("clear_scroll", "scroll_id", i)
            for i in xcontent.as_list("clear_scroll", "scroll_id", ids)
        ]
        if "_all" in ids and s.authz is not None and req.subject is not None:
            # Clearing every scroll is a cluster action in ES (and frees only the caller's own).
            s.authz.authorizer.check_cluster(req.subject, CLEAR_ALL_SCROLLS_ACTION)
        result = s.search.clear_scroll(list(ids), req.subject)
        # ES answers 404 (with the same body) when nothing was freed.
        return Response(200 if result["num_freed"] else 404, result)

    return [
        route(
            ("GET", "POST"),
            "/_search/scroll",
            scroll,
            params=("scroll", "scroll_id", "rest_total_hits_as_int"),
            action="indices:data/read/scroll",
        ),
        route(
            ("GET", "POST"),
            "/_search/scroll/{scroll_id:_}",
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
            "/_search/scroll/{scroll_id:_}",
            clear_scroll,
            action="indices:data/read/scroll/clear",
            body=True,
        ),
    ]


def _text(field: str, value: Any) -> str | None:
    """A scroll body's string field (``None`` when absent), with ES's parse error otherwise."""
    return None if value is None else xcontent.as_str("search_scroll", field, value)
