"""ES's allocation deciders: may this copy of a shard go to that node?  [no I/O]

Each decider answers YES or NO with ES's name and explanation text (what
``_cluster/allocation/explain`` shows per node); a copy may go to a node only when every decider
says YES. Deciders read their settings from the cluster metadata of the reroute (index settings
from the index's metadata, cluster settings through :meth:`ClusterMetadata.typed_setting`), so
a dynamic update counts from the next reroute on.

The deciders, in ES's order: ``max_retry`` (``index.allocation.max_retries`` failed attempts
in a row stop allocation), ``replica_after_primary_active``, ``enable``
(``cluster.routing.allocation.enable``, overridden per index by
``index.routing.allocation.enable``), ``filter`` (cluster filters first, then the index's; each
``require`` → ``include`` → ``exclude``), ``same_shard`` (never two copies of a shard on one
node; with ``cluster.routing.allocation.same_shard.host`` never on one host address),
``shards_limit`` and ``awareness``. Nodes without a data role are never candidates (ES keeps them
out of the routing nodes altogether), so no decider speaks of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus.cluster.patterns import simple_match
from isthmus.cluster.shard_routing import ShardRouting, ShardTable
from isthmus.settings import allocation as s

if TYPE_CHECKING:
    from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
    from isthmus.cluster.nodes import DiscoveryNode

YES = "YES"
NO = "NO"


@dataclass(frozen=True, slots=True)
class Decision:
    decider: str
    decision: str  # YES or NO
    explanation: str

    @property
    def allowed(self) -> bool:
        return self.decision == YES

    def to_json(self) -> dict[str, Any]:
        return {"decider": self.decider, "decision": self.decision, "explanation": self.explanation}


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the deciders are asked: ``copy`` of shard ``table`` of index ``meta`` on ``node``,
    with ``placed`` the node ids holding an assigned copy of that shard, ``node_shards`` the
    number of copies on the node and ``node_index_shards`` those of this index."""

    meta: IndexMetadata
    table: ShardTable
    copy: ShardRouting
    node: DiscoveryNode
    node_shards: int
    node_index_shards: int
    # Node id → node of every node of the cluster (the awareness and same-host checks read the
    # attributes and addresses of the nodes holding the other copies).
    nodes: Mapping[str, DiscoveryNode]


Decider = Callable[["ClusterMetadata", Candidate], Decision]


# --- max_retry / replica_after_primary_active / enable --------------------------------------


def max_retry(state: ClusterMetadata, c: Candidate) -> Decision:
    limit = int(c.meta.setting(s.MAX_RETRIES, "5"))
    info = c.copy.unassigned
    failed = info.failed_attempts if info is not None else 0
    if failed == 0:
        return Decision("max_retry", YES, "shard has no previous failures")
    if failed >= limit:
        details = f"unassigned_info[[reason={info.reason if info else ''}], " + (
            f"failed_attempts[{failed}], details[{info.details if info else ''}]]"
        )
        return Decision(
            "max_retry",
            NO,
            f"shard has exceeded the maximum number of retries [{limit}] on failed allocation "
            f"attempts - manually call [/_cluster/reroute?retry_failed=true] to retry, [{details}]",
        )
    return Decision(
        "max_retry",
        YES,
        f"shard has failed allocating [{failed}] times but [{limit}] retries are allowed",
    )


def replica_after_primary_active(state: ClusterMetadata, c: Candidate) -> Decision:
    name = "replica_after_primary_active"
    if c.copy.primary:
        return Decision(name, YES, "shard is primary and can be allocated")
    if c.table.active_primary() is None:
        return Decision(name, NO, "primary shard for this replica is not yet active")
    return Decision(name, YES, "primary shard for this replica is already active")


def enable(state: ClusterMetadata, c: Candidate) -> Decision:
    if s.INDEX_ENABLE in c.meta.settings:
        value, where = s.parse_enable(c.meta.settings[s.INDEX_ENABLE]), "index"
        key = s.INDEX_ENABLE
    else:
        value, where, key = _cluster_enable(state), "cluster", s.CLUSTER_ENABLE
    due = f"due to {where} setting [{key}={value}]"
    if value == "all":
        return Decision("enable", YES, "all allocations are allowed")
    if value == "none":
        return Decision("enable", NO, f"no allocations are allowed {due}")
    if value == "new_primaries":
        # A primary of a new shard: no copy was ever in sync (nothing to recover from a store).
        if c.copy.primary and not c.table.in_sync:
            return Decision("enable", YES, "new primary allocations are allowed")
        return Decision("enable", NO, f"non-new primary allocations are forbidden {due}")
    if c.copy.primary:
        return Decision("enable", YES, "primary allocations are allowed")
    return Decision("enable", NO, f"replica allocations are forbidden {due}")


