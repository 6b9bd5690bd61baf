"""The leader's shard_changes on real shards in-process (no sockets): the global checkpoint
bound, the byte cap of one answer, and a long poll that a write wakes and a close ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import orjson
import ormsgpack
import pytest

from isthmus.ccr import leader as leader_module
from isthmus.ccr.leader import LeaderShards
from isthmus.ccr.wire import ShardChangesRequest, ShardChangesResponse
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.errors import IllegalArgumentError, IndexNotFoundError
from isthmus.index.engine import DeleteOp, IndexOp
from isthmus.index.mapping import Mapping
from isthmus.index.service import IndicesService, Shard
from isthmus.transport.actions import TransportRequestContext
from isthmus.transport.channel_info import ChannelInfo
from isthmus.wire.names import SHARD_CHANGES_ACTION

MAPPING = Mapping({"properties": {"n": {"type": "long"}}})
META = IndexMetadata("lead", "L-uuid", {"index.number_of_shards": "1"}, MAPPING)


class Cluster:
    def __init__(self) -> None:
        self.state = ClusterMetadata("c", {"lead": META})


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[LeaderShards, Shard, Cluster]]:
    indices = IndicesService(tmp_path)
    cluster = Cluster()
    await indices.apply(ClusterMetadata("c"), cluster.state)
    (shard,) = indices.shards.values()
    yield LeaderShards(lambda: cluster.state, indices), shard, cluster
    await indices.close()


def over_the_wire(payload: Any) -> Any:
    return ormsgpack.unpackb(ormsgpack.packb(payload))


async def write(shard: Shard, *ids: str) -> None:
    ops = [IndexOp(i, orjson.dumps({"n": 1}), {"n": [1]}) for i in ids]
    await shard.write(ops, MAPPING)


def request(shard: Shard, start: int, **kw: int) -> ShardChangesRequest:
    kw.setdefault("poll_timeout_ms", 0)
    return ShardChangesRequest(
        "lead", 0, start, kw.pop("count", 100), shard.engine.history_uuid, **kw
    )


async def test_answers_stop_at_the_byte_cap(
    served: tuple[LeaderShards, Shard, Cluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    leader, shard, _ = served
    await write(shard, "a", "b", "c")
    assert len((await leader.shard_changes(request(shard, 0))).operations) == 3
    monkeypatch.setattr(leader_module, "MAX_BATCH_BYTES", 1)
    capped = await leader.shard_changes(request(shard, 0))
    assert [op.seq_no for op in capped.operations] == [0]
    assert capped.global_checkpoint == 2


async def test_the_transport_answer_encodes_the_rows_as_the_response_would(
    served: tuple[LeaderShards, Shard, Cluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transport handler encodes history rows straight onto the wire: the same payload as
    the in-process answer's (index with its source, update, delete without one), built without
    a ReplicatedOp per operation."""
    leader, shard, _ = served
    await write(shard, "a", "b")
    shard.engine.changes(0, 1, 1 << 20)  # a follower reads: the next writes stay in memory
    await write(shard, "a")
    await shard.write([DeleteOp("b")], MAPPING)
    ctx: TransportRequestContext[Any] = TransportRequestContext(
        SHARD_CHANGES_ACTION, {}, cast(ChannelInfo, None)
    )
    in_process = {n: (await leader.shard_changes(request(shard, n))).to_payload() for n in (0, 2)}

    def no_objects(row: object) -> None:
        raise AssertionError("the transport answer built a ReplicatedOp")

    monkeypatch.setattr(leader_module, "_replicated", no_objects)
    for n in (0, 2):  # from the store, and from the recent writes in memory
        answer = await leader._on_shard_changes(request(shard, n).to_payload(), ctx)
        wire, expected = over_the_wire(answer), over_the_wire(in_process[n])
        del wire["took_in_millis"], expected["took_in_millis"]
        assert wire == expected
    ops = ShardChangesResponse.from_payload({**wire, "took_in_millis": 0}).operations
    assert [(o.op, o.id, o.seq_no, o.version, o.source) for o in ops] == [
        ("index", "a", 2, 2, orjson.dumps({"n": 1})),
        ("delete", "b", 3, 2, None),
    ]


async def test_a_write_wakes_the_poll(served: tuple[LeaderShards, Shard, Cluster]) -> None:
    leader, shard, _ = served
    await write(shard, "a")
    poll = asyncio.create_task(leader.shard_changes(request(shard, 1, poll_timeout_ms=30_000)))
    await asyncio.sleep(0.05)
    assert not poll.done()
    started = time.monotonic()
    await write(shard, "b", "c")
    answer = await asyncio.wait_for(poll, 5)
    assert time.monotonic() - started < 1
    assert [op.id for op in answer.operations] == ["b", "c"]
    assert answer.max_seq_no_of_updates_or_deletes == -1


async def test_an_empty_answer_when_the_poll_times_out(
    served: tuple[LeaderShards, Shard, Cluster],
) -> None:
    leader, shard, _ = served
    started = time.monotonic()
    answer = await leader.shard_changes(request(shard, 0, poll_timeout_ms=100))
    assert answer.operations == () and answer.global_checkpoint == -1
    assert 0.09 <= time.monotonic() - started < 1
    assert answer.took_in_millis >= 90


async def test_a_closed_shard_ends_the_poll(served: tuple[LeaderShards, Shard, Cluster]) -> None:
    leader, shard, cluster = served
    poll = asyncio.create_task(leader.shard_changes(request(shard, 0, poll_timeout_ms=30_000)))
    await asyncio.sleep(0.05)
    old = cluster.state
    cluster.state = ClusterMetadata("c")
    await leader._indices.apply(old, cluster.state)
    with pytest.raises(IndexNotFoundError):
        await asyncio.wait_for(poll, 5)


async def test_a_shard_holds_at_most_max_leases(
    served: tuple[LeaderShards, Shard, Cluster],
) -> None:
    """ccr.retention_leases.max_per_shard: an add past the bound is refused with ES's words
    for its other per-node counts; renewing a held lease is no add, and an expired or removed
    lease frees its place."""
    _, shard, _ = served
    engine, day = shard.engine, 86_400_000
    engine.add_retention_lease("a", 0, "ccr", day, 2)
    engine.add_retention_lease("b", 0, "ccr", day, 2)
    with pytest.raises(IllegalArgumentError) as refused:
        engine.add_retention_lease("c", 0, "ccr", day, 2)
    assert refused.value.reason == (
        "Trying to create too many retention leases. Must be less than or equal to: [2]. "
        "This limit can be set by changing the [ccr.retention_leases.max_per_shard] setting."
    )
    engine.renew_retention_lease("a", 1, "ccr", day)
    engine.remove_retention_lease("b", day)
    engine.add_retention_lease("c", 0, "ccr", day, 2)
    # Read with a period already over, both held leases have expired: two fit again.
    engine.add_retention_lease("d", 0, "ccr", -1, 2)
    engine.add_retention_lease("e", 0, "ccr", day, 2)
    assert [lease.id for lease in engine.retention_leases(day)] == ["d", "e"]
