"""The elected master's allocation: reroutes the routing table when nodes or indices change.

:class:`AllocationService` runs on every node of a cluster of several nodes and acts only while
the node is the elected master (ES's AllocationService, run by the master's cluster service):

- when the nodes change (one joined, left or lost its data role) or an applied cluster state has
  something to allocate (an unassigned copy, an index without routing) or to move (a started
  copy a filter now excludes from its node, or one to even out the nodes), it submits a
  ``reroute`` change with ``handle_departures`` (copies on nodes that left fail, lost primaries
  are replaced by in-sync replicas). Appliers and view listeners only wake the service's loop:
  a submission from inside an applier would wait for itself. Bursts are coalesced: one reroute
  runs for every change seen before it started.
- when a replica is delayed (its node left less than ``index.unassigned.node_left.
  delayed_timeout`` ago), the loop wakes when the delay expires.
- :meth:`initial_allocation` is the cluster service's ``post_change`` hook: every change a node
  proposes is rerouted (without departures) before it is published, so an index is published
  already allocated.

:func:`wait_for_active_shards` is ES's ``wait_for_active_shards`` of index creation: ``1`` (the
default: every primary), ``all`` (every copy) or a number of active copies per shard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from isthmus.cluster.allocation import (
    has_unassigned,
    needs_routing,
    next_delay_expiry,
    reroute,
    restarted_nodes,
)
from isthmus.cluster.allocation_moves import needs_moves, needs_rebalance
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.nodes import DiscoveryNodes, NodesView
from isthmus.cluster.service import ClusterService
from isthmus.errors import IllegalArgumentError, IsthmusError

log = logging.getLogger("org.elasticsearch.cluster.routing.allocation.AllocationService")

# A burst of changes (several nodes joining, an index creation's publications) waits this long
# so one reroute covers it.
COALESCE_S = 0.05


def departed(state: ClusterMetadata, nodes: DiscoveryNodes) -> bool:
    """Some copy is assigned to a node that is not a data node of ``nodes``, or one that has
    restarted since the last reroute."""
    again = restarted_nodes(state, nodes)
    live = {n.id for n in nodes if n.can_contain_data and n.id not in again}
    return any(
        c.node_id is not None and c.node_id not in live
        for r in state.routing.values()
        for t in r.shards
        for c in t.copies
    )


class AllocationService:
    def __init__(
        self,
        cluster: ClusterService,
        view: NodesView,
        clock: Callable[[], float] = time.time,
        *,
        unreachable: Callable[[], frozenset[str]] = frozenset,
    ) -> None:
        """``unreachable``: nodes the master's follower checks cannot reach (allocated to as if
        they had left, although etcd still lists them)."""
        self._cluster = cluster
        self._view = view
        self._unreachable = unreachable
        self._clock = clock
        self._wake = asyncio.Event()
        self.reroutes = 0  # submitted reroutes (introspection, tests)
        view.subscribe(self._nodes_changed)
        cluster.add_applier(self._applied)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def nodes(self) -> DiscoveryNodes:
        """The nodes allocation works with: the view's, less those the master cannot reach."""
        nodes = self._view.nodes
        gone = self._unreachable()
        if not gone:
            return nodes
        return replace(nodes, nodes=tuple(n for n in nodes if n.id not in gone))

    def wake(self) -> None:
        """Something allocation depends on changed (a follower check's verdict)."""
        self._wake.set()

    def initial_allocation(self, state: ClusterMetadata) -> ClusterMetadata:
        """The ``post_change`` hook: allocate what a proposed change created."""
        return reroute(state, self.nodes(), self._now_ms(), handle_departures=False)

    def _nodes_changed(self, previous: DiscoveryNodes, current: DiscoveryNodes) -> None:
        if current.is_local_master():
            self._wake.set()

    async def _applied(self, old: ClusterMetadata, new: ClusterMetadata) -> None:
        if self._view.nodes.is_local_master() and self.wants_reroute(new):
            self._wake.set()

    def wants_reroute(self, state: ClusterMetadata) -> bool:
        nodes = self.nodes()
        return (
            needs_routing(state)
            or has_unassigned(state)
            or departed(state, nodes)
            or needs_moves(state, nodes)
            or needs_rebalance(state, nodes)
        )

    async def run(self) -> None:
        """The master's reroute loop (runs on every node; acts only on the master)."""
        self._wake.set()  # a node that starts as master checks the state it loaded
        while True:
            expiry = next_delay_expiry(self._cluster.state, self._now_ms())
            wait = None if expiry is None else max(0.0, (expiry - self._now_ms()) / 1000 + 0.01)
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass
            await asyncio.sleep(COALESCE_S)
            self._wake.clear()
            if not self._view.nodes.is_local_master():
                continue
            await self.reroute_now()

    async def reroute_now(self) -> None:
        nodes = self.nodes()

        def change(state: ClusterMetadata) -> ClusterMetadata:
            return reroute(state, nodes, self._now_ms(), handle_departures=True)

        try:
            before = self._cluster.state
            after = await self._cluster.submit("reroute", change)
            if after is not before:
                self.reroutes += 1
        except IsthmusError as exc:
            # Lost mastership or etcd unreachable: the next change or view update retries.
            log.warning("failed to reroute: %s", exc)
        except Exception:
            # A bug in a decider must not stop the node: logged with its cause, retried on the
            # next change.
            log.exception("failed to reroute")

    def __repr__(self) -> str:
        return f"<AllocationService reroutes={self.reroutes}>"


# --- wait_for_active_shards -----------------------------------------------------------------


def parse_active_shards(raw: str | int | None) -> int | str:
    """ES's ActiveShardCount.parseString: ``all``, ``index-setting`` (1 here), or a number >= 0."""
    if raw is None or raw == "" or raw == "index-setting":
        return 1
    if isinstance(raw, int):
        value = raw
    elif str(raw).lower() == "all":
        return "all"
    else:
        try:
            value = int(str(raw))
        except ValueError:
            raise IllegalArgumentError(f"cannot parse ActiveShardCount[{raw}]") from None
    if value < 0:
        raise IllegalArgumentError("shard count cannot be a negative value")
    return value


def active_shards_reached(
    state: ClusterMetadata, index_names: Iterable[str], count: int | str
) -> bool:
    """Every shard of every named index has ``count`` active copies (``all``: every copy)."""
    for name in index_names:
        meta = state.index(name)
        if meta is None:
            return False
        routing = state.routing.get(meta.uuid)
        if routing is None:
            return False
        for table in routing.shards:
            active = sum(1 for c in table.copies if c.active)
            wanted = len(table.copies) if count == "all" else int(count)
            if active < wanted:
                return False
    return True


async def wait_for_active_shards(
    cluster: ClusterService,
    index_names: Iterable[str],
    count: int | str,
    timeout: float,
    *,
    poll_s: float = 0.05,
) -> bool:
    """Wait until :func:`active_shards_reached` (True) or ``timeout`` seconds passed (False)."""
    names = list(index_names)
    if count == 0:
        return True
    deadline = time.monotonic() + timeout
    while not active_shards_reached(cluster.state, names, count):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
    return True


__all__ = [
    "AllocationService",
    "active_shards_reached",
    "departed",
    "parse_active_shards",
    "wait_for_active_shards",
]