def _cluster_enable(state: ClusterMetadata) -> str:
    raw = state.setting(s.CLUSTER_ENABLE)
    try:
        return s.parse_enable(raw if raw is not None else "all")
    except ValueError:
        return "all"


# --- filter ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeFilters:
    """ES's DiscoveryNodeFilters: attribute → values, AND (require) or OR (include, exclude)."""

    op: str  # AND / OR
    filters: tuple[tuple[str, tuple[str, ...]], ...]

    def match(self, node: DiscoveryNode) -> bool:
        for attr, values in self.filters:
            matched = _matches(node, attr, values)
            if matched is None:  # the node has no such attribute
                if self.op == "AND":
                    return False
                continue
            if self.op == "AND" and not matched:
                return False
            if self.op == "OR" and matched:
                return True
        return self.op == "AND"

    def __str__(self) -> str:
        return ",".join(f'{attr}:"{f" {self.op} ".join(values)}"' for attr, values in self.filters)


def _matches(node: DiscoveryNode, attr: str, values: Sequence[str]) -> bool | None:
    if attr == "_name":
        seen: tuple[str, ...] = (node.name,)
    elif attr == "_id":
        seen = (node.id,)
    elif attr in ("_ip", "_host_ip", "_publish_ip"):
        seen = (node.host_address, node.transport_address.rpartition(":")[0].strip("[]"))
    elif attr == "_host":
        seen = (node.host_name, node.host_address)
    elif attr in node.attributes:
        seen = (node.attributes[attr],)
    else:
        return None
    return any(simple_match(value, pattern) for value in seen for pattern in values)


def _split(raw: Any) -> tuple[str, ...]:
    """Filter values: a list, or a comma-separated string (an index keeps a list as ``[a, b]``)."""
    if isinstance(raw, list | tuple):
        return tuple(str(x).strip() for x in raw if str(x).strip())
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return tuple(p.strip().strip("'\"") for p in text.split(",") if p.strip().strip("'\""))


def node_filters(settings: Mapping[str, Any], prefix: str, kind: str) -> NodeFilters | None:
    """The filters under ``<prefix><kind>.`` in ``settings`` (None: none set, or all empty)."""
    head = f"{prefix}{kind}."
    found = tuple(
        (key[len(head) :], values)
        for key, raw in sorted(settings.items())
        if key.startswith(head) and raw is not None and (values := _split(raw))
    )
    if not found:
        return None
    return NodeFilters("AND" if kind == "require" else "OR", found)


def _cluster_settings(state: ClusterMetadata) -> dict[str, Any]:
    return {**state.node_settings, **state.persistent, **state.transient}


def filter_(state: ClusterMetadata, c: Candidate) -> Decision:
    scopes = (
        ("cluster", _cluster_settings(state), s.CLUSTER_PREFIX),
        ("index", c.meta.settings, s.INDEX_PREFIX),
    )
    for where, settings, prefix in scopes:
        for kind in s.FILTER_KINDS:
            filters = node_filters(settings, prefix, kind)
            if filters is None:
                continue
            key = f"{prefix}{kind}"
            if kind == "exclude" and filters.match(c.node):
                return Decision(
                    "filter", NO, f"node matches {where} setting [{key}] filters [{filters}]"
                )
            if kind != "exclude" and not filters.match(c.node):
                return Decision(
                    "filter", NO, f"node does not match {where} setting [{key}] filters [{filters}]"
                )
    return Decision("filter", YES, "node passes include/exclude/require filters")


# --- same_shard / shards_limit / awareness ----------------------------------------------------


def _describe(index: str, copy: ShardRouting) -> str:
    """ES's ShardRouting toString, enough to name the copy in a message."""
    kind = "P" if copy.primary else "R"
    return (
        f"[{index}][{copy.shard}], node[{copy.node_id}], [{kind}], s[{copy.state}], "
        f"a[id={copy.allocation_id}]"
    )


def same_shard(state: ClusterMetadata, c: Candidate) -> Decision:
    for other in c.table.copies:
        if other.node_id == c.node.id:
            if other.allocation_id is not None and other.allocation_id == c.copy.allocation_id:
                text = f"this shard is already allocated to this node [{_describe(c.meta.name, other)}]"
            else:
                text = f"a copy of this shard is already allocated to this node [{_describe(c.meta.name, other)}]"
            return Decision("same_shard", NO, text)
    if state.typed_setting(s.SAME_HOST):
        for other in c.table.copies:
            holder = c.nodes.get(other.node_id or "")
            if holder is not None and holder.host_address == c.node.host_address:
                return Decision(
                    "same_shard",
                    NO,
                    f"cannot allocate to node [{c.node.id}] because a copy of this shard is "
                    f"already allocated to node [{holder.id}] with the same host address "
                    f"[{c.node.host_address}] and [{s.SAME_HOST}] is [true] which forbids more "
                    "than one node on each host from holding a copy of this shard",
                )
        return Decision(
            "same_shard", YES, "none of the nodes on this host hold a copy of this shard"
        )
    return Decision("same_shard", YES, "this node does not hold a copy of this shard")


