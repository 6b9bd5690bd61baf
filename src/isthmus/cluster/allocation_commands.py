"""``_cluster/reroute``: ES's allocation commands and ``retry_failed``.  [no I/O]

The commands a cluster administrator runs when allocation alone cannot help, as ES's
AllocationCommands:

- ``allocate_replica`` puts an unassigned replica on a node, if the deciders allow it there;
- ``allocate_stale_primary`` makes the copy a node still holds the primary, even when it is not
  in sync (``accept_data_loss: true`` required: the writes it missed are lost);
- ``allocate_empty_primary`` starts a primary with no data at all (``accept_data_loss: true``
  unless the shard is new). Its copy carries ES's ``FORCED_EMPTY_PRIMARY`` reason, which tells
  the node to start from an empty store;
- ``move`` and ``cancel`` are refused: copies move only off nodes a filter excludes
  (:mod:`isthmus.cluster.allocation_moves`).

``retry_failed`` resets the failed attempts of unassigned copies so ``max_retry`` lets them be
allocated again. A command that cannot run raises ES's ``[<command>] <reason>`` (400), or, with
``explain``, is reported as a NO decision while the others still run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from isthmus.cluster.allocation import candidate, reroute
from isthmus.cluster.allocation_deciders import allowed, decide
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.nodes import DiscoveryNode, DiscoveryNodes
from isthmus.cluster.shard_routing import INITIALIZING, ShardRouting, ShardTable, UnassignedInfo
from isthmus.errors import (
    ElasticsearchParseError,
    IllegalArgumentError,
    IndexNotFoundError,
    ShardNotFoundError,
    XContentParseError,
)
from isthmus.xcontent import as_bool, as_int, at, unknown_field

COMMANDS = (
    "allocate_replica",
    "allocate_stale_primary",
    "allocate_empty_primary",
    "move",
    "cancel",
)


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    index: str
    shard: int
    node: str  # ``move``: its ``from_node``
    accept_data_loss: bool = False
    to_node: str | None = None  # ``move`` only
    allow_primary: bool = False  # ``cancel`` only

    def parameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "shard": self.shard}
        if self.name == "move":
            out.update(from_node=self.node, to_node=self.to_node)
            return out
        out["node"] = self.node
        if self.name == "cancel":
            out["allow_primary"] = self.allow_primary
        if self.name in ("allocate_stale_primary", "allocate_empty_primary"):
            out["accept_data_loss"] = self.accept_data_loss
        return out


@dataclass(frozen=True, slots=True)
class RerouteRequest:
    """A reroute request body: its commands and ``dry_run`` (None: the body does not say)."""

    commands: list[Command]
    dry_run: bool | None


class Rejected(Exception):
    """A command that cannot run, with ES's reason (``[<command>] `` is added when raised)."""


@dataclass
class Outcome:
    state: ClusterMetadata
    explanations: list[dict[str, Any]] = field(default_factory=list)


def parse_request(body: Mapping[str, Any] | None) -> RerouteRequest:
    """ES's reroute body parser (an object parser named ``cluster_reroute``): ``commands`` and
    ``dry_run``, any other key refused."""
    dry_run: bool | None = None
    for key, value in (body or {}).items():
        if key == "dry_run":
            try:
                dry_run = as_bool("cluster_reroute", key, value)
            except XContentParseError as exc:
                raise at(exc, key, rooted=True, at_value=True) from None
        elif key != "commands":
            raise at(unknown_field("cluster_reroute", key, _BODY_FIELDS), key, rooted=True)
    return RerouteRequest(parse_commands(body), dry_run)


_BODY_FIELDS = ("commands", "dry_run")
# ES parses move and cancel by hand (MoveAllocationCommand, CancelAllocationCommand): their
# fields (camelCase aliases accepted) and the order missing ones are reported in.
_HAND_PARSED = {
    "move": {
        "index": "index",
        "shard": "shard",
        "from_node": "from_node",
        "fromNode": "from_node",
        "to_node": "to_node",
        "toNode": "to_node",
    },
    "cancel": {
        "index": "index",
        "shard": "shard",
        "node": "node",
        "allow_primary": "allow_primary",
        "allowPrimary": "allow_primary",
    },
}
_REQUIRED = {
    "move": ("index", "shard", "from_node", "to_node"),
    "cancel": ("index", "shard", "node"),
}


