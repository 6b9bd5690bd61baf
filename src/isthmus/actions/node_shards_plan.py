"""Which copy of each shard a read asks, in a cluster of several nodes.  [no I/O]

A search (count, explain, validate, search shards for another cluster) reaches a set of shards;
each has copies on some nodes (:class:`~isthmus.cluster.shard_copies.ShardCopies`). ES's rules,
from ``OperationRouting`` and ``AbstractSearchAsyncAction``:

- only started copies answer reads; the copies are tried in order, the next one when a copy
  fails (shard failover); a shard reports a failure only when every copy failed;
- a shard with no copy to ask fails at once with ``NoShardAvailableActionException``;
- ``preference`` orders or narrows the copies: ``_local`` this node's copy first (the default
  here too), ``_only_local`` this node's copy only, ``_prefer_nodes:a,b`` those nodes' copies
  first, ``_only_nodes:<spec>`` copies on the nodes the spec names only, any custom string a
  repeatable order (the same copies for the same string); ``_shards:`` chose the shards before
  this (:mod:`isthmus.search.preference`) and may end with ``|`` and one of these;
- the copies this node holds are searched here, as today; the others are grouped by the node
  of their first copy, one request per node.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from isthmus.cluster.shard_copies import CopyTarget
from isthmus.errors import IllegalArgumentError

# The node ids a ``_only_nodes:`` spec names (node ids, names, attributes, as ES resolves it).
NodeResolver = Callable[[str], set[str]]


@dataclass(frozen=True, slots=True)
class ShardTask:
    """One shard of a read and the copies to try for it, in order."""

    index: str
    index_uuid: str
    shard: int
    copies: tuple[CopyTarget, ...] = ()
    # Alias filters of the index as the request reached it (None: none).
    filters: tuple[dict[str, Any], ...] | None = field(default=None, compare=False)

    @property
    def first_node(self) -> str | None:
        return self.copies[0].node_id if self.copies else None

    def after(self, node_id: str) -> ShardTask:
        """The task without the copy on ``node_id`` (it failed): the next copies to try."""
        return ShardTask(
            self.index,
            self.index_uuid,
            self.shard,
            tuple(c for c in self.copies if c.node_id != node_id),
            self.filters,
        )


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """A read's shards split three ways."""

    local: list[ShardTask]  # a started copy is on this node: searched here, as on one node
    remote: dict[str, list[ShardTask]]  # by the node of the first copy to ask
    unavailable: list[ShardTask]  # no started copy the preference allows
    order: list[ShardTask] = field(default_factory=list)  # every shard, in the read's order

    @property
    def total(self) -> int:
        return len(self.local) + sum(len(t) for t in self.remote.values()) + len(self.unavailable)


def copy_preference(preference: str | None) -> str | None:
    """The part of ``preference`` that orders copies (``_shards:0|_local`` → ``_local``)."""
    if not preference:
        return None
    if preference.startswith("_shards:"):
        bar = preference.find("|")
        return None if bar == -1 else preference[bar + 1 :] or None
    return preference


def ordered_copies(
    preference: str | None,
    readable: Sequence[CopyTarget],
    local_node_id: str,
    shard: int,
    resolve_nodes: NodeResolver | None = None,
) -> list[CopyTarget]:
    """The started copies of one shard in the order a read tries them (empty: none may answer).

    ``readable`` comes with this node's copy first; ``preference`` as ES reads it (an unknown
    ``_`` type was refused before, by :func:`isthmus.search.preference.selects_shard`)."""
    copies = list(readable)
    wanted = copy_preference(preference)
    if wanted is None or wanted == "_local":
        return _local_first(copies, local_node_id)
    if wanted in ("_only_local", "_onlyLocal"):
        return [c for c in copies if c.node_id == local_node_id]
    if wanted.startswith("_prefer_nodes:"):
        nodes = [n for n in wanted[len("_prefer_nodes:") :].split(",") if n]
        preferred = [c for n in nodes for c in copies if c.node_id == n]
        return preferred + [c for c in copies if c not in preferred]
    if wanted.startswith("_only_nodes:"):
        spec = wanted[len("_only_nodes:") :]
        named = resolve_nodes(spec) if resolve_nodes is not None else set(spec.split(","))
        return [c for c in copies if c.node_id in named]
    if wanted.startswith("_"):
        return _local_first(copies, local_node_id)
    # A custom string: the same copies for the same string (ES hashes it with the shard id).
    if not copies:
        return copies
    ranked = sorted(copies, key=lambda c: c.node_id)
    start = (zlib.crc32(wanted.encode()) + shard) % len(ranked)
    return ranked[start:] + ranked[:start]


def check_only_nodes(
    preference: str | None, index: str, shard: int, ordered: list[CopyTarget]
) -> None:
    """ES refuses ``_only_nodes:<spec>`` when no copy of a shard is on the nodes it names."""
    wanted = copy_preference(preference)
    if ordered or wanted is None or not wanted.startswith("_only_nodes:"):
        return
    spec = [s for s in wanted[len("_only_nodes:") :].split(",") if s]
    # ES's message says "criteria" for one and "criterion" for several (sic).
    word = "criteria" if len(spec) == 1 else "criterion"
    raise IllegalArgumentError(
        f"no data nodes with {word} [{','.join(spec)}] found for shard: [{index}][{shard}]"
    )


def _local_first(copies: list[CopyTarget], local_node_id: str) -> list[CopyTarget]:
    here = [c for c in copies if c.node_id == local_node_id]
    return here + [c for c in copies if c.node_id != local_node_id]


def split(
    tasks: Iterable[ShardTask], local_node_id: str, held_here: Callable[[ShardTask], bool]
) -> ShardPlan:
    """Local shards (first copy here and the shard open on this node), the others by the node
    of their first copy, and those with no copy at all."""
    plan = ShardPlan([], {}, [], list(tasks))
    for task in plan.order:
        first = task.first_node
        if first is None:
            plan.unavailable.append(task)
        elif first == local_node_id and held_here(task):
            plan.local.append(task)
        elif first == local_node_id:
            # The routing table says started here, but this node has not opened it (yet):
            # ask the next copy, as a failed local copy would.
            rest = task.after(local_node_id)
            if rest.first_node is None:
                plan.unavailable.append(task)
            else:
                plan.remote.setdefault(rest.first_node, []).append(rest)
        else:
            plan.remote.setdefault(first, []).append(task)
    return plan


__all__ = [
    "NodeResolver",
    "ShardPlan",
    "ShardTask",
    "check_only_nodes",
    "copy_preference",
    "ordered_copies",
    "split",
]
