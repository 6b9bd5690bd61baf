"""The follow tasks of this node's followers: started and stopped as the metadata says.

:class:`FollowerTasks` keeps one :class:`ShardFollowTask` per shard of every follower whose
follow task is recorded (see :mod:`isthmus.ccr.follower_index`). It is an applier of the cluster
metadata, so a follow task starts when its record appears and the index is open (at node start
too: following survives a restart) and stops when the record goes (pause), the index closes or
is deleted. A task that failed fatally stays listed with its ``fatal_exception`` until resumed
or paused. It also gives each task what it writes with: the follower shard's
``apply_replicated`` and the sync of the leader's mapping, settings and aliases.

In a cluster of several nodes a shard's task runs on the node holding the follower shard's
started primary, and only there (:mod:`isthmus.ccr.placement`): when the primary moves (its
node left and a replica was promoted, or it was relocated) the applier stops the task on the old
node and starts it on the new one, from that copy's own local checkpoint (a promoted copy had
every operation the old primary acknowledged). The operations it applies go to the follower
shard's replicas too (``replicate``: the shard's primary-backup write path), before the task
counts them as written.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from isthmus.ccr.follower_index import (
    CcrMetadata,
    FollowTaskRecord,
    leader_mapping,
    synced_settings,
)
from isthmus.ccr.leader_client import LeaderClient
from isthmus.ccr.placement import CcrPlacement, local_placement
from isthmus.ccr.restore_ops import copy_by_operations, pending_restore, restored
from isthmus.ccr.retry import retry_delay_ms, should_retry
from isthmus.ccr.shard_task import (
    ApplyOps,
    MetadataVersions,
    ShardFollowSpec,
    ShardFollowTask,
    SyncMetadata,
)
from isthmus.ccr.wire import (
    LeaderIndexMetadataResponse,
    ReplicatedOp,
    RestoreShard,
    retention_lease_id,
)
from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.cluster.metadata import AliasMetadata, ClusterMetadata, IndexMetadata
from isthmus.cluster.routing import ShardId
from isthmus.cluster.service import ClusterService
from isthmus.errors import IndexClosedError, IndexNotFoundError, IsthmusError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.index.service import IndicesService, Shard
from isthmus.settings.catalog import find
from isthmus.settings.registry import Scope
from isthmus.supervision import TaskSet

if TYPE_CHECKING:
    from isthmus.remote.service import RemoteClusterService
    from isthmus.security.authz import Subject

log = logging.getLogger("org.elasticsearch.xpack.ccr.action.ShardFollowTasksExecutor")
state_log = logging.getLogger("org.elasticsearch.cluster.metadata.MetadataIndexStateService")

# replicate(primary, ops, meta) → the primary's local checkpoint once ``ops`` are stored on it
# and on every replica the routing table assigns (a copy that fails them is failed first).
ReplicaWrite = Callable[[Shard, Sequence[ReplicatedOp], IndexMetadata], Awaitable[int]]


@dataclass
class FollowerRun:
    """The running (or fatally stopped) follow tasks of one follower index on this node, by
    shard number (a cluster of several nodes: the shards whose primary is here)."""

    index: str
    uuid: str
    ccr: CcrMetadata
    record: FollowTaskRecord
    client: LeaderClient
    lease_id: str
    syncer: SyncMetadata
    tasks: dict[int, ShardFollowTask] = field(default_factory=dict)
    runs: dict[int, asyncio.Task[None]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(t.status.fatal_exception is not None for t in self.tasks.values())

    def shard_tasks(self) -> list[ShardFollowTask]:
        return [self.tasks[n] for n in sorted(self.tasks)]


class FollowerTasks:
    def __init__(
        self,
        cluster: ClusterService,
        indices: IndicesService,
        remote: RemoteClusterService,
        *,
        cluster_name: str,
        renew_interval_s: float = 30.0,
        subject_lookup: Callable[[str], Subject | None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.cluster = cluster
        self.indices = indices
        self.remote = remote
        self.cluster_name = cluster_name
        self.renew_interval_s = renew_interval_s
        self._subject_lookup = subject_lookup
        self._clock = clock
        self._runs: dict[str, FollowerRun] = {}
        # Who started each follower's tasks, while this node runs (after a restart: looked up).
        self.subjects: dict[str, Subject | None] = {}
        self._tasks = TaskSet("ccr follow tasks", log)
        self._closed = False
        # Followers their own settings sync closed to take a static setting and is about to
        # open again: their tasks keep running through the close (ES's tasks do too).
        self._reopening: set[str] = set()
        # Where each shard's task runs (set by :meth:`distribute` in a cluster of several
        # nodes) and how its primary's writes reach the replicas (None: no replicas here).
        self.placement: CcrPlacement = local_placement(lambda: "")
        self.replicate: ReplicaWrite | None = None

    def distribute(self, placement: CcrPlacement, replicate: ReplicaWrite | None) -> None:
        """Run each shard's task on its primary's node, writing through ``replicate``."""
        self.placement = placement
        self.replicate = replicate

    def _runs_here(self, shard_id: ShardId) -> bool:
        if not self.placement.distributed:
            return True
        return self.placement.runs_here(shard_id) and self.indices.shard(shard_id) is not None

    async def apply(self, old: ClusterMetadata, new: ClusterMetadata) -> None:
        """Applier: run exactly the follow tasks the metadata records on open indices."""
        if self._closed:
            return
        wanted = {
            meta.uuid: meta
            for meta in new.indices.values()
            if meta.is_open and FollowTaskRecord.of(meta) is not None
        }
        for uuid in list(self._runs):
            run = self._runs[uuid]
            meta = wanted.get(uuid)
            reopening = uuid in self._reopening
            if meta is None and reopening:
                meta = new.by_uuid(uuid)
            if meta is None or FollowTaskRecord.of(meta) != run.record:
                await self.stop(uuid)
                continue
            if reopening:
                continue  # its tasks run on through the close
            for n in list(run.runs):  # following or still copying the leader
                if not self._runs_here(ShardId(meta.uuid, n, meta.name)):
                    # The primary moved away (promoted elsewhere, relocated): its new node
                    # starts the task from its own copy's checkpoint.
                    await _stop_shard(run, n)
        for meta in wanted.values():
            self.start(meta)

    async def close(self) -> None:
        self._closed = True
        await self._tasks.close()
        self._runs.clear()

    def _subject_for(self, meta: IndexMetadata, record: FollowTaskRecord) -> Subject | None:
        if meta.uuid in self.subjects:
            return self.subjects[meta.uuid]
        if record.user is not None and self._subject_lookup is not None:
            return self._subject_lookup(record.user)
        return None

    def start(self, meta: IndexMetadata) -> None:
        """Start the tasks of ``meta``'s shards that run here and have none yet (a task that
        failed fatally stays, listed with its failure, until resumed or paused)."""
        ccr = CcrMetadata.of(meta)
        record = FollowTaskRecord.of(meta)
        if ccr is None or record is None:
            return
        run = self._runs.get(meta.uuid)
        if run is None:
            client = LeaderClient(self.remote, ccr.remote_cluster, self._subject_for(meta, record))
            lease = retention_lease_id(
                self.cluster_name,
                meta.name,
                meta.uuid,
                ccr.remote_cluster,
                ccr.leader_index_name,
                ccr.leader_index_uuid,
            )
            # One syncer for the index's shard tasks: a sync (a close and reopen among them)
            # runs once at a time, and the next one finds the follower already up to date.
            syncer = self._metadata_syncer(meta.uuid, client, ccr)
            run = FollowerRun(meta.name, meta.uuid, ccr, record, client, lease, syncer)
            self._runs[meta.uuid] = run
        to_copy = pending_restore(meta) if self.placement.distributed else frozenset()
        for n in range(meta.number_of_shards):
            shard_id = ShardId(meta.uuid, n, meta.name)
            if n in run.runs or not self._runs_here(shard_id):
                continue
            if n in to_copy:  # the leader's copy first (isthmus.ccr.restore_ops)
                copy = self._copy_then_follow(run, shard_id)
                run.runs[n] = self._tasks.spawn(copy, name=f"{shard_id} copy")
                continue
            task = self._new_task(run, shard_id)
            run.tasks[n] = task
            run.runs[n] = self._tasks.spawn(task.run(), name=f"{shard_id}")

    def _new_task(self, run: FollowerRun, shard_id: ShardId) -> ShardFollowTask:
        """A shard's task, from the follower shard's own checkpoint."""
        ccr, n = run.ccr, shard_id.shard
        shard = self.indices.shard(shard_id)
        checkpoint = shard.engine.local_checkpoint if shard is not None else -1
        history = ccr.shard_history_uuids[n] if n < len(ccr.shard_history_uuids) else ""
        spec = ShardFollowSpec(
            follower=shard_id,
            remote_cluster=ccr.remote_cluster,
            leader_index=ccr.leader_index_name,
            leader_index_uuid=ccr.leader_index_uuid,
            history_uuid=history,
            lease_id=run.lease_id,
            parameters=run.record.parameters.resolved(),
            renew_interval_s=self.renew_interval_s,
        )
        return ShardFollowTask(
            spec,
            run.client,
            self._applier(shard_id),
            run.syncer,
            checkpoint=checkpoint,
            clock=self._clock,
        )

    async def _copy_then_follow(self, run: FollowerRun, shard_id: ShardId) -> None:
        """Copy the leader shard onto this primary (and its replicas), record it copied, then
        follow. A retryable failure is tried again after the follow task's back-off; another
        is the shard's fatal failure."""
        ccr, n = run.ccr, shard_id.shard
        source = RestoreShard(ccr.leader_index_name, ccr.leader_index_uuid, n)
        max_delay_ms = run.record.parameters.resolved().max_retry_delay.millis
        retries = 0
        while True:
            try:
                shard = self.indices.shard(shard_id)
                if shard is None:
                    raise IndexClosedError(shard_id.index_name, shard_id.index_uuid)
                await copy_by_operations(
                    run.client,
                    source,
                    run.lease_id,
                    shard.engine.path,
                    self._applier(shard_id),
                    self.renew_interval_s,
                )
                await self.cluster.submit(
                    f"ccr copy of [{ccr.leader_index_name}][{n}] done",
                    restored(shard_id.index_uuid, n),
                )
                break
            except (IsthmusError, OSError) as exc:
                if not should_retry(exc):
                    failed = self._new_task(run, shard_id)
                    failed.fail(exc)
                    run.tasks[n] = failed
                    return
                retries += 1
                log.debug("%s copy of the leader failed, retrying [%s]: %s", shard_id, retries, exc)
                delay = retry_delay_ms(retries, max_delay_ms, random.Random())
                await self._clock.sleep(delay / 1000)
        task = self._new_task(run, shard_id)
        run.tasks[n] = task
        await task.run()

    async def stop(self, uuid: str) -> None:
        run = self._runs.pop(uuid, None)
        if run is None:
            return
        for task in run.runs.values():
            task.cancel()
        await asyncio.gather(*run.runs.values(), return_exceptions=True)

    def _applier(self, shard_id: ShardId) -> ApplyOps:
        cluster, indices, replicate = self.cluster, self.indices, self.replicate

        async def apply(ops: Sequence[ReplicatedOp]) -> int:
            meta = cluster.state.by_uuid(shard_id.index_uuid)
            if meta is None:
                raise IndexNotFoundError(shard_id.index_name)
            shard = indices.shard(shard_id)
            if shard is None:
                raise IndexClosedError(meta.name, meta.uuid)
            # Through the shard: a full disk is reported, and long polls of followers of this
            # index (a chain) wake up.
            try:
                if replicate is not None:
                    return await replicate(shard, ops, meta)
                stats = await shard.apply_replicated(ops, meta.mapping)
            except IsthmusError:
                raise
            except Exception as exc:
                # The shard closed under the write (the follower closed, e.g. to take a static
                # setting): its store is gone, which is the closed index ES's write meets.
                if shard.closed:
                    raise IndexClosedError(meta.name, meta.uuid) from exc
                raise
            return stats.local_checkpoint

        return apply

    def _metadata_syncer(self, uuid: str, client: LeaderClient, ccr: CcrMetadata) -> SyncMetadata:
        """Copy the leader's mapping, replicated settings and aliases onto the follower (ES's
        sync of the three); each version of the follower moves only when its part changed.
        A changed static setting is taken as ES's ``ShardFollowTasksExecutor`` takes it: the
        follower is closed, updated and opened again (its shards reopen with it)."""
        lock = asyncio.Lock()

        async def sync(seen: MetadataVersions) -> MetadataVersions:
            async with lock:
                leader = await client.index_metadata(ccr.leader_index_name)
                if leader.uuid != ccr.leader_index_uuid:
                    raise IndexNotFoundError(ccr.leader_index_name)
                change = _synced(uuid, ccr, leader)
                meta = self.cluster.state.by_uuid(uuid)
                if meta is None:
                    raise IndexNotFoundError(ccr.leader_index_name)
                static = static_changes(
                    meta.settings, synced_settings(meta.settings, leader.settings)
                )
                source = f"ccr metadata sync [{ccr.leader_index_name}]"
                if static:
                    await self._close_update_open(uuid, source, change)
                else:
                    await self.cluster.submit(source, change)
                return MetadataVersions(
                    leader.mapping_version, leader.settings_version, leader.aliases_version
                )

        return sync

    async def _close_update_open(
        self, uuid: str, source: str, change: Callable[[ClusterMetadata], ClusterMetadata]
    ) -> None:
        """Close the follower, apply ``change``, open it again; its follow tasks run on
        through (their writes meanwhile fail as on any closed index and are retried)."""
        self._reopening.add(uuid)
        try:
            await self.cluster.submit(f"{source}: close", _set_state(uuid, open_=False))
            await self.cluster.submit(source, change)
            await self.cluster.submit(f"{source}: open", _set_state(uuid, open_=True))
        finally:
            self._reopening.discard(uuid)

    def run_of(self, uuid: str) -> FollowerRun | None:
        return self._runs.get(uuid)

    def __repr__(self) -> str:
        shards = sum(len(r.tasks) for r in self._runs.values())
        return f"<FollowerTasks followers={len(self._runs)} shard_tasks={shards}>"


