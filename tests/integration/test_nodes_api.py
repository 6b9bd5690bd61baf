"""The APIs that list nodes answer from the node's view of the cluster, in ES's shapes: node
filters and metrics of ``_nodes``, ``_cat/nodes``'s role letters and master column,
``_cluster/state`` sections; and a node without ``remote_cluster_client`` refuses remote work."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.process import NodeProcess
from tests.integration.support import api_error

TIERED = {
    "cluster.name": "tiered",
    "node.name": "hot-0",
    "node.roles": ["data_hot", "data_content", "ingest", "master"],  # no remote_cluster_client
    "node.attr.zone": "z1",
    "cluster.remote.other.seeds": ["127.0.0.1:1"],
    # Other nodes dial the publish address: ES's chain reaches network.publish_host.
    "network.publish_host": "127.0.0.2",
}


@pytest.fixture(scope="module")
def tiered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Elasticsearch]:
    with NodeProcess(tmp_path_factory.mktemp("tiered"), TIERED) as node:
        client = Elasticsearch(node.url, request_timeout=30)
        yield client
        client.close()


def test_node_filters_select_nodes(es: Elasticsearch) -> None:
    everyone = es.nodes.info()
    ((node_id, node),) = everyone["nodes"].items()
    for spec in ("_local", "_master", "_all", node_id, node["name"], "node-*", "127.0.0.1",
                 "master:true", "data:true", "_all,ingest:true"):  # fmt: skip
        got = es.nodes.info(node_id=spec)
        assert list(got["nodes"]) == [node_id], spec
        assert got["_nodes"] == {"total": 1, "successful": 1, "failed": 0}
    for spec in ("master:false", "_all,data:false", "nobody", "zone:*"):
        got = es.nodes.info(node_id=spec)
        assert got["nodes"] == {} and got["_nodes"]["total"] == 0, spec
    status, body = api_error(lambda: es.nodes.info(node_id="master:maybe"))
    assert status == 400 and body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        "Failed to parse value [maybe] as only [true] or [false] are allowed."
    )


def test_nodes_info_metrics_choose_sections(es: Elasticsearch) -> None:
    base = {"name", "transport_address", "host", "ip", "version", "transport_version",
            "index_version", "build_flavor", "build_type", "build_hash", "total_indexing_buffer",
            "roles", "attributes"}  # fmt: skip
    # One path segment made of metric names only is metrics (ES's RestNodesInfoAction).
    (only_os,) = es.nodes.info(metric="os,process")["nodes"].values()
    assert set(only_os) - {"isthmus"} == base | {"os", "process"}
    (http,) = es.nodes.info(node_id="_local", metric="http")["nodes"].values()
    assert set(http) - {"isthmus"} == base | {"http"}
    raw = es.perform_request("GET", "/_nodes/_all/info/transport,unknown")
    (transport,) = raw.body["nodes"].values()
    assert set(transport) - {"isthmus"} == base | {"transport"}  # unknown metrics are ignored
    (full,) = es.nodes.info(node_id="_local")["nodes"].values()
    assert {"settings", "os", "process", "http", "transport", "plugins", "modules"} <= set(full)
    assert list(full)[:5] == ["name", "transport_address", "host", "ip", "version"]


def test_nodes_stats_and_tasks_take_the_filter(es: Elasticsearch) -> None:
    assert len(es.nodes.stats(node_id="_local")["nodes"]) == 1
    nobody = es.nodes.stats(node_id="master:false")
    assert nobody["nodes"] == {} and nobody["_nodes"]["total"] == 0
    # the list call itself is a task of this node: listed unless the filter names another node
    for nodes, listed in (("master:true", 1), ("master:false", 0)):
        answer = es.perform_request("GET", "/_tasks", params={"nodes": nodes})
        assert len(answer.body["nodes"]) == listed, nodes


def test_cluster_state_sections(es: Elasticsearch) -> None:
    info = es.nodes.info(metric="transport")
    ((node_id, node),) = info["nodes"].items()
    state = es.cluster.state(metric="nodes")
    assert set(state) == {"cluster_name", "cluster_uuid", "nodes", "nodes_versions",
                          "nodes_features"}  # fmt: skip
    assert [v["node_id"] for v in state["nodes_versions"]] == [node_id]
    assert state["nodes_versions"][0]["transport_version"] == node["transport_version"]
    entry = state["nodes"][node_id]
    assert entry["name"] == node["name"]
    assert entry["transport_address"] == node["transport_address"]
    assert entry["roles"] == node["roles"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", entry["ephemeral_id"])
    assert entry["ephemeral_id"] != node_id  # a new id each run of the process, as ES's
    master = es.cluster.state(metric="master_node,version")
    assert set(master) == {"cluster_name", "cluster_uuid", "master_node", "version", "state_uuid"}
    assert master["master_node"] == node_id
    assert {"nodes", "metadata", "master_node"} <= set(es.cluster.state(metric="_all"))


def test_a_tiered_node_without_the_client_role(tiered: Elasticsearch) -> None:
    ((node_id, node),) = tiered.nodes.info()["nodes"].items()
    assert node["roles"] == ["data_content", "data_hot", "ingest", "master"]
    assert node["attributes"] == {"zone": "z1"}
    assert re.fullmatch(r"127\.0\.0\.2:\d+", node["transport_address"])
    assert (node["host"], node["ip"]) == ("127.0.0.2", "127.0.0.2")
    assert (
        tiered.cluster.state(metric="nodes")["nodes"][node_id]["transport_address"]
        == (node["transport_address"])
    )
    rows = tiered.cat.nodes(h="name,node.role,master,id", format="json").body
    assert rows == [{"name": "hot-0", "node.role": "hims", "master": "*", "id": node_id[:4]}]
    full = tiered.cat.nodes(h="id", full_id=True, format="json").body
    assert full == [{"id": node_id}]
    assert list(tiered.nodes.info(node_id="zone:z1")["nodes"]) == [node_id]
    assert list(tiered.nodes.info(node_id="data_warm:true")["nodes"]) == []
    assert list(tiered.nodes.info(node_id="data:true")["nodes"]) == [node_id]
    assert tiered.nodes.info(node_id="remote_cluster_client:true")["nodes"] == {}
    reloaded = tiered.nodes.reload_secure_settings(node_id="zone:z1")
    assert list(reloaded["nodes"]) == [node_id] and reloaded["_nodes"]["total"] == 1
    assert tiered.nodes.reload_secure_settings(node_id="_all,master:false")["nodes"] == {}
    health = tiered.cluster.health()
    assert (health["number_of_nodes"], health["number_of_data_nodes"]) == (1, 1)
    assert tiered.cluster.remote_info().body == {}
    # ES's RemoteClusterAware.groupClusterIndices and RemoteClusterService.ensureClientIsEnabled
    for call in (
        lambda: tiered.search(index="other:logs"),
        lambda: tiered.count(index="local,other:logs"),
        lambda: tiered.field_caps(index="other:logs", fields="*"),
        lambda: tiered.open_point_in_time(index="other:logs", keep_alive="1m"),
        lambda: tiered.async_search.submit(index="other:logs"),
        lambda: tiered.indices.resolve_cluster(name="other:*"),
    ):
        status, body = api_error(call)
        assert (status, body["error"]["type"]) == (400, "illegal_argument_exception")
        assert body["error"]["reason"] == (
            "node [hot-0] does not have the remote cluster client role enabled"
        )
    status, body = api_error(
        lambda: tiered.ccr.follow(index="f", remote_cluster="other", leader_index="l")
    )
    assert (status, body["error"]["type"]) == (400, "illegal_argument_exception"), body
    assert body["error"]["reason"] == "node [hot-0] does not have the [remote_cluster_client] role"


def test_single_node_discovery_refuses_initial_master_nodes(tmp_path: Path) -> None:
    from tests.integration.test_startup_errors import assert_one_line, start

    settings: dict[str, object] = {
        "discovery.type": "single-node",
        "cluster.initial_master_nodes": ["n1"],
    }
    rc, err, log = start(tmp_path, settings)
    reason = (
        "setting [cluster.initial_master_nodes] is not allowed when [discovery.type] is set to "
        "[single-node]"
    )
    assert_one_line(rc, err, log, 78, reason)


def test_health_waits_for_nodes(es: Elasticsearch) -> None:
    for spec in ("1", ">=1", "ge(1)", "<=1", "le(1)", ">0", "gt(0)", "<2", "lt(2)"):
        assert es.cluster.health(wait_for_nodes=spec)["number_of_nodes"] == 1, spec

    def health(spec: str, timeout: str = "30s") -> Callable[[], object]:
        return lambda: es.cluster.health(wait_for_nodes=spec, timeout=timeout)

    for spec in ("2", ">1", "lt(1)"):
        status, body = api_error(health(spec, "50ms"))
        assert (status, body["timed_out"]) == (408, True), spec
    for spec, text in (("abc", "abc"), (">=x", "x"), ("ge(3", ""), ("99999999999", "99999999999")):
        status, body = api_error(health(spec))
        assert status == 400 and body["error"]["type"] == "number_format_exception", spec
        assert body["error"]["reason"] == f'For input string: "{text}"'
