"""A huge index.max_result_window with a huge size must not take the node down: the search
engine is never asked for more hits than the shard holds (it allocates for the limit first;
the node used to abort trying to allocate ~48 GB)."""

from __future__ import annotations

from elasticsearch import Elasticsearch


def test_huge_window_and_size_answer_and_the_node_survives(es: Elasticsearch) -> None:
    es.indices.create(index="huge-window", settings={"index.max_result_window": 2147483647})
    es.index(index="huge-window", id="1", document={"a": 1}, refresh=True)
    by_score = es.search(index="huge-window", size=2147483647)
    assert [h["_id"] for h in by_score["hits"]["hits"]] == ["1"]
    by_field = es.search(index="huge-window", size=2147483647, sort=[{"a": "desc"}])
    assert [h["_id"] for h in by_field["hits"]["hits"]] == ["1"]
    assert es.cluster.health()["status"] in ("green", "yellow")
