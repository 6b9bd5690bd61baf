"""Building a node's part in a multi-node cluster (None for a cluster of one)."""

from __future__ import annotations

from collections.abc import Callable

from isthmus.actions.nodes_fanout import peer_connector
from isthmus.cluster.nodes import NodesView
from isthmus.discovery.formation import ClusterFormation
from isthmus.discovery.formation_settings import FormationSettings
from isthmus.discovery.peers import PeerLocator, peer_info_handler
from isthmus.errors import NodeStartupError
from isthmus.security.authz import Subject
from isthmus.security.node_tls import NodeTls
from isthmus.security.transport_filter import SYSTEM
from isthmus.settings.discovery import forms_cluster_alone
from isthmus.settings.node import NodeSettings
from isthmus.transport.server import TransportServer
from isthmus.wire.names import PEER_INFO_ACTION


def check_transport_security(settings: NodeSettings, tls: NodeTls) -> None:
    """A node of a multi-node cluster with security on needs transport TLS; checked with the
    other configuration, before security writes anything at startup."""
    if forms_cluster_alone(settings.raw) or not settings.security_enabled:
        return
    if tls.transport_client is None:
        # Nodes authenticate each other by their transport certificates (peer info, the _nodes
        # APIs, etcd over TCP): without them no node could join (ES's rule for any cluster that
        # is not a loopback-only single node).
        raise NodeStartupError.configuration(
            "Transport SSL must be enabled if security is enabled in a cluster of several nodes. "
            "Please set [xpack.security.transport.ssl.enabled] to [true] or disable security by "
            "setting [xpack.security.enabled] to [false]"
        )


def node_formation(
    settings: NodeSettings,
    transport: TransportServer[Subject],
    view: NodesView,
    tls: NodeTls,
    *,
    on_fatal: Callable[[str], None],
    version: Callable[[], int],
) -> ClusterFormation | None:
    """The node's formation when its settings name other nodes or a store; registers the
    transport action through which other nodes find its etcd member."""
    if forms_cluster_alone(settings.raw):
        return None
    connector = peer_connector(transport, tls)
    peers = PeerLocator(
        settings.cluster_name,
        tuple(settings.get("discovery.seed_hosts")),
        lambda host, port: connector.open(host, port, expected_cluster_name=settings.cluster_name),
        SYSTEM.header(),
    )
    formation = ClusterFormation(
        FormationSettings.from_node(
            settings, view.local.host_address, tls=tls.transport_client is not None
        ),
        view,
        peers,
        on_fatal=on_fatal,
        version=version,
        transport_tls=tls.transport,
        client_context=tls.transport_client,
    )
    transport.registry.register(
        PEER_INFO_ACTION, peer_info_handler(settings.cluster_name, lambda: formation.peer_info)
    )
    return formation
