"""The cluster state in etcd: published by the master in one fenced transaction, applied by
every node from a watch.

Owns: how a state (an opaque JSON ``meta`` object plus one JSON object per index uuid) is laid
out in keys (``state/meta``, ``state/index/<uuid>``), the publication transaction, and the
applier that turns the watch into whole states. What the JSON means (ClusterMetadata) is the
caller's.

Rules:

- A publication is one transaction fenced on ``create_revision(master) == term`` (this reign
  still holds the master key) and ``mod_revision(state/meta) == last`` (nobody published since
  this master's last publication, ES's "publish only on the latest state"). ``state/meta`` is
  written every time, so its mod revision is the state's revision.
- Only changed index keys are written, and removed indices deleted. etcd refuses a request over
  1.5 MiB and a transaction over 128 operations, so a larger publication is written in several
  transactions (all fenced), the ``state/meta`` write last: a state becomes visible only with
  its meta write, and the applier delivers a revision only when it wrote ``state/meta``.
- Failures say what is known: :class:`NotMasterError` — definitely not applied;
  :class:`FailedToCommitClusterStateError` — the answer was lost, it may have been applied.
- The applier hands over one whole state per revision (all events of one transaction arrive
  together), in order; after a compaction it re-reads everything at one revision.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.etcd_records import Compare, Delete, Get, Op, Put, RangeResult
from isthmus.coordination.keys import ClusterKeys
from isthmus.errors import (
    CoordinationError,
    CoordinationUnavailableError,
    FailedToCommitClusterStateError,
    NotMasterError,
    WatchCompactedError,
)
from isthmus.supervision import TaskSet

log = logging.getLogger("isthmus.coordination.publication")

# etcd's defaults (--max-request-bytes 1.5 MiB, --max-txn-ops 128); the request's framing and
# the two comparisons need a little room.
MAX_REQUEST_BYTES = 1_572_864 - 16_384
MAX_TXN_OPS = 128
GRPC_OUT_OF_RANGE = 11  # etcd's code for "required revision has been compacted"

JsonObject = Mapping[str, Any]


def _size(op: Op) -> int:
    return len(op.key) + (len(op.value) if isinstance(op, Put) else 0) + 16


def encode(body: JsonObject) -> bytes:
    """The stored form: canonical JSON, so an unchanged index encodes to the same bytes."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class PublishedState:
    """A whole cluster state as stored at ``revision``."""

    revision: int
    meta: JsonObject
    indices: Mapping[str, JsonObject]


