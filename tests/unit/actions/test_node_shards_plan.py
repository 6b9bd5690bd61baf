"""Which copy of each shard a read asks in a cluster of several nodes, and the wire form of the
requests that carry those reads (no sockets)."""

from __future__ import annotations

import pytest

from isthmus.actions.node_shards_plan import ShardTask, copy_preference, ordered_copies, split
from isthmus.actions.node_shards_wire import (
    NodeShard,
    NodeShardsRequest,
    answer_entries,
    answer_entry,
    restriction_from_payload,
    restriction_to_payload,
)
from isthmus.cluster.shard_copies import CopyTarget
from isthmus.errors import NoShardAvailableActionError, ShardNotFoundError
from isthmus.search import dsl
from isthmus.search.dfs import TermStats
from isthmus.security.authz import IndexAccess
from isthmus.security.field_level import restriction_of
from isthmus.security.roles import FieldSecurity
from isthmus.wire import RemoteProtocolError

A = CopyTarget("node-a", "alloc-a", True, True)
B = CopyTarget("node-b", "alloc-b", False, True)
C = CopyTarget("node-c", "alloc-c", False, True)


def task(index: str, shard: int, *copies: CopyTarget) -> ShardTask:
    return ShardTask(index, f"{index}-uuid", shard, copies)


@pytest.mark.parametrize(
    ("preference", "expected"),
    [
        (None, ["node-b", "node-a", "node-c"]),  # this node's copy first
        ("_local", ["node-b", "node-a", "node-c"]),
        ("_only_local", ["node-b"]),
        ("_onlyLocal", ["node-b"]),
        ("_prefer_nodes:node-c", ["node-c", "node-a", "node-b"]),
        ("_prefer_nodes:node-x,node-c", ["node-c", "node-a", "node-b"]),
        ("_only_nodes:node-a,node-c", ["node-a", "node-c"]),
        ("_shards:0|_only_local", ["node-b"]),
        ("_shards:0", ["node-b", "node-a", "node-c"]),
    ],
)
def test_copies_in_the_order_a_preference_asks_them(
    preference: str | None, expected: list[str]
) -> None:
    ordered = ordered_copies(preference, [A, B, C], "node-b", 0)
    assert [c.node_id for c in ordered] == expected


def test_only_local_without_a_local_copy_leaves_none() -> None:
    assert ordered_copies("_only_local", [A, C], "node-b", 0) == []


def test_a_custom_preference_picks_the_same_copies_every_time_and_spreads_shards() -> None:
    first = [ordered_copies("session-42", [A, B, C], "node-b", n)[0].node_id for n in range(6)]
    again = [ordered_copies("session-42", [C, A, B], "node-b", n)[0].node_id for n in range(6)]
    assert first == again
    assert len(set(first)) > 1  # consecutive shards start at different copies


def test_only_nodes_resolves_names_through_the_resolver() -> None:
    ordered = ordered_copies("_only_nodes:data-*", [A, B, C], "node-b", 0, lambda s: {"node-c"})
    assert ordered == [C]


def test_copy_preference_strips_the_shards_part() -> None:
    assert copy_preference("_shards:0,1") is None
    assert copy_preference("_shards:0|_local") == "_local"
    assert copy_preference("_prefer_nodes:x") == "_prefer_nodes:x"
    assert copy_preference(None) is None


def test_split_local_remote_by_node_and_unavailable() -> None:
    tasks = [
        task("i", 0, B, A),  # started here
        task("i", 1, A, C),  # first copy on node-a
        task("i", 2, C),  # only on node-c
        task("i", 3, A),  # node-a too: same request as shard 1
        task("i", 4),  # no started copy
    ]
    plan = split(tasks, "node-b", lambda t: True)
    assert [(t.index, t.shard) for t in plan.local] == [("i", 0)]
    assert {n: [t.shard for t in ts] for n, ts in plan.remote.items()} == {
        "node-a": [1, 3],
        "node-c": [2],
    }
    assert [t.shard for t in plan.unavailable] == [4]
    assert plan.total == 5
    assert [t.shard for t in plan.order] == [0, 1, 2, 3, 4]


def test_a_copy_started_here_but_not_open_yet_is_asked_elsewhere() -> None:
    plan = split([task("i", 0, B, A), task("i", 1, B)], "node-b", lambda t: False)
    assert plan.local == []
    assert [t.shard for t in plan.remote["node-a"]] == [0]
    assert plan.remote["node-a"][0].copies == (A,)
    assert [t.shard for t in plan.unavailable] == [1]


