"""One follower shard's follow task: read the leader shard's history, apply it here.

ES's ``ShardFollowNodeTask``, in asyncio. The task owns its reads, its writer and its lease
renewal in one ``TaskGroup``; cancelling :meth:`ShardFollowTask.run` (pause, close, node stop)
stops all of them.

* **Reads.** While ``last_requested_seq_no`` is behind the leader's global checkpoint, up to
  ``max_outstanding_read_requests`` ranged reads of ``max_read_request_operation_count``
  operations (and ``max_read_request_size`` bytes) run at once; a read the leader answers short
  asks again for the rest. When caught up, one read waits at the leader for up to
  ``read_poll_timeout`` (long-poll). No read starts while the write buffer holds
  ``max_write_buffer_count`` operations or ``max_write_buffer_size`` bytes.
* **Writes.** Operations are buffered by ``_seq_no`` and applied in order, keeping the leader's
  ``_seq_no``, ``_primary_term`` and ``_version``, in batches bounded by
  ``max_write_request_operation_count`` and ``max_write_request_size``. Applying a contiguous
  prefix keeps the follower's checkpoint exact, so a restart resumes from it; one write runs at
  a time (a shard's engine writes one batch at a time anyway), which stays within
  ``max_outstanding_write_requests``.
* **Mappings, settings and aliases** are synced from the leader before the operations of a
  response whose mapping, settings or aliases version is newer than the follower's.
* **Failures** follow :mod:`isthmus.ccr.retry`: retried after a jittered back-off (ES's DEBUG
  line, ``read_exceptions`` in the stats) or fatal (ES's WARN line, ``fatal_exception``), after
  which the task stops until ``resume_follow``.
* **Retention lease**: added on the leader shard once the leader first answered a read (renewed
  when it already exists), then renewed every ``ccr.retention_leases.renew_interval`` at the
  follower's checkpoint + 1 (re-added when the leader let it expire). It is managed as the
  system, as ES does.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from isthmus.ccr.leader_client import LeaderApi
from isthmus.ccr.params import ResolvedParameters
from isthmus.ccr.retry import retry_delay_ms, should_retry
from isthmus.ccr.wire import ReplicatedOp, RetentionLeaseRequest, ShardChangesRequest
from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.cluster.routing import ShardId
from isthmus.errors import (
    IsthmusError,
    RetentionLeaseAlreadyExistsError,
    RetentionLeaseNotFoundError,
)

log = logging.getLogger("org.elasticsearch.xpack.ccr.action.ShardFollowNodeTask")
lease_log = logging.getLogger("org.elasticsearch.xpack.ccr.action.ShardFollowTasksExecutor")

# apply(ops) → the follower shard's checkpoint after applying them.
ApplyOps = Callable[[Sequence[ReplicatedOp]], Awaitable[int]]


@dataclass(frozen=True)
class MetadataVersions:
    """A leader index's mapping, settings and aliases versions."""

    mapping: int
    settings: int
    aliases: int

    def covers(self, other: MetadataVersions) -> bool:
        return (
            self.mapping >= other.mapping
            and self.settings >= other.settings
            and self.aliases >= other.aliases
        )


# sync(seen) → the leader's versions the follower's metadata now reflects.
SyncMetadata = Callable[[MetadataVersions], Awaitable[MetadataVersions]]


