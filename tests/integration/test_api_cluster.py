"""Cluster and node APIs against a real node: ``GET /``, ping, health, cluster settings (and their
survival across a restart), node info/stats, and the ``_cat`` text and JSON tables.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch, ElasticsearchWarning

from isthmus.testing.process import NodeProcess
from tests.integration.support import api_error, unique_index


@pytest.fixture
def idx(request: pytest.FixtureRequest) -> str:
    return unique_index("cl-", request)


@pytest.fixture
def clean_cluster_settings(es: Elasticsearch) -> Iterator[None]:
    """Cluster settings are node-wide: put back what a test changed on the shared node."""
    yield
    es.cluster.put_settings(
        persistent={"search.max_buckets": None, "action.auto_create_index": None}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ElasticsearchWarning)  # transient is deprecated
        es.cluster.put_settings(transient={"search.max_buckets": None})


def table(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


# --- root, ping ---------------------------------------------------------------------------------


def test_info(es: Elasticsearch, node: NodeProcess) -> None:
    info = es.info()
    assert list(info.body) == ["name", "cluster_name", "cluster_uuid", "version", "tagline"]
    assert info["name"] == "node-0"
    assert info["cluster_name"] == "test-cluster"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", info["cluster_uuid"])
    assert info["tagline"] == "You Know, for Search"
    version = info["version"]
    assert list(version) == [
        "number",
        "build_flavor",
        "build_type",
        "build_hash",
        "build_date",
        "build_snapshot",
        "lucene_version",
        "minimum_wire_compatibility_version",
        "minimum_index_compatibility_version",
    ]
    assert re.fullmatch(r"(8|9)\.\d+\.\d+", version["number"])
    assert version["build_flavor"] == "default"
    assert version["build_snapshot"] is False


def test_ping(es: Elasticsearch, node: NodeProcess) -> None:
    assert es.ping() is True
    dead = Elasticsearch("http://127.0.0.1:9", request_timeout=1, max_retries=0)
    try:
        assert dead.ping() is False
    finally:
        dead.close()


# --- health -------------------------------------------------------------------------------------


HEALTH_KEYS = [
    "cluster_name",
    "status",
    "timed_out",
    "number_of_nodes",
    "number_of_data_nodes",
    "active_primary_shards",
    "active_shards",
    "relocating_shards",
    "initializing_shards",
    "unassigned_shards",
    "unassigned_primary_shards",
    "delayed_unassigned_shards",
    "number_of_pending_tasks",
    "number_of_in_flight_fetch",
    "task_max_waiting_in_queue_millis",
    "active_shards_percent_as_number",
]


def test_health_of_index_with_unassigned_replica_is_yellow(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, settings={"number_of_shards": 2})
    health = es.cluster.health(index=idx)
    assert list(health.body) == HEALTH_KEYS
    assert health["cluster_name"] == "test-cluster"
    assert health["status"] == "yellow"
    assert health["timed_out"] is False
    assert (health["number_of_nodes"], health["number_of_data_nodes"]) == (1, 1)
    assert health["active_primary_shards"] == 2
    assert health["active_shards"] == 2
    assert health["unassigned_shards"] == 2
    assert health["unassigned_primary_shards"] == 0
    assert health["active_shards_percent_as_number"] == 50.0


def test_health_level_indices(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, settings={"number_of_replicas": 0})
    health = es.cluster.health(index=idx, level="indices")
    assert health["indices"][idx] == {
        "status": "green",
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "active_primary_shards": 1,
        "active_shards": 1,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "unassigned_primary_shards": 0,
    }


def test_health_wait_for_status(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    ok = es.cluster.health(index=idx, wait_for_status="yellow", timeout="5s")
    assert ok.meta.status == 200
    assert ok["timed_out"] is False
    # green can never happen on one node with a replica: ES answers 408 with timed_out=true
    late = es.options(ignore_status=408).cluster.health(
        index=idx, wait_for_status="green", timeout="200ms"
    )
    assert late.meta.status == 408
    assert late["timed_out"] is True
    assert late["status"] == "yellow"


def test_health_green_without_replicas(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, settings={"number_of_replicas": 0})
    health = es.cluster.health(index=idx, wait_for_status="green", timeout="5s")
    assert health["status"] == "green"
    assert health["active_shards_percent_as_number"] == 100.0


def test_health_of_missing_index_times_out_red(es: Elasticsearch, idx: str) -> None:
    resp = es.options(ignore_status=408).cluster.health(index=idx, timeout="100ms")
    assert resp.meta.status == 408
    assert resp["status"] == "red"
    assert resp["timed_out"] is True


# --- cluster settings ---------------------------------------------------------------------------


@pytest.mark.usefixtures("clean_cluster_settings")
def test_put_and_get_persistent_settings(es: Elasticsearch) -> None:
    resp = es.cluster.put_settings(persistent={"search.max_buckets": 20000})
    assert resp.body == {
        "acknowledged": True,
        "persistent": {"search": {"max_buckets": "20000"}},
        "transient": {},
    }
    assert list(resp.body) == ["acknowledged", "persistent", "transient"]
    got = es.cluster.get_settings()
    assert got.body == {"persistent": {"search": {"max_buckets": "20000"}}, "transient": {}}
    flat = es.cluster.get_settings(flat_settings=True)
    assert flat.body == {"persistent": {"search.max_buckets": "20000"}, "transient": {}}


@pytest.mark.usefixtures("clean_cluster_settings")
def test_nested_settings_form_and_null_removal(es: Elasticsearch) -> None:
    es.cluster.put_settings(
        persistent={"search": {"max_buckets": 30000}, "action": {"auto_create_index": "false"}}
    )
    got = es.cluster.get_settings(flat_settings=True)["persistent"]
    assert got == {"search.max_buckets": "30000", "action.auto_create_index": "false"}
    removed = es.cluster.put_settings(persistent={"search.max_buckets": None})
    assert removed["persistent"] == {}
    got = es.cluster.get_settings(flat_settings=True)["persistent"]
    assert got == {"action.auto_create_index": "false"}


@pytest.mark.usefixtures("clean_cluster_settings")
def test_transient_settings_are_applied(es: Elasticsearch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ElasticsearchWarning)
        resp = es.cluster.put_settings(transient={"search.max_buckets": 12345})
    assert resp["transient"] == {"search": {"max_buckets": "12345"}}
    assert resp["persistent"] == {}
    got = es.cluster.get_settings(flat_settings=True)
    assert got["transient"] == {"search.max_buckets": "12345"}


@pytest.mark.usefixtures("clean_cluster_settings")
def test_transient_settings_answer_with_deprecation_warning(es: Elasticsearch) -> None:
    # RestClusterUpdateSettingsAction logs "[transient settings removal] ..." as a deprecation,
    # which reaches the client as a Warning header.
    with pytest.warns(ElasticsearchWarning, match=r"\[transient settings removal\]"):
        es.cluster.put_settings(transient={"search.max_buckets": 12346})


def test_unknown_cluster_setting_is_rejected(es: Elasticsearch) -> None:
    status, body = api_error(lambda: es.cluster.put_settings(persistent={"foo.bar": 1}))
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == "persistent setting [foo.bar], not recognized"
    assert body["error"]["root_cause"] == [
        {
            "type": "illegal_argument_exception",
            "reason": "persistent setting [foo.bar], not recognized",
        }
    ]
    assert "foo" not in es.cluster.get_settings()["persistent"]


def test_invalid_cluster_setting_value_is_rejected(es: Elasticsearch) -> None:
    status, body = api_error(
        lambda: es.cluster.put_settings(persistent={"search.max_buckets": "lots"})
    )
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        "Failed to parse value [lots] for setting [search.max_buckets]"
    )


def test_cluster_settings_include_defaults(es: Elasticsearch) -> None:
    resp = es.cluster.get_settings(include_defaults=True, flat_settings=True)
    assert list(resp.body) == ["persistent", "transient", "defaults"]
    assert resp["defaults"]["search.max_buckets"] == "65536"
    assert resp["defaults"]["cluster.name"] == "test-cluster"


def test_persistent_settings_survive_restart(fresh_node: NodeProcess) -> None:
    fresh_node.start()
    client = Elasticsearch(fresh_node.url, request_timeout=30)
    try:
        client.cluster.put_settings(persistent={"search.max_buckets": 4242})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ElasticsearchWarning)  # transient is deprecated
            client.cluster.put_settings(transient={"action.auto_create_index": "false"})
    finally:
        client.close()
    assert fresh_node.stop() == 0

    fresh_node.start()
    client = Elasticsearch(fresh_node.url, request_timeout=30)
    try:
        got = client.cluster.get_settings(flat_settings=True)
        assert got.body == {"persistent": {"search.max_buckets": "4242"}, "transient": {}}
    finally:
        client.close()


# --- nodes --------------------------------------------------------------------------------------


def test_nodes_info(es: Elasticsearch) -> None:
    info = es.nodes.info()
    assert info["_nodes"] == {"total": 1, "successful": 1, "failed": 0}
    assert info["cluster_name"] == "test-cluster"
    ((node_id, node),) = info["nodes"].items()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", node_id)
    assert node["name"] == "node-0"
    assert node["version"] == es.info()["version"]["number"]
    assert node["ip"] == "127.0.0.1"
    assert "master" in node["roles"] and "data" in node["roles"]
    assert node["roles"] == sorted(node["roles"])
    assert re.fullmatch(r"127\.0\.0\.1:\d+", node["http"]["publish_address"])
    local = es.nodes.info(node_id="_local")
    assert list(local["nodes"]) == [node_id]


def test_nodes_stats(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1}, refresh=True)
    stats = es.nodes.stats()
    assert stats["_nodes"] == {"total": 1, "successful": 1, "failed": 0}
    (node,) = stats["nodes"].values()
    assert node["name"] == "node-0"
    assert isinstance(node["timestamp"], int)
    assert node["indices"]["docs"]["count"] >= 1
    assert 0 <= node["os"]["mem"]["used_percent"] <= 100
    assert node["process"]["open_file_descriptors"] > 0
    inflight = node["breakers"]["in_flight_requests"]
    assert inflight["limit_size_in_bytes"] > 0 and inflight["overhead"] == 2.0
    assert inflight["tripped"] == 0 and inflight["estimated_size_in_bytes"] >= 0


# --- cat ----------------------------------------------------------------------------------------


CAT_HEALTH = [
    "epoch",
    "timestamp",
    "cluster",
    "status",
    "node.total",
    "node.data",
    "shards",
    "pri",
    "relo",
    "init",
    "unassign",
    "unassign.pri",
    "pending_tasks",
    "max_task_wait_time",
    "active_shards_percent",
]


def test_cat_health_text_and_json(es: Elasticsearch) -> None:
    text = es.cat.health(v=True)
    rows = table(str(text))
    assert rows[0] == CAT_HEALTH
    assert len(rows) == 2
    assert rows[1][2] == "test-cluster"
    assert rows[1][3] in {"green", "yellow"}
    no_header = table(str(es.cat.health()))
    assert len(no_header) == 1 and no_header[0][2] == "test-cluster"

    as_json = es.cat.health(format="json")
    assert len(as_json.body) == 1
    row = as_json.body[0]
    assert list(row) == CAT_HEALTH
    assert row["cluster"] == "test-cluster"
    assert row["node.total"] == "1"  # cat JSON values are strings
    assert row["active_shards_percent"].endswith("%")


def test_cat_nodes(es: Elasticsearch) -> None:
    rows = table(str(es.cat.nodes(v=True)))
    assert rows[0] == [
        "ip",
        "heap.percent",
        "ram.percent",
        "cpu",
        "load_1m",
        "load_5m",
        "load_15m",
        "node.role",
        "master",
        "name",
    ]
    assert rows[1][0] == "127.0.0.1"
    assert rows[1][-2:] == ["*", "node-0"]
    picked = es.cat.nodes(h="name,ip", format="json").body
    assert picked == [{"name": "node-0", "ip": "127.0.0.1"}]


def test_cat_indices(es: Elasticsearch, idx: str) -> None:
    es.bulk(
        operations=[
            {"index": {"_index": idx, "_id": str(n)}} if i == 0 else {"n": n}
            for n in range(3)
            for i in range(2)
        ],
        refresh=True,
    )
    uuid = es.indices.get_settings(index=idx)[idx]["settings"]["index"]["uuid"]
    rows = table(str(es.cat.indices(index=idx, v=True)))
    assert rows[0] == [
        "health",
        "status",
        "index",
        "uuid",
        "pri",
        "rep",
        "docs.count",
        "docs.deleted",
        "store.size",
        "pri.store.size",
        "dataset.size",
    ]
    assert rows[1][:8] == ["yellow", "open", idx, uuid, "1", "1", "3", "0"]
    as_json = es.cat.indices(index=idx, format="json", h="index,docs.count,health").body
    assert as_json == [{"index": idx, "docs.count": "3", "health": "yellow"}]
    in_bytes = es.cat.indices(index=idx, format="json", h="store.size", bytes="b").body
    assert in_bytes[0]["store.size"].isdigit()


def test_cat_indices_sort_and_closed(es: Elasticsearch, idx: str) -> None:
    a, b = idx + "-a", idx + "-b"
    es.indices.create(index=a)
    es.indices.create(index=b)
    es.indices.close(index=b)
    rows = es.cat.indices(index=f"{idx}-*", format="json", h="index,status", s="index:desc").body
    assert rows == [{"index": b, "status": "close"}, {"index": a, "status": "open"}]


def test_cat_count(es: Elasticsearch, idx: str) -> None:
    es.bulk(
        operations=[{"index": {"_index": idx}}, {"n": 1}, {"index": {"_index": idx}}, {"n": 2}],
        refresh=True,
    )
    rows = table(
        str(
            es.perform_request(
                "GET", f"/_cat/count/{idx}", params={"v": "true"}, headers={"accept": "text/plain"}
            )
        )
    )
    assert rows[0] == ["epoch", "timestamp", "count"]
    assert rows[1][2] == "2"
    as_json = es.perform_request("GET", f"/_cat/count/{idx}", params={"format": "json"}).body
    assert list(as_json[0]) == ["epoch", "timestamp", "count"]
    assert as_json[0]["count"] == "2"


def test_cat_count_with_client_which_posts(es: Elasticsearch, idx: str) -> None:
    # elasticsearch-py 9.5 sends POST /_cat/count (accepted by ES since 9.3).
    es.bulk(operations=[{"index": {"_index": idx}}, {"n": 1}], refresh=True)
    assert es.cat.count(index=idx, format="json").body[0]["count"] == "1"


def test_cat_unknown_header_is_left_out(es: Elasticsearch) -> None:
    # ES's RestTable.buildDisplayHeaders skips a header the table does not have.
    assert es.cat.health(h="nope,status", format="json").body[0].keys() == {"status"}
