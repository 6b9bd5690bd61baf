"""Aggregations through ``_search`` on a real node: bucket (terms, date_histogram), metric (avg,
sum, min, max, stats, value_count) and nested sub-aggregations, in ES 8/9's response shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch

SALES = "aggs-sales"

SALES_DOCS = [
    {"category": "books", "price": 10, "sold": "2024-01-05"},
    {"category": "books", "price": 20, "sold": "2024-01-20"},
    {"category": "games", "price": 30, "sold": "2024-02-03"},
    {"category": "books", "price": 40, "sold": "2024-03-15"},
    {"category": "toys", "price": 50, "sold": "2024-03-16"},
    {"category": "games", "price": 60, "sold": "2024-03-30"},
]

JAN, FEB, MAR = 1704067200000, 1706745600000, 1709251200000  # 2024-0x-01T00:00:00Z


@pytest.fixture(scope="module")
def sales(es: Elasticsearch) -> Iterator[str]:
    es.indices.create(
        index=SALES,
        mappings={
            "properties": {
                "category": {"type": "keyword"},
                "price": {"type": "long"},
                "sold": {"type": "date"},
            }
        },
    )
    ops: list[dict[str, Any]] = []
    for n, doc in enumerate(SALES_DOCS, 1):
        ops += [{"index": {"_index": SALES, "_id": str(n)}}, doc]
    assert es.bulk(operations=ops, refresh=True)["errors"] is False
    yield SALES
    es.indices.delete(index=SALES)


def aggs(es: Elasticsearch, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    resp = es.search(index=SALES, size=0, aggs=body, **kwargs)
    assert resp["hits"]["hits"] == []
    return dict(resp["aggregations"])


def test_terms(es: Elasticsearch, sales: str) -> None:
    result = aggs(es, {"by_cat": {"terms": {"field": "category"}}})["by_cat"]
    assert result == {
        "doc_count_error_upper_bound": 0,
        "sum_other_doc_count": 0,
        "buckets": [
            {"key": "books", "doc_count": 3},
            {"key": "games", "doc_count": 2},
            {"key": "toys", "doc_count": 1},
        ],
    }
    assert list(result) == ["doc_count_error_upper_bound", "sum_other_doc_count", "buckets"]


def test_terms_size_reports_other_docs(es: Elasticsearch, sales: str) -> None:
    result = aggs(es, {"by_cat": {"terms": {"field": "category", "size": 2}}})["by_cat"]
    assert [b["key"] for b in result["buckets"]] == ["books", "games"]
    assert result["sum_other_doc_count"] == 1


def test_terms_respects_query(es: Elasticsearch, sales: str) -> None:
    resp = es.search(
        index=SALES,
        size=0,
        query={"range": {"price": {"gte": 30}}},
        aggs={"by_cat": {"terms": {"field": "category"}}},
    )
    assert resp["hits"]["total"] == {"value": 4, "relation": "eq"}
    assert resp["aggregations"]["by_cat"]["buckets"] == [
        {"key": "games", "doc_count": 2},
        {"key": "books", "doc_count": 1},
        {"key": "toys", "doc_count": 1},
    ]


def test_metrics(es: Elasticsearch, sales: str) -> None:
    result = aggs(
        es,
        {
            "avg_price": {"avg": {"field": "price"}},
            "sum_price": {"sum": {"field": "price"}},
            "min_price": {"min": {"field": "price"}},
            "max_price": {"max": {"field": "price"}},
            "n": {"value_count": {"field": "price"}},
            "st": {"stats": {"field": "price"}},
        },
    )
    assert result["avg_price"] == {"value": 35.0}
    assert result["sum_price"] == {"value": 210.0}
    assert result["min_price"] == {"value": 10.0}
    assert result["max_price"] == {"value": 60.0}
    assert result["n"] == {"value": 6}
    assert result["st"] == {"count": 6, "min": 10.0, "max": 60.0, "avg": 35.0, "sum": 210.0}
    assert list(result["st"]) == ["count", "min", "max", "avg", "sum"]


def test_avg_of_no_documents_is_null(es: Elasticsearch, sales: str) -> None:
    resp = es.search(
        index=SALES,
        size=0,
        query={"term": {"category": "none"}},
        aggs={"avg_price": {"avg": {"field": "price"}}},
    )
    assert resp["aggregations"]["avg_price"] == {"value": None}


def test_date_histogram(es: Elasticsearch, sales: str) -> None:
    result = aggs(
        es, {"per_month": {"date_histogram": {"field": "sold", "calendar_interval": "month"}}}
    )
    assert result["per_month"]["buckets"] == [
        {"key_as_string": "2024-01-01T00:00:00.000Z", "key": JAN, "doc_count": 2},
        {"key_as_string": "2024-02-01T00:00:00.000Z", "key": FEB, "doc_count": 1},
        {"key_as_string": "2024-03-01T00:00:00.000Z", "key": MAR, "doc_count": 3},
    ]
    assert list(result["per_month"]["buckets"][0]) == ["key_as_string", "key", "doc_count"]


def test_date_histogram_format_and_empty_buckets(es: Elasticsearch, sales: str) -> None:
    resp = es.search(
        index=SALES,
        size=0,
        query={"bool": {"must_not": {"term": {"category": "games"}}}},
        aggs={
            "per_month": {
                "date_histogram": {"field": "sold", "calendar_interval": "1M", "format": "yyyy-MM"}
            }
        },
    )
    buckets = resp["aggregations"]["per_month"]["buckets"]
    # min_doc_count defaults to 0: the empty February between two non-empty months is kept.
    assert buckets == [
        {"key_as_string": "2024-01", "key": JAN, "doc_count": 2},
        {"key_as_string": "2024-02", "key": FEB, "doc_count": 0},
        {"key_as_string": "2024-03", "key": MAR, "doc_count": 2},
    ]


def test_nested_sub_aggregations(es: Elasticsearch, sales: str) -> None:
    result = aggs(
        es,
        {
            "by_cat": {
                "terms": {"field": "category"},
                "aggs": {
                    "avg_price": {"avg": {"field": "price"}},
                    "per_month": {
                        "date_histogram": {
                            "field": "sold",
                            "calendar_interval": "month",
                            "min_doc_count": 1,
                        }
                    },
                },
            }
        },
    )
    books, games, toys = result["by_cat"]["buckets"]
    assert books["key"] == "books" and books["doc_count"] == 3
    assert books["avg_price"] == {"value": 70 / 3}
    assert games["avg_price"] == {"value": 45.0}
    assert toys["avg_price"] == {"value": 50.0}
    assert [(b["key"], b["doc_count"]) for b in books["per_month"]["buckets"]] == [
        (JAN, 2),
        (MAR, 1),
    ]
    assert list(books) == ["key", "doc_count", "avg_price", "per_month"]


def test_terms_ordered_by_sub_aggregation(es: Elasticsearch, sales: str) -> None:
    result = aggs(
        es,
        {
            "by_cat": {
                "terms": {"field": "category", "order": {"avg_price": "desc"}},
                "aggs": {"avg_price": {"avg": {"field": "price"}}},
            }
        },
    )
    assert [b["key"] for b in result["by_cat"]["buckets"]] == ["toys", "games", "books"]


def test_typed_keys(es: Elasticsearch, sales: str) -> None:
    resp = es.search(
        index=SALES,
        size=0,
        typed_keys=True,
        aggs={
            "by_cat": {
                "terms": {"field": "category"},
                "aggs": {"avg_price": {"avg": {"field": "price"}}},
            }
        },
    )
    by_cat = resp["aggregations"]["sterms#by_cat"]
    assert by_cat["buckets"][0]["avg#avg_price"]["value"] == 70 / 3


def test_unknown_aggregation_type(es: Elasticsearch, sales: str) -> None:
    with pytest.raises(ApiError) as info:
        es.search(index=SALES, size=0, aggs={"x": {"nope": {"field": "price"}}})
    assert info.value.meta.status == 400
    err = info.value.body["error"]
    assert err["type"] == "parsing_exception"
    assert err["reason"].startswith("Unknown aggregation type [nope]")
