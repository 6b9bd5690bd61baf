"""ES's allocation deciders: their settings, answers and explanation texts."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from isthmus.cluster.allocation import reroute, shard_started
from isthmus.cluster.allocation_deciders import Candidate, decide, node_filters
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.shard_routing import INITIALIZING, UNASSIGNED
from isthmus.errors import SettingsError
from isthmus.settings.catalog import find
from isthmus.settings.registry import Scope
from tests.unit.cluster.test_allocation import THREE, index, node, nodes, settle, state, table


def _candidate(s: ClusterMetadata, node_n: int, primary: bool = True) -> Candidate:
    t = table(s)
    copy = t.primary() if primary else t.replicas()[0]
    assert copy is not None
    members = {n.id: n for n in THREE}
    return Candidate(s.indices["i"], t, copy, members[f"id{node_n}"], 0, 0, members)


def _by_name(s: ClusterMetadata, node_n: int, primary: bool = True) -> dict[str, tuple[str, str]]:
    return {
        d.decider: (d.decision, d.explanation)
        for d in decide(s, _candidate(s, node_n, primary), explain=True)
    }


def test_index_exclude_filter_moves_started_copies_away() -> None:
    s = settle(state(index("i", shards=1, replicas=1)), THREE)
    held = {c.node_id or "" for c in table(s).copies}
    (free,) = {"id1", "id2", "id3"} - held
    # Excluding a node that holds a copy moves it: a relocation target on the free node first.
    victim = sorted(held)[0]
    source = next(c for c in table(s).copies if c.node_id == victim)
    meta = s.indices["i"]
    excluded = replace(
        s,
        indices={
            "i": replace(
                meta, settings={**meta.settings, "index.routing.allocation.exclude._id": victim}
            )
        },
    )
    moving = reroute(excluded, THREE, 0, handle_departures=True)
    target = next(c for c in table(moving).copies if c.relocating_from is not None)
    assert (target.node_id, target.state, target.relocating_from) == (
        free,
        "INITIALIZING",
        source.allocation_id,
    )
    assert reroute(moving, THREE, 0, handle_departures=True) is moving  # one move at a time
    assert target.allocation_id is not None
    done = table(shard_started(moving, "i-uuid", 0, target.allocation_id))
    assert victim not in {c.node_id for c in done.copies} and len(done.copies) == 2
    assert all(c.state == "STARTED" and c.relocating_from is None for c in done.copies)
    assert source.allocation_id not in done.in_sync and target.allocation_id in done.in_sync
    if source.primary:  # the primary moved: a new term, the target is the primary now
        assert done.primary_term == 2 and done.primary().allocation_id == target.allocation_id  # type: ignore[union-attr]
    # A new allocation avoids it: with the free node excluded too, a failed copy has nowhere to go.
    both = replace(
        excluded,
        indices={
            "i": replace(
                meta,
                settings={
                    **meta.settings,
                    "index.routing.allocation.exclude._id": f"{victim},{free}",
                },
            )
        },
    )
    decisions = _by_name(both, int(free[-1]), primary=False)
    assert decisions["filter"] == (
        "NO",
        f'node matches index setting [index.routing.allocation.exclude] filters [_id:"{victim} OR {free}"]',
    )


def test_cluster_require_filter_and_attribute_filters() -> None:
    s = state(index("i"), **{"cluster__routing__allocation__require___name": "node-2"})
    out = reroute(s, THREE, 0, handle_departures=True)
    assert table(out).primary().node_id == "id2"  # type: ignore[union-attr]
    assert _by_name(out, 1)["filter"] == (
        "NO",
        'node does not match cluster setting [cluster.routing.allocation.require] filters [_name:"node-2"]',
    )
    f = node_filters({"x.include.rack": "r1,r*2", "x.include._host": ""}, "x.", "include")
    assert f is not None and str(f) == 'rack:"r1 OR r*2"'
    assert f.match(node(1, rack="rr2")) and not f.match(node(1, rack="r3")) and not f.match(node(1))


def test_enable_setting_index_overrides_cluster() -> None:
    s = reroute(
        state(index("i"), **{"cluster__routing__allocation__enable": "none"}),
        THREE,
        0,
        handle_departures=True,
    )
    assert _by_name(s, 1)["enable"] == (
        "NO",
        "no allocations are allowed due to cluster setting [cluster.routing.allocation.enable=none]",
    )
    stays = table(reroute(s, THREE, 0, handle_departures=True)).primary()
    assert stays is not None and stays.state == UNASSIGNED
    s2 = state(index("i", settings={"index.routing.allocation.enable": "primaries"}))
    started = settle(s2, THREE)
    assert _by_name(started, 1, primary=False)["enable"] == (
        "NO",
        "replica allocations are forbidden due to index setting [index.routing.allocation.enable=primaries]",
    )
    s3 = reroute(
        state(index("i"), **{"cluster__routing__allocation__enable": "new_primaries"}),
        THREE,
        0,
        handle_departures=True,
    )
    assert _by_name(s3, 1)["enable"] == ("YES", "new primary allocations are allowed")


def test_same_shard_and_replica_after_primary() -> None:
    s = reroute(state(index("i")), THREE, 0, handle_departures=True)
    p = table(s).primary()
    assert p is not None and p.state == INITIALIZING and p.node_id is not None
    got = _by_name(s, int(p.node_id[-1]), primary=False)
    assert got["same_shard"][0] == "NO"
    assert got["same_shard"][1].startswith(
        "a copy of this shard is already allocated to this node [[i][0], node["
    )
    assert got["replica_after_primary_active"] == (
        "NO",
        "primary shard for this replica is not yet active",
    )
    other = next(n for n in ("1", "2", "3") if f"id{n}" != p.node_id)
    assert _by_name(s, int(other), primary=False)["same_shard"] == (
        "YES",
        "this node does not hold a copy of this shard",
    )


def test_shards_limit() -> None:
    s = state(
        index(
            "i",
            shards=3,
            replicas=0,
            settings={"index.routing.allocation.total_shards_per_node": "1"},
        )
    )
    out = reroute(s, nodes(node(1), node(2)), 0, handle_departures=True)
    assert sorted(c.state for t in out.routing["i-uuid"].shards for c in t.copies) == [
        INITIALIZING,
        INITIALIZING,
        UNASSIGNED,
    ]
    c = replace(_candidate(out, 1), node_shards=1, node_index_shards=1)
    (limit,) = [d for d in decide(out, c, explain=True) if d.decider == "shards_limit"]
    assert limit.explanation == (
        "too many shards [1] allocated to this node for index [i], index setting "
        "[index.routing.allocation.total_shards_per_node=1]"
    )


def test_awareness_spreads_copies_over_attribute_values() -> None:
    members = nodes(node(1, zone="a"), node(2, zone="a"), node(3, zone="b"))
    s = settle(
        state(
            index("i", shards=2, replicas=1),
            **{"cluster__routing__allocation__awareness__attributes": "zone"},
        ),
        members,
    )
    for t in s.routing["i-uuid"].shards:
        zones = {members.get(c.node_id or "").attributes["zone"] for c in t.copies}  # type: ignore[union-attr]
        assert zones == {"a", "b"}


def test_allocation_settings_are_registered() -> None:
    for key in (
        "cluster.routing.allocation.exclude._name",
        "cluster.routing.allocation.total_shards_per_node",
        "cluster.routing.allocation.awareness.attributes",
        "cluster.routing.allocation.awareness.force.zone.values",
        "cluster.routing.allocation.same_shard.host",
    ):
        assert find(key, (Scope.CLUSTER,)) is not None, key
    for key in (
        "index.routing.allocation.require.rack",
        "index.routing.allocation.total_shards_per_node",
        "index.routing.allocation.enable",
        "index.allocation.max_retries",
        "index.unassigned.node_left.delayed_timeout",
    ):
        assert find(key, (Scope.INDEX,)) is not None, key
    enable = find("index.routing.allocation.enable", (Scope.INDEX,))
    assert enable is not None
    with pytest.raises(
        SettingsError, match=re.escape("Illegal allocation.enable value [SOMETIMES]")
    ):
        enable.coerce("index.routing.allocation.enable", "sometimes")


def test_filter_settings_take_lists_and_check_ip_values() -> None:
    exclude_ip = find("cluster.routing.allocation.exclude._ip", (Scope.CLUSTER,))
    assert exclude_ip is not None
    assert exclude_ip.coerce("cluster.routing.allocation.exclude._ip", ["10.0.0.1", "10.0.*"]) == (
        "10.0.0.1,10.0.*"
    )
    with pytest.raises(SettingsError, match=re.escape("invalid IP address [nope] for [_ip]")):
        exclude_ip.coerce("cluster.routing.allocation.exclude._ip", "nope")
    by_name = find("index.routing.allocation.include._name", (Scope.INDEX,))
    assert by_name is not None
    assert by_name.coerce("index.routing.allocation.include._name", ["a", "b"]) == "a,b"
    f = node_filters({"x.exclude._name": "['node-1', 'node-2']"}, "x.", "exclude")
    assert f is not None and str(f) == '_name:"node-1 OR node-2"'
