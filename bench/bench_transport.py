"""Metric #12, the transport layer in-process: request rate, connection setup, bulk stream.

One process, one uvloop event loop (as the node runs), loopback only. A
``isthmus.transport.TransportServer`` answers two actions: ``bench:echo`` (returns its payload)
and ``bench:sink`` (returns the length of its payload). Clients are
``isthmus.transport.client.connect`` channels, with the node's default TCP options on both sides.
Every figure is taken plain and with mutual TLS (a ``trustme`` ECDSA P-256 CA, client
certificates required, as the transport profile defaults to), and beside a **baseline measured in
the same run**: raw asyncio streams on the same loop, length-prefixed frames of the same payload
sizes, the same TLS contexts (asyncio's own TLS, not Isthmus's memory-BIO session).

(a) small request/response rate on one connection: sequential (one in flight) and with 32 in
    flight (32 coroutines sharing the channel; the raw baseline keeps a window of 32 frames on
    one stream). Payload: a 64-byte ``bytes`` value.
(b) connection setup: TCP connect (+ TLS handshake) + transport handshake, then close; p50/p90.
    The raw baseline is ``asyncio.open_connection`` (+ TLS) and one 64-byte echo round trip (the
    transport handshake is one round trip; a TLS 1.3 server also finishes its side of the TLS
    handshake, checking the client certificate, only when the client's first flight after it
    arrives, which ``open_connection`` alone would not wait for), then close.
(c) bulk stream: 1 MiB ``bytes`` payloads to ``bench:sink`` with 8 in flight; MB/s of payload
    (1 MB = 10^6 bytes). Raw baseline: 1 MiB frames to a sink answering 4 bytes, same window.

Everything is measured twice: first with the servers in this process (client and server share
one event loop and one core: the micro-benchmark), then with the same servers in a child process
(``--serve``, started by this script), as two nodes would run on a 2-core machine.

Usage: .venv/bin/python bench/bench_transport.py [--seconds 2] [--connects 200] [--inflight 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import struct
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import trustme
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ms, parser, percentile, print_header, print_table, verdict

from isthmus.settings.remote import transport_tuning
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.transport.channel import TransportChannel
from isthmus.transport.client import connect
from isthmus.transport.local import LocalNode
from isthmus.transport.server import TransportServer
from isthmus.wire import NodeIdentity

TARGET_RATE = 10_000.0  # req/s on one TLS connection
TARGET_RATIO = 0.6  # TLS / plain
TARGET_CONNECT_S = 0.005
TARGET_BULK_MBS = 200.0
SMALL = b"x" * 64
BULK = b"b" * (1 << 20)
BULK_INFLIGHT = 8
ECHO, SINK = "bench:echo", "bench:sink"
TCP = transport_tuning({}).tcp  # the node's defaults: no-delay, keep-alive, user timeout


def identity(name: str) -> LocalNode:
    node = NodeIdentity(
        id=f"{name}-id", name=name, publish_address="127.0.0.1:0", version="9.0.0", roles=("data",)
    )
    return LocalNode(cluster_name="bench", cluster_uuid="bench-uuid", node=node)


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext

    @staticmethod
    def write(directory: Path) -> None:
        """A CA (ECDSA P-256, like the node's certutil default) and two leaf certificates."""
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(directory / "ca.pem"))
        server = ca.issue_cert("localhost", "127.0.0.1")
        server.private_key_and_cert_chain_pem.write_to_path(str(directory / "server.pem"))
        client = ca.issue_cert("client.bench", common_name="client")
        client.private_key_and_cert_chain_pem.write_to_path(str(directory / "client.pem"))

    @classmethod
    def load(cls, directory: Path) -> Tls:
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(directory / "server.pem")
        server.load_verify_locations(directory / "ca.pem")
        server.verify_mode = ssl.CERT_REQUIRED  # transport default: client certificates required
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.load_cert_chain(directory / "client.pem")
        client.load_verify_locations(directory / "ca.pem")
        return cls(server, client)


# --- the two sides under test ---------------------------------------------------------------------


async def _echo(payload: Any, ctx: TransportRequestContext[Any]) -> Any:
    return payload


async def _sink(payload: Any, ctx: TransportRequestContext[Any]) -> Any:
    return len(payload)


class Side:
    """How to open a connection and send one request over it: Isthmus or raw streams."""

    name: str

    async def open(self) -> Any:
        raise NotImplementedError

    async def call(self, conn: Any, action: str, payload: bytes) -> None:
        raise NotImplementedError

    async def close(self, conn: Any) -> None:
        raise NotImplementedError


