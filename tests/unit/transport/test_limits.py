"""The transport listeners' limits on real loopback sockets: the in-flight breaker, the
handshake-size cap, the TLS and transport handshake deadlines, the cap on connections still
before their handshake, and the throttled WARN lines."""

from __future__ import annotations

import asyncio
import logging

import pytest

from isthmus.errors import CircuitBreakingError, SettingsError
from isthmus.logs import LogThrottle
from isthmus.settings.catalog import find
from isthmus.settings.registry import Scope
from isthmus.transport.actions import ActionRegistry
from isthmus.transport.client import connect
from isthmus.transport.limits import InFlightBreaker, TransportLimits
from isthmus.wire import NEED_DATA, Connection, ErrorResponse, Response
from isthmus.wire.names import HANDSHAKE_ACTION

from .conftest import eventually, local_node, serving


def test_breaker_reserves_with_overhead_and_refuses_with_es_text() -> None:
    breaker = InFlightBreaker(limit=100, overhead=2.0)
    cost = breaker.reserve(40)
    assert cost == 80 and breaker.used == 80
    with pytest.raises(CircuitBreakingError) as refused:
        breaker.reserve(11)
    assert refused.value.reason == (
        "[in_flight_requests] Data too large, data for [<transport_request>] would be "
        "[102/102b], which is larger than the limit of [100/100b]"
    )
    assert refused.value.http_status == 429
    assert refused.value.to_body()["error"]["bytes_wanted"] == 102
    assert refused.value.to_body()["error"]["durability"] == "TRANSIENT"
    assert breaker.used == 80 and breaker.tripped == 1  # a refusal reserves nothing
    breaker.release(cost)
    assert breaker.used == 0


