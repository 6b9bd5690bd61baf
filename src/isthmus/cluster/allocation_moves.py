"""Moving started copies off nodes they may no longer stay on: ES's relocation.  [no I/O]

A started copy whose node a filter now excludes (``cluster.routing.allocation.exclude._name``,
an index's ``require``…) is moved, as ES moves it, without ever losing a copy on the way:

1. the master adds a **relocation target**: a new copy ``INITIALIZING`` on a node the deciders
   allow, with ``relocating_from`` naming the copy it replaces. It recovers from the primary like
   any replica and receives the live writes meanwhile; it is not one of the shard's
   ``number_of_replicas`` copies (health counts the pair as one relocating shard);
2. when its node reports it started, the source copy leaves the table and the target takes its
   place (:func:`complete`): a replica replaces a replica; a target replacing the primary becomes
   the primary under the next primary term (writes of the old primary are refused from then on);
3. if the target fails, it is dropped and the source stays; if the source fails first, a
   replica's target simply stays as a replica, a primary's target is dropped with it.

The same moves even out the number of copies per node (:func:`plan_rebalance`: a node that
joins receives copies from the fullest nodes), once every copy is started and a few at a time,
as ES's rebalancing does (with shard counts as its only weight).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from isthmus.cluster.allocation_deciders import Candidate, Decision, allowed, decide, filter_
from isthmus.cluster.shard_routing import (
    INITIALIZING,
    STARTED,
    IndexRouting,
    ShardRouting,
    ShardTable,
)
from isthmus.settings import allocation as s

if TYPE_CHECKING:
    from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
    from isthmus.cluster.nodes import DiscoveryNode


def can_remain(state: ClusterMetadata, c: Candidate) -> list[Decision]:
    """ES's canRemain, for the deciders that can say no to a started copy here: the filters."""
    return [filter_(state, c)]


def _counts(routing: dict[str, IndexRouting]) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    counts: dict[str, int] = {}
    per_index: dict[tuple[str, str], int] = {}
    for r in routing.values():
        for t in r.shards:
            for c in t.copies:
                if c.node_id is not None:
                    counts[c.node_id] = counts.get(c.node_id, 0) + 1
                    key = (c.node_id, r.index_uuid)
                    per_index[key] = per_index.get(key, 0) + 1
    return counts, per_index


def must_move(
    state: ClusterMetadata,
    meta: IndexMetadata,
    table: ShardTable,
    copy: ShardRouting,
    by_id: dict[str, DiscoveryNode],
) -> bool:
    """A started copy, not moving yet, whose node may no longer hold it."""
    if copy.state != STARTED or copy.allocation_id is None or copy.relocating_from is not None:
        return False
    if table.target_of(copy.allocation_id) is not None:
        return False
    node = by_id.get(copy.node_id or "")
    if node is None:  # its node left: the departures handle it
        return False
    return not allowed(can_remain(state, Candidate(meta, table, copy, node, 0, 0, by_id)))


def needs_moves(state: ClusterMetadata, members: Iterable[DiscoveryNode]) -> bool:
    by_id = {n.id: n for n in members}
    for meta in state.indices.values():
        r = state.routing.get(meta.uuid)
        for table in r.shards if r is not None else ():
            if any(must_move(state, meta, table, c, by_id) for c in table.copies):
                return True
    return False


def plan_moves(
    state: ClusterMetadata,
    routing: dict[str, IndexRouting],
    members: list[DiscoveryNode],
    new_id: Callable[[], str],
) -> dict[str, IndexRouting]:
    """Add a relocation target for every started copy that cannot remain where it is."""
    by_id = {n.id: n for n in members}
    data_nodes = sorted((n for n in members if n.can_contain_data), key=lambda n: n.id)
    counts, per_index = _counts(routing)
    for meta in sorted(state.indices.values(), key=lambda m: m.name):
        current = routing.get(meta.uuid)
        if current is None:
            continue
        for number in range(len(current.shards)):
            table = routing[meta.uuid].shards[number]
            for copy in table.copies:
                if not must_move(state, meta, table, copy, by_id):
                    continue
                # Where a new copy of this shard may go (never where a copy is: same_shard).
                probe = ShardRouting(table.shard, False)
                fits = [
                    n
                    for n in data_nodes
                    if allowed(
                        decide(
                            state,
                            Candidate(
                                meta,
                                table,
                                probe,
                                n,
                                counts.get(n.id, 0),
                                per_index.get((n.id, meta.uuid), 0),
                                by_id,
                            ),
                        )
                    )
                ]
                if not fits:
                    continue  # it stays (explain says why)
                best = min(
                    fits,
                    key=lambda n: (counts.get(n.id, 0), per_index.get((n.id, meta.uuid), 0), n.id),
                )
                target = ShardRouting(
                    table.shard,
                    False,
                    INITIALIZING,
                    best.id,
                    new_id(),
                    relocating_from=copy.allocation_id,
                )
                table = table.with_copies((*table.copies, target))
                routing[meta.uuid] = routing[meta.uuid].with_shard(table)
                counts[best.id] = counts.get(best.id, 0) + 1
                key = (best.id, meta.uuid)
                per_index[key] = per_index.get(key, 0) + 1
    return routing


def _rebalance_allowed(state: ClusterMetadata, meta: IndexMetadata, copy: ShardRouting) -> bool:
    """``cluster.routing.rebalance.enable`` (an index's ``index.routing.rebalance.enable`` first)."""
    raw = meta.settings.get(s.INDEX_REBALANCE_ENABLE)
    value = (
        s.parse_rebalance_enable(raw)
        if raw is not None
        else state.typed_setting(s.REBALANCE_ENABLE)
    )
    if value == "none":
        return False
    if value == "primaries":
        return copy.primary
    if value == "replicas":
        return not copy.primary
    return True


