"""Certificate files are reloaded for every TLS context, not only HTTP's, as ES's resource
watcher does: the transport's and the remote cluster server's listeners present a replaced
certificate to new connections without a restart, and a broken replacement keeps the old one."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from isthmus.security.certs import (
    CertificateAndKey,
    encode_pem_certificates,
    encode_pem_key,
    generate_ca,
    issue_certificate,
)
from tests.integration.test_remote_tls import PASSWORD, client, secured


def served_serial(port: int, ca: Path, identity: tuple[Path, Path] | None = None) -> int:
    """The serial number of the certificate the listener on ``port`` presents now."""
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    if identity is not None:
        context.load_cert_chain(*map(str, identity))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    from cryptography import x509

    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def reissue(certs: Path, ca: CertificateAndKey) -> int:
    """Replace the node's certificate and key on disk; the new serial number."""
    node = issue_certificate(
        "CN=reload-node-2", issuer=ca, dns_names=["localhost"], ip_addresses=["127.0.0.1"]
    )
    (certs / "node.key").write_bytes(encode_pem_key(node.key))
    (certs / "node.crt").write_bytes(encode_pem_certificates(node.certificate))
    return node.certificate.serial_number


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.1)


def test_transport_and_remote_cluster_server_reload_changed_certificates(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    record_secret(PASSWORD)
    ca = generate_ca("CN=Reload CA")
    home = tmp_path / "node"
    certs = home / "config" / "certs"
    node = secured(
        home,
        "reload",
        ca,
        **{
            "remote_cluster_server.enabled": True,
            "remote_cluster.port": 0,
            "xpack.security.remote_cluster_server.ssl.key": str(certs / "node.key"),
            "xpack.security.remote_cluster_server.ssl.certificate": str(certs / "node.crt"),
            "resource.reload.interval.high": "200ms",
        },
    )
    node.start()
    try:
        (only,) = client(node).nodes.info()["nodes"].values()
        transport = int(str(only["transport_address"]).rsplit(":", 1)[1])
        remote_server = int(str(only["remote_cluster_server"]["publish_address"]).rsplit(":", 1)[1])
        # The transport requires a client certificate: present one from the same CA.
        client_cert = issue_certificate("CN=probe", issuer=ca)
        (tmp_path / "probe.crt").write_bytes(encode_pem_certificates(client_cert.certificate))
        (tmp_path / "probe.key").write_bytes(encode_pem_key(client_cert.key))
        probe = (tmp_path / "probe.crt", tmp_path / "probe.key")
        ca_file = certs / "ca.crt"
        before = served_serial(transport, ca_file, probe)
        assert served_serial(remote_server, ca_file) == before

        new = reissue(certs, ca)
        assert new != before
        eventually(lambda: served_serial(transport, ca_file, probe) == new)
        eventually(lambda: served_serial(remote_server, ca_file) == new)
        log = node.log_text()
        for prefix in ("transport", "remote_cluster_server"):
            assert f"reloaded ssl context for [xpack.security.{prefix}.ssl]" in log

        # A broken replacement is refused with a warning; the listeners keep the last good one.
        (certs / "node.crt").write_text("not a certificate\n")
        eventually(lambda: "failed to reload ssl context" in node.log_text())
        assert served_serial(transport, ca_file, probe) == new
        assert served_serial(remote_server, ca_file) == new
    finally:
        node.kill()
