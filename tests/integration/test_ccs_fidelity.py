"""Cross-cluster search answers as Elasticsearch does, with and without minimized round trips.

A remote cluster's shards run the search knowing the alias the coordinator calls them by, so
``_index`` is ``<alias>:<index>`` there for queries, sorts and aggregations (top_hits, terms on
``_index``); ``num_reduce_phases`` counts the merge of the clusters' answers; ``_shards.skipped``
adds up what each cluster's can-match pre-filter skipped. Both clusters hold an index ``logs``
(local n = 0..29 over two shards, remote n = 100..129 over three), so the names clash on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.process import NodeProcess, start_side_by_side

BOTH = pytest.mark.parametrize("minimize", [True, False], ids=["minimized", "shard_by_shard"])


@pytest.fixture(scope="module")
def lc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Elasticsearch]:
    base = tmp_path_factory.mktemp("ccs_fidelity")
    remote = NodeProcess(base / "remote", {"cluster.name": "remote", "node.name": "remote-node"})
    local = NodeProcess(base / "local", {"cluster.name": "local", "node.name": "local-node"})
    start_side_by_side(remote, local)
    try:
        rc, client = Elasticsearch(remote.url), Elasticsearch(local.url)
        for es, shards, offset in ((client, 2, 0), (rc, 3, 100)):
            es.indices.create(
                index="logs",
                settings={"number_of_shards": shards},
                mappings={"properties": {"n": {"type": "long"}}},
            )
            ops: list[dict[str, Any]] = []
            for i in range(30):
                ops += [{"index": {"_index": "logs", "_id": str(i)}}, {"n": offset + i}]
            es.bulk(operations=ops, refresh=True)
        client.cluster.put_settings(
            persistent={"cluster.remote.r.seeds": [remote.transport_address()]}
        )
        yield client
    finally:
        local.kill()
        remote.kill()


def search(lc: Elasticsearch, minimize: bool, **kwargs: Any) -> dict[str, Any]:
    body: dict[str, Any] = lc.search(
        index="logs,r:logs", ccs_minimize_roundtrips=minimize, **kwargs
    ).body
    return body


@BOTH
def test_index_in_aggregations_is_qualified(lc: Elasticsearch, minimize: bool) -> None:
    out = search(
        lc,
        minimize,
        size=0,
        aggs={
            "top": {"top_hits": {"size": 3, "sort": [{"n": "desc"}], "_source": False}},
            "by_index": {"terms": {"field": "_index"}},
            "low": {"top_hits": {"size": 2, "sort": [{"n": "asc"}], "_source": False}},
            "remote": {"filter": {"term": {"_index": "r:logs"}}},
            "not_remote": {"filter": {"bool": {"must_not": {"wildcard": {"_index": "r:*"}}}}},
        },
    )
    top = [(h["_index"], h["_id"]) for h in out["aggregations"]["top"]["hits"]["hits"]]
    assert top == [("r:logs", "29"), ("r:logs", "28"), ("r:logs", "27")]
    low = [(h["_index"], h["_id"]) for h in out["aggregations"]["low"]["hits"]["hits"]]
    assert low == [("logs", "0"), ("logs", "1")]
    buckets = out["aggregations"]["by_index"]["buckets"]
    assert sorted((b["key"], b["doc_count"]) for b in buckets) == [("logs", 30), ("r:logs", 30)]
    assert out["aggregations"]["remote"]["doc_count"] == 30
    assert out["aggregations"]["not_remote"]["doc_count"] == 30


@BOTH
def test_queries_on_index_see_the_cluster_alias(lc: Elasticsearch, minimize: bool) -> None:
    def ids(query: dict[str, Any]) -> list[tuple[str, int]]:
        out = search(lc, minimize, size=60, query=query, sort=[{"n": "asc"}])
        return sorted({(h["_index"], h["_source"]["n"] // 100) for h in out["hits"]["hits"]})

    local, remote = [("logs", 0)], [("r:logs", 1)]
    # As ES's SearchIndexNameMatcher: on a remote shard only a pattern naming a cluster matches.
    assert ids({"bool": {"must_not": {"term": {"_index": "r:logs"}}}}) == local
    assert ids({"term": {"_index": "r:logs"}}) == remote
    assert ids({"term": {"_index": "logs"}}) == local
    assert ids({"terms": {"_index": ["r:logs", "nope"]}}) == remote
    assert ids({"wildcard": {"_index": "*:lo*"}}) == remote
    assert ids({"wildcard": {"_index": "lo*"}}) == local
    assert ids({"wildcard": {"_index": "*logs"}}) == local
    assert ids({"prefix": {"_index": "r:"}}) == remote
    assert ids({"prefix": {"_index": {"value": "R:LO", "case_insensitive": True}}}) == remote


@BOTH
def test_sort_on_index_uses_the_qualified_name(lc: Elasticsearch, minimize: bool) -> None:
    out = search(lc, minimize, size=31, sort=[{"_index": "desc"}, {"n": "asc"}], _source=False)
    hits = out["hits"]["hits"]
    assert [h["_index"] for h in hits] == ["r:logs"] * 30 + ["logs"]
    assert [h["sort"] for h in hits[:2]] == [["r:logs", 100], ["r:logs", 101]]
    assert hits[30]["sort"] == ["logs", 0]


def test_num_reduce_phases(lc: Elasticsearch) -> None:
    # ES merges the clusters' own answers (one reduce each) in one more reduce, and shows the
    # count after `timed_out` when it is not 1.
    minimized = search(lc, True, size=0)
    assert minimized["num_reduce_phases"] == 3
    keys = list(minimized)
    assert keys.index("timed_out") + 1 == keys.index("num_reduce_phases")
    assert keys.index("num_reduce_phases") + 1 == keys.index("_shards")
    # Remote shards searched one by one beside the local ones: a single reduce, not shown; and
    # one cluster's answer is passed on as it is.
    assert "num_reduce_phases" not in search(lc, False, size=0)
    for minimize in (True, False):
        remote_only = lc.search(index="r:logs", size=0, ccs_minimize_roundtrips=minimize).body
        assert "num_reduce_phases" not in remote_only


@BOTH
def test_skipped_shards_add_up_across_clusters(lc: Elasticsearch, minimize: bool) -> None:
    def shards(query: dict[str, Any]) -> tuple[int, int, int, dict[str, int]]:
        out = search(lc, minimize, size=0, pre_filter_shard_size=1, query=query)
        per_cluster = {k: v["_shards"]["skipped"] for k, v in out["_clusters"]["details"].items()}
        total = out["_shards"]
        assert total["successful"] == total["total"] == 5
        return total["skipped"], out["hits"]["total"]["value"], total["failed"], per_cluster

    # Minimized, each cluster pre-filters its own shards and, when none can match, still searches
    # one (for the response's shape); shard by shard, the coordinator pre-filters them all at
    # once and keeps one shard only when no shard at all can match.
    keep = 1 if minimize else 0
    # Only the remote's documents can match: the local shards are skipped.
    assert shards({"range": {"n": {"gte": 100}}}) == (
        2 - keep, 30, 0, {"(local)": 2 - keep, "r": 0}
    )  # fmt: skip
    # On the remote, `_index` is `r:logs`: its shards can match, the local ones cannot.
    assert shards({"term": {"_index": "r:logs"}}) == (
        2 - keep, 30, 0, {"(local)": 2 - keep, "r": 0}
    )  # fmt: skip
    # The remote's shards all miss the range (its n are 100..129).
    assert shards({"range": {"n": {"lte": 29}}}) == (3 - keep, 30, 0, {"(local)": 0, "r": 3 - keep})
    # Nothing can match anywhere: one shard is searched all the same (each cluster's one,
    # minimized).
    skipped, hits, _, _ = shards({"range": {"n": {"gte": 1000}}})
    assert (skipped, hits) == ((3 if minimize else 4), 0)


@BOTH
def test_named_queries_on_index_see_the_cluster_alias(lc: Elasticsearch, minimize: bool) -> None:
    query = {
        "bool": {
            "should": [
                {"term": {"_index": {"value": "r:logs", "_name": "remote"}}},
                {"wildcard": {"_index": {"value": "lo*", "_name": "local"}}},
            ]
        }
    }
    out = search(lc, minimize, size=60, query=query, _source=False)
    named = {(h["_index"], tuple(h["matched_queries"])) for h in out["hits"]["hits"]}
    assert named == {("logs", ("local",)), ("r:logs", ("remote",))}
    scored = search(
        lc, minimize, size=60, query=query, _source=False, include_named_queries_score=True
    )
    # With include_named_queries_score each cluster's shards score the names (an object).
    named = {(h["_index"], tuple(h["matched_queries"].items())) for h in scored["hits"]["hits"]}
    assert named == {("logs", (("local", 1.0),)), ("r:logs", (("remote", 1.0),))}


def test_explained_remote_hits_name_their_shard_as_es(lc: Elasticsearch) -> None:
    for minimize in (True, False):
        out = search(lc, minimize, size=60, explain=True, _source=False, sort=[{"n": "asc"}])
        shards = {(h["_index"], h["_shard"].split("]")[0]) for h in out["hits"]["hits"]}
        # The shard id is the remote's own ("[logs][2]"); only `_index` carries the alias.
        assert shards == {("logs", "[logs"), ("r:logs", "[logs")}, minimize
