"""A follower's ``_ccr/stats``: its shard follow tasks' counters, wherever the tasks run.

ES's follow stats action is a tasks action: the node asked collects each shard follow task's
status from the node running it. In a cluster of one every task is here. In a cluster of several
nodes a shard's task runs on the node of the follower shard's primary
(:mod:`isthmus.ccr.follower_tasks`), so the node asked answers its own tasks and asks each other
node holding a primary of the followers named (``cluster:monitor/ccr/follow_stats[n]``) for its
tasks' entries. A node that does not answer leaves its shards out (ES lists it among the task
failures; its shards' counters are unknown either way).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.routing import ShardId
from isthmus.errors import IllegalArgumentError, IsthmusError
from isthmus.wire.names import FOLLOW_STATS_NODE_ACTION

if TYPE_CHECKING:
    from isthmus.ccr.follower_tasks import FollowerTasks
    from isthmus.security.authz import Subject
    from isthmus.transport.actions import ActionRegistry, TransportRequestContext

log = logging.getLogger("org.elasticsearch.xpack.ccr.action.TransportFollowStatsAction")

# How long the node asked waits for another node's tasks.
NODE_TIMEOUT_S = 10.0

ShardEntries = dict[str, list[dict[str, Any]]]  # follower index uuid → its shards' entries


class FollowStats:
    """The follow stats of this cluster's followers, collected from the nodes running them."""

    def __init__(self, tasks: FollowerTasks) -> None:
        self._tasks = tasks

    def register(self, registry: ActionRegistry[Subject]) -> None:
        registry.register(FOLLOW_STATS_NODE_ACTION, self._on_node)

    async def _on_node(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        body = self._tasks.placement.check_peer(payload, FOLLOW_STATS_NODE_ACTION)
        uuids = body.get("indices")
        if not isinstance(uuids, list) or not all(isinstance(u, str) for u in uuids):
            raise IllegalArgumentError("a follow stats request needs [indices]")
        return {"indices": self.local(uuids)}

    def local(self, uuids: Iterable[str]) -> ShardEntries:
        """The entries of this node's tasks of the given followers."""
        out: ShardEntries = {}
        for uuid in uuids:
            run = self._tasks.run_of(uuid)
            if run is not None:
                out[uuid] = [task.to_json() for task in run.shard_tasks()]
        return out

    async def shards(self, metas: Sequence[IndexMetadata]) -> ShardEntries:
        """Every task's entry of the given followers, by follower uuid (only followers some
        node runs tasks of), each follower's shards in order."""
        uuids = [m.uuid for m in metas]
        found = self.local(uuids)
        placement = self._tasks.placement
        if not placement.distributed:
            return found
        nodes = {
            node
            for meta in metas
            for n in range(meta.number_of_shards)
            if (node := placement.primary_node(ShardId(meta.uuid, n, meta.name))) is not None
            and node != placement.local_node_id
        }
        answers = await asyncio.gather(*(self._ask(node, uuids) for node in sorted(nodes)))
        for answer in answers:
            for uuid, entries in answer.items():
                found.setdefault(uuid, []).extend(entries)
        for uuid, entries in found.items():
            # A task that just moved may be listed by both nodes for an instant: one per shard.
            by_shard = {int(e.get("shard_id", -1)): e for e in entries}
            found[uuid] = [by_shard[n] for n in sorted(by_shard)]
        return found

    async def _ask(self, node: str, uuids: list[str]) -> ShardEntries:
        placement = self._tasks.placement
        try:
            answer = await placement.ask(
                node, FOLLOW_STATS_NODE_ACTION, {"indices": uuids}, NODE_TIMEOUT_S
            )
        except (IsthmusError, OSError, TimeoutError) as exc:
            log.debug("node [%s] did not answer its follow tasks' stats: %s", node, exc)
            return {}
        indices = answer.get("indices") if isinstance(answer, dict) else None
        if not isinstance(indices, dict):
            return {}
        return {
            uuid: [e for e in entries if isinstance(e, dict)]
            for uuid, entries in indices.items()
            if isinstance(uuid, str) and isinstance(entries, list)
        }

    async def response(self, metas: Sequence[IndexMetadata]) -> dict[str, Any]:
        """ES's follow stats body for ``metas`` (followers without tasks are left out)."""
        found = await self.shards(metas)
        indices = []
        for meta in metas:
            shards = found.get(meta.uuid)
            if shards is None:
                continue
            lag = sum(
                max(0, sh["leader_global_checkpoint"] - sh["follower_global_checkpoint"])
                for sh in shards
            )
            indices.append(
                {"index": meta.name, "total_global_checkpoint_lag": lag, "shards": shards}
            )
        return {"indices": indices}

    async def failed(self, meta: IndexMetadata) -> bool:
        """Whether some shard task of ``meta`` stopped on a fatal failure."""
        shards = (await self.shards([meta])).get(meta.uuid, [])
        return any("fatal_exception" in sh for sh in shards)

    def __repr__(self) -> str:
        return f"<FollowStats {self._tasks!r}>"
