"""``_msearch``: NDJSON header/body pairs, each run as a ``_search`` (or a search with ``pit``)
under the caller's narrowing and DLS/FLS, at most ``max_concurrent_searches`` at a time; an
item's failure is its own error entry.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from isthmus import xcontent
from isthmus.actions.document_items import parse_json_object
from isthmus.cluster.resolve import split_expression
from isthmus.errors import ActionRequestValidationError, IllegalArgumentError, IsthmusError
from isthmus.http.handlers.common import COMMON_INDICES_PARAMS, int_param
from isthmus.http.handlers.search_requests import SearchApiDeps, with_lookups
from isthmus.http.router import Request, Route, route
from isthmus.security.field_level import index_restrictions
from isthmus.wire.names import SEARCH_ACTION

MSEARCH_ACTION = "indices:data/read/msearch"

MSEARCH_PARAMS = (
    "max_concurrent_searches",
    "max_concurrent_shard_requests",
    "pre_filter_shard_size",
    "search_type",
    "rest_total_hits_as_int",
    "typed_keys",
    "ccs_minimize_roundtrips",
    *COMMON_INDICES_PARAMS,
)

# Header-line keys that are URL parameters of the search they introduce.
_MSEARCH_HEADER_PARAMS = (
    "search_type",
    "preference",
    "routing",
    "request_cache",
    "allow_partial_search_results",
    "ccs_minimize_roundtrips",
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "ignore_throttled",
)


def shared_params(params: dict[str, str]) -> dict[str, str]:
    """URL parameters of ``_msearch`` that every search inherits."""
    keep = ("rest_total_hits_as_int", "typed_keys", "ccs_minimize_roundtrips")
    return {k: v for k, v in params.items() if k in keep}


def parse_msearch(
    raw: bytes, default_index: str | None
) -> list[tuple[str | None, dict[str, str], Any]]:
    """``_msearch``'s NDJSON: a header line (index and search options), then a body line."""
    lines = [line for line in raw.split(b"\n") if line.strip()]
    if not lines:
        raise ActionRequestValidationError("Validation Failed: 1: no requests added;")
    out: list[tuple[str | None, dict[str, str], Any]] = []
    for i in range(0, len(lines), 2):
        header = parse_json_object(lines[i])
        if i + 1 >= len(lines):
            raise IllegalArgumentError("The msearch request must be terminated by a newline [\n]")
        body = parse_json_object(lines[i + 1])
        index = header.pop("index", None)
        index = default_index if index is None else _names("index", index)
        params: dict[str, str] = {}
        for key, value in header.items():
            if key not in _MSEARCH_HEADER_PARAMS:
                raise IllegalArgumentError(f"key [{key}] is not supported in the metadata section")
            params[key] = _names(key, value)
        out.append((index, params, body))
    return out


def routes(s: SearchApiDeps) -> list[Route]:
    async def msearch(req: Request) -> dict[str, Any]:
        started = time.perf_counter()
        searches = parse_msearch(req.body, req.path_params.get("index"))
        limit = int_param(req, "max_concurrent_searches") or 8
        if limit < 1:
            raise IllegalArgumentError("maxConcurrentSearchRequests must be positive")
        gate = asyncio.Semaphore(limit)

        async def one(index: str | None, params: dict[str, str], body: Any) -> dict[str, Any]:
            async with gate:
                try:
                    merged = {**shared_params(req.params), **params}
                    if isinstance(body, dict) and "pit" in body and s.pit is not None:
                        # Authorized on the PIT's indices, as a _search with pit.
                        body = await with_lookups(s, req, body)
                        found = await s.pit.search_with_pit(
                            index is not None, body, merged, req.subject
                        )
                        return {**found, "status": 200}
                    restrict = None
                    if s.authz is not None:
                        index = s.authz.narrow(req.subject, SEARCH_ACTION, index, merged)
                        restrict = index_restrictions(
                            s.authz.authorizer,
                            req.subject,
                            SEARCH_ACTION,
                            split_expression(index),
                            s.cluster.state,
                        )
                    body = await with_lookups(s, req, body)
                    result = await s.ccs.run(index, body, merged, req.subject, restrict)
                except IsthmusError as exc:
                    error = exc.to_body()
                    return {"error": error["error"], "status": error["status"]}
                return {**result, "status": 200}

        responses = await asyncio.gather(*(one(i, p, b) for i, p, b in searches))
        return {"took": int((time.perf_counter() - started) * 1000), "responses": responses}

    return [
        route(
            ("GET", "POST"),
            "/_msearch",
            msearch,
            params=MSEARCH_PARAMS,
            action=MSEARCH_ACTION,
            body=True,
        ),
        route(
            ("GET", "POST"),
            "/{index}/_msearch",
            msearch,
            params=MSEARCH_PARAMS,
            action=MSEARCH_ACTION,
            body=True,
        ),
    ]


def _names(field: str, value: Any) -> str:
    """An msearch header value: a string (booleans and numbers as their text), or for names an
    array of strings joined with commas."""
    if isinstance(value, list):
        return ",".join(xcontent.as_str("msearch", field, v) for v in value)
    return xcontent.as_str("msearch", field, value)
