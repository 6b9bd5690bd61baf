"""Relocation: a started copy its node may no longer hold moves without losing a copy."""

from __future__ import annotations

from dataclasses import replace

from isthmus.cluster.allocation import fail_copy, reroute, shard_started
from isthmus.cluster.allocation_moves import needs_moves
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.shard_health import IndexHealth
from isthmus.cluster.shard_routing import INITIALIZING, STARTED, ShardRouting
from tests.unit.cluster.test_allocation import THREE, index, nodes, settle, state, table


def _excluding(s: ClusterMetadata, node_id: str) -> ClusterMetadata:
    meta = s.indices["i"]
    settings = {**meta.settings, "index.routing.allocation.exclude._id": node_id}
    return replace(s, indices={"i": replace(meta, settings=settings)})


def _moving(primary: bool) -> tuple[ClusterMetadata, ShardRouting, ShardRouting]:
    """(state, source, target) of a copy moving off its excluded node."""
    s = settle(state(index("i", replicas=1)), THREE)
    source = table(s).primary() if primary else table(s).replicas()[0]
    assert source is not None and source.node_id is not None
    excluded = _excluding(s, source.node_id)
    assert needs_moves(excluded, THREE)
    moving = reroute(excluded, THREE, 0, handle_departures=True)
    assert not needs_moves(moving, THREE)  # already moving
    target = next(c for c in table(moving).copies if c.relocating_from is not None)
    return moving, source, target


def test_health_counts_a_move_as_one_relocating_shard() -> None:
    moving, _, _ = _moving(primary=False)
    h = IndexHealth.routed(moving.indices["i"], moving.routing["i-uuid"], 0)
    assert h.status == "green"
    totals = h.totals()
    assert (totals["relocating_shards"], totals["initializing_shards"]) == (1, 0)
    assert totals["active_shards"] == 2


def test_failed_target_is_dropped_and_the_source_stays() -> None:
    moving, source, target = _moving(primary=False)
    assert target.allocation_id is not None
    t = fail_copy(table(moving), target.allocation_id, "ALLOCATION_FAILED", 5, failed=True)
    assert [c.allocation_id for c in t.copies] == [c.allocation_id for c in table(moving).copies][
        :2
    ]
    assert source in t.copies


def test_failed_replica_source_leaves_its_target_as_replica() -> None:
    moving, source, target = _moving(primary=False)
    assert source.allocation_id is not None
    t = fail_copy(table(moving), source.allocation_id, "NODE_LEFT", 5)
    assert len(t.copies) == 2 and source.allocation_id not in t.in_sync
    kept = t.by_allocation(target.allocation_id or "")
    assert kept is not None and kept.relocating_from is None and kept.state == INITIALIZING


def test_failed_primary_source_drops_its_target_and_promotes() -> None:
    moving, source, target = _moving(primary=True)
    assert source.allocation_id is not None
    t = fail_copy(table(moving), source.allocation_id, "NODE_LEFT", 5)
    assert t.by_allocation(target.allocation_id or "") is None
    p = t.primary()
    assert p is not None and p.state == STARTED and t.primary_term == 2
    assert len(t.copies) == 2


def test_primary_move_completes_under_a_new_term() -> None:
    moving, source, target = _moving(primary=True)
    assert target.allocation_id is not None
    done = shard_started(moving, "i-uuid", 0, target.allocation_id)
    t = table(done)
    p = t.primary()
    assert p is not None and p.allocation_id == target.allocation_id and t.primary_term == 2
    assert source.allocation_id not in {c.allocation_id for c in t.copies}
    assert reroute(done, THREE, 0, handle_departures=True) is done  # nothing left to move
    assert IndexHealth.routed(done.indices["i"], done.routing["i-uuid"], 0).status == "green"


def test_fewer_replicas_drop_a_moving_copy_with_its_target() -> None:
    moving, _, _ = _moving(primary=False)
    meta = moving.indices["i"]
    fewer = replace(
        moving,
        indices={"i": replace(meta, settings={**meta.settings, "index.number_of_replicas": "0"})},
    )
    t = table(reroute(fewer, THREE, 0, handle_departures=True))
    assert [c.primary for c in t.copies] == [True]


def _on(s: ClusterMetadata) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in s.routing.values():
        for t in r.shards:
            for c in t.copies:
                if c.node_id is not None and c.relocating_from is None:
                    out[c.node_id] = out.get(c.node_id, 0) + 1
    return out


BALANCE = {"cluster.routing.rebalance.enable": "all"}  # Isthmus's default is none


def test_a_joining_node_receives_copies_from_the_fullest() -> None:
    two = nodes(*THREE.nodes[:2])
    s = replace(settle(state(index("i", shards=2, replicas=1)), two), persistent=BALANCE)
    assert reroute(replace(s, persistent={}), THREE, 0, handle_departures=True).routing == (
        s.routing
    )  # not asked to balance: nothing moves
    assert _on(s) == {"id1": 2, "id2": 2}
    # Settling (reroute, start, again) with the third node evens the counts out.
    balanced = settle(s, THREE)
    assert sorted(_on(balanced).values()) == [1, 1, 2]
    assert all(c.state == STARTED for t in balanced.routing["i-uuid"].shards for c in t.copies)
    assert (
        IndexHealth.routed(balanced.indices["i"], balanced.routing["i-uuid"], 0).status == "green"
    )


def test_no_rebalance_while_copies_initialize_or_when_disabled() -> None:
    two = nodes(*THREE.nodes[:2])
    s = replace(settle(state(index("i", shards=2, replicas=1)), two), persistent=BALANCE)
    # A new index initializing: allow_rebalance (indices_all_active) holds the moves back.
    busy = reroute(
        replace(s, indices={**s.indices, "j": index("j", replicas=0)}),
        THREE,
        0,
        handle_departures=True,
    )
    assert not any(c.relocating_from for t in busy.routing["i-uuid"].shards for c in t.copies)
    off = replace(s, persistent={"cluster.routing.rebalance.enable": "none"})
    assert reroute(off, THREE, 0, handle_departures=True).routing == off.routing


def test_concurrent_rebalance_limit() -> None:
    two = nodes(*THREE.nodes[:2])
    s = settle(state(index("i", shards=4, replicas=1)), two)
    assert _on(s) == {"id1": 4, "id2": 4}
    one = replace(
        s, persistent={**BALANCE, "cluster.routing.allocation.cluster_concurrent_rebalance": "1"}
    )
    out = reroute(one, THREE, 0, handle_departures=True)
    targets = [c for t in out.routing["i-uuid"].shards for c in t.copies if c.relocating_from]
    assert len(targets) == 1 and targets[0].node_id == "id3"
    default = reroute(replace(s, persistent=BALANCE), THREE, 0, handle_departures=True)
    assert (
        sum(1 for t in default.routing["i-uuid"].shards for c in t.copies if c.relocating_from) == 2
    )
