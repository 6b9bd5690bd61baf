"""Async search routes: submit (``_async_search``), get, status and delete; the submitter owns
its search, and ``monitor`` / task cancelling reach everyone's.
"""

from __future__ import annotations

from typing import Any

from isthmus.http.handlers.common import json_object
from isthmus.http.handlers.search_requests import (
    SEARCH_PARAMS,
    SearchApiDeps,
    restrictions,
    with_lookups,
)
from isthmus.http.router import Request, Response, Route, route

ASYNC_SUBMIT = "indices:data/read/async_search/submit"

ASYNC_STATUS_ACTION = "cluster:monitor/async_search/status"

CANCEL_TASK_ACTION = "cluster:admin/tasks/cancel"


def routes(s: SearchApiDeps) -> list[Route]:
    async def async_submit(req: Request) -> Response:
        status, body = await s.async_search.submit(
            req.path_params.get("index"),
            await with_lookups(s, req, json_object(req)),
            req.params,
            req.subject,
            restrictions(s, req),
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
    return [
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
    ]
