"""The routing table's transitions (reroute, shard started, shard failed): ES's rules."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace

import pytest

from isthmus.cluster.allocation import reroute, shard_failed, shard_started
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.nodes import DiscoveryNode, DiscoveryNodes
from isthmus.cluster.shard_routing import INITIALIZING, STARTED, UNASSIGNED, ShardTable
from isthmus.errors import NoLongerPrimaryShardError
from isthmus.index.mapping import Mapping

DATA = ("data", "master")


def node(n: int, roles: tuple[str, ...] = DATA, **attrs: str) -> DiscoveryNode:
    return DiscoveryNode(
        name=f"node-{n}",
        id=f"id{n}",
        ephemeral_id=f"e{n}",
        host_name="127.0.0.1",
        host_address="127.0.0.1",
        transport_address=f"127.0.0.1:930{n}",
        roles=roles,
        attributes=attrs,
    )


def nodes(*members: DiscoveryNode) -> DiscoveryNodes:
    return DiscoveryNodes(tuple(members), members[0].id, members[0].id)


def index(
    name: str, shards: int = 1, replicas: int = 1, settings: dict[str, str] | None = None
) -> IndexMetadata:
    flat = {
        "index.number_of_shards": str(shards),
        "index.number_of_replicas": str(replicas),
        **(settings or {}),
    }
    return IndexMetadata(name, f"{name}-uuid", flat, Mapping({}))


def state(*metas: IndexMetadata, **persistent: object) -> ClusterMetadata:
    return ClusterMetadata(
        "c",
        indices={m.name: m for m in metas},
        persistent={k.replace("__", "."): v for k, v in persistent.items()},
    )


_COUNTER = itertools.count(1)


def ids() -> Callable[[], str]:
    """Allocation ids unique across the whole module (as new_uuid's are)."""
    return lambda: f"a{next(_COUNTER)}"


def table(s: ClusterMetadata, name: str = "i", shard: int = 0) -> ShardTable:
    return s.routing[f"{name}-uuid"].shards[shard]


def start_all(s: ClusterMetadata) -> ClusterMetadata:
    """Report every initializing copy started, primaries first (as nodes would)."""
    for primaries in (True, False):
        for r in list(s.routing.values()):
            for t in r.shards:
                for c in t.copies:
                    if c.state == INITIALIZING and c.primary == primaries:
                        assert c.allocation_id is not None
                        s = shard_started(s, r.index_uuid, t.shard, c.allocation_id)
    return s


def settle(s: ClusterMetadata, members: DiscoveryNodes, now: int = 0) -> ClusterMetadata:
    """Reroute and start until nothing changes (the master and the nodes, in a loop)."""
    new_id = ids()
    for _ in range(10):
        nxt = start_all(reroute(s, members, now, handle_departures=True, new_id=new_id))
        if nxt == s:
            return s
        s = nxt
    return s


THREE = nodes(node(1), node(2), node(3))


def test_new_index_gets_unassigned_copies_then_primaries_before_replicas() -> None:
    s = state(index("i", shards=2, replicas=1))
    s1 = reroute(s, THREE, 5, handle_departures=False, new_id=ids())
    for t in s1.routing["i-uuid"].shards:
        p = t.primary()
        assert p is not None and p.state == INITIALIZING and p.node_id is not None
        assert p.unassigned is not None and p.unassigned.reason == "INDEX_CREATED"
        # Replicas wait for the primary to be started.
        assert [c.state for c in t.replicas()] == [UNASSIGNED]
        assert t.primary_term == 1 and t.in_sync == frozenset()
    # The two primaries on two different nodes (fewest shards first).
    assert len({t.primary().node_id for t in s1.routing["i-uuid"].shards}) == 2  # type: ignore[union-attr]


def test_started_shards_spread_and_never_share_a_node() -> None:
    s = settle(state(index("i", shards=3, replicas=1)), THREE)
    per_node: dict[str, int] = {}
    for t in s.routing["i-uuid"].shards:
        holders = [c.node_id for c in t.copies]
        assert all(c.state == STARTED for c in t.copies)
        assert len(set(holders)) == 2  # no node holds two copies of one shard
        assert t.in_sync == frozenset(c.allocation_id for c in t.copies)
        for h in holders:
            assert h is not None
            per_node[h] = per_node.get(h, 0) + 1
    assert sorted(per_node.values()) == [2, 2, 2]


def test_no_change_returns_the_same_state() -> None:
    s = settle(state(index("i")), THREE)
    assert reroute(s, THREE, 0, handle_departures=True) is s


def test_deleted_index_routing_dropped_and_closed_index_kept() -> None:
    s = settle(state(index("i"), index("j")), THREE)
    closed = replace(s, indices={**s.indices, "j": replace(s.indices["j"], state="close")})
    closed = replace(closed, indices={"j": closed.indices["j"]})
    out = reroute(closed, THREE, 0, handle_departures=True)
    assert set(out.routing) == {"j-uuid"}
    assert out.routing["j-uuid"] == s.routing["j-uuid"]


def test_replica_on_a_single_node_stays_unassigned() -> None:
    s = settle(state(index("i")), nodes(node(1)))
    t = table(s)
    assert t.primary().state == STARTED  # type: ignore[union-attr]
    assert [c.state for c in t.replicas()] == [UNASSIGNED]


def test_lost_primary_promotes_in_sync_replica_with_new_term() -> None:
    s = settle(
        state(index("i", settings={"index.unassigned.node_left.delayed_timeout": "0"})), THREE
    )
    t = table(s)
    p, r = t.primary(), t.replicas()[0]
    assert p is not None and p.node_id is not None
    left = nodes(*(n for n in THREE if n.id != p.node_id))
    out = reroute(s, left, 100, handle_departures=True, new_id=ids())
    t2 = table(out)
    new_primary = t2.primary()
    assert new_primary is not None
    assert new_primary.allocation_id == r.allocation_id and new_primary.state == STARTED
    assert t2.primary_term == 2
    assert p.allocation_id not in t2.in_sync
    # The old primary's slot is a replica now, allocated again on the third node.
    (replica,) = t2.replicas()
    assert replica.state == INITIALIZING and replica.node_id not in (p.node_id, r.node_id)
    assert replica.unassigned is not None and replica.unassigned.reason == "NODE_LEFT"


def test_primary_without_in_sync_copy_waits_red_and_reopens_on_return() -> None:
    s = settle(state(index("i", replicas=0)), THREE)
    p = table(s).primary()
    assert p is not None and p.node_id is not None
    left = nodes(*(n for n in THREE if n.id != p.node_id))
    out = reroute(s, left, 100, handle_departures=True, new_id=ids())
    t = table(out)
    gone = t.primary()
    assert gone is not None and gone.state == UNASSIGNED
    assert gone.unassigned is not None and gone.unassigned.reason == "NODE_LEFT"
    assert gone.unassigned.last_node_id == p.node_id
    assert gone.unassigned.last_allocation_id == p.allocation_id
    assert t.in_sync == frozenset({p.allocation_id})  # kept: never starts empty
    # The node comes back: the primary goes to it with the same allocation id (its store).
    back = reroute(out, THREE, 200, handle_departures=True, new_id=ids())
    again = table(back).primary()
    assert again is not None and again.state == INITIALIZING
    assert (again.node_id, again.allocation_id) == (p.node_id, p.allocation_id)
    assert table(back).primary_term == 2  # a primary initialized again: a new term (ES)


def test_lost_replica_leaves_in_sync_and_waits_for_delayed_timeout() -> None:
    s = settle(
        state(index("i", settings={"index.unassigned.node_left.delayed_timeout": "1m"})), THREE
    )
    t = table(s)
    r = t.replicas()[0]
    left = nodes(*(n for n in THREE if n.id != r.node_id))
    out = reroute(s, left, 1_000, handle_departures=True, new_id=ids())
    t2 = table(out)
    assert r.allocation_id not in t2.in_sync
    assert t2.replicas()[0].state == UNASSIGNED  # delayed: its node may return
    later = reroute(out, left, 61_001, handle_departures=True, new_id=ids())
    assert table(later).replicas()[0].state == INITIALIZING
    # Returning within the delay: back to the same node, with a new allocation id.
    returned = reroute(out, THREE, 2_000, handle_departures=True, new_id=ids())
    back = table(returned).replicas()[0]
    assert back.node_id == r.node_id and back.allocation_id != r.allocation_id


def test_non_data_node_gets_nothing_and_losing_the_role_is_a_departure() -> None:
    members = nodes(node(1), node(2, roles=("master",)))
    s = settle(state(index("i", shards=2, replicas=0)), members)
    assert {t.primary().node_id for t in s.routing["i-uuid"].shards} == {"id1"}  # type: ignore[union-attr]


def test_shard_started_unknown_or_stale_id_changes_nothing() -> None:
    s = reroute(state(index("i")), THREE, 0, handle_departures=True, new_id=ids())
    assert shard_started(s, "i-uuid", 0, "nope") is s
    assert shard_started(s, "other", 0, "a1") is s
    assert shard_started(s, "i-uuid", 7, "a1") is s
    p = table(s).primary()
    assert p is not None and p.allocation_id is not None
    started = shard_started(s, "i-uuid", 0, p.allocation_id)
    assert shard_started(started, "i-uuid", 0, p.allocation_id) is started


def test_shard_failed_replica_counts_attempt_and_is_reallocated() -> None:
    s = settle(state(index("i")), THREE)
    r = table(s).replicas()[0]
    assert r.allocation_id is not None
    out = shard_failed(s, "i-uuid", 0, r.allocation_id, 1, "failed to write", 50)
    t = table(out)
    gone = t.replicas()[0]
    assert gone.state == UNASSIGNED and r.allocation_id not in t.in_sync
    assert gone.unassigned is not None
    assert (gone.unassigned.reason, gone.unassigned.failed_attempts) == ("ALLOCATION_FAILED", 1)
    assert gone.unassigned.details == "failed to write"
    again = table(reroute(out, THREE, 60, handle_departures=True, new_id=ids())).replicas()[0]
    assert again.state == INITIALIZING


def test_stale_primary_term_is_refused_with_es_message() -> None:
    s = settle(state(index("i")), THREE)
    r = table(s).replicas()[0]
    assert r.allocation_id is not None
    bumped = replace(
        s, routing={"i-uuid": s.routing["i-uuid"].with_shard(replace(table(s), primary_term=3))}
    )
    with pytest.raises(NoLongerPrimaryShardError) as err:
        shard_failed(bumped, "i-uuid", 0, r.allocation_id, 2, "x", 0)
    assert err.value.reason == "primary term [2] did not match current primary term [3]"
    assert err.value.to_body()["error"]["type"] == "no_longer_primary_shard_exception"


def test_failed_primary_promotes_replica() -> None:
    s = settle(state(index("i")), THREE)
    p = table(s).primary()
    assert p is not None and p.allocation_id is not None
    out = shard_failed(s, "i-uuid", 0, p.allocation_id, 1, "disk broke", 0)
    t = table(out)
    assert t.primary_term == 2
    assert t.primary().state == STARTED and t.primary().allocation_id != p.allocation_id  # type: ignore[union-attr]
    assert p.allocation_id not in t.in_sync


def test_max_retries_stops_allocation() -> None:
    s = state(index("i", replicas=0, settings={"index.allocation.max_retries": "2"}))
    s = reroute(s, THREE, 0, handle_departures=True, new_id=ids())
    for attempt in (1, 2):
        p = table(s).primary()
        assert p is not None and p.state == INITIALIZING and p.allocation_id is not None
        s = shard_failed(s, "i-uuid", 0, p.allocation_id, 0, "boom", attempt)
        s = reroute(s, THREE, attempt, handle_departures=True, new_id=ids())
    p = table(s).primary()
    assert p is not None and p.state == UNASSIGNED
    assert p.unassigned is not None and p.unassigned.failed_attempts == 2


def test_number_of_replicas_is_followed() -> None:
    s = settle(state(index("i", replicas=1)), THREE)
    more = replace(
        s,
        indices={
            "i": replace(
                s.indices["i"],
                settings={**s.indices["i"].settings, "index.number_of_replicas": "2"},
            )
        },
    )
    s2 = settle(more, THREE)
    assert [c.state for c in table(s2).copies] == [STARTED] * 3
    fewer = replace(
        s2,
        indices={
            "i": replace(
                s2.indices["i"],
                settings={**s2.indices["i"].settings, "index.number_of_replicas": "0"},
            )
        },
    )
    s3 = reroute(fewer, THREE, 0, handle_departures=True)
    t = table(s3)
    assert len(t.copies) == 1 and t.in_sync == frozenset({t.copies[0].allocation_id})


def test_more_replicas_than_nodes_leaves_extra_unassigned() -> None:
    s = settle(state(index("i", replicas=3)), THREE)
    assert sorted(c.state for c in table(s).copies) == [STARTED] * 3 + [UNASSIGNED]


def test_primary_and_replica_lost_together_either_copy_may_come_back() -> None:
    s = settle(state(index("i", replicas=1)), THREE)
    t = table(s)
    p, r = t.primary(), t.replicas()[0]
    assert p is not None and r.node_id is not None
    survivor = next(n for n in THREE if n.id not in (p.node_id, r.node_id))
    out = reroute(s, nodes(survivor), 10, handle_departures=True, new_id=ids())
    t2 = table(out)
    assert t2.active_primary() is None
    assert t2.in_sync == t.in_sync  # both copies may still hold every acknowledged write
    # Only the replica's node returns: it takes the primary with its own allocation id.
    back = nodes(survivor, *(n for n in THREE if n.id == r.node_id))
    again = table(reroute(out, back, 20, handle_departures=True, new_id=ids())).primary()
    assert again is not None and again.state == INITIALIZING
    assert (again.node_id, again.allocation_id) == (r.node_id, r.allocation_id)
