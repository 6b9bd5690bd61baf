"""The routing table: which node holds each copy of each shard, in ES's primary-backup model.
[no I/O]

Only a cluster of several nodes has one (a cluster of one keeps every primary on its node and
no replica: :mod:`isthmus.cluster.shard_health`). Per index, per shard:

- one primary and ``number_of_replicas`` replica copies, each ``UNASSIGNED``, ``INITIALIZING``
  (allocated to a node, not ready yet) or ``STARTED``; an assigned copy has a node and an
  allocation id (new for each allocation: a copy that comes back is a new copy);
- the shard's primary term (raised each time a replica is promoted to primary: operations of an
  older primary are refused by copies that know the new term);
- the in-sync set: the allocation ids of the copies known to hold every acknowledged operation.
  Only an in-sync copy may become primary; a primary whose copies are all gone waits for one
  of them to come back (the shard is red) rather than start empty and lose writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

UNASSIGNED = "UNASSIGNED"
INITIALIZING = "INITIALIZING"
STARTED = "STARTED"


@dataclass(frozen=True, slots=True)
class UnassignedInfo:
    """Why a copy is unassigned: ES's UnassignedInfo (``reason`` is its Reason enum's name)."""

    reason: str  # INDEX_CREATED, NODE_LEFT, ALLOCATION_FAILED, REPLICA_ADDED, PRIMARY_FAILED...
    at_ms: int
    details: str | None = None
    failed_attempts: int = 0
    # The node that held the copy last (a primary of an existing shard waits for it).
    last_node_id: str | None = None
    last_allocation_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason, "at_ms": self.at_ms}
        if self.details is not None:
            out["details"] = self.details
        if self.failed_attempts:
            out["failed_attempts"] = self.failed_attempts
        if self.last_node_id is not None:
            out["last_node_id"] = self.last_node_id
        if self.last_allocation_id is not None:
            out["last_allocation_id"] = self.last_allocation_id
        return out

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> UnassignedInfo:
        return cls(
            reason=str(body["reason"]),
            at_ms=int(body.get("at_ms", 0)),
            details=body.get("details"),
            failed_attempts=int(body.get("failed_attempts", 0)),
            last_node_id=body.get("last_node_id"),
            last_allocation_id=body.get("last_allocation_id"),
        )


@dataclass(frozen=True, slots=True)
class ShardRouting:
    """One copy of one shard."""

    shard: int
    primary: bool
    state: str = UNASSIGNED
    node_id: str | None = None
    allocation_id: str | None = None
    unassigned: UnassignedInfo | None = None
    # A relocation target: the allocation id of the started copy it replaces once it is started
    # (ES's relocating shard pair). Recovers like any replica; not counted as one of the
    # shard's ``number_of_replicas`` copies.
    relocating_from: str | None = None

    @property
    def assigned(self) -> bool:
        return self.node_id is not None

    @property
    def active(self) -> bool:
        return self.state == STARTED

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"shard": self.shard, "primary": self.primary, "state": self.state}
        if self.node_id is not None:
            out["node"] = self.node_id
        if self.allocation_id is not None:
            out["allocation_id"] = self.allocation_id
        if self.unassigned is not None:
            out["unassigned_info"] = self.unassigned.to_json()
        if self.relocating_from is not None:
            out["relocating_from"] = self.relocating_from
        return out

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ShardRouting:
        info = body.get("unassigned_info")
        return cls(
            shard=int(body["shard"]),
            primary=bool(body["primary"]),
            state=str(body.get("state", UNASSIGNED)),
            node_id=body.get("node"),
            allocation_id=body.get("allocation_id"),
            unassigned=UnassignedInfo.from_json(info) if info else None,
            relocating_from=body.get("relocating_from"),
        )


@dataclass(frozen=True, slots=True)
class ShardTable:
    """Every copy of one shard, its primary term and its in-sync allocation ids."""

    shard: int
    copies: tuple[ShardRouting, ...]
    primary_term: int = 1
    in_sync: frozenset[str] = field(default_factory=frozenset)

    def primary(self) -> ShardRouting | None:
        return next((c for c in self.copies if c.primary), None)

    def active_primary(self) -> ShardRouting | None:
        p = self.primary()
        return p if p is not None and p.active else None

    def replicas(self) -> list[ShardRouting]:
        return [c for c in self.copies if not c.primary]

    def target_of(self, allocation_id: str) -> ShardRouting | None:
        """The relocation target replacing the copy ``allocation_id`` (None: not relocating)."""
        return next((c for c in self.copies if c.relocating_from == allocation_id), None)

    def on_node(self, node_id: str) -> ShardRouting | None:
        return next((c for c in self.copies if c.node_id == node_id), None)

    def by_allocation(self, allocation_id: str) -> ShardRouting | None:
        return next((c for c in self.copies if c.allocation_id == allocation_id), None)

    def with_copies(self, copies: tuple[ShardRouting, ...]) -> ShardTable:
        return replace(self, copies=copies)

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "primary_term": self.primary_term,
            "in_sync": sorted(self.in_sync),
            "copies": [c.to_json() for c in self.copies],
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ShardTable:
        return cls(
            shard=int(body["shard"]),
            copies=tuple(ShardRouting.from_json(c) for c in body.get("copies", [])),
            primary_term=int(body.get("primary_term", 1)),
            in_sync=frozenset(body.get("in_sync", [])),
        )


@dataclass(frozen=True, slots=True)
class IndexRouting:
    """The routing of every shard of one index (keyed by index uuid in the cluster state)."""

    index_uuid: str
    shards: tuple[ShardTable, ...]

    def shard(self, number: int) -> ShardTable:
        return self.shards[number]

    def with_shard(self, table: ShardTable) -> IndexRouting:
        shards = list(self.shards)
        shards[table.shard] = table
        return replace(self, shards=tuple(shards))

    def to_json(self) -> dict[str, Any]:
        return {"index_uuid": self.index_uuid, "shards": [s.to_json() for s in self.shards]}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> IndexRouting:
        return cls(
            index_uuid=str(body["index_uuid"]),
            shards=tuple(ShardTable.from_json(s) for s in body.get("shards", [])),
        )