class IsthmusSide(Side):
    def __init__(self, port: int, ctx: ssl.SSLContext | None) -> None:
        self.port, self.ctx = port, ctx
        self.client = identity("client")
        self.name = "isthmus " + ("TLS" if ctx else "plain")

    async def open(self) -> TransportChannel:
        return await connect(
            "127.0.0.1", self.port, identity=self.client, ssl_context=self.ctx, tcp=TCP
        )

    async def call(self, conn: Any, action: str, payload: bytes) -> None:
        await conn.request(action, payload)

    async def close(self, conn: Any) -> None:
        conn.close()
        await conn.wait_closed()


class RawConn:
    """One raw stream: 4-byte big-endian length + body frames; answers come back in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.lock = asyncio.Lock()  # one request at a time per caller, like a request id

    async def read_frame(self) -> bytes:
        (n,) = struct.unpack(">I", await self.reader.readexactly(4))
        return await self.reader.readexactly(n)


class RawSide(Side):
    def __init__(self, port: int, ctx: ssl.SSLContext | None) -> None:
        self.port, self.ctx = port, ctx
        self.name = "raw streams " + ("TLS" if ctx else "plain")

    async def open(self) -> RawConn:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.ctx, limit=4 << 20
        )
        return RawConn(reader, writer)

    async def call(self, conn: Any, action: str, payload: bytes) -> None:
        frame = struct.pack(">I", len(payload)) + payload
        async with conn.lock:  # sequential only; the windowed test uses raw_window
            conn.writer.write(frame)
            await conn.writer.drain()
            await conn.read_frame()

    async def close(self, conn: Any) -> None:
        conn.writer.close()
        try:
            await conn.writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


async def _raw_server_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo frames up to 64 KiB; answer larger ones (the bulk) with their length only."""
    try:
        while True:
            head = await reader.readexactly(4)
            (n,) = struct.unpack(">I", head)
            body = await reader.readexactly(n)
            if n <= 65536:
                writer.write(head + body)
            else:
                writer.write(struct.pack(">I", 4) + struct.pack(">I", n))
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def servers(tls: Tls) -> AsyncIterator[dict[str, int]]:
    """An Isthmus transport server and a raw streams server, each plain and TLS; their ports."""
    registry = ActionRegistry()
    registry.register(ECHO, _echo)
    registry.register(SINK, _sink)
    raw_plain = await asyncio.start_server(_raw_server_handler, "127.0.0.1", 0, limit=4 << 20)
    raw_tls = await asyncio.start_server(
        _raw_server_handler, "127.0.0.1", 0, ssl=tls.server, limit=4 << 20
    )
    async with (
        TransportServer(
            "127.0.0.1", (0, 0), registry, identity=identity("server"), tcp=TCP
        ) as plain,
        TransportServer(
            "127.0.0.1",
            (0, 0),
            registry,
            identity=identity("server"),
            ssl_context=tls.server,
            tcp=TCP,
        ) as secure,
    ):
        try:
            yield {
                "isthmus plain": plain.port,
                "isthmus TLS": secure.port,
                "raw plain": raw_plain.sockets[0].getsockname()[1],
                "raw TLS": raw_tls.sockets[0].getsockname()[1],
            }
        finally:
            raw_plain.close()
            raw_tls.close()


def client_sides(ports: Mapping[str, int], tls: Tls) -> dict[str, Side]:
    return {
        "isthmus plain": IsthmusSide(ports["isthmus plain"], None),
        "isthmus TLS": IsthmusSide(ports["isthmus TLS"], tls.client),
        "raw plain": RawSide(ports["raw plain"], None),
        "raw TLS": RawSide(ports["raw TLS"], tls.client),
    }


