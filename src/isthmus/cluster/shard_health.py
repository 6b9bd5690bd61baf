"""Shard, index and cluster health from which primaries run, as ES's ClusterStateHealth.  [no I/O]

A single node holds every primary it can and never a replica, so each shard has one active copy
(its primary, when it runs) and ``number_of_replicas`` unassigned ones. A closed index keeps its
shards allocated (ES replicates closed indices since 7.2): its primaries count as active and it
is green or yellow like an open one. A shard whose primary is not running is red.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from isthmus.cluster.metadata import IndexMetadata
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
    replicas: int

    @property
    def active(self) -> int:
        return 1 if self.primary_active else 0

    @property
    def unassigned(self) -> int:
        return self.replicas + (0 if self.primary_active else 1)

    @property
    def status(self) -> str:
        if not self.primary_active:
            return "red"
        return "green" if self.replicas == 0 else "yellow"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "primary_active": self.primary_active,
            "active_shards": self.active,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": self.unassigned,
            "unassigned_primary_shards": 0 if self.primary_active else 1,
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

    @property
    def status(self) -> str:
        return worst(s.status for s in self.shards)

    def totals(self) -> dict[str, int]:
        active_primaries = sum(s.active for s in self.shards)
        return {
            "active_primary_shards": active_primaries,
            "active_shards": active_primaries,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": sum(s.unassigned for s in self.shards),
            "unassigned_primary_shards": sum(1 - s.active for s in self.shards),
        }

    def to_json(self, level: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "number_of_shards": self.meta.number_of_shards,
            "number_of_replicas": self.meta.number_of_replicas,
            **self.totals(),
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
