"""Shard allocation: the routing table's transitions, as ES's AllocationService.  [no I/O]

Three pure functions of the cluster metadata, run by the elected master
(:mod:`isthmus.cluster.allocation_service`):

- :func:`reroute` brings the routing table in line with the indices and the nodes, then
  allocates what it can;
- :func:`shard_started` records that a node finished initializing a copy;
- :func:`shard_failed` takes a copy out (a node failed it, or a primary failed a replica that
  did not apply a write).

Rules (ES's):

- A new index gets every copy ``UNASSIGNED`` (``INDEX_CREATED``), primary term 1, an empty
  in-sync set. Closed indices keep their routing and stay allocated (ES replicates closed
  indices since 7.2): only deleting an index drops its routing. ``number_of_replicas`` is
  followed: replica copies are added (``REPLICA_ADDED``) or removed (unassigned ones first).
- A copy on a node that left (or lost its data role) fails with ``NODE_LEFT``. A lost primary
  is replaced by a started in-sync replica on a live node (the primary term goes up, so writes
  of the old primary are refused); without one the primary stays ``UNASSIGNED`` remembering its
  node and allocation id, and the in-sync set is kept: the shard is red until an in-sync copy
  comes back. It never restarts empty, which would lose acknowledged writes.
- A failed replica leaves the in-sync set when an active primary remains (the primary will
  acknowledge writes without it); initializing replicas of a failed primary fail with it
  (they recover from it).
- Primaries are allocated before replicas. The primary of a new shard (empty in-sync set) goes
  to the data node that the deciders allow with the fewest shards (ties: fewest of this index,
  then the nodes' id order rotated by the shard number, so copies spread evenly); the primary
  of an existing shard only to a live node whose copy is in sync, with that copy's allocation id
  (the node re-opens its store) and the next primary term (ES raises it whenever a primary is
  initialized). A replica waits for its primary to be started; a replica whose node left waits
  ``index.unassigned.node_left.delayed_timeout`` for the node (and goes back to it when it
  returns). Every new allocation is ``INITIALIZING`` with a fresh allocation id; a node reports
  :func:`shard_started` when it is ready.
- A started copy whose node a filter now excludes is moved, and copies move from the fullest
  nodes to the emptiest once every copy is started (:mod:`isthmus.cluster.allocation_moves`: a
  relocation target recovers before the source leaves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from isthmus.cluster.allocation_deciders import Candidate, allowed, decide
from isthmus.cluster.allocation_moves import (
    before_failing,
    complete,
    plan_moves,
    plan_rebalance,
)
from isthmus.cluster.shard_routing import (
    INITIALIZING,
    STARTED,
    UNASSIGNED,
    IndexRouting,
    ShardRouting,
    ShardTable,
    UnassignedInfo,
)
from isthmus.errors import NoLongerPrimaryShardError
from isthmus.settings import allocation as s
from isthmus.settings.values import parse_time

if TYPE_CHECKING:
    from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
    from isthmus.cluster.nodes import DiscoveryNode, DiscoveryNodes

IdFactory = Callable[[], str]


def _new_id() -> str:
    from isthmus.cluster.metadata import new_uuid  # metadata imports shard_routing

    return new_uuid()


def unassigned(shard: int, primary: bool, reason: str, now_ms: int) -> ShardRouting:
    return ShardRouting(shard, primary, UNASSIGNED, unassigned=UnassignedInfo(reason, now_ms))


def new_routing(meta: IndexMetadata, now_ms: int) -> IndexRouting:
    """Every copy of a new index unassigned (``INDEX_CREATED``), primary term 1."""
    tables = tuple(
        ShardTable(
            n,
            tuple(
                unassigned(n, i == 0, "INDEX_CREATED", now_ms)
                for i in range(meta.number_of_replicas + 1)
            ),
        )
        for n in range(meta.number_of_shards)
    )
    return IndexRouting(meta.uuid, tables)


# --- failing copies ---------------------------------------------------------------------------


def _unassign(
    copy: ShardRouting, reason: str, now_ms: int, details: str | None, *, failed: bool
) -> ShardRouting:
    previous = copy.unassigned.failed_attempts if copy.unassigned is not None else 0
    info = UnassignedInfo(
        reason,
        now_ms,
        details=details,
        failed_attempts=previous + 1 if failed else previous,
        last_node_id=copy.node_id,
        last_allocation_id=copy.allocation_id,
    )
    return ShardRouting(copy.shard, copy.primary, UNASSIGNED, unassigned=info)


def fail_copy(
    table: ShardTable,
    allocation_id: str,
    reason: str,
    now_ms: int,
    details: str | None = None,
    *,
    failed: bool = False,
    live: frozenset[str] | None = None,
) -> ShardTable:
    """``table`` without the copy ``allocation_id`` (unchanged when no copy has it). ``failed``
    counts an allocation failure (``max_retry``); ``live``: nodes a promoted replica may be on
    (None: any)."""
    copy = table.by_allocation(allocation_id)
    if copy is None or not copy.assigned:
        return table
    table, handled = before_failing(table, copy)
    if handled:
        return table
    if not copy.primary:
        gone = _unassign(copy, reason, now_ms, details, failed=failed)
        kept = tuple(gone if c is copy else c for c in table.copies)
        in_sync = table.in_sync
        if table.active_primary() is not None:
            in_sync = in_sync - {allocation_id}
        return replace(table, copies=kept, in_sync=in_sync)
    # A primary: promote a started in-sync replica, else wait for an in-sync copy to return.
    heir = next(
        (
            c
            for c in sorted(table.replicas(), key=lambda c: c.node_id or "")
            if c.state == STARTED
            and c.allocation_id in table.in_sync
            and (live is None or c.node_id in live)
        ),
        None,
    )
    old = _unassign(copy, reason, now_ms, details, failed=failed)
    copies: list[ShardRouting] = []
    for c in table.copies:
        if c is copy:
            copies.append(replace(old, primary=heir is None))
        elif heir is not None and c is heir:
            copies.append(replace(c, primary=True))
        elif c.relocating_from is not None:
            continue  # a relocation target recovering from the failed primary: dropped
        elif not c.primary and c.state == INITIALIZING:
            # It was recovering from the failed primary.
            copies.append(_unassign(c, "PRIMARY_FAILED", now_ms, details, failed=False))
        else:
            copies.append(c)
    if heir is None:
        return replace(table, copies=tuple(copies))
    return replace(
        table,
        copies=tuple(copies),
        primary_term=table.primary_term + 1,
        in_sync=table.in_sync - {allocation_id},
    )


# --- the three transitions ------------------------------------------------------------------


def shard_started(
    state: ClusterMetadata, index_uuid: str, shard: int, allocation_id: str
) -> ClusterMetadata:
    """The copy ``allocation_id`` is ready: ``STARTED`` and in sync. A started primary's in-sync
    set becomes its started copies (copies that were gone while it had none active missed
    writes). Unknown or stale ids (a copy failed meanwhile) change nothing."""
    table = _table(state, index_uuid, shard)
    copy = table.by_allocation(allocation_id) if table is not None else None
    if table is None or copy is None or copy.state != INITIALIZING:
        return state
    if copy.relocating_from is not None:  # a relocation target replaces its source
        return _with_table(state, index_uuid, complete(table, copy))
    started = replace(copy, state=STARTED, unassigned=None)
    copies = tuple(started if c is copy else c for c in table.copies)
    if copy.primary:
        in_sync = frozenset(
            c.allocation_id for c in copies if c.state == STARTED and c.allocation_id
        )
    else:
        in_sync = table.in_sync | {allocation_id}
    return _with_table(state, index_uuid, replace(table, copies=copies, in_sync=in_sync))


def shard_failed(
    state: ClusterMetadata,
    index_uuid: str,
    shard: int,
    allocation_id: str,
    primary_term: int,
    reason: str,
    now_ms: int,
    *,
    counted: bool = True,
) -> ClusterMetadata:
    """Fail the copy ``allocation_id`` (``ALLOCATION_FAILED``, one more failed attempt unless
    ``counted`` is false: its node could not be reached, the copy itself did not fail). A
    request made under an older primary term than the shard's is refused (that primary was
    replaced and must not decide for the shard); 0 skips the check (a node failing its own
    copy). Unknown ids change nothing."""
    table = _table(state, index_uuid, shard)
    if table is None:
        return state
    if 0 < primary_term != table.primary_term:
        meta = state.by_uuid(index_uuid)
        raise NoLongerPrimaryShardError(
            meta.name if meta else index_uuid,
            index_uuid,
            shard,
            f"primary term [{primary_term}] did not match current primary term "
            f"[{table.primary_term}]",
        )
    new = fail_copy(table, allocation_id, "ALLOCATION_FAILED", now_ms, reason, failed=counted)
    return state if new is table else _with_table(state, index_uuid, new)


def reroute(
    state: ClusterMetadata,
    nodes: DiscoveryNodes | Iterable[DiscoveryNode],
    now_ms: int,
    *,
    handle_departures: bool,
    new_id: IdFactory = _new_id,
) -> ClusterMetadata:
    """Sync the routing table with the indices (and, with ``handle_departures``, with the
    nodes), then allocate every copy the deciders allow. Returns ``state`` itself when nothing
    changed."""
    members = list(nodes)
    routing = {k: v for k, v in state.routing.items() if state.by_uuid(k) is not None}
    for meta in state.indices.values():
        current = routing.get(meta.uuid)
        routing[meta.uuid] = (
            new_routing(meta, now_ms)
            if current is None
            else _follow_replicas(meta, current, now_ms)
        )
    customs = state.customs
    if handle_departures:
        # A node that restarted since the last reroute left and came back (its copies are of
        # its previous process: a primary may hold operations no other copy has), even when
        # it rejoined before its membership lease expired and nobody saw it leave.
        again = restarted_nodes(state, members)
        live = frozenset(n.id for n in members if n.can_contain_data and n.id not in again)
        routing = {k: _departures(r, live, now_ms) for k, r in routing.items()}
        incarnations = {n.id: n.ephemeral_id for n in members}
        if state.customs.get(INCARNATIONS) != incarnations:
            customs = {**state.customs, INCARNATIONS: incarnations}
    routing = _allocate(state, routing, members, now_ms, new_id)
    routing = plan_moves(state, routing, members, new_id)
    routing = plan_rebalance(state, routing, members, new_id)
    if routing == state.routing and customs is state.customs:
        return state
    # An index whose routing did not change keeps its object: publication sends only the
    # indices whose routing is a new object.
    kept = {k: state.routing[k] if state.routing.get(k) == r else r for k, r in routing.items()}
    return replace(state, routing=kept, customs=customs)


# The nodes' process identities (ephemeral ids) as of the master's last reroute, in the state's
# customs: a node whose ephemeral id changed has restarted.
INCARNATIONS = "isthmus_node_incarnations"


def restarted_nodes(state: ClusterMetadata, nodes: Iterable[DiscoveryNode]) -> frozenset[str]:
    """Ids of the nodes whose process changed since the last reroute recorded them."""
    known = state.customs.get(INCARNATIONS) or {}
    return frozenset(n.id for n in nodes if n.id in known and known[n.id] != n.ephemeral_id)


# --- reroute's steps ------------------------------------------------------------------------


def _follow_replicas(meta: IndexMetadata, current: IndexRouting, now_ms: int) -> IndexRouting:
    wanted = meta.number_of_replicas
    tables = []
    for table in current.shards:
        replicas = [c for c in table.replicas() if c.relocating_from is None]
        if len(replicas) < wanted:
            extra = tuple(
                unassigned(table.shard, False, "REPLICA_ADDED", now_ms)
                for _ in range(wanted - len(replicas))
            )
            table = replace(table, copies=table.copies + extra)
        elif len(replicas) > wanted:
            rank = {UNASSIGNED: 0, INITIALIZING: 1, STARTED: 2}
            drop = sorted(replicas, key=lambda c: rank[c.state])[: len(replicas) - wanted]
            # A dropped copy's relocation target goes with it.
            drop += [t for c in drop if c.allocation_id and (t := table.target_of(c.allocation_id))]
            dropped = {id(c) for c in drop}
            ids = {c.allocation_id for c in drop if c.allocation_id}
            table = replace(
                table,
                copies=tuple(c for c in table.copies if id(c) not in dropped),
                in_sync=table.in_sync - ids,
            )
        tables.append(table)
    return IndexRouting(current.index_uuid, tuple(tables))


def _departures(routing: IndexRouting, live: frozenset[str], now_ms: int) -> IndexRouting:
    tables = []
    for before in routing.shards:
        table = before
        gone = [c for c in table.copies if c.assigned and c.node_id not in live]
        # Replicas first, so a primary is never handed to a copy that is leaving too.
        for copy in sorted(gone, key=lambda c: c.primary):
            assert copy.allocation_id is not None
            details = f"node_left [{copy.node_id}]"
            table = fail_copy(table, copy.allocation_id, "NODE_LEFT", now_ms, details, live=live)
        if gone and table.active_primary() is None:
            # No active primary after the whole batch: nothing leaves the in-sync set (ES
            # updates it once per round), so any of the copies may bring the shard back.
            table = replace(table, in_sync=before.in_sync)
        tables.append(table)
    return IndexRouting(routing.index_uuid, tuple(tables))


def _allocate(
    state: ClusterMetadata,
    routing: dict[str, IndexRouting],
    members: list[DiscoveryNode],
    now_ms: int,
    new_id: IdFactory,
) -> dict[str, IndexRouting]:
    data_nodes = sorted((n for n in members if n.can_contain_data), key=lambda n: n.id)
    by_id = {n.id: n for n in members}
    counts: dict[str, int] = {n.id: 0 for n in data_nodes}
    index_counts: dict[tuple[str, str], int] = {}
    for r in routing.values():
        for table in r.shards:
            for c in table.copies:
                if c.node_id is not None:
                    counts[c.node_id] = counts.get(c.node_id, 0) + 1
                    key = (c.node_id, r.index_uuid)
                    index_counts[key] = index_counts.get(key, 0) + 1
    metas = sorted(
        (m for m in state.indices.values() if m.uuid in routing),
        key=lambda m: (-m.creation_date, m.name),
    )
    for primaries in (True, False):
        for meta in metas:
            for number in range(len(routing[meta.uuid].shards)):
                for slot in range(len(routing[meta.uuid].shards[number].copies)):
                    table = routing[meta.uuid].shards[number]
                    copy = table.copies[slot]
                    if copy.primary != primaries or copy.assigned:
                        continue
                    target = _choose(
                        state, meta, table, copy, data_nodes, by_id, counts, index_counts, now_ms
                    )
                    if target is None:
                        continue
                    node, allocation_id, table = target
                    if copy.primary and allocation_id is not None:
                        # ES raises the term whenever a primary is initialized: writes of any
                        # earlier incarnation of this shard's primary are refused from now on.
                        table = replace(table, primary_term=table.primary_term + 1)
                    placed = ShardRouting(
                        copy.shard,
                        copy.primary,
                        INITIALIZING,
                        node_id=node.id,
                        allocation_id=allocation_id or new_id(),
                        unassigned=copy.unassigned,
                    )
                    copies = list(table.copies)
                    copies[slot] = placed
                    table = table.with_copies(tuple(copies))
                    routing[meta.uuid] = routing[meta.uuid].with_shard(table)
                    counts[node.id] = counts.get(node.id, 0) + 1
                    key = (node.id, meta.uuid)
                    index_counts[key] = index_counts.get(key, 0) + 1
    return routing


def candidate(
    meta: IndexMetadata,
    table: ShardTable,
    copy: ShardRouting,
    node: DiscoveryNode,
    by_id: dict[str, DiscoveryNode],
    counts: dict[str, int],
    index_counts: dict[tuple[str, str], int],
) -> Candidate:
    return Candidate(
        meta,
        table,
        copy,
        node,
        counts.get(node.id, 0),
        index_counts.get((node.id, meta.uuid), 0),
        by_id,
    )


def _choose(
    state: ClusterMetadata,
    meta: IndexMetadata,
    table: ShardTable,
    copy: ShardRouting,
    data_nodes: list[DiscoveryNode],
    by_id: dict[str, DiscoveryNode],
    counts: dict[str, int],
    index_counts: dict[tuple[str, str], int],
    now_ms: int,
) -> tuple[DiscoveryNode, str | None, ShardTable] | None:
    """Where ``copy`` goes now: (node, the allocation id to reuse or None for a new one, the
    table to write it into), or None to leave it unassigned."""

    def ok(node: DiscoveryNode) -> bool:
        return allowed(
            decide(state, candidate(meta, table, copy, node, by_id, counts, index_counts))
        )

    if copy.primary and table.in_sync:
        # An existing shard: only a node that held an in-sync copy may take the primary.
        for holder in in_sync_holders(table):
            info = holder.unassigned
            assert info is not None and info.last_node_id is not None
            node = by_id.get(info.last_node_id)
            if node is not None and node.can_contain_data and ok(node):
                forgotten = replace(
                    holder, unassigned=replace(info, last_node_id=None, last_allocation_id=None)
                )
                if holder is not copy:
                    table = table.with_copies(
                        tuple(forgotten if c is holder else c for c in table.copies)
                    )
                return node, info.last_allocation_id, table
        return None
    if not copy.primary:
        info = copy.unassigned
        if info is not None and info.reason == "NODE_LEFT":
            back = by_id.get(info.last_node_id or "")
            if back is not None and back.can_contain_data and ok(back):
                return back, None, table
            if now_ms < info.at_ms + delay_ms(meta):
                return None
    fits = [n for n in data_nodes if ok(n)]
    if not fits:
        return None
    # Ties: fewest copies of this index, then the nodes in id order rotated by the shard
    # number (shard n prefers the n-th node), which spreads a new index's copies evenly.
    order = {n.id: i for i, n in enumerate(data_nodes)}
    size = max(len(data_nodes), 1)
    best = min(
        fits,
        key=lambda n: (
            counts.get(n.id, 0),
            index_counts.get((n.id, meta.uuid), 0),
            (order.get(n.id, 0) - copy.shard) % size,
            n.id,
        ),
    )
    return best, None, table


def in_sync_holders(table: ShardTable) -> list[ShardRouting]:
    """Unassigned copies whose last allocation is in the in-sync set (the primary's own first)."""
    out = [
        c
        for c in table.copies
        if not c.assigned
        and c.unassigned is not None
        and c.unassigned.last_node_id is not None
        and c.unassigned.last_allocation_id in table.in_sync
    ]
    return sorted(out, key=lambda c: not c.primary)


def delay_ms(meta: IndexMetadata) -> int:
    raw = meta.settings.get(s.DELAYED_TIMEOUT)
    return 60_000 if raw is None else parse_time(raw, s.DELAYED_TIMEOUT).millis


def is_delayed(meta: IndexMetadata, copy: ShardRouting, now_ms: int) -> bool:
    """ES's delayed unassigned replica: its node left less than the delayed timeout ago."""
    info = copy.unassigned
    return (
        not copy.primary
        and not copy.assigned
        and info is not None
        and info.reason == "NODE_LEFT"
        and now_ms < info.at_ms + delay_ms(meta)
    )


def next_delay_expiry(state: ClusterMetadata, now_ms: int) -> int | None:
    """When the earliest delayed replica may be allocated elsewhere (None: none is delayed)."""
    out: int | None = None
    for meta in state.indices.values():
        r = state.routing.get(meta.uuid)
        for table in r.shards if r is not None else ():
            for c in table.copies:
                if is_delayed(meta, c, now_ms):
                    assert c.unassigned is not None
                    at = c.unassigned.at_ms + delay_ms(meta)
                    out = at if out is None else min(out, at)
    return out


def has_unassigned(state: ClusterMetadata) -> bool:
    return any(not c.assigned for r in state.routing.values() for t in r.shards for c in t.copies)


def needs_routing(state: ClusterMetadata) -> bool:
    """Some index has no routing yet, or some routing has no index (a reroute would change it)."""
    uuids = {m.uuid for m in state.indices.values()}
    return uuids != set(state.routing)


def _table(state: ClusterMetadata, index_uuid: str, shard: int) -> ShardTable | None:
    r = state.routing.get(index_uuid)
    if r is None or not 0 <= shard < len(r.shards):
        return None
    return r.shards[shard]


def _with_table(state: ClusterMetadata, index_uuid: str, table: ShardTable) -> ClusterMetadata:
    routing = dict(state.routing)
    routing[index_uuid] = routing[index_uuid].with_shard(table)
    return replace(state, routing=routing)


__all__ = [
    "candidate",
    "delay_ms",
    "fail_copy",
    "has_unassigned",
    "in_sync_holders",
    "is_delayed",
    "needs_routing",
    "new_routing",
    "next_delay_expiry",
    "reroute",
    "shard_failed",
    "shard_started",
]
