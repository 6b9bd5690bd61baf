"""A secured cluster of three nodes over TCP, as on several machines: the nodes find each other's
etcd members through ``discovery.seed_hosts`` (the transport's peer-info action) and the members
speak TLS with the transport's certificates, refusing anyone without a client certificate from
the cluster's CA (issue 20)."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import AuthenticationException, Elasticsearch

from isthmus.lab.topology import _keystore
from isthmus.security.certs import generate_ca
from isthmus.testing.process import NodeProcess, start_side_by_side
from tests.integration.test_remote_tls import PASSWORD, write_identity

NAMES = ["tcp-1", "tcp-2", "tcp-3"]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NodeProcess]]:
    root = tmp_path_factory.mktemp("multinode-tcp")
    ca = generate_ca("CN=multinode test CA")
    ports = free_ports(9)
    transport, client, peer = ports[0:3], ports[3:6], ports[6:9]
    out = []
    for i, name in enumerate(NAMES):
        home = root / name
        certs = write_identity(home, name, ca)
        _keystore(home / "config", {"bootstrap.password": PASSWORD})
        out.append(
            NodeProcess(
                home,
                {
                    "cluster.name": "tcp",
                    "node.name": name,
                    "transport.port": transport[i],
                    "discovery.seed_hosts": [f"127.0.0.1:{p}" for p in transport],
                    "cluster.initial_master_nodes": NAMES,
                    "isthmus.coordination.etcd.client_port": client[i],
                    "isthmus.coordination.etcd.peer_port": peer[i],
                    "isthmus.coordination.etcd.lease_ttl": "2s",
                    "isthmus.coordination.etcd.heartbeat_interval": "25ms",
                    "isthmus.coordination.etcd.election_timeout": "250ms",
                    "xpack.security.enabled": True,
                    "xpack.security.transport.ssl.enabled": True,
                    "xpack.security.transport.ssl.key": str(certs / "node.key"),
                    "xpack.security.transport.ssl.certificate": str(certs / "node.crt"),
                    "xpack.security.transport.ssl.certificate_authorities": [str(certs / "ca.crt")],
                },
            )
        )
    out[0].client_port = client[0]  # type: ignore[attr-defined]
    out[0].certs = home.parent / NAMES[0] / "config" / "certs"  # type: ignore[attr-defined]
    start_side_by_side(*out, timeout=30)
    yield out
    for node in out:
        node.request_stop()
    for node in out:
        node.stop()


def es(node: NodeProcess) -> Elasticsearch:
    return Elasticsearch(node.url, basic_auth=("elastic", PASSWORD), request_timeout=10)


def test_nodes_on_tcp_find_each_other_through_the_seed_hosts(nodes: list[NodeProcess]) -> None:
    deadline = time.monotonic() + 20
    views: list[list[str]] = []
    while time.monotonic() < deadline:
        try:
            views = [
                sorted(
                    f"{r['name']}{r['master']}"
                    for r in es(n).cat.nodes(format="json", h="name,master")
                )
                for n in nodes
            ]
        except AuthenticationException:  # ES's 401 until the node has the cluster's users
            time.sleep(0.1)
            continue
        masters = {next((v for v in view if v.endswith("*")), None) for view in views}
        if all(len(v) == 3 for v in views) and len(masters) == 1 and None not in masters:
            break
        time.sleep(0.1)
    assert all(len(v) == 3 for v in views), views
    assert len({tuple(v) for v in views}) == 1, views


def test_the_members_refuse_plain_http_and_clients_without_a_certificate(
    nodes: list[NodeProcess],
) -> None:
    port = nodes[0].client_port  # type: ignore[attr-defined]
    certs: Path = nodes[0].certs  # type: ignore[attr-defined]
    body = b'{"key": "L2lzdGhtdXMv", "range_end": "L2lzdGhtdXMw"}'  # everything under /isthmus/
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v3/kv/range", body, timeout=5).read()
    no_client_cert = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError, ssl.SSLError)):
        urllib.request.urlopen(
            f"https://127.0.0.1:{port}/v3/kv/range", body, timeout=5, context=no_client_cert
        ).read()
    # With the cluster's certificate the same request is answered: the refusals above are TLS's.
    with_cert = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    with_cert.load_cert_chain(certs / "node.crt", certs / "node.key")
    with urllib.request.urlopen(
        f"https://127.0.0.1:{port}/v3/kv/range", body, timeout=5, context=with_cert
    ) as resp:
        assert b'"kvs"' in resp.read()
    key_file = nodes[0].home / "data" / "_etcd_tls" / "node.key"
    assert key_file.stat().st_mode & 0o077 == 0
