"""``GET /_capabilities``: does this cluster answer a REST call, as ES's nodes capabilities API.

ES asks each node whether a handler serves ``method`` on ``path`` (a concrete path, matched as
a request would be), takes every name in ``parameters`` and declares every name in
``capabilities``; ``supported`` is true only when all nodes say so. Isthmus is one node, and
its routes declare no named capabilities: asking for any capability answers false rather than
claiming what it cannot know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from isthmus.errors import ActionRequestValidationError, IllegalArgumentError
from isthmus.http.router import COMMON_PARAMS, NoHandler, Request, Route, Router, route

METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT")


def supported(router: Router, method: str, path: str, parameters: set[str], caps: set[str]) -> bool:
    """ES's RestController.checkSupported for one node."""
    try:
        found, _ = router.resolve(method, path)
    except NoHandler:
        return False
    if method not in found.methods and not (method == "HEAD" and "GET" in found.methods):
        return False
    return parameters <= (found.params | COMMON_PARAMS) and not caps


def _names(req: Request, key: str) -> set[str]:
    return {p.strip() for p in req.params.get(key, "").split(",") if p.strip()}


def routes(router: Router, cluster_name: Callable[[], str]) -> list[Route]:
    async def capabilities(req: Request) -> dict[str, Any]:
        method = req.params.get("method", "GET")
        if method not in METHODS:
            raise IllegalArgumentError(
                f"No enum constant org.elasticsearch.rest.RestRequest.Method.{method}"
            )
        path = req.params.get("path")
        if path is None:  # ES fails here on a null path; a missing parameter is a 400 here
            raise ActionRequestValidationError("Validation Failed: 1: path is missing;")
        answer = supported(
            router, method, unquote(path), _names(req, "parameters"), _names(req, "capabilities")
        )
        return {
            "_nodes": {"total": 1, "successful": 1, "failed": 0},
            "cluster_name": cluster_name(),
            "supported": answer,
        }

    return [
        route(
            "GET",
            "/_capabilities",
            capabilities,
            params=("timeout", "method", "path", "parameters", "capabilities", "local_only"),
            action="cluster:monitor/nodes/capabilities",
        )
    ]


__all__ = ["routes", "supported"]
