"""The master's allocation loop on a real cluster service, and RoutedCopies over its state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from isthmus.cluster.allocation import shard_started
from isthmus.cluster.allocation_service import (
    AllocationService,
    active_shards_reached,
    parse_active_shards,
    wait_for_active_shards,
)
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.nodes import DiscoveryNodes, NodesView
from isthmus.cluster.routed_copies import RoutedCopies
from isthmus.cluster.routing import ShardId
from isthmus.cluster.service import ClusterService
from isthmus.cluster.shard_routing import INITIALIZING, STARTED
from isthmus.cluster.store import ClusterStore
from isthmus.errors import IllegalArgumentError, NoLongerPrimaryShardError
from tests.unit.cluster.test_allocation import THREE, index


def _service(tmp_path: Path) -> ClusterService:
    return ClusterService(ClusterStore(tmp_path / "state"))


def _start_all(cluster: ClusterService) -> asyncio.Future[ClusterMetadata]:
    def change(s: ClusterMetadata) -> ClusterMetadata:
        for primaries in (True, False):
            for r in list(s.routing.values()):
                for t in r.shards:
                    for c in t.copies:
                        if c.state == INITIALIZING and c.primary == primaries:
                            assert c.allocation_id is not None
                            s = shard_started(s, r.index_uuid, t.shard, c.allocation_id)
        return s

    return asyncio.ensure_future(cluster.submit("shard-started", change))


async def _until(predicate: object, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_master_reroutes_on_changes_and_departures(tmp_path: Path) -> None:
    cluster = _service(tmp_path)
    view = NodesView(THREE)
    service = AllocationService(cluster, view)
    cluster.post_change = service.initial_allocation
    async with asyncio.TaskGroup() as tg:
        loop = tg.create_task(service.run())
        await cluster.submit(
            "create", lambda s: ClusterMetadata(s.cluster_uuid, indices={"i": index("i", 2)})
        )
        # Not replicated here: the loop's reroute (not post_change) allocates the new index.
        await _until(lambda: "i-uuid" in cluster.state.routing)
        await _until(
            lambda: all(
                c.assigned
                for t in cluster.state.routing["i-uuid"].shards
                for c in t.copies
                if c.primary
            )
        )
        await _start_all(cluster)
        # The started primaries let the loop allocate the replicas (an applied state with
        # unassigned copies wakes it); the "nodes" start them too.
        await _until(
            lambda: all(
                c.assigned for t in cluster.state.routing["i-uuid"].shards for c in t.copies
            )
        )
        await _start_all(cluster)
        assert active_shards_reached(cluster.state, ["i"], "all")
        assert await wait_for_active_shards(cluster, ["i"], "all", 0.1)
        # A shard whose primary is not on the local node (id1, the master): its node leaves and
        # its in-sync replica is promoted (term 2).
        shards = cluster.state.routing["i-uuid"].shards
        number, primary = next(
            (t.shard, p) for t in shards if (p := t.primary()) is not None and p.node_id != "id1"
        )
        view.update(
            DiscoveryNodes(tuple(n for n in THREE if n.id != primary.node_id), "id1", "id1")
        )
        await _until(lambda: cluster.state.routing["i-uuid"].shards[number].primary_term == 2)
        promoted = cluster.state.routing["i-uuid"].shards[number].primary()
        assert promoted is not None and promoted.state == STARTED
        assert promoted.node_id != primary.node_id
        assert service.reroutes >= 2
        loop.cancel()


async def test_not_master_never_reroutes(tmp_path: Path) -> None:
    cluster = _service(tmp_path)
    members = THREE.nodes
    view = NodesView(DiscoveryNodes(members, members[1].id, members[0].id))
    service = AllocationService(cluster, view)
    async with asyncio.TaskGroup() as tg:
        loop = tg.create_task(service.run())
        await cluster.submit(
            "create", lambda s: ClusterMetadata(s.cluster_uuid, indices={"i": index("i")})
        )
        await asyncio.sleep(0.2)
        assert cluster.state.routing == {} and service.reroutes == 0
        # post_change still allocates what a change created (any node proposes).
        allocated = service.initial_allocation(cluster.state)
        assert allocated.routing["i-uuid"].shards[0].primary().state == INITIALIZING  # type: ignore[union-attr]
        loop.cancel()


async def test_routed_copies_and_stale_fail(tmp_path: Path) -> None:
    cluster = _service(tmp_path)
    view = NodesView(DiscoveryNodes(THREE.nodes, "id2", "id1"))
    service = AllocationService(cluster, view)
    await cluster.submit(
        "create",
        lambda s: service.initial_allocation(
            ClusterMetadata(s.cluster_uuid, indices={"i": index("i", replicas=2)})
        ),
    )
    await _start_all(cluster)
    await cluster.submit("reroute", service.initial_allocation)
    await _start_all(cluster)
    copies = RoutedCopies(cluster, view)
    sid = ShardId("i-uuid", 0, "i")
    primary = copies.primary(sid)
    assert primary is not None and primary.primary and primary.started
    assert len(copies.replicas(sid)) == 2
    readable = copies.readable(sid)
    assert len(readable) == 3 and readable[0].node_id == "id2"  # this node's copy first
    assert copies.primary_term(sid) == 1 and copies.distributed
    victim = copies.replicas(sid)[0]
    with pytest.raises(NoLongerPrimaryShardError):
        await copies.fail_copy(sid, victim.allocation_id, 0 + 5, "stale")
    await copies.fail_copy(sid, victim.allocation_id, 1, "failed to index")
    assert victim.allocation_id not in cluster.state.routing["i-uuid"].shards[0].in_sync
    assert len(copies.replicas(sid)) == 1
    assert copies.primary(ShardId("nope", 0)) is None and copies.readable(ShardId("nope", 0)) == []


def test_parse_active_shards() -> None:
    assert parse_active_shards(None) == 1
    assert parse_active_shards("all") == "all"
    assert parse_active_shards("2") == 2
    with pytest.raises(IllegalArgumentError, match=r"cannot parse ActiveShardCount\[x\]"):
        parse_active_shards("x")
    with pytest.raises(IllegalArgumentError, match="shard count cannot be a negative value"):
        parse_active_shards("-3")


async def test_delayed_replica_allocated_when_its_delay_expires(tmp_path: Path) -> None:
    cluster = _service(tmp_path)
    view = NodesView(THREE)
    service = AllocationService(cluster, view)
    delayed = index(
        "i", replicas=1, settings={"index.unassigned.node_left.delayed_timeout": "300ms"}
    )
    async with asyncio.TaskGroup() as tg:
        loop = tg.create_task(service.run())
        await cluster.submit(
            "create",
            lambda s: service.initial_allocation(
                ClusterMetadata(s.cluster_uuid, indices={"i": delayed})
            ),
        )
        await _start_all(cluster)
        await _until(
            lambda: all(c.assigned for c in cluster.state.routing["i-uuid"].shards[0].copies)
        )
        await _start_all(cluster)
        replica = cluster.state.routing["i-uuid"].shards[0].replicas()[0]
        if replica.node_id == "id1":  # keep the local node: drop the primary's node instead
            replica = cluster.state.routing["i-uuid"].shards[0].primary()  # type: ignore[assignment]
        assert replica is not None
        view.update(
            DiscoveryNodes(tuple(n for n in THREE if n.id != replica.node_id), "id1", "id1")
        )
        await _until(
            lambda: any(
                c.unassigned is not None and c.unassigned.reason == "NODE_LEFT" and not c.assigned
                for c in cluster.state.routing["i-uuid"].shards[0].copies
            )
        )
        waiting = asyncio.get_running_loop().time()
        # Nothing else changes: only the loop's timer can allocate it, once the delay is over.
        await _until(
            lambda: all(c.assigned for c in cluster.state.routing["i-uuid"].shards[0].copies)
        )
        assert asyncio.get_running_loop().time() - waiting >= 0.2
        loop.cancel()
