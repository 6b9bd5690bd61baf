"""Point in time, driven with the official client on one secured node.

``open_point_in_time`` answers ``{"id", "_shards"}``; a search with ``pit`` (and no index) sees
the shards as they were when the PIT opened, answers with ``pit_id``, and pages with
``search_after`` through ES's implicit ``_shard_doc`` tiebreaker; ``close_point_in_time`` frees
every shard context (404 once nothing is left to free). ES's validation errors, keep-alive and
context limits, expired ids; a PIT is bound to the subject that opened it, as scrolls are (the
issue asks for it; ES itself lets anyone who may read the indices use the id): another user,
even one who may read the indices, meets ES's 404 for a missing context, and one who may not read
them its 403.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.process import NodeProcess

from .support import api_error

INDEX = "pit-books"
OTHER = "pit-secret"


def _elastic_password(node: NodeProcess) -> str:
    text = (node.home / "stderr.log").read_text()
    line = next(li for li in text.splitlines() if "password for the [elastic] user" in li)
    return line.rsplit(" ", 1)[1]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    node = NodeProcess(
        tmp_path_factory.mktemp("pit"),
        {"xpack.security.enabled": True, "xpack.security.authc.anonymous.roles": []},
    )
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def es(secured: NodeProcess) -> Iterator[Elasticsearch]:
    client = Elasticsearch(
        secured.url, basic_auth=("elastic", _elastic_password(secured)), request_timeout=30
    )
    client.indices.create(
        index=INDEX,
        settings={"number_of_shards": 2},
        mappings={"properties": {"n": {"type": "long"}, "tag": {"type": "keyword"}}},
    )
    client.indices.create(index=OTHER, mappings={"properties": {"n": {"type": "long"}}})
    ops: list[dict[str, Any]] = []
    for i in range(20):  # n repeats (i // 3): the tiebreaker has ties to break
        ops += [{"index": {"_index": INDEX, "_id": str(i)}}, {"n": i // 3, "tag": "v1"}]
    ops += [{"index": {"_index": OTHER, "_id": "s"}}, {"n": 1}]
    client.bulk(operations=ops, refresh=True)
    client.security.put_role(
        name="pit-reader", indices=[{"names": [INDEX], "privileges": ["read"]}]
    )
    client.security.put_role(name="pit-none", indices=[{"names": [OTHER], "privileges": ["read"]}])
    client.security.put_user(username="reader", password="reader-secret", roles=["pit-reader"])
    client.security.put_user(username="outsider", password="outsider-secret", roles=["pit-none"])
    yield client
    client.close()


def _as(node: NodeProcess, user: str) -> Elasticsearch:
    return Elasticsearch(node.url, basic_auth=(user, f"{user}-secret"), request_timeout=30)


def test_open_search_close(es: Elasticsearch) -> None:
    opened = es.open_point_in_time(index=INDEX, keep_alive="1m").body
    assert isinstance(opened["id"], str)
    assert opened["_shards"] == {"total": 2, "successful": 2, "skipped": 0, "failed": 0}
    out = es.search(pit={"id": opened["id"], "keep_alive": "1m"}, size=100).body
    assert next(iter(out)) == "pit_id"  # ES writes it first
    assert out["pit_id"] == opened["id"]
    assert out["hits"]["total"]["value"] == 20
    assert out["_shards"]["total"] == 2
    suggested = es.search(
        pit={"id": opened["id"]}, size=0, suggest={"s": {"text": "v2", "term": {"field": "tag"}}}
    ).body
    assert suggested["suggest"]["s"][0]["text"] == "v2"  # the section is there, as ES's
    # _msearch items may name a PIT too (and, like _search, no index).
    multi = es.msearch(
        searches=[
            {},
            {"pit": {"id": opened["id"]}, "size": 0},
            {"index": INDEX},
            {"pit": {"id": opened["id"]}},
        ]
    ).body["responses"]
    assert multi[0]["pit_id"] == opened["id"] and multi[0]["hits"]["total"]["value"] == 20
    assert multi[1]["status"] == 400
    assert multi[1]["error"]["type"] == "action_request_validation_exception"
    submitted = es.async_search.submit(
        pit={"id": opened["id"]}, size=1, wait_for_completion_timeout="10s"
    ).body
    assert submitted["is_running"] is False
    assert submitted["response"]["pit_id"] == opened["id"]
    assert submitted["response"]["hits"]["total"]["value"] == 20
    closed = es.close_point_in_time(id=opened["id"])
    assert closed.body == {"succeeded": True, "num_freed": 2}
    # routing: only the shard the value routes to (the document routed so is in it).
    es.index(index=INDEX, id="routed", document={"n": 50}, routing="k", refresh=True)
    routed = es.open_point_in_time(index=INDEX, keep_alive="1m", routing="k").body
    assert routed["_shards"]["total"] == 1
    found = es.search(pit={"id": routed["id"]}, query={"ids": {"values": ["routed"]}}).body
    assert found["hits"]["total"]["value"] == 1
    es.delete(index=INDEX, id="routed", routing="k", refresh=True)
    assert es.close_point_in_time(id=routed["id"]).body["num_freed"] == 1
    status, body = api_error(lambda: es.close_point_in_time(id=opened["id"]))
    assert (status, body) == (404, {"succeeded": False, "num_freed": 0})
    status, body = api_error(lambda: es.search(pit={"id": opened["id"]}))
    assert status == 404
    assert body["error"]["type"] == "search_phase_execution_exception"
    cause = body["error"]["root_cause"][0]
    assert cause["type"] == "search_context_missing_exception"
    assert cause["reason"].startswith("No search context found for id [")


def test_sees_the_data_as_of_its_opening(es: Elasticsearch) -> None:
    index = "pit-snapshot"
    es.indices.create(index=index, mappings={"properties": {"n": {"type": "long"}}})
    es.bulk(
        operations=[
            x for i in range(5) for x in ({"index": {"_index": index, "_id": str(i)}}, {"n": i})
        ],
        refresh=True,
    )
    pit = es.open_point_in_time(index=index, keep_alive="1m").body["id"]
    es.index(index=index, id="new", document={"n": 99})
    es.delete(index=index, id="0")
    es.index(index=index, id="1", document={"n": 1000})
    es.indices.put_mapping(index=index, properties={"extra": {"type": "keyword"}})
    es.index(index=index, id="2", document={"n": 2, "extra": "x"}, refresh=True)
    now = es.search(index=index, sort=["n"], size=10).body["hits"]["hits"]
    assert [h["_id"] for h in now] == ["2", "3", "4", "new", "1"]
    seen = es.search(pit={"id": pit}, sort=["n"], size=10).body["hits"]["hits"]
    assert [(h["_id"], h["_source"]["n"]) for h in seen] == [(str(i), i) for i in range(5)]
    assert es.search(pit={"id": pit}, query={"term": {"n": 1000}}).body["hits"]["hits"] == []
    # Deleting the index frees its contexts, as ES does when a shard closes.
    es.indices.delete(index=index)
    status, body = api_error(lambda: es.search(pit={"id": pit}))
    assert status == 404
    assert body["error"]["root_cause"][0]["type"] == "search_context_missing_exception"
    assert api_error(lambda: es.close_point_in_time(id=pit)) == (
        404,
        {"succeeded": False, "num_freed": 0},
    )


def test_search_after_pages_with_the_shard_doc_tiebreaker(es: Elasticsearch) -> None:
    pit = es.open_point_in_time(index=INDEX, keep_alive="1m").body["id"]
    seen: list[str] = []
    after: list[Any] | None = None
    while True:
        kwargs: dict[str, Any] = {"search_after": after} if after is not None else {}
        page = es.search(pit={"id": pit, "keep_alive": "1m"}, sort=[{"n": "asc"}], size=4, **kwargs)
        hits = page.body["hits"]["hits"]
        if not hits:
            break
        for hit in hits:
            n, shard_doc = hit["sort"]  # the implicit tiebreaker's value is shown
            assert n == int(hit["_id"]) // 3 and isinstance(shard_doc, int)
        seen += [h["_id"] for h in hits]
        after = hits[-1]["sort"]
    assert sorted(seen, key=int) == [str(i) for i in range(20)] and len(seen) == 20
    assert [int(i) // 3 for i in seen] == sorted(int(i) // 3 for i in seen)
    # An explicit `_shard_doc` (descending) is the sort itself; no second tiebreaker is added.
    desc = es.search(pit={"id": pit}, sort=[{"_shard_doc": "desc"}], size=20).body["hits"]["hits"]
    values = [h["sort"] for h in desc]
    assert all(len(v) == 1 for v in values) and values == sorted(values, reverse=True)
    # search_after with one value per given sort key: no tiebreaker is added.
    one = es.search(pit={"id": pit}, sort=[{"n": "asc"}], search_after=[5], size=20).body
    assert [h["sort"] for h in one["hits"]["hits"]] == [[6]] * 2
    es.close_point_in_time(id=pit)


def test_errors_as_elasticsearch_words_them(es: Elasticsearch) -> None:
    pit = es.open_point_in_time(index=INDEX, keep_alive="1m").body["id"]
    status, body = api_error(lambda: es.search(index=INDEX, pit={"id": pit}))
    assert status == 400
    assert body["error"]["type"] == "action_request_validation_exception"
    assert body["error"]["reason"] == (
        "Validation Failed: 1: [indices] cannot be used with point in time. Do not specify any "
        "index with point in time.;"
    )
    status, body = api_error(lambda: es.search(pit={"id": pit}, routing="a", preference="_local"))
    assert body["error"]["reason"] == (
        "Validation Failed: 1: [routing] cannot be used with point in time;"
        "2: [preference] cannot be used with point in time;"
    )
    status, body = api_error(lambda: es.search(pit={"id": pit}, scroll="1m"))
    assert body["error"]["reason"] == (
        "Validation Failed: 1: using [point in time] is not allowed in a scroll context;"
    )
    status, body = api_error(lambda: es.perform_request("POST", f"/{INDEX}/_pit"))
    assert (status, body["error"]["reason"]) == (
        400,
        "Validation Failed: 1: [keep_alive] is not specified;",
    )
    # Each shard refuses the keep-alive: ES's open_pit phase fails on every shard.
    status, body = api_error(lambda: es.open_point_in_time(index=INDEX, keep_alive="2d"))
    assert (status, body["error"]["type"], body["error"]["phase"]) == (
        400,
        "search_phase_execution_exception",
        "open_pit",
    )
    assert body["error"]["root_cause"][0]["reason"] == (
        "Keep alive for request (2d) is too large. It must be less than (1d). This limit can be "
        "set by changing the [search.max_keep_alive] cluster level setting."
    )
    status, body = api_error(lambda: es.search(pit={"id": pit, "keep_alive": "2d"}))
    assert (status, body["error"]["phase"]) == (400, "query")
    assert body["error"]["root_cause"][0]["reason"].startswith("Keep alive for request (2d)")
    status, body = api_error(lambda: es.search(index=INDEX, sort=[{"_shard_doc": "asc"}]))
    assert (status, body["error"]["reason"]) == (
        400,
        "Validation Failed: 1: [_shard_doc] sort field cannot be used without [point in time];",
    )
    status, body = api_error(
        lambda: es.open_point_in_time(index=INDEX, keep_alive="1m", max_concurrent_shard_requests=0)
    )
    assert (status, body["error"]["reason"]) == (400, "maxConcurrentShardRequests must be >= 1")
    status, body = api_error(
        lambda: es.perform_request(
            "POST", f"/{INDEX}/_pit?keep_alive=1m&allow_partial_search_results=maybe"
        )
    )
    assert (status, body["error"]["reason"]) == (
        400,
        "Failed to parse value [maybe] as only [true] or [false] are allowed.",
    )
    status, body = api_error(lambda: es.search(pit={"id": "not-a-pit"}))
    assert (status, body["error"]["type"]) == (400, "illegal_argument_exception")
    es.close_point_in_time(id=pit)
    # search.max_open_pit_context bounds the contexts (OpenSearch's setting and message).
    es.cluster.put_settings(persistent={"search.max_open_pit_context": 3})
    try:
        kept = es.open_point_in_time(index=INDEX, keep_alive="1m").body["id"]
        status, body = api_error(lambda: es.open_point_in_time(index=INDEX, keep_alive="1m"))
        assert (status, body["error"]["type"]) == (429, "search_phase_execution_exception")
        assert body["error"]["root_cause"][0]["type"] == "es_rejected_execution_exception"
        assert body["error"]["root_cause"][0]["reason"] == (
            "Trying to create too many Point In Time contexts. Must be less than or equal to: "
            "[3]. This limit can be set by changing the [search.max_open_pit_context] setting."
        )
        es.close_point_in_time(id=kept)
    finally:
        es.cluster.put_settings(persistent={"search.max_open_pit_context": None})


def test_expires_after_keep_alive(es: Elasticsearch) -> None:
    pit = es.open_point_in_time(index=INDEX, keep_alive="1s").body["id"]
    time.sleep(1.2)
    status, body = api_error(lambda: es.search(pit={"id": pit}))
    assert status == 404
    assert body["error"]["root_cause"][0]["type"] == "search_context_missing_exception"


def test_index_filter_skips_shards(es: Elasticsearch) -> None:
    opened = es.open_point_in_time(
        index=f"{INDEX},{OTHER}", keep_alive="1m", index_filter={"range": {"n": {"gte": 5}}}
    ).body
    # OTHER holds n = 1 only: its shard cannot match and is left out of the PIT.
    assert opened["_shards"] == {"total": 3, "successful": 3, "skipped": 1, "failed": 0}
    out = es.search(pit={"id": opened["id"]}, size=0).body
    assert out["_shards"]["total"] == 2 and out["hits"]["total"]["value"] == 20
    es.close_point_in_time(id=opened["id"])


def test_bound_to_the_subject_that_opened_it(secured: NodeProcess, es: Elasticsearch) -> None:
    pit = es.open_point_in_time(index=INDEX, keep_alive="1m").body["id"]
    reader, outsider = _as(secured, "reader"), _as(secured, "outsider")
    # Holding the id is not enough: another user meets a missing context, never "not yours".
    status, body = api_error(lambda: reader.search(pit={"id": pit}))
    assert status == 404
    assert body["error"]["root_cause"][0]["type"] == "search_context_missing_exception"
    status, body = api_error(lambda: outsider.search(pit={"id": pit}))
    assert status == 403
    assert body["error"]["type"] == "security_exception"
    assert INDEX in body["error"]["reason"]
    # Nor may another user free it; its owner still can use it.
    status, _ = api_error(lambda: reader.close_point_in_time(id=pit))
    assert status == 404
    assert es.search(pit={"id": pit}).body["hits"]["total"]["value"] == 20
    opened = reader.open_point_in_time(index=INDEX, keep_alive="1m").body
    assert opened["_shards"]["successful"] == 2
    assert reader.search(pit={"id": opened["id"]}).body["hits"]["total"]["value"] == 20
    status, body = api_error(lambda: outsider.open_point_in_time(index=INDEX, keep_alive="1m"))
    assert status == 403
    assert es.close_point_in_time(id=pit)["num_freed"] == 2
    reader.close_point_in_time(id=opened["id"])
