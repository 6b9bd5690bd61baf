"""Search semantics that need every shard's view, with the official client on the shared node.

* ``search_type=dfs_query_then_fetch`` scores with global term statistics (ES's DFS phase sums
  each shard's document frequencies, document counts and field lengths): an index of several
  shards, or several indices, score exactly as the same documents in one shard; with the default
  ``query_then_fetch`` each shard scores with its own statistics (ES's reference: "Search
  type", and the scoring note "Scores are not reproducible" for several shards).
* ``preference`` picks shards as ES's OperationRouting does: ``_shards:0,2`` searches (counts,
  opens a point in time on) those shard numbers only, ``|`` chains a copy preference, custom
  strings and ``_local`` keep every shard, an unknown ``_`` type is refused.
* the top-level ``knn`` option's ``k`` is global (ES's reference, "kNN search": the search
  "collects the top k across all shards"); with a ``query`` a hit is in either set and its score
  is the sum of both, ``size`` cutting after.
"""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import BadRequestError, Elasticsearch

WORDS = ["quick", "brown", "fox", "lazy", "dog", "jumps", "over", "the", "fence", "river", "stone"]
TEXT_MAPPING = {
    "properties": {"title": {"type": "text"}, "body": {"type": "text"}, "tag": {"type": "keyword"}}
}


def _doc(i: int) -> dict[str, Any]:
    # Uneven documents: term frequencies, lengths and tags differ from shard to shard.
    title = " ".join(WORDS[(i * 3 + k) % len(WORDS)] for k in range(1 + i % 4))
    body = " ".join(WORDS[(i * 7 + k * 2) % len(WORDS)] for k in range(2 + i % 5))
    return {"title": title, "body": body, "tag": "t" + str(i % 3)}


@pytest.fixture(scope="module")
def scored(es: Elasticsearch) -> Elasticsearch:
    for name, shards in (("dfs-one", 1), ("dfs-three", 3), ("dfs-half-a", 1), ("dfs-half-b", 2)):
        es.indices.create(index=name, settings={"number_of_shards": shards}, mappings=TEXT_MAPPING)
    ops: list[dict[str, Any]] = []
    for i in range(40):
        half = "dfs-half-a" if i % 3 == 0 else "dfs-half-b"
        for index in ("dfs-one", "dfs-three", half):
            ops += [{"index": {"_index": index, "_id": str(i)}}, _doc(i)]
    es.bulk(operations=ops, refresh=True)
    return es


QUERIES: list[dict[str, Any]] = [
    {"match": {"title": "quick fox"}},
    {"match": {"body": {"query": "lazy dog river", "operator": "or", "boost": 2.5}}},
    {"term": {"title": "stone"}},
    {"term": {"tag": "t1"}},
    {
        "bool": {
            "must": [{"match": {"title": "brown"}}],
            "should": [{"match": {"body": "fence jumps"}}, {"term": {"tag": "t2"}}],
        }
    },
    {"multi_match": {"query": "over the fox", "fields": ["title", "body^2"], "tie_breaker": 0.3}},
    {"match_phrase": {"title": "fox lazy"}},
    {
        "bool": {
            "should": [
                {"match_phrase": {"title": "brown fox"}},
                {"match_phrase": {"body": {"query": "lazy jumps", "slop": 1}}},
                {"match": {"title": "dog"}},
            ]
        }
    },
]


def _scores(es: Elasticsearch, index: str, query: dict[str, Any], **kw: Any) -> dict[str, float]:
    hits = es.search(index=index, query=query, size=100, **kw)["hits"]["hits"]
    return {h["_id"]: h["_score"] for h in hits}


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: next(iter(q)))
def test_dfs_scores_as_one_shard(scored: Elasticsearch, query: dict[str, Any]) -> None:
    one = _scores(scored, "dfs-one", query)
    assert one
    for index in ("dfs-three", "dfs-half-a,dfs-half-b"):
        dfs = _scores(scored, index, query, search_type="dfs_query_then_fetch")
        assert dfs.keys() == one.keys()
        for doc_id, score in one.items():
            assert dfs[doc_id] == pytest.approx(score, rel=1e-6), (index, doc_id)


def test_dfs_ranks_a_page_globally(scored: Elasticsearch) -> None:
    query = {"match": {"title": "quick fox stone"}}
    full = scored.search(index="dfs-one", query=query, size=5)["hits"]
    page = scored.search(
        index="dfs-three", query=query, size=5, search_type="dfs_query_then_fetch"
    )["hits"]
    assert [h["_id"] for h in page["hits"]] == [h["_id"] for h in full["hits"]]
    assert page["max_score"] == pytest.approx(full["max_score"], rel=1e-6)
    assert page["total"] == full["total"]
    # Through a point in time too (its shards' readers answer the DFS phase).
    pit = scored.open_point_in_time(index="dfs-three", keep_alive="1m")["id"]
    try:
        in_pit = scored.search(
            pit={"id": pit}, query=query, size=5, search_type="dfs_query_then_fetch"
        )["hits"]
    finally:
        scored.close_point_in_time(id=pit)
    assert [h["_score"] for h in in_pit["hits"]] == pytest.approx(
        [h["_score"] for h in full["hits"]], rel=1e-6
    )
    # query_then_fetch keeps each shard's own statistics, as ES's does: scores differ.
    local = _scores(scored, "dfs-three", query, search_type="query_then_fetch")
    one = _scores(scored, "dfs-one", query)
    assert local.keys() == one.keys()
    assert any(local[d] != pytest.approx(one[d], rel=1e-6) for d in one)


