"""``POST _nodes/reload_secure_settings`` and ``GET _nodes/stats`` ask every node they name
(issue 20): a three-node cluster with transport TLS and security, each node with its own
password-protected keystore (keystores are per node, as in ES); node-3's password differs.

One cluster serves the module (etcd on unix sockets, lease TTL 2 s).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from elasticsearch import BadRequestError, Elasticsearch

from isthmus.lab.topology import KDF_ITERATIONS
from isthmus.security.certs import (
    encode_pem_certificates,
    encode_pem_key,
    generate_ca,
    issue_certificate,
)
from isthmus.security.keystore import save_keystore
from isthmus.security.keystore_format import new_keystore
from isthmus.settings.secret import Secret
from isthmus.testing.cluster import NodeCluster

ELASTIC_PW = "fanout-elastic-pw"
SHARED_PW = "fanout-keystore-a"
ODD_PW = "fanout-keystore-b"  # node-3's keystore


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    folder = tmp_path_factory.mktemp("fanout")
    ca = generate_ca("CN=fanout-ca")
    certs = folder / "certs"
    certs.mkdir()
    node_cert = issue_certificate(
        "CN=fanout-node", issuer=ca, dns_names=["localhost"], ip_addresses=["127.0.0.1"]
    )
    (certs / "node.crt").write_bytes(encode_pem_certificates(node_cert.certificate))
    (certs / "node.key").write_bytes(encode_pem_key(node_cert.key))
    (certs / "ca.crt").write_bytes(encode_pem_certificates(ca.certificate))
    c = NodeCluster(
        folder,
        3,
        cluster_name="fanout",
        auth=("elastic", ELASTIC_PW),
        settings={
            "xpack.security.enabled": True,
            "xpack.security.transport.ssl.enabled": True,
            "xpack.security.transport.ssl.key": str(certs / "node.key"),
            "xpack.security.transport.ssl.certificate": str(certs / "node.crt"),
            "xpack.security.transport.ssl.certificate_authorities": [str(certs / "ca.crt")],
        },
    )
    for name in c.names:
        node = c[name]
        password = ODD_PW if name == "node-3" else SHARED_PW
        contents = new_keystore().with_string("bootstrap.password", ELASTIC_PW)
        node.config_dir.mkdir(parents=True, exist_ok=True)
        save_keystore(node.config_dir, contents, Secret(password), iterations=KDF_ITERATIONS)
        passphrase = folder / f"{name}.passphrase"
        passphrase.write_text(password + "\n")
        node.env["ISTHMUS_KEYSTORE_PASSPHRASE_FILE"] = str(passphrase)
    c.start(timeout=30)
    yield c
    c.stop()


def client(c: NodeCluster, name: str) -> Elasticsearch:
    return Elasticsearch(c[name].url, basic_auth=("elastic", ELASTIC_PW), request_timeout=20)


def ids(c: NodeCluster) -> dict[str, str]:
    info = client(c, "node-1").nodes.info()["nodes"]
    return {n["name"]: node_id for node_id, n in info.items()}


def test_reload_reaches_every_node_and_names_the_one_whose_password_differs(
    cluster: NodeCluster, record_secret: Callable[[str], None]
) -> None:
    for secret in (ELASTIC_PW, SHARED_PW, ODD_PW):
        record_secret(secret)  # the suite's final scan fails if a log line holds one
    by_name = ids(cluster)
    body: Any = client(cluster, "node-1").nodes.reload_secure_settings(
        secure_settings_password=SHARED_PW
    )
    assert body["_nodes"] == {"total": 3, "successful": 3, "failed": 0}
    assert body["cluster_name"] == "fanout"
    assert set(body["nodes"]) == set(by_name.values())
    assert body["nodes"][by_name["node-3"]] == {
        "name": "node-3",
        "reload_exception": {
            "type": "security_exception",
            "reason": "Provided keystore password was incorrect",
        },
    }
    for name in ("node-1", "node-2"):
        assert body["nodes"][by_name[name]] == {"name": name}
    # node-3's own password, to node-3 only (ES's node filter), asked of another node.
    only = client(cluster, "node-2").nodes.reload_secure_settings(
        node_id="node-3", secure_settings_password=ODD_PW
    )
    assert only["_nodes"] == {"total": 1, "successful": 1, "failed": 0}
    assert only["nodes"] == {by_name["node-3"]: {"name": "node-3"}}
    for name in cluster.names:
        assert SHARED_PW not in cluster[name].log_text()
        assert ODD_PW not in cluster[name].log_text()


def test_stats_come_from_every_node(cluster: NodeCluster) -> None:
    by_name = ids(cluster)
    stats: Any = client(cluster, "node-2").nodes.stats()
    assert stats["_nodes"] == {"total": 3, "successful": 3, "failed": 0}
    assert {n["name"] for n in stats["nodes"].values()} == set(cluster.names)
    # Each node measured itself: three different processes.
    pids = {n["process"]["mem"]["resident_in_bytes"] for n in stats["nodes"].values()}
    assert len(pids) >= 2
    one = client(cluster, "node-1").nodes.stats(node_id="node-3")
    assert list(one["nodes"]) == [by_name["node-3"]]
    assert one["nodes"][by_name["node-3"]]["name"] == "node-3"


def test_info_comes_from_every_node(cluster: NodeCluster) -> None:
    by_name = ids(cluster)
    info: Any = client(cluster, "node-1").nodes.info(node_id="node-3", metric="settings,process")
    assert info["_nodes"] == {"total": 1, "successful": 1, "failed": 0}
    node3 = info["nodes"][by_name["node-3"]]
    # What only node-3 knows of itself: its settings and its process.
    assert node3["settings"]["node"]["name"] == "node-3"
    assert node3["process"]["id"] == cluster["node-3"].proc.pid  # type: ignore[union-attr]
    assert "os" not in node3
    every: Any = client(cluster, "node-2").nodes.info(metric="settings", flat_settings=True)
    assert {n["settings"]["node.name"] for n in every["nodes"].values()} == set(cluster.names)
    # No secret of any node's settings travels (the keystore stays where it is).
    assert ELASTIC_PW not in str(every) and SHARED_PW not in str(every)


def test_a_node_that_does_not_answer_is_a_failure(cluster: NodeCluster) -> None:
    by_name = ids(cluster)
    frozen = cluster["node-2"]
    assert frozen.proc is not None
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        # Still a member (its lease outlives the request): asked, and silent until the timeout.
        body: Any = client(cluster, "node-1").nodes.reload_secure_settings(
            node_id="node-1,node-2", timeout="700ms"
        )
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    assert body["_nodes"]["total"] == 2
    assert body["_nodes"]["successful"] == 1
    assert body["_nodes"]["failed"] == 1
    (failure,) = body["_nodes"]["failures"]
    assert failure["type"] == "failed_node_exception"
    assert failure["reason"] == f"Failed node [{by_name['node-2']}]"
    assert failure["node_id"] == by_name["node-2"]
    assert list(body["nodes"]) == [by_name["node-1"]]


def test_a_malformed_timeout_is_refused(cluster: NodeCluster) -> None:
    with pytest.raises(BadRequestError) as caught:
        client(cluster, "node-1").nodes.reload_secure_settings(timeout="soon")
    assert caught.value.status_code == 400
    assert "failed to parse setting [timeout] with value [soon]" in str(caught.value.body)
