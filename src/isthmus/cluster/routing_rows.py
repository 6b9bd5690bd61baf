"""The routing table as the APIs show it: ``_cat/shards`` and ``_cat/allocation`` rows, and
``_cluster/state``'s ``routing_table`` and ``routing_nodes`` sections.  [no I/O]

A cluster of several nodes lists every copy of every shard from its routing table: the node
holding it (name, id, address), its state, and for an unassigned copy ES's ``unassigned.*``
columns. ``docs`` and ``store`` are known for the copies this node holds (``local_stats``);
another node's are left empty, as the other nodes are not asked. ``_cat/allocation`` counts the
copies per data node (a row ``UNASSIGNED`` for the copies nowhere).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.nodes import DiscoveryNodes
from isthmus.cluster.shard_routing import INITIALIZING, ShardRouting, ShardTable
from isthmus.settings.values import human_time

# (docs, store bytes) of this node's copy of a shard, or None when it holds none.
LocalStats = Callable[[IndexMetadata, int], tuple[int, int] | None]
EXTRA_SHARD_COLUMNS = (
    "id",
    "unassigned.reason",
    "unassigned.at",
    "unassigned.for",
    "unassigned.details",
)


def _at(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def shard_rows(
    state: ClusterMetadata,
    nodes: DiscoveryNodes,
    names: set[str],
    local_stats: LocalStats,
    now_ms: int,
) -> list[dict[str, Any]]:
    """One row per copy of the named indices, by index name, shard, primary first."""
    rows: list[dict[str, Any]] = []
    local = nodes.local_node_id
    for meta in sorted(state.indices.values(), key=lambda m: m.name):
        routing = state.routing.get(meta.uuid)
        if meta.name not in names or routing is None:
            continue
        for table in routing.shards:
            for copy in sorted(table.copies, key=lambda c: not c.primary):
                if copy.relocating_from is not None:
                    continue  # shown on its source's row, as ES does
                node = nodes.get(copy.node_id) if copy.node_id else None
                stats = local_stats(meta, table.shard) if copy.node_id == local else None
                target = table.target_of(copy.allocation_id) if copy.allocation_id else None
                shown = node.name if node else None
                if target is not None and node is not None:
                    to = nodes.get(target.node_id or "")
                    if to is not None:
                        shown = f"{node.name} -> {to.host_address} {to.id} {to.name}"
                row: dict[str, Any] = {
                    "index": meta.name,
                    "shard": table.shard,
                    "prirep": "p" if copy.primary else "r",
                    "state": "RELOCATING" if target is not None else copy.state,
                    "docs": stats[0] if stats else None,
                    "store_bytes": stats[1] if stats else None,
                    "ip": node.host_address if node else None,
                    "node": shown,
                    "id": copy.node_id,
                }
                info = copy.unassigned
                if not copy.assigned and info is not None:
                    row["unassigned.reason"] = info.reason
                    row["unassigned.at"] = _at(info.at_ms)
                    row["unassigned.for"] = human_time(max(0, now_ms - info.at_ms))
                    row["unassigned.details"] = info.details
                rows.append(row)
    return rows


def allocation_rows(state: ClusterMetadata, nodes: DiscoveryNodes) -> list[dict[str, Any]]:
    """``_cat/allocation``: copies per data node, then the ``UNASSIGNED`` row when any."""
    counts: dict[str, int] = {}
    unassigned = 0
    for routing in state.routing.values():
        for table in routing.shards:
            for copy in table.copies:
                if copy.node_id is None:
                    unassigned += 1
                else:
                    counts[copy.node_id] = counts.get(copy.node_id, 0) + 1
    rows: list[dict[str, Any]] = [
        {
            "shards": counts.get(node.id, 0),
            "host": node.host_name,
            "ip": node.host_address,
            "node": node.name,
            "node.role": node.role_letters(),
        }
        for node in nodes
        if node.can_contain_data
    ]
    if unassigned:
        rows.append({"shards": unassigned, "node": "UNASSIGNED"})
    return rows


def _copy_json(table: ShardTable, index: str, copy: ShardRouting, delayed: bool) -> dict[str, Any]:
    """One copy as ES's ShardRouting.toXContent writes it (a relocation's source is RELOCATING
    towards its target's node; the target names its source's node)."""
    target = table.target_of(copy.allocation_id) if copy.allocation_id else None
    source = table.by_allocation(copy.relocating_from) if copy.relocating_from else None
    out: dict[str, Any] = {
        "state": "RELOCATING" if target is not None else copy.state,
        "primary": copy.primary,
        "node": copy.node_id,
        "relocating_node": target.node_id
        if target is not None
        else (source.node_id if source is not None else None),
        "shard": copy.shard,
        "index": index,
    }
    if copy.state == INITIALIZING:
        out["recovery_source"] = {
            "type": "EXISTING_STORE"
            if copy.primary and copy.unassigned and copy.unassigned.last_allocation_id
            else ("EMPTY_STORE" if copy.primary else "PEER")
        }
    if copy.allocation_id is not None:
        out["allocation_id"] = {"id": copy.allocation_id}
    info = copy.unassigned
    if info is not None:
        unassigned: dict[str, Any] = {"reason": info.reason, "at": _at(info.at_ms)}
        if info.failed_attempts:
            unassigned["failed_attempts"] = info.failed_attempts
        unassigned["delayed"] = delayed
        if info.details is not None:
            unassigned["details"] = info.details
        unassigned["allocation_status"] = "no_attempt"
        out["unassigned_info"] = unassigned
    out["relocation_failure_info"] = {"failed_attempts": 0}
    return out


def state_sections(state: ClusterMetadata, now_ms: int) -> dict[str, Any]:
    """``routing_table`` (index → shard → copies) and ``routing_nodes`` (the unassigned copies,
    and the copies of each node), as ES's ``_cluster/state`` lists them."""
    from isthmus.cluster.allocation import is_delayed

    indices: dict[str, Any] = {}
    unassigned: list[dict[str, Any]] = []
    by_node: dict[str, list[dict[str, Any]]] = {}
    for meta in state.indices.values():
        routing = state.routing.get(meta.uuid)
        if routing is None:
            continue
        shards: dict[str, Any] = {}
        for table in routing.shards:
            copies = [
                _copy_json(table, meta.name, c, is_delayed(meta, c, now_ms)) for c in table.copies
            ]
            # routing_table lists a relocation's source only; routing_nodes both, by node.
            shards[str(table.shard)] = [
                body
                for copy, body in zip(table.copies, copies, strict=True)
                if copy.relocating_from is None
            ]
            for copy, body in zip(table.copies, copies, strict=True):
                if copy.node_id is None:
                    unassigned.append(body)
                else:
                    by_node.setdefault(copy.node_id, []).append(body)
        indices[meta.name] = {"shards": shards}
    return {
        "routing_table": {"indices": indices},
        "routing_nodes": {"unassigned": unassigned, "nodes": by_node},
    }


def index_state_extras(state: ClusterMetadata, meta: IndexMetadata) -> dict[str, Any]:
    """An index's ``primary_terms`` and ``in_sync_allocations`` in ``_cluster/state`` metadata."""
    routing = state.routing.get(meta.uuid)
    if routing is None:
        return {}
    return {
        "primary_terms": {str(t.shard): t.primary_term for t in routing.shards},
        "in_sync_allocations": {str(t.shard): sorted(t.in_sync) for t in routing.shards},
    }


__all__ = [
    "EXTRA_SHARD_COLUMNS",
    "LocalStats",
    "allocation_rows",
    "index_state_extras",
    "shard_rows",
    "state_sections",
]
