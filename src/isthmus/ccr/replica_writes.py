"""A follower primary's writes reach its replicas: the leader's operations, already numbered,
through the shard's primary-backup path.

A follow task applies the leader's operations on the follower shard's primary with their
``_seq_no``, ``_primary_term`` and ``_version``, exactly as a replica applies its primary's
(:meth:`~isthmus.index.service.Shard.apply_replicated`). In a cluster of several nodes the
follower shard has replicas of its own: the same operations are then sent to each copy the
routing table assigns (``indices:data/write/bulk[s][r]``, what the document writes send) and
the task counts them as written once every copy applied them; a copy that fails them is failed
through the master first (:class:`~isthmus.actions.shard_replication.ShardWrites`). The write
permit is held from the local write until the copies are chosen, so a peer recovery starting
meanwhile misses none of them (ES's operation permits).

When a copy could not be failed (this primary is stale: a replica was promoted since; the
master is being elected again), the operations are not known to be on every copy: the write
fails with ES's retryable ``unavailable_shards_exception``, so the follow task tries again (on
this node once the cluster settles, or on the new primary's node) instead of stopping.
"""

from __future__ import annotations

from collections.abc import Sequence

from isthmus.actions.shard_replication import ShardWrites
from isthmus.ccr.follower_tasks import ReplicaWrite
from isthmus.ccr.retry import should_retry
from isthmus.ccr.wire import ReplicatedOp
from isthmus.cluster.metadata import IndexMetadata
from isthmus.errors import IsthmusError, UnavailableShardsError
from isthmus.index.operations import HistoryOp
from isthmus.index.service import Shard


def replica_writer(writes: ShardWrites) -> ReplicaWrite:
    """Apply on the follower's primary, then on its replicas, through ``writes``."""

    async def replicate(shard: Shard, ops: Sequence[ReplicatedOp], meta: IndexMetadata) -> int:
        async with shard.permits.write():
            stats = await shard.apply_replicated(ops, meta.mapping)
            term = shard.engine.primary_term
            targets = writes.copies.replicas(shard.shard_id)
        if targets:
            stored = [
                HistoryOp(o.seq_no, o.primary_term, o.version, o.op, o.id, o.source, 0, o.routing)
                for o in ops
            ]
            try:
                await writes.replicate(shard, targets, stored, term, meta)
            except IsthmusError as exc:
                if should_retry(exc):
                    raise
                raise UnavailableShardsError(
                    f"{shard.shard_id} the follower's operations are not known to be on every "
                    f"copy: {exc.reason}",
                    caused_by=exc,
                ) from exc
        return stats.local_checkpoint

    return replicate
