"""The REST route table without a node: patterns, methods and action names, for tests that
check every route (the authorization matrix, routing of generated ids)."""

from __future__ import annotations

from typing import Any

from isthmus.http.handlers import all_routes
from isthmus.http.router import Route


class _Anything:
    """Stands in for the node's services only while the route table is built: the handler
    modules capture their services in closures, and no handler is ever called here."""

    def __getattr__(self, name: str) -> _Anything:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> _Anything:
        return self


def route_table() -> list[Route]:
    return all_routes(_Anything())  # type: ignore[arg-type]


__all__ = ["route_table"]
