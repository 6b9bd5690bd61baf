"""Search APIs: ``_search``, ``_count``, ``_search/scroll``.

With security on, the subject's document- and field-level security for the indices the guard
left in the expression is computed here, once per request, and handed to the action; a scroll
keeps the restrictions of the search that opened it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus import xcontent
from isthmus.actions.document_items import parse_json_object
from isthmus.actions.search_explain import explain, single_index
from isthmus.actions.search_validate import validate_query
from isthmus.cluster.resolve import split_expression
from isthmus.errors import ActionRequestValidationError, IllegalArgumentError, IsthmusError
from isthmus.http.handlers.common import (
    COMMON_INDICES_PARAMS,
    bool_param,
    int_param,
    json_object,
)
from isthmus.http.handlers.documents import GET_ACTION
from isthmus.http.router import Request, Response, Route, route
from isthmus.search.point_in_time import check_shard_doc_sort
from isthmus.search.terms_lookup import TermsLookup, apply_lookups, extract_values, find_lookups
from isthmus.search.validate import invalid_body
from isthmus.security.field_level import IndexRestrictions, index_restrictions
from isthmus.wire.names import FIELD_CAPS_ACTION, OPEN_PIT_ACTION, SEARCH_ACTION

if TYPE_CHECKING:
    from isthmus.actions.async_search import AsyncSearchActions
    from isthmus.actions.ccs_search import CrossClusterSearch
    from isthmus.actions.documents import DocumentActions
    from isthmus.actions.field_caps import FieldCapsActions
    from isthmus.actions.pit import PointInTimeActions
    from isthmus.actions.search import SearchActions
    from isthmus.cluster.service import ClusterService
    from isthmus.security.index_authorization import IndexAuthorization

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


PIT_PARAMS = (
    "keep_alive",
    "routing",
    "preference",
    "allow_partial_search_results",
    "max_concurrent_shard_requests",
    *COMMON_INDICES_PARAMS,
)
MSEARCH_ACTION = "indices:data/read/msearch"
EXPLAIN_ACTION = "indices:data/read/explain"
VALIDATE_ACTION = "indices:admin/validate/query"
VALIDATE_PARAMS = (
    "q",
    "df",
    "default_operator",
    "analyzer",
    "analyze_wildcard",
    "lenient",
    "explain",
    "rewrite",
    "all_shards",
    *COMMON_INDICES_PARAMS,
)
EXPLAIN_PARAMS = (
    "q",
    "df",
    "default_operator",
    "analyzer",
    "analyze_wildcard",
    "lenient",
    "routing",
    "preference",
    "stored_fields",
    "_source",
    "_source_includes",
    "_source_excludes",
)
LOOKUP_ACTION = GET_ACTION  # what reading a terms lookup document needs
ASYNC_SUBMIT = "indices:data/read/async_search/submit"
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


CLEAR_ALL_SCROLLS_ACTION = "cluster:admin/indices/scroll/clear_all"
ASYNC_STATUS_ACTION = "cluster:monitor/async_search/status"
CANCEL_TASK_ACTION = "cluster:admin/tasks/cancel"


@dataclass(frozen=True)
class SearchApiDeps:
    """What the search handlers use. ``authz`` is None exactly when security is off: then no request is narrowed or filtered."""

    cluster: ClusterService
    search: SearchActions  # scrolls
    ccs: CrossClusterSearch  # ``_search``, ``_count``, ``_msearch``, local or cross-cluster
    async_search: AsyncSearchActions
    field_caps: FieldCapsActions
    authz: IndexAuthorization | None
    documents: DocumentActions | None = None  # terms lookups read documents through it
    pit: PointInTimeActions | None = None  # ``_pit``, and searches with ``pit``


def routes(s: SearchApiDeps) -> list[Route]:
    def restrictions(req: Request) -> IndexRestrictions | None:
        if s.authz is None:
            return None
        return index_restrictions(
            s.authz.authorizer,
            req.subject,
            SEARCH_ACTION,
            split_expression(req.path_params.get("index")),
            s.cluster.state,
        )

    async def with_lookups(req: Request, body: Any) -> Any:
        """``body`` with its terms lookups replaced by the values the caller may read."""
        if not isinstance(body, dict):
            return body
        body = compatible_body(req, body)
        wanted = find_lookups(body)
        if not wanted:
            return body
        found = {lookup: await lookup_values(req, lookup) for lookup in wanted}
        return apply_lookups(body, found)

    async def lookup_values(req: Request, lookup: TermsLookup) -> list[Any]:
        # ES reads the lookup document as the caller: `read` on its index, DLS/FLS applied.
        restrict = None
        if s.authz is not None and req.subject is not None:
            access = s.authz.authorizer.index_access(req.subject, LOOKUP_ACTION, lookup.index)
            if not access.granted:
                raise s.authz.authorizer.denied(req.subject, LOOKUP_ACTION, [lookup.index])
            restrict = index_restrictions(
                s.authz.authorizer, req.subject, LOOKUP_ACTION, [lookup.index], s.cluster.state
            )
        assert s.documents is not None
        params = {"routing": lookup.routing} if lookup.routing else {}
        doc = await s.documents.get(lookup.index, lookup.id, params, restrict)
        if not doc.get("found"):
            return []
        return extract_values(doc.get("_source") or {}, lookup.path)

    async def search(req: Request, named_index: bool = False) -> dict[str, Any]:
        body = json_object(req)
        if isinstance(body, dict) and "pit" in body and s.pit is not None:
            # The PIT names the indices (and is authorized on them): the path names none.
            body = await with_lookups(req, body)
            return await s.pit.search_with_pit(named_index, body, req.params, req.subject)
        check_shard_doc_sort(body if isinstance(body, dict) else None, req.params)
        return await s.ccs.run(
            req.path_params.get("index"),
            await with_lookups(req, body),
            req.params,
            req.subject,
            restrictions(req),
        )

    async def search_in(req: Request) -> dict[str, Any]:
        return await search(req, named_index=True)

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

    async def count(req: Request) -> dict[str, Any]:
        return await s.ccs.count(
            req.path_params.get("index"),
            await with_lookups(req, json_object(req)),
            req.params,
            req.subject,
            restrictions(req),
        )

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
                        body = await with_lookups(req, body)
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
                    body = await with_lookups(req, body)
                    result = await s.ccs.run(index, body, merged, req.subject, restrict)
                except IsthmusError as exc:
                    error = exc.to_body()
                    return {"error": error["error"], "status": error["status"]}
                return {**result, "status": 200}

        responses = await asyncio.gather(*(one(i, p, b) for i, p, b in searches))
        return {"took": int((time.perf_counter() - started) * 1000), "responses": responses}

    async def explain_doc(req: Request) -> Response:
        index = req.path_params["index"]
        restriction = None
        if s.authz is not None:
            restrict = index_restrictions(
                s.authz.authorizer, req.subject, EXPLAIN_ACTION, [index], s.cluster.state
            )
            restriction = restrict.of(single_index(s.cluster, index).name)
        status, body = await explain(
            s.cluster,
            s.search.indices,
            index,
            req.path_params["id"],
            await with_lookups(req, json_object(req)),
            req.params,
            restriction,
            int(s.search.clock() * 1000),
        )
        return Response(status, body)

    async def validate(req: Request) -> dict[str, Any]:
        restrict = None
        if s.authz is not None:
            restrict = index_restrictions(
                s.authz.authorizer,
                req.subject,
                VALIDATE_ACTION,
                split_expression(req.path_params.get("index")),
                s.cluster.state,
            )
        try:
            body = json_object(req)
        except IsthmusError as exc:  # ES's handler answers a body it cannot read itself
            return invalid_body(exc, req.params.get("explain") == "true")
        return await validate_query(
            s.cluster,
            s.search.indices,
            req.path_params.get("index"),
            await with_lookups(req, body),
            req.params,
            restrict,
            int(s.search.clock() * 1000),
        )

    async def field_caps(req: Request) -> dict[str, Any]:
        return await s.field_caps.field_caps(
            req.path_params.get("index"),
            req.params.get("fields"),
            json_object(req),
            req.params,
            req.subject,
        )

    async def async_submit(req: Request) -> Response:
        status, body = await s.async_search.submit(
            req.path_params.get("index"),
            await with_lookups(req, json_object(req)),
            req.params,
            req.subject,
            restrictions(req),
        )
        return Response(status, body)

    async def async_get(req: Request) -> Response:
        status, body = await s.async_search.get(req.path_params["id"], req.params, req.subject)
        return Response(status, body)

    async def async_status(req: Request) -> dict[str, Any]:
        # ES: the submitter may read the status of its own search; `monitor` reads any.
        subject = req.subject
        authz = s.authz
        if (
            authz is not None
            and subject is not None
            and authz.authorizer.cluster_allowed(subject, ASYNC_STATUS_ACTION)
        ):
            return s.async_search.status(req.path_params["id"], None, any_owner=True)
        return s.async_search.status(req.path_params["id"], subject)

    async def async_delete(req: Request) -> dict[str, Any]:
        # ES: the submitter deletes its own; whoever may cancel tasks deletes any.
        authz, subject = s.authz, req.subject
        if (
            authz is not None
            and subject is not None
            and authz.authorizer.cluster_allowed(subject, CANCEL_TASK_ACTION)
        ):
            return await s.async_search.delete(req.path_params["id"], None, any_owner=True)
        return await s.async_search.delete(req.path_params["id"], subject)

    async_params = (
        *SEARCH_PARAMS,
        "wait_for_completion_timeout",
        "keep_on_completion",
        "keep_alive",
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
        route("POST", "/_async_search", async_submit, params=async_params, action=ASYNC_SUBMIT),
        route(
            "POST", "/{index}/_async_search", async_submit, params=async_params, action=ASYNC_SUBMIT
        ),
        route(
            "GET",
            "/_async_search/status/{id:_}",
            async_status,
            params=("keep_alive",),
            action="",  # the owner, or `monitor` (checked by the handler)
        ),
        route(
            "GET",
            "/_async_search/{id:_}",
            async_get,
            params=(
                "wait_for_completion_timeout",
                "keep_alive",
                "typed_keys",
                "rest_total_hits_as_int",
            ),
            action="",
        ),
        route("DELETE", "/_async_search/{id:_}", async_delete, action=""),
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
        route("POST", "/{index}/_pit", open_pit, params=PIT_PARAMS, action=OPEN_PIT_ACTION),
        # No index: ES's validation error (the guard's narrowing would invent one).
        route("POST", "/_pit", open_pit_nowhere, params=PIT_PARAMS, action=""),
        # ES lets anyone holding some index privilege close a PIT (RBACEngine's scroll-related
        # actions); the id alone names what is freed.
        route("DELETE", "/_pit", close_pit, action="", body=True),
        route(
            ("GET", "POST"),
            "/{index}/_explain/{id:_}",
            explain_doc,
            params=EXPLAIN_PARAMS,
            action=EXPLAIN_ACTION,
        ),
        route(
            ("GET", "POST"),
            "/_validate/query",
            validate,
            params=VALIDATE_PARAMS,
            action=VALIDATE_ACTION,
        ),
        route(
            ("GET", "POST"),
            "/{index}/_validate/query",
            validate,
            params=VALIDATE_PARAMS,
            action=VALIDATE_ACTION,
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


def compatible_body(req: Request, body: dict[str, Any]) -> dict[str, Any]:
    """A body sent with REST API compatibility 7 (``compatible-with=7``) in ES 8's terms: the
    object form of ``indices_boost`` becomes the array form (ES 8 reads no other)."""
    boost = body.get("indices_boost")
    if not isinstance(boost, dict):
        return body
    asked = req.headers.get("accept", "") + req.headers.get("content-type", "")
    if "compatible-with=7" not in asked.replace(" ", ""):
        return body
    return {**body, "indices_boost": [{name: value} for name, value in boost.items()]}


def _names(field: str, value: Any) -> str:
    """An msearch header value: a string (booleans and numbers as their text), or for names an
    array of strings joined with commas."""
    if isinstance(value, list):
        return ",".join(xcontent.as_str("msearch", field, v) for v in value)
    return xcontent.as_str("msearch", field, value)


def _text(field: str, value: Any) -> str | None:
    """A scroll body's string field (``None`` when absent), with ES's parse error otherwise."""
    return None if value is None else xcontent.as_str("search_scroll", field, value)
