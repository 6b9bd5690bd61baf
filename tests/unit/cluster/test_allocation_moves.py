"""Relocation: a started copy its node may no longer hold moves without losing a copy."""

from __future__ import annotations

from dataclasses import replace

from isthmus.cluster.allocation import fail_copy, reroute, shard_started
from isthmus.cluster.allocation_moves import needs_moves
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.shard_health import IndexHealth
from isthmus.cluster.shard_routing import INITIALIZING, STARTED, ShardRouting
from tests.unit.cluster.test_allocation import THREE, index, settle, state, table


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
