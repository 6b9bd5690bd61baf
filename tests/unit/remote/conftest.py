"""Remote-cluster tests: small "clusters" of in-memory transport nodes, on a fake clock.

Every node is a :class:`~isthmus.testing.memory_node.MemoryNode` on the test's
:class:`~isthmus.testing.memory_network.MemoryNetwork`, and connectors open channels through
that network with the test's :class:`~isthmus.testing.fake_clock.FakeClock`: strategies,
connection managers and channels run unchanged, with no port and no wall-clock wait.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from isthmus.remote.connector import Connector
from isthmus.settings.remote import (
    RemoteClusterConfig,
    TcpOptions,
    remote_configs,
    remote_globals,
    transport_tuning,
)
from isthmus.testing.fake_clock import FakeClock
from isthmus.testing.memory_network import MemoryNetwork
from isthmus.testing.memory_node import MemoryNode
from isthmus.transport.channel import TransportChannel
from isthmus.transport.local import LocalNode
from isthmus.wire import NodeIdentity, Request


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def network() -> MemoryNetwork:
    return MemoryNetwork()


def identity(name: str, cluster: str, roles: tuple[str, ...] = ("data", "master")) -> LocalNode:
    node = NodeIdentity(
        id=f"{name}-id", name=name, publish_address="", version="9.0.0", roles=roles
    )
    return LocalNode(cluster_name=cluster, cluster_uuid=f"{cluster}-uuid", node=node)


class FakeCluster:
    """A remote cluster of one or more in-memory nodes that list each other as its nodes."""

    def __init__(self, name: str, network: MemoryNetwork, clock: FakeClock) -> None:
        self.name = name
        self.network = network
        self.clock = clock
        self.servers: list[MemoryNode] = []

    async def add_node(
        self,
        node_name: str,
        roles: tuple[str, ...] = ("data", "master"),
        port: int = 0,
        tcp: TcpOptions | None = None,
    ) -> MemoryNode:
        async def nodes(channel: TransportChannel, request: Request) -> Any:
            return {
                "cluster_name": self.name,
                "nodes": [s.identity.node.to_payload() for s in self.servers],
            }

        server = MemoryNode(
            self.network,
            identity(node_name, self.name, roles),
            {"cluster:monitor/state": nodes},
            port=port,
            clock=self.clock,
            tcp=tcp,
        )
        await server.start()
        self.servers.append(server)
        return server

    def address(self, index: int = 0) -> str:
        return self.servers[index].address

    async def stop(self) -> None:
        for server in self.servers:
            await server.close()
        self.servers.clear()


@contextlib.asynccontextmanager
async def cluster(
    name: str, network: MemoryNetwork, clock: FakeClock, nodes: int = 1
) -> AsyncIterator[FakeCluster]:
    fake = FakeCluster(name, network, clock)
    try:
        for i in range(nodes):
            await fake.add_node(f"{name}-node-{i}")
        yield fake
    finally:
        await fake.stop()


def configs(flat: Mapping[str, Any]) -> dict[str, RemoteClusterConfig]:
    return remote_configs(flat, transport_tuning(flat), remote_globals(flat))


def connector(network: MemoryNetwork, clock: FakeClock, connect_timeout: float = 5.0) -> Connector:
    local = identity("local-node", "local")
    return Connector(
        identity=lambda: local, connect_timeout=connect_timeout, network=network, clock=clock
    )
