"""The follower side of cross-cluster replication: its APIs.

:class:`CcrService` answers ``PUT _ccr/follow``, ``pause_follow``, ``resume_follow`` and
``unfollow`` with ES's checks and messages. Each changes the follower's metadata (its follow task
record, see :mod:`isthmus.ccr.follower_index`); the follow tasks follow that metadata
(:mod:`isthmus.ccr.follower_tasks`).

Every API answers the same through any node of a cluster of several nodes: the changes go
through the elected master like any metadata change, and what only the nodes running a
follower's tasks know (their counters, a fatal failure) is asked of them
(:mod:`isthmus.ccr.follow_stats`).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from isthmus.ccr.bootstrap import copy_leases, release_leases, restore_follower, shards_to_copy
from isthmus.ccr.follow_privileges import IndexPrivilegesRequest, check_follow_privileges
from isthmus.ccr.follow_stats import FollowStats
from isthmus.ccr.follower_index import (
    CcrMetadata,
    FollowTaskRecord,
    check_override_settings,
    follower_metadata,
    is_following_index,
    unfollowed,
    with_task,
)
from isthmus.ccr.follower_tasks import FollowerRun, FollowerTasks, ReplicaWrite
from isthmus.ccr.leader_client import LeaderClient
from isthmus.ccr.params import FollowParameters, PutFollowRequest, enough_shards_active
from isthmus.ccr.placement import CcrPlacement
from isthmus.ccr.restore_ops import pending_restore, with_pending_restore
from isthmus.ccr.wire import (
    LeaderIndexMetadataResponse,
    RetentionLeaseRequest,
    retention_lease_id,
)
from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.cluster.data_streams import DataStream, follow_backing_index
from isthmus.cluster.metadata import (
    ClusterMetadata,
    IndexMetadata,
    new_uuid,
    validate_index_name,
)
from isthmus.cluster.new_index import check_new_index
from isthmus.cluster.routing import ShardId
from isthmus.cluster.service import ClusterService
from isthmus.errors import (
    IllegalArgumentError,
    IndexNotFoundError,
    IsthmusError,
    ResourceAlreadyExistsError,
    RetentionLeaseNotFoundError,
    TaskAlreadyExistsError,
)
from isthmus.index.service import IndicesService
from isthmus.supervision import TaskSet

if TYPE_CHECKING:
    from isthmus.remote.service import RemoteClusterService
    from isthmus.security.authz import Subject

log = logging.getLogger("org.elasticsearch.xpack.ccr.action.ShardFollowTasksExecutor")

ES_VERSION_ID = "8518000"
# How often a put follow that waits for active shard copies looks again.
ACTIVE_SHARDS_POLL_S = 0.05


class CcrService:
    """The follower-side APIs; the follow tasks themselves are :attr:`tasks`'s."""

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
        self.remote = remote
        self.cluster_name = cluster_name
        self._clock = clock
        # Put follows that answered before their copy ended (wait_for_active_shards 0), by
        # follower name → its uuid; their copies run in _background.
        self._creating: dict[str, str] = {}
        self._background = TaskSet("ccr put follow", log)
        self.tasks = FollowerTasks(
            cluster,
            indices,
            remote,
            cluster_name=cluster_name,
            renew_interval_s=renew_interval_s,
            subject_lookup=subject_lookup,
            clock=clock,
        )
        self.stats = FollowStats(self.tasks)

    def distribute(self, placement: CcrPlacement, replicate: ReplicaWrite | None) -> None:
        """A cluster of several nodes: each shard's task on its primary's node."""
        self.tasks.distribute(placement, replicate)

    async def apply(self, old: ClusterMetadata, new: ClusterMetadata) -> None:
        """Applier of the cluster metadata: the follow tasks follow it."""
        await self.tasks.apply(old, new)

    async def close(self) -> None:
        await self._background.close()
        await self.tasks.close()

    # --- the APIs --------------------------------------------------------------------------

    async def follow(self, request: PutFollowRequest, subject: Subject | None) -> dict[str, bool]:
        """``PUT /<follower>/_ccr/follow`` (ES's ``TransportPutFollowAction``).

        With ``wait_for_active_shards`` 0 (the default) ES answers once the copy of the leader
        has started, before it ends and before following starts: ``follow_index_shards_acked``
        and ``index_following_started`` are false. Otherwise it waits for the copy, starts
        following, then waits up to its timeout for that many active copies of each follower
        shard and says in ``follow_index_shards_acked`` whether they came."""
        name = request.follower_index
        validate_index_name(name)
        check_override_settings(request.settings)
        existing = self.cluster.state.indices.get(name)
        if existing is not None:
            raise ResourceAlreadyExistsError(name, existing.uuid)
        if name in self._creating:  # its copy is running: ES's index exists while it restores
            raise ResourceAlreadyExistsError(name, self._creating[name])
        client = LeaderClient(self.remote, request.remote_cluster, subject, policy="reconnect")
        leader = await client.index_metadata(request.leader_index)
        _check_leader(leader)
        stream = _local_stream(request, leader)
        if stream is not None:  # refused now rather than after a copy (checked again at the end)
            follow_backing_index(self.cluster.state, *stream, now_ms=0)
        if subject is not None:
            await _check_privileges(client, leader)
        uuid = new_uuid()
        # A shard whose leader no longer holds its whole history is copied first (ES's
        # restore); the follower index then opens on the copies and follows from there.
        to_copy = await shards_to_copy(client, leader)
        distributed = self.tasks.placement.distributed
        # A cluster of several nodes copies on the node each shard's primary is allocated to,
        # once the index exists (isthmus.ccr.restore_ops); a cluster of one before.
        shard_dirs = (
            {} if distributed else {n: self.tasks.indices.shard_dir(uuid, n) for n in to_copy}
        )
        record = FollowTaskRecord(request.parameters, subject.username if subject else None)
        meta = follower_metadata(
            name=name,
            uuid=uuid,
            now_ms=int(time.time() * 1000),
            version_created=ES_VERSION_ID,
            leader=leader,
            remote_cluster=request.remote_cluster,
            overrides=request.settings,
            task=record,
        )
        if distributed and to_copy:
            meta = with_pending_restore(meta, frozenset(to_copy))
        self.tasks.subjects[uuid] = subject
        create = self._create(request, client, leader, meta, shard_dirs)
        if request.wait_for_active_shards == "0":
            if shard_dirs:
                # The copy goes on after the answer, as ES's restore does.
                self._creating[name] = uuid
                self._background.spawn(self._create_later(request, create), name=f"put {name}")
            else:
                await create
            return _put_follow_response(shards_acked=False, following_started=False)
        await create
        acked = await self._wait_for_active_shards(
            name, request.wait_for_active_shards, request.wait_timeout.seconds
        )
        return _put_follow_response(shards_acked=acked, following_started=True)

    async def _create(
        self,
        request: PutFollowRequest,
        client: LeaderClient,
        leader: LeaderIndexMetadataResponse,
        meta: IndexMetadata,
        shard_dirs: dict[int, Path],
    ) -> None:
        """Copy what needs copying, then add the follower to the metadata (its follow tasks
        start); a failure leaves neither copies nor leases behind."""
        name = meta.name
        lease = retention_lease_id(
            self.cluster_name, name, meta.uuid, request.remote_cluster, leader.index, leader.uuid
        )

        stream = _local_stream(request, leader)

        def change(state: ClusterMetadata) -> ClusterMetadata:
            check_new_index(state, name)
            state = replace(state, indices={**state.indices, name: meta})
            if stream is not None:  # the index joins its local data stream in the same change
                state = follow_backing_index(state, *stream, now_ms=meta.creation_date)
            return state

        try:
            await restore_follower(client, leader, shard_dirs, lease, self.tasks.renew_interval_s)
            try:
                await self.cluster.submit(f"put-follow [{name}]", change)
            except BaseException:
                for shard_dir in shard_dirs.values():
                    await asyncio.to_thread(shutil.rmtree, shard_dir.parent, True)
                await release_leases(client, copy_leases(leader, shard_dirs, lease))
                raise
        except BaseException:
            self.tasks.subjects.pop(meta.uuid, None)
            raise

    async def _create_later(self, request: PutFollowRequest, create: Awaitable[None]) -> None:
        """A put follow that answered before its copy ended: its failure can only be logged
        (ES logs it at DEBUG, next to the red index its failed restore leaves; here no index
        is left behind, so the line is a WARN)."""
        try:
            await create
        except Exception as exc:
            log.warning(
                "put follow [%s] of [%s:%s] failed during the restore process\n%s",
                request.follower_index,
                request.remote_cluster,
                request.leader_index,
                exc.log_lines() if isinstance(exc, IsthmusError) else repr(exc),
            )
        finally:
            self._creating.pop(request.follower_index, None)

    async def _wait_for_active_shards(self, name: str, wanted: str, timeout_s: float) -> bool:
        """ES's ``ActiveShardsObserver``: true once each shard of ``name`` has the copies
        ``wanted`` asks for, false when ``timeout_s`` passes first. In a cluster of one a node
        holds a shard's primary only: replicas are never assigned, so ``all`` of an index with
        replicas waits out the timeout, as it does on a one-node ES cluster. In a cluster of
        several nodes the routing table's started copies count, and none while the leader's
        shards are still being copied (ES's restoring shards are not active). An index deleted
        meanwhile counts as enough, as ES counts it."""
        deadline = self._clock.monotonic() + timeout_s
        while True:
            meta = self.cluster.state.indices.get(name)
            if meta is None:
                return True
            if meta.is_open and not pending_restore(meta):
                active = [
                    self._active_copies(ShardId(meta.uuid, n, name))
                    for n in range(meta.number_of_shards)
                ]
                if enough_shards_active(wanted, active, meta.number_of_replicas):
                    return True
            left = deadline - self._clock.monotonic()
            if left <= 0:
                return False
            await self._clock.sleep(min(ACTIVE_SHARDS_POLL_S, left))

    def _active_copies(self, shard_id: ShardId) -> int:
        """The started copies of a shard (a cluster of one: its primary, once open here)."""
        placement = self.tasks.placement
        if placement.distributed:
            return len(placement.copies.readable(shard_id))
        return int(self.tasks.indices.shard(shard_id) is not None)

    async def pause(self, name: str) -> dict[str, bool]:
        """``POST /<follower>/_ccr/pause_follow``: ES's checks, then the task record goes."""

        def change(state: ClusterMetadata) -> ClusterMetadata:
            meta = state.indices.get(name)
            if meta is None:
                raise IndexNotFoundError(name)
            if CcrMetadata.of(meta) is None:
                raise IllegalArgumentError(f"index [{name}] is not a follower index")
            if FollowTaskRecord.of(meta) is None:
                raise IllegalArgumentError(f"no shard follow tasks for [{name}]")
            return replace(state, indices={**state.indices, name: with_task(meta, None)})

        await self.cluster.submit(f"pause-follow [{name}]", change)
        return {"acknowledged": True}

    async def resume(
        self, name: str, parameters: FollowParameters, subject: Subject | None
    ) -> dict[str, bool]:
        """``POST /<follower>/_ccr/resume_follow``: validated against the leader as it is now."""
        meta = self.cluster.state.indices.get(name)
        if meta is None:
            raise IndexNotFoundError(name)
        ccr = CcrMetadata.of(meta)
        if ccr is None:
            raise IllegalArgumentError(f"follow index [{name}] does not have ccr metadata")
        run = self.tasks.run_of(meta.uuid)
        distributed = self.tasks.placement.distributed
        failed = await self.stats.failed(meta) if distributed else run is not None and run.failed
        if FollowTaskRecord.of(meta) is not None and not failed:
            raise TaskAlreadyExistsError(f"{meta.uuid}-0")
        client = LeaderClient(self.remote, ccr.remote_cluster, subject, policy="reconnect")
        leader = await client.index_metadata(ccr.leader_index_name)
        _validate_resume(name, meta, ccr, leader)
        if subject is not None:
            await _check_privileges(client, leader)
        record = FollowTaskRecord(parameters, subject.username if subject else None)
        self.tasks.subjects[meta.uuid] = subject
        uuid = meta.uuid

        def change(state: ClusterMetadata) -> ClusterMetadata:
            current = state.by_uuid(uuid)
            if current is None:
                raise IndexNotFoundError(name)
            return replace(state, indices={**state.indices, name: with_task(current, record)})

        if failed and distributed:
            # Its tasks run on other nodes too: every node stops them when the record goes,
            # and starts them again when it comes back.
            await self.cluster.submit(f"resume-follow [{name}]: stop failed tasks", _no_task(uuid))
        elif run is not None and run.failed:
            await self.tasks.stop(meta.uuid)  # a fatally stopped follower starts again
        await self.cluster.submit(f"resume-follow [{name}]", change)
        if self.tasks.run_of(meta.uuid) is None and not distributed:
            # The record was the same: the applier kept none.
            current = self.cluster.state.by_uuid(uuid)
            if current is not None and current.is_open:
                self.tasks.start(current)
        return {"acknowledged": True}

    async def unfollow(self, name: str) -> dict[str, bool]:
        """``POST /<follower>/_ccr/unfollow``: only a paused, closed follower; its leases on
        the leader are removed afterwards (as ES does once the metadata changed)."""
        before = self.cluster.state.indices.get(name)

        def change(state: ClusterMetadata) -> ClusterMetadata:
            meta = state.indices.get(name)
            if meta is None:
                raise IndexNotFoundError(name)
            if CcrMetadata.of(meta) is None:
                raise IllegalArgumentError(f"index [{name}] is not a follower index")
            if meta.is_open:
                raise IllegalArgumentError(
                    f"cannot convert the follower index [{name}] to a non-follower, because it "
                    "has not been closed"
                )
            if FollowTaskRecord.of(meta) is not None:
                raise IllegalArgumentError(
                    f"cannot convert the follower index [{name}] to a non-follower, because it "
                    "has not been paused"
                )
            return replace(state, indices={**state.indices, name: unfollowed(meta)})

        await self.cluster.submit(f"unfollow [{name}]", change)
        assert before is not None
        await self._remove_leases(before)
        return {"acknowledged": True}

    async def _remove_leases(self, meta: IndexMetadata) -> None:
        ccr = CcrMetadata.of(meta)
        if ccr is None:
            return
        lease = retention_lease_id(
            self.cluster_name,
            meta.name,
            meta.uuid,
            ccr.remote_cluster,
            ccr.leader_index_name,
            ccr.leader_index_uuid,
        )
        client = LeaderClient(self.remote, ccr.remote_cluster, None, policy="reconnect")
        for n in range(meta.number_of_shards):
            request = RetentionLeaseRequest(
                ccr.leader_index_name, n, lease, leader_index_uuid=ccr.leader_index_uuid
            )
            try:
                await client.remove_lease(request)
            except RetentionLeaseNotFoundError:
                continue  # ES treats a missing lease as removed
            except IsthmusError as exc:
                log.warning(
                    "[%s] failure while removing retention lease [%s] on leader primary shards\n%s",
                    meta.name,
                    lease,
                    exc.log_lines(),
                )
                raise IsthmusError(
                    f"{exc.java_name()}: {exc.reason}",
                    caused_by=exc,
                    extra={"failed_to_remove_retention_leases": lease},
                ) from None

    # --- introspection ---------------------------------------------------------------------

    def followers(self, state: ClusterMetadata) -> list[IndexMetadata]:
        return [m for m in state.indices.values() if CcrMetadata.of(m) is not None]

    def run_of(self, uuid: str) -> FollowerRun | None:
        return self.tasks.run_of(uuid)

    def __repr__(self) -> str:
        return f"<CcrService {self.tasks!r}>"