def test_after_a_failed_copy_the_next_one_is_asked() -> None:
    t = task("i", 0, A, B, C)
    assert t.after("node-a").copies == (B, C)
    assert t.after("node-a").after("node-b").after("node-c").first_node is None


def test_the_request_travels_and_comes_back_whole() -> None:
    stats = TermStats(10, {"title": 40}, {("title", "fox"): 3})
    request = NodeShardsRequest(
        cluster_name="multi",
        body={"query": {"match": {"title": "fox"}}, "size": 3},
        params={"search_type": "dfs_query_then_fetch"},
        shards=(NodeShard("i", 1, [{"term": {"x": 1}}], 2.0), NodeShard("i", 3)),
        now_ms=123,
        from_=2,
        size=3,
        search_after=[5, "a"],
        collect_all=True,
        pre_filter=True,
        cluster_alias="far",
        term_stats=stats,
        knn=[(("i", "doc-1", 0.5),)],
        gather_stats=False,
    )
    back = NodeShardsRequest.from_payload(request.to_payload())
    assert back == request


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {"cluster_name": "multi", "body": {}, "params": {}, "shards": "x"},
        {"cluster_name": 1, "body": {}, "params": {}, "shards": []},
        {
            "cluster_name": "multi",
            "body": {},
            "params": {"a": 1},
            "shards": [],
            "now_ms": 1,
            "from": 0,
            "size": 1,
        },
        {
            "cluster_name": "multi",
            "body": {},
            "params": {},
            "shards": [{"index": "i"}],
            "now_ms": 1,
            "from": 0,
            "size": 1,
        },
        {
            "cluster_name": "multi",
            "body": {},
            "params": {},
            "shards": [],
            "now_ms": True,
            "from": 0,
            "size": 1,
        },
    ],
)
def test_a_malformed_request_is_a_protocol_error(payload: object) -> None:
    with pytest.raises(RemoteProtocolError):
        NodeShardsRequest.from_payload(payload)


def test_answers_carry_each_shards_result_or_error() -> None:
    missing = ShardNotFoundError("i", "i-uuid", 2)
    answer = {"results": [answer_entry({"total": 1}, dict), answer_entry(missing, dict)]}
    first, second = answer_entries(answer, 2)
    assert first == {"total": 1}
    assert isinstance(second, ShardNotFoundError)
    assert second.to_cause() == missing.to_cause()
    with pytest.raises(RemoteProtocolError):
        answer_entries(answer, 3)  # one entry per shard asked
    with pytest.raises(RemoteProtocolError):
        answer_entries({"results": [{}]}, 1)


def test_document_and_field_level_security_travel_with_the_shard() -> None:
    access = IndexAccess(
        True,
        queries=('{"term": {"team": "blue"}}',),
        fields=(FieldSecurity(("title", "team"), ("secret",)),),
    )
    restriction = restriction_of(access)
    back = restriction_from_payload(restriction_to_payload(restriction))
    assert back.queries == restriction.queries
    assert back.shows_field("title") and not back.shows_field("secret")
    assert not back.shows_field("other")


def test_a_restriction_without_its_role_queries_text_is_not_sent() -> None:
    from isthmus.security.field_level import IndexRestriction

    bare = IndexRestriction(((dsl.MatchNone(),),))
    with pytest.raises(Exception, match="role queries"):
        restriction_to_payload(bare)


def test_no_copy_renders_as_es_does() -> None:
    cause = NoShardAvailableActionError("i", "i-uuid", 0).to_cause()
    assert cause == {
        "type": "no_shard_available_action_exception",
        "reason": None,
        "index_uuid": "i-uuid",
        "shard": "0",
        "index": "i",
    }
    assert NoShardAvailableActionError("i", "u", 0).http_status == 503


def test_only_nodes_naming_no_copy_is_refused_as_es_does() -> None:
    from isthmus.actions.node_shards_plan import check_only_nodes
    from isthmus.errors import IllegalArgumentError

    check_only_nodes("_only_nodes:node-a", "i", 0, [A])  # a copy there: fine
    check_only_nodes("_local", "i", 0, [])  # other preferences: the shard fails instead
    with pytest.raises(IllegalArgumentError) as one:
        check_only_nodes("_only_nodes:node-x", "i", 2, [])
    assert one.value.reason == "no data nodes with criteria [node-x] found for shard: [i][2]"
    with pytest.raises(IllegalArgumentError) as two:
        check_only_nodes("_shards:2|_only_nodes:x,y", "i", 2, [])
    assert two.value.reason == "no data nodes with criterion [x,y] found for shard: [i][2]"
