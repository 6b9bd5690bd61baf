"""Request/response over real loopback sockets: multiplexing, errors, timeouts, endings."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from isthmus.errors import IndexNotFoundError, IsthmusError
from isthmus.transport import (
    ActionNotFoundTransportError,
    ActionRegistry,
    ChannelState,
    NodeDisconnectedError,
    NodeNotConnectedError,
    ReceiveTimeoutTransportError,
    connect,
)
from isthmus.transport.actions import TransportRequestContext
from tests.unit.transport.conftest import eventually, local_node, serving


async def test_round_trip_carries_payload_and_headers(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        channel = await connect("127.0.0.1", server.port, identity=local_node("client"))
        answer = await channel.request("test:echo", {"a": [1, 2]}, {"x-opaque-id": "abc"})
        assert answer == {"payload": {"a": [1, 2]}, "headers": {"x-opaque-id": "abc"}}
        assert channel.state is ChannelState.OPEN
        assert channel.info().requests_sent == 2  # the handshake and the echo
        assert "open" in repr(channel)
        channel.close()


async def test_concurrent_requests_are_multiplexed(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        channel = await connect("127.0.0.1", server.port, identity=local_node("client"))
        delays = [0.05 - i * 0.002 for i in range(20)]  # later requests answer first
        results = await asyncio.gather(*(channel.request("test:sleep", d) for d in delays))
        assert results == delays
        assert channel.info().outbound_pending == 0
        channel.close()


async def test_handler_error_crosses_the_wire_with_its_type(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        channel = await connect("127.0.0.1", server.port, identity=local_node("client"))
        with pytest.raises(IndexNotFoundError) as info:
            await channel.request("indices:data/read/get", "logs")
        assert info.value.es_type == "index_not_found_exception"
        assert info.value.reason == "no such index [logs]"
        assert info.value.http_status == 404
        assert info.value.extra["index"] == "logs"
        channel.close()


async def test_handler_bug_is_logged_once_and_answered_generically(
    registry: ActionRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(registry) as server:
        channel = await connect("127.0.0.1", server.port, identity=local_node("client"))
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


async def test_unknown_action(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        channel = await connect("127.0.0.1", server.port, identity=local_node("client"))
        with pytest.raises(ActionNotFoundTransportError, match=r"No handler for action \[nope\]"):
            await channel.request("nope")
        channel.close()


async def test_per_request_timeout_keeps_the_channel(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        channel = await connect("127.0.0.1", server.port, identity=local_node("client"))
        with pytest.raises(ReceiveTimeoutTransportError, match=r"\[test:sleep\].*timed out"):
            await channel.request("test:sleep", 0.5, timeout=0.02)
        assert channel.info().outbound_pending == 0
        assert channel.state is ChannelState.OPEN
        assert await channel.request("test:sleep", 0) == 0
        channel.close()


async def test_cancelled_request_leaves_no_pending_entry(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        channel = await connect("127.0.0.1", server.port, identity=local_node("client"))
        task = asyncio.create_task(channel.request("test:sleep", 0.5))
        await eventually(lambda: channel.info().outbound_pending == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert channel.info().outbound_pending == 0
        channel.close()


async def test_local_close_fails_pending_and_later_requests(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        channel = await connect("127.0.0.1", server.port, identity=local_node("client"))
        task = asyncio.create_task(channel.request("test:sleep", 0.5))
        await eventually(lambda: channel.info().outbound_pending == 1)
        channel.close()
        with pytest.raises(NodeDisconnectedError, match=r"\[server\]\[127.0.0.1:\d+\]"):
            await task
        assert channel.state is ChannelState.CLOSED
        assert channel.broken_reason is None
        with pytest.raises(NodeNotConnectedError):
            await channel.request("test:echo")
        await channel.wait_closed()
        await eventually(lambda: server.info().open_channels == 0)


async def test_server_close_breaks_the_client_channel(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        channel = await connect("127.0.0.1", server.port, identity=local_node("client"))
        task = asyncio.create_task(channel.request("test:sleep", 5))
        await eventually(lambda: channel.info().outbound_pending == 1)
    with pytest.raises(NodeDisconnectedError, match="closed by peer"):
        await task
    await channel.wait_closed()
    assert channel.state is ChannelState.BROKEN
    assert channel.broken_reason == "closed by peer"


async def test_ping_is_counted_by_the_peer(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        channel = await connect("127.0.0.1", server.port, identity=local_node("client"))
        await channel.ping()
        await eventually(lambda: [c.pings_received for c in server.channels()] == [1])
        channel.close()


async def test_abandoned_request_cancels_the_work_at_the_peer(registry: ActionRegistry) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(payload: Any, ctx: TransportRequestContext[Any]) -> Any:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return None

    registry.register("test:slow", slow)
    async with serving(registry) as server:
        client = await connect("127.0.0.1", server.port, identity=local_node("client"), timeout=5)
        try:
            task = asyncio.create_task(client.request("test:slow", None, timeout=None))
            await asyncio.wait_for(started.wait(), 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(cancelled.wait(), 5)
            (accepted,) = server._channels
            assert accepted.cancelled_inbound == 1
            # the channel stays usable
            assert (await client.request("test:echo", 1))["payload"] == 1
        finally:
            client.close()


async def test_requests_from_other_clusters_are_child_tasks(registry: ActionRegistry) -> None:
    from isthmus.tasks import PARENT_TASK_HEADER, TaskManager

    started = asyncio.Event()

    async def slow(payload: Any, ctx: TransportRequestContext[Any]) -> Any:
        started.set()
        await asyncio.sleep(30)

    registry.register("test:slow", slow)
    async with serving(registry) as server:
        server.tasks = TaskManager("remote-node-id")
        client = await connect("127.0.0.1", server.port, identity=local_node("client"), timeout=5)
        try:
            task = asyncio.create_task(
                client.request(
                    "test:slow", None, {PARENT_TASK_HEADER: "local-node-id:7"}, timeout=None
                )
            )
            await asyncio.wait_for(started.wait(), 5)
            (child,) = server.tasks.list("test:*")
            assert child.parent == "local-node-id:7"
            assert child.to_json(True)["parent_task_id"] == "local-node-id:7"
            server.tasks.cancel(child.task_id)  # cancelling the child answers the parent
            with pytest.raises(IsthmusError) as err:
                await task
            assert err.value.es_type == "task_cancelled_exception"
            assert server.tasks.list() == []
        finally:
            client.close()
