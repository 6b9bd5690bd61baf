"""The certificate-based model between two secured clusters: mutual transport TLS, and each TLS
failure of the troubleshooting guide reproduced and read back from both clusters' log files."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from isthmus.errors import ConnectTransportError
from isthmus.lab.topology import _keystore
from isthmus.security.certs import (
    CertificateAndKey,
    encode_pem_certificates,
    encode_pem_key,
    generate_ca,
    issue_certificate,
)
from isthmus.testing.process import NodeProcess
from isthmus.transport.client import connect
from isthmus.transport.local import LocalNode
from isthmus.wire.handshake import NodeIdentity

PASSWORD = "remote-tls-pw"


def write_identity(home: Path, name: str, ca: CertificateAndKey) -> Path:
    certs = home / "config" / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    node = issue_certificate(
        f"CN={name}", issuer=ca, dns_names=["localhost"], ip_addresses=["127.0.0.1"]
    )
    (certs / "node.crt").write_bytes(encode_pem_certificates(node.certificate))
    (certs / "node.key").write_bytes(encode_pem_key(node.key))
    (certs / "ca.crt").write_bytes(encode_pem_certificates(ca.certificate))
    return certs


def secured(home: Path, cluster: str, ca: CertificateAndKey, **settings: Any) -> NodeProcess:
    certs = write_identity(home, f"{cluster}-node", ca)
    # The keystore the CLI would write (`keystore create`, `keystore add bootstrap.password`;
    # those commands have their own tests), written in-process: two Python startups less.
    _keystore(home / "config", {"bootstrap.password": PASSWORD})
    return NodeProcess(
        home,
        {
            "cluster.name": cluster,
            "node.name": f"{cluster}-node",
            "xpack.security.enabled": True,
            "xpack.security.transport.ssl.enabled": True,
            "xpack.security.transport.ssl.key": str(certs / "node.key"),
            "xpack.security.transport.ssl.certificate": str(certs / "node.crt"),
            "xpack.security.transport.ssl.certificate_authorities": [str(certs / "ca.crt")],
            **settings,
        },
    )


def client(node: NodeProcess) -> Elasticsearch:
    return Elasticsearch(node.url, basic_auth=("elastic", PASSWORD), request_timeout=30)


def transport_port(node: NodeProcess) -> int:
    (only,) = client(node).nodes.info()["nodes"].values()
    return int(str(only["transport_address"]).rsplit(":", 1)[1])


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture
def remote_cluster(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> Iterator[tuple[NodeProcess, CertificateAndKey]]:
    record_secret(PASSWORD)
    ca = generate_ca("CN=Remote Transport CA")
    node = secured(tmp_path / "remote", "remote", ca)
    node.start()
    yield node, ca
    node.kill()


def test_shared_transport_ca_connects(
    tmp_path: Path, remote_cluster: tuple[NodeProcess, CertificateAndKey]
) -> None:
    remote, ca = remote_cluster
    port = transport_port(remote)
    local = secured(tmp_path / "local", "local", ca)
    with local:
        lc = client(local)
        lc.cluster.put_settings(persistent={"cluster.remote.my.seeds": [f"127.0.0.1:{port}"]})
        info = lc.cluster.remote_info()["my"]
        assert info["connected"] is True
        assert info["num_nodes_connected"] == 1
        assert "cluster_credentials" not in info  # certificate model
        assert "DiagnosticTrustManager" not in local.log_text()


def test_untrusted_remote_ca_is_diagnosed_on_both_sides(
    tmp_path: Path, remote_cluster: tuple[NodeProcess, CertificateAndKey]
) -> None:
    remote, _ = remote_cluster
    port = transport_port(remote)
    local_ca = generate_ca("CN=Local Transport CA")
    local = secured(
        tmp_path / "local",
        "local",
        local_ca,
        **{"cluster.remote.my.seeds": [f"127.0.0.1:{port}"]},
    )
    with local:
        wait_for(lambda: "failed to establish trust with server" in local.log_text())
        text = local.log_text()
        ca_path = tmp_path / "local" / "config" / "certs" / "ca.crt"
        line = re.search(
            r"\[WARN \]\[o\.e\.c\.s\.DiagnosticTrustManager\] \[local-node\] (failed to establish "
            r"trust with server at \[127\.0\.0\.1\]; .*)\n(.*)",
            text,
        )
        assert line, text[-4000:]
        message, cause = line.group(1), line.group(2)
        assert "the server provided a certificate with subject name [CN=remote-node]" in message
        assert "the certificate is issued by [CN=Remote Transport CA]" in message
        assert "certificate dates are valid" in message
        assert "the session uses cipher suite [" in message
        assert (
            f"this ssl context ([xpack.security.transport.ssl (with trust configuration: "
            f"PEM-trust{{{ca_path}}})])" in message
        )
        # OpenSSL completes a server's chain from its trust store, so the remote sends its CA
        # too (ES sends what its certificate file holds); the diagnosis names that CA untrusted.
        assert (
            "the certificate is signed by (subject [CN=Remote Transport CA] fingerprint ["
            in message
        )
        assert (
            "the [CN=Remote Transport CA] certificate is not trusted in this ssl context" in message
        )
        assert cause.startswith("sun.security.validator.ValidatorException: PKIX path building")
        # and the sniff strategy reports the failed round (logged just after the TLS line)
        sniff_line = re.compile(
            r"\[WARN \]\[o\.e\.t\.SniffConnectionStrategy\] \[local-node\] fetching nodes from "
            r"external cluster \[my\] failed"
        )
        wait_for(lambda: sniff_line.search(local.log_text()))
        wait_for(lambda: "client did not trust this server's certificate" in remote.log_text())
        assert re.search(
            r"\[WARN \]\[o\.e\.x\.c\.s\.t\.n\.SecurityNetty4Transport\] \[remote-node\] client did "
            rf"not trust this server's certificate, closing connection Netty4TcpChannel"
            rf"\{{localAddress=/127\.0\.0\.1:{port}, remoteAddress=/127\.0\.0\.1:\d+, "
            r"profile=default\}",
            remote.log_text(),
        ), remote.log_text()[-3000:]
        assert client(local).cluster.remote_info()["my"]["connected"] is False


def test_missing_client_certificate_is_reported_on_both_sides(
    remote_cluster: tuple[NodeProcess, CertificateAndKey], caplog: pytest.LogCaptureFixture
) -> None:
    remote, ca = remote_cluster
    port = transport_port(remote)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=encode_pem_certificates(ca.certificate).decode())
    me = LocalNode("local", "uuid", NodeIdentity("cid", "local-node", "127.0.0.1:0", "9.1.0"))

    async def attempt() -> ConnectTransportError:
        with pytest.raises(ConnectTransportError) as err:
            await connect("127.0.0.1", port, identity=me, ssl_context=ctx, timeout=10)
        return err.value

    error = asyncio.run(attempt())
    assert "certificate" in error.reason
    # The connecting side logs what ES's TcpTransport logs when the server rejects it.
    local = [r for r in caplog.records if r.name == "org.elasticsearch.transport.TcpTransport"]
    assert local, caplog.text
    first, second = local[0].getMessage().split("\n")[:2]
    assert first.startswith("exception caught on transport layer [Netty4TcpChannel{")
    assert first.endswith("profile=default}], closing connection")
    assert second == (
        "io.netty.handler.codec.DecoderException: javax.net.ssl.SSLHandshakeException: "
        "Received fatal alert: bad_certificate"
    )
    wait_for(lambda: "Empty client certificate chain" in remote.log_text())
    assert re.search(
        r"\[WARN \]\[o\.e\.t\.TcpTransport\s*\] \[remote-node\] exception caught on transport layer "
        rf"\[Netty4TcpChannel\{{localAddress=/127\.0\.0\.1:{port}, remoteAddress=/127\.0\.0\.1:\d+, "
        r"profile=default\}\], closing connection\n"
        r"io\.netty\.handler\.codec\.DecoderException: javax\.net\.ssl\.SSLHandshakeException: "
        r"Empty client certificate chain",
        remote.log_text(),
    ), remote.log_text()[-3000:]


def test_ccs_authorized_by_the_remote_roles_of_the_same_name(
    tmp_path: Path,
    remote_cluster: tuple[NodeProcess, CertificateAndKey],
    record_secret: Callable[[str], None],
) -> None:
    record_secret("alice-pw-1")
    remote, ca = remote_cluster
    port = transport_port(remote)
    local = secured(tmp_path / "local", "local", ca)
    with local:
        lc, rc = client(local), client(remote)
        for es in (lc, rc):
            es.security.put_user(username="alice", password="alice-pw-1", roles=["reader"])
        # Locally the role grants nothing on the remote indices; the remote's "reader" decides.
        lc.security.put_role(name="reader", cluster=[], indices=[])
        rc.security.put_role(
            name="reader",
            indices=[{"names": ["logs*"], "privileges": ["read", "read_cross_cluster"]}],
        )
        rc.indices.create(index="logs-1")
        rc.indices.create(index="secret")
        rc.index(index="logs-1", id="1", document={"m": "hello"}, refresh=True)
        rc.index(index="secret", id="1", document={"m": "hidden"}, refresh=True)
        lc.cluster.put_settings(persistent={"cluster.remote.my.seeds": [f"127.0.0.1:{port}"]})
        alice = Elasticsearch(local.url, basic_auth=("alice", "alice-pw-1"))
        found = alice.search(index="my:logs-*").body
        assert [h["_index"] for h in found["hits"]["hits"]] == ["my:logs-1"]
        # wildcards narrow to what the remote role grants
        assert {h["_index"] for h in alice.search(index="my:*").body["hits"]["hits"]} == {
            "my:logs-1"
        }
        # an explicit index the remote role does not grant: skipped (skip_unavailable: true)...
        denied = alice.search(index="my:secret").body
        failure = denied["_clusters"]["details"]["my"]["failures"][0]["reason"]
        assert denied["_clusters"]["details"]["my"]["status"] == "skipped"
        assert failure == {
            "type": "security_exception",
            "reason": "action [indices:data/read/search] is unauthorized for user [alice] with "
            "effective roles [reader] on indices [secret], this action is granted by the index "
            "privileges [read,all]",
        }
        # Shard by shard, the remote role also needs read_cross_cluster (search_shards).
        assert (
            alice.search(index="my:logs-1", ccs_minimize_roundtrips=False)["hits"]["total"]["value"]
            == 1
        )
        rc.security.put_role(name="reader", indices=[{"names": ["logs*"], "privileges": ["read"]}])
        assert alice.search(index="my:logs-1")["hits"]["total"]["value"] == 1
        no_ccs = alice.search(index="my:logs-1", ccs_minimize_roundtrips=False).body
        reason = no_ccs["_clusters"]["details"]["my"]["failures"][0]["reason"]["reason"]
        assert reason.startswith(
            "action [indices:admin/search/search_shards] is unauthorized for user [alice] with "
            "effective roles [reader] on indices [logs-1], this action is granted by the index "
            "privileges ["
        )
        assert "read_cross_cluster" in reason
        # ... and the whole search fails with the remote's 403 when skip_unavailable is false
        lc.cluster.put_settings(persistent={"cluster.remote.my.skip_unavailable": False})
        from elasticsearch import AuthorizationException

        with pytest.raises(AuthorizationException) as err:
            alice.search(index="my:secret")
        assert err.value.body["error"]["type"] == "security_exception"


def test_identity_header_needs_a_verified_client_certificate(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    """Without mutual TLS anyone could claim to be anyone: the header is then ignored."""
    record_secret(PASSWORD)
    from isthmus.errors import AuthenticationError
    from isthmus.security.transport_filter import TransportIdentity

    ca = generate_ca("CN=Plain CA")
    node = secured(
        tmp_path / "plain", "plain", ca, **{"xpack.security.transport.ssl.enabled": False}
    )
    with node:
        port = transport_port(node)
        client(node).indices.create(index="secret")
        me = LocalNode("evil", "uuid", NodeIdentity("eid", "evil", "127.0.0.1:0", "9.1.0"))

        async def impersonate() -> None:
            channel = await connect("127.0.0.1", port, identity=me, timeout=10)
            try:
                with pytest.raises(AuthenticationError) as err:
                    await channel.request(
                        "indices:data/read/search",
                        {"indices": ["secret"], "body": {}, "params": {}},
                        TransportIdentity("nobody", ("superuser",)).header(),
                    )
                assert err.value.reason == (
                    "missing authentication credentials for action [indices:data/read/search]"
                )
            finally:
                channel.close()

        asyncio.run(impersonate())
