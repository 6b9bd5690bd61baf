"""What another cluster asks a node before it searches it: who the nodes are, and where.

Owns the transport handlers a connecting cluster calls while it builds its connections:
``cluster:monitor/state`` (the certificate model's sniff: this cluster's nodes at their transport
addresses), ``cluster:internal/remote_cluster/nodes`` (the API-key model's: the nodes at their
remote cluster server addresses) and the API-key handshake reached on the wrong profile (it is
answered by the server on the ``_remote_cluster`` profile only; anywhere else it is refused with
ES's message). Clusters are single-node, so each answer names this node only.

The node's identity is read when a request arrives, not when the handlers are registered: the
publish address is known only once the server is bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from isthmus.ccr.wire import LeaderIndexMetadataRequest
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


def nodes_payload(cluster_name: str, cluster_uuid: str, node: NodeIdentity) -> dict[str, Any]:
    """The nodes answer both actions share: the cluster and its (one) node."""
    return {
        "cluster_name": cluster_name,
        "cluster_uuid": cluster_uuid,
        "nodes": [node.to_payload()],
    }


def register_transport_nodes(
    registry: ActionRegistry[CallerT],
    *,
    cluster_name: str,
    cluster_uuid: Callable[[], str],
    node: Callable[[], NodeIdentity],
    index_metadata: ActionHandler[CallerT] | None = None,
) -> None:
    """``cluster:monitor/state`` as remote clusters ask for it: this node with its roles,
    attributes and transport publish address; or, asked with ``metadata`` (a CCR follower),
    one index's metadata from ``index_metadata``."""

    async def nodes(payload: Any, ctx: TransportRequestContext[CallerT]) -> Any:
        if index_metadata is not None and LeaderIndexMetadataRequest.is_one(payload):
            return await index_metadata(payload, ctx)
        return nodes_payload(cluster_name, cluster_uuid(), node())

    registry.register(CLUSTER_STATE_ACTION, nodes)


def register_remote_cluster_server(
    registry: ActionRegistry[CallerT],
    *,
    cluster_name: str,
    cluster_uuid: Callable[[], str],
    node: Callable[[], NodeIdentity],
) -> None:
    """The actions of the remote cluster server (API-key model), registered only when it is
    enabled: its nodes at their remote cluster server addresses, and the refusal of its handshake
    on any profile but ``_remote_cluster``."""

    async def wrong_profile(payload: Any, ctx: TransportRequestContext[CallerT]) -> Any:
        raise IllegalArgumentError(
            "remote cluster handshake action requires channel profile to be "
            f"[{REMOTE_CLUSTER_PROFILE}], but got [{ctx.channel.profile}]"
        )

    async def remote_cluster_nodes(payload: Any, ctx: TransportRequestContext[CallerT]) -> Any:
        return nodes_payload(cluster_name, cluster_uuid(), node())

    registry.register(REMOTE_CLUSTER_HANDSHAKE_ACTION, wrong_profile)
    registry.register(REMOTE_CLUSTER_NODES_ACTION, remote_cluster_nodes)


__all__ = [
    "CLUSTER_STATE_ACTION",
    "REMOTE_CLUSTER_NODES_ACTION",
    "nodes_payload",
    "register_remote_cluster_server",
    "register_transport_nodes",
]
