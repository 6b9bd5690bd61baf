"""Cross-cluster search over a remote data stream, set up as real deployments do: component and
composable templates on the remote, a data stream made by ``_bulk`` creates, rolled over once,
searched from the local cluster as ``remote:logs-*`` with an aggregation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from isthmus.lab.topology import ALIAS, ELASTIC_PASSWORD, USER, USER_PASSWORD, Lab, LabSpec
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


def test_api_key_model_reaches_a_remote_data_stream(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    """With security on both sides (API-key model): the key's ``search`` access on ``logs-*``
    and the local user's ``remote_indices`` authorize the stream's name, and its backing
    indices follow."""
    with Lab(tmp_path, LabSpec(sample_index=False)) as lab:
        lab.start()
        key = lab.key or {}
        for secret in (ELASTIC_PASSWORD, USER_PASSWORD, key.get("api_key"), key.get("encoded")):
            if secret:
                record_secret(str(secret))
        assert lab.remote is not None and lab.local is not None
        rc = Elasticsearch(lab.remote.url, basic_auth=("elastic", ELASTIC_PASSWORD))
        rc.indices.put_index_template(name="logs", index_patterns=["logs-*-*"], data_stream={})
        rc.bulk(operations=events(0, 6), refresh=True)
        rc.indices.rollover(alias="logs-web-prod")
        rc.bulk(operations=events(6, 3), refresh=True)
        rc.indices.refresh(index="logs-web-prod")
        user = Elasticsearch(lab.local.url, basic_auth=(USER, USER_PASSWORD))
        answer = user.search(
            index=f"{ALIAS}:logs-*", size=0, aggs={"s": {"terms": {"field": "service.keyword"}}}
        )
        assert answer["hits"]["total"]["value"] == 9
        buckets = answer["aggregations"]["s"]["buckets"]
        assert {b["key"]: b["doc_count"] for b in buckets} == {"web": 3, "api": 3, "db": 3}
        hits = user.search(index=f"{ALIAS}:logs-web-prod", size=20)["hits"]["hits"]
        assert len({h["_index"] for h in hits}) == 2
        assert all(h["_index"].startswith(f"{ALIAS}:.ds-logs-web-prod-") for h in hits)


def test_two_remote_streams_paged_through_a_point_in_time_equal_the_remote_s_own_search(
    pair: tuple[Elasticsearch, Elasticsearch],
) -> None:
    """The issue's realistic case end to end: a second data stream on the remote (the same
    templates, its own rollover), then a local user's PIT over ``remote:logs-*`` paged with
    ``search_after`` and aggregated: every page together equals the remote's own search of
    its data, and writes after the PIT opened stay invisible to it."""
    lc, rc = pair
    api = [
        op
        for i in range(10)
        for op in (
            {"create": {"_index": "logs-api-prod"}},
            {"@timestamp": f"2024-06-02T08:{i:02d}:00Z", "service": "api", "bytes": 500 + i},
        )
    ]
    assert not rc.bulk(operations=api[:12])["errors"]
    assert rc.indices.rollover(alias="logs-api-prod")["rolled_over"] is True
    assert not rc.bulk(operations=api[12:], refresh=True)["errors"]
    rc.indices.refresh(index="logs-api-prod")  # the rolled-over generation too
    streams = rc.indices.get_data_stream(name="logs-*")["data_streams"]
    assert sorted((s["name"], s["generation"]) for s in streams) == [
        ("logs-api-prod", 2),
        ("logs-web-prod", 2),
    ]
    sort = [{"@timestamp": "asc"}, {"bytes": "asc"}]
    own = rc.search(index="logs-*", sort=sort, size=100, aggs=AGGS).body
    pit = lc.open_point_in_time(index="remote:logs-*", keep_alive="1m")["id"]
    try:
        # Written after the PIT opened: not part of what it pages through.
        rc.index(
            index="logs-api-prod",
            op_type="create",
            document={"@timestamp": "2024-06-03T00:00:00Z", "service": "api", "bytes": 1},
            refresh=True,
        )
        pages: list[dict[str, Any]] = []
        after: list[Any] | None = None
        while True:
            page = lc.search(
                pit={"id": pit, "keep_alive": "1m"},
                sort=sort,
                size=7,
                aggs=AGGS,
                **({"search_after": after} if after else {}),
            ).body
            hits = page["hits"]["hits"]
            if not hits:
                break
            pages.extend(hits)
            after = hits[-1]["sort"]
            assert page["aggregations"] == own["aggregations"]
        assert [h["_source"] for h in pages] == [h["_source"] for h in own["hits"]["hits"]]
        assert [h["_index"] for h in pages] == [
            f"remote:{h['_index']}" for h in own["hits"]["hits"]
        ]
        assert len({h["_index"] for h in pages}) == 4  # two streams, two generations each
    finally:
        assert lc.close_point_in_time(id=pit)["succeeded"] is True