class FatalFollowError(Exception):
    """A failure the task does not retry; carries the cause shown as ``fatal_exception``."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class ShardFollowSpec:
    """What one shard's task follows: fixed for the task's life."""

    follower: ShardId
    remote_cluster: str
    leader_index: str
    leader_index_uuid: str
    history_uuid: str
    lease_id: str
    parameters: ResolvedParameters
    renew_interval_s: float = 30.0


@dataclass
class ShardFollowStatus:
    """The counters ES reports per shard in ``_ccr/stats``."""

    leader_global_checkpoint: int = -1
    leader_max_seq_no: int = -1
    follower_global_checkpoint: int = -1
    follower_max_seq_no: int = -1
    last_requested_seq_no: int = -1
    outstanding_read_requests: int = 0
    outstanding_write_requests: int = 0
    follower_mapping_version: int = 0
    follower_settings_version: int = 0
    follower_aliases_version: int = 0
    total_read_time_millis: int = 0
    total_read_remote_exec_time_millis: int = 0
    successful_read_requests: int = 0
    failed_read_requests: int = 0
    operations_read: int = 0
    bytes_read: int = 0
    total_write_time_millis: int = 0
    successful_write_requests: int = 0
    failed_write_requests: int = 0
    operations_written: int = 0
    # from_seq_no → (retries, error)
    read_exceptions: dict[int, tuple[int, BaseException]] = field(default_factory=dict)
    last_read_at: float | None = None
    fatal_exception: BaseException | None = None


def error_body(exc: BaseException) -> dict[str, Any]:
    """An error as ES renders one inside stats (``type``, ``reason``, causes)."""
    if isinstance(exc, IsthmusError):
        return exc.to_cause()
    return {"type": "exception", "reason": str(exc) or type(exc).__name__}


class ShardFollowTask:
    def __init__(
        self,
        spec: ShardFollowSpec,
        client: LeaderApi,
        apply: ApplyOps,
        sync_metadata: SyncMetadata,
        *,
        checkpoint: int,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.spec = spec
        self._client = client
        self._apply = apply
        self._sync_metadata = sync_metadata
        self._clock = clock
        self._rng = rng or random.Random()
        self.status = ShardFollowStatus(
            follower_global_checkpoint=checkpoint,
            follower_max_seq_no=checkpoint,
            last_requested_seq_no=checkpoint,
        )
        self._buffer: dict[int, ReplicatedOp] = {}
        self._buffer_bytes = 0
        self._wakeup = asyncio.Event()
        self._retries = 0
        self._mapping_lock = asyncio.Lock()
        # Set by the first read the leader answered: the lease is added after it (after a
        # restart the remote is usually still connecting; the read retries until it answers).
        self._leader_answered = asyncio.Event()

    # --- the task --------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow until cancelled, or until a fatal error (recorded in the status)."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._lease_loop())
                group.create_task(self._write_loop())
                await self._read_loop(group)
        except* FatalFollowError as failures:
            cause = failures.exceptions[0]
            assert isinstance(cause, FatalFollowError)
            self._fatal(cause.cause)
        finally:
            # A read counted when planned but cancelled before its task ran never uncounted
            # itself; with the group ended, none is outstanding.
            self.status.outstanding_read_requests = 0

    def fail(self, exc: BaseException) -> None:
        """Record ``exc`` as this shard's fatal failure without running (its copy failed)."""
        self._fatal(exc)

    def _fatal(self, exc: BaseException) -> None:
        self.status.fatal_exception = exc
        details = exc.log_lines() if isinstance(exc, IsthmusError) else repr(exc)
        log.warning(
            "%s shard follow task encounter non-retryable error\n%s", self.spec.follower, details
        )

    async def _backoff(self, exc: BaseException) -> None:
        """Wait before retrying after ``exc``, or raise it as fatal."""
        if not should_retry(exc):
            raise FatalFollowError(exc)
        self._retries += 1
        log.debug(
            "%s error during follow shard task, retrying [%s]",
            self.spec.follower,
            self._retries,
            exc_info=exc if not isinstance(exc, IsthmusError) else None,
        )
        max_ms = self.spec.parameters.max_retry_delay.millis
        await self._clock.sleep(retry_delay_ms(self._retries, max_ms, self._rng) / 1000)

    # --- reads -----------------------------------------------------------------------------

    def _buffer_full(self) -> bool:
        p = self.spec.parameters
        return (
            len(self._buffer) >= p.max_write_buffer_count
            or self._buffer_bytes >= p.max_write_buffer_size.bytes
        )

    async def _read_loop(self, group: asyncio.TaskGroup) -> None:
        p = self.spec.parameters
        s = self.status
        # The first read learns the leader's checkpoint without waiting.
        s.outstanding_read_requests += 1
        await self._read(s.last_requested_seq_no + 1, p.max_read_request_operation_count, 0)
        while True:
            while (
                s.outstanding_read_requests < p.max_outstanding_read_requests
                and s.last_requested_seq_no < s.leader_global_checkpoint
                and not self._buffer_full()
            ):
                start = s.last_requested_seq_no + 1
                count = min(
                    p.max_read_request_operation_count, s.leader_global_checkpoint - start + 1
                )
                s.last_requested_seq_no = start + count - 1
                # Counted when planned, not when its task first runs (ES counts a read as it
                # sends it): counted late, the check below saw none outstanding and planned a
                # long poll beside these reads; when they came back, the next ranged read
                # started where that poll still waited, and the leader served those operations
                # twice (~25 % of a steadily written leader's reads).
                s.outstanding_read_requests += 1
                group.create_task(self._read(start, count, 0))
            if s.outstanding_read_requests == 0 and not self._buffer_full():
                # Caught up: one read waits at the leader for what comes next.
                s.outstanding_read_requests += 1
                group.create_task(
                    self._read(
                        s.last_requested_seq_no + 1,
                        p.max_read_request_operation_count,
                        p.read_poll_timeout.millis,
                    )
                )
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _read(self, start: int, count: int, poll_ms: int) -> None:
        """One read, already counted in ``outstanding_read_requests`` by its caller."""
        s = self.status
        p = self.spec.parameters
        try:
            while count > 0:
                request = ShardChangesRequest(
                    leader_index=self.spec.leader_index,
                    shard=self.spec.follower.shard,
                    from_seq_no=start,
                    max_operation_count=count,
                    expected_history_uuid=self.spec.history_uuid,
                    max_batch_size=p.max_read_request_size.bytes,
                    poll_timeout_ms=poll_ms,
                    leader_index_uuid=self.spec.leader_index_uuid,
                )
                began = self._clock.monotonic()
                s.last_read_at = began
                try:
                    response = await self._client.shard_changes(request)
                except (IsthmusError, OSError) as exc:
                    s.total_read_time_millis += int((self._clock.monotonic() - began) * 1000)
                    s.failed_read_requests += 1
                    retries = s.read_exceptions.get(start, (0, exc))[0] + 1
                    s.read_exceptions[start] = (retries, exc)
                    await self._backoff(exc)
                    continue
                s.total_read_time_millis += int((self._clock.monotonic() - began) * 1000)
                s.total_read_remote_exec_time_millis += response.took_in_millis
                s.successful_read_requests += 1
                self._leader_answered.set()
                s.read_exceptions.pop(start, None)
                self._retries = 0
                s.leader_global_checkpoint = max(
                    s.leader_global_checkpoint, response.global_checkpoint
                )
                s.leader_max_seq_no = max(s.leader_max_seq_no, response.max_seq_no)
                await self._sync(
                    MetadataVersions(
                        response.mapping_version,
                        response.settings_version,
                        response.aliases_version,
                    )
                )
                ops = response.operations
                for op in ops:
                    if op.seq_no > s.follower_global_checkpoint and op.seq_no not in self._buffer:
                        self._buffer[op.seq_no] = op
                        self._buffer_bytes += op.size_in_bytes()
                    s.bytes_read += op.size_in_bytes()
                s.operations_read += len(ops)
                self._wakeup.set()
                if not ops:
                    return
                last = ops[-1].seq_no
                s.last_requested_seq_no = max(s.last_requested_seq_no, last)
                if poll_ms:
                    return  # a long-poll answer: the loop plans the next reads
                # The leader answered short (its byte bound): ask for the rest of the range.
                count -= last - start + 1
                start = last + 1
        finally:
            s.outstanding_read_requests -= 1
            self._wakeup.set()

    def _synced(self) -> MetadataVersions:
        s = self.status
        return MetadataVersions(
            s.follower_mapping_version, s.follower_settings_version, s.follower_aliases_version
        )

    async def _sync(self, seen: MetadataVersions) -> None:
        """Bring the follower's mapping, settings and aliases up to what the leader had when it
        answered, before the answer's operations are buffered."""
        async with self._mapping_lock:
            while not self._synced().covers(seen):
                try:
                    now = await self._sync_metadata(seen)
                except (IsthmusError, OSError) as exc:
                    await self._backoff(exc)
                    continue
                s = self.status
                s.follower_mapping_version = max(now.mapping, seen.mapping)
                s.follower_settings_version = max(now.settings, seen.settings)
                s.follower_aliases_version = max(now.aliases, seen.aliases)

    # --- writes ----------------------------------------------------------------------------

    def _next_batch(self) -> list[ReplicatedOp]:
        p = self.spec.parameters
        batch: list[ReplicatedOp] = []
        size = 0
        seq = self.status.follower_global_checkpoint + 1
        while seq in self._buffer and len(batch) < p.max_write_request_operation_count:
            op = self._buffer[seq]
            if batch and size + op.size_in_bytes() > p.max_write_request_size.bytes:
                break
            batch.append(op)
            size += op.size_in_bytes()
            seq += 1
        return batch

    async def _write_loop(self) -> None:
        s = self.status
        while True:
            batch = self._next_batch()
            if not batch:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            s.outstanding_write_requests += 1
            began = self._clock.monotonic()
            try:
                checkpoint = await self._apply(batch)
            except (IsthmusError, OSError) as exc:
                s.failed_write_requests += 1
                await self._backoff(exc)
                continue
            finally:
                s.outstanding_write_requests -= 1
                s.total_write_time_millis += int((self._clock.monotonic() - began) * 1000)
            self._retries = 0
            s.successful_write_requests += 1
            s.operations_written += len(batch)
            for op in batch:
                self._buffer_bytes -= op.size_in_bytes()
                del self._buffer[op.seq_no]
            s.follower_global_checkpoint = max(checkpoint, batch[-1].seq_no)
            s.follower_max_seq_no = max(s.follower_max_seq_no, s.follower_global_checkpoint)
            self._wakeup.set()

    # --- retention lease -------------------------------------------------------------------

    def _lease(self) -> RetentionLeaseRequest:
        return RetentionLeaseRequest(
            leader_index=self.spec.leader_index,
            shard=self.spec.follower.shard,
            lease_id=self.spec.lease_id,
            retaining_seq_no=self.status.follower_global_checkpoint + 1,
            leader_index_uuid=self.spec.leader_index_uuid,
        )

    async def _lease_loop(self) -> None:
        """Add the lease (renew it when it exists), then renew it periodically. A failure is
        logged and tried again at the next interval: following does not depend on it."""
        await self._leader_answered.wait()
        first = True
        while True:
            try:
                if first:
                    await self._add_or_renew()
                else:
                    await self._renew_or_add()
                first = False
            except (IsthmusError, OSError) as exc:
                lease_log.warning(
                    "%s background management of retention lease [%s] failed while following: %s",
                    self.spec.follower,
                    self.spec.lease_id,
                    exc,
                )
            await self._clock.sleep(max(self.spec.renew_interval_s, 0.05))

    async def _add_or_renew(self) -> None:
        try:
            await self._client.add_lease(self._lease())
        except RetentionLeaseAlreadyExistsError:
            await self._client.renew_lease(self._lease())

    async def _renew_or_add(self) -> None:
        try:
            await self._client.renew_lease(self._lease())
        except RetentionLeaseNotFoundError:
            await self._client.add_lease(self._lease())

    # --- introspection ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """This shard's entry in ``_ccr/stats`` (ES's field order)."""
        s = self.status
        since = (
            -1 if s.last_read_at is None else int((self._clock.monotonic() - s.last_read_at) * 1000)
        )
        out: dict[str, Any] = {
            "remote_cluster": self.spec.remote_cluster,
            "leader_index": self.spec.leader_index,
            "follower_index": self.spec.follower.index_name,
            "shard_id": self.spec.follower.shard,
            "leader_global_checkpoint": s.leader_global_checkpoint,
            "leader_max_seq_no": s.leader_max_seq_no,
            "follower_global_checkpoint": s.follower_global_checkpoint,
            "follower_max_seq_no": s.follower_max_seq_no,
            "last_requested_seq_no": s.last_requested_seq_no,
            "outstanding_read_requests": s.outstanding_read_requests,
            "outstanding_write_requests": s.outstanding_write_requests,
            "write_buffer_operation_count": len(self._buffer),
            "write_buffer_size_in_bytes": self._buffer_bytes,
            "follower_mapping_version": s.follower_mapping_version,
            "follower_settings_version": s.follower_settings_version,
            "follower_aliases_version": s.follower_aliases_version,
            "total_read_time_millis": s.total_read_time_millis,
            "total_read_remote_exec_time_millis": s.total_read_remote_exec_time_millis,
            "successful_read_requests": s.successful_read_requests,
            "failed_read_requests": s.failed_read_requests,
            "operations_read": s.operations_read,
            "bytes_read": s.bytes_read,
            "total_write_time_millis": s.total_write_time_millis,
            "successful_write_requests": s.successful_write_requests,
            "failed_write_requests": s.failed_write_requests,
            "operations_written": s.operations_written,
            "read_exceptions": [
                {"from_seq_no": start, "retries": retries, "exception": error_body(exc)}
                for start, (retries, exc) in sorted(s.read_exceptions.items())
            ],
            "time_since_last_read_millis": since,
        }
        if s.fatal_exception is not None:
            out["fatal_exception"] = error_body(s.fatal_exception)
        return out

    def __repr__(self) -> str:
        s = self.status
        return (
            f"<ShardFollowTask {self.spec.follower} leader={self.spec.remote_cluster}:"
            f"{self.spec.leader_index} checkpoint={s.follower_global_checkpoint} "
            f"leader_gcp={s.leader_global_checkpoint} buffer={len(self._buffer)}>"
        )
