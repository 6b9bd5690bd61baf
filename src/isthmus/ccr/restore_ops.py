"""A new follower shard's copy of its leader in a cluster of several nodes: made on the node of
the follower shard's primary, and replayed as operations so that its replicas get it too.

In a cluster of one the leader's store is installed as the follower shard's store before the
index opens (:mod:`isthmus.ccr.bootstrap`). In a cluster of several nodes the follower index is
created first; the allocation puts each shard's primary on some node, which opens it empty (as
ES's restore does: the copy is the primary's recovery). The shards to copy are recorded on the
follower index (``ccr_restore`` custom metadata, :func:`pending_restore`); the node of each such
shard's primary then, before its follow task starts:

1. takes the follow's retention lease on the leader shard (retaining everything) and renews it
   while the copy runs;
2. copies the leader shard's store through a restore session (the leader node holding the
   shard's primary serves it);
3. replays the store's history up to its local checkpoint on the follower's primary with the
   leader's ``_seq_no``, ``_primary_term`` and ``_version``, through the shard's write path, so
   its replicas apply the same operations. The operations the leader had trimmed (superseded or
   deleted documents; every live document's operation is kept) are replayed as no-ops, so the
   local checkpoint moves past them, as a peer recovery does;
4. removes the shard from the record; the follow task then starts from the copy's checkpoint.

A copy that fails on a retryable error (the leader unreachable for a moment, a shard moving) is
tried again after the follow task's back-off; any other failure is the shard's
``fatal_exception`` in ``_ccr/stats``. A copy interrupted because the primary moved is made
again on the new primary's node (replaying is idempotent).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path

from isthmus.ccr.bootstrap import RETAIN_ALL_SEQ_NO, acquire_lease, fetch_store, renew_during_copy
from isthmus.ccr.leader_client import LeaderClient
from isthmus.ccr.wire import ReplicatedOp, RestoreShard, RetentionLeaseRequest
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata

RESTORE_CUSTOM_KEY = "ccr_restore"
_SHARDS = "shards"
_DOWNLOADS = "_ccr_restore"
# Operations replayed per write (one write request of the follow task's default size).
REPLAY_BATCH = 5120


def pending_restore(meta: IndexMetadata) -> frozenset[int]:
    """The shards of a follower still to be copied from the leader."""
    raw = meta.custom.get(RESTORE_CUSTOM_KEY, {}).get(_SHARDS, "")
    return frozenset(int(n) for n in raw.split(",") if n.strip().isdigit())


def with_pending_restore(meta: IndexMetadata, shards: frozenset[int]) -> IndexMetadata:
    custom = {k: v for k, v in meta.custom.items() if k != RESTORE_CUSTOM_KEY}
    if shards:
        custom[RESTORE_CUSTOM_KEY] = {_SHARDS: ",".join(str(n) for n in sorted(shards))}
    return replace(meta, custom=custom, version=meta.version + 1)


def restored(uuid: str, number: int) -> Callable[[ClusterMetadata], ClusterMetadata]:
    """The metadata change that records shard ``number`` of the follower ``uuid`` as copied."""

    def change(state: ClusterMetadata) -> ClusterMetadata:
        meta = state.by_uuid(uuid)
        if meta is None or number not in pending_restore(meta):
            return state
        updated = with_pending_restore(meta, pending_restore(meta) - {number})
        return replace(state, indices={**state.indices, meta.name: updated})

    return change


def snapshot_operations(store: Path) -> list[ReplicatedOp]:
    """The history of a copied store up to its local checkpoint, in ``_seq_no`` order, the
    trimmed ``_seq_no`` as no-ops (blocking: a worker thread)."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        top = db.execute("SELECT MAX(seq_no) FROM ops").fetchone()[0]
        max_seq_no = max(int(meta.get("max_seq_no", "-1")), -1 if top is None else int(top))
        checkpoint = int(meta.get("local_checkpoint", str(max_seq_no)))
        term = int(meta.get("primary_term", "1"))
        rows = db.execute(
            "SELECT seq_no, primary_term, version, op, id, source, routing FROM ops "
            "WHERE seq_no <= ? ORDER BY seq_no",
            (checkpoint,),
        ).fetchall()
    finally:
        db.close()
    out: list[ReplicatedOp] = []
    expected = 0
    for seq_no, op_term, version, kind, doc_id, source, routing in rows:
        out.extend(ReplicatedOp("noop", "", gap, term, 1) for gap in range(expected, seq_no))
        if kind == "index":
            out.append(ReplicatedOp("index", doc_id, seq_no, op_term, version, source, routing))
        else:
            out.append(
                ReplicatedOp(kind, doc_id if kind == "delete" else "", seq_no, op_term, version)
            )
        expected = seq_no + 1
    out.extend(ReplicatedOp("noop", "", gap, term, 1) for gap in range(expected, checkpoint + 1))
    return out


async def copy_by_operations(
    client: LeaderClient,
    shard: RestoreShard,
    lease_id: str,
    work_dir: Path,
    apply: Callable[[Sequence[ReplicatedOp]], Awaitable[int]],
    renew_interval_s: float,
) -> int:
    """Copy the leader shard ``shard`` onto the follower's primary through ``apply`` (the
    follow task's writer: the primary and its replicas); the checkpoint it reached."""
    lease = RetentionLeaseRequest(
        shard.index, shard.shard, lease_id, RETAIN_ALL_SEQ_NO, leader_index_uuid=shard.index_uuid
    )
    await acquire_lease(client, lease)
    renewals = asyncio.create_task(renew_during_copy(client, lease, renew_interval_s))
    downloads = work_dir / _DOWNLOADS
    try:
        store = await fetch_store(client, shard, downloads)
        ops = await asyncio.to_thread(snapshot_operations, store)
        checkpoint = -1
        for start in range(0, len(ops), REPLAY_BATCH):
            checkpoint = await apply(ops[start : start + REPLAY_BATCH])
        return checkpoint
    finally:
        renewals.cancel()
        await asyncio.gather(renewals, return_exceptions=True)
        await asyncio.to_thread(shutil.rmtree, downloads, True)
