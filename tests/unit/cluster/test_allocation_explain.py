"""``_cluster/allocation/explain`` and the health of a routing table."""

from __future__ import annotations

import re

import pytest

from isthmus.cluster.allocation import reroute
from isthmus.cluster.allocation_explain import NONE_UNASSIGNED, NOTE, explain
from isthmus.cluster.shard_health import IndexHealth
from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    IndexNotFoundError,
    ShardNotFoundError,
    XContentParseError,
)
from tests.unit.cluster.test_allocation import THREE, index, nodes, settle, state, table


def test_no_body_explains_first_unassigned_replica_same_shard() -> None:
    s = settle(state(index("i", replicas=3)), THREE)
    out = explain(s, THREE, None, 0)
    assert out["note"] == NOTE
    assert (out["index"], out["shard"], out["primary"], out["current_state"]) == (
        "i",
        0,
        False,
        "unassigned",
    )
    assert out["can_allocate"] == "no"
    assert out["allocate_explanation"].startswith(
        "Elasticsearch isn't allowed to allocate this shard to any of the nodes"
    )
    assert out["unassigned_info"]["reason"] == "INDEX_CREATED"
    assert out["unassigned_info"]["last_allocation_status"] == "no"
    decisions = out["node_allocation_decisions"]
    assert {d["node_name"] for d in decisions} == {"node-1", "node-2", "node-3"}
    for d in decisions:
        assert d["node_decision"] == "no"
        assert [x["decider"] for x in d["deciders"]] == ["same_shard"]
        assert d["deciders"][0]["explanation"].startswith(
            "a copy of this shard is already allocated to this node"
        )
    yes = explain(s, THREE, None, 0, include_yes=True)
    assert len(yes["node_allocation_decisions"][0]["deciders"]) == 7


def test_no_unassigned_shard_is_es_400() -> None:
    s = settle(state(index("i", replicas=1)), THREE)
    with pytest.raises(IllegalArgumentError, match=re.escape(NONE_UNASSIGNED)):
        explain(s, THREE, None, 0)
    with pytest.raises(IllegalArgumentError, match="no unassigned shards"):
        explain(s, THREE, {}, 0)


def test_request_validation_and_missing_targets() -> None:
    s = settle(state(index("i")), THREE)
    with pytest.raises(ActionRequestValidationError) as err:
        explain(s, THREE, {"index": "i"}, 0)
    assert err.value.reason == (
        "Validation Failed: 1: shard must be specified;2: primary must be specified;"
    )
    with pytest.raises(IndexNotFoundError):
        explain(s, THREE, {"index": "nope", "shard": 0, "primary": True}, 0)
    with pytest.raises(ShardNotFoundError):
        explain(s, THREE, {"index": "i", "shard": 4, "primary": True}, 0)
    with pytest.raises(IllegalArgumentError, match=r"failed to resolve \[ghost\]"):
        explain(s, THREE, {"index": "i", "shard": 0, "primary": True, "current_node": "ghost"}, 0)


def test_started_primary_explained_on_its_node() -> None:
    s = settle(state(index("i")), THREE)
    p = table(s).primary()
    assert p is not None
    out = explain(s, THREE, {"index": "i", "shard": 0, "primary": True}, 0)
    assert out["current_state"] == "started"
    assert out["current_node"]["id"] == p.node_id
    assert out["can_remain_on_current_node"] == "yes"
    assert out["can_rebalance_cluster"] == "no"
    assert p.node_id not in {d["node_id"] for d in out["node_allocation_decisions"]}


def test_lost_primary_without_copy_is_no_valid_shard_copy_and_red() -> None:
    s = settle(state(index("i", replicas=0)), THREE)
    p = table(s).primary()
    assert p is not None
    left = nodes(*(n for n in THREE if n.id != p.node_id))
    out_state = reroute(s, left, 10, handle_departures=True)
    out = explain(out_state, left, {"index": "i", "shard": 0, "primary": True}, 10)
    assert out["can_allocate"] == "no_valid_shard_copy"
    assert out["unassigned_info"]["reason"] == "NODE_LEFT"
    assert all(d["store"] == {"found": False} for d in out["node_allocation_decisions"])
    health = IndexHealth.routed(out_state.indices["i"], out_state.routing["i-uuid"], 10)
    assert health.status == "red"
    assert health.totals()["unassigned_primary_shards"] == 1


