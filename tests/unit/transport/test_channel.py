"""Request/response between two channels: multiplexing, errors, timeouts, endings.

Both ends are real :class:`TransportChannel` objects joined by an in-memory network, and every
sleep and deadline runs on a fake clock: no port, no wall-clock wait. (The same code over real
sockets is exercised by ``test_server.py``, ``test_tls.py`` and the integration tests.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from isthmus.clock import Clock
from isthmus.errors import (
    ActionNotFoundTransportError,
    IndexNotFoundError,
    IsthmusError,
    NodeDisconnectedError,
    NodeNotConnectedError,
    ReceiveTimeoutTransportError,
)
from isthmus.testing.fake_clock import FakeClock, until
from isthmus.testing.memory_network import MemoryNetwork
from isthmus.testing.memory_node import MemoryNode
from isthmus.transport.channel import RequestHandler, TransportChannel
from isthmus.transport.channel_info import ChannelState
from isthmus.transport.client import connect
from isthmus.wire import Request
from tests.unit.transport.conftest import local_node


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def network() -> MemoryNetwork:
    return MemoryNetwork()


def handlers(clock: Clock) -> dict[str, RequestHandler]:
    async def echo(channel: TransportChannel, request: Request) -> Any:
        return {"payload": request.payload, "headers": dict(request.headers)}

    async def sleepy(channel: TransportChannel, request: Request) -> Any:
        await clock.sleep(request.payload)
        return request.payload

    async def missing_index(channel: TransportChannel, request: Request) -> Any:
        raise IndexNotFoundError(request.payload)

    async def buggy(channel: TransportChannel, request: Request) -> Any:
        raise KeyError("oops")

    return {
        "test:echo": echo,
        "test:sleep": sleepy,
        "indices:data/read/get": missing_index,
        "test:buggy": buggy,
    }


@contextlib.asynccontextmanager
async def serving(
    network: MemoryNetwork, clock: FakeClock, **extra: RequestHandler
) -> AsyncIterator[MemoryNode]:
    node = MemoryNode(network, local_node("server"), {**handlers(clock), **extra}, clock=clock)
    async with node:
        yield node


async def client_of(node: MemoryNode, network: MemoryNetwork, clock: FakeClock) -> TransportChannel:
    return await connect(
        node.host, node.port, identity=local_node("client"), network=network, clock=clock
    )


async def test_round_trip_carries_payload_and_headers(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with serving(network, clock) as server:
        channel = await client_of(server, network, clock)
        answer = await channel.request("test:echo", {"a": [1, 2]}, {"x-opaque-id": "abc"})
        assert answer == {"payload": {"a": [1, 2]}, "headers": {"x-opaque-id": "abc"}}
        assert channel.state is ChannelState.OPEN
        assert channel.info().requests_sent == 2  # the handshake and the echo
        assert "open" in repr(channel)
        channel.close()


async def test_concurrent_requests_are_multiplexed(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with serving(network, clock) as server:
        channel = await client_of(server, network, clock)
        delays = [0.05 - i * 0.002 for i in range(20)]  # later requests answer first
        answered: list[float] = []

        async def ask(delay: float) -> Any:
            answer = await channel.request("test:sleep", delay)
            answered.append(answer)
            return answer

        results = asyncio.gather(*(ask(d) for d in delays))
        await clock.advance(0.05)
        assert await results == delays
        assert answered == sorted(delays)  # each answer reached its own caller, out of order
        assert channel.info().outbound_pending == 0
        channel.close()


async def test_handler_error_crosses_the_wire_with_its_type(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with serving(network, clock) as server:
        channel = await client_of(server, network, clock)
        with pytest.raises(IndexNotFoundError) as info:
            await channel.request("indices:data/read/get", "logs")
        assert info.value.es_type == "index_not_found_exception"
        assert info.value.reason == "no such index [logs]"
        assert info.value.http_status == 404
        assert info.value.extra["index"] == "logs"
        channel.close()


async def test_handler_bug_is_logged_once_and_answered_generically(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(network, clock) as server:
        channel = await client_of(server, network, clock)
        with (
            caplog.at_level(logging.ERROR, logger="isthmus.transport"),
            pytest.raises(IsthmusError) as info,
        ):
            await channel.request("test:buggy")
        assert info.value.es_type == "exception"
        assert "KeyError" in info.value.reason
        assert len([r for r in caplog.records if "test:buggy" in r.getMessage()]) == 1
        assert await channel.request("test:echo", 1) == {"payload": 1, "headers": {}}
        channel.close()


async def test_unknown_action(network: MemoryNetwork, clock: FakeClock) -> None:
    async with serving(network, clock) as server:
        channel = await client_of(server, network, clock)
        with pytest.raises(ActionNotFoundTransportError, match=r"No handler for action \[nope\]"):
            await channel.request("nope")
        channel.close()


async def test_per_request_timeout_keeps_the_channel(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with serving(network, clock) as server:
        channel = await client_of(server, network, clock)
        request = asyncio.ensure_future(channel.request("test:sleep", 0.5, timeout=0.02))
        await clock.advance(0.019)
        assert not request.done()  # the deadline is the request's timeout, not earlier
        await clock.advance(0.001)
        assert request.done()  # at the deadline, on the channel's clock
        with pytest.raises(ReceiveTimeoutTransportError, match=r"\[test:sleep\].*timed out"):
            await request
        assert channel.info().outbound_pending == 0
        assert channel.state is ChannelState.OPEN
        assert await channel.request("test:sleep", 0) == 0
        channel.close()


async def test_cancelled_request_leaves_no_pending_entry(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with serving(network, clock) as server:
        channel = await client_of(server, network, clock)
        task = asyncio.create_task(channel.request("test:sleep", 0.5))
        await until(lambda: channel.info().outbound_pending == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert channel.info().outbound_pending == 0
        channel.close()


async def test_local_close_fails_pending_and_later_requests(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with serving(network, clock) as server:
        channel = await client_of(server, network, clock)
        task = asyncio.create_task(channel.request("test:sleep", 0.5))
        await until(lambda: channel.info().outbound_pending == 1)
        channel.close()
        with pytest.raises(NodeDisconnectedError, match=r"\[server\]\[127.0.0.1:\d+\]"):
            await task
        assert channel.state is ChannelState.CLOSED
        assert channel.broken_reason is None
        with pytest.raises(NodeNotConnectedError):
            await channel.request("test:echo")
        await channel.wait_closed()
        await until(lambda: not server.channels)


async def test_server_close_breaks_the_client_channel(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with serving(network, clock) as server:
        channel = await client_of(server, network, clock)
        task = asyncio.create_task(channel.request("test:sleep", 5))
        await until(lambda: channel.info().outbound_pending == 1)
    with pytest.raises(NodeDisconnectedError, match="closed by peer"):
        await task
    await channel.wait_closed()
    assert channel.state is ChannelState.BROKEN
    assert channel.broken_reason == "closed by peer"


async def test_ping_is_counted_by_the_peer(network: MemoryNetwork, clock: FakeClock) -> None:
    async with serving(network, clock) as server:
        channel = await client_of(server, network, clock)
        await channel.ping()
        await until(lambda: [c.info().pings_received for c in server.channels] == [1])
        channel.close()


async def test_abandoned_request_cancels_the_work_at_the_peer(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(channel: TransportChannel, request: Request) -> Any:
        started.set()
        try:
            await clock.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return None

    async with serving(network, clock, **{"test:slow": slow}) as server:
        client = await client_of(server, network, clock)
        try:
            task = asyncio.create_task(client.request("test:slow", None, timeout=None))
            await until(started.is_set)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await until(cancelled.is_set)
            (accepted,) = server.channels
            assert accepted.cancelled_inbound == 1
            # the channel stays usable
            assert (await client.request("test:echo", 1))["payload"] == 1
        finally:
            client.close()
