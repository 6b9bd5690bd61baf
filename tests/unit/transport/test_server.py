"""The server: port ranges, the transport handshake, garbage peers, refusals, the registry."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvloop

from isthmus.errors import (
    ConnectTransportError,
    HandshakeError,
    IllegalArgumentError,
    IllegalStateError,
    IsthmusError,
)
from isthmus.transport.actions import ActionRegistry
from isthmus.transport.channel import TransportChannel
from isthmus.transport.channel_info import ChannelState
from isthmus.transport.client import connect
from isthmus.transport.server import TransportServer
from tests.unit.transport.conftest import echo, eventually, local_node, serving


async def test_handshake_exchanges_identities(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        channel = await connect(
            "127.0.0.1", server.port, identity=local_node("client"), expected_cluster_name="alpha"
        )
        assert channel.remote_node is not None
        assert channel.remote_node.name == "server"
        assert channel.remote_node.roles == ("data",)
        assert (channel.remote_cluster_name, channel.remote_cluster_uuid) == (
            "alpha",
            "alpha-uuid",
        )
        # and the server recorded the client's identity for its handlers
        assert await channel.request("test:whoami") == {
            "node": "client",
            "cluster": "alpha",
            "peer_certificate": None,
        }
        info = server.info()
        assert info.handshakes == 1
        assert info.bound_address == f"127.0.0.1:{server.port}"
        assert info.publish_address == info.bound_address
        channel.close()


async def test_wrong_cluster_name_fails_the_handshake(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        with pytest.raises(HandshakeError, match=r"remote cluster name \[alpha\] does not match"):
            await connect(
                "127.0.0.1", server.port, identity=local_node("c"), expected_cluster_name="beta"
            )


async def test_requests_before_the_handshake_are_refused(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        loop = asyncio.get_running_loop()
        _, channel = await loop.create_connection(TransportChannel, "127.0.0.1", server.port)
        # The server raises a HandshakeError; ES's illegal_state_exception comes back as the
        # class wire/error_types.py names for it, whatever this process imported.
        with pytest.raises(
            IsthmusError, match=r"\[test:echo\].*before the transport handshake"
        ) as info:
            await channel.request("test:echo", 1)
        assert info.value.es_type == "illegal_state_exception"
        assert type(info.value) is IllegalStateError
        channel.close()


async def test_garbage_closes_that_connection_only(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        good = await connect("127.0.0.1", server.port, identity=local_node("client"))
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(3):
            # ES's answer to HTTP on a transport port, then it hangs up
            assert await reader.read() == b"This is not an HTTP port"
        writer.close()
        await eventually(lambda: server.info().broken == 1)
        assert await good.request("test:echo", "still") == {"payload": "still", "headers": {}}
        again = await connect("127.0.0.1", server.port, identity=local_node("other"))
        assert again.state is ChannelState.OPEN
        good.close()
        again.close()


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(
        ConnectTransportError, match=rf"^\[\]\[127.0.0.1:{port}\] connect_exception"
    ):
        await connect("127.0.0.1", port, identity=local_node("client"), timeout=2)


async def test_binds_the_next_free_port_of_the_range(registry: ActionRegistry) -> None:
    async with serving(registry) as first:
        second = TransportServer(
            "127.0.0.1", (first.port, first.port + 50), registry, identity=local_node("two")
        )
        async with second:
            assert second.port > first.port
            assert "listening" in repr(second)
        assert "stopped" in repr(second)


async def test_registry_rejects_duplicates() -> None:
    registry = ActionRegistry()
    registry.register("a", echo)
    with pytest.raises(IllegalArgumentError, match=r"\[a\] is already registered"):
        registry.register("a", echo)
    assert "a" in registry
    assert registry.actions() == ("a",)
    assert repr(registry) == "<ActionRegistry actions=1>"


def test_round_trip_and_garbage_on_uvloop(registry: ActionRegistry) -> None:
    """The production loop: uvloop transports are not asyncio.Transport subclasses."""

    async def main() -> None:
        async with serving(registry) as server:
            channel = await connect("127.0.0.1", server.port, identity=local_node("c"), timeout=5)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x16\x03\x01garbage")
            async with asyncio.timeout(3):
                assert await reader.read() == b""
            writer.close()
            assert await channel.request("test:echo", 7) == {"payload": 7, "headers": {}}
            channel.close()

    uvloop.run(main())


async def test_requests_from_other_clusters_are_child_tasks(registry: ActionRegistry) -> None:
    # (Moved here from test_channel.py: child tasks are the server's, not the channel's.)
    from typing import Any

    from isthmus.tasks import PARENT_TASK_HEADER, TaskManager
    from isthmus.transport.actions import TransportRequestContext

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
