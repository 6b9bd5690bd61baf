"""The doctor's active probe: how long one probe takes, healthy and in each slow failure.

Issue 16's budget: one doctor round per alias finishes within the probe timeout + 1 s. The slow
cases are those where the probe must wait for nothing to happen: a black-holed address (no TCP
answer), a silent port (TCP opens, nothing answers), a handshake never answered. Each is probed
``--runs`` times against a real loopback server (an in-process Isthmus transport server with TLS
for the healthy case, raw sockets for the others) with ``--timeout`` seconds, and the p50 / max
of the probe's elapsed time are printed with the verdict; the run fails if any probe exceeds
timeout + 1 s or names another cause.

    .venv/bin/python bench/bench_doctor_probe.py [--runs 5] [--timeout 2.0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import ssl
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from isthmus.doctor.port_identity import PING
from isthmus.doctor.probe import ProbeReport, ProbeTarget, probe_remote
from isthmus.security.certs import (
    encode_pem_certificates,
    encode_pem_key,
    generate_ca,
    issue_certificate,
)
from isthmus.transport.actions import ActionRegistry
from isthmus.transport.local import LocalNode
from isthmus.transport.server import TransportServer
from isthmus.wire import NodeIdentity


def _cause(report: ProbeReport) -> str:
    failed = report.failed
    return "healthy" if failed is None else failed.findings[0].cause


async def _series(
    name: str, expect: str, probe: Callable[[], Awaitable[ProbeReport]], runs: int, limit: float
) -> bool:
    times, causes = [], set()
    for _ in range(runs):
        report = await probe()
        times.append(report.elapsed)
        causes.add(_cause(report))
    ok = causes == {expect} and max(times) <= limit
    print(
        f"{name:<26} {expect:<20} p50 {statistics.median(times) * 1000:7.0f} ms  "
        f"max {max(times) * 1000:7.0f} ms  limit {limit * 1000:.0f} ms  "
        f"{'ok' if ok else 'FAIL ' + str(sorted(causes))}"
    )
    return ok


async def main(runs: int, timeout: float) -> bool:
    limit = timeout + 1.0
    tmp = Path(tempfile.mkdtemp())
    ca = generate_ca("CN=Bench Probe CA")
    leaf = issue_certificate(
        "CN=remote", issuer=ca, dns_names=["localhost"], ip_addresses=["127.0.0.1"]
    )
    (tmp / "ca.crt").write_bytes(encode_pem_certificates(ca.certificate))
    (tmp / "node.crt").write_bytes(encode_pem_certificates(leaf.certificate))
    (tmp / "node.key").write_bytes(encode_pem_key(leaf.key))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp / "node.crt", tmp / "node.key")
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(tmp / "ca.crt")
    identity = LocalNode(
        "remote", "uuid", NodeIdentity("id", "remote-node", "127.0.0.1:0", "9.1.0")
    )

    # Both end quietly when the loop shuts down (they are only ever cancelled there).
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)

    async def echo_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            while data := await reader.read(100):
                if data.startswith(PING):
                    writer.write(PING)

    def target(port: int, **kw: Any) -> ProbeTarget:
        return ProbeTarget("bench", "127.0.0.1", port, timeout=timeout, **kw)

    ok = True
    async with TransportServer(
        "127.0.0.1", (0, 0), ActionRegistry(), identity=identity, ssl_context=server_ctx
    ) as server:
        ok &= await _series(
            "healthy (TLS transport)",
            "healthy",
            lambda: probe_remote(target(server.port, client_ssl=client_ctx)),
            runs,
            limit,
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    ok &= await _series("refused", "tcp_refused", lambda: probe_remote(target(free)), runs, limit)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            ok &= await _series(
                "black-holed", "tcp_timeout", lambda: probe_remote(target(port)), runs, limit
            )
    for name, handler, expect in (
        ("silent port", hold, "no_answer"),
        ("handshake never answered", echo_only, "handshake_timeout"),
    ):
        srv = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        ok &= await _series(name, expect, lambda port=port: probe_remote(target(port)), runs, limit)
        srv.close()
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(main(args.runs, args.timeout)) else 1)