def test_settings_parse_once_and_refuse_bad_values() -> None:
    limits = TransportLimits.from_settings(
        {
            "network.breaker.inflight_requests.limit": "64mb",
            "network.breaker.inflight_requests.overhead": "1.5",
            "transport.handshake_timeout": "-1",
        }
    )
    assert limits.inflight_limit == 64 * 1024**2
    assert limits.inflight_overhead == 1.5
    assert limits.handshake_timeout is None
    assert TransportLimits.from_settings({}).handshake_timeout == 10.0
    setting = find("network.breaker.inflight_requests.limit", (Scope.NODE,))
    assert setting is not None
    with pytest.raises(SettingsError, match=r"percentage should be in \[0-100\]"):
        setting.coerce("network.breaker.inflight_requests.limit", "120%")
    assert (
        TransportLimits.from_settings(
            {"network.breaker.inflight_requests.limit": "50%"}
        ).inflight_limit
        > 0
    )


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _closed(reader: asyncio.StreamReader, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


def _hello(conn: Connection) -> bytes:
    hello = local_node("peer").handshake_request()
    return conn.send(conn.new_request(HANDSHAKE_ACTION, hello.to_payload()))


async def _event(reader: asyncio.StreamReader, conn: Connection) -> object:
    while (event := conn.next_event()) is NEED_DATA:
        data = await asyncio.wait_for(reader.read(65536), 5)
        assert data, "closed"
        conn.receive_data(data)
    return event


async def test_silent_and_trickling_peers_are_closed_at_the_handshake_deadline(
    registry: ActionRegistry,
) -> None:
    limits = TransportLimits(handshake_timeout=0.3)
    async with serving(registry, limits=limits) as server:
        silent, _ = await _open(server.port)
        trickle_reader, trickle = await _open(server.port)
        for byte in b"ES\x00\x00":
            trickle.write(bytes([byte]))
            await asyncio.sleep(0.05)
        assert await _closed(silent, 2.0)
        assert await _closed(trickle_reader, 2.0)
        # A peer that handshakes in time keeps its connection past the deadline.
        channel = await connect("127.0.0.1", server.port, identity=local_node("client"))
        await asyncio.sleep(0.5)
        assert await channel.request("test:echo", 1) == {"payload": 1, "headers": {}}
        channel.close()
        assert server.info().broken >= 2


async def test_no_big_frame_before_the_handshake(registry: ActionRegistry) -> None:
    async with serving(registry) as server:
        reader, writer = await _open(server.port)
        writer.write(b"ES" + (1024 * 1024).to_bytes(4, "big") + b"\0" * 17)
        assert await _closed(reader, 2.0)  # at once, not after the deadline


async def test_breaker_answers_429_and_skips_the_frame(registry: ActionRegistry) -> None:
    breaker = InFlightBreaker(limit=1024 * 1024, overhead=1.0)
    async with serving(registry, breaker=breaker) as server:
        reader, writer = await _open(server.port)
        conn = Connection()
        writer.write(_hello(conn))
        assert isinstance(await _event(reader, conn), Response)
        big = conn.send(conn.new_request("test:echo", b"x" * (2 * 1024 * 1024)))
        writer.write(big[: 64 * 1024])  # the header arrives: the whole size is asked for
        answer = await _event(reader, conn)
        assert isinstance(answer, ErrorResponse)
        assert answer.error.type == "circuit_breaking_exception"
        assert breaker.used == 0
        writer.write(big[64 * 1024 :])  # skipped, never buffered
        small = conn.send(conn.new_request("test:echo", "after"))
        writer.write(small)
        answer = await _event(reader, conn)
        assert isinstance(answer, Response)
        assert answer.payload == {"payload": "after", "headers": {}}
        # A request that fits is reserved while it arrives and released when complete.
        fits = conn.send(conn.new_request("test:echo", b"y" * (512 * 1024)))
        writer.write(fits[:1000])
        await eventually(lambda: breaker.used > 512 * 1024)
        writer.write(fits[1000:])
        assert isinstance(await _event(reader, conn), Response)
        assert breaker.used == 0
        writer.close()


async def test_connections_past_the_cap_are_closed_and_said_so(
    registry: ActionRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(registry, limits=TransportLimits(max_unauthenticated=2)) as server:
        first = [await _open(server.port) for _ in range(2)]
        await eventually(lambda: server.info().unauthenticated == 2)
        with caplog.at_level(logging.WARNING, "isthmus.transport"):
            reader, _ = await _open(server.port)
            assert await _closed(reader, 2.0)
            reader, _ = await _open(server.port)
            assert await _closed(reader, 2.0)
        refused = [
            r
            for r in caplog.records
            if "have not completed their transport handshake" in r.getMessage()
        ]
        assert len(refused) == 1  # the second refusal is counted, not written
        assert server.info().refused == 2
        for _, writer in first:
            writer.close()


async def test_protocol_errors_are_warned_once_per_peer(
    registry: ActionRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = LogThrottle(interval=60)
    async with serving(registry, log_throttle=throttle) as server:
        with caplog.at_level(logging.WARNING, "org.elasticsearch.transport.TcpTransport"):
            for _ in range(20):
                reader, writer = await _open(server.port)
                writer.write(b"GARBAGE!")
                assert await _closed(reader, 2.0)
        broken = [
            r.getMessage()
            for r in caplog.records
            if "invalid internal transport message format" in r.getMessage()
        ]
        # ES's StreamCorruptedException line: what came, on which channel.
        assert len(broken) == 1
        assert broken[0].startswith(
            "invalid internal transport message format, got (47,41,52,42), [Netty4TcpChannel{"
        )
        assert broken[0].endswith("profile=default}], closing connection")
        assert throttle.suppressed_total >= 19


async def test_a_full_breaker_does_not_keep_peers_from_handshaking(
    registry: ActionRegistry,
) -> None:
    breaker = InFlightBreaker(limit=1, overhead=1.0)  # full for any request
    async with serving(registry, breaker=breaker) as server:
        reader, writer = await _open(server.port)
        conn = Connection()
        hello = _hello(conn)
        writer.write(hello[:40])  # the handshake arrives in pieces: partial, yet never refused
        await asyncio.sleep(0.1)
        writer.write(hello[40:])
        assert isinstance(await _event(reader, conn), Response)
        request = conn.send(conn.new_request("test:echo", "x" * 1000))
        writer.write(request[:100])
        refused = await _event(reader, conn)
        assert isinstance(refused, ErrorResponse) and refused.error.status == 429
        writer.close()
