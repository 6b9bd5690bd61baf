"""``_cluster/allocation/explain``: why a copy of a shard is where it is, or is nowhere.  [no I/O]

ES's ClusterAllocationExplainAction over the routing table of a cluster of several nodes. The
request names ``index``, ``shard`` and ``primary`` (and optionally ``current_node``, a node id or
name holding the copy); with none of them the first unassigned copy is explained (a primary
before a replica), and a cluster without one answers ES's 400. The answer runs every decider
(:mod:`isthmus.cluster.allocation_deciders`) for the copy on every data node:

- an unassigned copy: ``can_allocate`` (``yes``, ``no``, ``no_valid_shard_copy`` for a primary
  whose in-sync copies are all on nodes that are gone, ``allocation_delayed`` for a replica
  waiting for its node) with ES's explanation texts and ``node_allocation_decisions``;
- an assigned copy: ``current_node``, ``can_remain_on_current_node`` (the filter and awareness
  deciders), ``can_move_to_other_node`` when it may not remain (it is then moved) and
  otherwise, as Isthmus never balances shard counts, ``can_rebalance_cluster: no``.

``include_yes_decisions`` lists the deciders that said YES too (only the NO ones otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from isthmus.cluster.allocation import candidate, delay_ms, in_sync_holders, is_delayed
from isthmus.cluster.allocation_deciders import Decision, allowed, awareness, decide, filter_
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.nodes import DiscoveryNode, DiscoveryNodes
from isthmus.cluster.shard_routing import (
    STARTED,
    IndexRouting,
    ShardRouting,
    ShardTable,
    UnassignedInfo,
)
from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    IndexNotFoundError,
    ShardNotFoundError,
    XContentParseError,
)
from isthmus.settings.values import human_time
from isthmus.xcontent import as_bool, as_int, as_str, at, unknown_field

NOTE = (
    "No shard was specified in the explain API request, so this response explains a randomly "
    "chosen unassigned shard. There may be other unassigned shards in this cluster which cannot "
    "be assigned for different reasons. It may not be possible to assign this shard until one "
    "of the other shards is assigned correctly. To explain the allocation of other shards "
    "(whether assigned or unassigned) you must specify the target shard in the request to this "
    "API."
)
NONE_UNASSIGNED = (
    "No shard was specified in the request which means the response should explain a "
    "randomly-chosen unassigned shard, but there are no unassigned shards in this cluster. To "
    "explain the allocation of an assigned shard you must specify the target shard in the "
    "request."
)
ALLOCATE_YES = "Elasticsearch can allocate the shard."
ALL_NODES_FORBIDDEN = (
    "Elasticsearch isn't allowed to allocate this shard to any of the nodes in the cluster. "
    "Choose a node to which you expect this shard to be allocated, find this node in the "
    "node-by-node explanation, and address the reasons which prevent Elasticsearch from "
    "allocating this shard there."
)
EXISTING_STORES_FORBIDDEN = (
    "Elasticsearch isn't allowed to allocate this shard to any of the nodes in the cluster that "
    "hold an in-sync copy of its data. Choose a node to which you expect this shard to be "
    "allocated, find this node in the node-by-node explanation, and address the reasons which "
    "prevent Elasticsearch from allocating this shard there."
)
NO_COPIES = (
    "Elasticsearch can't allocate this shard because there are no copies of its data in the "
    "cluster. Elasticsearch will allocate this shard when a node holding a good copy of its "
    "data joins the cluster. If no such node is available, restore this index from a recent "
    "snapshot."
)
DELAYED = (
    "The node containing this shard copy recently left the cluster. Elasticsearch is waiting "
    "for it to return. If the node does not return within [{}] then Elasticsearch will allocate "
    "this shard to another node. Please wait."
)
NO_REBALANCE = Decision(
    "cluster_rebalance",
    "NO",
    "this cluster never rebalances shards: copies move only off nodes they may not stay on",
)
MOVE_YES = (
    "This shard may not remain on its current node. Elasticsearch will move it to another node."
)
MOVE_NO = (
    "This shard may not remain on its current node, but Elasticsearch isn't allowed to move it "
    "to another node. Choose a node to which you expect this shard to be allocated, find this "
    "node in the node-by-node explanation, and address the reasons which prevent Elasticsearch "
    "from allocating this shard there."
)
REBALANCE_NO = (
    "Elasticsearch is not allowed to allocate or rebalance this shard to another node. If you "
    "expect this shard to be rebalanced to another node, find this node in the node-by-node "
    "explanation and address the reasons which prevent Elasticsearch from rebalancing this "
    "shard there."
)


def single_node_routing(
    state: ClusterMetadata, node_id: str, running: Callable[[IndexMetadata], Iterable[int]]
) -> ClusterMetadata:
    """A cluster of one has no routing table: the one it implies (every running primary started
    on this node, every replica unassigned since the index was created), to explain from."""
    routing = {}
    for meta in state.indices.values():
        up = set(running(meta)) if meta.is_open else set(range(meta.number_of_shards))
        tables = []
        for n in range(meta.number_of_shards):
            created = UnassignedInfo("INDEX_CREATED", meta.creation_date)
            primary = (
                ShardRouting(n, True, STARTED, node_id, f"{meta.uuid}-{n}")
                if n in up
                else ShardRouting(n, True, unassigned=created)
            )
            replicas = tuple(
                ShardRouting(n, False, unassigned=created) for _ in range(meta.number_of_replicas)
            )
            in_sync = frozenset({f"{meta.uuid}-{n}"}) if n in up else frozenset()
            tables.append(ShardTable(n, (primary, *replicas), in_sync=in_sync))
        routing[meta.uuid] = IndexRouting(meta.uuid, tuple(tables))
    return replace(state, routing=routing)


def _at(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_FIELDS = ("index", "shard", "primary", "current_node")


def parse_request(body: Mapping[str, Any] | None) -> dict[str, Any]:
    """ES's explain body parser (an object parser named ``cluster/allocation/explain``):
    ``index`` and ``current_node`` strings, ``shard`` an int, ``primary`` a boolean, any other
    key refused with ES's x_content_parse_exception."""
    parser = "cluster/allocation/explain"
    out: dict[str, Any] = {}
    for key, value in (body or {}).items():
        if key not in _FIELDS:
            raise at(unknown_field(parser, key, _FIELDS), key, rooted=True)
        if value is None:
            continue
        try:
            if key == "shard":
                out[key] = as_int(parser, key, value)
            elif key == "primary":
                out[key] = as_bool(parser, key, value)
            else:
                out[key] = as_str(parser, key, value)
        except XContentParseError as exc:
            raise at(exc, key, rooted=True, at_value=True) from None
    return out


