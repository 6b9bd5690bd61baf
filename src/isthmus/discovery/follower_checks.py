"""The master's follower checks: a node the master cannot reach leaves, even while etcd hears it.

Membership is a leased key per node in etcd: a node that stops or dies leaves when its lease
expires. A node cut off from the master but not from etcd (a broken route between two machines,
a firewall on the transport port) keeps its lease, yet the master can neither send it writes nor
recover its copies. As ES's FollowersChecker does, the elected master asks every other node
``internal:coordination/fault_detection/follower_check`` every
``cluster.fault_detection.follower_check.interval`` (1s), each answer within
``cluster.fault_detection.follower_check.timeout`` (10s); after
``cluster.fault_detection.follower_check.retry_count`` (3) failures in a row the node is
removed from the master's allocation (its copies fail and in-sync replicas elsewhere are
promoted, as when a node leaves), with ES's log line. It counts again as soon as a check
succeeds (the route is back: it gets new copies and recovers them).

Only the master checks, only nodes listed in its view; a node that left etcd's view is forgotten.
The nodes' own view (``_cat/nodes``) follows etcd and still lists such a node: unlike ES, where
the master removes it from the cluster state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from isthmus.cluster.nodes import DiscoveryNode, NodesView
from isthmus.errors import IllegalArgumentError, IsthmusError
from isthmus.wire.names import FOLLOWER_CHECK_ACTION

log = logging.getLogger("org.elasticsearch.cluster.coordination.FollowersChecker")
left_log = logging.getLogger("org.elasticsearch.cluster.coordination.NodeLeftExecutor")

Ask = Callable[[DiscoveryNode, str, dict[str, Any], float], Awaitable[Any]]


def follower_check_handler(cluster_name: str) -> Callable[[Any, Any], Awaitable[Any]]:
    """What every node answers to the master's check (nodes of this cluster only)."""

    async def handle(payload: Any, ctx: Any) -> Any:
        if not isinstance(payload, dict) or payload.get("cluster_name") != cluster_name:
            raise IllegalArgumentError(
                f"[{FOLLOWER_CHECK_ACTION}] is only answered to nodes of cluster [{cluster_name}]"
            )
        return {"ok": True}

    return handle


class FollowerChecks:
    def __init__(
        self,
        cluster_name: str,
        view: NodesView,
        ask: Ask,
        *,
        interval_s: float,
        timeout_s: float,
        retry_count: int,
        on_change: Callable[[], None],
    ) -> None:
        self._cluster_name = cluster_name
        self._view = view
        self._ask = ask
        self._interval = interval_s
        self._timeout = timeout_s
        self._retries = retry_count
        self._on_change = on_change
        self._failures: dict[str, int] = {}  # node id (with its process) → failures in a row
        self._removed: set[str] = set()

    def __repr__(self) -> str:
        return f"<FollowerChecks removed={sorted(self._removed)}>"

    def removed(self) -> frozenset[str]:
        """Ids of the nodes the master cannot reach (excluded from allocation)."""
        return frozenset(self._removed)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            nodes = self._view.nodes
            if not nodes.is_local_master():
                if self._removed or self._failures:
                    self._failures.clear()
                    self._removed.clear()
                    self._on_change()
                continue
            others = [n for n in nodes if n.id != nodes.local_node_id]
            known = {self._key(n) for n in others}
            for key in [k for k in self._failures if k not in known]:
                del self._failures[key]
            gone = {n.id for n in others}
            if not self._removed <= gone:
                self._removed &= gone
                self._on_change()
            await asyncio.gather(*(self._check(n) for n in others))

    @staticmethod
    def _key(node: DiscoveryNode) -> str:
        return f"{node.id}/{node.ephemeral_id}"

    async def _check(self, node: DiscoveryNode) -> None:
        key = self._key(node)
        try:
            await self._ask(
                node, FOLLOWER_CHECK_ACTION, {"cluster_name": self._cluster_name}, self._timeout
            )
        except (IsthmusError, OSError, TimeoutError) as exc:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            log.debug(
                "follower check of %s failed (%d in a row): %s", node.describe(), failures, exc
            )
            if failures >= self._retries and node.id not in self._removed:
                self._removed.add(node.id)
                left_log.info(
                    "node-left: [%s] with reason [followers check retry count exceeded "
                    "[timeouts=0, failures=%d]]",
                    node.describe(),
                    failures,
                )
                self._on_change()
            return
        self._failures.pop(key, None)
        if node.id in self._removed:
            self._removed.discard(node.id)
            log.info("follower check of %s succeeds again: it takes copies again", node.describe())
            self._on_change()
