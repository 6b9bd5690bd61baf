"""The doctor's REST client over real TLS on loopback: a CA file verifies the server, a pinned
SHA-256 fingerprint (of the server certificate or its CA, as the official clients accept)
replaces verification, and a wrong pin or an untrusted server gives no answer, never a crash."""

from __future__ import annotations

import hashlib
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from isthmus.doctor.collect import ClusterAccess, RestClient
from isthmus.settings.secret import Secret


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        seen = self.headers.get("Authorization", "")
        scheme = seen.split(" ")[0]
        body = b'{"cluster_name": "pinned", "auth": "' + scheme.encode() + b'"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str, str]]:
    """(url, CA file, SHA-256 of the leaf, SHA-256 of the CA)."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # The chain includes the CA, as Elasticsearch's auto-configured HTTP certificate does (which
    # is why the clients pin the CA's fingerprint).
    chain = tmp_path_factory.mktemp("server") / "chain.pem"
    chain.write_bytes(leaf.private_key_and_cert_chain_pem.bytes() + ca.cert_pem.bytes())
    ctx.load_cert_chain(str(chain))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def sha(pem: bytes) -> str:
        return hashlib.sha256(
            x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
        ).hexdigest()

    yield (
        f"https://127.0.0.1:{server.server_address[1]}",
        ca_file,
        sha(leaf.cert_chain_pems[0].bytes()),
        sha(ca.cert_pem.bytes()),
    )
    server.shutdown()
    server.server_close()


async def _root(access: ClusterAccess) -> tuple[int | None, object, str | None]:
    client = RestClient(access)
    try:
        result = await client.call("GET", "/")
    finally:
        await client.aclose()
    return result.status, result.body, result.error


async def test_ca_file_verifies(https: tuple[str, Path, str, str]) -> None:
    url, ca, _, _ = https
    status, body, _ = await _root(ClusterAccess(url, "elastic", Secret("pw"), ca=ca))
    assert status == 200 and body == {"cluster_name": "pinned", "auth": "Basic"}


async def test_untrusted_server_is_no_answer(https: tuple[str, Path, str, str]) -> None:
    status, _, error = await _root(ClusterAccess(https[0]))
    assert status is None and error is not None and "CERTIFICATE_VERIFY_FAILED" in error


@pytest.mark.parametrize("which", [2, 3])
async def test_pinned_fingerprint_of_leaf_or_ca(
    https: tuple[str, Path, str, str], which: int
) -> None:
    url, pin = https[0], str(https[which])
    with_colons = ":".join(pin[i : i + 2] for i in range(0, len(pin), 2)).upper()
    status, body, _ = await _root(
        ClusterAccess(url, api_key=Secret("a2V5"), fingerprint=with_colons)
    )
    assert status == 200 and body == {"cluster_name": "pinned", "auth": "ApiKey"}


async def test_wrong_pin_is_refused(https: tuple[str, Path, str, str]) -> None:
    status, _, error = await _root(ClusterAccess(https[0], fingerprint="00" * 32))
    assert (
        status is None and error == "the server's certificate does not match the pinned fingerprint"
    )
