"""ClusterConnectionManager on its own: bookkeeping, round robin, liveness, endings.

Channels are real, opened to in-memory nodes; pings and the silence deadline run on the fake
clock, so every instant asserted here is exact.
"""

from __future__ import annotations

import logging

import pytest

from isthmus.remote.connection_manager import ClusterConnectionManager, ManagedConnection
from isthmus.testing.fake_clock import FakeClock, until
from isthmus.testing.memory_network import MemoryNetwork
from isthmus.testing.memory_node import MemoryNode
from isthmus.transport.channel import TransportChannel
from isthmus.transport.channel_info import ChannelState
from isthmus.transport.client import connect
from tests.unit.remote.conftest import identity


class Manager:
    """A manager under test and the disconnects it reported."""

    def __init__(self, clock: FakeClock, ping_interval: float | None) -> None:
        self.disconnects: list[ManagedConnection] = []
        self.manager = ClusterConnectionManager(
            "my", ping_interval=ping_interval, on_disconnect=self.disconnects.append, clock=clock
        )


async def open_to(node: MemoryNode, network: MemoryNetwork, clock: FakeClock) -> TransportChannel:
    return await connect(
        node.host,
        node.port,
        identity=identity("local-node", "local"),
        network=network,
        clock=clock,
    )


async def node_of(network: MemoryNetwork, clock: FakeClock, name: str) -> MemoryNode:
    node = MemoryNode(network, identity(name, "remote"), clock=clock)
    await node.start()
    return node


def adopt(manager: ClusterConnectionManager, channel: TransportChannel) -> bool:
    assert channel.remote_node is not None
    node = channel.remote_node
    return manager.add(node.id, node, channel, node.describe())


async def test_a_redundant_connection_is_closed(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    node = await node_of(network, clock, "a")
    m = Manager(clock, ping_interval=None)
    try:
        first, second = await open_to(node, network, clock), await open_to(node, network, clock)
        assert adopt(m.manager, first)
        assert not adopt(m.manager, second)
        assert second.state is ChannelState.CLOSED
        assert first.state is ChannelState.OPEN
        assert (m.manager.size(), m.manager.node_count()) == (1, 1)
        assert "closing new redundant connection" in caplog.text
        assert m.disconnects == []  # the redundant one was never the manager's
    finally:
        await m.manager.close()
        await node.close()


async def test_round_robin_skips_ended_channels(network: MemoryNetwork, clock: FakeClock) -> None:
    a, b = await node_of(network, clock, "a"), await node_of(network, clock, "b")
    m = Manager(clock, ping_interval=None)
    try:
        to_a, to_b = await open_to(a, network, clock), await open_to(b, network, clock)
        adopt(m.manager, to_a)
        adopt(m.manager, to_b)

        def picked() -> set[TransportChannel]:
            return {conn.channel for _ in range(4) if (conn := m.manager.any_connection())}

        assert picked() == {to_a, to_b}
        to_a.close()
        assert picked() == {to_b}
        to_b.close()
        assert m.manager.any_connection() is None
    finally:
        await m.manager.close()
        await a.close()
        await b.close()


async def test_pings_every_interval_keep_a_healthy_peer(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    node = await node_of(network, clock, "a")
    m = Manager(clock, ping_interval=1.0)
    try:
        adopt(m.manager, await open_to(node, network, clock))
        (accepted,) = node.channels
        await clock.advance(0.999)
        assert accepted.info().pings_received == 0
        await clock.advance(0.001)
        assert accepted.info().pings_received == 1
        await clock.advance(9.0)
        assert accepted.info().pings_received == 10
        assert m.manager.stats().declared_dead == 0
        assert m.manager.size() == 1
    finally:
        await m.manager.close()
        await node.close()


async def test_a_silent_peer_is_declared_dead_after_twice_the_interval(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    node = await node_of(network, clock, "a")
    m = Manager(clock, ping_interval=1.0)
    try:
        channel = await open_to(node, network, clock)
        adopt(m.manager, channel)
        await clock.advance(1.0)  # the first ping is echoed: the peer was last heard now
        node.freeze()
        elapsed = await clock.advance_until(lambda: m.manager.stats().declared_dead == 1, limit=10)
        # Silence is checked every interval / 4; dead once it is longer than 2 x interval.
        assert elapsed == pytest.approx(2.25)
        assert channel.state is ChannelState.BROKEN
        assert channel.broken_reason == "no data from the peer for [2.2s]"
        line = next(
            r for r in caplog.records if r.name == "org.elasticsearch.transport.TransportKeepAlive"
        )
        assert line.levelno == logging.WARNING
        assert line.getMessage() == (
            f"remote cluster [my]: no data from [{channel.remote_address}] for [2.2s] "
            "(pings every [1s]); closing the connection as dead"
        )
        await until(lambda: len(m.disconnects) == 1)
        assert m.manager.size() == 0
    finally:
        await m.manager.close()
        await node.close()


async def test_a_close_by_the_remote_is_counted_and_reported(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    node = await node_of(network, clock, "a")
    m = Manager(clock, ping_interval=None)
    try:
        adopt(m.manager, await open_to(node, network, clock))
        assert clock.next_deadline is None  # without pings nothing waits on time
        with caplog.at_level(logging.INFO):
            await node.close()
            await until(lambda: len(m.disconnects) == 1)
        assert m.manager.stats().closed_by_remote == 1
        assert m.manager.size() == 0
        assert "transport connection to [{a}{a-id}" in caplog.text
    finally:
        await m.manager.close()


async def test_close_ends_every_connection_without_reporting_them(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    node = await node_of(network, clock, "a")
    m = Manager(clock, ping_interval=1.0)
    try:
        channel = await open_to(node, network, clock)
        adopt(m.manager, channel)
        await m.manager.close()
        await m.manager.close()  # idempotent
        assert channel.state is ChannelState.CLOSED
        assert m.disconnects == []
        assert "closed" in repr(m.manager)
        late = await open_to(node, network, clock)
        assert not adopt(m.manager, late)
        assert late.state is ChannelState.CLOSED
    finally:
        await node.close()
