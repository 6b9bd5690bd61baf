"""The follow tasks of this node's followers: started and stopped as the metadata says.

:class:`FollowerTasks` keeps one :class:`ShardFollowTask` per shard of every follower whose
follow task is recorded (see :mod:`isthmus.ccr.follower_index`). It is an applier of the cluster
metadata, so a follow task starts when its record appears and the index is open (at node start
too: following survives a restart) and stops when the record goes (pause), the index closes or
is deleted. A task that failed fatally stays listed with its ``fatal_exception`` until resumed
or paused. It also gives each task what it writes with: the follower shard's
``apply_replicated`` and the sync of the leader's mapping, settings and aliases.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from isthmus.ccr.follower_index import (
    CcrMetadata,
    FollowTaskRecord,
    leader_mapping,
    synced_settings,
)
from isthmus.ccr.leader_client import LeaderClient
from isthmus.ccr.shard_task import (
    ApplyOps,
    MetadataVersions,
    ShardFollowSpec,
    ShardFollowTask,
    SyncMetadata,
)
from isthmus.ccr.wire import LeaderIndexMetadataResponse, ReplicatedOp, retention_lease_id
from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.cluster.metadata import AliasMetadata, ClusterMetadata, IndexMetadata
from isthmus.cluster.routing import ShardId
from isthmus.cluster.service import ClusterService
from isthmus.errors import IndexClosedError, IndexNotFoundError, IsthmusError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.index.service import IndicesService
from isthmus.settings.catalog import find
from isthmus.settings.registry import Scope
from isthmus.supervision import TaskSet

if TYPE_CHECKING:
    from isthmus.remote.service import RemoteClusterService
    from isthmus.security.authz import Subject

log = logging.getLogger("org.elasticsearch.xpack.ccr.action.ShardFollowTasksExecutor")
state_log = logging.getLogger("org.elasticsearch.cluster.metadata.MetadataIndexStateService")


@dataclass
class FollowerRun:
    """The running (or fatally stopped) follow tasks of one follower index."""

    index: str
    uuid: str
    ccr: CcrMetadata
    record: FollowTaskRecord
    tasks: list[ShardFollowTask] = field(default_factory=list)
    runs: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(t.status.fatal_exception is not None for t in self.tasks)


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
            if meta is None and uuid in self._reopening:
                meta = new.by_uuid(uuid)
            if meta is None or FollowTaskRecord.of(meta) != run.record:
                await self.stop(uuid)
        for uuid, meta in wanted.items():
            if uuid not in self._runs:
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
        ccr = CcrMetadata.of(meta)
        record = FollowTaskRecord.of(meta)
        if ccr is None or record is None:
            return
        run = FollowerRun(meta.name, meta.uuid, ccr, record)
        client = LeaderClient(self.remote, ccr.remote_cluster, self._subject_for(meta, record))
        lease = retention_lease_id(
            self.cluster_name,
            meta.name,
            meta.uuid,
            ccr.remote_cluster,
            ccr.leader_index_name,
            ccr.leader_index_uuid,
        )
        parameters = record.parameters.resolved()
        # One syncer for the index's shard tasks: a sync (a close and reopen among them) runs
        # once at a time, and the next one finds the follower already up to date.
        syncer = self._metadata_syncer(meta.uuid, client, ccr)
        for n in range(meta.number_of_shards):
            shard_id = ShardId(meta.uuid, n, meta.name)
            shard = self.indices.shard(shard_id)
            checkpoint = shard.engine.local_checkpoint if shard is not None else -1
            history = ccr.shard_history_uuids[n] if n < len(ccr.shard_history_uuids) else ""
            spec = ShardFollowSpec(
                follower=shard_id,
                remote_cluster=ccr.remote_cluster,
                leader_index=ccr.leader_index_name,
                leader_index_uuid=ccr.leader_index_uuid,
                history_uuid=history,
                lease_id=lease,
                parameters=parameters,
                renew_interval_s=self.renew_interval_s,
            )
            task = ShardFollowTask(
                spec,
                client,
                self._applier(shard_id),
                syncer,
                checkpoint=checkpoint,
                clock=self._clock,
            )
            run.tasks.append(task)
            run.runs.append(self._tasks.spawn(task.run(), name=f"{shard_id}"))
        self._runs[meta.uuid] = run

    async def stop(self, uuid: str) -> None:
        run = self._runs.pop(uuid, None)
        if run is None:
            return
        for task in run.runs:
            task.cancel()
        await asyncio.gather(*run.runs, return_exceptions=True)

    def _applier(self, shard_id: ShardId) -> ApplyOps:
        cluster, indices = self.cluster, self.indices

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
