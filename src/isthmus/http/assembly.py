"""How a node builds its REST layer from the components it has built.

The composition root (:mod:`isthmus.node`) hands over one typed record of its components
(:class:`RestComponents`); here each handler family gets its dependency record
(``ClusterApiDeps``, ``SearchApiDeps``, ...) with only what it uses, and the routes become the
:class:`~isthmus.http.app.RestApp` served by the node's :class:`~isthmus.http.server.HttpServer`.
A family that needs a new component: a field in its ``<Family>ApiDeps``, filled in
:func:`node_routes` (and, if the node did not build it yet, a field here). Routes of a higher
layer (the web console, a tool) come in as an :data:`ExtraRoutes` factory, called with the
components and the app once it exists, so nothing here imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from isthmus.http.app import RestApp
from isthmus.http.handlers import (
    CatApiDeps,
    CcrApiDeps,
    CcrLeaderApiDeps,
    ClusterApiDeps,
    DocumentsApiDeps,
    HealthApiDeps,
    IndicesApiDeps,
    SearchApiDeps,
    all_routes,
)
from isthmus.http.router import Route, Router
from isthmus.http.server import HttpServer
from isthmus.security.tls import handshake_timeout

if TYPE_CHECKING:
    from isthmus.actions.assembly import NodeActions
    from isthmus.actions.cluster import ClusterActions, NodeIdentity
    from isthmus.actions.nodes_fanout import NodesApis
    from isthmus.ccr.assembly import CcrFollower, CcrLeader
    from isthmus.cluster.disk_monitor import DiskThresholdMonitor
    from isthmus.cluster.service import ClusterService
    from isthmus.http.guard import Guard
    from isthmus.index.service import IndicesService
    from isthmus.remote.service import RemoteClusterService
    from isthmus.security.index_authorization import IndexAuthorization
    from isthmus.security.node_tls import NodeTls
    from isthmus.security.secure_settings import SecureSettingsHolder
    from isthmus.security.service import SecurityService
    from isthmus.settings.node import NodeSettings
    from isthmus.settings.remote_health import HealthProbeSettings
    from isthmus.tasks import TaskManager
    from isthmus.transport.limits import InFlightBreaker


# Routes a caller above this layer adds (``isthmus node`` adds the web console's): given the
# components and a getter of the node's REST app (for in-process calls; valid once serving).
ExtraRoutes = Callable[["RestComponents", Callable[[], RestApp]], list[Route]]


@dataclass(frozen=True)
class RestComponents:
    """The node's components the REST handlers use. ``authz`` and ``security`` are None
    exactly when security is off: then no request is authenticated, narrowed or filtered."""

    node: NodeIdentity
    cluster: ClusterService
    indices: IndicesService
    cluster_actions: ClusterActions
    actions: NodeActions
    remote: RemoteClusterService
    probe_settings: Callable[[], HealthProbeSettings]
    disk: DiskThresholdMonitor
    tasks: TaskManager
    secure_settings: SecureSettingsHolder
    nodes_apis: NodesApis
    tls: NodeTls
    ccr: CcrFollower
    ccr_leader: CcrLeader
    authz: IndexAuthorization | None
    security: SecurityService | None


def node_routes(c: RestComponents) -> list[Route]:
    """Every REST route of the node, each family built with its own dependency record."""
    a = c.actions
    return all_routes(
        cluster_api=ClusterApiDeps(
            c.node,
            c.cluster,
            c.cluster_actions,
            a.cross_cluster,
            c.remote,
            c.tasks,
            c.secure_settings,
            tuple(c.tls.configs),
            c.nodes_apis,
        ),
        indices_api=IndicesApiDeps(a.indices, c.cluster_actions, c.indices, c.authz),
        documents_api=DocumentsApiDeps(c.cluster, a.documents, c.authz),
        search_api=SearchApiDeps(
            c.cluster,
            a.search,
            a.ccs,
            a.async_search,
            a.field_caps,
            c.authz,
            a.documents,
            pit=a.pit,
        ),
        cat_api=CatApiDeps(
            c.node, c.cluster, c.indices, c.cluster_actions, a.indices, a.search, c.authz
        ),
        health_api=HealthApiDeps(c.node, c.cluster_actions, c.disk, c.remote, c.probe_settings),
        security_service=c.security,
        ccr_api=CcrApiDeps(c.ccr.service, c.authz, c.ccr.auto_follow),
        ccr_leader_api=CcrLeaderApiDeps(c.ccr_leader.shards),
    )


def node_http_server(
    settings: NodeSettings,
    components: RestComponents,
    *,
    guard: Guard | None,
    breaker: InFlightBreaker,
    extra_routes: ExtraRoutes | None = None,
) -> HttpServer:
    """The node's REST app behind its HTTP server (TLS when ``xpack.security.http.ssl`` is on);
    REST actions become tasks of the node's task manager and share the transport's in-flight
    breaker. ``guard`` None: security is off."""
    built: list[RestApp] = []
    extra = extra_routes(components, lambda: built[0]) if extra_routes is not None else []
    app = RestApp(
        Router([*node_routes(components), *extra]),
        settings.max_content_length,
        guard,
        tasks=components.tasks,
        breaker=breaker,
    )
    built.append(app)
    http_tls = components.tls.http
    return HttpServer.for_node(
        app,
        settings.raw,
        ssl_context=http_tls.context if http_tls is not None else None,
        tls_handshake_timeout=handshake_timeout("http", settings.raw),
    )
