"""A cluster of several nodes, coordinated by etcd: formation, node APIs, sniff gateways, the
master's graceful hand-over, a node's return, and failover after a SIGKILL (issue 20).

One four-node cluster (three master-eligible nodes, one data-only node; two of them carry the
attribute ``gateway: true``) serves the module; the tests run in order and the last ones stop
and kill nodes. Lease TTL 2 s, etcd on unix sockets (isthmus.testing.cluster).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.cluster import NodeCluster
from isthmus.testing.process import NodeProcess

DATA_ONLY = ["data", "ingest", "remote_cluster_client"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    c = NodeCluster(
        tmp_path_factory.mktemp("multinode"),
        4,
        roles={"node-4": DATA_ONLY},
        attributes={"node-1": {"gateway": "true"}, "node-4": {"gateway": "true"}},
    )
    c.start(timeout=30)
    yield c
    c.stop()


def client(node: NodeProcess) -> Elasticsearch:
    return Elasticsearch(node.url, request_timeout=10)


def test_every_node_lists_every_node_and_the_same_master(cluster: NodeCluster) -> None:
    masters = set()
    for name in cluster.names:
        es = client(cluster[name])
        rows = es.cat.nodes(format="json", h="name,master,node.role")
        assert sorted(r["name"] for r in rows) == cluster.names
        roles = {r["name"]: r["node.role"] for r in rows}
        assert roles["node-4"] == "dir"  # data, ingest, remote_cluster_client: no master
        assert roles["node-1"] == "dimr"
        (master,) = [r["name"] for r in rows if r["master"] == "*"]
        assert master != "node-4"  # never the node without the master role
        masters.add(master)
        health = es.cluster.health()
        assert health["number_of_nodes"] == 4
        assert health["number_of_data_nodes"] == 4
        state = es.cluster.state(metric="nodes,master_node")
        assert len(state["nodes"]) == 4
        assert state["nodes"][state["master_node"]]["name"] == master
        info = es.nodes.info(node_id="gateway:true")
        assert sorted(n["name"] for n in info["nodes"].values()) == ["node-1", "node-4"]
    assert len(masters) == 1
    # ES's applier lines name the nodes that joined.
    log = cluster["node-4"].log_text()
    assert "ClusterApplierService" in log and "added {{node-" in log
    assert "master node changed {previous [" in log
    assert "HTTP Request" not in log  # the etcd client's HTTP chatter stays out of the log


def _connected_gateways(tmp_path: Path, seed: str, settings: dict[str, object]) -> dict:  # type: ignore[type-arg]
    """``_remote/info`` of alias ``multi`` from a one-node cluster sniffing ``seed``, once its
    gateway connections stop growing."""
    local = NodeProcess(
        tmp_path / "local",
        {"cluster.name": "local", "cluster.remote.multi.seeds": [seed], **settings},
    )
    local.start()
    try:
        es = client(local)
        deadline = time.monotonic() + 15
        info: dict = {}  # type: ignore[type-arg]
        stable = 0
        while time.monotonic() < deadline and stable < 5:
            now = es.cluster.remote_info()["multi"]
            stable = stable + 1 if now == info and now["connected"] else 0
            info = now
            time.sleep(0.1)
        return info
    finally:
        local.stop()


def test_sniff_mode_connects_to_the_gateways_of_the_whole_cluster(
    cluster: NodeCluster, tmp_path: Path
) -> None:
    info = _connected_gateways(tmp_path, cluster["node-2"].transport_address(), {})
    assert info["connected"] is True
    # Every node may be a gateway (none is a dedicated master), up to ES's default of three
    # connections (cluster.remote.<alias>.node_connections).
    assert info["num_nodes_connected"] == 3


def test_sniff_mode_honours_the_gateway_attribute(cluster: NodeCluster, tmp_path: Path) -> None:
    info = _connected_gateways(
        tmp_path, cluster["node-3"].transport_address(), {"cluster.remote.node.attr": "gateway"}
    )
    assert info["connected"] is True
    assert info["num_nodes_connected"] == 2  # node-1 and node-4 only


def test_a_master_that_stops_hands_over_at_once(cluster: NodeCluster) -> None:
    master = cluster.master_seen_by(cluster["node-4"])
    assert master is not None
    started = time.monotonic()
    cluster[master].stop()
    successor = cluster.wait_formed(3, without=master, timeout=10)
    took = time.monotonic() - started
    assert successor != master
    # The lease is revoked on the way out: no wait for its TTL (2 s).
    assert took < 1.8, took
    stopped = cluster[master]
    assert "closed" in stopped.log_text()
    cluster.stopped = master  # type: ignore[attr-defined]


def test_a_stopped_node_rejoins(cluster: NodeCluster) -> None:
    name = cluster.stopped  # type: ignore[attr-defined]
    node = cluster[name]
    node.launch()
    node.wait_started(20)
    cluster.wait_formed(4, timeout=20)
    rows = client(node).cat.nodes(format="json", h="name")
    assert sorted(r["name"] for r in rows) == cluster.names


def test_a_killed_master_is_replaced_within_the_lease_ttl(cluster: NodeCluster) -> None:
    master = cluster.master_seen_by(cluster["node-4"])
    assert master is not None
    started = time.monotonic()
    cluster[master].kill()
    successor = cluster.wait_formed(3, without=master, timeout=15)
    took = time.monotonic() - started
    assert successor != master
    # The dead master's lease (TTL 2 s) expires; the next candidate wins at once.
    assert took < 2 + 2.5, took
    log = cluster["node-4"].log_text()
    assert f"removed {{{{{master}}}" in log


def test_a_node_whose_etcd_member_dies_stops_and_says_why(cluster: NodeCluster) -> None:
    name = next(n for n in cluster.names[:3] if cluster[n].proc is not None)
    node = cluster[name]
    assert node.proc is not None
    children = Path(f"/proc/{node.proc.pid}/task/{node.proc.pid}/children").read_text().split()
    (member,) = [int(c) for c in children]
    os.kill(member, signal.SIGKILL)
    assert node.proc.wait(15) == 1  # a node that stopped itself exits non-zero
    log = node.log_text()
    assert "[ERROR]" in log and "the etcd member of this node exited with status" in log
    assert "etcd.log" in log


def test_a_node_alone_in_a_cluster_that_has_not_formed_names_no_master(tmp_path: Path) -> None:
    lone = NodeCluster(tmp_path, 3).nodes["node-1"]  # its two peers never start: no quorum
    lone.start()
    try:
        rows = client(lone).cat.nodes(format="json", h="name,master")
        assert rows == [{"name": "node-1", "master": "-"}]
        state = client(lone).cluster.state(metric="master_node")
        assert state.get("master_node") is None
    finally:
        lone.stop()
