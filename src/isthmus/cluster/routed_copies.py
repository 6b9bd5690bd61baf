"""Where a shard's copies are in a cluster of several nodes: read from the routing table.

:class:`RoutedCopies` answers :class:`~isthmus.cluster.shard_copies.ShardCopies` from the routing
table of the cluster state this node last applied (:mod:`isthmus.cluster.shard_routing`), so
every answer is as fresh as that state: a copy the master failed or promoted is seen here once
the change is published. Rules:

- ``primary``: the primary copy when it is assigned (an initializing primary still takes
  writes once its node opened it; the node's shard decides whether it is ready);
- ``replicas``: every other assigned copy, started or initializing (a recovering copy receives
  live writes);
- ``readable``: started copies, this node's first;
- ``fail_copy``: a ``shard-failed`` change submitted to the master (through the cluster service);
  a stale primary term comes back as :class:`~isthmus.errors.NoLongerPrimaryShardError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from isthmus.cluster.allocation import shard_failed
from isthmus.cluster.routing import ShardId
from isthmus.cluster.shard_copies import CopyTarget
from isthmus.cluster.shard_routing import STARTED, ShardRouting, ShardTable

if TYPE_CHECKING:
    from isthmus.cluster.nodes import NodesView
    from isthmus.cluster.service import ClusterService


def _target(copy: ShardRouting) -> CopyTarget:
    assert copy.node_id is not None
    return CopyTarget(copy.node_id, copy.allocation_id or "", copy.primary, copy.state == STARTED)


class RoutedCopies:
    """A cluster of several nodes: the copies the published routing table names."""

    distributed = True

    def __init__(
        self,
        cluster: ClusterService,
        view: NodesView,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cluster = cluster
        self._view = view
        self._clock = clock

    @property
    def local_node_id(self) -> str:
        return self._view.local.id

    def _table(self, shard_id: ShardId) -> ShardTable | None:
        routing = self._cluster.state.routing.get(shard_id.index_uuid)
        if routing is None or not 0 <= shard_id.shard < len(routing.shards):
            return None
        return routing.shards[shard_id.shard]

    def primary(self, shard_id: ShardId) -> CopyTarget | None:
        table = self._table(shard_id)
        copy = table.primary() if table is not None else None
        return _target(copy) if copy is not None and copy.assigned else None

    def replicas(self, shard_id: ShardId) -> list[CopyTarget]:
        table = self._table(shard_id)
        if table is None:
            return []
        return [_target(c) for c in table.replicas() if c.assigned]

    def readable(self, shard_id: ShardId) -> list[CopyTarget]:
        table = self._table(shard_id)
        if table is None:
            return []
        local = self.local_node_id
        started = [c for c in table.copies if c.state == STARTED]
        started.sort(key=lambda c: c.node_id != local)  # stable: this node's copy first
        return [_target(c) for c in started]

    def primary_term(self, shard_id: ShardId) -> int:
        table = self._table(shard_id)
        return table.primary_term if table is not None else 0

    async def fail_copy(
        self,
        shard_id: ShardId,
        allocation_id: str,
        primary_term: int,
        reason: str,
        *,
        unreachable: bool = False,
    ) -> None:
        now = int(self._clock() * 1000)
        await self._cluster.submit(
            "shard-failed",
            lambda s: shard_failed(
                s,
                shard_id.index_uuid,
                shard_id.shard,
                allocation_id,
                primary_term,
                reason,
                now,
                counted=not unreachable,
            ),
        )

    def __repr__(self) -> str:
        return f"<RoutedCopies indices={len(self._cluster.state.routing)}>"


__all__ = ["RoutedCopies"]
