"""Cross-cluster search over a remote data stream, set up as real deployments do: component and
composable templates on the remote, a data stream made by ``_bulk`` creates, rolled over once,
searched from the local cluster as ``remote:logs-*`` with an aggregation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.process import NodeProcess, start_side_by_side


def transport_address(client: Elasticsearch) -> str:
    (only,) = client.nodes.info()["nodes"].values()
    return str(only["transport_address"])


def events(start: int, count: int) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for i in range(start, start + count):
        ops += [
            {"create": {"_index": "logs-web-prod"}},
            {
                "@timestamp": f"2024-06-01T10:{i:02d}:00Z",
                "service": ["web", "api", "db"][i % 3],
                "bytes": 100 + i,
                "message": f"request {i}",
            },
        ]
    return ops


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Elasticsearch, Elasticsearch]]:
    base = tmp_path_factory.mktemp("ccs-ds")
    remote = NodeProcess(base / "remote", {"cluster.name": "remote", "node.name": "remote-node"})
    local = NodeProcess(base / "local", {"cluster.name": "local", "node.name": "local-node"})
    start_side_by_side(remote, local)
    rc, lc = Elasticsearch(remote.url), Elasticsearch(local.url)
    rc.cluster.put_component_template(
        name="logs-mappings",
        template={
            "mappings": {
                "properties": {
                    "service": {"type": "keyword"},
                    "bytes": {"type": "long"},
                    "message": {"type": "text"},
                }
            }
        },
    )
    rc.cluster.put_component_template(
        name="logs-settings", template={"settings": {"number_of_shards": 2}}
    )
    rc.indices.put_index_template(
        name="logs",
        index_patterns=["logs-*-*"],
        data_stream={},
        composed_of=["logs-mappings", "logs-settings"],
        priority=200,
    )
    assert not rc.bulk(operations=events(0, 12))["errors"]
    assert rc.indices.rollover(alias="logs-web-prod")["rolled_over"] is True
    assert not rc.bulk(operations=events(12, 9), refresh=True)["errors"]
    rc.indices.refresh(index="logs-web-prod")
    lc.cluster.put_settings(persistent={"cluster.remote.remote.seeds": [transport_address(rc)]})
    yield lc, rc
    local.kill()
    remote.kill()


QUERY = {"range": {"bytes": {"gte": 103}}}
AGGS = {
    "by_service": {"terms": {"field": "service"}, "aggs": {"total": {"sum": {"field": "bytes"}}}},
    "latest": {"max": {"field": "@timestamp"}},
}


def test_remote_data_stream_search_equals_the_remote_s_own(
    pair: tuple[Elasticsearch, Elasticsearch],
) -> None:
    lc, rc = pair
    (stream,) = rc.indices.get_data_stream(name="logs-web-prod")["data_streams"]
    assert stream["generation"] == 2
    backing = [i["index_name"] for i in stream["indices"]]
    sort = [{"@timestamp": "desc"}]
    remote_view = rc.search(index="logs-*", query=QUERY, aggs=AGGS, sort=sort, size=30).body
    across = lc.search(index="remote:logs-*", query=QUERY, aggs=AGGS, sort=sort, size=30).body
    assert (
        across["hits"]["total"] == remote_view["hits"]["total"] == {"value": 18, "relation": "eq"}
    )
    assert across["aggregations"] == remote_view["aggregations"]
    assert {b["key"]: b["doc_count"] for b in across["aggregations"]["by_service"]["buckets"]} == {
        "web": 6, "api": 6, "db": 6
    }  # fmt: skip
    # Hits name the remote's backing indices, prefixed with the cluster alias; both generations.
    assert [h["_index"] for h in across["hits"]["hits"]] == [
        f"remote:{h['_index']}" for h in remote_view["hits"]["hits"]
    ]
    assert {h["_index"] for h in across["hits"]["hits"]} == {f"remote:{b}" for b in backing}
    assert [h["_source"] for h in across["hits"]["hits"]] == [
        h["_source"] for h in remote_view["hits"]["hits"]
    ]
    # Searched shard by shard (no minimized round trips) the answer is the same.
    by_shard = lc.search(
        index="remote:logs-*", query=QUERY, aggs=AGGS, sort=sort, size=30,
        ccs_minimize_roundtrips=False,
    ).body  # fmt: skip
    assert by_shard["aggregations"] == remote_view["aggregations"]
    assert [h["_index"] for h in by_shard["hits"]["hits"]] == [
        h["_index"] for h in across["hits"]["hits"]
    ]
    # The stream's own name works across clusters too, and _resolve/index lists it.
    named = lc.search(index="remote:logs-web-prod", size=0, track_total_hits=True)
    assert named["hits"]["total"]["value"] == 21
    resolved = lc.indices.resolve_index(name="remote:logs-*")["data_streams"]
    assert resolved == [
        {
            "name": "remote:logs-web-prod",
            "backing_indices": backing,
            "timestamp_field": "@timestamp",
        }
    ]
