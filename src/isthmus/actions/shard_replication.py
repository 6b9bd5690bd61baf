"""Writes and realtime reads of a shard whose copies are on several nodes: ES's primary-backup
data path (TransportReplicationAction, ReplicationOperation).

- A batch goes to the shard's primary: written here when the primary is this node's, else sent
  to the primary's node (``indices:data/write/bulk[s]``, answered by the document actions).
  With no active primary the batch waits for a state with one, up to the request's timeout
  (then ES's ``unavailable_shards_exception``, 503). A primary's node that cannot be reached, or
  that no longer holds the primary, is asked again once a newer state says where it is.
- The primary holds a write permit while it stores the batch and chooses its replicas (every
  assigned copy, started or recovering: see :class:`~isthmus.index.service.WritePermits`), then
  sends the stored operations with their ``_seq_no`` to each replica concurrently
  (``indices:data/write/bulk[s][r]``: primary term, global checkpoint, operations). The batch is
  acknowledged once every replica applied it. A replica that refuses or cannot be reached is
  failed first (``ShardCopies.fail_copy``); when that is refused because this primary is stale,
  the items fail: an unacknowledged write is never reported as done. A copy that has not opened
  yet (its node has not applied the state) is skipped: the recovery it starts covers every
  operation stored before it asked.
- A replica refuses operations of a primary term older than its own with ES's
  ``illegal_state_exception`` ("operation primary term [n] is too old (current [m])"), applies
  the others with :meth:`~isthmus.index.engine.ShardEngine.apply_replicated` (idempotent,
  order-safe) and answers its local checkpoint: the primary's global checkpoint is the lowest
  local checkpoint of its in-sync copies, sent with every batch. A replica that learns a raised
  term while holding operations above the global checkpoint it knew takes nothing under it
  until the new primary's resync confirms them, else it refuses and is replaced by a new copy
  (``ShardWrites._confirm_held``: ES rolls it back instead).
- A realtime get reads the primary (read-your-writes), here or on its node
  (``indices:data/read/get[s]``), else a started replica (it holds every acknowledged write).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from isthmus.actions.peer_channels import PeerChannels
from isthmus.actions.shard_ops_wire import decode_history, encode_history, replica_ops
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.nodes import NodesView
from isthmus.cluster.routing import ShardId
from isthmus.cluster.service import ClusterService
from isthmus.cluster.shard_copies import CopyTarget, ShardCopies
from isthmus.cluster.shard_routing import STARTED
from isthmus.errors import (
    ConnectTransportError,
    IllegalArgumentError,
    IllegalStateError,
    IndexNotFoundError,
    IsthmusError,
    NodeNotConnectedError,
    NoShardAvailableActionError,
    OsConnectError,
    ShardNotFoundError,
    UnavailableShardsError,
)
from isthmus.index.engine import Op, OpResult, StoredDoc
from isthmus.index.service import IndicesService, Shard
from isthmus.settings.values import parse_time
from isthmus.transport.actions import ActionRegistry
from isthmus.wire.names import BULK_REPLICA_ACTION, GET_SHARD_ACTION

log = logging.getLogger("org.elasticsearch.action.support.replication.ReplicationOperation")

# A replica whose node cannot be reached (killed, cut off) is failed without counting an
# allocation failure: it is the node that failed, not the copy (ES removes such a node from the
# cluster; here its membership lease expires within the lease TTL), and five quick failures must
# not use up index.allocation.max_retries and leave the shard yellow once the node is back.
# How long a write retried on the same state waits before asking again (doubling up to the
# maximum), when no newer state comes first.
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 1.0
UNREACHABLE_TYPES = frozenset(
    {
        "connect_transport_exception",
        "node_not_connected_exception",
        "node_disconnected_exception",
        "receive_timeout_transport_exception",
        "send_request_transport_exception",
    }
)

# The mark (an error field) of a replica that refused operations of a new primary term: it holds
# an older primary's operations the new primary did not confirm (see ``on_replica``). The
# primary fails it without counting an allocation failure: the master allocates a new copy,
# which recovers from empty.
MUST_RECOVER = "must_recover_from_empty"

# ES's default ``timeout`` of a write: how long it waits for an active primary.
DEFAULT_WRITE_TIMEOUT = "1m"
# How long a primary waits for one replica's answer before failing that copy.
REPLICA_TIMEOUT_S = 30.0
# How long a replica waits for the mapping its primary parsed a batch against.
MAPPING_WAIT_S = 30.0
# How long a replica whose operations a new primary term must confirm waits for that primary's
# resync when a live write of the term comes first (the resync starts as the primary applies
# its promotion: it is normally a moment behind; without one the replica is replaced).
CONFIRM_WAIT_S = 3.0


@dataclass
class Replicated:
    """How a batch's replication went, for ES's ``_shards`` of a write: the copies that applied
    it (the primary included; a copy not open yet is neither successful nor failed) and ES's
    ShardInfo.Failure of each replica that failed."""

    successful: int = 1
    failures: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"successful": self.successful, "failures": self.failures}

    @classmethod
    def from_json(cls, value: Any) -> Replicated:
        if not isinstance(value, dict) or not isinstance(value.get("successful"), int):
            return cls()
        failures = value.get("failures")
        return cls(value["successful"], failures if isinstance(failures, list) else [])


def _replica_failure(sid: ShardId, target: CopyTarget, reason: str) -> dict[str, Any]:
    """ES's ShardInfo.Failure of a replica (``reason``: ``[<type>] <text>`` for an ES error)."""
    kind, text, status = "exception", reason, HTTPStatus.INTERNAL_SERVER_ERROR
    if reason.startswith("[") and "] " in reason:
        kind, text = reason[1:].split("] ", 1)
        if kind in UNREACHABLE_TYPES:
            status = HTTPStatus.SERVICE_UNAVAILABLE
    return {
        "_index": sid.index_name,
        "_shard": sid.shard,
        "_node": target.node_id,
        "reason": {"type": kind, "reason": text},
        "status": status.name,
        "primary": False,
    }


