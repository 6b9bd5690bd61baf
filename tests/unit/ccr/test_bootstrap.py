"""A new follower's copy of a leader store through restore sessions: chunks in order, checksums
checked, sessions cleared, nothing left behind when it fails."""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from isthmus.ccr.bootstrap import CHUNK_BYTES, restore_follower
from isthmus.ccr.wire import (
    FileChunkRequest,
    FileChunkResponse,
    LeaderIndexMetadataResponse,
    RestoreSessionRequest,
    RestoreSessionResponse,
    StoreFile,
)
from isthmus.errors import IllegalStateError
from isthmus.index.engine import IndexOp, ShardEngine
from isthmus.index.mapping import Mapping

MAPPING = Mapping({"properties": {"n": {"type": "long"}}})
LEADER = LeaderIndexMetadataResponse(
    "logs", "luuid", "open", 1, MAPPING.to_json(), {}, {}, 1, 1, 1, ("h",)
)


class SnapshotLeader:
    """Restore sessions served from a real leader shard's snapshot."""

    def __init__(self, engine: ShardEngine, tmp: Path, corrupt: bool = False) -> None:
        self.engine = engine
        self.tmp = tmp
        self.corrupt = corrupt
        self.cleared: list[str] = []
        self.chunks: list[int] = []

    async def put_restore_session(self, request: RestoreSessionRequest) -> RestoreSessionResponse:
        self.snapshot = self.tmp / f"{request.session_uuid}.sqlite"
        self.engine.snapshot_store(self.snapshot)
        data = self.snapshot.read_bytes()
        checksum = f"{zlib.crc32(data) ^ (1 if self.corrupt else 0):08x}"
        return RestoreSessionResponse("node", (StoreFile("store.sqlite", len(data), checksum),), 1)

    async def file_chunk(self, request: FileChunkRequest) -> FileChunkResponse:
        offset = sum(self.chunks)
        data = self.snapshot.read_bytes()[offset : offset + request.size]
        self.chunks.append(len(data))
        return FileChunkResponse(offset, data)

    async def clear_restore_session(self, request: RestoreSessionRequest) -> None:
        self.cleared.append(request.session_uuid)


def leader_engine(path: Path, docs: int) -> ShardEngine:
    engine = ShardEngine(path, MAPPING)
    ops = []
    for n in range(docs):
        source = orjson.dumps({"n": n, "pad": "x" * 200})
        values = MAPPING.parse_document(orjson.loads(source), str(n)).values
        ops.append(IndexOp(str(n), source, values))
    engine.write(ops, MAPPING)
    return engine


def test_copy_opens_as_the_leader_store_with_its_numbers(tmp_path: Path) -> None:
    engine = leader_engine(tmp_path / "leader", 6000)  # > 1 MB: several chunks
    leader: Any = SnapshotLeader(engine, tmp_path)
    target = tmp_path / "follower" / "0"
    asyncio.run(restore_follower(leader, LEADER, {0: target}))
    assert len(leader.chunks) > 1 and max(leader.chunks) <= CHUNK_BYTES
    assert len(leader.cleared) == 1
    copy = ShardEngine(target, MAPPING)
    try:
        assert copy.local_checkpoint == engine.local_checkpoint == 5999
        assert copy.history_uuid != engine.history_uuid  # the follower's history is its own
        original, copied = engine.get("17"), copy.get("17")
        assert original is not None and copied is not None
        assert (copied.seq_no, copied.version, copied.source) == (
            original.seq_no, original.version, original.source,
        )  # fmt: skip
        assert not (target / "_ccr_restore").exists()
    finally:
        copy.close()
        engine.close()


def test_a_bad_checksum_leaves_nothing_behind(tmp_path: Path) -> None:
    engine = leader_engine(tmp_path / "leader", 10)
    leader: Any = SnapshotLeader(engine, tmp_path, corrupt=True)
    target = tmp_path / "follower" / "0"
    with pytest.raises(IllegalStateError, match="failed its checksum"):
        asyncio.run(restore_follower(leader, LEADER, {0: target}))
    assert not target.exists()
    assert len(leader.cleared) == 1  # the session was cleared anyway
    engine.close()
