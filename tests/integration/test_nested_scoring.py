"""``nested`` query scores and the ``reverse_nested`` aggregation, with the official client.

ES's reference ("Nested query"): each object of a nested field is indexed as a hidden document
of its own and the inner query scores those documents; ``score_mode`` says how a parent's
matching objects' scores make its own: ``avg`` (default), ``max``, ``min``, ``sum``, ``none``
(0). So an object scores what the same object would score as a plain document of an index of
the objects, which is what these tests compare with. ("Reverse nested aggregation"): inside a
``nested`` aggregation, ``reverse_nested`` joins back to the root documents (or to a ``path``),
counting each once, and is refused anywhere else.
"""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import BadRequestError, Elasticsearch

PARENTS: dict[str, dict[str, Any]] = {
    "1": {
        "tags": ["tv", "sound"],
        "comments": [
            {"username": "kim", "text": "great great picture"},
            {"username": "lee", "text": "bad remote"},
        ],
    },
    "2": {"tags": ["tv"], "comments": [{"username": "kim", "text": "great"}]},
    "3": {
        "tags": ["radio"],
        "comments": [
            {"username": "lee", "text": "bad bad tuning"},
            {"username": "kim", "text": "great"},
            {"username": "kim", "text": "great value and great sound for a great price"},
        ],
    },
    "4": {"tags": ["sound"], "comments": [{"username": "ola", "text": "fine"}]},
}
COMMENT = {"username": {"type": "keyword"}, "text": {"type": "text"}}


@pytest.fixture(scope="module")
def issues(es: Elasticsearch) -> Elasticsearch:
    es.indices.create(
        index="nested-issues",
        mappings={
            "properties": {
                "tags": {"type": "keyword"},
                "comments": {"type": "nested", "properties": COMMENT},
            }
        },
    )
    # The same objects as plain documents of their own: what ES scores a nested object as.
    es.indices.create(
        index="nested-objects", mappings={"properties": {"comments": {"properties": COMMENT}}}
    )
    ops: list[dict[str, Any]] = []
    for doc_id, doc in PARENTS.items():
        ops += [{"index": {"_index": "nested-issues", "_id": doc_id}}, doc]
        for offset, comment in enumerate(doc["comments"]):
            ops += [
                {"index": {"_index": "nested-objects", "_id": f"{doc_id}-{offset}"}},
                {"comments": comment},
            ]
    es.bulk(operations=ops, refresh=True)
    return es


def _combine(scores: list[float], mode: str) -> float:
    if mode == "none":
        return 0.0
    if mode == "max":
        return max(scores)
    if mode == "min":
        return min(scores)
    if mode == "sum":
        return sum(scores)
    return sum(scores) / len(scores)


@pytest.mark.parametrize("mode", ["avg", "max", "min", "sum", None])
def test_nested_query_scores_by_score_mode(issues: Elasticsearch, mode: str | None) -> None:
    inner = {"match": {"comments.text": "great"}}
    objects = issues.search(index="nested-objects", query=inner, size=100)["hits"]["hits"]
    per_parent: dict[str, list[float]] = {}
    for hit in objects:
        per_parent.setdefault(hit["_id"].split("-")[0], []).append(hit["_score"])
    nested: dict[str, Any] = {"path": "comments", "query": inner}
    if mode is not None:
        nested["score_mode"] = mode
    hits = issues.search(index="nested-issues", query={"nested": nested})["hits"]["hits"]
    got = {h["_id"]: h["_score"] for h in hits}
    assert got.keys() == per_parent.keys() == {"1", "2", "3"}
    for parent, scores in per_parent.items():
        expected = _combine(scores, mode or "avg")
        assert got[parent] == pytest.approx(expected, rel=1e-5), (mode, parent)
    if mode in ("max", "avg", "sum"):  # ranked by the joined scores
        assert [h["_id"] for h in hits] == sorted(got, key=lambda d: -got[d])


def test_nested_query_boost_multiplies(issues: Elasticsearch) -> None:
    query: dict[str, Any] = {
        "nested": {"path": "comments", "query": {"match": {"comments.text": "bad"}}}
    }
    plain = {
        h["_id"]: h["_score"]
        for h in issues.search(index="nested-issues", query=query)["hits"]["hits"]
    }
    query["nested"]["boost"] = 3.0
    boosted = issues.search(index="nested-issues", query=query)["hits"]["hits"]
    assert {h["_id"]: h["_score"] for h in boosted} == pytest.approx(
        {d: 3.0 * s for d, s in plain.items()}
    )
    assert plain["1"] != plain["3"]  # "bad remote" and "bad bad tuning" score differently
    query["nested"]["score_mode"] = "none"
    unscored = issues.search(index="nested-issues", query=query)["hits"]["hits"]
    assert {h["_id"]: h["_score"] for h in unscored} == {"1": 0.0, "3": 0.0}


