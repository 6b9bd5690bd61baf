"""Searches on three real nodes whose shards are spread over them (issue 20): the same search
through any node gives the hits, totals and aggregations a reference computed here from the
documents gives; ``_count`` too; a killed node's copies fail over to their other copies; and a
single-node cluster searching this one across clusters gets every hit.

One cluster serves the module; the tests run in order and the last ones kill a node.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError, BadRequestError, Elasticsearch

from isthmus.testing.cluster import NodeCluster
from isthmus.testing.process import NodeProcess

pytestmark = pytest.mark.integration

GENRES = ("fantasy", "history", "poetry", "science")
DOCS = [
    {
        "n": n,
        "genre": GENRES[n % len(GENRES)],
        "title": f"book {n} {'dragon' if n % 3 == 0 else 'river'}",
        "v": [float(n), 1.0],
    }
    for n in range(80)
]
SEARCH = {
    "query": {"range": {"n": {"gte": 10}}},
    "sort": [{"n": "desc"}],
    "from": 5,
    "size": 12,
    "aggs": {"genres": {"terms": {"field": "genre"}}, "top": {"max": {"field": "n"}}},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    folder: Path = tmp_path_factory.mktemp("msearch")
    with NodeCluster(folder, 3, settings={"xpack.security.enabled": False}) as c:
        es = _es(c, "node-1")
        es.indices.create(
            index="books",
            settings={"number_of_shards": 3, "number_of_replicas": 1},
            mappings={
                "properties": {
                    "n": {"type": "integer"},
                    "genre": {"type": "keyword"},
                    "title": {"type": "text"},
                    "v": {"type": "dense_vector", "dims": 2, "similarity": "l2_norm"},
                }
            },
        )
        health = es.cluster.health(index="books", wait_for_status="green", timeout="40s")
        assert health["status"] == "green", health
        ops: list[dict[str, Any]] = []
        for n, doc in enumerate(DOCS):
            ops += [{"index": {"_index": "books", "_id": str(n)}}, doc]
        bulk = es.bulk(operations=ops)
        assert not bulk["errors"], bulk
        refreshed = es.indices.refresh(index="books")
        assert refreshed["_shards"] == {"total": 6, "successful": 6, "failed": 0}
        yield c


def _es(cluster: NodeCluster, name: str) -> Elasticsearch:
    return Elasticsearch(cluster[name].url, request_timeout=60)


def _reference() -> tuple[list[str], int, dict[str, Any]]:
    """The expected page, total and aggregations of SEARCH, from the documents themselves."""
    matching = [(n, d) for n, d in enumerate(DOCS) if d["n"] >= 10]
    ranked = sorted(matching, key=lambda nd: -nd[1]["n"])
    page = [str(n) for n, _ in ranked[5 : 5 + 12]]
    counts = Counter(d["genre"] for _, d in matching)
    buckets = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    aggs = {
        "genres": [{"key": k, "doc_count": v} for k, v in buckets],
        "top": float(max(d["n"] for _, d in matching)),
    }
    return page, len(matching), aggs


def _summary(body: Any) -> tuple[list[str], int, dict[str, Any]]:
    aggs = body["aggregations"]
    return (
        [h["_id"] for h in body["hits"]["hits"]],
        body["hits"]["total"]["value"],
        {"genres": aggs["genres"]["buckets"], "top": aggs["top"]["value"]},
    )


def test_every_node_answers_like_one_node_would(cluster: NodeCluster) -> None:
    expected = _reference()
    for name in cluster.names:
        body = _es(cluster, name).search(index="books", body=SEARCH)
        assert _summary(body) == expected, name
        assert body["_shards"] == {"total": 3, "successful": 3, "skipped": 0, "failed": 0}
        assert [h["_source"]["n"] for h in body["hits"]["hits"]] == [int(i) for i in expected[0]]
        count = _es(cluster, name).count(index="books", query={"match": {"title": "dragon"}})
        assert count["count"] == sum(1 for d in DOCS if d["n"] % 3 == 0), name
        assert count["_shards"]["total"] == 3 and count["_shards"]["failed"] == 0


def test_statistics_count_the_primaries_and_every_copy(cluster: NodeCluster) -> None:
    for name in cluster.names:
        es = _es(cluster, name)
        stats = es.indices.stats(index="books", metric="docs")
        assert stats["_shards"] == {"total": 6, "successful": 6, "failed": 0}, name
        assert stats["_all"]["primaries"]["docs"]["count"] == 80
        assert stats["_all"]["total"]["docs"]["count"] == 160  # one replica of each
        by_shard = es.indices.stats(index="books", metric="docs", level="shards")
        copies = by_shard["indices"]["books"]["shards"]
        assert sorted(copies) == ["0", "1", "2"]
        for entries in copies.values():
            assert sorted(e["routing"]["primary"] for e in entries) == [False, True]
            assert len({e["routing"]["node"] for e in entries}) == 2
            # Each copy's history, read on its own node: both hold every operation.
            assert len({e["seq_no"]["max_seq_no"] for e in entries}) == 1, entries
            assert all("retention_leases" in e for e in entries)
        row = es.cat.indices(index="books", format="json", h="index,docs.count,pri,rep").body
        assert row == [{"index": "books", "docs.count": "80", "pri": "3", "rep": "1"}], name
        counted = es.cat.count(index="books", format="json").body
        assert counted[0]["count"] == "80", name


def test_scoring_sorting_and_paging_agree_across_nodes(cluster: NodeCluster) -> None:
    bodies = [
        _es(cluster, name).search(
            index="books",
            query={"match": {"title": "dragon"}},
            sort=["_score", {"n": "asc"}],
            size=50,
            search_type="dfs_query_then_fetch",
        )
        for name in cluster.names
    ]
    ids = [[h["_id"] for h in b["hits"]["hits"]] for b in bodies]
    assert ids[0] == ids[1] == ids[2]
    assert sorted(ids[0], key=int) == [str(n) for n in range(80) if n % 3 == 0]
    # One global statistic: every node scores the same term the same.
    assert len({h["_score"] for b in bodies for h in b["hits"]["hits"]}) == 1


def test_knn_keeps_the_global_k_nearest(cluster: NodeCluster) -> None:
    # The 3 nearest of all the shards (not 3 per shard), wherever they are.
    for name in cluster.names:
        body = _es(cluster, name).search(
            index="books",
            knn={"field": "v", "query_vector": [40.2, 1.0], "k": 3, "num_candidates": 10},
            size=10,
        )
        ids = [h["_id"] for h in body["hits"]["hits"]]
        assert ids == ["40", "41", "39"], name
        assert body["hits"]["total"]["value"] == 3


def test_unallocated_primaries_fail_the_search_as_es_does(cluster: NodeCluster) -> None:
    es = _es(cluster, "node-3")
    es.indices.create(
        index="nowhere",
        settings={
            "number_of_shards": 2,
            "number_of_replicas": 0,
            "index.routing.allocation.require._name": "no-such-node",
        },
        wait_for_active_shards="0",
    )
    with pytest.raises(Exception) as raised:
        es.search(index="nowhere")
    error = raised.value
    assert getattr(error, "status_code", None) == 503, error
    body: Any = getattr(error, "body", {})
    assert body["error"]["type"] == "search_phase_execution_exception"
    assert body["error"]["reason"] == "all shards failed"
    assert body["error"]["root_cause"][0]["type"] == "no_shard_available_action_exception"
    both = es.search(index="books,nowhere", size=0, track_total_hits=True)
    assert both["_shards"]["total"] == 5 and both["_shards"]["failed"] == 2
    assert both["hits"]["total"]["value"] == 80
    es.indices.delete(index="nowhere")


def test_preference_only_local_searches_the_copies_here(cluster: NodeCluster) -> None:
    es = _es(cluster, "node-1")
    rows = es.cat.shards(index="books", format="json", h="shard,node,state").body
    here = {r["shard"] for r in rows if r["node"] == "node-1" and r["state"] == "STARTED"}
    body = es.search(index="books", preference="_only_local", size=0, track_total_hits=True)
    shards = body["_shards"]
    assert shards["total"] == 3
    assert shards["successful"] == len(here)
    assert shards["failed"] == 3 - len(here)
    for failure in shards.get("failures", []):
        assert failure["reason"]["type"] == "no_shard_available_action_exception"
        assert failure["node"] is None
    on_local = body["hits"]["total"]["value"]
    all_docs = es.search(index="books", size=0, track_total_hits=True)["hits"]["total"]["value"]
    assert all_docs == 80
    if len(here) < 3:  # the other shards' documents are not counted
        assert on_local < 80


def test_writes_report_copies_and_wait_for_active_shards_gets_read_preference(
    cluster: NodeCluster,
) -> None:
    # ES's _shards of a write counts every copy that applied it (it said successful 1 with a
    # started replica); wait_for_active_shards is waited for up to timeout, then ES's 503
    # (it was ignored); a get's _only_nodes naming no copy's node is ES's 400 (it was read).
    es = _es(cluster, "node-1")
    es.indices.create(index="copies", settings={"number_of_shards": 1, "number_of_replicas": 1})
    health = es.cluster.health(index="copies", wait_for_status="green", timeout="40s")
    assert health["status"] == "green", health
    for name in ("node-1", "node-2", "node-3"):  # the primary here, or forwarded to it
        put = _es(cluster, name).index(index="copies", id=name, document={"n": 1})
        assert put["_shards"] == {"total": 2, "successful": 2, "failed": 0}, name
    for name in ("node-1", "node-2", "node-3"):
        updated = _es(cluster, name).update(index="copies", id="node-1", doc={"u": name})
        assert updated["_shards"] == {"total": 2, "successful": 2, "failed": 0}, name
    bulk = es.bulk(operations=[{"delete": {"_index": "copies", "_id": "node-3"}}])
    assert bulk["items"][0]["delete"]["_shards"] == {"total": 2, "successful": 2, "failed": 0}
    assert es.index(index="copies", id="y", document={}, wait_for_active_shards="all")[
        "_shards"
    ] == {"total": 2, "successful": 2, "failed": 0}
    # Three writes short of copies wait their 1 s together: an index, an update (a request's
    # count) and a bulk item (the index's own default, index.write.wait_for_active_shards).
    es.indices.put_settings(index="copies", settings={"index.write.wait_for_active_shards": 3})

    def refused(call: Callable[[], Any]) -> dict[str, Any]:
        with pytest.raises(ApiError) as info:
            call()
        assert info.value.meta.status == 503
        return dict(info.value.body["error"])

    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        index_error = pool.submit(
            refused,
            lambda: es.index(
                index="copies", id="x", document={"n": 2}, wait_for_active_shards="4", timeout="1s"
            ),
        )
        update_error = pool.submit(
            refused,
            lambda: es.update(
                index="copies", id="node-1", doc={}, wait_for_active_shards="3", timeout="1s"
            ),
        )
        bulk_answer = pool.submit(
            lambda: es.bulk(
                operations=[{"index": {"_index": "copies", "_id": "z"}}, {}], timeout="1s"
            )
        )
    assert time.monotonic() - started >= 1.0
    error = index_error.result()
    assert error["type"] == "unavailable_shards_exception"
    assert error["reason"] == (
        "[copies][0] Not enough active copies to meet shard count of [4] (have 2, needed 4). "
        "Timeout: [1s], request: [BulkShardRequest [[copies][0]] containing [index "
        '{[copies][x], source[{"n":2}]}]]'
    )
    assert update_error.result()["reason"].endswith(
        "(have 2, needed 3). Timeout: [1s], request: [update {[copies][node-1]}]"
    )
    item = bulk_answer.result()["items"][0]["index"]
    assert item["error"]["type"] == "unavailable_shards_exception"
    assert "(have 2, needed 3)" in item["error"]["reason"]
    with pytest.raises(BadRequestError) as bad:
        es.get(index="copies", id="node-1", preference="_only_nodes:zzz")
    assert bad.value.body["error"]["reason"] == (
        "no data nodes with criteria [zzz] found for shard: [copies][0]"
    )
    holders = [r["node"] for r in es.cat.shards(index="copies", format="json", h="node").body]
    got = es.get(index="copies", id="node-1", preference=f"_only_nodes:{holders[0]}")
    assert got["found"] is True
    es.indices.delete(index="copies")


def test_explain_scroll_and_msearch_reach_shards_elsewhere(cluster: NodeCluster) -> None:
    es = _es(cluster, "node-1")
    rows = es.cat.shards(index="books", format="json", h="shard,node").body
    here = {int(r["shard"]) for r in rows if r["node"] == "node-1"}
    elsewhere = next(n for n in range(3) if n not in here)
    # A document of a shard with no copy on node-1 (found through its _shards preference).
    hit = es.search(index="books", preference=f"_shards:{elsewhere}", size=1)["hits"]["hits"][0]
    explained = es.explain(index="books", id=hit["_id"], query={"match": {"title": "book"}})
    assert explained["matched"] is True and explained["_id"] == hit["_id"]
    assert explained["explanation"]["value"] > 0
    # A scroll's later pages keep the sources read on the other nodes.
    page = es.search(index="books", scroll="1m", size=30, sort=["n"])
    seen = [h["_source"]["n"] for h in page["hits"]["hits"]]
    while len(seen) < 80:
        page = es.scroll(scroll_id=page["_scroll_id"], scroll="1m")
        assert page["hits"]["hits"], seen
        seen += [h["_source"]["n"] for h in page["hits"]["hits"]]
    es.clear_scroll(scroll_id=page["_scroll_id"])
    assert seen == list(range(80))
    found = es.msearch(
        searches=[{"index": "books"}, {"size": 0, "query": {"term": {"genre": "poetry"}}}]
    )
    assert found["responses"][0]["hits"]["total"]["value"] == 20
    # Suggestions from every shard: "dragn" is one edit from the 27 documents' "dragon".
    suggested = es.search(
        index="books",
        size=0,
        suggest={"fix": {"text": "dragn", "term": {"field": "title"}}},
    )
    options = suggested["suggest"]["fix"][0]["options"]
    assert options[0]["text"] == "dragon" and options[0]["freq"] == 27, options
    # A point in time keeps each shard's reader on a node holding it; any node searches it.
    pit = es.open_point_in_time(index="books", keep_alive="1m")
    assert pit["_shards"] == {"total": 3, "successful": 3, "skipped": 0, "failed": 0}
    es.index(index="books", id="late", document={"n": 1000, "genre": "x", "title": "late"})
    es.indices.refresh(index="books")
    paged: list[int] = []
    after: Any = None
    for name in ("node-2", "node-3", "node-1", "node-2", "node-3", "node-1"):
        page = _es(cluster, name).search(
            pit={"id": pit["id"], "keep_alive": "1m"},
            size=15,
            sort=[{"n": "asc"}],
            **({} if after is None else {"search_after": after}),
        )
        assert page["_shards"]["failed"] == 0, page["_shards"]
        assert page["hits"]["total"]["value"] == 80  # the PIT does not see the later document
        paged += [h["_source"]["n"] for h in page["hits"]["hits"]]
        if page["hits"]["hits"]:
            after = page["hits"]["hits"][-1]["sort"]
    assert paged == list(range(80))
    # Global statistics and the global k nearest over every context, wherever it lives.
    scored = _es(cluster, "node-2").search(
        pit={"id": pit["id"]},
        query={"match": {"title": "dragon"}},
        size=50,
        search_type="dfs_query_then_fetch",
    )
    assert scored["hits"]["total"]["value"] == 27
    assert len({h["_score"] for h in scored["hits"]["hits"]}) == 1
    nearest = _es(cluster, "node-3").search(
        pit={"id": pit["id"]},
        knn={"field": "v", "query_vector": [40.2, 1.0], "k": 3, "num_candidates": 10},
    )
    assert [h["_id"] for h in nearest["hits"]["hits"]] == ["40", "41", "39"]
    closed = _es(cluster, "node-3").close_point_in_time(id=pit["id"])
    assert closed.body == {"succeeded": True, "num_freed": 3}
    es.delete(index="books", id="late", refresh=True)
    valid = _es(cluster, "node-2").indices.validate_query(
        index="books", query={"match": {"title": "dragon"}}
    )
    assert valid["valid"] is True


def test_cross_cluster_search_into_the_cluster_gets_every_hit(
    cluster: NodeCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("msearch-local")
    with NodeProcess(folder, {"cluster.name": "lone", "node.name": "lone"}) as lone:
        es = Elasticsearch(lone.url, request_timeout=60)
        seed = cluster["node-2"].transport_address()
        es.cluster.put_settings(persistent={"cluster.remote.multi.seeds": [seed]})
        expected = _reference()
        for minimize in (True, False):
            deadline = time.monotonic() + 15
            while True:
                try:
                    body = es.search(
                        index="multi:books", body=SEARCH, ccs_minimize_roundtrips=minimize
                    )
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            ids, total, aggs = _summary(body)
            assert (ids, total, aggs) == expected, minimize
            assert body["_shards"]["failed"] == 0 and body["_shards"]["total"] == 3


def test_a_killed_nodes_copies_fail_over(cluster: NodeCluster) -> None:
    master = cluster.master_seen_by(cluster["node-1"])
    victim = next(n for n in cluster.names if n != master)
    cluster[victim].kill()
    survivors = [n for n in cluster.names if n != victim]
    expected = _reference()
    # At once (the routing table may still name the dead node's copies): the next copy answers.
    for name in survivors:
        body = _es(cluster, name).search(index="books", body=SEARCH)
        assert _summary(body) == expected, name
        assert body["_shards"]["failed"] == 0, body["_shards"]
    es = _es(cluster, survivors[0])
    health = es.cluster.health(index="books", wait_for_status="yellow", timeout="40s")
    assert health["status"] in ("yellow", "green"), health
    for name in survivors:
        body = _es(cluster, name).search(index="books", body=SEARCH)
        assert _summary(body) == expected, name
        assert body["_shards"] == {"total": 3, "successful": 3, "skipped": 0, "failed": 0}
        assert _es(cluster, name).count(index="books")["count"] == 80