class ShardPeers:
    """The other nodes of this cluster by node id, over the node's kept connections
    (:class:`~isthmus.actions.peer_channels.PeerChannels`); each request names this cluster
    (the shard handlers answer nodes of their own cluster only)."""

    def __init__(self, channels: PeerChannels, view: NodesView) -> None:
        self.channels = channels
        self.view = view
        self.cluster_name = channels.cluster_name

    async def request(
        self, node_id: str, action: str, payload: dict[str, Any], timeout: float | None
    ) -> Any:
        node = self.view.nodes.get(node_id)
        if node is None:
            raise NodeNotConnectedError(f"[{node_id}] Node not connected")
        body = {**payload, "cluster_name": self.cluster_name}
        return await self.channels.request(node, action, body, timeout=timeout)

    def __repr__(self) -> str:
        return f"<ShardPeers {self.channels!r}>"


class StateWaiter:
    """Wakes whoever waits for the applied cluster state to satisfy a condition (registered
    after the indices service's applier: a woken waiter sees the shards of the new state)."""

    def __init__(self, cluster: ClusterService) -> None:
        self.cluster = cluster
        self._changed = asyncio.Condition()
        cluster.add_applier(self._applied)

    async def _applied(self, old: ClusterMetadata, new: ClusterMetadata) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, ready: Callable[[], bool], timeout_s: float) -> bool:
        if ready():
            return True
        try:
            async with asyncio.timeout(max(0.0, timeout_s)), self._changed:
                await self._changed.wait_for(ready)
        except TimeoutError:
            return ready()
        return True

    async def next_state(self, version: int, timeout_s: float) -> bool:
        """Wait for a state newer than ``version``."""
        return await self.wait_for(lambda: self.cluster.state.version > version, timeout_s)


def request_description(shard_id: ShardId, ops: Sequence[Op]) -> str:
    """ES's BulkShardRequest as its messages print it (one item described, else a count)."""
    head = f"BulkShardRequest [{shard_id}] containing ["
    if len(ops) != 1:
        return f"{head}{len(ops)}] requests"
    (op,) = ops
    if hasattr(op, "source"):
        return f"{head}index {{[{shard_id.index_name}][{op.id}], source[{op.source.decode()}]}}]"
    return f"{head}delete {{[{shard_id.index_name}][{op.id}]}}]"


def check_peer(payload: Any, cluster_name: str, action: str) -> dict[str, Any]:
    """A shard request from a node of this cluster (others are refused)."""
    if not isinstance(payload, dict) or payload.get("cluster_name") != cluster_name:
        raise IllegalArgumentError(
            f"[{action}] is only answered to nodes of cluster [{cluster_name}]"
        )
    return payload