def _hand_parsed(name: str, spec: Mapping[str, Any]) -> Command:
    """``move`` or ``cancel`` as ES reads them: ElasticsearchParseException's texts, wrapped by
    the reroute parser as a failure of its ``commands`` field."""

    def refuse(reason: str) -> XContentParseError:
        return XContentParseError(
            "[cluster_reroute] failed to parse field [commands]",
            caused_by=ElasticsearchParseError(reason),
        )

    fields = _HAND_PARSED[name]
    values: dict[str, Any] = {}
    for key, value in spec.items():
        if key not in fields:
            raise refuse(f"[{name}] command does not support field [{key}]")
        if isinstance(value, Mapping | list):
            raise refuse(f"[{name}] command does not support complex json tokens [START_OBJECT]")
        values[fields[key]] = value
    for required in _REQUIRED[name]:
        if values.get(required) is None:
            raise refuse(f"[{name}] command missing the {required} parameter")
    try:
        shard = as_int(name, "shard", values["shard"])
    except XContentParseError:
        raise IllegalArgumentError(f"[{name}] argument [shard] must be a number") from None
    return Command(
        name,
        str(values["index"]),
        shard,
        str(values.get("from_node", values.get("node"))),
        to_node=str(values["to_node"]) if name == "move" else None,
        allow_primary=values.get("allow_primary") in (True, "true"),
    )


def parse_commands(body: Mapping[str, Any] | None) -> list[Command]:
    """The ``commands`` of a reroute request body."""
    raw = (body or {}).get("commands") or []
    if not isinstance(raw, list):
        raise IllegalArgumentError("[cluster_reroute] commands must be an array")
    out = []
    for entry in raw:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise IllegalArgumentError(
                "[cluster_reroute] each command must be an object of one key"
            )
        ((name, spec),) = entry.items()
        if name not in COMMANDS:
            raise IllegalArgumentError(f"unknown allocation command [{name}]")
        if not isinstance(spec, Mapping):
            raise IllegalArgumentError(f"[{name}] the command must be an object")
        if name in _HAND_PARSED:
            out.append(_hand_parsed(name, spec))
            continue
        missing = [k for k in ("index", "shard", "node") if spec.get(k) is None]
        if missing:
            raise IllegalArgumentError(f"[{name}] argument [{missing[0]}] missing")
        try:
            shard = int(spec["shard"])
        except (TypeError, ValueError):
            raise IllegalArgumentError(f"[{name}] argument [shard] must be a number") from None
        out.append(
            Command(
                name,
                str(spec["index"]),
                shard,
                str(spec["node"]),
                spec.get("accept_data_loss") is True,
            )
        )
    return out


def retry_failed(state: ClusterMetadata) -> ClusterMetadata:
    """Unassigned copies forget their failed attempts (``max_retry`` allows them again)."""
    routing = {}
    for uuid, r in state.routing.items():
        tables = []
        for t in r.shards:
            copies = tuple(
                replace(c, unassigned=replace(c.unassigned, failed_attempts=0))
                if not c.assigned and c.unassigned is not None and c.unassigned.failed_attempts
                else c
                for c in t.copies
            )
            tables.append(t if copies == t.copies else t.with_copies(copies))
        routing[uuid] = (
            r
            if all(a is b for a, b in zip(tables, r.shards, strict=True))
            else (replace(r, shards=tuple(tables)))
        )
    return state if routing == state.routing else replace(state, routing=routing)


def run_commands(
    state: ClusterMetadata,
    nodes: DiscoveryNodes,
    commands: Sequence[Command],
    now_ms: int,
    *,
    explain: bool,
    new_id: Callable[[], str],
) -> Outcome:
    """Apply ``commands`` in order, then reroute (without departures)."""
    out = Outcome(state)
    for command in commands:
        try:
            out.state = _run(out.state, nodes, command, now_ms, new_id)
            decision = {
                "decider": f"{command.name} (allocation command)",
                "decision": "YES",
                "explanation": "ignore deciders"
                if command.name != "allocate_replica"
                else "the deciders allow it",
            }
        except (Rejected, IndexNotFoundError, ShardNotFoundError) as exc:
            reason = exc.reason if not isinstance(exc, Rejected) else str(exc)
            if not explain:
                if isinstance(exc, Rejected):
                    raise IllegalArgumentError(f"[{command.name}] {reason}") from None
                raise
            decision = {
                "decider": f"{command.name} (allocation command)",
                "decision": "NO",
                "explanation": reason,
            }
        out.explanations.append(
            {"command": command.name, "parameters": command.parameters(), "decisions": [decision]}
        )
    out.state = reroute(out.state, nodes, now_ms, handle_departures=False, new_id=new_id)
    return out


