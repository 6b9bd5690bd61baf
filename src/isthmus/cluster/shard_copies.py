"""Where a shard's copies are: the question every shard-level action asks first.  [no I/O]

In a cluster of one node every shard has one copy, its primary, on this node
(:class:`LocalCopies`). In a cluster of several nodes the routing table of the published cluster
state says which node holds each copy (:mod:`isthmus.cluster.shard_routing`); the document
actions send a write to the primary's node, the primary replicates to the other assigned copies,
and reads and searches go to a started copy (this node's first).

Rules:

- ``primary`` is the copy that accepts writes (None: the shard has no active primary, ES's
  ``UnavailableShardsException`` after the request's timeout).
- ``replicas`` are the other assigned copies, started or still recovering: a recovering copy
  receives live writes too (it would otherwise miss the writes made while it copies history).
- ``readable`` are the started copies, this node's first.
- ``fail_copy`` asks the cluster to take a copy out of the in-sync set (the primary does so
  before acknowledging a write one of its replicas did not apply); it returns once the change
  is published, and raises when the asking primary is stale (its term is no longer the shard's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from isthmus.cluster.routing import ShardId


@dataclass(frozen=True, slots=True)
class CopyTarget:
    node_id: str
    allocation_id: str
    primary: bool
    started: bool


class ShardCopies(Protocol):
    @property
    def distributed(self) -> bool:
        """False in a cluster of one (every copy is this node's; nothing crosses the wire)."""
        ...

    @property
    def local_node_id(self) -> str: ...

    def primary(self, shard_id: ShardId) -> CopyTarget | None: ...

    def replicas(self, shard_id: ShardId) -> list[CopyTarget]: ...

    def readable(self, shard_id: ShardId) -> list[CopyTarget]: ...

    def primary_term(self, shard_id: ShardId) -> int: ...

    async def fail_copy(
        self,
        shard_id: ShardId,
        allocation_id: str,
        primary_term: int,
        reason: str,
        *,
        unreachable: bool = False,
    ) -> None:
        """``unreachable``: the copy's node could not be reached (not counted as a failed
        allocation of the copy)."""
        ...


class LocalCopies:
    """A cluster of one node: the primary of every shard is here, and nothing else exists."""

    distributed = False

    def __init__(self, node_id: Callable[[], str]) -> None:
        self._node_id = node_id

    @property
    def local_node_id(self) -> str:
        return self._node_id()

    def primary(self, shard_id: ShardId) -> CopyTarget | None:
        return CopyTarget(self._node_id(), "", True, True)

    def replicas(self, shard_id: ShardId) -> list[CopyTarget]:
        return []

    def readable(self, shard_id: ShardId) -> list[CopyTarget]:
        return [CopyTarget(self._node_id(), "", True, True)]

    def primary_term(self, shard_id: ShardId) -> int:
        return 1

    async def fail_copy(
        self,
        shard_id: ShardId,
        allocation_id: str,
        primary_term: int,
        reason: str,
        *,
        unreachable: bool = False,
    ) -> None:
        return None

    def __repr__(self) -> str:
        return "<LocalCopies>"
