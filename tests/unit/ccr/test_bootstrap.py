"""A new follower's copy of a leader store through restore sessions: chunks in order, checksums
checked, sessions cleared, the leader shard held by the follower's retention lease while the copy
runs, nothing left behind (lease included) when it fails."""

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
    RetentionLeaseRequest,
    StoreFile,
)
from isthmus.errors import IllegalStateError
from isthmus.index.engine import IndexOp, ShardEngine
from isthmus.index.mapping import Mapping

MAPPING = Mapping({"properties": {"n": {"type": "long"}}})
LEADER = LeaderIndexMetadataResponse(
    "logs", "luuid", "open", 1, MAPPING.to_json(), {}, {}, 1, 1, 1, ("h",)
)


LEASE = "follower/f/fuuid-following-leader/logs/luuid"
PERIOD_MS = 12 * 3600 * 1000


class SnapshotLeader:
    """Restore sessions and retention leases served by a real leader shard."""

    def __init__(self, engine: ShardEngine, tmp: Path, corrupt: bool = False) -> None:
        self.engine = engine
        self.tmp = tmp
        self.corrupt = corrupt
        self.cleared: list[str] = []
        self.chunks: list[int] = []
        self.calls: list[str] = []
        self.chunk_delay_s = 0.0

    async def add_lease(self, request: RetentionLeaseRequest) -> None:
        self.calls.append("add_lease")
        self.engine.add_retention_lease(
            request.lease_id, request.retaining_seq_no, request.source, PERIOD_MS
        )

    async def renew_lease(self, request: RetentionLeaseRequest) -> None:
        self.calls.append("renew_lease")
        self.engine.renew_retention_lease(
            request.lease_id, request.retaining_seq_no, request.source, PERIOD_MS
        )

    async def remove_lease(self, request: RetentionLeaseRequest) -> None:
        self.calls.append("remove_lease")
        self.engine.remove_retention_lease(request.lease_id, PERIOD_MS)

    def lease_ids(self) -> list[str]:
        return [lease.id for lease in self.engine.retention_leases(PERIOD_MS)]

    async def put_restore_session(self, request: RestoreSessionRequest) -> RestoreSessionResponse:
        self.calls.append("put_restore_session")
        self.snapshot = self.tmp / f"{request.session_uuid}.sqlite"
        self.engine.snapshot_store(self.snapshot)
        data = self.snapshot.read_bytes()
        checksum = f"{zlib.crc32(data) ^ (1 if self.corrupt else 0):08x}"
        return RestoreSessionResponse("node", (StoreFile("store.sqlite", len(data), checksum),), 1)

    async def file_chunk(self, request: FileChunkRequest) -> FileChunkResponse:
        self.calls.append("file_chunk")
        await asyncio.sleep(self.chunk_delay_s)
        offset = sum(self.chunks)
        data = self.snapshot.read_bytes()[offset : offset + request.size]
        self.chunks.append(len(data))
        return FileChunkResponse(offset, data)

    async def clear_restore_session(self, request: RestoreSessionRequest) -> None:
        self.cleared.append(request.session_uuid)


def leader_engine(path: Path, docs: int) -> ShardEngine:
    engine = ShardEngine(path, MAPPING)
    write(engine, range(docs))
    return engine


def write(engine: ShardEngine, ids: range) -> None:
    ops = []
    for n in ids:
        source = orjson.dumps({"n": n, "pad": "x" * 200})
        values = MAPPING.parse_document(orjson.loads(source), str(n)).values
        ops.append(IndexOp(str(n), source, values))
    engine.write(ops, MAPPING)


def test_copy_opens_as_the_leader_store_with_its_numbers(tmp_path: Path) -> None:
    engine = leader_engine(tmp_path / "leader", 6000)  # > 1 MB: several chunks
    leader: Any = SnapshotLeader(engine, tmp_path)
    target = tmp_path / "follower" / "0"
    asyncio.run(restore_follower(leader, LEADER, {0: target}, LEASE))
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
        asyncio.run(restore_follower(leader, LEADER, {0: target}, LEASE))
    assert not target.exists()
    assert len(leader.cleared) == 1  # the session was cleared anyway
    assert leader.calls[0] == "add_lease" and leader.calls[-1] == "remove_lease"
    assert leader.lease_ids() == []  # the lease of a copy that failed is removed
    engine.close()


def test_the_lease_holds_the_leader_history_while_the_copy_runs(tmp_path: Path) -> None:
    """ES's CcrRepository takes the follower's lease before the restore session and renews it
    while the chunks come: a leader that trims during the copy keeps what follows the snapshot,
    and the lease stays for the follow task."""
    engine = leader_engine(tmp_path / "leader", 3000)  # > 1 chunk
    leader: Any = SnapshotLeader(engine, tmp_path)
    leader.chunk_delay_s = 0.12
    seen: list[list[str]] = []
    chunk = leader.file_chunk

    async def trimming_chunk(request: FileChunkRequest) -> FileChunkResponse:
        seen.append(leader.lease_ids())
        if len(seen) == 1:  # the leader moves on and trims everything it may while we copy
            write(engine, range(10))
            write(engine, range(10))  # supersedes the first ten: only a lease keeps them
            engine.refresh()
            # Longer than the retention period below, so only renewals keep the lease alive;
            # the period is 8 renew intervals, so a stalled process does not expire it.
            await asyncio.sleep(0.6)
            engine.trim_history(400, 0)
        return await chunk(request)

    leader.file_chunk = trimming_chunk
    target = tmp_path / "follower" / "0"
    asyncio.run(restore_follower(leader, LEADER, {0: target}, LEASE, renew_interval_s=0.05))
    assert leader.calls.index("add_lease") < leader.calls.index("put_restore_session")
    assert seen and all(ids == [LEASE] for ids in seen)
    assert "renew_lease" in leader.calls  # the copy outlasted the renew interval
    copy = ShardEngine(target, MAPPING)
    try:
        after_snapshot = copy.local_checkpoint + 1
        assert after_snapshot == 3000
        # The follow task reads from the copy's checkpoint + 1: still there on the leader.
        assert engine.min_retained_seq_no() <= after_snapshot
        assert [op.seq_no for op in engine.changes(after_snapshot, 3019, 1 << 30)] == list(
            range(3000, 3020)
        )
        assert leader.lease_ids() == [LEASE]  # left for the follow task
    finally:
        copy.close()
        engine.close()
