"""``_stats`` in a cluster of several nodes: the sections of every node's copies.

``primaries`` sums the primary copies and ``total`` every copy (ES's IndicesStatsResponse);
``_shards.total`` counts every copy the indices should have (``number_of_shards`` times (1 +
``number_of_replicas``)), ``successful`` the copies that answered; ``level=shards`` lists each
copy with its routing (primary or not, node). The copies come from
:mod:`isthmus.actions.node_shard_stats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from isthmus.actions.node_shard_stats import CopyStats
from isthmus.cluster.resolve import Resolved
from isthmus.http.handlers.index_stats import ShardNumbers, sections

if TYPE_CHECKING:
    from isthmus.actions.cluster import ClusterActions


def numbers(copy: CopyStats) -> ShardNumbers:
    return ShardNumbers(
        copy.docs, copy.deleted, copy.store_bytes, copy.index_total, copy.noop_updates
    )


def copies_stats_body(
    targets: Sequence[Resolved],
    copies: Sequence[CopyStats],
    metrics: frozenset[str],
    level: str,
    cluster: ClusterActions,
) -> dict[str, Any]:
    """The ``_stats`` body from the gathered copies of ``targets``."""
    by_uuid: dict[str, list[CopyStats]] = {}
    for copy in copies:
        by_uuid.setdefault(copy.index_uuid, []).append(copy)
    indices: dict[str, Any] = {}
    every: list[CopyStats] = []
    expected = 0
    for t in targets:
        meta = t.index
        expected += meta.number_of_shards * (1 + meta.number_of_replicas)
        held = sorted(by_uuid.get(meta.uuid, []), key=lambda c: (c.shard, not c.primary))
        every.extend(held)
        entry: dict[str, Any] = {
            "uuid": meta.uuid,
            "health": cluster.index_health(meta),
            "status": meta.state,
            "primaries": sections([numbers(c) for c in held if c.primary], metrics),
            "total": sections([numbers(c) for c in held], metrics),
        }
        if level == "shards":
            shards: dict[str, list[dict[str, Any]]] = {}
            for c in held:
                shards.setdefault(str(c.shard), []).append(
                    {
                        "routing": {
                            "state": "STARTED",
                            "primary": c.primary,
                            "node": c.node_id,
                            "relocating_node": None,
                        },
                        **sections([numbers(c)], metrics),
                        **(c.history or {}),
                    }
                )
            entry["shards"] = shards
        indices[meta.name] = entry
    return {
        "_shards": {"total": expected, "successful": len(every), "failed": 0},
        "_all": {
            "primaries": sections([numbers(c) for c in every if c.primary], metrics),
            "total": sections([numbers(c) for c in every], metrics),
        },
        **({"indices": indices} if level != "cluster" else {}),
    }


__all__ = ["copies_stats_body"]
