"""Peer recovery: a new replica copies its shard from the primary's node, then reports itself
started (ES's PeerRecoveryTargetService / PeerRecoverySourceService, operations only).

The target (the replica's node) opened an empty store when it applied the state that assigned
it the copy, so from then on the primary's live writes reach it. It asks the primary's node
(``internal:index/shard/recovery/start_recovery``). The source waits until its own applied state
holds that copy (from then on every write it stores is sent to the copy too), takes a
peer-recovery retention lease (``peer_recovery/<allocation id>``, ES's name: the history the
recovery reads is not trimmed meanwhile), blocks its write permits for an instant and answers
its highest ``_seq_no``: every operation up to it is in its history, every later one is sent
live. The target pages the history from 0 to that point
(``internal:isthmus/index/shard/recovery/history``) and applies it with ``apply_replicated``
(live writes applied meanwhile are skipped or kept: it is idempotent and order-safe).

Where the history no longer holds an operation below the primary's retention boundary (trimmed:
an operation superseded, or a delete, older than ``index.soft_deletes.retention_lease.period``;
the operation of every live document is always kept), the target applies a no-op in its place,
so its checkpoint moves past it: what ES gets by copying the store's files. A gap at or above
the boundary fails the recovery, whose copy is then failed and allocated again.

The last history request carries the target's local checkpoint (the primary tracks it for the
global checkpoint) and ends the lease. Then the copy is reported started; the master adds it
to the in-sync set. A copy removed meanwhile is closed by the indices service, which cancels
its recovery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from isthmus.actions.peer_channels import PeerChannels
from isthmus.actions.shard_ops_wire import decode_history, encode_history, noops
from isthmus.actions.shard_replication import (
    ShardPeers,
    ShardWrites,
    StateWaiter,
    check_peer,
    shard_of,
)
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.nodes import NodesView
from isthmus.cluster.service import ClusterService
from isthmus.cluster.shard_copies import ShardCopies
from isthmus.errors import (
    IllegalArgumentError,
    IllegalStateError,
    IsthmusError,
    MissingHistoryOperationsError,
    RetentionLeaseAlreadyExistsError,
    RetentionLeaseNotFoundError,
)
from isthmus.index.service import RECOVER, RESYNC, Shard
from isthmus.transport.actions import ActionRegistry
from isthmus.wire.names import RECOVERY_HISTORY_ACTION, START_RECOVERY_ACTION

if TYPE_CHECKING:
    from isthmus.actions.documents import DocumentActions

log = logging.getLogger("org.elasticsearch.indices.recovery.PeerRecoveryTargetService")

# Operations per history page (ES's recovery batches are bounded by bytes, 512 KB by default).
PAGE_OPS = 1000
# How long a source waits for its applied state to hold the recovering copy.
SOURCE_WAIT_S = 30.0
RECOVERY_REQUEST_TIMEOUT_S = 60.0

StartedChange = Callable[[ClusterMetadata, str, int, str], ClusterMetadata]
FailedChange = Callable[[ClusterMetadata, str, int, str, int, str, int], ClusterMetadata]


def lease_id(allocation_id: str) -> str:
    return f"peer_recovery/{allocation_id}"


def fill_gaps(
    ops: list[Any], from_seq_no: int, through: int, min_retained: int, term: int
) -> list[Any]:
    """``ops`` (a history page of ``from_seq_no..through``) with a no-op for each ``_seq_no``
    the primary trimmed; a gap at or above ``min_retained`` is an operation the history should
    hold: :class:`MissingHistoryOperationsError`."""
    present = {op.seq_no for op in ops}
    missing = [n for n in range(from_seq_no, through + 1) if n not in present]
    lost = [n for n in missing if n >= min_retained]
    if lost:
        raise MissingHistoryOperationsError(
            f"peer recovery cannot replay operations [{lost[0]}..{lost[-1]}]: the primary's "
            f"history lacks them (its history is complete from [{min_retained}])"
        )
    return ops + noops(missing, term)


class PeerRecovery:
    """Both sides of peer recovery on one node, and the indices service's copy starter."""

    def __init__(
        self,
        cluster: ClusterService,
        writes: ShardWrites,
        peers: ShardPeers,
        waiter: StateWaiter,
        shard_started: StartedChange,
        shard_failed: FailedChange,
    ) -> None:
        self.cluster = cluster
        self.writes = writes
        self.indices = writes.indices
        self.peers = peers
        self.waiter = waiter
        self._shard_started = shard_started
        self._shard_failed = shard_failed

    # --- the target ----------------------------------------------------------------------------

    async def start_copy(self, shard: Shard, work: str) -> None:
        """The indices service's copy starter: recover a replica first, then report the copy
        started. A recovery that fails reports the copy failed (the master allocates it
        again); a cancelled one (the copy went away) reports nothing."""
        sid = shard.shard_id
        routing = shard.routing
        assert routing is not None and routing.allocation_id is not None
        aid = routing.allocation_id
        if work == RESYNC:
            await self.writes.resync(shard)
            return
        if work == RECOVER:
            try:
                await self.recover(shard)
            except (IsthmusError, OSError, TimeoutError) as exc:
                reason = exc.reason if isinstance(exc, IsthmusError) else repr(exc)
                log.warning("[%s] recovery of replica [%s] failed: %s", sid, aid, reason)
                now_ms = int(time.time() * 1000)
                await self.cluster.submit(
                    "shard-failed",
                    lambda s: self._shard_failed(
                        s, sid.index_uuid, sid.shard, aid, 0, f"failed recovery: {reason}", now_ms
                    ),
                )
                return
        await self.cluster.submit(
            "shard-started", lambda s: self._shard_started(s, sid.index_uuid, sid.shard, aid)
        )

    async def recover(self, shard: Shard) -> int:
        """Replay the primary's history into ``shard``; returns how many operations it read."""
        sid = shard.shard_id
        assert shard.routing is not None and shard.routing.allocation_id is not None
        aid = shard.routing.allocation_id

        def primary_node() -> str | None:
            table = shard.table
            primary = None if table is None else table.active_primary()
            return None if primary is None else primary.node_id

        while primary_node() is None:  # a replica is allocated once its primary started
            await self.waiter.next_state(self.cluster.state.version, SOURCE_WAIT_S)
        node = primary_node()
        assert node is not None
        request = {
            "index": sid.index_name,
            "index_uuid": sid.index_uuid,
            "shard": sid.shard,
            "allocation_id": aid,
        }
        started = await self.peers.request(
            node, START_RECOVERY_ACTION, request, RECOVERY_REQUEST_TIMEOUT_S
        )
        if not isinstance(started, dict) or not isinstance(started.get("max_seq_no"), int):
            raise IllegalStateError(f"{sid} the recovery source answered no [max_seq_no]")
        snapshot: int = started["max_seq_no"]
        history_uuid = started.get("history_uuid")
        if isinstance(history_uuid, str) and history_uuid:
            # Every copy shares its primary's history (a follower cluster checks it after a
            # promotion too).
            await asyncio.to_thread(shard.engine.set_history_uuid, history_uuid)
        term = int(started.get("primary_term", 1))
        cursor, read = 0, 0
        meta = self.cluster.state.by_uuid(sid.index_uuid)
        while cursor <= snapshot:
            page = await self.peers.request(
                node,
                RECOVERY_HISTORY_ACTION,
                {**request, "from": cursor, "to": snapshot},
                RECOVERY_REQUEST_TIMEOUT_S,
            )
            ops = decode_history(page.get("ops") if isinstance(page, dict) else None)
            through = page.get("through") if isinstance(page, dict) else None
            min_retained = page.get("min_retained") if isinstance(page, dict) else None
            if not isinstance(through, int) or not isinstance(min_retained, int):
                raise IllegalStateError(f"{sid} the recovery source sent a malformed page")
            batch = fill_gaps(ops, cursor, through, min_retained, term)
            meta = self.cluster.state.by_uuid(sid.index_uuid) or meta
            if meta is None:
                raise IllegalStateError(f"{sid} the index was deleted during its recovery")
            if batch:
                await shard.apply_replicated(batch, meta.mapping)
            read += len(ops)
            cursor = through + 1
        await self.peers.request(
            node,
            RECOVERY_HISTORY_ACTION,
            {**request, "finalize": True, "local_checkpoint": shard.engine.local_checkpoint},
            RECOVERY_REQUEST_TIMEOUT_S,
        )
        log.info(
            "[%s] recovered replica [%s] from node [%s]: %s operations up to [%s]",
            sid,
            aid,
            node,
            read,
            snapshot,
        )
        return read

    # --- the source ----------------------------------------------------------------------------

    async def on_start(self, payload: dict[str, Any]) -> dict[str, Any]:
        aid = payload.get("allocation_id")
        if not isinstance(aid, str):
            raise IllegalArgumentError("a recovery needs the copy's [allocation_id]")

        def holds_copy() -> bool:
            try:
                shard = shard_of(self.indices, self.cluster.state, payload)
            except IsthmusError:
                return False
            return (
                self.writes.primary_here(shard.shard_id) is not None
                and shard.table is not None
                and shard.table.by_allocation(aid) is not None
            )

        if not await self.waiter.wait_for(holds_copy, SOURCE_WAIT_S):
            shard = shard_of(self.indices, self.cluster.state, payload)
            raise IllegalStateError(
                f"{shard.shard_id} no started primary here that knows the copy [{aid}]"
            )
        shard = shard_of(self.indices, self.cluster.state, payload)
        period = shard.retention_lease_period_ms
        try:
            await asyncio.to_thread(
                shard.engine.add_retention_lease, lease_id(aid), 0, "peer recovery", period
            )
        except RetentionLeaseAlreadyExistsError:
            pass  # a retried recovery of the same copy
        async with shard.permits.block():
            max_seq_no = shard.engine.max_seq_no
        return {
            "max_seq_no": max_seq_no,
            "primary_term": shard.engine.primary_term,
            "history_uuid": shard.engine.history_uuid,
        }

    async def on_history(self, payload: dict[str, Any]) -> dict[str, Any]:
        shard = shard_of(self.indices, self.cluster.state, payload)
        aid = payload.get("allocation_id")
        if not isinstance(aid, str):
            raise IllegalArgumentError("a recovery needs the copy's [allocation_id]")
        if payload.get("finalize") is True:
            checkpoint = payload.get("local_checkpoint")
            if isinstance(checkpoint, int):
                await shard.copy_checkpoint(aid, checkpoint)
            try:
                await asyncio.to_thread(
                    shard.engine.remove_retention_lease,
                    lease_id(aid),
                    shard.retention_lease_period_ms,
                )
            except RetentionLeaseNotFoundError:
                pass
            return {}
        start, end = payload.get("from"), payload.get("to")
        if not isinstance(start, int) or not isinstance(end, int) or start < 0:
            raise IllegalArgumentError("a history page needs [from] and [to]")
        min_retained = await asyncio.to_thread(shard.engine.min_retained_seq_no)
        ops = await asyncio.to_thread(shard.engine.history, start, end, PAGE_OPS)
        through = end if len(ops) < PAGE_OPS else ops[-1].seq_no
        return {"ops": encode_history(ops), "through": through, "min_retained": min_retained}

    def register(self, registry: ActionRegistry[Any], cluster_name: str) -> None:
        async def start(payload: Any, ctx: Any) -> Any:
            return await self.on_start(check_peer(payload, cluster_name, START_RECOVERY_ACTION))

        async def history(payload: Any, ctx: Any) -> Any:
            return await self.on_history(check_peer(payload, cluster_name, RECOVERY_HISTORY_ACTION))

        registry.register(START_RECOVERY_ACTION, start)
        registry.register(RECOVERY_HISTORY_ACTION, history)

    def __repr__(self) -> str:
        return f"<PeerRecovery {self.peers!r}>"


def replication_for(
    cluster: ClusterService,
    documents: DocumentActions,
    copies: ShardCopies,
    channels: PeerChannels,
    view: NodesView,
    registry: ActionRegistry[Any],
) -> PeerRecovery:
    """A cluster of several nodes: the document actions write through primaries and replicas,
    the indices service opens this node's copies (recovering replicas, reporting them started),
    and this node answers the shard requests of the others. Call once, after the indices
    service's applier was added to ``cluster`` (the state waiter must run after it)."""
    from isthmus.cluster.allocation import shard_failed, shard_started

    indices = documents.indices
    waiter = StateWaiter(cluster)
    peers = ShardPeers(channels, view)
    writes = ShardWrites(cluster, indices, copies, peers, waiter)
    writes.register(registry, peers.cluster_name)
    documents.copies = copies
    documents.use_shard_writes(writes, registry)
    recovery = PeerRecovery(cluster, writes, peers, waiter, shard_started, shard_failed)
    recovery.register(registry, peers.cluster_name)
    indices.copy_starter = recovery.start_copy
    indices.local_node_id = lambda: copies.local_node_id
    indices.start_pending()
    return recovery
