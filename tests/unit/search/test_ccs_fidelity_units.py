"""The pieces that make a cross-cluster search answer as ES does, without sockets: ``_index`` on a
remote shard (``<alias>:<index>``) and ES's SearchIndexNameMatcher rules, the alias and
pre-filter flags on the wire (optional for older peers), ``num_reduce_phases``, and each
cluster's share of skipped shards."""

from __future__ import annotations

from typing import Any

import ormsgpack
import pytest

from isthmus.errors import IllegalArgumentError
from isthmus.index.mapping import Mapping
from isthmus.search import dsl
from isthmus.search.ccs_merge import ClusterPart, ClusterStatus, merge, with_cluster_details
from isthmus.search.ccs_wire import QueryPhaseRequest, RemoteSearchRequest, RemoteSearchResponse
from isthmus.search.evaluate import compile_query
from isthmus.search.evaluate_fields import EvalDoc
from isthmus.search.index_field import index_field_matches, qualified_index
from isthmus.search.request import parse_search


def over_the_wire(payload: Any) -> Any:
    return ormsgpack.unpackb(ormsgpack.packb(payload))


# --- _index on a remote shard -------------------------------------------------------------------


def test_qualified_index() -> None:
    assert qualified_index(None, "logs") == "logs"
    assert qualified_index("r", "logs") == "r:logs"


@pytest.mark.parametrize(
    ("query", "local", "remote"),
    [
        ({"term": {"_index": "logs"}}, True, False),
        ({"term": {"_index": "r:logs"}}, False, True),
        ({"term": {"_index": {"value": "R:Logs", "case_insensitive": True}}}, False, True),
        ({"terms": {"_index": ["r:logs", "logs"]}}, True, True),
        ({"match": {"_index": "r:logs"}}, False, True),
        # Patterns (ES's SearchIndexNameMatcher): without ':' only local shards match; with it,
        # the cluster part matches the alias and the index part the index.
        ({"wildcard": {"_index": "lo*"}}, True, False),
        ({"wildcard": {"_index": "*logs"}}, True, False),
        ({"wildcard": {"_index": "*"}}, True, False),
        ({"wildcard": {"_index": "r:*"}}, False, True),
        ({"wildcard": {"_index": "*:logs"}}, False, True),
        ({"wildcard": {"_index": "x*:logs"}}, False, False),
        ({"wildcard": {"_index": "r*"}}, False, False),
        ({"prefix": {"_index": "r:l"}}, False, True),
        ({"prefix": {"_index": "r"}}, False, False),
        ({"prefix": {"_index": {"value": "R:L", "case_insensitive": True}}}, False, True),
        ({"exists": {"field": "_index"}}, True, True),
    ],
)
def test_index_patterns_follow_the_cluster_alias(
    query: dict[str, Any], local: bool, remote: bool
) -> None:
    parsed = dsl.parse_query(query)
    assert index_field_matches(parsed, "logs") is local
    assert index_field_matches(parsed, "r:logs") is remote


def test_filter_evaluation_reads_the_documents_index() -> None:
    pred = compile_query(dsl.parse_query({"term": {"_index": "r:logs"}}), Mapping(), now_ms=0)
    assert pred(EvalDoc("1", {}, index="r:logs"))
    assert not pred(EvalDoc("1", {}, index="logs"))
    assert not pred(EvalDoc("1", {}))  # no index known: nothing to match
    with pytest.raises(Exception, match="does not support range queries"):
        compile_query(dsl.parse_query({"range": {"_index": {"gte": "a"}}}), Mapping(), now_ms=0)


# --- the wire -------------------------------------------------------------------------------------


def test_the_alias_travels_only_when_set() -> None:
    plain = RemoteSearchRequest(("logs",), None, {})
    assert "cluster_alias" not in plain.to_payload()  # what older remotes read
    named = RemoteSearchRequest(("logs",), None, {}, "r")
    assert named.to_payload()["cluster_alias"] == "r"
    assert RemoteSearchRequest.from_payload(over_the_wire(named.to_payload())) == named
    assert RemoteSearchRequest.from_payload(over_the_wire(plain.to_payload())) == plain


