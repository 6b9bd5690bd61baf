"""Sniff mode picks gateways from the node list a remote cluster of several nodes answers with,
as ES's default predicate does: compatible version, no dedicated master, and with
``cluster.remote.node.attr`` only nodes whose attribute is ``true``. The list is the one an
Isthmus node answers (its view of the cluster, through ``transport_identities``), over in-memory
transport channels in virtual time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from isthmus.actions.remote_nodes import nodes_payload, transport_identities
from isthmus.cluster.nodes import DiscoveryNode, DiscoveryNodes, local_discovery_node
from isthmus.remote.cluster import RemoteClusterConnection
from isthmus.remote.sniff import is_gateway, version_compatible
from isthmus.testing.fake_clock import FakeClock
from isthmus.testing.memory_network import MemoryNetwork
from isthmus.testing.memory_node import MemoryNode
from isthmus.transport.channel import TransportChannel
from isthmus.transport.local import LocalNode
from isthmus.wire import NodeIdentity
from isthmus.wire.messages import Request
from tests.unit.remote.conftest import configs, connector

# name → (roles, attributes, version)
MEMBERS: dict[str, tuple[tuple[str, ...], dict[str, str], str]] = {
    "seed": (("data", "master"), {"gateway": "false"}, "9.1.0"),
    "master-only": (("master",), {"gateway": "true"}, "9.1.0"),
    "hot": (("data_hot", "remote_cluster_client"), {"gateway": "true"}, "9.1.0"),
    "old": (("data",), {"gateway": "true"}, "7.17.0"),
    "coordinating": ((), {}, "9.1.0"),
    "ingest-master": (("ingest", "master"), {"gateway": "TRUE"}, "8.19.0"),
}


@pytest.fixture
async def remote_cluster(
    network: MemoryNetwork, clock: FakeClock
) -> AsyncIterator[list[MemoryNode]]:
    """Six nodes of cluster ``fc``; each answers ``cluster:monitor/state`` with all six."""
    servers: list[MemoryNode] = []
    members: list[DiscoveryNode] = []

    async def state(channel: TransportChannel, request: Request) -> Any:
        nodes = DiscoveryNodes(tuple(members), members[0].id, members[0].id)
        return nodes_payload("fc", "fc-uuid", transport_identities(nodes))

    for name, (roles, attrs, version) in MEMBERS.items():
        ident = NodeIdentity(f"{name}-id", name, "", version, roles, attrs)
        server = MemoryNode(
            network,
            LocalNode("fc", "fc-uuid", ident),
            {"cluster:monitor/state": state},
            clock=clock,
        )
        await server.start()
        servers.append(server)
        node = local_discovery_node(ident.id, name, roles, attrs, transport_address=server.address)
        members.append(DiscoveryNode(**{**node.__dict__, "version": version}))
    try:
        yield servers
    finally:
        for server in servers:
            await server.close()


async def gateways(
    network: MemoryNetwork, clock: FakeClock, seed: str, node_attr: str | None
) -> list[str]:
    flat = {"cluster.remote.fc.seeds": [seed], "cluster.remote.fc.node_connections": "10"}
    remote = RemoteClusterConnection(
        configs(flat)["fc"],
        connector(network, clock),
        initial_connect_timeout="30s",
        node_attr=node_attr,
    )
    try:
        await remote.ensure_connected()
        assert remote.info()["num_nodes_connected"] == len(remote.strategy.manager.connections())
        return sorted(c.node.name for c in remote.strategy.manager.connections())
    finally:
        await remote.close()


async def test_the_default_predicate_over_a_multi_node_list(
    network: MemoryNetwork, clock: FakeClock, remote_cluster: list[MemoryNode]
) -> None:
    got = await gateways(network, clock, remote_cluster[0].address, None)
    # not master-only (dedicated master), not old (7.17 is not wire compatible with 9.x)
    assert got == ["coordinating", "hot", "ingest-master", "seed"]


async def test_the_node_attribute_narrows_the_gateways(
    network: MemoryNetwork, clock: FakeClock, remote_cluster: list[MemoryNode]
) -> None:
    got = await gateways(network, clock, remote_cluster[0].address, "gateway")
    # seed says false, coordinating has no attribute, ingest-master's TRUE is not ES's "true";
    # master-only and old fail the default predicate whatever their attribute says
    assert got == ["hot"]


def test_versions_a_9x_node_accepts() -> None:
    for version, ok in (("9.1.0", True), ("9.0.0", True), ("8.19.3", True),
                        ("8.19.0-SNAPSHOT", True), ("8.18.9", False), ("7.17.0", False),
                        ("10.0.0", False), ("nine", False), ("9.1", False)):  # fmt: skip
        assert version_compatible(version) is ok, version
    assert not is_gateway(NodeIdentity("i", "n", "h:1", "8.18.0", ("data",)), None)
