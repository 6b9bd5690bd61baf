"""The indices service: this node's shards, opened and dropped as cluster metadata changes.

It owns each :class:`Shard` (an async face on a blocking :class:`ShardEngine`), the periodic
refresh loop (per ``index.refresh_interval``), waiting for ``refresh=wait_for``, waiting for a
shard's checkpoint to reach a ``_seq_no`` (a leader's ``shard_changes`` long poll: woken by each
write, never by polling), and history trimming (by the engine's rules, retention leases
included; at least every ``index.soft_deletes.retention_lease.period``, at most every minute).
It never decides what exists: the cluster service's metadata does, and
:meth:`IndicesService.apply` follows it: in a cluster of one every shard of every open index is
opened here; in a cluster of several nodes (``local_node_id`` set) only the copies the routing
table assigns to this node, by the rules of :func:`isthmus.index.replication.plan_copies`. A
copy that must report itself started (and a replica that must first recover) is handed to
``copy_starter`` in a task this service owns: it is cancelled when the copy goes away, and the
state apply never waits for it (it submits a state change of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from isthmus.cluster.allocation import INCARNATIONS
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.routing import ShardId
from isthmus.cluster.shard_routing import STARTED, ShardRouting, ShardTable
from isthmus.errors import StorageIOError
from isthmus.index.engine import Op, OpResult, ReplicaOp, SeqNoStats, ShardEngine, StoredDoc
from isthmus.index.mapping import Mapping
from isthmus.index.replication import (
    CLOSE,
    FOLLOW,
    OPEN_EMPTY_PRIMARY,
    RECOVER_REPLICA,
    REOPEN_STARTED,
    CopyStep,
    OpenCopy,
    ReplicationTracker,
    plan_copies,
)
from isthmus.settings.values import parse_time

log = logging.getLogger("org.elasticsearch.indices.IndicesService")
T = TypeVar("T")

HISTORY_TRIM_EVERY_S = 60.0
# Trimming never runs more often than this, however short the retention period.
HISTORY_TRIM_MIN_S = 0.5
RETENTION_LEASE_PERIOD = "index.soft_deletes.retention_lease.period"

# What a copy starter is asked to do with a copy just opened on this node.
REPORT_STARTED = "report_started"
RECOVER = "recover"
# A replica just promoted: send its copies the operations above the last known global
# checkpoint (ES's primary-replica resync), learning their local checkpoints.
RESYNC = "resync"


class WritePermits:
    """A primary's write permits (ES's IndexShardOperationPermits): every write holds one from
    storing its operations until it has chosen the copies it replicates them to; a peer
    recovery blocks them for an instant to read the highest ``_seq_no``, so that no write in
    flight is missing from both the recovery's history and the live writes."""

    def __init__(self) -> None:
        self._active = 0
        self._blocked = False
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._blocked)
            self._active += 1
        try:
            yield
        finally:
            async with self._changed:
                self._active -= 1
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def block(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._blocked)
            self._blocked = True
            try:
                await self._changed.wait_for(lambda: self._active == 0)
            except BaseException:
                self._blocked = False
                self._changed.notify_all()
                raise
        try:
            yield
        finally:
            async with self._changed:
                self._blocked = False
                self._changed.notify_all()

    def __repr__(self) -> str:
        return f"<WritePermits active={self._active} blocked={self._blocked}>"


