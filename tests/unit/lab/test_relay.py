"""The lab's relay on real loopback sockets: each mode seen from a client, switched at run time.

A small echo server stands behind the relay; the tests are the client. Timings are a few tenths
of a second (the relay's idle cut and hold are set that short)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from isthmus.lab.relay import Relay
from isthmus.lab.relay_config import Address, RelayConfig, RelayMode, parse_address


class Echo:
    """A TCP server that echoes and remembers the first bytes of each connection."""

    def __init__(self) -> None:
        self.first: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        try:
            while data := await reader.read(65536):
                if first:
                    self.first.append(data)
                    first = False
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass  # the test broke it on purpose
        finally:
            writer.close()

    @property
    def address(self) -> Address:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return host, port


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    server = Echo()
    server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    async with server.server:
        yield server


async def _roundtrip(address: Address, payload: bytes = b"ping", timeout: float = 2.0) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(payload)
        await writer.drain()
        async with asyncio.timeout(timeout):
            return await reader.readexactly(len(payload))
    finally:
        writer.close()


async def test_pass_forwards_both_ways(echo: Echo) -> None:
    async with Relay(RelayConfig(backend=echo.address)) as relay:
        assert await _roundtrip(relay.address, b"hello") == b"hello"
        stats = relay.stats()
        assert (stats.accepted, stats.bytes_up, stats.bytes_down) == (1, 5, 5)
        assert "mode=pass" in repr(relay)


async def test_backend_connections_come_from_the_source_address() -> None:
    peers: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    async with server:
        backend = server.sockets[0].getsockname()[:2]
        config = RelayConfig(backend=backend, source="127.0.0.7")
        async with Relay(config) as relay:
            reader, writer = await asyncio.open_connection(*relay.address)
            assert await reader.read() == b"ok"
            writer.close()
            await relay.configure(replace(config, source=None))
            reader, writer = await asyncio.open_connection(*relay.address)
            assert await reader.read() == b"ok"
            writer.close()
    assert peers == ["127.0.0.7", "127.0.0.1"]


async def test_drop_accepts_and_never_answers(echo: Echo) -> None:
    async with Relay(RelayConfig(RelayMode.DROP)) as relay:
        with pytest.raises(TimeoutError):
            await _roundtrip(relay.address, timeout=0.3)
        assert relay.stats().discarded == 4 and echo.first == []


async def test_blackhole_drops_syns_and_silences_open_connections(echo: Echo) -> None:
    config = RelayConfig(backend=echo.address)
    async with Relay(config) as relay:
        reader, writer = await asyncio.open_connection(*relay.address)
        writer.write(b"a")
        assert await reader.readexactly(1) == b"a"
        await relay.configure(config.with_mode(RelayMode.BLACKHOLE))
        with socket.socket() as sock:  # the TCP handshake itself gets no answer
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                await asyncio.to_thread(sock.connect, relay.address)
        writer.write(b"b")  # the open connection is silenced
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await reader.readexactly(1)
        await relay.configure(config)  # healed: new connections work again
        assert await _roundtrip(relay.address) == b"ping"
        writer.close()
        assert relay.stats().discarded >= 1


async def test_hold_delays_then_forwards(echo: Echo) -> None:
    async with Relay(RelayConfig(RelayMode.HOLD, backend=echo.address, hold=0.3)) as relay:
        start = time.monotonic()
        assert await _roundtrip(relay.address) == b"ping"
        assert time.monotonic() - start >= 0.3


async def test_reset_sends_rst(echo: Echo) -> None:
    async with Relay(RelayConfig(RelayMode.RESET)) as relay:
        reader, writer = await asyncio.open_connection(*relay.address)
        with pytest.raises(ConnectionResetError):
            async with asyncio.timeout(2):
                writer.write(b"x")
                await writer.drain()
                await reader.read(1)
                await reader.read(1)
        writer.close()
        assert relay.stats().resets == 1


async def test_idle_connections_are_cut_busy_ones_are_not(echo: Echo) -> None:
    async with Relay(RelayConfig(backend=echo.address, idle_cut=0.3)) as relay:
        idle_r, idle_w = await asyncio.open_connection(*relay.address)
        busy_r, busy_w = await asyncio.open_connection(*relay.address)
        for _ in range(6):  # 0.6 s of traffic every 0.1 s
            busy_w.write(b"k")
            assert await busy_r.readexactly(1) == b"k"
            await asyncio.sleep(0.1)
        async with asyncio.timeout(1):
            assert await idle_r.read(1) == b""  # cut: EOF
        busy_w.write(b"k")
        assert await busy_r.readexactly(1) == b"k"
        assert relay.stats().idle_cuts == 1
        for w in (idle_w, busy_w):
            w.close()


async def test_cut_breaks_open_connections(echo: Echo) -> None:
    async with Relay(RelayConfig(backend=echo.address)) as relay:
        reader, writer = await asyncio.open_connection(*relay.address)
        writer.write(b"a")
        await reader.readexactly(1)
        assert relay.cut(reset=True) == 1
        with pytest.raises(ConnectionResetError):
            async with asyncio.timeout(2):
                await reader.read(1)
        writer.close()


async def test_switching_modes_at_run_time(echo: Echo) -> None:
    config = RelayConfig(backend=echo.address)
    async with Relay(config) as relay:
        assert await _roundtrip(relay.address) == b"ping"
        await relay.configure(config.with_mode(RelayMode.RESET))
        with pytest.raises(ConnectionError):
            await _roundtrip(relay.address)
        await relay.configure(config)
        assert await _roundtrip(relay.address) == b"ping"


def _client_hello(server_hostname: str) -> bytes:
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


async def test_sni_routes_by_server_name(echo: Echo) -> None:
    other = Echo()
    other.server = await asyncio.start_server(other.handle, "127.0.0.1", 0)
    async with other.server:
        routes = {"a.lab": echo.address, "b.lab": other.address}
        async with Relay(RelayConfig(RelayMode.SNI, routes=routes)) as relay:
            hello = _client_hello("b.lab")
            # The whole ClientHello reaches the chosen backend (and is echoed back).
            assert await _roundtrip(relay.address, hello) == hello
            assert other.first and other.first[0].startswith(hello[:5]) and echo.first == []
            for unrouted in (_client_hello("c.lab"), _client_hello("127.0.0.1"), b"GET /\r\n"):
                reader, writer = await asyncio.open_connection(*relay.address)
                writer.write(unrouted)
                async with asyncio.timeout(2):
                    assert await reader.read() == b""  # closed: nowhere to route
                writer.close()
            assert relay.stats().unrouted == 3


async def _http(
    address: Address, request: bytes
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(request)
    async with asyncio.timeout(2):
        head = await reader.readuntil(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], reader, writer


async def test_http_connect_proxy(echo: Echo) -> None:
    async with Relay(RelayConfig(RelayMode.CONNECT)) as relay:
        target = f"127.0.0.1:{echo.address[1]}".encode()
        status, reader, writer = await _http(
            relay.address, b"CONNECT " + target + b" HTTP/1.1\r\nHost: " + target + b"\r\n\r\n"
        )
        assert status == b"HTTP/1.1 200 Connection established"
        writer.write(b"through")
        assert await reader.readexactly(7) == b"through"
        writer.close()
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            closed_port = free.getsockname()[1]
        for request, expected in (
            (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 405 Method Not Allowed"),
            (b"CONNECT 8.8.8.8:443 HTTP/1.1\r\n\r\n", b"HTTP/1.1 403 Forbidden"),
            (b"CONNECT nonsense HTTP/1.1\r\n\r\n", b"HTTP/1.1 403 Forbidden"),
            (_client_hello("remote.lab"), b"HTTP/1.1 400 Bad Request"),  # TLS to an HTTP proxy
            (
                f"CONNECT 127.0.0.1:{closed_port} HTTP/1.1\r\n\r\n".encode(),
                b"HTTP/1.1 502 Bad Gateway",
            ),
        ):
            status, _, writer = await _http(relay.address, request)
            assert status == expected
            writer.close()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mode": "teleport"}, "unknown relay mode [teleport]"),
        ({"mode": "pass"}, "needs a backend"),
        ({"mode": "sni"}, "needs at least one route"),
        ({"mode": "pass", "backend": "nohost"}, "is not a host:port address"),
        ({"mode": "drop", "idle_cut": 0}, "idle_cut > 0"),
        ({"mode": "drop", "color": "red"}, "unknown relay config fields ['color']"),
    ],
)
def test_bad_configs_are_refused_with_the_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        RelayConfig.from_json(data)


def test_config_round_trips_through_json() -> None:
    config = RelayConfig(
        RelayMode.SNI,
        routes={"a": ("127.0.0.1", 1), "b": ("::1", 2)},
        idle_cut=3,
        source="127.0.0.9",
    )
    assert RelayConfig.from_json(config.to_json()) == config
    assert parse_address("[::1]:9443") == ("::1", 9443)