def test_query_phase_request_carries_alias_and_pre_filter() -> None:
    request = QueryPhaseRequest("logs", 1, None, {}, 5, False, None, "r", True)
    payload = request.to_payload()
    assert (payload["cluster_alias"], payload["pre_filter"]) == ("r", True)
    assert QueryPhaseRequest.from_payload(over_the_wire(payload)) == request
    older = QueryPhaseRequest("logs", 1, None, {}, 5, False, None)
    assert {"cluster_alias", "pre_filter"}.isdisjoint(older.to_payload())
    assert QueryPhaseRequest.from_payload(over_the_wire(older.to_payload())) == older


@pytest.mark.parametrize("alias", [3, "", "a:b", ["r"]])
def test_a_bad_alias_is_an_illegal_argument(alias: Any) -> None:
    with pytest.raises(IllegalArgumentError, match=r"\[cluster_alias\] must be a cluster alias"):
        RemoteSearchRequest.from_payload({"indices": ["logs"], "cluster_alias": alias})
    with pytest.raises(IllegalArgumentError, match=r"\[cluster_alias\] must be a cluster alias"):
        QueryPhaseRequest.from_payload({"index": "logs", "cluster_alias": alias})


def answer(**extra: Any) -> dict[str, Any]:
    return {"hits": [], "total": 0, "max_score": None, "took": 1, "_shards": {}, **extra}


def test_num_reduce_phases_on_the_wire() -> None:
    assert RemoteSearchResponse.from_payload(answer(), cluster="r").num_reduce_phases == 1
    parsed = RemoteSearchResponse.from_payload(answer(num_reduce_phases=3), cluster="r")
    assert parsed.num_reduce_phases == 3
    assert parsed.to_payload()["num_reduce_phases"] == 3
    assert "num_reduce_phases" not in RemoteSearchResponse([], 0, None, 1, False, {}).to_payload()
    for bad in (0, "2", True, None):
        with pytest.raises(IllegalArgumentError, match=r"malformed search answer .*\[r\]"):
            RemoteSearchResponse.from_payload(answer(num_reduce_phases=bad), cluster="r")


# --- the merge ------------------------------------------------------------------------------------


def part(key: str, phases: int = 1, *, failed: bool = False) -> ClusterPart:
    out = ClusterPart(key, "logs", skip_unavailable=True)
    if failed:
        out.fail(IllegalArgumentError("unreachable"))
        return out
    out.shards = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    out.status = ClusterStatus.SUCCESSFUL
    out.num_reduce_phases = phases
    return out


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([part(""), part("a"), part("b")], 4),  # ES's docs: local and two remotes
        ([part(""), part("a")], 3),
        ([part("a"), part("b", 2)], 4),  # each cluster's own phases count
        ([part(""), part("a", failed=True)], 2),  # a skipped cluster adds nothing
        ([part("a")], None),  # one cluster's answer is passed on as it is
        ([part("a", 3)], 3),
    ],
)
def test_num_reduce_phases_counts_the_merge(parts: list[ClusterPart], expected: int) -> None:
    body = merge(parse_search({"size": 0}, {}), parts, lambda: 1)
    assert body.get("num_reduce_phases") == expected
    if expected is not None:
        keys = list(body)
        assert keys[keys.index("timed_out") + 1] == "num_reduce_phases"


def shard_by_shard(skipped: int, total: int = 5) -> dict[str, Any]:
    return {
        "took": 5,
        "timed_out": False,
        "_shards": {"total": total, "successful": total, "skipped": skipped, "failed": 0},
        "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []},
    }


def skipped_per_cluster(body: dict[str, Any]) -> dict[str, int]:
    details = body["_clusters"]["details"]
    return {name: d["_shards"]["skipped"] for name, d in details.items()}


def test_shard_by_shard_skipped_shards_are_shared_out() -> None:
    local, remote = ClusterPart("", "logs", False), ClusterPart("r", "logs", False)
    body = with_cluster_details(shard_by_shard(3), [local, remote], {"r": 3}, 9, {"r": 1})
    assert skipped_per_cluster(body) == {"(local)": 2, "r": 1}
    # Nothing could match: one shard counted as searched, a local one.
    body = with_cluster_details(shard_by_shard(4), [local, remote], {"r": 3}, 9, {"r": 3})
    assert skipped_per_cluster(body) == {"(local)": 1, "r": 3}
    # Remote clusters only: the first that skipped any gives one back.
    a, b = ClusterPart("a", "logs", False), ClusterPart("b", "logs", False)
    body = with_cluster_details(
        shard_by_shard(4, total=5), [a, b], {"a": 2, "b": 3}, 9, {"a": 2, "b": 3}
    )
    assert skipped_per_cluster(body) == {"a": 1, "b": 3}