class Shard:
    """One open shard on this node."""

    def __init__(
        self,
        shard_id: ShardId,
        engine: ShardEngine,
        meta: IndexMetadata,
        on_storage_full: Callable[[], None] | None = None,
    ) -> None:
        self.shard_id = shard_id
        self.engine = engine
        self.meta = meta
        # Told when the disk turned out full (the disk monitor checks at once).
        self.on_storage_full = on_storage_full
        self.refresh_failing = False
        self._refreshed = asyncio.Condition()
        # Notified after every write: long polls wait here for the checkpoint to move.
        self._checkpoint_moved = asyncio.Condition()
        self.closed = False  # dropped from the node (index closed or deleted): waits end
        self.last_refresh = time.monotonic()
        self.last_trim = time.monotonic()
        self.noop_updates = 0  # updates that changed nothing (``indexing.noop_update_total``)
        # A cluster of several nodes: this copy's entry in the routing table and its shard's
        # table (None in a cluster of one), the primary's tracker of its copies and its permits.
        self.routing: ShardRouting | None = None
        self.table: ShardTable | None = None
        self.tracker: ReplicationTracker | None = None
        self.permits = WritePermits()
        # Where a promoted copy's resync starts (the global checkpoint it knew, plus one).
        self.resync_from = 0
        # Its start (report started, recovery) was handed to the copy starter for its current
        # INITIALIZING entry (a copy the table marks INITIALIZING again is started again).
        self.start_scheduled = False
        # A replica that learnt a higher primary term while holding operations above the
        # global checkpoint it knew: those came from an older primary and the new one may not
        # hold them (an unacknowledged last write), or hold other operations under the same
        # _seq_no. From this _seq_no on they must be confirmed by the new primary's resync
        # before the copy takes anything under the new term (None: nothing to confirm).
        self.unconfirmed_from: int | None = None
        # Such a replica whose operations the new primary did not confirm: it refuses every
        # operation until the master replaces it with a new copy, which recovers from empty
        # (ES rolls the copy back to the global checkpoint instead).
        self.diverged = False

    async def take_term(self, term: int) -> None:
        """Take a raised primary term (from the routing table or a replicated batch). A replica
        holding operations above its known global checkpoint keeps them unconfirmed from then
        on (see ``unconfirmed_from``); a primary (promoted) holds the shard's history."""
        engine = self.engine
        if term <= engine.primary_term:
            return
        routing = self.routing
        if routing is not None and routing.primary:
            self.unconfirmed_from, self.diverged = None, False
        else:
            known = engine.known_global_checkpoint
            if engine.max_seq_no > known and self.unconfirmed_from is None:
                self.unconfirmed_from = known + 1
        await asyncio.to_thread(engine.set_primary_term, term)

    def follow(self, routing: ShardRouting, table: ShardTable) -> None:
        """Take this copy's routing entry and its shard's table (applied state)."""
        self.routing, self.table = routing, table
        if routing.primary and routing.allocation_id is not None:
            if self.tracker is None or self.tracker.own != routing.allocation_id:
                self.tracker = ReplicationTracker(routing.allocation_id)
            self.tracker.follow(table)
            self.engine.set_global_checkpoint(
                self.tracker.global_checkpoint(self.engine.local_checkpoint)
            )
        else:
            self.tracker = None

    async def copy_checkpoint(self, allocation_id: str, local_checkpoint: int) -> None:
        """A copy reported its local checkpoint: the global checkpoint may move (woken:
        whoever waits on it, a follower cluster's read)."""
        tracker = self.tracker
        if tracker is None:
            return
        tracker.update(allocation_id, local_checkpoint)
        self.engine.set_global_checkpoint(tracker.global_checkpoint(self.engine.local_checkpoint))
        await self._notify_checkpoint()

    async def write(self, ops: Sequence[Op], mapping: Mapping) -> list[OpResult]:
        try:
            return await asyncio.to_thread(self.engine.write, ops, mapping)
        except StorageIOError:
            if self.on_storage_full is not None:
                self.on_storage_full()
            raise
        finally:
            await self._notify_checkpoint()

    async def apply_replicated(self, ops: Sequence[ReplicaOp], mapping: Mapping) -> SeqNoStats:
        """Store operations that keep their ``_seq_no`` (:meth:`ShardEngine.apply_replicated`)."""
        try:
            return await asyncio.to_thread(self.engine.apply_replicated, ops, mapping)
        except StorageIOError:
            if self.on_storage_full is not None:
                self.on_storage_full()
            raise
        finally:
            await self._notify_checkpoint()

    async def _notify_checkpoint(self) -> None:
        async with self._checkpoint_moved:
            self._checkpoint_moved.notify_all()

    async def wait_for_checkpoint(self, seq_no: int, timeout_s: float) -> bool:
        """Whether the global checkpoint reached ``seq_no`` within ``timeout_s`` (False when
        the time ran out first, or the shard was closed: the caller looks the index up again).
        Woken by writes and by the shard's close; no polling."""
        engine = self.engine
        if engine.global_checkpoint >= seq_no:
            return True
        try:
            async with asyncio.timeout(timeout_s), self._checkpoint_moved:
                await self._checkpoint_moved.wait_for(
                    lambda: self.closed or engine.global_checkpoint >= seq_no
                )
        except TimeoutError:
            pass
        return not self.closed and engine.global_checkpoint >= seq_no

    async def end_waits(self) -> None:
        """The shard leaves this node: whoever waits on its checkpoint stops waiting."""
        self.closed = True
        await self._notify_checkpoint()

    async def history_sections(self) -> dict[str, Any]:
        """The ``commit``, ``seq_no`` and ``retention_leases`` sections of this shard in ES's
        ``_stats?level=shards`` (where a user checks what a follower's lease retains)."""
        engine = self.engine
        version, leases = await asyncio.to_thread(
            engine.retention_leases_with_version, self.retention_lease_period_ms
        )
        stats = engine.seq_no_stats()
        return {
            "commit": {
                "generation": engine.generation,
                "user_data": {
                    "history_uuid": engine.history_uuid,
                    "local_checkpoint": str(stats.local_checkpoint),
                    "max_seq_no": str(stats.max_seq_no),
                    "min_retained_seq_no": str(engine.min_retained_seq_no()),
                },
            },
            "seq_no": {
                "max_seq_no": stats.max_seq_no,
                "local_checkpoint": stats.local_checkpoint,
                "global_checkpoint": stats.global_checkpoint,
            },
            "retention_leases": {
                "primary_term": engine.primary_term,
                "version": version,
                "leases": [lease.to_json() for lease in leases],
            },
        }

    @property
    def retention_lease_period_ms(self) -> int:
        return parse_time(self.meta.setting(RETENTION_LEASE_PERIOD, "12h")).millis

    async def get(self, doc_id: str) -> StoredDoc | None:
        return await asyncio.to_thread(self.engine.get, doc_id)

    async def refresh(self) -> None:
        try:
            await asyncio.to_thread(self.engine.refresh)
        except StorageIOError:
            if self.on_storage_full is not None:
                self.on_storage_full()
            raise
        self.last_refresh = time.monotonic()
        async with self._refreshed:
            self._refreshed.notify_all()

    async def wait_for_refresh(self, seq_no: int) -> None:
        """Return once ``seq_no`` is searchable (``refresh=wait_for``)."""
        interval = parse_time(self.meta.setting("index.refresh_interval", "1s")).millis
        if interval < 0:
            await self.refresh()
            return
        async with self._refreshed:
            await self._refreshed.wait_for(lambda: self.engine.searchable_checkpoint >= seq_no)

    def __repr__(self) -> str:
        return f"<Shard {self.shard_id} {self.engine!r}>"


