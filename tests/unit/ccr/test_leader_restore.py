"""Restore sessions on real shards in-process: a follower copies a leader shard's store in
chunks and opens it as its own shard; ES's refusals; idle and orphaned sessions close."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from isthmus.ccr.leader import LeaderShards
from isthmus.ccr.leader_restore import RestoreSessions
from isthmus.ccr.wire import FileChunkRequest, RestoreSessionRequest, RestoreShard
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.errors import IllegalArgumentError
from isthmus.index.engine import IndexOp, ShardEngine
from isthmus.index.mapping import Mapping
from isthmus.index.service import IndicesService, Shard
from isthmus.index.store_snapshot import install_snapshot

MAPPING = Mapping({"properties": {"n": {"type": "long"}}})
META = IndexMetadata("lead", "L-uuid", {"index.number_of_shards": "1"}, MAPPING)
SHARD = RestoreShard("lead", "L-uuid", 0)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


class Served:
    def __init__(self, indices: IndicesService, shard: Shard, clock: Clock) -> None:
        self.indices = indices
        self.shard = shard
        self.clock = clock
        self.state = ClusterMetadata("c", {"lead": META})
        self.sessions = RestoreSessions(
            LeaderShards(lambda: self.state, indices), lambda: "node-1", clock=clock
        )


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    indices = IndicesService(tmp_path / "leader")
    await indices.apply(ClusterMetadata("c"), ClusterMetadata("c", {"lead": META}))
    (shard,) = indices.shards.values()
    ops = [IndexOp(str(i), orjson.dumps({"n": i}), {"n": [i]}) for i in range(50)]
    await shard.write(ops, MAPPING)
    yield Served(indices, shard, Clock())
    await indices.close()


async def fetch(served: Served, session: str, name: str, length: int, size: int) -> bytes:
    """The file, chunk by chunk, as ES's follower reads it (it knows the length)."""
    data = b""
    while len(data) < length:
        want = min(size, length - len(data))
        answer = await served.sessions.chunk(FileChunkRequest(session, name, want, SHARD))
        assert answer.offset == len(data) and len(answer.chunk) == want
        data += answer.chunk
    return data


async def test_a_follower_copies_the_store_in_chunks(served: Served, tmp_path: Path) -> None:
    opened = await served.sessions.open(RestoreSessionRequest("s1", SHARD))
    assert opened.node_id == "node-1" and opened.mapping_version == 1
    (file,) = opened.files
    await served.shard.write([IndexOp("late", b'{"n":1}', {"n": [1]})], MAPPING)  # not in it
    data = await fetch(served, "s1", file.name, file.length, 4096)
    assert len(data) == file.length and f"{zlib.crc32(data):08x}" == file.checksum
    # the same uuid again is the same session; clearing it removes the copy
    again = await served.sessions.open(RestoreSessionRequest("s1", SHARD))
    assert again.files == opened.files
    await served.sessions.clear(RestoreSessionRequest("s1", SHARD))
    assert len(served.sessions) == 0
    assert not (served.shard.engine.path / "_restore" / "s1").exists()
    (tmp_path / "got.sqlite").write_bytes(data)
    install_snapshot(tmp_path / "got.sqlite", tmp_path / "follower")
    follower = ShardEngine(tmp_path / "follower", MAPPING)
    try:
        assert (follower.max_seq_no, follower.local_checkpoint) == (49, 49)
        assert follower.get("7") is not None and follower.get("late") is None
    finally:
        follower.close()


async def test_refusals_are_elasticsearch_errors(served: Served) -> None:
    await served.sessions.open(RestoreSessionRequest("s1", SHARD))
    other = RestoreShard("other", "O-uuid", 0)
    with pytest.raises(IllegalArgumentError, match="does not match requested shardId"):
        await served.sessions.chunk(FileChunkRequest("s1", "store.sqlite", 10, other))
    with pytest.raises(IllegalArgumentError, match=r"invalid file name \[segments_1\]"):
        await served.sessions.chunk(FileChunkRequest("s1", "segments_1", 10, SHARD))
    with pytest.raises(IllegalArgumentError, match=r"session \[nope\] not found"):
        await served.sessions.chunk(FileChunkRequest("nope", "store.sqlite", 10, SHARD))
    with pytest.raises(IllegalArgumentError, match="does not match requested shardId"):
        await served.sessions.clear(RestoreSessionRequest("s1", other))


async def test_idle_and_orphaned_sessions_close(served: Served) -> None:
    await served.sessions.open(RestoreSessionRequest("idle", SHARD))
    served.clock.now += 61
    await served.sessions.open(RestoreSessionRequest("fresh", SHARD))
    with pytest.raises(IllegalArgumentError, match=r"session \[idle\] not found"):
        await served.sessions.chunk(FileChunkRequest("idle", "store.sqlite", 10, SHARD))
    # the index goes: its sessions go with its shard
    await served.indices.apply(served.state, ClusterMetadata("c"))
    await served.sessions._expire()
    assert len(served.sessions) == 0