def shards_limit(state: ClusterMetadata, c: Candidate) -> Decision:
    index_limit = int(c.meta.setting(s.INDEX_TOTAL_SHARDS, "-1"))
    cluster_limit = int(state.typed_setting(s.CLUSTER_TOTAL_SHARDS))
    if index_limit <= 0 and cluster_limit <= 0:
        return Decision(
            "shards_limit",
            YES,
            f"total shard limits are disabled: [index: {index_limit}, cluster: {cluster_limit}] <= 0",
        )
    if cluster_limit > 0 and c.node_shards >= cluster_limit:
        return Decision(
            "shards_limit",
            NO,
            f"too many shards [{c.node_shards}] allocated to this node, cluster setting "
            f"[{s.CLUSTER_TOTAL_SHARDS}={cluster_limit}]",
        )
    if index_limit > 0 and c.node_index_shards >= index_limit:
        return Decision(
            "shards_limit",
            NO,
            f"too many shards [{c.node_index_shards}] allocated to this node for index "
            f"[{c.meta.name}], index setting [{s.INDEX_TOTAL_SHARDS}={index_limit}]",
        )
    return Decision(
        "shards_limit",
        YES,
        f"the shard count [{c.node_shards}] for this node is under the index limit "
        f"[{index_limit}] and cluster level node limit [{cluster_limit}]",
    )


def awareness(state: ClusterMetadata, c: Candidate) -> Decision:
    attributes: tuple[str, ...] = state.typed_setting(s.AWARENESS_ATTRIBUTES)
    if not attributes:
        return Decision(
            "awareness",
            YES,
            "allocation awareness is not enabled, set cluster setting "
            f"[{s.AWARENESS_ATTRIBUTES}] to enable it",
        )
    copies = c.meta.number_of_replicas + 1
    settings = _cluster_settings(state)
    for attr in attributes:
        if attr not in c.node.attributes:
            return Decision(
                "awareness",
                NO,
                f"node does not contain the awareness attribute [{attr}]; required attributes "
                f"cluster setting [{s.AWARENESS_ATTRIBUTES}={','.join(attributes)}]",
            )
        here = c.node.attributes[attr]
        seen = sorted(
            {
                n.attributes[attr]
                for n in c.nodes.values()
                if n.can_contain_data and attr in n.attributes
            }
        )
        forced = _split(settings.get(f"{s.AWARENESS_FORCE}{attr}.values") or ())
        values = set(seen) | set(forced)
        per_value: dict[str, int] = {}
        for other in c.table.copies:
            holder = c.nodes.get(other.node_id or "")
            if holder is not None and other.node_id != c.node.id and attr in holder.attributes:
                value = holder.attributes[attr]
                per_value[value] = per_value.get(value, 0) + 1
        would_be = per_value.get(here, 0) + 1
        most = -(-copies // len(values))  # ceiling
        if would_be > most:
            forced_text = (
                f"[{', '.join(forced)}] from forced awareness" if forced else "no forced awareness"
            )
            return Decision(
                "awareness",
                NO,
                f"there are [{copies}] copies of this shard and [{len(values)}] values for "
                f"attribute [{attr}] ([{', '.join(seen)}] from nodes in the cluster and "
                f"{forced_text}) so there may be at most [{most}] copies of this shard allocated "
                f"to nodes with each value, but (including this copy) there would be "
                f"[{would_be}] copies allocated to nodes with [node.attr.{attr}: {here}]",
            )
    return Decision("awareness", YES, "node meets all awareness attribute requirements")


DECIDERS: tuple[Decider, ...] = (
    max_retry,
    replica_after_primary_active,
    enable,
    filter_,
    same_shard,
    shards_limit,
    awareness,
)


def decide(state: ClusterMetadata, c: Candidate, *, explain: bool = False) -> list[Decision]:
    """The deciders' answers: every one when ``explain`` (ES's explain lists the YES ones only
    when asked; the caller filters), else up to the first NO."""
    out = []
    for decider in DECIDERS:
        decision = decider(state, c)
        out.append(decision)
        if not decision.allowed and not explain:
            break
    return out


def allowed(decisions: Sequence[Decision]) -> bool:
    return all(d.allowed for d in decisions)


__all__ = [
    "DECIDERS",
    "NO",
    "YES",
    "Candidate",
    "Decision",
    "NodeFilters",
    "allowed",
    "decide",
    "node_filters",
]
