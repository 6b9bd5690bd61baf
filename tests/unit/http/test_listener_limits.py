"""The HTTP listener's head limits and the redaction of secret URL parameter values."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trustme

from isthmus.http.redaction import REDACTED, is_secret, redact_bytes, redact_uri
from isthmus.http.server import HeadLimits, HttpConfig, HttpLimits, HttpServer

LINE = ("too_long_http_line_exception", "An HTTP line is larger than 4096 bytes.")
HEADER = ("too_long_http_header_exception", "HTTP header is larger than 8192 bytes.")


def _feed(data: bytes, step: int) -> tuple[str, str] | None:
    limits = HeadLimits(4096, 8192)
    for i in range(0, len(data), step):
        refused = limits.feed(data[i : i + step])
        if refused is not None:
            return refused
    return None


@pytest.mark.parametrize("step", [1, 7, 1000, 100_000])
def test_head_within_limits_passes_whole_or_in_pieces(step: int) -> None:
    line = b"GET /" + b"a" * 4000 + b" HTTP/1.1\r\n"
    head = line[:4096] + b"\r\n" if len(line) > 4098 else line
    head += b"X-A: " + b"b" * 8000 + b"\r\n\r\n" + b"body" * 10_000
    assert _feed(head, step) is None


@pytest.mark.parametrize("step", [1, 13, 100_000])
def test_long_line_and_long_headers_are_refused_with_netty_words(step: int) -> None:
    assert _feed(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", step) == LINE
    assert _feed(b"GET /" + b"a" * 5000, step) == LINE  # before the line ends
    big = b"GET / HTTP/1.1\r\n" + b"X-A: " + b"b" * 9000
    assert _feed(big, step) == HEADER
    many = b"GET / HTTP/1.1\r\n" + b"X-A: bbbbbbbbbb\r\n" * 600 + b"\r\n"
    assert _feed(many, step) == HEADER


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("password", "x", True),
        ("api_key", "abc", True),
        ("Authorization", "anything", True),
        ("q", "Basic dXNlcjpwYXNz", True),
        ("x", "VnVpUlBvSUJ0Yk5UUk5UZ2JpRXQ6dW", True),  # an encoded API key's shape
        ("pretty", "true", False),
        ("index", "logs-2024.01.01", False),
        ("scroll", "1m", False),
        ("keep_alive", "5m", False),
    ],
)
def test_secret_values(name: str, value: str, secret: bool) -> None:
    assert is_secret(name, value) is secret


def test_uris_and_answers_lose_their_secrets_only() -> None:
    assert (
        redact_uri("/_x?pretty&password=p%40ss&size=10")
        == f"/_x?pretty&password={REDACTED}&size=10"
    )
    body = b'{"reason":"bad value [p@ss] and [p%40ss]"}'
    assert (
        redact_bytes(body, ["p@ss"])
        == f'{{"reason":"bad value [{REDACTED}] and [{REDACTED}]"}}'.encode()
    )


# --- the listener itself, in-process on a loopback socket -----------------------------------


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass  # read the whole body first, as the REST application does
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.asynccontextmanager
async def _listening(
    limits: HttpLimits, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    config = HttpConfig(
        _ok, ssl_context=ssl_context, limits=limits, loop="none", lifespan="off", log_config=None
    )
    server = HttpServer(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _closed_within(port: int, seconds: float, first: bytes = b"") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if first:
        writer.write(first)
    async with asyncio.timeout(seconds):
        data = await reader.read()
    writer.close()
    return data


async def test_silent_and_slow_heads_are_closed_and_good_requests_served() -> None:
    limits = HttpLimits(header_timeout=0.3, body_timeout=0.3)
    async with _listening(limits) as port:
        assert await _closed_within(port, 2, b"") == b""
        assert await _closed_within(port, 2, b"GET / HTTP/1.1\r\nHost: x\r\n") == b""
        stalled = b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{"
        assert await _closed_within(port, 2, stalled) == b""
        reply = await _closed_within(
            port, 2, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"ok")


async def test_connections_past_the_cap_are_closed_at_once() -> None:
    async with _listening(HttpLimits(max_connections=2)) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await asyncio.sleep(0.1)
        assert await _closed_within(port, 1, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
        for _, writer in held:
            writer.close()


async def test_tls_handshake_deadline() -> None:
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async with _listening(HttpLimits(tls_handshake_timeout=0.3), context) as port:
        start = asyncio.get_running_loop().time()
        assert await _closed_within(port, 3, b"\x16\x03\x01\x02\x00\x01") == b""
        assert asyncio.get_running_loop().time() - start < 2
