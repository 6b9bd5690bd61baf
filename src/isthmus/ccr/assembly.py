"""How a node builds cross-cluster replication, in its two halves.

The leader side (:class:`CcrLeader`: what follower clusters call here, shard changes, retention
leases, restore sessions) is built before the transport starts, because the transport's
``cluster:monitor/state`` answer reads leader index metadata from it; its actions are registered
once the transport runs. The follower side (:class:`CcrFollower`: the APIs, the follow tasks,
auto-follow) needs the remote cluster service, so it is built after it. The composition root
(:mod:`isthmus.node`) pushes each half's ``close`` on its exit stack where it is started, runs
the auto-follow loop in its task group and calls :meth:`CcrFollower.resume` once everything runs.

In a cluster of several nodes :func:`distribute_ccr` then tells both halves where each shard's
primary is and how to reach the other nodes (:mod:`isthmus.ccr.placement`).

This module builds; it decides nothing about replication itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from isthmus.ccr.auto_follower import AutoFollower
from isthmus.ccr.follower_tasks import ReplicaWrite
from isthmus.ccr.leader import LeaderShards
from isthmus.ccr.leader_restore import RestoreSessions
from isthmus.ccr.placement import CcrPlacement, NodeRequest
from isthmus.ccr.service import CcrService
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.settings.ccr import DEFAULT_MAX_LEASES_PER_SHARD, RENEW_INTERVAL

if TYPE_CHECKING:
    from isthmus.cluster.service import ClusterService
    from isthmus.cluster.shard_copies import ShardCopies
    from isthmus.index.service import IndicesService
    from isthmus.remote.service import RemoteClusterService
    from isthmus.security.authz import Subject
    from isthmus.security.index_authorization import IndexAuthorization
    from isthmus.settings.node import NodeSettings
    from isthmus.transport.actions import ActionRegistry

SubjectLookup = Callable[[str], "Subject | None"]


@dataclass(frozen=True)
class CcrLeader:
    """CCR's leader side: this cluster's shards as followers read them, and the restore
    sessions that copy a shard to a new follower."""

    shards: LeaderShards
    restores: RestoreSessions

    def register(self, registry: ActionRegistry[Subject]) -> None:
        """The leader's transport actions (one registry serves both listeners)."""
        self.shards.register(registry)
        self.restores.register(registry)

    async def close(self) -> None:
        """Every open restore session goes (the node stops)."""
        await self.restores.close()


def ccr_leader(
    cluster: ClusterService,
    indices: IndicesService,
    node_id: Callable[[], str],
    *,
    authz: IndexAuthorization | None,
    max_leases_per_shard: int = DEFAULT_MAX_LEASES_PER_SHARD,
) -> CcrLeader:
    """The leader side; ``authz`` None: security is off, every follower may read."""
    shards = LeaderShards(
        lambda: cluster.state, indices, authz=authz, max_leases_per_shard=max_leases_per_shard
    )
    return CcrLeader(shards, RestoreSessions(shards, node_id))


@dataclass(frozen=True)
class CcrFollower:
    """CCR's follower side: the APIs with their follow tasks, and the auto-follow coordinator."""

    service: CcrService
    auto_follow: AutoFollower

    async def apply(self, old: ClusterMetadata, new: ClusterMetadata) -> None:
        """Applier of the cluster metadata: the follow tasks follow it."""
        await self.service.apply(old, new)

    async def resume(self, state: ClusterMetadata) -> None:
        """Followers recorded as following in ``state`` (the node's start) resume their tasks;
        they retry until the remote connects."""
        await self.service.apply(ClusterMetadata(cluster_uuid=state.cluster_uuid), state)

    async def close(self) -> None:
        await self.service.close()


def ccr_follower(
    settings: NodeSettings,
    cluster: ClusterService,
    indices: IndicesService,
    remote: RemoteClusterService,
    *,
    subject_lookup: SubjectLookup | None,
) -> CcrFollower:
    """The follower side. With security on (``subject_lookup`` set), a follow task after a
    restart reads as the user who started it, and auto-follow follows as the user who created
    each pattern, each looked up by name."""
    service = CcrService(
        cluster,
        indices,
        remote,
        cluster_name=settings.cluster_name,
        renew_interval_s=settings.get(RENEW_INTERVAL).seconds,
        subject_lookup=subject_lookup,
    )
    return CcrFollower(service, AutoFollower(service, subject_lookup=subject_lookup))


def distribute_ccr(
    leader: CcrLeader,
    follower: CcrFollower,
    registry: ActionRegistry[Subject],
    *,
    cluster_name: str,
    copies: ShardCopies,
    request: NodeRequest,
    replicate: ReplicaWrite | None,
    master: Callable[[], str | None],
) -> CcrPlacement:
    """A cluster of several nodes: the leader's shards are served on their primaries' nodes,
    each follower shard's task runs on its primary's node and writes to its replicas through
    ``replicate``, this node answers the others' follow stats requests, and auto-follow runs on
    the elected master only (``master``: its node id, None while there is none)."""
    placement = CcrPlacement(copies, cluster_name, request)
    leader.shards.distribute(placement)
    follower.service.distribute(placement, replicate)
    follower.service.stats.register(registry)
    follower.auto_follow.master = master
    follower.auto_follow.placement = placement
    follower.auto_follow.register(registry)
    return placement