def find_copy(
    state: ClusterMetadata, nodes: DiscoveryNodes, body: dict[str, Any] | None
) -> tuple[IndexMetadata, ShardTable, ShardRouting, bool]:
    """The copy to explain (and whether it was chosen for the caller: the ``note``)."""
    body = parse_request(body)
    index, shard, primary = body.get("index"), body.get("shard"), body.get("primary")
    current = body.get("current_node")
    if index is None and shard is None and primary is None and current is None:
        # ES's choice: the first unassigned primary, else the first unassigned replica.
        for primaries in (True, False):
            for each in state.indices.values():
                r = state.routing.get(each.uuid)
                for t in r.shards if r is not None else ():
                    for c in t.copies:
                        if c.primary == primaries and not c.assigned:
                            return each, t, c, True
        raise IllegalArgumentError(NONE_UNASSIGNED)
    missing = [
        f"{name} must be specified"
        for name, value in (("index", index), ("shard", shard), ("primary", primary))
        if value is None
    ]
    if missing:
        listed = "".join(f"{i}: {m};" for i, m in enumerate(missing, 1))
        raise ActionRequestValidationError(f"Validation Failed: {listed}")
    meta = state.index(str(index))
    if meta is None:
        raise IndexNotFoundError(str(index))
    routing = state.routing.get(meta.uuid)
    number = shard if isinstance(shard, int) else -1  # an int once parsed and present
    if routing is None or not 0 <= number < len(routing.shards):
        raise ShardNotFoundError(meta.name, meta.uuid, number)
    table = routing.shards[number]
    holder: DiscoveryNode | None = None
    if current is not None:
        holder = nodes.get(str(current)) or nodes.by_name(str(current))
        if holder is None:
            raise IllegalArgumentError(f"failed to resolve [{current}], no matching nodes")
    if primary:
        own = table.primary()
        assert own is not None
        if holder is not None and own.node_id != holder.id:
            raise IllegalArgumentError(f"unable to find primary shard assigned to node [{current}]")
        return meta, table, own, False
    replicas = table.replicas()
    if holder is not None:
        found = next((c for c in replicas if c.node_id == holder.id), None)
        if found is None:
            raise IllegalArgumentError(
                f"unable to find a replica shard assigned to node [{current}]"
            )
        return meta, table, found, False
    if not replicas:
        raise IllegalArgumentError(
            f"unable to find any shards to explain [index={meta.name},shard={number},"
            f"primary=false] in the routing table"
        )
    pick = next((c for c in replicas if not c.assigned), None) or next(
        (c for c in replicas if c.active), replicas[0]
    )
    return meta, table, pick, False


