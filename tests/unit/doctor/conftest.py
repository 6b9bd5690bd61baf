"""Loopback servers for the probe's tests: raw asyncio servers that misbehave on purpose, and
in-process Isthmus transport servers with the certificates a scenario needs."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from isthmus.doctor.model import Outcome, Stage
from isthmus.doctor.probe import ProbeReport
from isthmus.security.certs import (
    CertificateAndKey,
    encode_pem_certificates,
    encode_pem_key,
    generate_ca,
    issue_certificate,
)
from isthmus.transport.actions import ActionRegistry
from isthmus.transport.local import LocalNode
from isthmus.transport.server import TransportServer
from isthmus.wire import NodeIdentity

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def outcome(report: ProbeReport) -> list[tuple[str, str, list[str]]]:
    """Each stage as (stage, outcome, causes): what a test asserts on, readable on failure."""
    return [(r.stage.value, r.outcome.value, [f.cause for f in r.findings]) for r in report.stages]


def failed_cause(report: ProbeReport) -> tuple[Stage, str] | None:
    failed = report.failed
    if failed is None:
        return None
    assert failed.outcome is Outcome.FAILED, outcome(report)
    (finding,) = failed.findings
    return failed.stage, finding.cause


def details(report: ProbeReport) -> str:
    return "\n".join(e.detail for r in report.stages for e in r.evidence)


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[int]:
    """A plain asyncio server on a free loopback port running ``handler`` per connection."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            tasks.discard(task)
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await server.wait_closed()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST: SO_LINGER on, timeout 0."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- PKI -------------------------------------------------------------------------------------------


@dataclass
class Pki:
    """Writes CAs, certificates and keys as PEM files under ``dir``."""

    dir: Path

    def write(self, name: str, *certs: x509.Certificate) -> Path:
        path = self.dir / f"{name}.crt"
        path.write_bytes(encode_pem_certificates(*certs))
        return path

    def ca(self, name: str, dn: str | None = None) -> CertificateAndKey:
        ca = generate_ca(dn or f"CN=Probe Test {name} CA")
        self.write(f"{name}-ca", ca.certificate)
        return ca

    def leaf(
        self,
        name: str,
        issuer: CertificateAndKey,
        *,
        dns: tuple[str, ...] = ("localhost",),
        ips: tuple[str, ...] = ("127.0.0.1",),
        now: dt.datetime | None = None,
        days: int = 30,
        chain: bool = False,
    ) -> tuple[Path, Path]:
        cert = issue_certificate(
            f"CN={name}", issuer=issuer, dns_names=dns, ip_addresses=ips, now=now, days=days
        )
        certs = (cert.certificate, *cert.chain[:-1]) if chain else (cert.certificate,)
        crt = self.write(name, *certs)
        key = self.dir / f"{name}.key"
        key.write_bytes(encode_pem_key(cert.key))
        return crt, key

    def intermediate(self, name: str, root: CertificateAndKey) -> CertificateAndKey:
        """A CA signed by ``root`` (basicConstraints CA:true)."""
        inter = generate_ca(f"CN=Probe Test {name} CA")
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Probe Test {name} CA")])
            )
            .issuer_name(root.certificate.subject)
            .public_key(inter.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        )
        cert = builder.sign(root.key, hashes.SHA256())
        self.write(f"{name}-ca", cert)
        return CertificateAndKey(cert, inter.key, (root.certificate,))


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def server_context(crt: Path, key: Path, *, client_ca: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    if client_ca is not None:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(
    ca: Path, *, cert: tuple[Path, Path] | None = None, check_hostname: bool = True
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.check_hostname = check_hostname
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


@contextlib.asynccontextmanager
async def transport_server(**kw: Any) -> AsyncIterator[TransportServer[Any]]:
    """A real Isthmus transport server (cluster ``remote``) on a free loopback port."""
    version = kw.pop("min_compatible_version", None)
    node = NodeIdentity("remote-id", "remote-node", "127.0.0.1:0", "9.1.0", ("data",))
    identity = LocalNode("remote", "remote-uuid", node)
    if version is not None:
        identity = LocalNode("remote", "remote-uuid", node, version, version)
    registry = kw.pop("registry", None) or ActionRegistry()
    async with TransportServer("127.0.0.1", (0, 0), registry, identity=identity, **kw) as server:
        yield server
