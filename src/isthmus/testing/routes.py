"""The REST route table without a node: patterns, methods and action names, for tests that
check every route (the authorization matrix, routing of generated ids)."""

from __future__ import annotations

from typing import Any

from isthmus.http.handlers import all_routes
from isthmus.http.router import Route


class _Anything:
    """Stands in for every dependency of every handler family only while the route table is
    built: the handler modules capture their dependencies in closures, and no handler is ever
    called here. (Not None: the security routes exist only with a security service.)"""

    def __getattr__(self, name: str) -> _Anything:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> _Anything:
        return self


def route_table() -> list[Route]:
    anything: Any = _Anything()
    return all_routes(
        cluster_api=anything,
        indices_api=anything,
        documents_api=anything,
        search_api=anything,
        cat_api=anything,
        health_api=anything,
        security_service=anything,
        ccr_api=anything,
    )


__all__ = ["route_table"]