def _counts(state: ClusterMetadata) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    counts: dict[str, int] = {}
    per_index: dict[tuple[str, str], int] = {}
    for r in state.routing.values():
        for t in r.shards:
            for c in t.copies:
                if c.node_id is not None:
                    counts[c.node_id] = counts.get(c.node_id, 0) + 1
                    per_index[(c.node_id, r.index_uuid)] = (
                        per_index.get((c.node_id, r.index_uuid), 0) + 1
                    )
    return counts, per_index


def _node_json(node: DiscoveryNode) -> dict[str, Any]:
    return {
        "node_id": node.id,
        "node_name": node.name,
        "transport_address": node.transport_address,
        "node_attributes": dict(node.attributes),
        "roles": list(node.roles),
    }


def explain(
    state: ClusterMetadata,
    nodes: DiscoveryNodes,
    body: dict[str, Any] | None,
    now_ms: int,
    *,
    include_yes: bool = False,
) -> dict[str, Any]:
    meta, table, copy, chosen = find_copy(state, nodes, body)
    counts, per_index = _counts(state)
    by_id = {n.id: n for n in nodes}
    data_nodes = sorted(
        (n for n in nodes if n.can_contain_data), key=lambda n: (counts.get(n.id, 0), n.id)
    )
    out: dict[str, Any] = {"note": NOTE} if chosen else {}
    out.update(
        {
            "index": meta.name,
            "shard": table.shard,
            "primary": copy.primary,
            "current_state": copy.state.lower(),
        }
    )
    existing = copy.primary and not copy.assigned and bool(table.in_sync)
    holders = {
        c.unassigned.last_node_id: c.unassigned.last_allocation_id
        for c in in_sync_holders(table)
        if c.unassigned is not None
    }
    decisions = []
    for rank, node in enumerate(data_nodes, 1):
        found = decide(
            state, candidate(meta, table, copy, node, by_id, counts, per_index), explain=True
        )
        ok = allowed(found)
        entry = {**_node_json(node), "node_decision": "yes" if ok else "no"}
        if existing:
            if node.id in holders:
                entry["store"] = {"in_sync": True, "allocation_id": holders[node.id]}
            else:
                entry["store"] = {"found": False}
                entry["node_decision"] = "no"
        entry["weight_ranking"] = rank
        shown = [d.to_json() for d in found if include_yes or not d.allowed]
        if shown:
            entry["deciders"] = shown
        decisions.append(entry)
    if copy.assigned:
        out.update(_assigned(state, meta, table, copy, by_id, counts, per_index, include_yes))
    else:
        out.update(_unassigned(meta, copy, decisions, existing, holders, by_id, now_ms))
    out["node_allocation_decisions"] = [d for d in decisions if d["node_id"] != copy.node_id]
    return out


