"""Sniff and proxy strategies against in-memory remote clusters, in virtual time."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from isthmus.errors import ConnectTransportError, HandshakeError, NoSeedNodeLeftError
from isthmus.remote.cluster import RemoteClusterConnection
from isthmus.remote.proxy import ProxyStrategy
from isthmus.remote.sniff import SniffStrategy, is_gateway
from isthmus.testing.fake_clock import FakeClock, until
from isthmus.testing.memory_network import MemoryNetwork
from isthmus.testing.memory_node import MemoryNode
from isthmus.wire import NodeIdentity
from tests.unit.remote.conftest import FakeCluster, cluster, configs, connector


def sniff(
    network: MemoryNetwork, clock: FakeClock, seeds: list[str], **extra: str
) -> RemoteClusterConnection:
    flat = {
        "cluster.remote.my.seeds": seeds,
        **{f"cluster.remote.my.{k}": v for k, v in extra.items()},
    }
    return RemoteClusterConnection(
        configs(flat)["my"], connector(network, clock), initial_connect_timeout="30s"
    )


def proxy(
    network: MemoryNetwork, clock: FakeClock, address: str, sockets: int = 3, **extra: str
) -> RemoteClusterConnection:
    flat = {
        "cluster.remote.my.mode": "proxy",
        "cluster.remote.my.proxy_address": address,
        "cluster.remote.my.proxy_socket_connections": str(sockets),
        **{f"cluster.remote.my.{k}": v for k, v in extra.items()},
    }
    return RemoteClusterConnection(
        configs(flat)["my"], connector(network, clock), initial_connect_timeout="30s"
    )


async def test_sniff_connects_and_reports_remote_info(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("remote", network, clock) as fc:
        remote = sniff(network, clock, [fc.address()])
        try:
            await remote.ensure_connected()
            info = remote.info()
            assert list(info) == [
                "connected",
                "mode",
                "seeds",
                "num_nodes_connected",
                "max_connections_per_cluster",
                "initial_connect_timeout",
                "skip_unavailable",
            ]
            assert info == {
                "connected": True,
                "mode": "sniff",
                "seeds": [fc.address()],
                "num_nodes_connected": 1,
                "max_connections_per_cluster": 3,
                "initial_connect_timeout": "30s",
                "skip_unavailable": True,
            }
            assert remote.strategy.remote_cluster_name == "remote"
            # ES's order: a transient connection to the seed (handshake, node list), closed,
            # and the managed one to the address the seed's handshake advertised
            assert fc.servers[0].accepted == 2
            assert len(fc.servers[0].channels) == 1
        finally:
            await remote.close()


async def test_sniff_discovers_other_nodes_and_skips_dedicated_masters(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("remote", network, clock, nodes=2) as fc:
        await fc.add_node("master-only", roles=("master",))
        remote = sniff(network, clock, [fc.address(0)])
        try:
            await remote.ensure_connected()
            names = sorted(c.node.name for c in remote.strategy.manager.connections())
            assert names == ["remote-node-0", "remote-node-1"]
            assert remote.info()["num_nodes_connected"] == 2
        finally:
            await remote.close()


async def test_node_connections_caps_the_gateways(network: MemoryNetwork, clock: FakeClock) -> None:
    async with cluster("remote", network, clock, nodes=3) as fc:
        remote = sniff(network, clock, [fc.address(0)], node_connections="2")
        try:
            await remote.ensure_connected()
            assert remote.info()["num_nodes_connected"] == 2
        finally:
            await remote.close()


def advertise(server: MemoryNode, address: str) -> None:
    """Make ``server`` advertise ``address`` (its ``transport.publish_host``/``publish_port``)
    in its handshake and in the node list, while it keeps listening where it is."""
    server.identity = replace(
        server.identity, node=replace(server.identity.node, publish_address=address)
    )


async def test_sniff_connects_to_the_address_the_seed_advertises_not_the_seed(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # ES's classic sniff fault: the seed address works, the published one is not reachable
    # from here, so no managed connection can be made (the seed connection is transient).
    async with cluster("remote", network, clock) as fc:
        unreachable = network.unused_address()
        advertise(fc.servers[0], unreachable)
        remote = sniff(network, clock, [fc.address()])
        try:
            with caplog.at_level(logging.DEBUG), pytest.raises(ConnectTransportError) as err:
                await remote.ensure_connected()
            assert err.value.reason == f"[remote-node-0][{unreachable}] connect_exception"
            assert not remote.is_connected()
            assert fc.servers[0].channels == set() or len(fc.servers[0].channels) == 0
            messages = [r.getMessage() for r in caplog.records]
            assert any(
                m.startswith("[my] failed to open managed connection to seed node:")
                for m in messages
            )
            assert any(
                m.startswith("fetching nodes from external cluster [my] failed") for m in messages
            )
        finally:
            await remote.close()


async def test_sniff_skips_a_discovered_gateway_it_cannot_reach(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with cluster("remote", network, clock, nodes=2) as fc:
        advertise(fc.servers[1], network.unused_address())
        remote = sniff(network, clock, [fc.address(0)])
        try:
            with caplog.at_level(logging.DEBUG):
                await remote.ensure_connected()
            names = [c.node.name for c in remote.strategy.manager.connections()]
            assert names == ["remote-node-0"]
            assert remote.info()["num_nodes_connected"] == 1
            assert "[my] failed to open managed connection to node [" in caplog.text
        finally:
            await remote.close()


async def test_a_peer_that_accepts_and_never_handshakes_is_a_handshake_timeout(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    # ES's two budgets: TCP connected (plaintext: the channel is open), then the transport
    # handshake waited connect_timeout for an answer: handshake_timeout, not connect_timeout.
    listener = network.listen("127.0.0.1", 0, asyncio.Protocol)
    address = f"127.0.0.1:{listener.port}"
    remote = sniff(network, clock, [address])
    try:
        attempt = asyncio.ensure_future(remote.ensure_connected())
        await clock.advance(4.9)
        assert not attempt.done()
        await clock.advance(0.2)
        with pytest.raises(ConnectTransportError) as err:
            await attempt
        assert err.value.reason == f"[][{address}] handshake_timeout[5s]"
    finally:
        await remote.close()
        listener.close()


def test_gateway_predicate() -> None:
    def node(roles: tuple[str, ...], **attrs: str) -> NodeIdentity:
        return NodeIdentity("i", "n", "h:1", "9.0.0", roles, attrs)

    assert is_gateway(node(("master", "data")), None)
    assert not is_gateway(node(("master",)), None)
    assert is_gateway(node(("master", "ingest")), None)
    assert not is_gateway(node(("data",)), "gateway")
    assert is_gateway(node(("data",), gateway="true"), "gateway")
    assert not is_gateway(node(("data",), gateway="false"), "gateway")


async def test_sniff_moves_to_the_next_seed(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    dead = network.unused_address()
    async with cluster("remote", network, clock) as fc:
        remote = sniff(network, clock, [dead, fc.address()])
        try:
            with caplog.at_level(logging.DEBUG):
                await remote.ensure_connected()
            assert remote.is_connected()
            assert (
                "fetching nodes from external cluster [my] failed moving to next seed node"
                in caplog.text
            )
        finally:
            await remote.close()


async def test_sniff_unreachable_logs_like_es(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    dead = network.unused_address()
    remote = sniff(network, clock, [dead])
    try:
        with pytest.raises(ConnectTransportError) as err:
            await remote.ensure_connected()
        assert err.value.reason == f"[][{dead}] connect_exception"
        assert err.value.to_cause()["caused_by"]["type"] == "connect_exception"
        record = next(r for r in caplog.records if r.levelno == logging.WARNING)
        assert record.name == "org.elasticsearch.transport.SniffConnectionStrategy"
        assert record.getMessage().splitlines()[:2] == [
            "fetching nodes from external cluster [my] failed",
            f"org.elasticsearch.transport.ConnectTransportException: [][{dead}] connect_exception",
        ]
        assert not remote.is_connected()
        assert remote.info()["connected"] is False
    finally:
        await remote.close()


async def test_sniff_refuses_a_seed_of_another_cluster(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("first", network, clock) as a, cluster("second", network, clock) as b:
        remote = sniff(network, clock, [a.address()])
        try:
            await remote.ensure_connected()
            # Now point the same alias's pinned name at a seed of another cluster.
            strategy = remote.strategy
            assert isinstance(strategy, SniffStrategy)
            with pytest.raises(
                HandshakeError,
                match=r"remote cluster name \[second\] does not match expected remote cluster name \[first\]",
            ):
                await strategy.connector.open(
                    "127.0.0.1",
                    b.servers[0].port,
                    expected_cluster_name=strategy.remote_cluster_name,
                )
        finally:
            await remote.close()


async def test_proxy_opens_the_configured_sockets(network: MemoryNetwork, clock: FakeClock) -> None:
    async with cluster("remote", network, clock) as fc:
        remote = proxy(network, clock, fc.address(), sockets=4, server_name="remote.example")
        try:
            await remote.ensure_connected()
            info = remote.info()
            assert info == {
                "connected": True,
                "mode": "proxy",
                "proxy_address": fc.address(),
                "server_name": "remote.example",
                "num_proxy_sockets_connected": 4,
                "max_proxy_socket_connections": 4,
                "initial_connect_timeout": "30s",
                "skip_unavailable": True,
            }
            assert len(fc.servers[0].channels) == 4
        finally:
            await remote.close()


async def test_proxy_unreachable_logs_like_es(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    dead = network.unused_address()
    remote = proxy(network, clock, dead)
    try:
        with pytest.raises(NoSeedNodeLeftError) as err:
            await remote.ensure_connected()
        assert (
            err.value.reason
            == f"Unable to open any proxy connections to cluster [my] at address [{dead}]"
        )
        assert err.value.caused_by is not None
        assert err.value.caused_by.reason == f"[][{dead}] connect_exception"
        warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
        assert warning.name == "org.elasticsearch.transport.ProxyConnectionStrategy"
        assert warning.getMessage().splitlines()[:2] == [
            "failed to open any proxy connections to cluster [my]",
            f"org.elasticsearch.transport.ConnectTransportException: [][{dead}] connect_exception",
        ]
        strategy = remote.strategy
        assert isinstance(strategy, ProxyStrategy)
        assert strategy.rounds == 1
    finally:
        await remote.close()


async def test_concurrent_callers_share_one_round(network: MemoryNetwork, clock: FakeClock) -> None:
    async with cluster("remote", network, clock) as fc:
        remote = sniff(network, clock, [fc.address()])
        try:
            await asyncio.gather(*(remote.ensure_connected() for _ in range(20)))
            assert remote.strategy.rounds == 1
            assert fc.servers[0].accepted == 2  # one round: the seed's and the managed one
        finally:
            await remote.close()


async def test_remote_restart_is_logged_closed_by_remote_then_reconnects_on_use(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fc = FakeCluster("remote", network, clock)
    server = await fc.add_node("remote-node")
    port = server.port
    remote = sniff(network, clock, [fc.address()])
    try:
        await remote.ensure_connected()
        with caplog.at_level(logging.DEBUG):
            await fc.stop()
            await until(lambda: not remote.is_connected())
            await until(lambda: any("closed by remote" in r.getMessage() for r in caplog.records))
        line = next(r for r in caplog.records if "closed by remote" in r.getMessage())
        assert line.name == "org.elasticsearch.transport.ClusterConnectionManager"
        assert line.levelno == logging.INFO
        assert line.getMessage() == (
            f"transport connection to [{{remote-node}}{{remote-node-id}}{{127.0.0.1:{port}}}] "
            "closed by remote"
        )
        assert remote.info()["connected"] is False
        await fc.add_node("remote-node", port=port)
        await remote.ensure_connected()  # the next use reconnects
        assert remote.is_connected()
    finally:
        await remote.close()
        await fc.stop()


async def test_a_silent_peer_is_declared_dead_by_pings(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("remote", network, clock) as fc:
        remote = sniff(network, clock, [fc.address()], **{"transport.ping_schedule": "200ms"})
        try:
            await remote.ensure_connected()
            await clock.advance(0.5)
            assert remote.is_connected()  # echoed pings keep a healthy connection alive
            (accepted,) = fc.servers[0].channels
            assert accepted.info().pings_received == 2  # at 200 and 400 ms
            # Freeze the server side: it stops reading, so no ping is answered.
            fc.servers[0].freeze()
            elapsed = await clock.advance_until(
                lambda: remote.strategy.manager.stats().declared_dead == 1, limit=3
            )
            # Dead after more than 2 x 200 ms of silence, counted from the last echo (which
            # predates the freeze by up to one interval), noticed at the next 50 ms check.
            assert 0.2 < elapsed <= 0.45
            # The node itself still accepts connections: the disconnect triggers a reconnect.
            await until(lambda: fc.servers[0].accepted == 4)  # seed + managed, twice
            await until(remote.is_connected)
        finally:
            await remote.close()


@pytest.mark.parametrize("scheme", ["deflate", "lz4"])
async def test_transport_compress_true_compresses_requests(
    network: MemoryNetwork, clock: FakeClock, scheme: str
) -> None:
    async with cluster("remote", network, clock) as fc:
        flat = {
            "cluster.remote.my.seeds": [fc.address()],
            "cluster.remote.my.transport.compress": "true",
            "cluster.remote.my.transport.compression_scheme": scheme,
        }
        config = configs(flat)["my"]
        conn = connector(network, clock)
        conn.compression = (config.compress, config.compression_scheme)
        remote = RemoteClusterConnection(config, conn, initial_connect_timeout="30s")
        try:
            await remote.ensure_connected()
            (accepted,) = fc.servers[0].channels  # the managed one: the seed's is closed
            # the handshake is never compressed; requests are
            assert accepted.connection.info().compressed_received == 0
            answer = await remote.channel().request("cluster:monitor/state", {"nodes": True})
            assert answer["cluster_name"] == "remote"
            assert accepted.connection.info().compressed_received == 1
            assert remote.channel().connection.info().compressed_received == 1  # answers too
        finally:
            await remote.close()


async def test_tcp_options_reach_both_sockets(network: MemoryNetwork, clock: FakeClock) -> None:
    # The options each side sets on its socket; that the kernel takes them is
    # tests/unit/transport/test_sockets.py's business.
    import socket as pysocket

    from isthmus.settings.remote import transport_tuning

    tcp = transport_tuning({}).tcp
    fc = FakeCluster("remote", network, clock)
    await fc.add_node("remote-node", tcp=tcp)
    conn = connector(network, clock)
    conn.tcp = tcp
    remote = RemoteClusterConnection(
        configs({"cluster.remote.my.seeds": [fc.address()]})["my"],
        conn,
        initial_connect_timeout="30s",
    )
    try:
        await remote.ensure_connected()
        (accepted,) = fc.servers[0].channels
        for sock in (remote.channel().socket(), accepted.socket()):
            assert sock.getsockopt(pysocket.SOL_SOCKET, pysocket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_USER_TIMEOUT) == 3000
            assert sock.getsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_KEEPIDLE) == 1
            assert sock.getsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_KEEPCNT) == 3
    finally:
        await remote.close()
        await fc.stop()