def _run(
    state: ClusterMetadata,
    nodes: DiscoveryNodes,
    command: Command,
    now_ms: int,
    new_id: Callable[[], str],
) -> ClusterMetadata:
    if command.name in ("move", "cancel"):
        raise Rejected(
            "shards are never relocated or cancelled by hand here: copies move only off nodes "
            "an allocation filter excludes"
        )
    node = nodes.get(command.node) or nodes.by_name(command.node)
    if node is None:
        raise Rejected(f"failed to resolve [{command.node}], no matching nodes")
    if not node.can_contain_data:
        raise Rejected(f"Allocation can only be done on data nodes, not [{command.node}]")
    meta = state.index(command.index)
    if meta is None:
        raise IndexNotFoundError(command.index)
    routing = state.routing.get(meta.uuid)
    if routing is None or not 0 <= command.shard < len(routing.shards):
        raise ShardNotFoundError(meta.name, meta.uuid, command.shard)
    table = routing.shards[command.shard]
    label = f"[{meta.name}][{command.shard}]"
    if command.name == "allocate_replica":
        return _allocate_replica(state, nodes, meta.uuid, table, node, label, new_id)
    primary = table.primary()
    if primary is None or primary.assigned:
        raise Rejected(f"primary {label} is already assigned")
    info = primary.unassigned or UnassignedInfo("INDEX_CREATED", now_ms)
    if command.name == "allocate_empty_primary":
        if table.in_sync and not command.accept_data_loss:
            raise Rejected(
                f"allocating an empty primary for {label} can result in data loss. Please "
                "confirm by setting the accept_data_loss parameter to true"
            )
        forced = UnassignedInfo(
            "FORCED_EMPTY_PRIMARY",
            now_ms,
            details=f"force empty allocation from previous reason {info.reason}, {info.details}",
        )
        placed = ShardRouting(table.shard, True, INITIALIZING, node.id, new_id(), forced)
        new = replace(
            _with(table, primary, placed), in_sync=frozenset(), primary_term=table.primary_term + 1
        )
        return _store(state, meta.uuid, new)
    # allocate_stale_primary: a copy this node held, in sync or not (ES's own text speaks of an
    # empty primary here too).
    if not command.accept_data_loss:
        raise Rejected(
            f"allocating an empty primary for {label} can result in data loss. Please confirm "
            "by setting the accept_data_loss parameter to true"
        )
    if not table.in_sync:
        raise Rejected(
            f"trying to allocate an existing primary shard {label}, while no such shard has "
            "ever been active"
        )
    held = next(
        (
            c
            for c in table.copies
            if not c.assigned and c.unassigned is not None and c.unassigned.last_node_id == node.id
        ),
        None,
    )
    if held is None or held.unassigned is None or held.unassigned.last_allocation_id is None:
        raise Rejected(
            f"No data for shard [{command.shard}] of index [{meta.name}] found on node "
            f"[{command.node}]"
        )
    aid = held.unassigned.last_allocation_id
    placed = ShardRouting(table.shard, True, INITIALIZING, node.id, aid, info)
    forgotten = replace(
        held, unassigned=replace(held.unassigned, last_node_id=None, last_allocation_id=None)
    )
    copies = tuple(
        placed if c is primary else forgotten if c is held and held is not primary else c
        for c in table.copies
    )
    new = replace(
        table, copies=copies, in_sync=frozenset({aid}), primary_term=table.primary_term + 1
    )
    return _store(state, meta.uuid, new)


def _allocate_replica(
    state: ClusterMetadata,
    nodes: DiscoveryNodes,
    uuid: str,
    table: ShardTable,
    node: DiscoveryNode,
    label: str,
    new_id: Callable[[], str],
) -> ClusterMetadata:
    replica = next((c for c in table.replicas() if not c.assigned), None)
    if replica is None:
        raise Rejected(
            f"all copies of {label} are already assigned. Use the move allocation command instead"
        )
    if table.active_primary() is None:
        raise Rejected(
            f"trying to allocate a replica shard {label}, while corresponding primary shard is still unassigned"
        )
    meta = state.by_uuid(uuid)
    assert meta is not None
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
    by_id = {n.id: n for n in nodes}
    decisions = decide(state, candidate(meta, table, replica, node, by_id, counts, per_index))
    if not allowed(decisions):
        why = "; ".join(f"[{d.decider}]: {d.explanation}" for d in decisions if not d.allowed)
        raise Rejected(
            f"allocation of {label} on node {node.describe()} is not allowed, reason: {why}"
        )
    placed = ShardRouting(table.shard, False, INITIALIZING, node.id, new_id(), replica.unassigned)
    return _store(state, uuid, _with(table, replica, placed))


def _with(table: ShardTable, old: ShardRouting, new: ShardRouting) -> ShardTable:
    return table.with_copies(tuple(new if c is old else c for c in table.copies))


def _store(state: ClusterMetadata, uuid: str, table: ShardTable) -> ClusterMetadata:
    routing = dict(state.routing)
    routing[uuid] = routing[uuid].with_shard(table)
    return replace(state, routing=routing)


__all__ = [
    "COMMANDS",
    "Command",
    "Outcome",
    "RerouteRequest",
    "parse_commands",
    "parse_request",
    "retry_failed",
    "run_commands",
]
