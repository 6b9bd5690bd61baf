"""The statistics of every copy of some indices, wherever the copies are (``_stats``,
``_cat/indices`` in a cluster of several nodes).

ES's index statistics are gathered from every node holding copies (``indices:monitor/stats[n]``,
its broadcast-by-node action): ``primaries`` sums the primary copies, ``total`` every copy. On
one node every copy is a primary held here and nothing crosses the wire. A node that does not
answer leaves its copies out (they count as not successful in ``_shards``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.actions.node_shards import COPY_FAILURES, NodeChannels
from isthmus.errors import IllegalArgumentError, SecurityError
from isthmus.index.service import IndicesService
from isthmus.transport.actions import ActionRegistry
from isthmus.wire import RemoteProtocolError
from isthmus.wire.names import NODE_STATS_ACTION

log = logging.getLogger("org.elasticsearch.action.admin.indices.stats.TransportIndicesStatsAction")

_FIELDS = ("docs", "deleted", "store_bytes", "index_total", "noop_updates")


@dataclass(frozen=True, slots=True)
class CopyStats:
    """One shard copy's numbers, and where it is."""

    index_uuid: str
    shard: int
    primary: bool
    node_id: str
    docs: int
    deleted: int
    store_bytes: int
    index_total: int
    noop_updates: int
    # ES's commit, seq_no and retention_leases sections of the copy (``level=shards`` only).
    history: dict[str, Any] | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "index_uuid": self.index_uuid,
            "shard": self.shard,
            "primary": self.primary,
            "node": self.node_id,
            **{f: getattr(self, f) for f in _FIELDS},
            **({} if self.history is None else {"history": self.history}),
        }

    @classmethod
    def from_payload(cls, value: Any) -> CopyStats:
        if not isinstance(value, dict):
            raise RemoteProtocolError("copy statistics are not a map")
        uuid, node, primary = value.get("index_uuid"), value.get("node"), value.get("primary")
        numbers = [value.get("shard"), *(value.get(f) for f in _FIELDS)]
        if (
            not isinstance(uuid, str)
            or not isinstance(node, str)
            or not isinstance(primary, bool)
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers)
        ):
            raise RemoteProtocolError("copy statistics are malformed")
        history = value.get("history")
        if history is not None and not isinstance(history, dict):
            raise RemoteProtocolError("copy statistics [history] is not a map")
        shard, docs, deleted, store, indexed, noops = numbers
        return cls(uuid, shard, primary, node, docs, deleted, store, indexed, noops, history)  # type: ignore[arg-type]


async def local_copy_stats(
    indices: IndicesService, index_uuids: Iterable[str], node_id: str, history: bool = False
) -> list[CopyStats]:
    """The copies this node holds of ``index_uuids`` (a shard without a routing entry, on a
    cluster of one, is its index's primary); with ``history``, each copy's history sections."""
    wanted = set(index_uuids)
    out = []
    for shard_id, shard in list(indices.shards.items()):
        if shard_id.index_uuid not in wanted:
            continue
        st = shard.engine.stats()
        routing = shard.routing
        out.append(
            CopyStats(
                shard_id.index_uuid,
                shard_id.shard,
                True if routing is None else routing.primary,
                node_id,
                st.docs,
                st.deleted_docs,
                st.store_bytes,
                st.max_seq_no + 1,
                shard.noop_updates,
                await shard.history_sections() if history else None,
            )
        )
    return out


class CopyStatsGather:
    """Gathers the copies' statistics from this node and every other node holding copies."""

    def __init__(
        self, channels: NodeChannels, indices: IndicesService, local_node_id: Callable[[], str]
    ) -> None:
        self.channels = channels
        self.indices = indices
        self.local_node_id = local_node_id

    async def gather(
        self, routing: Mapping[str, Any], index_uuids: list[str], history: bool = False
    ) -> list[CopyStats]:
        """Every reachable copy of ``index_uuids`` (``routing``: the routing table by uuid);
        ``history``: with each copy's history sections (``level=shards``)."""
        local = self.local_node_id()
        nodes: set[str] = set()
        for uuid in index_uuids:
            table = routing.get(uuid)
            for shard in [] if table is None else table.shards:
                nodes.update(c.node_id for c in shard.copies if c.node_id and c.node_id != local)
        payload = {
            "cluster_name": self.channels.cluster_name,
            "index_uuids": index_uuids,
            "history": history,
        }
        ordered = sorted(nodes)
        answers = await asyncio.gather(
            *(self.channels.request(n, NODE_STATS_ACTION, payload) for n in ordered),
            return_exceptions=True,
        )
        out = await local_copy_stats(self.indices, index_uuids, local, history)
        for node_id, answer in zip(ordered, answers, strict=True):
            if isinstance(answer, COPY_FAILURES):
                log.debug("statistics of node [%s] failed: %s", node_id, answer)
                continue
            if isinstance(answer, BaseException):
                raise answer
            copies = answer.get("copies") if isinstance(answer, dict) else None
            if not isinstance(copies, list):
                raise RemoteProtocolError("statistics answer has no [copies] list")
            out.extend(CopyStats.from_payload(c) for c in copies)
        return out

    def register(self, registry: ActionRegistry[Any]) -> None:
        """Answer the other nodes' ``indices:monitor/stats[n]`` of this cluster."""
        cluster_name = self.channels.cluster_name

        async def handle(payload: Any, ctx: Any) -> Any:
            # Only this cluster's nodes ask, as the system (the caller is None): the action is
            # also on the remote cluster server's allowlist, where a cross-cluster key (or, on
            # the transport, a certificate-model user) would read any index's copies unchecked.
            caller = getattr(ctx, "caller", None)
            if caller is not None:
                raise SecurityError(
                    f"action [{NODE_STATS_ACTION}] is unauthorized for user [{caller.username}]"
                )
            if not isinstance(payload, Mapping) or payload.get("cluster_name") != cluster_name:
                raise IllegalArgumentError(
                    f"[{NODE_STATS_ACTION}] is only answered to nodes of cluster [{cluster_name}]"
                )
            uuids = payload.get("index_uuids")
            if not isinstance(uuids, list) or not all(isinstance(u, str) for u in uuids):
                raise IllegalArgumentError("[index_uuids] must be a list of strings")
            copies = await local_copy_stats(
                self.indices, uuids, self.local_node_id(), payload.get("history") is True
            )
            return {"copies": [c.to_payload() for c in copies]}

        registry.register(NODE_STATS_ACTION, handle)

    def __repr__(self) -> str:
        return f"<CopyStatsGather {self.channels!r}>"


__all__ = ["CopyStats", "CopyStatsGather", "local_copy_stats"]