class Publisher:
    """The master's side: ``publish(term, meta, indices)`` → the state's revision. The objects
    passed are treated as immutable: an index object published before is not encoded again."""

    def __init__(self, client: EtcdClient, keys: ClusterKeys) -> None:
        self._client = client
        self._keys = keys
        # What this master knows is stored: meta's mod revision and each index's bytes. None
        # until read (first publication) or after an outcome that left it unknown.
        self._last_revision: int | None = None
        self._stored: dict[str, bytes] = {}
        self._planned: dict[str, bytes] = {}  # the indices of the publication in flight
        self._bodies: dict[str, tuple[JsonObject, bytes]] = {}  # uuid → (object, its bytes)
        self._next_bodies: dict[str, tuple[JsonObject, bytes]] = {}
        self.publications = 0

    def __repr__(self) -> str:
        return (
            f"<Publisher {self._keys.cluster_name} last={self._last_revision} "
            f"indices={len(self._stored)} published={self.publications}>"
        )

    async def _load(self) -> None:
        found = await self._client.get(self._keys.state, prefix=True)
        self._last_revision = 0
        self._stored = {}
        for kv in found.kvs:
            if kv.key == self._keys.state_meta:
                self._last_revision = kv.mod_revision
            elif (uuid := self._keys.index_uuid(kv.key)) is not None:
                self._stored[uuid] = kv.value

    def _encoded(self, uuid: str, body: JsonObject) -> bytes:
        # The same object as in the last publication: its bytes are known (states are
        # immutable values: a caller never changes a published object in place).
        cached = self._bodies.get(uuid)
        if cached is not None and cached[0] is body:
            return cached[1]
        data = encode(body)
        self._next_bodies[uuid] = (body, data)
        return data

    def plan(self, meta: JsonObject, indices: Mapping[str, JsonObject]) -> list[list[Op]]:
        """The transactions that turn the stored state into this one, in order: the changed
        indices and deletions of removed ones in batches within etcd's limits, the last batch
        with ``state/meta`` (the write that makes the publication visible)."""
        self._next_bodies = {}
        encoded = {uuid: self._encoded(uuid, body) for uuid, body in indices.items()}
        self._planned = encoded
        changes: list[Op] = []
        for uuid, data in encoded.items():
            if self._stored.get(uuid) != data:
                changes.append(Put(self._keys.state_index(uuid), data))
        for uuid in self._stored:
            if uuid not in encoded:
                changes.append(Delete(self._keys.state_index(uuid)))
        meta_put = Put(self._keys.state_meta, encode(meta))
        batches: list[list[Op]] = [[]]
        size = _size(meta_put)  # the meta write goes with the last batch: keep room for it
        for op in changes:
            op_size = _size(op)
            if op_size + _size(meta_put) > MAX_REQUEST_BYTES:
                raise CoordinationError(
                    f"cluster state entry [{op.key.decode(errors='replace')}] is [{op_size}] "
                    f"bytes; etcd accepts at most [{MAX_REQUEST_BYTES}] in one request"
                )
            if len(batches[-1]) + 1 >= MAX_TXN_OPS or size + op_size > MAX_REQUEST_BYTES:
                batches.append([])
                size = _size(meta_put)
            batches[-1].append(op)
            size += op_size
        batches[-1].append(meta_put)
        return batches

    async def publish(self, term: int, meta: JsonObject, indices: Mapping[str, JsonObject]) -> int:
        """Publish the whole state (only differences are sent) as the master of ``term``.

        A publication too large for one transaction is written in several, each fenced the same
        way; appliers make nothing of the first ones visible until the last one writes
        ``state/meta``. A master that fails half-way leaves index keys that the next
        publication (by any master, which reads the store first) overwrites or deletes."""
        if self._last_revision is None:
            await self._load()
        last = self._last_revision or 0
        master = self._keys.master
        compare = [
            Compare.create_revision(master, term),
            Compare.mod_revision(self._keys.state_meta, last),
        ]
        revision = 0
        for batch in self.plan(meta, indices):
            try:
                result = await self._client.txn(
                    compare, batch, [Get(master), Get(self._keys.state_meta)]
                )
            except CoordinationUnavailableError as exc:
                if not exc.maybe_applied:
                    raise
                self._last_revision = None  # unknown now: read again before the next one
                raise FailedToCommitClusterStateError(
                    f"publication of term [{term}] may or may not have been committed: {exc.reason}"
                ) from exc
            if not result.succeeded:
                self._last_revision = None
                raise NotMasterError(self._refusal(term, last, result.responses))
            revision = result.revision
        self._last_revision = revision
        self._stored = self._planned
        kept = {
            u: self._bodies[u] for u in indices if u in self._bodies and u not in self._next_bodies
        }
        self._bodies = {**kept, **self._next_bodies}
        self._next_bodies = {}
        self.publications += 1
        return revision

    def _refusal(self, term: int, last: int, responses: tuple[Any, ...]) -> str:
        master, meta = (r.first() if isinstance(r, RangeResult) else None for r in responses)
        if master is None or master.create_revision != term:
            now = (
                "no master" if master is None else f"the master of term [{master.create_revision}]"
            )
            return f"no longer master: this node was master of term [{term}], etcd has {now}"
        current = meta.mod_revision if meta is not None else 0
        return (
            f"the cluster state changed since this master's last publication "
            f"(revision [{current}], expected [{last}])"
        )


StateCallback = Callable[[PublishedState], Awaitable[None] | None]