def shard_of(indices: IndicesService, state: ClusterMetadata, payload: dict[str, Any]) -> Shard:
    """The copy a shard request names, open on this node, or ES's shard_not_found_exception
    (the sender retries once a newer state says where the copy is)."""
    uuid, number = payload.get("index_uuid"), payload.get("shard")
    if not isinstance(uuid, str) or not isinstance(number, int) or isinstance(number, bool):
        raise IllegalArgumentError("a shard request needs [index_uuid] and [shard]")
    meta = state.by_uuid(uuid)
    if meta is None:
        raise IndexNotFoundError(str(payload.get("index", uuid)))
    shard = indices.shard(ShardId(uuid, number, meta.name))
    if shard is None or shard.routing is None:
        raise ShardNotFoundError(meta.name, uuid, number)
    return shard


class ShardWrites:
    """The primary's side and the replica's side of a write, and the primary's realtime get."""

    def __init__(
        self,
        cluster: ClusterService,
        indices: IndicesService,
        copies: ShardCopies,
        peers: ShardPeers,
        waiter: StateWaiter,
    ) -> None:
        self.cluster = cluster
        self.indices = indices
        self.copies = copies
        self.peers = peers
        self.waiter = waiter
        # Notified when a replica's unconfirmed operations were confirmed or found divergent.
        self._confirmations = asyncio.Condition()

    # --- where the primary is -----------------------------------------------------------------

    def _primary_now(self, shard_id: ShardId) -> CopyTarget | None:
        target = self.copies.primary(shard_id)
        if target is None or not target.started:
            return None
        if target.node_id == self.copies.local_node_id and self.primary_here(shard_id) is None:
            return None  # this node has not applied the state that makes it primary yet
        return target

    def primary_here(self, shard_id: ShardId) -> Shard | None:
        """This node's started primary copy of ``shard_id`` (None: not here, not yet)."""
        shard = self.indices.shard(shard_id)
        routing = None if shard is None else shard.routing
        if routing is None or not routing.primary or routing.state != STARTED:
            return None
        return shard

    async def primary_target(
        self, shard_id: ShardId, timeout: str | None, describe: Callable[[], str]
    ) -> CopyTarget:
        """The active primary of ``shard_id``, waiting for one up to ``timeout``."""
        target = self._primary_now(shard_id)
        if target is not None:
            return target
        limit = timeout or DEFAULT_WRITE_TIMEOUT
        found: list[CopyTarget] = []

        def ready() -> bool:
            now = self._primary_now(shard_id)
            if now is not None:
                found.append(now)
            return now is not None

        if await self.waiter.wait_for(ready, parse_time(limit).millis / 1000):
            return found[-1]
        raise UnavailableShardsError(
            f"{shard_id} primary shard is not active Timeout: [{limit}], request: [{describe()}]",
            extra={"shard": str(shard_id.shard), "index": shard_id.index_name},
        )

    async def routed(
        self,
        shard_id: ShardId,
        timeout: str | None,
        describe: Callable[[], str],
        here: Callable[[Shard], Awaitable[Any]],
        there: Callable[[str], Awaitable[Any]],
    ) -> Any:
        """Run ``here`` on this node's primary or ``there`` with the primary's node id; when the
        primary's node cannot be reached or no longer holds it, ask again once a newer state
        says where it is (within ``timeout``)."""
        deadline = time.monotonic() + parse_time(timeout or DEFAULT_WRITE_TIMEOUT).millis / 1000
        backoff = RETRY_FIRST_S
        while True:
            version = self.cluster.state.version
            retry: Exception
            target = await self.primary_target(shard_id, timeout, describe)
            try:
                if target.node_id == self.copies.local_node_id:
                    shard = self.primary_here(shard_id)
                    if shard is None:
                        sid = shard_id
                        raise ShardNotFoundError(sid.index_name, sid.index_uuid, sid.shard)
                    return await here(shard)
                return await there(target.node_id)
            except (ShardNotFoundError, ConnectTransportError, OsConnectError, OSError) as exc:
                # Not (or no longer) the primary's node, or not reachable: the master moves
                # the primary or fails the node, and a newer state says where it is.
                retry = exc
            left = deadline - time.monotonic()
            log.debug("retrying %s on a newer state: %s", shard_id, retry)
            if left > 0:
                # A newer state, or a short wait: the primary's node may simply not have
                # applied the state this node already has (a replica promoted a moment ago
                # answers "no such shard" until it has), and no newer state would come.
                await self.waiter.next_state(version, min(left, backoff))
                backoff = min(backoff * 2, RETRY_MAX_S)
                if deadline - time.monotonic() > 0:
                    continue
            if isinstance(retry, IsthmusError):
                raise retry
            raise UnavailableShardsError(
                f"{shard_id} primary shard is not active Timeout: "
                f"[{timeout or DEFAULT_WRITE_TIMEOUT}], request: [{describe()}]"
            ) from None

    # --- the primary ---------------------------------------------------------------------------

    async def write_on_primary(
        self,
        shard: Shard,
        ops: Sequence[Op],
        meta: IndexMetadata,
        refresh: str | None,
        replicated: Replicated | None = None,
    ) -> list[OpResult]:
        """Store ``ops`` on this primary, replicate them, answer once every copy applied them
        (``replicated`` is told how many did, and which failed)."""
        async with shard.permits.write():
            results = await shard.write(ops, meta.mapping)
            term = shard.engine.primary_term
            targets = self.copies.replicas(shard.shard_id)
        stored = replica_ops(ops, results)
        if not stored or not targets:
            return results
        try:
            done = await self._replicate(shard, targets, stored, term, meta, refresh)
        except IsthmusError as exc:
            # Stored here but not known to be on every copy: never acknowledged.
            return [r if r.error is not None else OpResult(r.id, None, error=exc) for r in results]
        if replicated is not None:
            replicated.successful, replicated.failures = done.successful, done.failures
        return results

    async def replicate(
        self,
        shard: Shard,
        targets: list[CopyTarget],
        stored: list[Any],
        term: int,
        meta: IndexMetadata,
    ) -> None:
        """Send operations this primary stored (``HistoryOp`` rows, with their ``_seq_no``) to
        ``targets`` under ``term``; returns once every copy applied them or was failed (a
        stale primary's failure raises). For writers of a primary other than client batches
        (a CCR follower's primary), which choose ``targets`` under a write permit."""
        await self._replicate(shard, targets, stored, term, meta, None)

    async def _replicate(
        self,
        shard: Shard,
        targets: list[CopyTarget],
        stored: list[Any],
        term: int,
        meta: IndexMetadata,
        refresh: str | None,
        resync: dict[str, int] | None = None,
    ) -> Replicated:
        sid = shard.shard_id
        replicated = Replicated()
        payload: dict[str, Any] = {
            "index": sid.index_name,
            "index_uuid": sid.index_uuid,
            "shard": sid.shard,
            "primary_term": term,
            "global_checkpoint": shard.engine.global_checkpoint,
            "mapping_version": meta.mapping_version,
            "ops": encode_history(stored),
            "refresh": refresh or "false",
        }
        if resync is not None:
            payload["resync"] = resync

        async def one(target: CopyTarget) -> None:
            unreachable = False
            try:
                answer = await self.peers.request(
                    target.node_id,
                    BULK_REPLICA_ACTION,
                    {**payload, "allocation_id": target.allocation_id},
                    REPLICA_TIMEOUT_S,
                )
                checkpoint = answer.get("local_checkpoint") if isinstance(answer, dict) else None
                if isinstance(checkpoint, int):
                    await shard.copy_checkpoint(target.allocation_id, checkpoint)
                replicated.successful += 1
                return
            except ShardNotFoundError:
                if not target.started:
                    return  # not open on its node yet: its recovery will hold these operations
                reason = "shard not found on its node"
            except IsthmusError as exc:
                reason = f"[{exc.es_type}] {exc.reason}"
                unreachable = (
                    exc.es_type in UNREACHABLE_TYPES or exc.extra.get(MUST_RECOVER) is True
                )
            except (OSError, TimeoutError) as exc:
                reason = repr(exc)
                unreachable = True
            log.warning(
                "failing replica [%s] of %s on node [%s]: %s",
                target.allocation_id,
                sid,
                target.node_id,
                reason,
            )
            await self.copies.fail_copy(
                sid,
                target.allocation_id,
                term,
                f"failed to perform indices:data/write/bulk[s] on replica: {reason}",
                unreachable=unreachable,
            )
            replicated.failures.append(_replica_failure(sid, target, reason))

        await asyncio.gather(*(one(t) for t in targets))
        return replicated

    async def resync(self, shard: Shard) -> None:
        """A replica just promoted (ES's primary-replica resync): its copies receive the
        operations above the global checkpoint it last knew (a copy that missed some of the
        old primary's gets them) under the new term, and answer their local checkpoints (the
        global checkpoint moves again without waiting for a write)."""
        meta = self.cluster.state.by_uuid(shard.shard_id.index_uuid)
        if meta is None:
            return
        async with shard.permits.write():
            term = shard.engine.primary_term
            targets = self.copies.replicas(shard.shard_id)
            ops = await asyncio.to_thread(
                shard.engine.history, shard.resync_from, shard.engine.max_seq_no, 1_000_000
            )
        if targets:
            # Every operation this primary holds from resync_from on: a copy checks that the
            # operations it holds there are these (see on_replica).
            span = {"from": shard.resync_from, "max_seq_no": shard.engine.max_seq_no}
            await self._replicate(shard, targets, ops, term, meta, None, span)
            log.info(
                "[%s] primary-replica resync: %s operations from [%s] to %s copies",
                shard.shard_id,
                len(ops),
                shard.resync_from,
                len(targets),
            )

    # --- the replica ---------------------------------------------------------------------------

    async def on_replica(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply a primary's operations on this node's copy (``bulk[s][r]``)."""
        shard = shard_of(self.indices, self.cluster.state, payload)
        sid = shard.shard_id
        if shard.routing is None or shard.routing.allocation_id != payload.get("allocation_id"):
            raise ShardNotFoundError(sid.index_name, sid.index_uuid, sid.shard)
        term = payload.get("primary_term")
        if not isinstance(term, int):
            raise IllegalArgumentError("a replicated batch needs [primary_term]")
        current = shard.engine.primary_term
        if term < current:
            raise IllegalStateError(
                f"{sid} operation primary term [{term}] is too old (current [{current}])"
            )
        await shard.take_term(term)
        ops = decode_history(payload.get("ops"))
        await self._confirm_held(shard, payload.get("resync"), ops)
        wanted = payload.get("mapping_version", 0)

        def mapped() -> bool:
            meta = self.cluster.state.by_uuid(sid.index_uuid)
            return meta is None or meta.mapping_version >= wanted

        await self.waiter.wait_for(mapped, MAPPING_WAIT_S)
        meta = self.cluster.state.by_uuid(sid.index_uuid)
        if meta is None:
            raise IndexNotFoundError(sid.index_name)
        if shard.diverged:  # became so while this batch waited for its mapping
            raise self._must_recover(shard, term)
        await shard.apply_replicated(ops, meta.mapping)
        checkpoint = payload.get("global_checkpoint")
        if isinstance(checkpoint, int) and shard.tracker is None:
            shard.engine.set_global_checkpoint(checkpoint)
        refresh = payload.get("refresh")
        if refresh == "true":
            await shard.refresh()
        elif refresh == "wait_for" and ops:
            await shard.wait_for_refresh(max(op.seq_no for op in ops))
        return {"local_checkpoint": shard.engine.local_checkpoint}

    async def _confirm_held(self, shard: Shard, resync: Any, ops: Sequence[Any]) -> None:
        """A replica that learnt a new primary term while holding operations above the global
        checkpoint it knew (``Shard.unconfirmed_from``) takes nothing under that term until the
        new primary's resync confirms them: the resync names every operation the primary holds
        from its ``from``, so each operation the replica holds from there (below it: at or
        under the new primary's global checkpoint, the same on every in-sync copy) must be one
        of them (same ``_seq_no`` and term: a primary gives each ``_seq_no`` once per term),
        and the replica must hold none above the primary's ``max_seq_no``. Otherwise (or a
        live write under the new term comes first) the replica may hold an unacknowledged
        operation where the new primary writes another: skipping the new one as already
        processed would lose an acknowledged write. Such a copy refuses, is failed, and a new
        copy recovers from empty. ES rolls the replica back to its global checkpoint and
        replays the resync instead; this engine cannot roll back."""
        start = shard.unconfirmed_from
        term = shard.engine.primary_term
        if shard.diverged:
            raise self._must_recover(shard, term)
        if start is None:
            return
        if not isinstance(resync, dict):
            # A live write of the new term: the resync may be a moment behind it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CONFIRM_WAIT_S), self._confirmations:
                    await self._confirmations.wait_for(
                        lambda: shard.unconfirmed_from is None or shard.diverged
                    )
            if shard.unconfirmed_from is None and not shard.diverged:
                return
        span_from = resync.get("from") if isinstance(resync, dict) else None
        span_max = resync.get("max_seq_no") if isinstance(resync, dict) else None
        confirmed = False
        if isinstance(span_from, int) and isinstance(span_max, int):
            sent = {op.seq_no: op.primary_term for op in ops}
            held = await asyncio.to_thread(shard.engine.processed_terms, max(start, span_from))
            confirmed = shard.engine.max_seq_no <= span_max and all(
                t is not None and sent.get(n) == t for n, t in held.items()
            )
        if shard.unconfirmed_from is None or shard.diverged:
            pass  # another batch decided meanwhile
        elif confirmed:
            shard.unconfirmed_from = None
        else:
            shard.diverged = True
        async with self._confirmations:
            self._confirmations.notify_all()
        if shard.diverged:
            raise self._must_recover(shard, term)

    @staticmethod
    def _must_recover(shard: Shard, term: int) -> IllegalStateError:
        sid = shard.shard_id
        start = shard.unconfirmed_from
        return IllegalStateError(
            f"{sid} replica holds operations from [{start}] that primary term [{term}] did not "
            f"confirm: it must recover from the primary anew",
            extra={MUST_RECOVER: True},
        )

    # --- realtime reads ------------------------------------------------------------------------

    async def get(self, shard_id: ShardId, doc_id: str) -> StoredDoc | None:
        """The latest state of ``doc_id``: read on the primary (read-your-writes), else on a
        started replica (every acknowledged write is on it: the primary's node just left, or
        cannot be reached); no started copy is ES's ``no_shard_available_action_exception``."""
        primary = self.copies.primary(shard_id)
        order = [primary] if primary is not None and primary.started else []
        order += [c for c in self.copies.readable(shard_id) if not c.primary]
        failure: IsthmusError | None = None
        for target in order:
            try:
                if target.node_id == self.copies.local_node_id:
                    shard = self.indices.shard(shard_id)
                    if shard is None or shard.routing is None or shard.routing.state != STARTED:
                        continue
                    return await shard.get(doc_id)
                answer = await self.peers.request(
                    target.node_id,
                    GET_SHARD_ACTION,
                    {
                        "index": shard_id.index_name,
                        "index_uuid": shard_id.index_uuid,
                        "shard": shard_id.shard,
                        "id": doc_id,
                    },
                    REPLICA_TIMEOUT_S,
                )
                return decode_doc(answer, doc_id)
            except (ShardNotFoundError, ConnectTransportError, OsConnectError) as exc:
                failure = exc  # the next copy
            except OSError as exc:
                failure = IllegalStateError(str(exc))
        raise NoShardAvailableActionError(
            shard_id.index_name,
            shard_id.index_uuid,
            shard_id.shard,
            f"No shard available for [get [{shard_id.index_name}][{doc_id}]: routing [null]]",
        ) from failure

    async def on_get(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A realtime get on this node's started copy."""
        shard = shard_of(self.indices, self.cluster.state, payload)
        doc_id = payload.get("id")
        if not isinstance(doc_id, str):
            raise IllegalArgumentError("a get needs [id]")
        routing = shard.routing
        if routing is None or routing.state != STARTED:
            sid = shard.shard_id
            raise ShardNotFoundError(sid.index_name, sid.index_uuid, sid.shard)
        return encode_doc(await shard.get(doc_id))

    def register(self, registry: ActionRegistry[Any], cluster_name: str) -> None:
        async def replica(payload: Any, ctx: Any) -> Any:
            return await self.on_replica(check_peer(payload, cluster_name, BULK_REPLICA_ACTION))

        async def get(payload: Any, ctx: Any) -> Any:
            return await self.on_get(check_peer(payload, cluster_name, GET_SHARD_ACTION))

        registry.register(BULK_REPLICA_ACTION, replica)
        registry.register(GET_SHARD_ACTION, get)

    def __repr__(self) -> str:
        return f"<ShardWrites {self.copies!r} {self.peers!r}>"


def encode_doc(doc: StoredDoc | None) -> dict[str, Any]:
    if doc is None:
        return {"found": False}
    return {
        "found": True,
        "seq_no": doc.seq_no,
        "primary_term": doc.primary_term,
        "version": doc.version,
        "source": doc.source,
        "routing": doc.routing,
    }


def decode_doc(value: Any, doc_id: str) -> StoredDoc | None:
    if not isinstance(value, dict) or value.get("found") is not True:
        return None
    seq_no, term, version = value.get("seq_no"), value.get("primary_term"), value.get("version")
    source, routing = value.get("source"), value.get("routing")
    if not all(isinstance(v, int) for v in (seq_no, term, version)) or not isinstance(
        source, bytes
    ):
        raise IllegalStateError("a get answer lacks its document's fields")
    assert isinstance(seq_no, int) and isinstance(term, int) and isinstance(version, int)
    return StoredDoc(
        doc_id, seq_no, term, version, source, routing if isinstance(routing, str) else None
    )