def test_reverse_nested_joins_back_to_the_documents(issues: Elasticsearch) -> None:
    aggs = {
        "comments": {
            "nested": {"path": "comments"},
            "aggs": {
                "by_user": {
                    "terms": {"field": "comments.username"},
                    "aggs": {
                        "issues": {
                            "reverse_nested": {},
                            "aggs": {"tags": {"terms": {"field": "tags"}}},
                        }
                    },
                }
            },
        }
    }
    res = issues.search(index="nested-issues", size=0, aggs=aggs)["aggregations"]
    assert res["comments"]["doc_count"] == 7
    buckets = {b["key"]: b for b in res["comments"]["by_user"]["buckets"]}
    # kim commented 4 times on issues 1, 2 and 3 (twice on 3): three issues.
    assert buckets["kim"]["doc_count"] == 4
    assert buckets["kim"]["issues"]["doc_count"] == 3
    assert {b["key"]: b["doc_count"] for b in buckets["kim"]["issues"]["tags"]["buckets"]} == {
        "tv": 2,
        "sound": 1,
        "radio": 1,
    }
    assert buckets["lee"]["issues"]["doc_count"] == 2
    assert buckets["ola"]["issues"]["doc_count"] == 1
    typed = issues.search(index="nested-issues", size=0, aggs=aggs, typed_keys=True)["aggregations"]
    user = typed["nested#comments"]["sterms#by_user"]["buckets"][0]
    assert "reverse_nested#issues" in user


def test_reverse_nested_outside_nested_is_refused(issues: Elasticsearch) -> None:
    with pytest.raises(BadRequestError) as info:
        issues.search(index="nested-issues", size=0, aggs={"back": {"reverse_nested": {}}})
    cause = info.value.body["error"]["root_cause"][0]
    assert cause["type"] == "illegal_argument_exception"
    assert cause["reason"] == (
        "Reverse nested aggregation [back] can only be used inside a [nested] aggregation"
    )


def test_inner_hits_show_each_objects_score_best_first(issues: Elasticsearch) -> None:
    inner = {"match": {"comments.text": "great"}}
    objects = issues.search(index="nested-objects", query=inner, size=100)["hits"]["hits"]
    expected = {h["_id"]: h["_score"] for h in objects if h["_id"].startswith("3-")}
    res = issues.search(
        index="nested-issues",
        query={"nested": {"path": "comments", "query": inner, "inner_hits": {}}},
    )
    (hit,) = [h for h in res["hits"]["hits"] if h["_id"] == "3"]
    inner_hits = hit["inner_hits"]["comments"]["hits"]
    got = [(f"3-{h['_nested']['offset']}", h["_score"]) for h in inner_hits["hits"]]
    assert [doc for doc, _ in got] == sorted(expected, key=lambda d: -expected[d])
    for doc, score in got:
        assert score == pytest.approx(expected[doc], rel=1e-5)
    assert inner_hits["max_score"] == pytest.approx(max(expected.values()), rel=1e-5)


def test_reverse_nested_to_an_enclosing_nested_path(es: Elasticsearch) -> None:
    es.indices.create(
        index="nested-threads",
        mappings={
            "properties": {
                "comments": {
                    "type": "nested",
                    "properties": {
                        "author": {"type": "keyword"},
                        "replies": {"type": "nested", "properties": {"who": {"type": "keyword"}}},
                    },
                }
            }
        },
    )
    docs: list[dict[str, Any]] = [
        {"comments": [{"author": "a", "replies": [{"who": "x"}, {"who": "x"}, {"who": "y"}]}]},
        {"comments": [{"author": "b", "replies": [{"who": "x"}]}, {"author": "c"}]},
    ]
    ops: list[dict[str, Any]] = []
    for i, doc in enumerate(docs):
        ops += [{"index": {"_index": "nested-threads", "_id": str(i)}}, doc]
    es.bulk(operations=ops, refresh=True)
    aggs = {
        "c": {
            "nested": {"path": "comments"},
            "aggs": {
                "r": {
                    "nested": {"path": "comments.replies"},
                    "aggs": {
                        "who": {
                            "terms": {"field": "comments.replies.who"},
                            "aggs": {
                                "to_comment": {
                                    "reverse_nested": {"path": "comments"},
                                    "aggs": {"by": {"terms": {"field": "comments.author"}}},
                                },
                                "to_root": {"reverse_nested": {}},
                                "nowhere": {"reverse_nested": {"path": "no.such.path"}},
                            },
                        }
                    },
                }
            },
        }
    }
    res = es.search(index="nested-threads", size=0, aggs=aggs)["aggregations"]
    assert res["c"]["doc_count"] == 3 and res["c"]["r"]["doc_count"] == 4
    x = next(b for b in res["c"]["r"]["who"]["buckets"] if b["key"] == "x")
    assert x["doc_count"] == 3
    # x replied three times, under two comments (a twice, b once) of two documents.
    assert x["to_comment"]["doc_count"] == 2
    assert {b["key"]: b["doc_count"] for b in x["to_comment"]["by"]["buckets"]} == {"a": 1, "b": 1}
    assert x["to_root"]["doc_count"] == 2
    assert x["nowhere"] == {"doc_count": 0}