async def serve(directory: Path) -> None:
    """``--serve``: the servers in this (child) process until stdin closes."""
    async with servers(Tls.load(directory)) as ports:
        print(json.dumps(ports), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


@asynccontextmanager
async def child_servers(directory: Path) -> AsyncIterator[dict[str, int]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        str(directory),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ports: dict[str, int] = json.loads(await proc.stdout.readline())
        yield ports
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# --- (a) request rate ---------------------------------------------------------------------------


async def timed_loop(seconds: float, one: Callable[[], Awaitable[None]]) -> int:
    """Run ``one`` until ``seconds`` pass; the number of completed calls."""
    done = 0
    deadline = time.perf_counter() + seconds
    while True:
        for _ in range(50):
            await one()
        done += 50
        if time.perf_counter() >= deadline:
            return done


async def rate_sequential(side: Side, seconds: float) -> float:
    conn = await side.open()
    try:
        await timed_loop(0.2, lambda: side.call(conn, ECHO, SMALL))  # warm-up
        started = time.perf_counter()
        done = await timed_loop(seconds, lambda: side.call(conn, ECHO, SMALL))
        return done / (time.perf_counter() - started)
    finally:
        await side.close(conn)


async def rate_concurrent(side: Side, seconds: float, inflight: int) -> float:
    conn = await side.open()
    try:
        if isinstance(side, RawSide):
            await raw_window(conn, SMALL, inflight, 0.2)  # warm-up
            return await raw_window(conn, SMALL, inflight, seconds) / len(SMALL) / seconds

        async def worker(until: float) -> int:
            done = 0
            while time.perf_counter() < until:
                for _ in range(10):
                    await side.call(conn, ECHO, SMALL)
                done += 10
            return done

        warm = time.perf_counter() + 0.2
        await asyncio.gather(*(worker(warm) for _ in range(inflight)))
        started = time.perf_counter()
        counts = await asyncio.gather(*(worker(started + seconds) for _ in range(inflight)))
        return sum(counts) / (time.perf_counter() - started)
    finally:
        await side.close(conn)


async def raw_window(conn: RawConn, payload: bytes, inflight: int, seconds: float) -> float:
    """Keep ``inflight`` frames outstanding on one raw stream for ``seconds``; payload bytes
    acknowledged per second (divide by the payload size for frames per second)."""
    frame = struct.pack(">I", len(payload)) + payload
    credits = asyncio.Semaphore(inflight)
    stop = time.perf_counter() + seconds
    sent = 0

    async def sender() -> None:
        nonlocal sent
        while time.perf_counter() < stop:
            await credits.acquire()
            conn.writer.write(frame)
            sent += 1
            await conn.writer.drain()

    task = asyncio.create_task(sender())
    started = time.perf_counter()
    received = 0
    while not (task.done() and received == sent):
        await conn.read_frame()
        received += 1
        credits.release()
    await task
    return received * len(payload) / (time.perf_counter() - started)


# --- (b) connection setup -------------------------------------------------------------------------


async def connect_times(side: Side, runs: int) -> list[float]:
    for _ in range(5):  # warm-up
        await side.close(await side.open())
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        conn = await side.open()
        if isinstance(side, RawSide):
            # The transport handshake is one round trip after TCP (+ TLS); so is the baseline's.
            await side.call(conn, ECHO, SMALL)
        out.append(time.perf_counter() - started)
        await side.close(conn)
    return out


# --- (c) bulk stream ------------------------------------------------------------------------------


async def bulk_rate(side: Side, seconds: float) -> float:
    """Payload MB/s of 1 MiB sink requests with BULK_INFLIGHT outstanding."""
    conn = await side.open()
    try:
        if isinstance(side, RawSide):
            await raw_window(conn, BULK, BULK_INFLIGHT, 0.2)
            return await raw_window(conn, BULK, BULK_INFLIGHT, seconds) / 1e6

        async def worker(until: float) -> int:
            done = 0
            while time.perf_counter() < until:
                await side.call(conn, SINK, BULK)
                done += 1
            return done

        warm = time.perf_counter() + 0.2
        await asyncio.gather(*(worker(warm) for _ in range(BULK_INFLIGHT)))
        started = time.perf_counter()
        counts = await asyncio.gather(*(worker(started + seconds) for _ in range(BULK_INFLIGHT)))
        return sum(counts) * len(BULK) / (time.perf_counter() - started) / 1e6
    finally:
        await side.close(conn)


# --- report ---------------------------------------------------------------------------------------


@dataclass
class Results:
    seq: dict[str, float]
    conc: dict[str, float]
    setup: dict[str, list[float]]
    bulk: dict[str, float]


ORDER = ("isthmus plain", "isthmus TLS", "raw plain", "raw TLS")


async def measure(
    sides: Mapping[str, Side], seconds: float, connects: int, inflight: int
) -> Results:
    return Results(
        seq={name: await rate_sequential(sides[name], seconds) for name in ORDER},
        conc={name: await rate_concurrent(sides[name], seconds, inflight) for name in ORDER},
        setup={name: await connect_times(sides[name], connects) for name in ORDER},
        bulk={name: await bulk_rate(sides[name], seconds) for name in ORDER},
    )


async def run(seconds: float, connects: int, inflight: int) -> None:
    with tempfile.TemporaryDirectory(prefix="isthmus-bench-tls-") as tmp:
        directory = Path(tmp)
        Tls.write(directory)
        tls = Tls.load(directory)
        async with servers(tls) as ports:
            same = await measure(client_sides(ports, tls), seconds, connects, inflight)
        async with child_servers(directory) as ports:
            child = await measure(client_sides(ports, tls), seconds, connects, inflight)
    report("server in this process (one event loop, one core)", same, connects, inflight)
    report(
        "server in a child process (client and server on their own cores)",
        child,
        connects,
        inflight,
    )


def report(title: str, r: Results, connects: int, inflight: int) -> None:
    def rate(v: float) -> str:
        return f"{v:,.0f} req/s"

    print()
    print(f"-- {title}")
    print(f"(a) small request/response on one connection ({len(SMALL)}-byte payload)")
    rows: list[tuple[str, ...]] = [("figure", "isthmus", "raw streams (baseline)", "isthmus / raw")]
    for mode in ("plain", "TLS"):
        for label, table in (("sequential", r.seq), (f"{inflight} in flight", r.conc)):
            mine, raw = table[f"isthmus {mode}"], table[f"raw {mode}"]
            rows.append((f"{label}, {mode}", rate(mine), rate(raw), f"{mine / raw:.2f}"))
    for label, table in (("sequential", r.seq), (f"{inflight} in flight", r.conc)):
        rows.append(
            (
                f"TLS / plain, {label}",
                f"{table['isthmus TLS'] / table['isthmus plain']:.2f}",
                f"{table['raw TLS'] / table['raw plain']:.2f}",
                "",
            )
        )
    print_table(rows)
    best_tls = max(r.seq["isthmus TLS"], r.conc["isthmus TLS"])
    ratio_seq = r.seq["isthmus TLS"] / r.seq["isthmus plain"]
    ratio_conc = r.conc["isthmus TLS"] / r.conc["isthmus plain"]
    print(
        f"   target >= {TARGET_RATE:,.0f} req/s on one TLS connection: "
        f"{verdict(best_tls >= TARGET_RATE)} (best {rate(best_tls)}); TLS/plain >= "
        f"{TARGET_RATIO}: sequential {verdict(ratio_seq >= TARGET_RATIO)} ({ratio_seq:.2f}), "
        f"{inflight} in flight {verdict(ratio_conc >= TARGET_RATIO)} ({ratio_conc:.2f})"
    )

    print(f"(b) connection setup, {connects} runs each (open, then close before the next)")
    rows = [("figure", "p50", "p90", "max", "target", "verdict")]
    for name, label in (
        ("raw plain", "raw TCP + 1 round trip (baseline)"),
        ("raw TLS", "raw TCP + TLS + 1 round trip (baseline)"),
        ("isthmus plain", "isthmus TCP + handshake"),
        ("isthmus TLS", "isthmus TCP + TLS + handshake"),
    ):
        times = r.setup[name]
        p50 = percentile(times, 50)
        target = name.startswith("isthmus")
        rows.append(
            (
                label,
                ms(p50),
                ms(percentile(times, 90)),
                ms(max(times)),
                f"<= {ms(TARGET_CONNECT_S)}" if target else "",
                verdict(p50 <= TARGET_CONNECT_S) if target else "",
            )
        )
    print_table(rows)

    print(f"(c) bulk stream: 1 MiB payloads, {BULK_INFLIGHT} in flight, one connection")
    rows = [("figure", "isthmus", "raw streams (baseline)", "isthmus / raw", "verdict")]
    for mode in ("plain", "TLS"):
        mine, raw = r.bulk[f"isthmus {mode}"], r.bulk[f"raw {mode}"]
        rows.append(
            (
                mode,
                f"{mine:,.0f} MB/s",
                f"{raw:,.0f} MB/s",
                f"{mine / raw:.2f}",
                f"{verdict(mine >= TARGET_BULK_MBS)} (>= {TARGET_BULK_MBS:.0f} MB/s)",
            )
        )
    print_table(rows)


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0, help="per rate/bulk measurement")
    p.add_argument("--connects", type=int, default=200, help="connections per setup figure")
    p.add_argument("--inflight", type=int, default=32, help="concurrent small requests")
    p.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the child process's role
    args = p.parse_args()
    if args.serve is not None:
        uvloop.run(serve(args.serve))
        return 0
    print_header(
        f"#12 transport: {args.seconds:g} s per rate, {args.connects} connects, "
        f"{args.inflight} in flight, uvloop {version('uvloop')}, {ssl.OPENSSL_VERSION}"
    )
    uvloop.run(run(args.seconds, args.connects, args.inflight))
    return 0


if __name__ == "__main__":
    sys.exit(main())