def plan_rebalance(
    state: ClusterMetadata,
    routing: dict[str, IndexRouting],
    members: list[DiscoveryNode],
    new_id: Callable[[], str],
) -> dict[str, IndexRouting]:
    """Even out the number of copies per data node, ES's rebalancing simplified to shard counts:
    while the fullest node holds at least two copies more than the emptiest, move one started
    replica from the one to the other, if the deciders allow it there (primaries stay: moving one
    hands the shard to a new primary under a new term, which only a filter justifies). Only when
    ``allow_rebalance`` says the cluster is settled (by default: every copy started) and at most
    ``cluster_concurrent_rebalance`` moves at a time."""
    copies = [c for r in routing.values() for t in r.shards for c in t.copies]
    allow = state.typed_setting(s.ALLOW_REBALANCE)
    if allow == "indices_all_active" and any(c.state != STARTED for c in copies):
        return routing
    if allow == "indices_primaries_active" and any(
        c.primary and c.state != STARTED for c in copies
    ):
        return routing
    limit = int(state.typed_setting(s.CONCURRENT_REBALANCE))
    moving = sum(1 for c in copies if c.relocating_from is not None)
    data_nodes = sorted((n for n in members if n.can_contain_data), key=lambda n: n.id)
    if len(data_nodes) < 2:
        return routing
    by_id = {n.id: n for n in members}
    metas = {m.uuid: m for m in state.indices.values()}
    while limit < 0 or moving < limit:
        counts, per_index = _counts(routing)
        light = min(data_nodes, key=lambda n: (counts.get(n.id, 0), n.id))
        heavy = max(data_nodes, key=lambda n: (counts.get(n.id, 0), n.id))
        if counts.get(heavy.id, 0) - counts.get(light.id, 0) <= 1:
            break
        found = None
        for uuid in sorted(routing, key=lambda u: metas[u].name if u in metas else u):
            meta = metas.get(uuid)
            if meta is None:
                continue
            for table in routing[uuid].shards:
                for copy in table.replicas():
                    if (
                        copy.node_id != heavy.id
                        or copy.state != STARTED
                        or copy.allocation_id is None
                        or copy.relocating_from is not None
                        or table.target_of(copy.allocation_id) is not None
                        or not _rebalance_allowed(state, meta, copy)
                    ):
                        continue
                    probe = ShardRouting(table.shard, False)
                    c = Candidate(
                        meta,
                        table,
                        probe,
                        light,
                        counts.get(light.id, 0),
                        per_index.get((light.id, uuid), 0),
                        by_id,
                    )
                    if allowed(decide(state, c)):
                        found = (uuid, table, copy)
                        break
                if found:
                    break
            if found:
                break
        if found is None:
            break
        uuid, table, copy = found
        target = ShardRouting(
            table.shard, False, INITIALIZING, light.id, new_id(), relocating_from=copy.allocation_id
        )
        routing[uuid] = routing[uuid].with_shard(table.with_copies((*table.copies, target)))
        moving += 1
    return routing


def needs_rebalance(state: ClusterMetadata, members: Iterable[DiscoveryNode]) -> bool:
    routing = dict(state.routing)
    return plan_rebalance(state, routing, list(members), lambda: "probe") != state.routing


def complete(table: ShardTable, target: ShardRouting) -> ShardTable:
    """The started ``target`` takes its source's place (the source leaves the table)."""
    assert target.relocating_from is not None and target.allocation_id is not None
    source = table.by_allocation(target.relocating_from)
    promoted = source is not None and source.primary
    done = replace(target, state=STARTED, unassigned=None, relocating_from=None, primary=promoted)
    copies = tuple(done if c is target else c for c in table.copies if c is not source)
    in_sync = (table.in_sync - {target.relocating_from}) | {target.allocation_id}
    term = table.primary_term + 1 if promoted else table.primary_term
    return replace(table, copies=copies, in_sync=in_sync, primary_term=term)


def before_failing(table: ShardTable, copy: ShardRouting) -> tuple[ShardTable, bool]:
    """A relocation's part in failing ``copy``: returns the table to go on with and whether the
    failure is fully handled here (a target is simply dropped; a replica source is replaced by
    its target, now an ordinary replica; a primary source loses its target, recovering from it)."""
    if copy.relocating_from is not None:
        return table.with_copies(tuple(c for c in table.copies if c is not copy)), True
    target = table.target_of(copy.allocation_id) if copy.allocation_id else None
    if target is None:
        return table, False
    if copy.primary:
        return table.with_copies(tuple(c for c in table.copies if c is not target)), False
    kept = replace(target, relocating_from=None)
    copies = tuple(kept if c is target else c for c in table.copies if c is not copy)
    in_sync = table.in_sync - {copy.allocation_id} if table.active_primary() else table.in_sync
    return replace(table, copies=copies, in_sync=in_sync), True


def relocating(table: ShardTable) -> list[ShardRouting]:
    """The relocation targets still initializing."""
    return [c for c in table.copies if c.relocating_from is not None]


__all__ = [
    "before_failing",
    "can_remain",
    "complete",
    "must_move",
    "needs_moves",
    "needs_rebalance",
    "plan_moves",
    "plan_rebalance",
    "relocating",
]
