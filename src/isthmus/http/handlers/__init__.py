"""REST handlers, one module per API family; :func:`all_routes` gathers them."""

from __future__ import annotations

from isthmus.http.router import Route
from isthmus.services import Services


def all_routes(services: Services) -> list[Route]:
    from isthmus.http.handlers import cat, cluster, documents, indices, search, security

    out: list[Route] = []
    for module in (cluster, indices, documents, search, cat, security):
        out.extend(module.routes(services))
    return out
