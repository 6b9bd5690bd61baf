"""What a cluster of several nodes shares through etcd: users, roles and API keys (ES's
``.security`` index) and the dynamic cluster settings (issue 20).

One three-node cluster with security on (transport TLS, a remote cluster server on every node)
and one single-node cluster beside it, both under one test CA, serve the module; the tests run in
order and the last one restarts a node. Every check reads right after the write through another
node: a change is answered once every node applied it.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError, AuthenticationException, Elasticsearch, ElasticsearchWarning

from isthmus.lab.topology import _keystore
from isthmus.testing.cluster import NodeCluster
from isthmus.testing.process import NodeProcess

PASSWORD = "multinode-elastic-pw"
ALICE = ("alice", "alice-password-1")


@dataclass
class Clusters:
    three: NodeCluster
    solo: NodeProcess

    def es(self, name: str, auth: tuple[str, str] = ("elastic", PASSWORD)) -> Elasticsearch:
        node = self.solo if name == "solo" else self.three[name]
        return Elasticsearch(node.url, basic_auth=auth, request_timeout=15)


def _tls(folder: Path) -> dict[str, Any]:
    from isthmus.security.certs import (
        encode_pem_certificates,
        encode_pem_key,
        generate_ca,
        issue_certificate,
    )

    folder.mkdir(parents=True, exist_ok=True)
    ca = generate_ca("CN=Isthmus multinode test CA")
    cert = issue_certificate(
        "CN=node", issuer=ca, dns_names=["localhost"], ip_addresses=["127.0.0.1"]
    )
    (folder / "ca.crt").write_bytes(encode_pem_certificates(ca.certificate))
    (folder / "node.crt").write_bytes(encode_pem_certificates(cert.certificate))
    (folder / "node.key").write_bytes(encode_pem_key(cert.key))
    return {
        "xpack.security.enabled": True,
        "xpack.security.transport.ssl.enabled": True,
        "xpack.security.transport.ssl.key": str(folder / "node.key"),
        "xpack.security.transport.ssl.certificate": str(folder / "node.crt"),
        "xpack.security.transport.ssl.certificate_authorities": [str(folder / "ca.crt")],
    }


@pytest.fixture(scope="module")
def clusters(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[Clusters]:
    root = tmp_path_factory.mktemp("shared-state")
    tls = _tls(root / "certs")
    record_secret(PASSWORD)
    record_secret(ALICE[1])
    three = NodeCluster(
        root / "three",
        3,
        cluster_name="three",
        auth=("elastic", PASSWORD),
        settings={
            **tls,
            "remote_cluster_server.enabled": True,
            "remote_cluster.host": "127.0.0.1",
            "remote_cluster.port": 0,
            "xpack.security.remote_cluster_server.ssl.key": tls["xpack.security.transport.ssl.key"],
            "xpack.security.remote_cluster_server.ssl.certificate": tls[
                "xpack.security.transport.ssl.certificate"
            ],
        },
    )
    solo = NodeProcess(
        root / "solo",
        {
            "cluster.name": "solo",
            "node.name": "solo-1",
            **tls,
            "xpack.security.remote_cluster_client.ssl.certificate_authorities": tls[
                "xpack.security.transport.ssl.certificate_authorities"
            ],
        },
    )
    for node in [*three.nodes.values(), solo]:
        _keystore(node.config_dir, {"bootstrap.password": PASSWORD})
    try:
        solo.launch()
        three.start(timeout=30)
        solo.wait_started()
        yield Clusters(three, solo)
    finally:
        three.stop()
        solo.stop()


def _wait(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (ApiError, AssertionError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_user_and_role_created_through_one_node_work_on_every_node(clusters: Clusters) -> None:
    es1 = clusters.es("node-1")
    es1.security.put_role(
        name="monitor_logs",
        cluster=["monitor"],
        indices=[{"names": ["logs-*"], "privileges": ["read"]}],
    )
    es1.security.put_user(username=ALICE[0], password=ALICE[1], roles=["monitor_logs"])
    for name in ("node-2", "node-3"):
        alice = clusters.es(name, ALICE)
        me = alice.security.authenticate()
        assert me["username"] == "alice" and me["roles"] == ["monitor_logs"]
        assert alice.cluster.health()["number_of_nodes"] == 3  # monitor: allowed
        with pytest.raises(ApiError) as denied:  # manage_security: not granted
            alice.security.put_user(username="mallory", password="mallory-pw-1", roles=[])
        assert denied.value.meta.status == 403
        assert "is unauthorized for user [alice]" in str(denied.value.body)
        with pytest.raises(AuthenticationException):
            clusters.es(name, (ALICE[0], "not-her-password")).security.authenticate()
    # A password changed through node-3 is the one every node checks.
    clusters.es("node-3").security.change_password(username="alice", password="alice-password-2")
    for name in clusters.three.names:
        with pytest.raises(AuthenticationException):
            clusters.es(name, ALICE).security.authenticate()
        assert clusters.es(name, ("alice", "alice-password-2")).security.authenticate()


def test_api_key_created_on_one_node_invalidated_through_another(
    clusters: Clusters, record_secret: Callable[[str], None]
) -> None:
    key = clusters.es("node-2").security.create_api_key(name="shared-key")
    record_secret(key["api_key"])
    record_secret(key["encoded"])
    for name in ("node-1", "node-3"):
        es = Elasticsearch(clusters.three[name].url, api_key=key["encoded"], request_timeout=15)
        me = es.security.authenticate()
        assert me["api_key"] == {"id": key["id"], "name": "shared-key"}
    invalidated = clusters.es("node-3").security.invalidate_api_key(ids=[key["id"]])
    assert invalidated["invalidated_api_keys"] == [key["id"]]
    for name in clusters.three.names:
        es = Elasticsearch(clusters.three[name].url, api_key=key["encoded"], request_timeout=15)
        with pytest.raises(AuthenticationException):
            es.security.authenticate()
        listed = clusters.es(name).security.get_api_key(id=key["id"])["api_keys"]
        assert listed[0]["invalidated"] is True


def test_cross_cluster_key_authenticates_on_every_gateway(
    clusters: Clusters, record_secret: Callable[[str], None]
) -> None:
    """solo, in the API-key model, sniffs the three-node cluster: each gateway's remote cluster
    server authenticates the key created through node-3."""
    key = clusters.es("node-3").perform_request(
        "POST",
        "/_security/cross_cluster/api_key",
        headers={"content-type": "application/json", "accept": "application/json"},
        body={"name": "solo-key", "access": {"search": [{"names": ["*"]}]}},
    )
    record_secret(key["api_key"])
    record_secret(key["encoded"])
    _keystore(clusters.solo.config_dir, {"cluster.remote.three.credentials": key["encoded"]})
    solo = clusters.es("solo")
    solo.nodes.reload_secure_settings()
    node = next(iter(clusters.es("node-1").nodes.info(node_id="_local")["nodes"].values()))
    seed = node["remote_cluster_server"]["publish_address"]
    solo.cluster.put_settings(persistent={"cluster.remote.three.seeds": [seed]})
    info = _wait(
        lambda: (
            solo.cluster.remote_info()["three"]["num_nodes_connected"] == 3
            and solo.cluster.remote_info()["three"]
        )
    )
    assert info["connected"] is True and info["num_nodes_connected"] == 3, info
    assert info["cluster_credentials"] == "::es_redacted::"


def test_cluster_settings_through_one_node_apply_on_every_node(clusters: Clusters) -> None:
    address = next(iter(clusters.es("solo").nodes.info()["nodes"].values()))["transport_address"]
    answer = clusters.es("node-1").cluster.put_settings(
        persistent={"cluster.remote.solo.seeds": [address]}
    )
    assert answer["acknowledged"] is True
    for name in ("node-2", "node-3"):
        es = clusters.es(name)
        settings = es.cluster.get_settings(flat_settings=True)["persistent"]
        assert settings["cluster.remote.solo.seeds"] == [address]

        def connected(es: Elasticsearch = es) -> bool:
            return bool(es.cluster.remote_info()["solo"]["connected"])

        assert _wait(connected), es.cluster.remote_info()


def test_concurrent_settings_updates_through_two_nodes_both_survive(clusters: Clusters) -> None:
    def put(name: str, key: str, value: str) -> None:
        clusters.es(name).cluster.put_settings(persistent={key: value})

    keys = ("cluster.remote.solo.skip_unavailable", "cluster.remote.solo.transport.compress")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for round_ in range(6):
            flag = "true" if round_ % 2 else "false"
            futures = [
                pool.submit(put, "node-1", keys[0], flag),
                pool.submit(put, "node-2", keys[1], flag),
                pool.submit(put, "node-3", "search.default_search_timeout", f"{round_ + 1}s"),
            ]
            for future in futures:
                future.result()
            seen = clusters.es("node-3").cluster.get_settings(flat_settings=True)["persistent"]
            assert seen[keys[0]] == flag and seen[keys[1]] == flag, seen
            assert seen["search.default_search_timeout"] == f"{round_ + 1}s"
            assert "cluster.remote.solo.seeds" in seen  # the earlier test's key stays


def test_restarted_node_sees_current_users_and_settings(clusters: Clusters) -> None:
    three = clusters.three
    node3 = three["node-3"]
    node3.stop()
    three.wait_formed(2, timeout=15)
    clusters.es("node-1").security.put_user(username="bob", password="bob-password-1", roles=[])
    with pytest.warns(ElasticsearchWarning, match="transient settings removal"):
        clusters.es("node-2").cluster.put_settings(
            transient={"search.default_search_timeout": "42s"}
        )
    node3.start(timeout=30)
    three.wait_formed(3, timeout=15)
    es3 = clusters.es("node-3")
    bob = _wait(lambda: clusters.es("node-3", ("bob", "bob-password-1")).security.authenticate())
    assert bob["username"] == "bob"
    flat = _wait(lambda: (f := es3.cluster.get_settings(flat_settings=True))["transient"] and f)
    assert flat["transient"] == {"search.default_search_timeout": "42s"}
    assert flat["persistent"]["cluster.remote.solo.seeds"]
    assert clusters.es("node-3", ("alice", "alice-password-2")).security.authenticate()


def test_whole_cluster_restart_keeps_security_and_persistent_drops_transient(
    clusters: Clusters,
) -> None:
    """As in ES: users and persistent settings survive a restart of every node, transient
    settings do not."""
    three = clusters.three
    three.stop()
    three.start(timeout=30)
    for name in three.names:
        assert clusters.es(name, ("alice", "alice-password-2")).security.authenticate()
        flat = clusters.es(name).cluster.get_settings(flat_settings=True)
        assert flat["transient"] == {}
        assert flat["persistent"]["search.default_search_timeout"] == "6s"


def test_reset_password_tool_refuses_a_node_of_several(clusters: Clusters) -> None:
    """The tool writes one node's store: in a multi-node cluster it would change one copy only."""
    from click.testing import CliRunner

    from isthmus.cli.main import cli

    config = clusters.three["node-1"].config_dir
    result = CliRunner().invoke(
        cli, ["reset-password", "-u", "alice", "-b", "--config-dir", str(config)]
    )
    assert result.exit_code == 78
    assert "PUT /_security/user/alice/_password" in result.output
