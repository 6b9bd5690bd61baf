"""Remote-cluster tests: small "clusters" made of real transport servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from isthmus.remote.connector import Connector
from isthmus.settings.remote import (
    RemoteClusterConfig,
    remote_configs,
    remote_globals,
    transport_tuning,
)
from isthmus.transport import ActionRegistry, LocalNode, TransportServer
from isthmus.transport.actions import TransportRequestContext
from isthmus.wire import NodeIdentity

PORTS = (29500, 29600)


def identity(name: str, cluster: str, roles: tuple[str, ...] = ("data", "master")) -> LocalNode:
    node = NodeIdentity(
        id=f"{name}-id", name=name, publish_address="", version="9.0.0", roles=roles
    )
    return LocalNode(cluster_name=cluster, cluster_uuid=f"{cluster}-uuid", node=node)


class FakeCluster:
    """A remote cluster of one or more nodes, each a real transport server."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.servers: list[TransportServer] = []

    async def add_node(
        self, node_name: str, roles: tuple[str, ...] = ("data", "master"), port: int = 0
    ) -> TransportServer:
        registry = ActionRegistry()

        async def nodes(payload: Any, ctx: TransportRequestContext[Any]) -> Any:
            return {
                "cluster_name": self.name,
                "nodes": [s.identity.node.to_payload() for s in self.servers],
            }

        registry.register("cluster:monitor/state", nodes)
        ports = (port, port) if port else PORTS
        server = TransportServer(
            "127.0.0.1", ports, registry, identity=identity(node_name, self.name, roles)
        )
        await server.start()
        from dataclasses import replace

        server.identity = replace(
            server.identity,
            node=replace(server.identity.node, publish_address=server.publish_address or ""),
        )
        self.servers.append(server)
        return server

    def address(self, index: int = 0) -> str:
        return self.servers[index].bound_address or ""

    async def stop(self) -> None:
        for server in self.servers:
            await server.close()
        self.servers.clear()


@contextlib.asynccontextmanager
async def cluster(name: str, nodes: int = 1) -> AsyncIterator[FakeCluster]:
    fake = FakeCluster(name)
    try:
        for i in range(nodes):
            await fake.add_node(f"{name}-node-{i}")
        yield fake
    finally:
        await fake.stop()


def configs(flat: Mapping[str, Any]) -> dict[str, RemoteClusterConfig]:
    return remote_configs(flat, transport_tuning(flat), remote_globals(flat))


def connector(connect_timeout: float = 5.0) -> Connector:
    local = identity("local-node", "local")
    return Connector(identity=lambda: local, connect_timeout=connect_timeout)


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (result := check()):
            await asyncio.sleep(0.01)
    return result
