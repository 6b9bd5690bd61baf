"""The merge of a cross-cluster search, with no process and no socket: each cluster's outcome as a
value in, the response body out (hits ranked across clusters, totals, aggregations, shard
failures, ``_clusters``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from isthmus.errors import IllegalArgumentError, IndexNotFoundError
from isthmus.index.mapping import Mapping
from isthmus.search.aggs import AggDoc, collect_aggs, parse_aggs, reduce_results, results_json
from isthmus.search.ccs_merge import (
    ClusterPart,
    ClusterStatus,
    clusters_section,
    merge,
    rank_page,
    with_cluster_details,
)
from isthmus.search.ccs_wire import RemoteSearchResponse
from isthmus.search.request import parse_search

MAPPING = {"properties": {"n": {"type": "long"}, "tag": {"type": "keyword"}}}


def hit(index: str, doc_id: str, score: float | None, sort: list[Any] | None = None) -> dict:
    out: dict[str, Any] = {"_index": index, "_id": doc_id, "_score": score}
    if sort is not None:
        out["sort"] = sort
    return out


def answered(
    key: str,
    hits: list[dict[str, Any]],
    *,
    total: int | None = None,
    shards: int = 1,
    failures: list[dict[str, Any]] | None = None,
    skip_unavailable: bool = False,
) -> ClusterPart:
    """A cluster that answered: ``key`` "" is the local cluster."""
    part = ClusterPart(key, "logs", skip_unavailable=skip_unavailable)
    failed = len(failures or [])
    part.hits = hits
    part.total = len(hits) if total is None else total
    scores = [h["_score"] for h in hits if h["_score"] is not None]
    part.max_score = max(scores) if scores else None
    part.took = 3
    part.shards = {"total": shards, "successful": shards - failed, "skipped": 0, "failed": failed}
    if failures:
        part.shards["failures"] = failures
    part.failures = list(failures or [])
    part.status = ClusterStatus.PARTIAL if failures else ClusterStatus.SUCCESSFUL
    return part


def took() -> int:
    return 7


def ids(body: dict[str, Any]) -> list[str]:
    return [h["_id"] for h in body["hits"]["hits"]]


# --- hits -----------------------------------------------------------------------------------------


def test_hits_of_every_cluster_are_ranked_together_by_score() -> None:
    local = answered("", [hit("logs", "l1", 3.0), hit("logs", "l2", 1.0)])
    remote = answered("r", [hit("r:logs", "r1", 2.0), hit("r:logs", "r2", 0.5)])
    body = merge(parse_search({"size": 3}, {}), [local, remote], took)
    assert ids(body) == ["l1", "r1", "l2"]
    assert body["hits"]["max_score"] == 3.0


def test_equal_scores_keep_cluster_order_then_each_cluster_order() -> None:
    local = answered("", [hit("logs", "l1", 1.0), hit("logs", "l2", 1.0)])
    remote = answered("r", [hit("r:logs", "r1", 1.0), hit("r:logs", "r2", 2.0)])
    body = merge(parse_search({}, {}), [local, remote], took)
    assert ids(body) == ["r2", "l1", "l2", "r1"]


def test_from_and_size_page_the_union_not_each_cluster() -> None:
    # Each cluster sends its top from + size; the page is taken after ranking them together.
    local = answered("", [hit("logs", f"l{i}", 10.0 - 2 * i) for i in range(4)])
    remote = answered("r", [hit("r:logs", f"r{i}", 9.0 - 2 * i) for i in range(4)])
    body = merge(parse_search({"from": 2, "size": 3}, {}), [local, remote], took)
    assert ids(body) == ["l1", "r1", "l2"]


def test_a_field_sort_ranks_on_the_rendered_sort_values() -> None:
    req = parse_search({"sort": [{"n": "desc"}]}, {})
    local = answered("", [hit("logs", "l5", None, [5]), hit("logs", "l1", None, [1])])
    remote = answered("r", [hit("r:logs", "r9", None, [9]), hit("r:logs", "r3", None, [3])])
    assert ids(merge(req, [local, remote], took)) == ["r9", "l5", "r3", "l1"]


def test_missing_sort_values_go_last_unless_asked_first() -> None:
    local = answered("", [hit("logs", "l-none", None, [None]), hit("logs", "l2", None, [2])])
    remote = answered("r", [hit("r:logs", "r1", None, [1])])
    asc = parse_search({"sort": [{"n": "asc"}]}, {})
    assert ids(merge(asc, [local, remote], took)) == ["r1", "l2", "l-none"]
    first = parse_search({"sort": [{"n": {"order": "asc", "missing": "_first"}}]}, {})
    # One cluster's own order is not trusted for a field sort: it is re-ranked too.
    assert [h["_id"] for h in rank_page(first, [local])] == ["l-none", "l2"]


# --- totals and shards ---------------------------------------------------------------------------


def test_totals_add_up_and_track_total_hits_bounds_them() -> None:
    local = answered("", [hit("logs", "l1", 1.0)], total=15)
    remote = answered("r", [hit("r:logs", "r1", 2.0)], total=10)
    body = merge(parse_search({}, {}), [local, remote], took)
    assert body["hits"]["total"] == {"value": 25, "relation": "eq"}
    bounded = merge(parse_search({"track_total_hits": 20}, {}), [local, remote], took)
    assert bounded["hits"]["total"] == {"value": 20, "relation": "gte"}
    as_int = merge(parse_search({}, {"rest_total_hits_as_int": "true"}), [local, remote], took)
    assert as_int["hits"]["total"] == 25
    untracked = merge(parse_search({"track_total_hits": False}, {}), [local, remote], took)
    assert "total" not in untracked["hits"]


def test_shards_add_up_and_remote_shard_failures_name_their_cluster() -> None:
    reason = IndexNotFoundError("logs").to_cause()
    local = answered("", [], shards=2, failures=[{"shard": 0, "index": "logs", "reason": reason}])
    remote = answered("r", [], shards=3, failures=[{"shard": 1, "index": "logs", "reason": reason}])
    body = merge(parse_search({}, {}), [local, remote], took)
    assert body["_shards"] == {
        "total": 5,
        "successful": 3,
        "skipped": 0,
        "failed": 2,
        "failures": [
            {"shard": 0, "index": "logs", "reason": reason},
            {"shard": 1, "index": "r:logs", "reason": reason},
        ],
    }
    # The cluster's own record keeps the names as that cluster spelt them.
    assert body["_clusters"]["details"]["r"]["failures"][0]["index"] == "logs"


def test_the_response_keeps_es_section_order_and_the_given_took() -> None:
    body = merge(parse_search({}, {}), [answered("", [hit("logs", "l1", 1.0)])], took)
    assert list(body) == ["took", "timed_out", "_shards", "_clusters", "hits"]
    assert body["took"] == 7
    assert body["timed_out"] is False


# --- aggregations --------------------------------------------------------------------------------

AGGS = {"tags": {"terms": {"field": "tag"}, "aggs": {"sum_n": {"sum": {"field": "n"}}}}}
LOCAL_DOCS = [{"tag": "a", "n": 1}, {"tag": "b", "n": 2}, {"tag": "a", "n": 3}]
REMOTE_DOCS = [{"tag": "b", "n": 10}, {"tag": "b", "n": 20}, {"tag": "c", "n": 5}]


def partial_aggs(docs: list[dict[str, Any]], index: str) -> Any:
    agg_docs = [AggDoc(index, str(i), 1.0, d) for i, d in enumerate(docs)]
    return collect_aggs(parse_aggs(AGGS), agg_docs, Mapping(MAPPING), now_ms=0, index=index)


def test_aggregations_reduce_as_one_search_over_the_union() -> None:
    local = answered("", [])
    local.aggs = partial_aggs(LOCAL_DOCS, "logs")
    remote = answered("r", [])
    remote.aggs = partial_aggs(REMOTE_DOCS, "r:logs")
    body = merge(parse_search({"size": 0, "aggs": AGGS}, {}), [local, remote], took)
    union = results_json(reduce_results([partial_aggs(LOCAL_DOCS + REMOTE_DOCS, "all")]))
    assert body["aggregations"] == union
    buckets = {b["key"]: (b["doc_count"], b["sum_n"]["value"]) for b in union["tags"]["buckets"]}
    assert buckets == {"b": (3, 32.0), "a": (2, 4.0), "c": (1, 5.0)}


def test_typed_keys_take_field_types_from_the_remote_mapping_too() -> None:
    # The local cluster has no mapping for the fields; the remote sent its own.
    local = answered("", [])
    local.mapping = Mapping({})
    local.aggs = partial_aggs([], "logs")
    remote = answered("r", [])
    remote.aggs = partial_aggs(REMOTE_DOCS, "r:logs")
    remote.mapping = Mapping(MAPPING)
    req = parse_search({"size": 0, "aggs": AGGS}, {"typed_keys": "true"})
    body = merge(req, [local, remote], took)
    assert list(body["aggregations"]) == ["sterms#tags"]
    assert "sum#sum_n" in body["aggregations"]["sterms#tags"]["buckets"][0]


def test_no_aggregations_section_without_partials() -> None:
    body = merge(parse_search({"aggs": AGGS}, {}), [answered("r", [])], took)
    assert "aggregations" not in body


def test_partials_that_do_not_line_up_are_es_merge_error() -> None:
    local = answered("", [])
    local.aggs = partial_aggs(LOCAL_DOCS, "logs")
    remote = answered("r", [])
    remote.aggs = {}  # the remote has no result for [tags]
    with pytest.raises(IllegalArgumentError, match="Merging/Reducing the aggregations failed"):
        merge(parse_search({"size": 0, "aggs": AGGS}, {}), [local, remote], took)


# --- _clusters -----------------------------------------------------------------------------------


def five_clusters() -> list[ClusterPart]:
    reason = IndexNotFoundError("logs").to_cause()
    ok = answered("", [hit("logs", "l1", 1.0)])
    partial = answered("p", [hit("p:logs", "p1", 2.0)], failures=[{"shard": 0, "index": "logs"}])
    skipped = ClusterPart("s", "logs", skip_unavailable=True)
    skipped.fail(IllegalArgumentError("no such remote cluster: [s]"))
    running = ClusterPart("w", "logs*", skip_unavailable=False)
    timed_out = ClusterPart("t", "logs", skip_unavailable=False)
    timed_out.time_out(30)
    failed = ClusterPart("f", "logs", skip_unavailable=False)
    failed.fail(IndexNotFoundError("logs"))
    assert failed.failures == [{"shard": -1, "index": None, "reason": reason}]
    return [ok, partial, skipped, running, timed_out, failed]


def test_clusters_counts_every_status_in_es_order() -> None:
    section = clusters_section(five_clusters())
    assert list(section) == [
        "total",
        "successful",
        "skipped",
        "running",
        "partial",
        "failed",
        "details",
    ]
    counts = {k: v for k, v in section.items() if k != "details"}
    assert counts == {
        "total": 6,
        "successful": 1,
        "skipped": 1,
        "running": 1,
        "partial": 2,
        "failed": 1,
    }


def test_clusters_details_per_cluster() -> None:
    details = clusters_section(five_clusters())["details"]
    assert list(details) == ["(local)", "p", "s", "w", "t", "f"]
    assert details["(local)"] == {
        "status": "successful",
        "indices": "logs",
        "took": 3,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
    }
    assert details["p"]["status"] == "partial"
    assert details["p"]["_shards"] == {"total": 1, "successful": 0, "skipped": 0, "failed": 1}
    assert details["s"] == {
        "status": "skipped",
        "indices": "logs",
        "timed_out": False,
        "failures": [
            {
                "shard": -1,
                "index": None,
                "reason": {
                    "type": "illegal_argument_exception",
                    "reason": "no such remote cluster: [s]",
                },
            }
        ],
    }
    assert details["w"] == {"status": "running", "indices": "logs*", "timed_out": False}
    assert details["t"] == {"status": "partial", "indices": "logs", "took": 30, "timed_out": True}
    assert details["f"]["status"] == "failed"


def test_statuses_render_as_plain_strings() -> None:
    # The JSON (and YAML) output is the same as when statuses were strings.
    section = clusters_section(five_clusters())
    assert all(type(d["status"]) is str for d in section["details"].values())
    assert all(type(k) is str for k in section)
    assert orjson.dumps(section["details"]["w"]) == (
        b'{"status":"running","indices":"logs*","timed_out":false}'
    )


def test_skipped_and_timed_out_clusters_add_no_hits_but_count_in_clusters() -> None:
    parts = five_clusters()
    parts.remove(parts[3])  # a search is merged once no cluster is still running
    parts.remove(parts[-1])  # and a failed cluster fails it before the merge
    body = merge(parse_search({}, {}), parts, took)
    assert ids(body) == ["p1", "l1"]
    assert body["hits"]["total"] == {"value": 2, "relation": "eq"}
    assert body["timed_out"] is True  # the timed-out cluster answered nothing, but says so
    assert body["_clusters"]["skipped"] == 1
    assert body["_shards"]["total"] == 2


# --- a remote's answer ---------------------------------------------------------------------------


def test_a_remote_answer_names_its_hits_after_the_alias() -> None:
    answer = {
        "hits": [{"_index": "logs", "_id": "1", "_score": 1.0, "_source": b'{"a":1}'}],
        "total": 4,
        "max_score": 1.0,
        "took": 2,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "aggs": None,
        "mapping": None,
    }
    part = ClusterPart("r", "logs", skip_unavailable=False)
    part.accept(RemoteSearchResponse.from_payload(answer, cluster="r"))
    assert part.hits[0]["_index"] == "r:logs"
    assert (part.total, part.took, part.status) == (4, 2, ClusterStatus.SUCCESSFUL)
    assert orjson.dumps(part.hits[0]["_source"].fragment()) == b'{"a":1}'


# --- shard by shard (ccs_minimize_roundtrips=false) ----------------------------------------------


def test_shard_by_shard_details_share_the_shards_and_failures_out() -> None:
    out = {
        "took": 5,
        "timed_out": False,
        "_shards": {
            "total": 5,
            "successful": 3,
            "skipped": 0,
            "failed": 2,
            "failures": [
                {"shard": 0, "index": "r:logs", "reason": {}},
                {"shard": 1, "index": "logs", "reason": {}},
            ],
        },
        "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []},
    }
    local = ClusterPart("", "logs", skip_unavailable=False)
    remote = ClusterPart("r", "logs", skip_unavailable=False)
    skipped = ClusterPart("s", "logs", skip_unavailable=True)
    skipped.fail(IllegalArgumentError("unreachable"))
    body = with_cluster_details(out, [local, remote, skipped], {"r": 3}, took=9)
    assert list(body) == ["took", "timed_out", "_shards", "_clusters", "hits"]
    assert body["took"] == 9
    details = body["_clusters"]["details"]
    assert details["(local)"]["_shards"] == {
        "total": 2,
        "successful": 1,
        "skipped": 0,
        "failed": 1,
    }
    assert details["r"]["_shards"] == {"total": 3, "successful": 2, "skipped": 0, "failed": 1}
    assert details["r"]["status"] == details["(local)"]["status"] == "partial"
    assert details["r"]["took"] == 5
    assert details["s"]["status"] == "skipped"
