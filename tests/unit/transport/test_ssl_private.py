"""CPython's private ``ssl`` hooks: used in one module only, and their absence only costs detail.

Real OpenSSL sessions pumped in memory (no sockets): a server that refuses the client's
certificate, a client that refuses the server's. With the private hooks each side reads the
peer's chain after the failure; with them made absent (as on an interpreter without them) the
handshake fails the same way, nothing raises, and the diagnosis falls back to OpenSSL's words.
"""

from __future__ import annotations

import ast
import ssl
from pathlib import Path

import pytest

from isthmus.security import certs
from isthmus.security.certs import CertificateAndKey
from isthmus.security.tls_failures import describe_failure
from isthmus.transport import ssl_private
from isthmus.transport.tls_session import TlsSession
from tests.unit.transport.test_tls_diagnostics import NOW, Contexts, handshake

SRC = Path(__file__).resolve().parents[3] / "src" / "isthmus"
_PRIVATE_NAMES = {"_sslobj", "_msg_callback", "_SSLContext", "_SSLSocket"}


@pytest.fixture
def contexts(tmp_path: Path) -> Contexts:
    return Contexts(tmp_path)


@pytest.fixture(scope="module")
def ca() -> CertificateAndKey:
    return certs.generate_ca("CN=Private Hook Test CA", now=NOW, days=365)


@pytest.fixture(scope="module")
def stranger_ca() -> CertificateAndKey:
    return certs.generate_ca("CN=Stranger CA", now=NOW, days=365)


@pytest.fixture(scope="module")
def server_identity(ca: CertificateAndKey) -> CertificateAndKey:
    return certs.issue_certificate(
        "CN=server", issuer=ca, dns_names=["localhost"], now=NOW, days=365
    )


@pytest.fixture(scope="module")
def client_identity(stranger_ca: CertificateAndKey) -> CertificateAndKey:
    return certs.issue_certificate("CN=stranger_client", issuer=stranger_ca, now=NOW, days=365)


def _client_rejected(
    contexts: Contexts,
    server_identity: CertificateAndKey,
    client_identity: CertificateAndKey,
    ca: CertificateAndKey,
) -> tuple[TlsSession, ssl.SSLError]:
    """A server requiring client certificates, a client whose CA it does not trust."""
    server = TlsSession(
        contexts.make(server=True, identity=server_identity, trusted=[ca]), server_side=True
    )
    client = TlsSession(
        contexts.make(server=False, identity=client_identity, trusted=[ca]),
        server_side=False,
        server_hostname="localhost",
    )
    _client_error, server_error = handshake(client, server)
    assert isinstance(server_error, ssl.SSLCertVerificationError)
    return server, server_error


def test_server_reads_the_rejected_client_chain_through_the_hook(
    contexts: Contexts,
    server_identity: CertificateAndKey,
    client_identity: CertificateAndKey,
    ca: CertificateAndKey,
) -> None:
    assert ssl_private.can_capture_client_certificates()  # CPython 3.11, as shipped
    server, _error = _client_rejected(contexts, server_identity, client_identity, ca)
    chain = server.peer_chain()
    assert [c.subject.rfc4514_string() for c in chain] == ["CN=stranger_client"]


def test_without_the_message_callback_the_server_degrades(
    monkeypatch: pytest.MonkeyPatch,
    contexts: Contexts,
    server_identity: CertificateAndKey,
    client_identity: CertificateAndKey,
    ca: CertificateAndKey,
) -> None:
    monkeypatch.setattr(ssl_private, "_RAW_MSG_CALLBACK", None)
    assert not ssl_private.can_capture_client_certificates()
    server, error = _client_rejected(contexts, server_identity, client_identity, ca)
    assert server.peer_chain() == ()
    failure = describe_failure(error, server_side=True, peer="127.0.0.1:50000", session=server)
    assert failure.message == (
        f"failed to establish trust with client at [127.0.0.1]; {error.verify_message}"
    )
    assert failure.verify_code == error.verify_code


def test_without_the_private_chain_method_the_client_degrades(
    monkeypatch: pytest.MonkeyPatch,
    contexts: Contexts,
    server_identity: CertificateAndKey,
    stranger_ca: CertificateAndKey,
) -> None:
    monkeypatch.setattr(ssl_private, "_ENCODING_DER", None)
    server = TlsSession(
        contexts.make(server=True, identity=server_identity, client_auth=False), server_side=True
    )
    client = TlsSession(
        contexts.make(server=False, trusted=[stranger_ca]),
        server_side=False,
        server_hostname="localhost",
    )
    client_error, _server_error = handshake(client, server)
    assert isinstance(client_error, ssl.SSLCertVerificationError)
    assert client.peer_chain() == ()
    failure = describe_failure(
        client_error, server_side=False, peer="localhost:9300", session=client
    )
    assert failure.message == (
        f"failed to establish trust with server at [localhost]; {client_error.verify_message}"
    )


def test_only_the_quarantine_module_touches_private_ssl() -> None:
    offenders: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "transport" / "ssl_private.py":
            continue
        found: list[str] = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [a.name for a in node.names if a.name == "_ssl"]
            elif isinstance(node, ast.ImportFrom) and node.module == "_ssl":
                found.append("_ssl")
            elif isinstance(node, ast.Attribute) and node.attr in _PRIVATE_NAMES:
                found.append(node.attr)
            elif isinstance(node, ast.Constant) and node.value in _PRIVATE_NAMES:
                found.append(str(node.value))
        if found:
            offenders[str(path.relative_to(SRC))] = found
    assert offenders == {}