class IndicesService:
    def __init__(self, indices_dir: Path, *, search_threads: int = 2) -> None:
        self.indices_dir = indices_dir
        self.shards: dict[ShardId, Shard] = {}
        self.search_pool = ThreadPoolExecutor(
            max_workers=search_threads, thread_name_prefix="search"
        )
        # Called when a shard meets a full disk (the node wires the disk monitor's poke here).
        self.on_storage_full: Callable[[], None] | None = None
        # A cluster of several nodes: this node's id (the copies of the routing table that are
        # this node's are opened here) and what reports a copy started, recovering it first
        # (the actions layer's peer recovery). None: a cluster of one, every shard is here.
        self.local_node_id: Callable[[], str] | None = None
        # This process's identity (the node's ephemeral id): copies the routing table assigns to
        # this node id are this process's only once the master has recorded it (its reroute
        # failed what an earlier process of the node held; until then the node holds none).
        self.local_incarnation: Callable[[], str] | None = None
        self.copy_starter: Callable[[Shard, str], Coroutine[Any, Any, None]] | None = None
        self._starting: dict[ShardId, asyncio.Task[None]] = {}

    def _storage_full(self) -> None:
        if self.on_storage_full is not None:
            self.on_storage_full()

    def shard_dir(self, index_uuid: str, shard: int) -> Path:
        return self.indices_dir / index_uuid / str(shard)

    def shard(self, shard_id: ShardId) -> Shard | None:
        return self.shards.get(shard_id)

    def shards_of(self, meta: IndexMetadata) -> list[Shard]:
        out = []
        for n in range(meta.number_of_shards):
            shard = self.shards.get(ShardId(meta.uuid, n, meta.name))
            if shard is not None:
                out.append(shard)
        return out

    async def run_search(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.search_pool, fn, *args)

    async def apply(self, old: ClusterMetadata, new: ClusterMetadata) -> None:
        """Open shards of new open indices, close closed ones, delete removed ones' files."""
        if self.local_node_id is not None:
            await self._apply_routed(old, new, self.local_node_id())
            return
        live_uuids = {m.uuid for m in new.indices.values()}
        for shard_id, shard in list(self.shards.items()):
            meta = new.by_uuid(shard_id.index_uuid)
            if meta is None or not meta.is_open:
                del self.shards[shard_id]
                await shard.end_waits()
                await asyncio.to_thread(shard.engine.close)
            else:
                shard.meta = meta
        for old_meta in old.indices.values():
            if old_meta.uuid not in live_uuids:
                await asyncio.to_thread(shutil.rmtree, self.indices_dir / old_meta.uuid, True)
        for meta in new.indices.values():
            if not meta.is_open:
                continue
            for n in range(meta.number_of_shards):
                shard_id = ShardId(meta.uuid, n, meta.name)
                if shard_id not in self.shards:
                    engine = await asyncio.to_thread(
                        ShardEngine, self.shard_dir(meta.uuid, n), meta.mapping
                    )
                    self.shards[shard_id] = Shard(shard_id, engine, meta, self._storage_full)

    async def _apply_routed(self, old: ClusterMetadata, new: ClusterMetadata, node: str) -> None:
        """A cluster of several nodes: the copies the routing table assigns to this node."""
        open_copies = {
            sid: OpenCopy(sid, shard.routing.allocation_id or "")
            for sid, shard in self.shards.items()
            if shard.routing is not None
        }
        indices = {m.uuid: (m.name, m.is_open) for m in new.indices.values()}
        routing = new.routing
        if self.local_incarnation is not None:
            recorded = (new.customs.get(INCARNATIONS) or {}).get(node)
            if recorded != self.local_incarnation():
                # Assigned to an earlier process of this node (it restarted before anybody saw
                # it leave): a primary there may hold writes no other copy has, or lack some.
                # Opened only once the master has failed them and allocated anew.
                routing = {}
        for sid in [sid for sid, shard in self.shards.items() if shard.routing is None]:
            await self._close_copy(sid, delete_files=False)  # opened before routing existed
        for step in plan_copies(node, open_copies, indices, routing):
            meta = new.by_uuid(step.shard_id.index_uuid)
            if step.kind == CLOSE or meta is None:
                await self._close_copy(step.shard_id, delete_files=step.delete_files)
            else:
                await self._open_copy(step, meta)
        live_uuids = {m.uuid for m in new.indices.values()}
        for old_meta in old.indices.values():
            if old_meta.uuid not in live_uuids:
                await asyncio.to_thread(shutil.rmtree, self.indices_dir / old_meta.uuid, True)

    async def _open_copy(self, step: CopyStep, meta: IndexMetadata) -> None:
        assert step.routing is not None and step.table is not None
        sid, kind = step.shard_id, step.kind
        shard = self.shards.get(sid)
        if (
            kind == FOLLOW
            and shard is not None
            and not step.routing.primary
            and step.routing.state != STARTED
            and not shard.start_scheduled
        ):
            # A replica INITIALIZING again with this copy's id (its node came back, or its
            # start failed): it recovers from empty like a new copy, since its store may hold
            # an older primary's operations the shard's history no longer has.
            await self._close_copy(sid, delete_files=True)
            kind, shard = RECOVER_REPLICA, None
        if kind == FOLLOW and shard is not None:
            shard.meta = meta
            promoted = step.routing.primary and not (shard.routing and shard.routing.primary)
            if promoted:
                shard.routing = step.routing  # take_term: a primary's history is the truth
            # A replica promoted to primary (same allocation id, a raised term), or a replica
            # learning of its new primary: older primaries' operations are refused.
            await shard.take_term(step.table.primary_term)
            # What every in-sync copy was known to hold, before this copy starts tracking.
            shard.resync_from = shard.engine.global_checkpoint + 1
            shard.follow(step.routing, step.table)
            if step.routing.state == STARTED:
                shard.start_scheduled = False
                if promoted and len(step.table.copies) > 1:
                    self._start(shard, RESYNC)
            elif not shard.start_scheduled:
                # INITIALIZING again with this copy's id (its node came back, the master
                # reopens it), or never started (no starter when it opened): start it now.
                self._start(shard, REPORT_STARTED if step.routing.primary else RECOVER)
            return
        path = self.shard_dir(meta.uuid, sid.shard)
        if kind in (OPEN_EMPTY_PRIMARY, RECOVER_REPLICA):
            # A new copy starts empty: whatever an earlier copy left in the folder goes.
            await asyncio.to_thread(shutil.rmtree, path, True)
        engine = await asyncio.to_thread(ShardEngine, path, meta.mapping)
        shard = Shard(sid, engine, meta, self._storage_full)
        if step.routing.primary or kind == RECOVER_REPLICA:
            # An empty replica too: its primary's operations carry this term, and a later
            # raise of it means a new primary (see Shard.take_term).
            await asyncio.to_thread(engine.set_primary_term, step.table.primary_term)
        shard.follow(step.routing, step.table)
        # A replica reopened on its store under a raised term: its older operations are
        # unconfirmed (Shard.take_term).
        await shard.take_term(step.table.primary_term)
        self.shards[sid] = shard
        if kind == REOPEN_STARTED:
            return
        self._start(shard, RECOVER if kind == RECOVER_REPLICA else REPORT_STARTED)

    def _start(self, shard: Shard, work: str) -> None:
        """Hand ``work`` on a copy to the copy starter, in a task cancelled with the copy."""
        if self.copy_starter is None:
            return  # not yet: the next state applied (or start_pending) starts it
        if work != RESYNC:
            shard.start_scheduled = True
        sid = shard.shard_id
        previous = self._starting.pop(sid, None)
        if previous is not None:
            previous.cancel()
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
            self.copy_starter(shard, work), name=f"start-copy {sid} {work}"
        )
        self._starting[sid] = task
        task.add_done_callback(functools.partial(self._started, sid))

    def start_pending(self) -> None:
        """Start the copies opened while no copy starter was set (the node's first state)."""
        for shard in list(self.shards.values()):
            routing = shard.routing
            if routing is not None and routing.state != STARTED and not shard.start_scheduled:
                self._start(shard, REPORT_STARTED if routing.primary else RECOVER)

    def _started(self, sid: ShardId, task: asyncio.Task[None]) -> None:
        if self._starting.get(sid) is task:
            del self._starting[sid]
        if not task.cancelled() and task.exception() is not None:
            log.warning("failed to start shard copy %s", sid, exc_info=task.exception())
            shard = self.shards.get(sid)
            if shard is not None:
                shard.start_scheduled = False  # the next state applied tries again

    async def _close_copy(self, sid: ShardId, *, delete_files: bool) -> None:
        """Close this node's copy of ``sid`` (its start abandoned); ``delete_files``: the copy
        left this node while its index lives on (a later copy here starts empty)."""
        task = self._starting.pop(sid, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        shard = self.shards.pop(sid, None)
        if shard is not None:
            await shard.end_waits()
            await asyncio.to_thread(shard.engine.close)
        if delete_files:
            await asyncio.to_thread(shutil.rmtree, self.shard_dir(sid.index_uuid, sid.shard), True)

    async def refresh_loop(self, tick_s: float = 0.1) -> None:
        """Refresh each dirty shard when its ``index.refresh_interval`` has elapsed."""
        while True:
            await asyncio.sleep(tick_s)
            now = time.monotonic()
            for shard in list(self.shards.values()):
                interval = parse_time(shard.meta.setting("index.refresh_interval", "1s")).millis
                if (
                    interval >= 0
                    and shard.engine.needs_refresh
                    and now - shard.last_refresh >= interval / 1000
                ):
                    try:
                        await shard.refresh()
                        shard.refresh_failing = False
                    except StorageIOError as exc:
                        # Retried once per refresh interval; reported once per episode.
                        shard.last_refresh = now
                        if not shard.refresh_failing:
                            log.warning("failed to refresh shard %s: %s", shard.shard_id, exc)
                        shard.refresh_failing = True
                    except Exception:
                        log.exception("failed to refresh shard %s", shard.shard_id)
                every_s = max(
                    HISTORY_TRIM_MIN_S,
                    min(HISTORY_TRIM_EVERY_S, shard.retention_lease_period_ms / 1000),
                )
                if now - shard.last_trim >= every_s:
                    shard.last_trim = now
                    await self._trim(shard)

    async def _trim(self, shard: Shard) -> None:
        period_ms = shard.retention_lease_period_ms
        ops = int(shard.meta.setting("index.soft_deletes.retention.operations", "0"))
        try:
            await asyncio.to_thread(shard.engine.trim_history, period_ms, ops)
        except Exception:
            log.exception("failed to trim operation history of %s", shard.shard_id)

    async def close(self) -> None:
        for task in list(self._starting.values()):
            task.cancel()
        await asyncio.gather(*self._starting.values(), return_exceptions=True)
        for shard in list(self.shards.values()):
            await asyncio.to_thread(shard.engine.close)
        self.shards.clear()
        self.search_pool.shutdown(wait=True)
