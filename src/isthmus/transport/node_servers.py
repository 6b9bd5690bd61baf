"""The node's transport listeners, built from its settings: the transport (profile ``default``,
``transport.port``) and the remote cluster server (profile ``_remote_cluster``,
``remote_cluster.port``, only when ``remote_cluster_server.enabled``).

Both serve one action registry; each has its own TLS, request filter (who is calling, may they:
the certificate model's on the transport, the API-key model's on the remote cluster server) and
TCP options. What they are filtered and encrypted with is given by the caller; this module only
reads the listener settings. A port that cannot be bound stops the start with ES's wording.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING

from isthmus.errors import NodeStartupError
from isthmus.settings.remote import transport_tuning
from isthmus.settings.remote_server import RemoteServerSettings, remote_server_tcp
from isthmus.transport.actions import ActionRegistry, CallerT
from isthmus.transport.limits import InFlightBreaker, TransportLimits
from isthmus.transport.local import LocalNode
from isthmus.transport.server import RequestFilter, TransportServer
from isthmus.wire.handshake import NodeIdentity
from isthmus.wire.names import REMOTE_CLUSTER_PROFILE

if TYPE_CHECKING:
    from isthmus.security.trust_diagnostics import TrustInfo
    from isthmus.settings.node import NodeSettings
    from isthmus.tasks import TaskManager

transport_log = logging.getLogger("org.elasticsearch.transport.TransportService")
remote_server_log = logging.getLogger("org.elasticsearch.transport.RemoteClusterPortSettings")


def local_node(settings: NodeSettings, node_id: str, cluster_uuid: str) -> LocalNode:
    """This node as its transport handshakes name it (the publish address is filled in by the
    listener once it is bound)."""
    from isthmus import ES_COMPAT_VERSION

    s = settings
    node = NodeIdentity(
        node_id, s.node_name, "", ES_COMPAT_VERSION, tuple(sorted(s.roles)), dict(s.attributes)
    )
    return LocalNode(s.cluster_name, cluster_uuid, node)


async def start_transport(
    settings: NodeSettings,
    registry: ActionRegistry[CallerT],
    identity: LocalNode,
    *,
    ssl_context: ssl.SSLContext | None,
    trust: TrustInfo | None,
    request_filter: RequestFilter[CallerT] | None,
    breaker: InFlightBreaker,
    tasks: TaskManager,
    tls_handshake_timeout: float | None,
) -> TransportServer[CallerT]:
    """Bind and start the transport (``transport.host``/``transport.port``); the caller closes
    it."""
    s = settings
    server = TransportServer(
        s.transport_bind_host,
        s.transport_ports,
        registry,
        identity=identity,
        ssl_context=ssl_context,
        publish_host=s.transport_publish_host,
        publish_port=s.get("transport.publish_port") or None,
        trust=trust,
        tcp=transport_tuning(s.raw).tcp,
        request_filter=request_filter,
        limits=TransportLimits.from_settings(s.raw),
        breaker=breaker,
        tls_handshake_timeout=tls_handshake_timeout,
        tasks=tasks,
    )
    try:
        await server.start()
    except OSError as exc:
        raise NodeStartupError(f"Failed to bind transport: {exc}") from exc
    transport_log.info(
        "publish_address {%s}, bound_addresses {%s}", server.publish_address, server.bound_address
    )
    return server


async def start_remote_cluster_server(
    settings: NodeSettings,
    listener: RemoteServerSettings,
    transport: TransportServer[CallerT],
    *,
    ssl_context: ssl.SSLContext | None,
    trust: TrustInfo | None,
    request_filter: RequestFilter[CallerT] | None,
    breaker: InFlightBreaker,
    tasks: TaskManager,
    tls_handshake_timeout: float | None,
) -> TransportServer[CallerT]:
    """Bind and start the remote cluster server next to ``transport`` (same actions and node,
    announced at its own publish address); the caller closes it."""
    s = settings
    server = TransportServer(
        listener.bind_host,
        (listener.port, listener.port),
        transport.registry,
        identity=transport.identity,
        ssl_context=ssl_context,
        publish_host=listener.publish_host,
        publish_port=listener.publish_port,
        profile=REMOTE_CLUSTER_PROFILE,
        trust=trust,
        tcp=remote_server_tcp(s.raw, transport_tuning(s.raw).tcp),
        request_filter=request_filter,
        limits=TransportLimits.from_settings(s.raw),
        breaker=breaker,
        tls_handshake_timeout=tls_handshake_timeout,
        tasks=tasks,
    )
    try:
        await server.start()
    except OSError as exc:
        raise NodeStartupError(f"Failed to bind the remote cluster server: {exc}") from exc
    remote_server_log.info(
        "remote cluster server publish_address {%s}, bound_addresses {%s}",
        server.publish_address,
        server.bound_address,
    )
    return server
