"""What another cluster asks a node before it searches it: who the nodes are, and where.

Owns the transport handlers a connecting cluster calls while it builds its connections:
``cluster:monitor/state`` (the certificate model's sniff: this cluster's nodes at their transport
addresses), ``cluster:internal/remote_cluster/nodes`` (the API-key model's: the nodes at their
remote cluster server addresses) and the API-key handshake reached on the wrong profile (it is
answered by the server on the ``_remote_cluster`` profile only; anywhere else it is refused with
ES's message). Each answer names every node of this cluster as this node's view
(:class:`isthmus.cluster.nodes.NodesView`) holds them: at their transport publish addresses for
the certificate model, and for the API-key model only the nodes that run a remote cluster server,
at that server's publish address (as ES's ``TransportRemoteClusterNodesAction`` answers).

The nodes are read when a request arrives, not when the handlers are registered: publish
addresses are known only once the servers are bound, and nodes join and leave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from isthmus.ccr.wire import LeaderIndexMetadataRequest
from isthmus.cluster.nodes import DiscoveryNode
from isthmus.errors import IllegalArgumentError
from isthmus.transport.actions import (
    ActionHandler,
    ActionRegistry,
    CallerT,
    TransportRequestContext,
)
from isthmus.wire.handshake import NodeIdentity
from isthmus.wire.names import (
    CLUSTER_STATE_ACTION,
    REMOTE_CLUSTER_HANDSHAKE_ACTION,
    REMOTE_CLUSTER_NODES_ACTION,
    REMOTE_CLUSTER_PROFILE,
)


def nodes_payload(
    cluster_name: str, cluster_uuid: str, nodes: Iterable[NodeIdentity]
) -> dict[str, Any]:
    """The nodes answer both actions share: the cluster and its nodes."""
    return {
        "cluster_name": cluster_name,
        "cluster_uuid": cluster_uuid,
        "nodes": [node.to_payload() for node in nodes],
    }


def transport_identities(nodes: Iterable[DiscoveryNode]) -> list[NodeIdentity]:
    """Every node at its transport publish address (``cluster:monitor/state``)."""
    return [node.identity() for node in nodes]


def remote_cluster_identities(nodes: Iterable[DiscoveryNode]) -> list[NodeIdentity]:
    """The nodes that run a remote cluster server, at its publish address
    (``cluster:internal/remote_cluster/nodes``)."""
    return [i for node in nodes if (i := node.remote_cluster_identity()) is not None]


def register_transport_nodes(
    registry: ActionRegistry[CallerT],
    *,
    cluster_name: str,
    cluster_uuid: Callable[[], str],
    nodes: Callable[[], Sequence[NodeIdentity]],
    index_metadata: ActionHandler[CallerT] | None = None,
) -> None:
    """``cluster:monitor/state`` as remote clusters ask for it: the cluster's nodes with their
    roles, attributes and transport publish addresses; or, asked with ``metadata`` (a CCR
    follower), one index's metadata from ``index_metadata``."""

    async def state(payload: Any, ctx: TransportRequestContext[CallerT]) -> Any:
        if index_metadata is not None and LeaderIndexMetadataRequest.is_one(payload):
            return await index_metadata(payload, ctx)
        return nodes_payload(cluster_name, cluster_uuid(), nodes())

    registry.register(CLUSTER_STATE_ACTION, state)


def register_remote_cluster_server(
    registry: ActionRegistry[CallerT],
    *,
    cluster_name: str,
    cluster_uuid: Callable[[], str],
    nodes: Callable[[], Sequence[NodeIdentity]],
) -> None:
    """The actions of the remote cluster server (API-key model), registered only when it is
    enabled: the nodes at their remote cluster server addresses, and the refusal of its handshake
    on any profile but ``_remote_cluster``."""

    async def wrong_profile(payload: Any, ctx: TransportRequestContext[CallerT]) -> Any:
        raise IllegalArgumentError(
            "remote cluster handshake action requires channel profile to be "
            f"[{REMOTE_CLUSTER_PROFILE}], but got [{ctx.channel.profile}]"
        )

    async def remote_cluster_nodes(payload: Any, ctx: TransportRequestContext[CallerT]) -> Any:
        return nodes_payload(cluster_name, cluster_uuid(), nodes())

    registry.register(REMOTE_CLUSTER_HANDSHAKE_ACTION, wrong_profile)
    registry.register(REMOTE_CLUSTER_NODES_ACTION, remote_cluster_nodes)


__all__ = [
    "CLUSTER_STATE_ACTION",
    "REMOTE_CLUSTER_NODES_ACTION",
    "nodes_payload",
    "register_remote_cluster_server",
    "register_transport_nodes",
    "remote_cluster_identities",
    "transport_identities",
]
