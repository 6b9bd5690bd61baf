"""Which revision of a replicated piece of state each node has applied, and waiting until every
node of the cluster has: ES's acknowledgement of a cluster state update (``acknowledged: true``
once every node applied it, ``false`` when the ack timeout passed first).

    <prefix>applied/<node_id>   the last revision of the state that node applied

A node writes its key after each change it applied (changes are rare: security documents and
cluster settings); a writer reads the keys of the nodes the cluster has now (``live_nodes``)
until each is at least its write's revision. A node that left is not waited for; a node that
cannot write its key (the store unreachable) is waited for until the timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

from isthmus.coordination.etcd_client import EtcdClient
from isthmus.errors import CoordinationError

log = logging.getLogger("isthmus.cluster.acknowledgements")


class Acknowledgements:
    def __init__(
        self, prefix: bytes, node_id: str, live_nodes: Callable[[], Collection[str]]
    ) -> None:
        self.keys = prefix + b"applied/"
        self.node_id = node_id
        self._live_nodes = live_nodes

    def __repr__(self) -> str:
        return f"<Acknowledgements {self.keys.decode()} node={self.node_id}>"

    async def publish(self, client: EtcdClient, revision: int) -> None:
        """This node applied ``revision``."""
        try:
            await client.put(self.keys + self.node_id.encode(), str(revision).encode())
        except CoordinationError as exc:
            # Writers then wait for this node until their timeout; nothing is lost.
            log.debug("cannot acknowledge revision [%d]: %s", revision, exc.reason)

    async def wait(self, client: EtcdClient, revision: int, timeout: float) -> list[str]:
        """Wait until every other live node applied ``revision`` (this node's own progress is
        the caller's); returns the nodes still behind when ``timeout`` passed (empty: all)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.005
        while True:
            behind = set(self._live_nodes()) - {self.node_id}
            if not behind:
                return []
            try:
                found = (await client.get(self.keys, prefix=True)).kvs
            except CoordinationError:
                found = ()  # the store is unreachable: wait for it as for a slow node
            for kv in found:
                if int(kv.value or b"0") >= revision:
                    behind.discard(kv.key[len(self.keys) :].decode())
            if not behind or loop.time() > deadline:
                return sorted(behind)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