def _unassigned(
    meta: IndexMetadata,
    copy: ShardRouting,
    decisions: list[dict[str, Any]],
    existing: bool,
    holders: dict[str | None, str | None],
    by_id: dict[str, DiscoveryNode],
    now_ms: int,
) -> dict[str, Any]:
    info = copy.unassigned
    can = any(d["node_decision"] == "yes" for d in decisions)
    out: dict[str, Any] = {}
    if info is not None:
        unassigned: dict[str, Any] = {"reason": info.reason, "at": _at(info.at_ms)}
        if info.failed_attempts:
            unassigned["failed_allocation_attempts"] = info.failed_attempts
        if info.details is not None:
            unassigned["details"] = info.details
        out["unassigned_info"] = unassigned
    if existing and not any(n in by_id for n in holders):
        status, text = "no_valid_shard_copy", NO_COPIES
    elif is_delayed(meta, copy, now_ms) and info is not None:
        delay = delay_ms(meta)
        status, text = "allocation_delayed", DELAYED.format(human_time(delay))
        out["configured_delay_in_millis"] = delay
        out["remaining_delay_in_millis"] = max(0, info.at_ms + delay - now_ms)
    elif can:
        status, text = "yes", ALLOCATE_YES
    else:
        status, text = "no", EXISTING_STORES_FORBIDDEN if existing else ALL_NODES_FORBIDDEN
    if "unassigned_info" in out:
        out["unassigned_info"]["last_allocation_status"] = (
            "no_attempt" if status in ("yes", "allocation_delayed") else status
        )
    out["can_allocate"] = status
    out["allocate_explanation"] = text
    return out


def _assigned(
    state: ClusterMetadata,
    meta: IndexMetadata,
    table: ShardTable,
    copy: ShardRouting,
    by_id: dict[str, DiscoveryNode],
    counts: dict[str, int],
    per_index: dict[tuple[str, str], int],
    include_yes: bool,
) -> dict[str, Any]:
    node = by_id.get(copy.node_id or "")
    out: dict[str, Any] = {}
    if node is None:  # its node left and the master has not failed the copy yet
        out["current_node"] = {"id": copy.node_id}
        return {**out, "can_remain_on_current_node": "no"}
    out["current_node"] = {
        "id": node.id,
        "name": node.name,
        "transport_address": node.transport_address,
        "attributes": dict(node.attributes),
        "roles": list(node.roles),
        "weight_ranking": 1,
    }
    c = candidate(meta, table, copy, node, by_id, counts, per_index)
    remain = [filter_(state, c), awareness(state, c)]
    out["can_remain_on_current_node"] = "yes" if allowed(remain) else "no"
    if not allowed(remain):
        # It moves when some node may take a new copy of the shard (its target may exist).
        out["can_remain_decisions"] = [d.to_json() for d in remain if include_yes or not d.allowed]
        moving = copy.allocation_id is not None and table.target_of(copy.allocation_id) is not None
        probe = ShardRouting(table.shard, False)
        can_move = moving or any(
            allowed(decide(state, candidate(meta, table, probe, n, by_id, counts, per_index)))
            for n in by_id.values()
            if n.can_contain_data and n.id != node.id
        )
        out["can_move_to_other_node"] = "yes" if can_move else "no"
        out["move_explanation"] = MOVE_YES if can_move else MOVE_NO
        return out
    out["can_rebalance_cluster"] = "no"
    out["can_rebalance_cluster_decisions"] = [NO_REBALANCE.to_json()]
    out["rebalance_explanation"] = REBALANCE_NO
    return out


__all__ = ["NONE_UNASSIGNED", "NOTE", "explain", "find_copy", "single_node_routing"]
