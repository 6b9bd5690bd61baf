"""MemoryNetwork keeps what the transport code relies on from TCP: order, EOF, refusals."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from isthmus.testing.fake_clock import until
from isthmus.testing.memory_network import MemoryNetwork


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.events: list[object] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.events.append(data)

    def eof_received(self) -> bool | None:
        self.events.append("eof")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("lost", exc))


def accepting(into: list[Recorder]) -> Callable[[], Recorder]:
    def accept() -> Recorder:
        into.append(Recorder())
        return into[-1]

    return accept


async def test_bytes_arrive_in_order_then_eof_then_the_end() -> None:
    network = MemoryNetwork()
    servers: list[Recorder] = []
    listener = network.listen("127.0.0.1", 0, accepting(servers))
    transport, client = await network.create_connection(Recorder, "127.0.0.1", listener.port)
    (server,) = servers
    assert isinstance(transport, asyncio.Transport)
    transport.write(b"one")
    transport.write(b"two")
    assert server.events == []  # never delivered inside write(), as with a socket
    transport.close()
    await until(lambda: len(client.events) == 1)
    await until(lambda: len(server.events) == 4)
    assert server.events == [b"one", b"two", "eof", ("lost", None)]
    assert client.events == [("lost", None)]
    assert server.transport is not None
    assert server.transport.get_extra_info("peername") == transport.get_extra_info("sockname")
    assert listener.accepted == 1


async def test_a_paused_reader_holds_what_arrives() -> None:
    network = MemoryNetwork()
    servers: list[Recorder] = []
    listener = network.listen("127.0.0.1", 0, accepting(servers))
    transport, _ = await network.create_connection(Recorder, "127.0.0.1", listener.port)
    (server,) = servers
    assert server.transport is not None
    server.transport.pause_reading()
    assert isinstance(transport, asyncio.Transport)
    transport.write(b"ping")
    for _ in range(10):
        await asyncio.sleep(0)
    assert server.events == []
    server.transport.resume_reading()
    assert server.events == [b"ping"]


async def test_refused_unknown_and_closed_listeners() -> None:
    network = MemoryNetwork()
    dead = network.unused_address()
    host, port = dead.rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError) as refused:
        await network.create_connection(Recorder, host, int(port))
    assert refused.value.strerror == f"Connect call failed ('{host}', {port})"
    with pytest.raises(socket.gaierror):
        await network.create_connection(Recorder, "no-such-host.invalid", 9300)
    listener = network.listen("node-a", 9300, Recorder)
    with pytest.raises(OSError, match="already in use"):
        network.listen("node-a", 9300, Recorder)
    await network.create_connection(Recorder, "node-a", 9300)
    listener.close()
    with pytest.raises(ConnectionRefusedError):
        await network.create_connection(Recorder, "node-a", 9300)


async def test_the_socket_keeps_its_options() -> None:
    network = MemoryNetwork()
    listener = network.listen("127.0.0.1", 0, Recorder)
    transport, _ = await network.create_connection(Recorder, "127.0.0.1", listener.port)
    sock = transport.get_extra_info("socket")
    assert sock.family == socket.AF_INET
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