def test_routed_health_levels() -> None:
    s0 = state(index("i", shards=2, replicas=1))
    initializing = reroute(s0, THREE, 0, handle_departures=True)
    h = IndexHealth.routed(initializing.indices["i"], initializing.routing["i-uuid"], 0)
    # A new index's initializing primaries are yellow (ES), not red.
    assert h.status == "yellow"
    assert h.totals() == {
        "active_primary_shards": 0,
        "active_shards": 0,
        "relocating_shards": 0,
        "initializing_shards": 2,
        "unassigned_shards": 2,
        "unassigned_primary_shards": 0,
        "delayed_unassigned_shards": 0,
    }
    green = settle(s0, THREE)
    g = IndexHealth.routed(green.indices["i"], green.routing["i-uuid"], 0)
    assert g.status == "green" and g.totals()["active_shards"] == 4
    shards = g.to_json("shards")["shards"]
    assert shards["0"]["active_shards"] == 2 and shards["0"]["status"] == "green"
    # A replica's node leaves: yellow, delayed for the default minute.
    r = table(green).replicas()[0]
    left = nodes(*(n for n in THREE if n.id != r.node_id))
    later = reroute(green, left, 1_000, handle_departures=True)
    y = IndexHealth.routed(later.indices["i"], later.routing["i-uuid"], 1_000)
    # Every copy that node held is now a delayed replica (its primaries were promoted away).
    held = sum(
        1 for t in green.routing["i-uuid"].shards for c in t.copies if c.node_id == r.node_id
    )
    assert y.status == "yellow" and y.totals()["delayed_unassigned_shards"] == held
    delayed = explain(later, left, {"index": "i", "shard": 0, "primary": False}, 1_000)
    assert delayed["can_allocate"] == "allocation_delayed"
    assert delayed["remaining_delay_in_millis"] == 60_000
    assert "[1m]" in delayed["allocate_explanation"]


def test_health_report_shards_availability_from_the_routing_table() -> None:
    from isthmus.cluster.health_report import routed_index_shards, shards_availability

    s = settle(state(index("i", shards=2, replicas=1)), THREE)
    shards = routed_index_shards(s.indices["i"], s.routing["i-uuid"])
    green = shards_availability([shards])
    assert green.status == "green"
    assert (green.details["started_primaries"], green.details["started_replicas"]) == (2, 2)
    r = table(s).replicas()[0]
    left = nodes(*(n for n in THREE if n.id != r.node_id))
    later = reroute(s, left, 1_000, handle_departures=True)
    yellow = shards_availability([routed_index_shards(later.indices["i"], later.routing["i-uuid"])])
    assert yellow.status == "yellow" and yellow.details["unassigned_primaries"] == 0
    assert yellow.details["unassigned_replicas"] >= 1


def test_copies_on_a_node_gone_from_the_view_are_not_active() -> None:
    s = settle(state(index("i", shards=1, replicas=1)), THREE)
    r = table(s).replicas()[0]
    live = {n.id for n in THREE if n.id != r.node_id}
    assert IndexHealth.routed(s.indices["i"], s.routing["i-uuid"], 0).status == "green"
    seen = IndexHealth.routed(s.indices["i"], s.routing["i-uuid"], 0, live)
    assert seen.status == "yellow"
    assert seen.totals()["active_shards"] == 1 and seen.totals()["unassigned_shards"] == 1


def test_started_copy_on_an_excluded_node_cannot_remain_and_moves() -> None:
    from dataclasses import replace

    s = settle(state(index("i")), THREE)
    p = table(s).primary()
    assert p is not None
    meta = s.indices["i"]
    excluded = replace(
        s,
        indices={
            "i": replace(
                meta,
                settings={**meta.settings, "index.routing.allocation.exclude._id": str(p.node_id)},
            )
        },
    )
    out = explain(excluded, THREE, {"index": "i", "shard": 0, "primary": True}, 0)
    assert out["can_remain_on_current_node"] == "no"
    assert [d["decider"] for d in out["can_remain_decisions"]] == ["filter"]
    # The third node may take it: it is moved (a relocation target on the next reroute).
    assert out["can_move_to_other_node"] == "yes"
    assert out["move_explanation"].endswith("Elasticsearch will move it to another node.")


def test_body_is_es_object_parser() -> None:
    # ES's ObjectParser "cluster/allocation/explain": unknown keys and a non-numeric shard are a
    # 400 x_content_parse_exception (it was accepted, and "x" became shard -1, a 404).
    s = settle(state(index("i")), THREE)
    with pytest.raises(XContentParseError) as err:
        explain(s, THREE, {"index": "i", "shard": 0, "primary": True, "bogus": 1}, 0)
    assert err.value.reason == "[cluster/allocation/explain] unknown field [bogus]"
    with pytest.raises(XContentParseError) as err:
        explain(s, THREE, {"index": "i", "shard": "x", "primary": True}, 0)
    assert err.value.reason == "[cluster/allocation/explain] failed to parse field [shard]"
    with pytest.raises(XContentParseError, match="failed to parse field \\[primary\\]"):
        explain(s, THREE, {"index": "i", "shard": 0, "primary": "yes"}, 0)
    out = explain(s, THREE, {"index": "i", "shard": "0", "primary": "true"}, 0)
    assert (out["shard"], out["primary"]) == (0, True)
