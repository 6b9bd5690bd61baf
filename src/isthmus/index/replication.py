"""The rules of a shard's copies on one node, in ES's primary-backup model.  [no I/O]

Two pure parts, both read from the routing table of the applied cluster state
(:mod:`isthmus.cluster.shard_routing`):

- :func:`plan_copies`: what this node does with its shard copies when a new state is applied.
  A copy is the pair (shard, allocation id): a copy that leaves this node is closed (its files
  deleted while the index still exists and the copy is not in the in-sync set: a copy allocated
  here again later is a new copy, which starts empty and recovers; an in-sync copy may be the
  only holder of acknowledged writes and keeps them); a new copy is opened as the table says:

  * a primary of a new shard (empty in-sync set): an empty store, then reported started;
  * a primary of an existing shard (the in-sync set names copies): this node's store reopened
    with the table's primary term, then reported started;
  * a replica: an empty store that recovers from the primary's node, then reported started;
  * a copy already ``STARTED`` that this node had not open (the whole cluster restarted):
    reopened as it is, nothing reported;
  * an open copy that stays: it follows the table (a replica promoted to primary keeps its
    allocation id and takes the raised primary term).

- :class:`ReplicationTracker`: a primary's view of its copies' local checkpoints and the global
  checkpoint (the lowest local checkpoint of the in-sync copies the table assigns: every
  operation at or below it is on every in-sync copy; a follower cluster reads up to it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from isthmus.cluster.routing import ShardId
from isthmus.cluster.shard_routing import STARTED, IndexRouting, ShardRouting, ShardTable

# What plan_copies asks of the indices service, one per copy.
CLOSE = "close"  # the copy is no longer this node's (or its index closed)
OPEN_EMPTY_PRIMARY = "open_empty_primary"
REOPEN_PRIMARY = "reopen_primary"
RECOVER_REPLICA = "recover_replica"
REOPEN_STARTED = "reopen_started"
FOLLOW = "follow"  # open and staying: take the table's routing (and a raised term)


@dataclass(frozen=True, slots=True)
class OpenCopy:
    """A copy this node has open: its allocation id."""

    shard_id: ShardId
    allocation_id: str


@dataclass(frozen=True, slots=True)
class CopyStep:
    kind: str
    shard_id: ShardId
    routing: ShardRouting | None = None
    table: ShardTable | None = None
    # For CLOSE: delete the copy's files (the index still exists but the copy left this node).
    delete_files: bool = False


def plan_copies(
    node_id: str,
    open_copies: Mapping[ShardId, OpenCopy],
    indices: Mapping[str, tuple[str, bool]],
    routing: Mapping[str, IndexRouting],
) -> list[CopyStep]:
    """The steps that take this node's open copies to what the routing table assigns it.

    ``indices``: index uuid → (name, open) of every index of the new state; ``routing``: the
    new state's routing table by index uuid. Closing steps come first (a copy replaced by a new
    allocation on this node is closed before the new one opens in the same folder)."""
    steps: list[CopyStep] = []
    staying: set[ShardId] = set()
    for shard_id, copy in open_copies.items():
        index = indices.get(shard_id.index_uuid)
        table = _table(routing, shard_id)
        if index is None or not index[1]:
            steps.append(CopyStep(CLOSE, shard_id))  # the index's own removal deletes its files
            continue
        here = table.on_node(node_id) if table is not None else None
        if here is None or here.allocation_id != copy.allocation_id:
            # A copy still in the in-sync set keeps its files: it may be the only copy of
            # acknowledged writes (a primary waiting for its node), reopened with its id.
            keep = table is None or copy.allocation_id in table.in_sync
            steps.append(CopyStep(CLOSE, shard_id, delete_files=not keep))
            continue
        staying.add(shard_id)
        steps.append(CopyStep(FOLLOW, shard_id, here, table))
    for uuid, index_routing in routing.items():
        index = indices.get(uuid)
        if index is None or not index[1]:
            continue
        for table in index_routing.shards:
            here = table.on_node(node_id)
            if here is None or here.allocation_id is None:
                continue
            shard_id = ShardId(uuid, table.shard, index[0])
            if shard_id in staying:
                continue
            if here.state == STARTED:
                kind = REOPEN_STARTED
            elif not here.primary:
                kind = RECOVER_REPLICA
            elif table.in_sync:
                kind = REOPEN_PRIMARY
            else:
                kind = OPEN_EMPTY_PRIMARY
            steps.append(CopyStep(kind, shard_id, here, table))
    return steps


def _table(routing: Mapping[str, IndexRouting], shard_id: ShardId) -> ShardTable | None:
    index_routing = routing.get(shard_id.index_uuid)
    if index_routing is None or shard_id.shard >= len(index_routing.shards):
        return None
    return index_routing.shard(shard_id.shard)


class ReplicationTracker:
    """A primary's copies: the local checkpoint each reported, and the global checkpoint.

    The copies it tracks are the table's assigned copies other than the primary; the in-sync
    ones hold the global checkpoint back until they report (a copy that has not reported yet
    counts as -1). A copy that leaves the table is forgotten."""

    def __init__(self, own_allocation_id: str) -> None:
        self.own = own_allocation_id
        self._checkpoints: dict[str, int] = {}
        self._in_sync: frozenset[str] = frozenset()

    def follow(self, table: ShardTable) -> None:
        """Take the copies and the in-sync set of the applied routing table."""
        assigned = {
            c.allocation_id
            for c in table.copies
            if c.allocation_id is not None and c.allocation_id != self.own and c.assigned
        }
        self._checkpoints = {aid: self._checkpoints.get(aid, -1) for aid in assigned}
        self._in_sync = frozenset(aid for aid in table.in_sync if aid in assigned)

    def update(self, allocation_id: str, local_checkpoint: int) -> None:
        """A copy reported its local checkpoint (it never goes back)."""
        if allocation_id in self._checkpoints:
            self._checkpoints[allocation_id] = max(
                self._checkpoints[allocation_id], local_checkpoint
            )

    def global_checkpoint(self, own_local_checkpoint: int) -> int | None:
        """The lowest local checkpoint of the in-sync copies and this one; None when no other
        copy is in sync (this copy's own checkpoint is the global one)."""
        if not self._in_sync:
            return None
        return min(own_local_checkpoint, *(self._checkpoints[aid] for aid in self._in_sync))

    @property
    def copies(self) -> dict[str, int]:
        return dict(self._checkpoints)

    def __repr__(self) -> str:
        return f"<ReplicationTracker copies={self._checkpoints} in_sync={sorted(self._in_sync)}>"