def _same_tree(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["description"] == b["description"]
    assert a["value"] == pytest.approx(b["value"], rel=1e-6), a["description"]
    assert len(a["details"]) == len(b["details"])
    for x, y in zip(a["details"], b["details"], strict=True):
        _same_tree(x, y)


def test_dfs_explanations_show_the_global_statistics(scored: Elasticsearch) -> None:
    query = {"bool": {"should": [{"match": {"title": "quick fox"}}, {"term": {"tag": "t1"}}]}}
    one = scored.search(index="dfs-one", query=query, explain=True, size=100)["hits"]["hits"]
    dfs = scored.search(
        index="dfs-three",
        query=query,
        explain=True,
        size=100,
        search_type="dfs_query_then_fetch",
    )["hits"]["hits"]
    by_id = {h["_id"]: h for h in one}
    assert len(dfs) == len(one)
    for hit in dfs:
        assert hit["_explanation"]["value"] == pytest.approx(hit["_score"], rel=1e-6)
        _same_tree(hit["_explanation"], by_id[hit["_id"]]["_explanation"])


# --- preference --------------------------------------------------------------------------


def test_preference_picks_shards(scored: Elasticsearch) -> None:
    everything = scored.search(index="dfs-three", size=100)
    assert everything["_shards"]["total"] == 3
    by_shard = [
        scored.search(index="dfs-three", size=100, preference=f"_shards:{n}") for n in range(3)
    ]
    assert [r["_shards"]["total"] for r in by_shard] == [1, 1, 1]
    ids = [{h["_id"] for h in r["hits"]["hits"]} for r in by_shard]
    assert set().union(*ids) == {h["_id"] for h in everything["hits"]["hits"]}
    assert sum(len(i) for i in ids) == 40  # each document in exactly one shard
    two = scored.search(index="dfs-three", size=100, preference="_shards:0,2|_local")
    assert two["_shards"]["total"] == 2
    assert {h["_id"] for h in two["hits"]["hits"]} == ids[0] | ids[2]
    counted = scored.count(index="dfs-three", preference="_shards:1")
    assert counted["count"] == len(ids[1]) and counted["_shards"]["total"] == 1
    for custom in ("_local", "_only_local", "my-session-7"):
        assert scored.search(index="dfs-three", preference=custom)["_shards"]["total"] == 3
    opened = scored.open_point_in_time(index="dfs-three", keep_alive="1m", preference="_shards:1")
    try:
        assert opened["_shards"]["total"] == 1
        in_pit = scored.search(pit={"id": opened["id"]}, size=100)
        assert {h["_id"] for h in in_pit["hits"]["hits"]} == ids[1]
    finally:
        scored.close_point_in_time(id=opened["id"])


@pytest.mark.parametrize(
    ("preference", "error_type", "reason"),
    [
        ("_xyz", "illegal_argument_exception", "no Preference for [_xyz]"),
        ("_shards:x", "number_format_exception", 'For input string: "x"'),
        ("_shards:0|_shards:1", "illegal_argument_exception", "unknown preference [SHARDS]"),
    ],
)
def test_bad_preference(
    scored: Elasticsearch, preference: str, error_type: str, reason: str
) -> None:
    with pytest.raises(BadRequestError) as info:
        scored.search(index="dfs-three", preference=preference)
    assert info.value.body["error"]["root_cause"][0]["type"] == error_type
    assert info.value.body["error"]["root_cause"][0]["reason"] == reason


# --- kNN: k is global -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def vectors(es: Elasticsearch) -> Elasticsearch:
    es.indices.create(
        index="knn-global",
        settings={"number_of_shards": 3},
        mappings={
            "properties": {
                "v": {"type": "dense_vector", "dims": 2, "similarity": "l2_norm"},
                "tag": {"type": "keyword"},
            }
        },
    )
    ops: list[dict[str, Any]] = []
    for i in range(12):
        ops += [
            {"index": {"_index": "knn-global", "_id": str(i)}},
            {"v": [float(i), 0.0], "tag": "even" if i % 2 == 0 else "odd"},
        ]
    es.bulk(operations=ops, refresh=True)
    return es


def _l2_score(i: int) -> float:
    return 1 / (1 + float(i) ** 2)  # ES's l2_norm score for [i, 0] against [0, 0]


def test_knn_k_is_global(vectors: Elasticsearch) -> None:
    res = vectors.search(
        index="knn-global",
        knn={"field": "v", "query_vector": [0.0, 0.0], "k": 3, "num_candidates": 12},
        size=10,
    )
    hits = res["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["0", "1", "2"]
    assert res["hits"]["total"] == {"value": 3, "relation": "eq"}
    assert [h["_score"] for h in hits] == pytest.approx([_l2_score(i) for i in range(3)])


def test_knn_with_query_sums_scores_and_cuts_at_size(vectors: Elasticsearch) -> None:
    res = vectors.search(
        index="knn-global",
        query={"constant_score": {"filter": {"term": {"tag": "odd"}}, "boost": 0.1}},
        knn={"field": "v", "query_vector": [0.0, 0.0], "k": 2, "num_candidates": 5},
        size=4,
    )
    hits = res["hits"]["hits"]
    # The union: the six odd documents and the global two nearest (0 and 1).
    assert res["hits"]["total"]["value"] == 7
    expected = {"0": _l2_score(0), "1": 0.1 + _l2_score(1)}
    expected.update({str(i): 0.1 for i in (3, 5, 7, 9, 11)})
    ranked = sorted(expected.items(), key=lambda kv: -kv[1])
    assert len(hits) == 4
    assert hits[0]["_id"] == "0" and hits[1]["_id"] == "1"
    for hit in hits:
        assert hit["_score"] == pytest.approx(expected[hit["_id"]], rel=1e-6)
    assert [h["_score"] for h in hits] == pytest.approx([v for _k, v in ranked[:4]], rel=1e-6)