def _no_task(uuid: str) -> Callable[[ClusterMetadata], ClusterMetadata]:
    def change(state: ClusterMetadata) -> ClusterMetadata:
        current = state.by_uuid(uuid)
        if current is None:
            raise IndexNotFoundError(uuid)
        return replace(state, indices={**state.indices, current.name: with_task(current, None)})

    return change


def _put_follow_response(*, shards_acked: bool, following_started: bool) -> dict[str, bool]:
    return {
        "follow_index_created": True,
        "follow_index_shards_acked": shards_acked,
        "index_following_started": following_started,
    }


def _local_stream(
    request: PutFollowRequest, leader: LeaderIndexMetadataResponse
) -> tuple[str, str, DataStream] | None:
    """For a leader backing index: the local stream's name (``data_stream_name``, else the
    leader stream's), the follower's name and the leader's stream (ES's
    ``TransportPutFollowAction``, which lets the follower and its stream be renamed)."""
    if leader.data_stream is None:
        return None
    try:
        remote = DataStream.from_json(leader.data_stream)
    except (KeyError, TypeError, ValueError) as exc:
        raise IllegalArgumentError(
            f"leader index metadata has a malformed data stream: {exc}"
        ) from None
    return request.data_stream_name or remote.name, request.follower_index, remote


