"""Where CCR's work runs in a cluster of several nodes, and how one node asks another.

Cross-cluster replication is per shard, and a shard's work belongs where its primary is (ES's
rule for both halves):

* **leader side**: ``shard_changes``, the retention lease actions and the restore sessions of a
  leader shard are served by the node holding the shard's primary (ES's single-shard actions are
  routed to it). A follower cluster's request reaches whichever node its connection reaches (a
  sniff gateway, the proxy address); that node authorizes it, then forwards it to the primary's
  node under the action's ``[s]`` name, as the system, and answers with what that node
  answered (its errors included, ``type`` and ``reason`` kept);
* **follower side**: a follower shard's follow task runs on the node of the follower shard's
  primary, which writes the leader's operations and sends them to the follower's replicas; when
  the primary moves, the task moves with it (:mod:`isthmus.ccr.follower_tasks`). The follow
  stats of a follower are its tasks' counters, so a node asks each node running some of them.

:class:`CcrPlacement` answers "which node" from :class:`~isthmus.cluster.shard_copies.ShardCopies`
and sends a request to another node of the cluster through ``request`` (the node's kept peer
channels). A cluster of one has :data:`LOCAL` placement: everything is here, nothing crosses
the wire, and CCR behaves exactly as it did before clusters of several nodes.

Every request between nodes carries ``cluster_name`` and is refused by a node of another cluster
(:func:`check_peer`): the system identity a remote cluster may present in the certificate model
must not reach these actions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus.cluster.routing import ShardId
from isthmus.cluster.shard_copies import LocalCopies, ShardCopies
from isthmus.errors import IllegalArgumentError, NodeNotConnectedError, ShardNotFoundError

if TYPE_CHECKING:
    from isthmus.actions.peer_channels import PeerChannels
    from isthmus.cluster.nodes import NodesView

# request(node_id, action, payload, timeout) → the answer, or the node's error raised.
NodeRequest = Callable[[str, str, Mapping[str, Any], float | None], Awaitable[Any]]

CLUSTER_NAME_KEY = "cluster_name"


@dataclass(frozen=True)
class CcrPlacement:
    """Which node does a shard's CCR work, and how to ask it."""

    copies: ShardCopies
    cluster_name: str = ""
    request: NodeRequest | None = None

    @property
    def distributed(self) -> bool:
        return self.copies.distributed and self.request is not None

    @property
    def local_node_id(self) -> str:
        return self.copies.local_node_id

    def primary_node(self, shard_id: ShardId) -> str | None:
        """The node of ``shard_id``'s primary; None when it has none assigned now."""
        target = self.copies.primary(shard_id)
        return None if target is None else target.node_id

    def runs_here(self, shard_id: ShardId) -> bool:
        """Whether this node holds ``shard_id``'s started primary (a cluster of one: always)."""
        if not self.distributed:
            return True
        target = self.copies.primary(shard_id)
        return target is not None and target.started and target.node_id == self.local_node_id

    def remote_primary(self, shard_id: ShardId) -> str | None:
        """The other node that serves ``shard_id`` (None: this node does). A shard with no
        active primary now (its node left, a replica is being promoted) is a
        ``shard_not_found_exception``, which a follower retries."""
        if not self.distributed:
            return None
        target = self.copies.primary(shard_id)
        if target is None or not target.started:
            raise ShardNotFoundError(shard_id.index_name, shard_id.index_uuid, shard_id.shard)
        return None if target.node_id == self.local_node_id else target.node_id

    async def ask(
        self, node_id: str, action: str, payload: Mapping[str, Any], timeout: float | None
    ) -> Any:
        """``action`` on another node of this cluster, as the system."""
        if self.request is None:
            raise IllegalArgumentError(f"[{action}] needs a cluster of several nodes")
        body = {**payload, CLUSTER_NAME_KEY: self.cluster_name}
        return await self.request(node_id, action, body, timeout)

    def check_peer(self, payload: Any, action: str) -> dict[str, Any]:
        """A request another node of this cluster sent; a cluster of one has no such node and
        refuses them all."""
        if not self.distributed:
            raise IllegalArgumentError(f"[{action}] is only answered to nodes of this cluster")
        return check_peer(payload, self.cluster_name, action)


def local_placement(node_id: Callable[[], str]) -> CcrPlacement:
    """A cluster of one: every primary here."""
    return CcrPlacement(LocalCopies(node_id))


def check_peer(payload: Any, cluster_name: str, action: str) -> dict[str, Any]:
    """A request from a node of this cluster (another cluster's is refused); the payload
    without its ``cluster_name``."""
    if not isinstance(payload, dict) or payload.get(CLUSTER_NAME_KEY) != cluster_name:
        raise IllegalArgumentError(
            f"[{action}] is only answered to nodes of cluster [{cluster_name}]"
        )
    return {k: v for k, v in payload.items() if k != CLUSTER_NAME_KEY}


def peer_requester(peers: PeerChannels, view: NodesView) -> NodeRequest:
    """Requests to the nodes of this cluster over its kept peer channels; a node that left the
    cluster is ES's retryable ``node_not_connected_exception``."""

    async def request(
        node_id: str, action: str, payload: Mapping[str, Any], timeout: float | None
    ) -> Any:
        node = view.nodes.get(node_id)
        if node is None:
            raise NodeNotConnectedError(f"[{node_id}] Node not connected")
        return await peers.request(node, action, dict(payload), timeout=timeout)

    return request
