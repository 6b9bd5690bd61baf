"""Smoke test with a second, independent client: ``opensearch-py`` against the same node.

opensearch-py speaks the Elasticsearch 7-era REST API with plain ``application/json``; a node
that only served the official ES client's vendor media types would fail here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opensearchpy import NotFoundError, OpenSearch, helpers

from isthmus.testing.process import NodeProcess
from tests.integration.support import unique_index


@pytest.fixture(scope="module")
def client(node: NodeProcess) -> Iterator[OpenSearch]:
    c = OpenSearch(hosts=[node.url], timeout=30)
    yield c
    c.close()


@pytest.fixture
def idx(request: pytest.FixtureRequest) -> str:
    return unique_index("os-", request)


def test_info_and_ping(client: OpenSearch) -> None:
    info = client.info()
    assert info["cluster_name"] == "test-cluster"
    assert info["tagline"] == "You Know, for Search"
    assert client.ping() is True


def test_index_get_search(client: OpenSearch, idx: str) -> None:
    created = client.index(index=idx, id="1", body={"title": "hello world"}, refresh=True)
    assert created["result"] == "created"
    assert client.get(index=idx, id="1")["_source"] == {"title": "hello world"}
    resp = client.search(index=idx, body={"query": {"match": {"title": "hello"}}})
    assert resp["hits"]["total"] == {"value": 1, "relation": "eq"}
    assert resp["hits"]["hits"][0]["_id"] == "1"
    with pytest.raises(NotFoundError):
        client.get(index=idx, id="2")


def test_bulk_helper(client: OpenSearch, idx: str) -> None:
    actions = ({"_index": idx, "_id": str(n), "_source": {"n": n}} for n in range(50))
    ok, errors = helpers.bulk(client, actions, refresh=True)
    assert (ok, errors) == (50, [])
    assert client.count(index=idx)["count"] == 50
    resp = client.search(
        index=idx, body={"query": {"range": {"n": {"gte": 45}}}, "sort": [{"n": "asc"}]}
    )
    assert [h["_source"]["n"] for h in resp["hits"]["hits"]] == [45, 46, 47, 48, 49]


def test_bulk_helper_reports_item_errors(client: OpenSearch, idx: str) -> None:
    client.indices.create(index=idx, body={"mappings": {"properties": {"n": {"type": "long"}}}})
    actions = [
        {"_index": idx, "_id": "1", "_source": {"n": 1}},
        {"_index": idx, "_id": "2", "_source": {"n": "not a number"}},
    ]
    ok, errors = helpers.bulk(client, actions, raise_on_error=False, refresh=True)
    assert ok == 1
    assert len(errors) == 1
    assert errors[0]["index"]["_id"] == "2"
    assert errors[0]["index"]["status"] == 400


def test_scan_helper(client: OpenSearch, idx: str) -> None:
    helpers.bulk(
        client,
        ({"_index": idx, "_id": str(n), "_source": {"n": n}} for n in range(25)),
        refresh=True,
    )
    seen = sorted(h["_source"]["n"] for h in helpers.scan(client, index=idx, size=10))
    assert seen == list(range(25))