def _check_leader(leader: LeaderIndexMetadataResponse) -> None:
    if leader.settings.get("index.soft_deletes.enabled") == "false":
        raise IllegalArgumentError(
            f"leader index [{leader.index}] does not have soft deletes enabled"
        )
    if leader.state != "open":
        raise IllegalArgumentError("leader and follow index must be open")


async def _check_privileges(client: LeaderClient, leader: LeaderIndexMetadataResponse) -> None:
    """ES asks the leader, as the user, whether it may follow the leader index (has_privileges
    for indices:monitor/stats and shard_changes), and names each privilege it lacks."""
    answer = await client.has_privileges(IndexPrivilegesRequest((leader.index,)))
    check_follow_privileges(leader.index, answer)


def _validate_resume(
    name: str, meta: IndexMetadata, ccr: CcrMetadata, leader: LeaderIndexMetadataResponse
) -> None:
    """ES's ``TransportResumeFollowAction.validate``, with its messages."""
    if leader.uuid != ccr.leader_index_uuid:
        raise IllegalArgumentError(
            f"follow index [{name}] should reference [{leader.uuid}] as leader index but "
            f"instead reference [{ccr.leader_index_uuid}] as leader index"
        )
    for n, (recorded, actual) in enumerate(
        zip(ccr.shard_history_uuids, leader.shard_history_uuids, strict=False)
    ):
        if recorded != actual:
            raise IllegalArgumentError(
                f"leader shard [{name}][{n}] should reference [{recorded}] as history uuid but "
                f"instead reference [{actual}] as history uuid"
            )
    _check_leader(leader)
    if leader.number_of_shards != meta.number_of_shards:
        raise IllegalArgumentError(
            f"leader index primary shards [{leader.number_of_shards}] does not match with the "
            f"number of shards of the follow index [{meta.number_of_shards}]"
        )
    if not meta.is_open:
        raise IllegalArgumentError("leader and follow index must be open")
    if not is_following_index(meta):
        raise IllegalArgumentError(
            f"the following index [{name}] is not ready to follow; the setting "
            "[index.xpack.ccr.following_index] must be enabled."
        )
