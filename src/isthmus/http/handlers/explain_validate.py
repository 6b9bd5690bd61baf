"""``_explain/<id>`` and ``_validate/query``: one document's score explained, a query checked
without running it (the work in :mod:`isthmus.actions.search_explain` and
:mod:`isthmus.actions.search_validate`).
"""

from __future__ import annotations

from typing import Any

from isthmus.actions.search_explain import single_index
from isthmus.cluster.resolve import split_expression
from isthmus.errors import IsthmusError
from isthmus.http.handlers.common import COMMON_INDICES_PARAMS, json_object
from isthmus.http.handlers.search_requests import SearchApiDeps, with_lookups
from isthmus.http.router import Request, Response, Route, route
from isthmus.search.validate import invalid_body
from isthmus.security.field_level import index_restrictions

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


def routes(s: SearchApiDeps) -> list[Route]:
    async def explain_doc(req: Request) -> Response:
        index = req.path_params["index"]
        restriction = None
        if s.authz is not None:
            restrict = index_restrictions(
                s.authz.authorizer, req.subject, EXPLAIN_ACTION, [index], s.cluster.state
            )
            restriction = restrict.of(single_index(s.cluster, index).name)
        status, body = await s.search.explain_document(
            index,
            req.path_params["id"],
            await with_lookups(s, req, json_object(req)),
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
        return await s.search.validate(
            req.path_params.get("index"),
            await with_lookups(s, req, body),
            req.params,
            restrict,
            int(s.search.clock() * 1000),
        )

    return [
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
    ]
