"""Hostile peers against every listener of a real node: they cost bounded memory, they are
closed within the documented deadlines, and the legitimate remote connection keeps serving.

The remote node of a two-cluster lab (transport TLS with client certificates, remote cluster
server TLS without them, plain HTTP) is configured with short deadlines so that the test takes
seconds. Hostile connections: silence, one byte at a time, partial frames and oversized
declared bodies, TLS that never completes. Meanwhile the local cluster keeps searching the
remote through its API-key connection (the long-lived one, kept alive by pings), and that
connection is never rebuilt. The figures asserted here are the ones docs/security.md
("Limits and timeouts") documents.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import psutil
import pytest
from elasticsearch import Elasticsearch

from isthmus.lab.topology import ALIAS, INDEX, USER, USER_PASSWORD, Lab, LabSpec, _call
from isthmus.testing.process import NodeProcess
from isthmus.transport.local import LocalNode
from isthmus.wire import Connection, ErrorResponse, Response
from isthmus.wire.handshake import NodeIdentity
from isthmus.wire.names import HANDSHAKE_ACTION

# Deadlines configured on the attacked node (the defaults are 10 s each).
HANDSHAKE_TIMEOUT = 3.0
TLS_HANDSHAKE_TIMEOUT = 2.0
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
SLACK = 3.0  # scheduling on a loaded 2-core machine
PER_KIND = 40  # hostile connections of each kind on each listener
# Documented bound: 40 connections of each of the 13 kinds, all at once, grow the node's RSS by
# less than this (before the fix one partial 64 MiB frame alone pinned about 40 MiB).
RSS_BOUND = 48 * 1024 * 1024  # measured: 8.1 MiB
CLOSED = "[INFO ][o.e.t.ClusterConnectionManager] [local-node] transport connection to [{"


def _host_port(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def _frame_header(length: int, request_id: int = 1, status: int = 0) -> bytes:
    """The first bytes of a request frame announcing ``length`` bytes after the length field."""
    return b"ES" + struct.pack(">iqBii", length, request_id, status, 8_000_099, 2)


async def _closed_after(
    host: str, port: int, send: Callable[[asyncio.StreamWriter], object], tls: bool = False
) -> float:
    """Open a connection, run ``send`` (a coroutine function or a plain one), and return how
    many seconds passed until the node closed it (EOF or reset)."""
    start = time.monotonic()
    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
    except (ConnectionError, ssl.SSLError):
        # Hundreds of handshakes at once on two cores: one that took longer than the TLS
        # deadline was closed by it, which is what is measured.
        return time.monotonic() - start
    sender = None
    try:
        result = send(writer)
        if asyncio.iscoroutine(result):
            sender = asyncio.ensure_future(result)
        while True:
            try:
                if not await reader.read(65536):
                    break
            except (ConnectionError, ssl.SSLError):
                break
        return time.monotonic() - start
    finally:
        if sender is not None:
            sender.cancel()
        writer.close()


def _silent(writer: asyncio.StreamWriter) -> None:
    return None


def _trickle(data: bytes, every: float = 0.3) -> Callable[[asyncio.StreamWriter], object]:
    async def send(writer: asyncio.StreamWriter) -> None:
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
            await asyncio.sleep(every)

    return send


def _once(data: bytes) -> Callable[[asyncio.StreamWriter], object]:
    def send(writer: asyncio.StreamWriter) -> None:
        writer.write(data)

    return send


# A TLS 1.2 ClientHello's first record bytes: enough to start a handshake, never enough to end it.
_HELLO_START = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
_HTTP_HEAD = b"GET /_cluster/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("hostile"), LabSpec())
    lab.build()
    assert lab.remote is not None
    lab.remote.settings.update(
        {
            "transport.handshake_timeout": f"{HANDSHAKE_TIMEOUT:g}s",
            "xpack.security.transport.ssl.handshake_timeout": f"{TLS_HANDSHAKE_TIMEOUT:g}s",
            "xpack.security.remote_cluster_server.ssl.handshake_timeout": (
                f"{TLS_HANDSHAKE_TIMEOUT:g}s"
            ),
            "http.header_timeout": f"{HEADER_TIMEOUT:g}s",
            "http.body_timeout": f"{BODY_TIMEOUT:g}s",
        }
    )
    with lab:
        lab.start()
        assert lab.wait_connected()["connected"]
        yield lab


def _transport_address(lab: Lab) -> str:
    (node,) = _call(lab.remote_url, "GET", "/_nodes")["nodes"].values()
    return str(node["transport_address"])


def _attacks(
    lab: Lab,
) -> list[tuple[str, str, int, Callable[[asyncio.StreamWriter], object], bool, float]]:
    """(name, host, port, send, tls, deadline) for every kind on every listener."""
    assert lab.remote is not None and lab.remote.http_address is not None
    transport = _host_port(_transport_address(lab))
    server = _host_port(lab.remote_cluster_address())
    http = _host_port(lab.remote.http_address)
    tls_deadline = TLS_HANDSHAKE_TIMEOUT
    big = _frame_header(64 * 1024 * 1024 - 6) + b"\0" * 100
    partial = _frame_header(60 * 1024) + b"\0" * 1000
    return [
        # transport port: TLS with client certificates required, so nothing gets past TLS
        ("transport silent", *transport, _silent, False, tls_deadline),
        ("transport trickled hello", *transport, _trickle(_HELLO_START * 4), False, tls_deadline),
        ("transport plaintext frame", *transport, _once(big), False, tls_deadline),
        ("transport half hello", *transport, _once(_HELLO_START), False, tls_deadline),
        # remote cluster server: TLS completes without a certificate; frames before the handshake
        ("server silent", *server, _silent, False, tls_deadline),
        ("server silent after TLS", *server, _silent, True, HANDSHAKE_TIMEOUT),
        ("server partial frame after TLS", *server, _once(partial), True, HANDSHAKE_TIMEOUT),
        (
            "server trickled frame after TLS",
            *server,
            _trickle(partial[:40]),
            True,
            HANDSHAKE_TIMEOUT,
        ),
        # HTTP
        ("http silent", *http, _silent, False, HEADER_TIMEOUT),
        ("http trickled head", *http, _trickle(_HTTP_HEAD), False, HEADER_TIMEOUT),
        ("http half head", *http, _once(_HTTP_HEAD), False, HEADER_TIMEOUT),
        (
            "http stalled body",
            *http,
            _once(b"PUT /x/_doc/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"),
            False,
            BODY_TIMEOUT,
        ),
        (
            "http oversized body",
            *http,
            _once(b"PUT /x/_doc/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000000\r\n\r\n{"),
            False,
            0.0,
        ),
    ]


def test_hostile_connections_are_bounded_and_closed_while_ccs_keeps_serving(lab: Lab) -> None:
    assert lab.remote is not None and lab.remote.proc is not None and lab.local is not None
    node = psutil.Process(lab.remote.proc.pid)
    client = Elasticsearch(lab.local.url, basic_auth=(USER, USER_PASSWORD), request_timeout=30)
    assert client.search(index=f"{ALIAS}:{INDEX}")["hits"]["total"]["value"] == 3
    closes_before = lab.local.log_text().count(CLOSED)
    rss_before = node.memory_info().rss
    attacks = _attacks(lab)
    peak = [rss_before]
    searches = [0]

    async def attack() -> list[tuple[str, float, float]]:
        async def one(
            name: str, host: str, port: int, send: object, tls: bool, limit: float
        ) -> tuple[str, float, float]:
            took = await _closed_after(host, port, send, tls)  # type: ignore[arg-type]
            return name, took, limit

        async def watch() -> None:
            # The legitimate remote connection serves throughout (searched from a thread: the
            # official client is synchronous).
            while True:
                result = await asyncio.to_thread(client.search, index=f"{ALIAS}:{INDEX}")
                assert result["hits"]["total"]["value"] == 3
                assert not result["_clusters"].get("skipped")
                searches[0] += 1
                peak[0] = max(peak[0], node.memory_info().rss)
                await asyncio.sleep(0.2)

        watcher = asyncio.ensure_future(watch())
        try:
            jobs = [one(*a) for a in attacks for _ in range(PER_KIND)]
            return list(await asyncio.wait_for(asyncio.gather(*jobs), HANDSHAKE_TIMEOUT + 30))
        finally:
            watcher.cancel()
            try:
                await watcher
            except asyncio.CancelledError:
                pass

    results = asyncio.run(attack())
    late = [(name, round(took, 2), limit) for name, took, limit in results if took > limit + SLACK]
    assert not late, f"connections held past their deadline: {late[:10]}"
    assert searches[0] >= 3
    growth = peak[0] - rss_before
    assert growth < RSS_BOUND, f"RSS grew by {growth / 2**20:.1f} MiB"
    # The long-lived API-key connection was never closed nor rebuilt.
    time.sleep(HANDSHAKE_TIMEOUT + 1)
    assert lab.local.log_text().count(CLOSED) == closes_before
    assert client.search(index=f"{ALIAS}:{INDEX}")["hits"]["total"]["value"] == 3
    # The remote's log: refused TLS handshakes are rate limited per peer address (the first one
    # in full, the rest counted), not one kilobyte each.
    log = lab.remote.log_text()
    assert log.count("SslHandshakeTimeoutException") <= 4, log[-4000:]
    client.close()


def test_refused_tls_handshakes_are_logged_once_then_counted(lab: Lab) -> None:
    """400 plaintext connections on the TLS transport port: the first diagnosis is written in
    full, exactly as before; then a counted summary, not 400 lines."""
    assert lab.remote is not None
    host, port = _host_port(_transport_address(lab))
    before = lab.remote.log_text()
    for _ in range(400):
        with socket.create_connection((host, port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
            sock.settimeout(5)
            try:
                while sock.recv(4096):
                    pass
            except OSError:
                pass
    time.sleep(0.5)
    new = lab.remote.log_text()[len(before) :]
    diagnosis = "received plaintext traffic on an encrypted channel, closing connection"
    # Written at most once per peer address per minute (an earlier test may have used this
    # minute's line already); each full line is under 300 bytes.
    assert new.count(diagnosis) <= 1
    assert len(new.encode()) < 4096, new[:2000]


def _handshake(conn: Connection, cluster: str) -> bytes:
    identity = NodeIdentity("hostile-node-id", "hostile", "127.0.0.1:1", "9.1.0")
    hello = LocalNode(cluster, "_na_", identity).handshake_request()
    return conn.send(conn.new_request(HANDSHAKE_ACTION, hello.to_payload()))


async def _read_event(reader: asyncio.StreamReader, conn: Connection) -> object:
    from isthmus.wire import NEED_DATA

    while True:
        event = conn.next_event()
        if event is not NEED_DATA:
            return event
        data = await asyncio.wait_for(reader.read(65536), 10)
        assert data, "closed by the node"
        conn.receive_data(data)


ANNOUNCED = 7 * 1024 * 1024


def _http(host: str, port: int, raw: bytes) -> bytes:
    """Send ``raw`` on a new connection and read the answer until the node closes it."""
    with socket.create_connection((host, port)) as sock:
        sock.sendall(raw)
        sock.settimeout(10)
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
    return reply


def test_in_flight_breaker_refuses_frames_past_its_limit(tmp_path: Path) -> None:
    """Handshaken peers each announce a 7 MiB request and send only part of it: the node
    reserves the announced bytes (times the overhead, 2) in ``in_flight_requests``; past the
    16 MiB limit the request is answered with ES's 429 at once and its bytes are skipped, so
    the node never holds more than the limit whatever the peers announce."""
    node = NodeProcess(tmp_path / "node", {"network.breaker.inflight_requests.limit": "16mb"})
    node.start()
    try:
        host, port = _host_port(node.transport_address())
        rss_before = psutil.Process(node.proc.pid).memory_info().rss  # type: ignore[union-attr]

        async def peers() -> list[object]:
            answers: list[object] = []
            streams = []
            for _ in range(6):
                reader, writer = await asyncio.open_connection(host, port)
                conn = Connection()
                writer.write(_handshake(conn, "test-cluster"))
                assert isinstance(await _read_event(reader, conn), Response)
                # Announce 7 MiB (a real request frame), send its first MiB.
                frame = conn.send(conn.new_request("indices:data/write/bulk", b"\0" * ANNOUNCED))
                writer.write(frame[: 1024 * 1024])
                await writer.drain()
                streams.append((reader, writer, conn))
                await asyncio.sleep(0.2)
            for reader, _writer, conn in streams[1:]:
                # Every peer after the first trips the breaker: a 429 arrives without the rest.
                answers.append(await _read_event(reader, conn))
            for _, writer, _ in streams:
                writer.close()
            return answers

        answers = asyncio.run(peers())
        assert len(answers) == 5
        for answer in answers:
            assert isinstance(answer, ErrorResponse)
            assert answer.error.type == "circuit_breaking_exception"
            assert answer.error.status == 429
            assert answer.error.reason.startswith(
                "[in_flight_requests] Data too large, data for [<transport_request>] would be ["
            )
            assert answer.error.reason.endswith("which is larger than the limit of [16777216/16mb]")
            assert answer.error.extra["durability"] == "TRANSIENT"
        growth = psutil.Process(node.proc.pid).memory_info().rss - rss_before  # type: ignore[union-attr]
        assert growth < 32 * 1024 * 1024
        # HTTP shares the breaker: body bytes are reserved as they arrive; past 8 MiB (times
        # the overhead, the 16 MiB limit) the request is a 429 and the connection is closed.
        time.sleep(0.5)  # the peers' connections above are closed: their bytes are released
        http_host, http_port = _host_port(node.http_address or "")
        body = b"x" * (8 * 1024 * 1024 + 1)
        reply = _http(
            http_host,
            http_port,
            b"PUT /x/_doc/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body,
        )
        assert reply.startswith(b"HTTP/1.1 429"), reply[:200]
        body = orjson.loads(reply.split(b"\r\n\r\n", 1)[1])
        assert body["error"]["type"] == "circuit_breaking_exception"
        assert "data for [<http_request>]" in body["error"]["reason"]
    finally:
        node.stop()


def test_secret_in_url_parameter_is_neither_echoed_nor_logged(
    node: NodeProcess, record_secret: Callable[[str], None]
) -> None:
    secret = "sEcReT4711xyzQWxhZGRpbjpvcGVu"
    password = "hunter2-pw"
    record_secret(secret)
    record_secret(password)
    assert node.http_address is not None
    host, port = _host_port(node.http_address)
    paths = [
        f"/_nothing_here?api_key={secret}&pretty",  # no handler found for uri [...]
        f"/_cluster/health?token={secret}",  # unrecognized parameter
        f"/_search?size={secret}",  # a value that fails to parse
        f"/_security/_authenticate?password={password}",
        f"/idx-{time.monotonic_ns()}/_search?q={secret}",  # index_not_found
    ]
    replies = []
    for path in paths:
        raw = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        reply = _http(host, port, raw)
        replies.append(reply)
        assert reply.startswith(b"HTTP/1.1 "), (path, reply[:300])
        assert secret.encode() not in reply, (path, reply)
        assert password.encode() not in reply, (path, reply)
    # The URI is still echoed, as ES echoes it, with the secret value replaced.
    assert b"no handler found for uri [/_nothing_here?api_key=::es_redacted::&pretty]" in replies[0]
    assert b"contains unrecognized parameter: [token]" in replies[1]
    log = node.log_text()
    assert secret not in log and password not in log


def test_unparsable_http_requests_are_logged_once_per_interval(node: NodeProcess) -> None:
    """Any client can send garbage in a loop; uvicorn's WARN for it is written once per
    interval (with the count of those left out), not once per request."""
    assert node.http_address is not None
    host, port = _host_port(node.http_address)
    line = "Invalid HTTP request received."
    before = node.log_text().count(line)
    for _ in range(200):
        reply = _http(host, port, b"\x00\x01GARBAGE\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 400")
    time.sleep(0.2)
    assert node.log_text().count(line) - before <= 1
