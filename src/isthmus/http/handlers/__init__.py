"""REST handlers, one module per API family; :func:`all_routes` gathers them.

Each family declares what its handlers use in a frozen record next to them (``ClusterApiDeps``,
``IndicesApiDeps``, ...): a handler that needs something new gets a field there, filled where
the node builds the records. Only what security-off really removes is optional: the index
authorization (``authz``) and the security service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from isthmus.http.handlers import (
    capabilities,
    cat,
    ccr,
    ccr_leader,
    cluster,
    data_streams,
    documents,
    health,
    indices,
    search,
    security,
    templates,
)
from isthmus.http.handlers.cat import CatApiDeps
from isthmus.http.handlers.ccr import CcrApiDeps
from isthmus.http.handlers.ccr_leader import CcrLeaderApiDeps
from isthmus.http.handlers.cluster import ClusterApiDeps
from isthmus.http.handlers.documents import DocumentsApiDeps
from isthmus.http.handlers.health import HealthApiDeps
from isthmus.http.handlers.indices import IndicesApiDeps
from isthmus.http.handlers.search import SearchApiDeps
from isthmus.http.router import Route, Router

if TYPE_CHECKING:
    from isthmus.security.service import SecurityService

__all__ = [
    "CatApiDeps",
    "CcrApiDeps",
    "CcrLeaderApiDeps",
    "ClusterApiDeps",
    "DocumentsApiDeps",
    "HealthApiDeps",
    "IndicesApiDeps",
    "SearchApiDeps",
    "all_routes",
]


def all_routes(
    *,
    cluster_api: ClusterApiDeps,
    indices_api: IndicesApiDeps,
    documents_api: DocumentsApiDeps,
    search_api: SearchApiDeps,
    cat_api: CatApiDeps,
    health_api: HealthApiDeps,
    security_service: SecurityService | None,
    ccr_api: CcrApiDeps | None = None,
    ccr_leader_api: CcrLeaderApiDeps | None = None,
) -> list[Route]:
    """Every REST route, in the order the router tries them. Templates and data streams act
    on the metadata and indices the index family already holds: their actions are made here."""
    from isthmus.actions.data_streams import DataStreamActions
    from isthmus.actions.templates import TemplateActions

    admin = indices_api.indices_actions
    served = [
        *cluster.routes(cluster_api),
        *templates.routes(templates.TemplatesApiDeps(TemplateActions(admin.cluster))),
        *data_streams.routes(
            data_streams.DataStreamsApiDeps(
                DataStreamActions(
                    admin, search_api.search, indices_api.cluster_actions.index_health
                )
            )
        ),
        *indices.routes(indices_api),
        *documents.routes(documents_api),
        *search.routes(search_api),
        *cat.routes(cat_api),
        *health.routes(health_api),
        *security.routes(security_service),
        *(ccr.routes(ccr_api) if ccr_api is not None else ()),
        *(ccr_leader.routes(ccr_leader_api) if ccr_leader_api is not None else ()),
    ]
    # _capabilities answers from the routes themselves (what this node actually serves).
    settings = cluster_api.node.settings
    return [*served, *capabilities.routes(Router(served), lambda: settings.cluster_name)]
