"""Field types users put in real mappings, through the official client on one shared node:
each type's mapping echo, indexing (and ES's errors for bad values), queries, aggregations and
sorts; and the ``_index`` metadata field in queries, aggregations and sorts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error


def _load(es: Elasticsearch, index: str, mappings: dict[str, Any], docs: list[Any]) -> None:
    es.indices.create(index=index, mappings=mappings)
    ops: list[dict[str, Any]] = []
    for n, doc in enumerate(docs, 1):
        ops += [{"index": {"_index": index, "_id": str(n)}}, doc]
    if ops:
        resp = es.bulk(operations=ops, refresh=True)
        assert resp["errors"] is False, resp


def _ids(resp: Any) -> list[str]:
    return [h["_id"] for h in resp["hits"]["hits"]]


def _hits(es: Elasticsearch, index: str, query: dict[str, Any], **kw: Any) -> list[str]:
    return sorted(_ids(es.search(index=index, query=query, size=50, **kw)))


# --- _index ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_indices(es: Elasticsearch) -> Iterator[str]:
    _load(es, "ft-idx-alpha", {"properties": {"n": {"type": "long"}}}, [{"n": 1}, {"n": 2}])
    _load(es, "ft-idx-beta", {"properties": {"n": {"type": "long"}}}, [{"n": 3}])
    yield "ft-idx-*"
    es.indices.delete(index="ft-idx-alpha,ft-idx-beta")


def _indices_hit(es: Elasticsearch, pattern: str, query: dict[str, Any]) -> list[str]:
    resp = es.search(index=pattern, query=query, size=50)
    return sorted(h["_index"] for h in resp["hits"]["hits"])


def test_index_field_in_queries(es: Elasticsearch, two_indices: str) -> None:
    alpha2 = ["ft-idx-alpha", "ft-idx-alpha"]
    assert _indices_hit(es, two_indices, {"term": {"_index": "ft-idx-alpha"}}) == alpha2
    assert _indices_hit(es, two_indices, {"terms": {"_index": ["ft-idx-beta", "x"]}}) == [
        "ft-idx-beta"
    ]
    assert _indices_hit(es, two_indices, {"prefix": {"_index": "ft-idx-b"}}) == ["ft-idx-beta"]
    assert _indices_hit(es, two_indices, {"wildcard": {"_index": "*alp*"}}) == alpha2
    assert _indices_hit(es, two_indices, {"match": {"_index": "ft-idx-beta"}}) == ["ft-idx-beta"]
    assert _indices_hit(
        es,
        two_indices,
        {"bool": {"must_not": [{"term": {"_index": "ft-idx-alpha"}}]}},
    ) == ["ft-idx-beta"]
    assert _indices_hit(es, two_indices, {"term": {"_index": "nope"}}) == []
    count = es.count(index=two_indices, query={"term": {"_index": "ft-idx-beta"}})
    assert count["count"] == 1
    status, body = api_error(
        lambda: es.search(index=two_indices, query={"regexp": {"_index": "ft.*"}})
    )
    assert status == 400
    assert "Can only use regexp queries on keyword and text fields - not on [_index]" in str(body)


def test_index_field_in_aggs_and_sort(es: Elasticsearch, two_indices: str) -> None:
    resp = es.search(
        index=two_indices,
        size=10,
        sort=[{"_index": "desc"}, {"n": "asc"}],
        aggs={"per": {"terms": {"field": "_index"}}},
    )
    assert [(h["_index"], h["sort"]) for h in resp["hits"]["hits"]] == [
        ("ft-idx-beta", ["ft-idx-beta", 3]),
        ("ft-idx-alpha", ["ft-idx-alpha", 1]),
        ("ft-idx-alpha", ["ft-idx-alpha", 2]),
    ]
    buckets = resp["aggregations"]["per"]["buckets"]
    assert buckets == [
        {"key": "ft-idx-alpha", "doc_count": 2},
        {"key": "ft-idx-beta", "doc_count": 1},
    ]