class StateApplier:
    """A node's side: every published state, whole and in order, handed to ``on_state``."""

    def __init__(
        self,
        client: EtcdClient,
        keys: ClusterKeys,
        on_state: StateCallback,
        *,
        watch_idle_timeout: float | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._on_state = on_state
        self._idle_timeout = watch_idle_timeout
        self.state: PublishedState | None = None
        # The working copy: every change seen, including index writes of a publication whose
        # meta write has not come yet.
        self._meta: JsonObject = {}
        self._indices: dict[str, JsonObject] = {}
        self.full_reads = 0
        self._changed = asyncio.Event()
        self._tasks = TaskSet(f"state applier [{keys.cluster_name}]", log)

    @property
    def revision(self) -> int:
        return self.state.revision if self.state is not None else 0

    def __repr__(self) -> str:
        return (
            f"<StateApplier {self._keys.cluster_name} revision={self.revision} "
            f"full_reads={self.full_reads}>"
        )

    async def start(self) -> None:
        revision = await self._read()
        self._tasks.spawn(self._follow(revision), name="watch state")

    async def _read(self) -> int:
        """The state of the last complete publication, read at the revision of its meta write
        (start, and after a compaction); returns the revision the watch goes on after. Index
        writes of a publication still in progress come from the watch, not from this read."""
        self.full_reads += 1
        head = await self._client.get(self._keys.state_meta)
        meta_kv = head.first()
        at = meta_kv.mod_revision if meta_kv is not None else head.revision
        try:
            found = await self._client.get(self._keys.state, prefix=True, revision=at)
        except CoordinationError as exc:
            if exc.code != GRPC_OUT_OF_RANGE:  # anything but "compacted"
                raise
            # The last publication is older than the kept history: read the present, in-progress
            # index writes included (the next meta write settles them).
            at = head.revision
            found = await self._client.get(self._keys.state, prefix=True, revision=at)
        self._meta, self._indices = {}, {}
        for kv in found.kvs:
            self._take("PUT", kv.key, kv.value)
        if meta_kv is not None and meta_kv.mod_revision != self.revision:
            await self._deliver(
                PublishedState(meta_kv.mod_revision, self._meta, dict(self._indices))
            )
        return at

    def _take(self, kind: str, key: bytes, value: bytes) -> bool:
        """One change into the working copy; True when it is the meta write."""
        if key == self._keys.state_meta:
            self._meta = _decode(value) if kind == "PUT" else {}
            return True
        uuid = self._keys.index_uuid(key)
        if uuid is not None:
            if kind == "PUT":
                self._indices[uuid] = _decode(value)
            else:
                self._indices.pop(uuid, None)
        return False

    async def _follow(self, revision: int) -> None:
        while True:
            try:
                stream = self._client.watch(
                    self._keys.state,
                    prefix=True,
                    start_revision=revision + 1,
                    progress_notify=True,
                    idle_timeout=self._idle_timeout,
                )
                try:
                    async for answer in stream:
                        for at, events in answer.by_revision():
                            revision = at
                            wrote_meta = False
                            for event in events:
                                wrote_meta |= self._take(event.type, event.kv.key, event.kv.value)
                            if wrote_meta:  # a publication is complete
                                state = PublishedState(at, self._meta, dict(self._indices))
                                await self._deliver(state)
                        if answer.is_progress:
                            revision = max(revision, answer.revision)
                finally:
                    await stream.aclose()
            except WatchCompactedError:
                revision = await self._read()
            except CoordinationError as exc:
                log.warning("watching the cluster state failed: %s; retrying", exc.reason)
                await asyncio.sleep(0.5)

    async def _deliver(self, state: PublishedState) -> None:
        self.state = state
        outcome = self._on_state(state)
        if inspect.isawaitable(outcome):
            await outcome
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_revision(self, revision: int, timeout: float | None) -> PublishedState:
        """Wait until the state of ``revision`` (or a later one) has been applied."""
        async with asyncio.timeout(timeout):
            while self.state is None or self.state.revision < revision:
                await self._changed.wait()
        return self.state

    async def close(self) -> None:
        await self._tasks.close()


def _decode(data: bytes) -> JsonObject:
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise CoordinationError(f"unreadable cluster state in etcd: {exc}") from None
    if not isinstance(body, dict):
        raise CoordinationError("unreadable cluster state in etcd: not a JSON object")
    return body
