"""The typed payloads of cross-cluster search: round trips through msgpack, the exact maps sent,
and ES-style refusals of malformed requests and answers."""

from __future__ import annotations

from typing import Any

import ormsgpack
import pytest

from isthmus.errors import IllegalArgumentError
from isthmus.index.mapping import Mapping
from isthmus.rawjson import RawJson
from isthmus.search.aggs import AggDoc, collect_aggs, parse_aggs, reduce_results, results_json
from isthmus.search.ccs_wire import (
    QueryPhaseRequest,
    RemoteSearchRequest,
    RemoteSearchResponse,
    SearchShardsRequest,
    SearchShardsResponse,
    ShardTarget,
)


def over_the_wire(payload: Any) -> Any:
    return ormsgpack.unpackb(ormsgpack.packb(payload))


def test_search_request_round_trip_and_its_map() -> None:
    request = RemoteSearchRequest(("logs", "metrics*"), {"size": 3}, {"q": "a:b"})
    payload = request.to_payload()
    # The map other nodes already read: same keys, same order.
    assert payload == {"indices": ["logs", "metrics*"], "body": {"size": 3}, "params": {"q": "a:b"}}
    assert list(payload) == ["indices", "body", "params"]
    assert RemoteSearchRequest.from_payload(over_the_wire(payload)) == request


def test_search_shards_request_round_trip() -> None:
    request = SearchShardsRequest(("logs",), {"expand_wildcards": "open"})
    payload = request.to_payload()
    assert list(payload) == ["indices", "params"]
    assert SearchShardsRequest.from_payload(over_the_wire(payload)) == request


def test_query_phase_request_round_trip() -> None:
    request = QueryPhaseRequest(
        index="logs",
        shard=2,
        body={"query": {"match_all": {}}},
        params={},
        now_ms=1_700_000_000_000,
        collect_all=True,
        filters=[{"term": {"tag": "a"}}],
    )
    payload = request.to_payload()
    assert list(payload) == [
        "index",
        "shard",
        "body",
        "params",
        "now_ms",
        "collect_all",
        "filters",
    ]
    assert QueryPhaseRequest.from_payload(over_the_wire(payload)) == request


def test_search_shards_response_round_trip() -> None:
    answer = SearchShardsResponse(
        (
            ShardTarget("logs", 0, {"properties": {"n": {"type": "long"}}}, None),
            ShardTarget("logs", 1, {}, [{"term": {"tag": "a"}}]),
        )
    )
    payload = answer.to_payload()
    assert list(payload["shards"][0]) == ["index", "shard", "mapping", "filters"]
    assert SearchShardsResponse.from_payload(over_the_wire(payload), cluster="r") == answer


def test_search_response_round_trip_with_sources_and_aggregations() -> None:
    aggs_body = {"tags": {"terms": {"field": "tag"}}}
    docs = [AggDoc("logs", "1", 1.0, {"tag": "a"}), AggDoc("logs", "2", 1.0, {"tag": "b"})]
    mapping = {"properties": {"tag": {"type": "keyword"}}}
    aggs = collect_aggs(parse_aggs(aggs_body), docs, Mapping(mapping), now_ms=0)
    hit = {"_index": "logs", "_id": "1", "_score": 1.5, "_source": RawJson(b'{"tag": "a"}')}
    answer = RemoteSearchResponse(
        hits=[hit],
        total=2,
        max_score=1.5,
        took=4,
        timed_out=False,
        shards={"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        aggs=aggs,
        mapping=mapping,
    )
    payload = answer.to_payload()
    assert list(payload) == [
        "hits",
        "total",
        "max_score",
        "took",
        "timed_out",
        "_shards",
        "aggs",
        "mapping",
    ]
    assert payload["hits"][0]["_source"] == b'{"tag": "a"}'  # the stored bytes travel as they are
    assert hit["_source"] == RawJson(b'{"tag": "a"}')  # and the sender's hit is left alone
    back = RemoteSearchResponse.from_payload(over_the_wire(payload), cluster="r")
    assert back.hits == [hit]
    assert type(back.hits[0]["_source"]) is RawJson
    assert (back.total, back.max_score, back.took, back.shards) == (2, 1.5, 4, answer.shards)
    assert back.mapping == mapping
    assert back.aggs is not None
    assert results_json(reduce_results([back.aggs])) == results_json(reduce_results([aggs]))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "search request payload must be a map"),
        ({}, r"search request needs a list of \[indices\]"),
        ({"indices": "logs"}, r"search request needs a list of \[indices\]"),
        ({"indices": [1]}, r"search request needs a list of \[indices\]"),
        ({"indices": ["logs"], "body": []}, r"search request \[body\] must be a map"),
        ({"indices": ["logs"], "params": "x"}, r"search request \[params\] must be a map"),
    ],
)
def test_malformed_search_requests_are_illegal_arguments(payload: Any, message: str) -> None:
    with pytest.raises(IllegalArgumentError, match=message):
        RemoteSearchRequest.from_payload(payload)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (None, r"search shards request needs a list of \[indices\]"),
        ({"indices": [None]}, r"search shards request needs a list of \[indices\]"),
        ({"indices": [], "params": []}, r"search shards request \[params\] must be a map"),
    ],
)
def test_malformed_search_shards_requests(payload: Any, message: str) -> None:
    with pytest.raises(IllegalArgumentError, match=message):
        SearchShardsRequest.from_payload(payload)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, r"query phase request needs an \[index\]"),
        ({"index": 3}, r"query phase request needs an \[index\]"),
        ({"index": "logs", "shard": "0"}, r"\[shard\] and \[now_ms\] must be integers"),
        ({"index": "logs", "now_ms": True}, r"\[shard\] and \[now_ms\] must be integers"),
        ({"index": "logs", "body": "x"}, r"query phase request \[body\] must be a map"),
        ({"index": "logs", "filters": {}}, r"\[filters\] must be a list of maps"),
    ],
)
def test_malformed_query_phase_requests(payload: Any, message: str) -> None:
    with pytest.raises(IllegalArgumentError, match=message):
        QueryPhaseRequest.from_payload(payload)


GOOD_HIT = {"_index": "logs", "_id": "1", "_score": 1.0}


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {"hits": {}},
        {"hits": ["x"]},
        {"hits": [{"_id": "1"}]},
        {"hits": [{**GOOD_HIT, "_source": b'{"a": '}]},
        {"hits": [], "total": "3"},
        {"hits": [], "max_score": "high"},
        {"hits": [], "took": 1.5},
        {"hits": [], "_shards": []},
        {"hits": [], "_shards": {"failures": "none"}},
    ],
)
def test_malformed_search_answers_name_the_cluster(payload: Any) -> None:
    with pytest.raises(
        IllegalArgumentError, match=r"malformed search answer from remote cluster \[my\]"
    ):
        RemoteSearchResponse.from_payload(payload, cluster="my")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"shards": {}},
        {"shards": ["x"]},
        {"shards": [{"index": "logs"}]},
        {"shards": [{"index": "logs", "shard": 0, "mapping": ["x"]}]},
        {"shards": [{"index": "logs", "shard": 0, "filters": {}}]},
    ],
)
def test_malformed_search_shards_answers_name_the_cluster(payload: Any) -> None:
    with pytest.raises(IllegalArgumentError, match=r"malformed search shards answer from \[my\]"):
        SearchShardsResponse.from_payload(payload, cluster="my")
