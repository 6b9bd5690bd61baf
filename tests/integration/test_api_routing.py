"""A document's ``_routing`` against a real node, through the official client.

ES stores the routing a document was written with and shows it as ``_routing`` where it shows
the document's metadata: a get (``GetResult``: after ``_primary_term``, before ``found``), each
``_mget`` item, each search hit (``SearchHit``: after ``_score``) and an update's ``get``; the
write responses (``DocWriteResponse``) never show it. An index whose mapping has
``_routing: {"required": true}`` refuses a write or get without routing with
``routing_missing_exception`` (400).
"""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error, unique_index


@pytest.fixture
def idx(request: pytest.FixtureRequest) -> str:
    return unique_index("routing-", request)


def test_routing_is_kept_and_shown_where_es_shows_it(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, settings={"number_of_shards": 3, "number_of_replicas": 0})
    written = es.index(index=idx, id="1", document={"n": 1}, routing="r1")
    assert "_routing" not in written.body
    bulk = es.bulk(
        operations=[{"index": {"_index": idx, "_id": "2", "routing": "r2"}}, {"n": 2}],
        refresh=True,
    )
    assert "_routing" not in bulk["items"][0]["index"]
    es.index(index=idx, id="plain", document={"n": 3}, refresh=True)
    got = es.get(index=idx, id="1", routing="r1")
    assert list(got.body) == [
        "_index",
        "_id",
        "_version",
        "_seq_no",
        "_primary_term",
        "_routing",
        "found",
        "_source",
    ]
    assert got["_routing"] == "r1"
    assert es.get(index=idx, id="2", routing="r2", realtime=False)["_routing"] == "r2"
    assert "_routing" not in es.get(index=idx, id="plain").body
    wanted = [{"_id": "1", "routing": "r1"}, {"_id": "2", "routing": "r2"}]
    items = es.mget(index=idx, docs=wanted)["docs"]
    assert [(d["_id"], d["_routing"]) for d in items] == [("1", "r1"), ("2", "r2")]
    hits = es.search(index=idx, sort=["n"])["hits"]["hits"]
    assert [h.get("_routing") for h in hits] == ["r1", "r2", None]
    assert list(hits[0]) == ["_index", "_id", "_score", "_routing", "_source", "sort"]
    updated = es.update(index=idx, id="1", routing="r1", doc={"n": 10}, source=True)
    assert list(updated["get"]) == ["_seq_no", "_primary_term", "_routing", "found", "_source"]
    assert updated["get"]["_routing"] == "r1"
    # The update keeps the document's routing.
    assert es.get(index=idx, id="1", routing="r1")["_routing"] == "r1"


def test_required_routing_refuses_writes_and_gets_without_it(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, mappings={"_routing": {"required": True}})
    status, body = api_error(lambda: es.index(index=idx, id="1", document={"n": 1}))
    assert status == 400
    assert body["error"]["root_cause"][0] == {
        "type": "routing_missing_exception",
        "reason": f"routing is required for [{idx}]/[1]",
        "index_uuid": "_na_",
        "index": idx,
    }
    es.index(index=idx, id="1", document={"n": 1}, routing="a")
    resp = es.bulk(
        operations=[
            {"index": {"_index": idx, "_id": "2"}},
            {"n": 2},
            {"delete": {"_index": idx, "_id": "1"}},
            {"update": {"_index": idx, "_id": "1"}},
            {"doc": {"n": 3}},
        ]
    )
    assert [(i[k]["status"], i[k]["error"]["type"]) for i in resp["items"] for k in i] == [
        (400, "routing_missing_exception")
    ] * 3
    status, body = api_error(lambda: es.get(index=idx, id="1"))
    assert (status, body["error"]["reason"]) == (400, f"routing is required for [{idx}]/[1]")
    (item,) = es.mget(index=idx, docs=[{"_id": "1"}])["docs"]
    assert item["error"]["type"] == "routing_missing_exception"
    assert es.get(index=idx, id="1", routing="a")["_routing"] == "a"