async def _stop_shard(run: FollowerRun, number: int) -> None:
    task = run.runs.pop(number, None)
    run.tasks.pop(number, None)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def static_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """The settings that differ between ``before`` and ``after`` and that only a closed index
    takes (ES's not-dynamic index settings); an unknown key counts as dynamic (ES leaves keys
    it does not know out of the update)."""
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return [
        key
        for key in changed
        if (setting := find(key, (Scope.INDEX,))) is not None and not setting.dynamic
    ]


def _synced(
    uuid: str, ccr: CcrMetadata, leader: LeaderIndexMetadataResponse
) -> Callable[[ClusterMetadata], ClusterMetadata]:
    """The metadata change that makes the follower's mapping, settings and aliases the
    leader's, each version moving only when its part changed."""
    mapping = IndexMapping(leader_mapping(leader.mapping))
    aliases = _follower_aliases(leader)

    def change(state: ClusterMetadata) -> ClusterMetadata:
        meta = state.by_uuid(uuid)
        if meta is None:
            raise IndexNotFoundError(ccr.leader_index_name)
        settings = synced_settings(meta.settings, leader.settings)
        changed = {
            "mapping": mapping.to_json() != meta.mapping.to_json(),
            "settings": settings != meta.settings,
            "aliases": aliases != meta.aliases,
        }
        if not any(changed.values()):
            return state
        updated = replace(
            meta,
            mapping=mapping,
            settings=settings,
            aliases=aliases,
            version=meta.version + 1,
            mapping_version=meta.mapping_version + changed["mapping"],
            settings_version=meta.settings_version + changed["settings"],
            aliases_version=meta.aliases_version + changed["aliases"],
        )
        return replace(state, indices={**state.indices, meta.name: updated})

    return change


def _set_state(uuid: str, *, open_: bool) -> Callable[[ClusterMetadata], ClusterMetadata]:
    """Open or close the follower as the index APIs do, with ES's
    ``MetadataIndexStateService`` lines."""

    def change(state: ClusterMetadata) -> ClusterMetadata:
        meta = state.by_uuid(uuid)
        if meta is None:
            raise IndexNotFoundError(uuid)
        wanted = "open" if open_ else "close"
        if meta.state == wanted:
            return state
        if open_:
            state_log.info("opening indices [[%s/%s]]", meta.name, meta.uuid)
        else:
            state_log.info("closing indices [%s/%s]", meta.name, meta.uuid)
        updated = replace(meta, state=wanted, version=meta.version + 1)
        out = replace(state, indices={**state.indices, meta.name: updated})
        if not open_:
            state_log.info("completed closing of indices [%s]", meta.name)
        return out

    return change


def _follower_aliases(leader: LeaderIndexMetadataResponse) -> dict[str, AliasMetadata]:
    return {
        alias: AliasMetadata.from_json(alias, body if isinstance(body, dict) else {})
        for alias, body in leader.aliases.items()
    }
