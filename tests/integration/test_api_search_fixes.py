"""Search behaviours a conformance review found different from Elasticsearch (issue 18, item 9):
scroll ids given in the body win over the path, and ``_id`` has no field data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error

INDEX = "search-fixes"
ID_FIELDDATA = (
    "Fielddata access on the _id field is disallowed, you can re-enable it by updating the "
    "dynamic cluster setting: indices.id_field_data.enabled"
)


@pytest.fixture(scope="module")
def index(es: Elasticsearch) -> Iterator[str]:
    es.indices.create(index=INDEX, settings={"number_of_shards": 1})
    es.bulk(
        operations=[x for i in range(6) for x in ({"index": {"_id": str(i)}}, {"n": i})],
        index=INDEX,
        refresh=True,
    )
    yield INDEX
    es.indices.delete(index=INDEX)


def test_a_scroll_id_in_the_body_wins_over_the_path(es: Elasticsearch, index: str) -> None:
    first = es.search(index=index, scroll="1m", size=2, sort=["_doc"])
    # ES parses the body after the path parameter, so the body's id is the one used.
    page = es.perform_request(
        "POST",
        "/_search/scroll/not-a-scroll-id",
        headers={"content-type": "application/json", "accept": "application/json"},
        body={"scroll_id": first["_scroll_id"], "scroll": "1m"},
    )
    assert [h["_id"] for h in page["hits"]["hits"]] == ["2", "3"]

    cleared = es.perform_request(
        "DELETE",
        "/_search/scroll/not-a-scroll-id",
        headers={"content-type": "application/json", "accept": "application/json"},
        body={"scroll_id": [page["_scroll_id"]]},
    )
    assert cleared.body == {"succeeded": True, "num_freed": 1}


@pytest.mark.parametrize(
    "body",
    [
        {"size": 0, "aggs": {"c": {"value_count": {"field": "_id"}}}},
        {"size": 0, "aggs": {"c": {"terms": {"field": "_id"}}}},
        {"size": 0, "aggs": {"c": {"cardinality": {"field": "_id"}}}},
        {"sort": [{"_id": "asc"}]},
        {"size": 0, "aggs": {"t": {"top_hits": {"sort": [{"_id": "desc"}]}}}},
    ],
    ids=["value_count", "terms", "cardinality", "sort", "top_hits-sort"],
)
def test_id_has_no_field_data(es: Elasticsearch, index: str, body: dict[str, Any]) -> None:
    status, error = api_error(lambda: es.search(index=index, **body))
    assert status == 400
    assert error["error"]["type"] == "search_phase_execution_exception"
    assert error["error"]["root_cause"][0] == {
        "type": "illegal_argument_exception",
        "reason": ID_FIELDDATA,
    }


def test_a_scroll_refuses_what_es_refuses_all_at_once(es: Elasticsearch, index: str) -> None:
    status, error = api_error(
        lambda: es.search(
            index=index, scroll="1m", size=0, from_=2, track_total_hits=100, request_cache=True
        )
    )
    assert status == 400
    assert error["error"]["type"] == "action_request_validation_exception"
    assert error["error"]["reason"] == (
        "Validation Failed: 1: disabling [track_total_hits] is not allowed in a scroll context;"
        "2: using [from] is not allowed in a scroll context;"
        "3: [size] cannot be [0] in a scroll context;"
        "4: [request_cache] cannot be used in a scroll context;"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"query": {"match_al": {}}},
            # every name above 0.5, most similar first (match_none: 0.6, below match's 0.625)
            "unknown query [match_al] did you mean any of [match_all, match, match_none, "
            "match_phrase]?",
        ),
        (
            {"sort": [{"n": {"ordr": "asc"}}]},
            # with the key's location in the client's compact JSON, as ES's ObjectParser
            "[1:16] [field_sort] unknown field [ordr] did you mean [order]?",
        ),
        (
            {"aggs": {"a": {"term": {"field": "n"}}}},
            "Unknown aggregation type [term] did you mean [terms]?",
        ),
    ],
    ids=["query", "field_sort", "aggregation"],
)
def test_unknown_names_get_es_suggestions(
    es: Elasticsearch, index: str, body: dict[str, Any], reason: str
) -> None:
    # ES's Levenshtein suggestions (similarity above 0.5), as its parsers write them.
    status, error = api_error(lambda: es.search(index=index, **body))
    assert (status, error["error"]["root_cause"][0]["reason"]) == (400, reason)


def test_an_unknown_url_parameter_gets_es_suggestion(es: Elasticsearch, index: str) -> None:
    status, error = api_error(
        lambda: es.perform_request(
            "GET",
            f"/{index}/_search",
            params={"sizee": "1"},
            headers={"accept": "application/json"},
        )
    )
    assert status == 400
    assert error["error"]["reason"] == (
        f"request [/{index}/_search] contains unrecognized parameter: [sizee] -> did you mean "
        "[size]?"
    )


def test_a_routed_search_reaches_only_the_shards_its_values_route_to(es: Elasticsearch) -> None:
    name = "search-fixes-routed"
    es.indices.create(index=name, settings={"number_of_shards": 4})
    try:
        for user in ("ann", "bob", "cyd", "dee", "eve", "fay"):
            es.index(index=name, id=user, document={"user": user}, routing=user, refresh=True)
        everything = es.search(index=name, size=20)
        assert everything["_shards"]["total"] == 4
        assert everything["hits"]["total"]["value"] == 6
        routed = es.search(index=name, routing="ann", size=20)
        assert routed["_shards"]["total"] == 1
        # ann's shard, and whoever else routes there: never all six.
        ids = {h["_id"] for h in routed["hits"]["hits"]}
        assert "ann" in ids and len(ids) < 6
        assert es.count(index=name, routing="ann")["count"] == len(ids)
        assert es.count(index=name, routing="ann")["_shards"]["total"] == 1
        two = es.search(index=name, routing="ann,bob", size=20)
        assert two["_shards"]["total"] in (1, 2)
        assert {"ann", "bob"} <= {h["_id"] for h in two["hits"]["hits"]}
    finally:
        es.indices.delete(index=name)
