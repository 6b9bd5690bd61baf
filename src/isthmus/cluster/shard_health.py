"""Shard, index and cluster health, as ES's ClusterStateHealth.  [no I/O]

A single node holds every primary it can and never a replica, so each shard has one active copy
(its primary, when it runs) and ``number_of_replicas`` unassigned ones. A closed index keeps its
shards allocated (ES replicates closed indices since 7.2): its primaries count as active and it
is green or yellow like an open one. A shard whose primary is not running is red.

A cluster of several nodes reads its routing table instead (:meth:`IndexHealth.routed`): a shard
is green when every copy is started, yellow when its primary is but some replica is not, red
when its primary is not active, except the primary of a new shard while it initializes
(ES's ``getInactivePrimaryHealth``: nothing was ever written to it, so nothing is missing).
A replica whose node left within ``index.unassigned.node_left.delayed_timeout`` counts in
``delayed_unassigned_shards``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.shard_routing import (
    INITIALIZING,
    STARTED,
    UNASSIGNED,
    IndexRouting,
    ShardRouting,
    ShardTable,
)
from isthmus.errors import IllegalArgumentError

STATUS_RANK = {"green": 0, "yellow": 1, "red": 2}
LEVELS = ("cluster", "indices", "shards")


def check_level(level: str | None) -> str:
    """``level`` of a health request (ES's ClusterStatsLevel, case-insensitive)."""
    value = (level or "cluster").lower()
    if value not in LEVELS:
        raise IllegalArgumentError(
            f"level parameter must be one of [cluster] or [indices] or [shards] but was [{level}]"
        )
    return value


@dataclass(frozen=True, slots=True)
class ShardHealth:
    number: int
    primary_active: bool
    replicas: int  # unassigned replicas (a single node: every replica)
    initializing: int = 0
    active_replicas: int = 0
    unassigned_primary: bool | None = None  # None: unassigned exactly when not active
    delayed: int = 0
    # A new shard's initializing primary: yellow, not red.
    new_primary_initializing: bool = False
    relocating: int = 0  # started copies moving to another node (their targets not counted)

    @property
    def active(self) -> int:
        return (1 if self.primary_active else 0) + self.active_replicas

    @property
    def primary_unassigned(self) -> bool:
        if self.unassigned_primary is None:
            return not self.primary_active
        return self.unassigned_primary

    @property
    def unassigned(self) -> int:
        return self.replicas + (1 if self.primary_unassigned else 0)

    @property
    def status(self) -> str:
        if not self.primary_active:
            return "yellow" if self.new_primary_initializing else "red"
        return "green" if self.replicas == 0 and self.initializing == 0 else "yellow"

    @classmethod
    def routed(
        cls,
        meta: IndexMetadata,
        table: ShardTable,
        now_ms: int,
        live: Collection[str] | None = None,
    ) -> ShardHealth:
        """``live``: the nodes in the cluster now; a copy on another node counts as unassigned
        (the master has not failed it yet: ES does both in one state update)."""
        from isthmus.cluster.allocation import is_delayed

        def gone(c: ShardRouting) -> bool:
            return live is not None and c.node_id is not None and c.node_id not in live

        def state(c: ShardRouting) -> str:
            return UNASSIGNED if gone(c) else c.state

        primary = table.primary()
        primary_active = primary is not None and state(primary) == STARTED
        # A relocation target is not a copy of its own: its source counts as relocating.
        copies = [c for c in table.copies if c.relocating_from is None]
        replicas = [c for c in copies if not c.primary]
        return cls(
            table.shard,
            primary_active,
            sum(1 for c in replicas if state(c) == UNASSIGNED),
            initializing=sum(1 for c in copies if state(c) == INITIALIZING),
            relocating=sum(
                1 for c in table.copies if c.relocating_from is not None and not gone(c)
            ),
            active_replicas=sum(1 for c in replicas if state(c) == STARTED),
            unassigned_primary=primary is None or state(primary) == UNASSIGNED,
            delayed=sum(1 for c in replicas if is_delayed(meta, c, now_ms)),
            new_primary_initializing=primary is not None
            and state(primary) == INITIALIZING
            and not table.in_sync,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "primary_active": self.primary_active,
            "active_shards": self.active,
            "relocating_shards": self.relocating,
            "initializing_shards": self.initializing,
            "unassigned_shards": self.unassigned,
            "unassigned_primary_shards": 1 if self.primary_unassigned else 0,
        }


@dataclass(frozen=True, slots=True)
class IndexHealth:
    meta: IndexMetadata
    shards: tuple[ShardHealth, ...]

    @classmethod
    def of(cls, meta: IndexMetadata, running: Iterable[int]) -> IndexHealth:
        """``running``: the shard numbers whose primary is open on this node."""
        up = set(running)
        return cls(
            meta,
            tuple(
                ShardHealth(n, not meta.is_open or n in up, meta.number_of_replicas)
                for n in range(meta.number_of_shards)
            ),
        )

    @classmethod
    def routed(
        cls,
        meta: IndexMetadata,
        routing: IndexRouting,
        now_ms: int,
        live: Collection[str] | None = None,
    ) -> IndexHealth:
        """From the routing table of a cluster of several nodes (``live``: its nodes now)."""
        return cls(meta, tuple(ShardHealth.routed(meta, t, now_ms, live) for t in routing.shards))

    @property
    def status(self) -> str:
        return worst(s.status for s in self.shards)

    def totals(self) -> dict[str, int]:
        return {
            "active_primary_shards": sum(1 for s in self.shards if s.primary_active),
            "active_shards": sum(s.active for s in self.shards),
            "relocating_shards": sum(s.relocating for s in self.shards),
            "initializing_shards": sum(s.initializing for s in self.shards),
            "unassigned_shards": sum(s.unassigned for s in self.shards),
            "unassigned_primary_shards": sum(1 for s in self.shards if s.primary_unassigned),
            "delayed_unassigned_shards": sum(s.delayed for s in self.shards),
        }

    def to_json(self, level: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "number_of_shards": self.meta.number_of_shards,
            "number_of_replicas": self.meta.number_of_replicas,
            **{k: v for k, v in self.totals().items() if k != "delayed_unassigned_shards"},
        }
        if level == "shards":
            out["shards"] = {str(s.number): s.to_json() for s in self.shards}
        return out


def worst(statuses: Iterable[str], start: str = "green") -> str:
    out = start
    for status in statuses:
        if STATUS_RANK[status] > STATUS_RANK[out]:
            out = status
    return out


__all__ = ["LEVELS", "STATUS_RANK", "IndexHealth", "ShardHealth", "check_level", "worst"]
