"""Requests from one node to another node of its own cluster, over kept connections.

The data path (a write sent to its primary's node, the primary's operations sent to its replicas,
a search's shards on other nodes, a change proposed to the master) asks the same few nodes many
times a second: opening a TLS connection and handshaking for each request would cost more than
the request. :class:`PeerChannels` keeps one handshaken channel per node, opens it on first use
(one opener at a time per node), and opens a new one when it ended (the node restarted, the
connection broke). Requests carry the system's identity (nodes trust each other by their
transport certificates, as ES's internal actions do).

A request to a node this node cannot reach raises :class:`NodeNotConnectedError`-style transport
errors (the caller decides: try another copy, fail the copy, retry the master).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from isthmus.cluster.nodes import DiscoveryNode
from isthmus.remote.connector import Connector
from isthmus.security.transport_filter import SYSTEM
from isthmus.transport.channel import TransportChannel

DEFAULT_TIMEOUT_S = 30.0


class PeerChannels:
    def __init__(self, cluster_name: str, connector: Connector) -> None:
        self.cluster_name = cluster_name
        self._connector = connector
        self._channels: dict[str, TransportChannel] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<PeerChannels {self.cluster_name} open={sorted(self._channels)}>"

    async def channel(self, node: DiscoveryNode) -> TransportChannel:
        """An open channel to ``node`` (opened now when there is none, or it ended)."""
        current = self._channels.get(node.id)
        if current is not None and not current.ended:
            return current
        lock = self._opening.setdefault(node.id, asyncio.Lock())
        async with lock:
            current = self._channels.get(node.id)
            if current is not None and not current.ended:
                return current
            if self._closed:
                raise ConnectionError("this node is stopping")
            host, _, port = node.transport_address.rpartition(":")
            opened = await self._connector.open(
                host.strip("[]"),
                int(port),
                expected_cluster_name=self.cluster_name,
                node_name=node.name,
            )
            self._channels[node.id] = opened
            return opened

    async def request(
        self,
        node: DiscoveryNode,
        action: str,
        payload: Mapping[str, Any] | Any,
        *,
        timeout: float | None = DEFAULT_TIMEOUT_S,
    ) -> Any:
        """``action`` on ``node`` as the system; the answer, or the node's error raised."""
        channel = await self.channel(node)
        return await channel.request(action, payload, SYSTEM.header(), timeout=timeout)

    def forget(self, node_id: str) -> None:
        """Close the channel to a node that left the cluster."""
        channel = self._channels.pop(node_id, None)
        if channel is not None:
            channel.close()

    async def close(self) -> None:
        self._closed = True
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
