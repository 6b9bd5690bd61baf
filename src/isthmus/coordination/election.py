"""The elected master: a key on the winner's lease; its term is the key's create revision.

Owns: campaigning (create the master key if absent, in one transaction), knowing at every moment
whether this node holds it, giving it up (``resign``: revoke the lease, the key disappears at
once) and telling observers who the master is (:class:`MasterObserver`, a watch on the key).

Rules:

- Terms strictly increase across elections (etcd revisions do), so a term names one reign; a
  publication fenced on ``create_revision(master) == term`` can only come from that reign.
- The holder drops mastership at once (``on_lost``) when its lease is lost or when the key is
  deleted or replaced behind its back; it never waits for etcd to say so.
- Who wins is decided by etcd's transaction, never here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.etcd_records import Compare, Get, KeyValue, Put, RangeResult
from isthmus.coordination.keys import ClusterKeys
from isthmus.coordination.leases import KeptLease
from isthmus.errors import (
    CoordinationError,
    CoordinationUnavailableError,
    WatchCompactedError,
)
from isthmus.supervision import TaskSet

log = logging.getLogger("isthmus.coordination.election")


@dataclass(frozen=True, slots=True)
class MasterInfo:
    node_id: str
    term: int  # the master key's create revision
    lease: int
    description: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_kv(cls, kv: KeyValue) -> MasterInfo:
        try:
            body = json.loads(kv.value)
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        return cls(str(body.get("node_id", "")), kv.create_revision, kv.lease, body)


MasterCallback = Callable[[MasterInfo | None], None]


class MasterObserver:
    """Who the master is, kept current by a watch on the master key."""

    def __init__(
        self,
        client: EtcdClient,
        keys: ClusterKeys,
        *,
        on_change: MasterCallback | None = None,
        watch_idle_timeout: float | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._idle_timeout = watch_idle_timeout
        self._listeners: list[MasterCallback] = [on_change] if on_change else []
        self.current: MasterInfo | None = None
        self.revision = 0  # the store's revision up to which the master key has been seen
        self._changed = asyncio.Event()
        self._tasks = TaskSet(f"master observer [{keys.cluster_name}]", log)
        self._started = False

    def add_listener(self, listener: MasterCallback) -> None:
        self._listeners.append(listener)

    def __repr__(self) -> str:
        master = f"{self.current.node_id}@{self.current.term}" if self.current else "none"
        return f"<MasterObserver {self._keys.cluster_name} master={master}>"

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        revision = await self._read()
        self._tasks.spawn(self._follow(revision), name="watch master")

    async def _read(self) -> int:
        found = await self._client.get(self._keys.master)
        kv = found.first()
        self.revision = max(self.revision, found.revision)
        self._set(MasterInfo.from_kv(kv) if kv else None)
        return found.revision

    def _set(self, info: MasterInfo | None) -> None:
        if info == self.current:
            self._changed.set()  # the revision moved on: wake waiters on it
            self._changed = asyncio.Event()
            return
        self.current = info
        self._changed.set()
        self._changed = asyncio.Event()
        for listener in self._listeners:
            listener(info)

    async def _follow(self, revision: int) -> None:
        while True:
            try:
                stream = self._client.watch(
                    self._keys.master,
                    start_revision=revision + 1,
                    progress_notify=True,
                    idle_timeout=self._idle_timeout,
                )
                try:
                    async for answer in stream:
                        for event in answer.events:
                            revision = event.kv.mod_revision
                            self.revision = max(self.revision, revision)
                            put = event.type == "PUT"
                            self._set(MasterInfo.from_kv(event.kv) if put else None)
                        if answer.is_progress:
                            revision = max(revision, answer.revision)
                finally:
                    await stream.aclose()
            except WatchCompactedError:
                revision = await self._read()
            except CoordinationError as exc:
                log.warning("watching the master key failed: %s; retrying", exc.reason)
                await asyncio.sleep(0.5)

    async def wait_for(
        self, predicate: Callable[[MasterInfo | None], bool], timeout: float | None = None
    ) -> MasterInfo | None:
        """Wait until ``predicate(current)`` holds; returns that master (or None)."""
        async with asyncio.timeout(timeout):
            while not predicate(self.current):
                await self._changed.wait()
        return self.current

    async def close(self) -> None:
        await self._tasks.close()


class Election:
    """This node's candidacy. ``campaign()`` returns the term once elected; ``on_elected`` and
    ``on_lost`` tell the node when mastership starts and ends."""

    def __init__(
        self,
        client: EtcdClient,
        keys: ClusterKeys,
        node_id: str,
        *,
        description: Mapping[str, Any] | None = None,
        ttl: int = 5,
        on_elected: Callable[[int], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
        watch_idle_timeout: float | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self.node_id = node_id
        self._value = json.dumps({**(description or {}), "node_id": node_id}).encode()
        self._lease = KeptLease(client, ttl, name=f"master {node_id}", on_lost=self._lease_lost)
        self.observer = MasterObserver(
            client, keys, on_change=self._master_changed, watch_idle_timeout=watch_idle_timeout
        )
        self._on_elected = on_elected
        self._on_lost = on_lost
        self.term: int | None = None
        self.elections_won = 0
        self._holder_term = 0  # the term of the master that beat the last attempt

    @property
    def is_master(self) -> bool:
        return self.term is not None

    def __repr__(self) -> str:
        role = f"master term={self.term}" if self.term else "candidate"
        return f"<Election {self.node_id} {role} won={self.elections_won}>"

    async def campaign(self, timeout: float | None = None) -> int:
        """Become master: try to create the master key; while another node holds it, wait for
        the key to go and try again. Returns the term."""
        await self.observer.start()
        async with asyncio.timeout(timeout):
            while True:
                try:
                    term = await self.try_acquire()
                except CoordinationUnavailableError as exc:
                    # Retrying is safe: a win whose answer was lost is recognised by the lease.
                    log.debug("campaign of [%s] retries: %s", self.node_id, exc.reason)
                    await asyncio.sleep(0.1)
                    continue
                if term is not None:
                    return term
                await self._wait_for_vacancy(self._holder_term)

    async def _wait_for_vacancy(self, holder: int) -> None:
        """Wait until the master of term ``holder`` is gone: first until the observer has seen
        that master's key (its watch may lag the transaction), then until the key changes."""
        observer = self.observer
        await observer.wait_for(lambda _: observer.revision >= holder)
        await observer.wait_for(lambda m: m is None or m.term != holder)

    async def try_acquire(self) -> int | None:
        """One attempt: the term if this node is (now) the master, None if another node is."""
        if self.term is not None:
            return self.term
        if not self._lease.alive:
            await self._lease.grant()
        master = self._keys.master
        result = await self._client.txn(
            [Compare.create_revision(master, 0)],
            [Put(master, self._value, lease=self._lease.id)],
            [Get(master)],
        )
        if result.succeeded:
            if not self._lease.alive:  # lost between the grant and the win: the key is gone
                return None
            self.term = result.revision
            self.elections_won += 1
            log.info("elected master [%s] with term [%d]", self.node_id, self.term)
            if self._on_elected is not None:
                self._on_elected(self.term)
            return self.term
        holder = result.responses[0]
        if isinstance(holder, RangeResult) and (kv := holder.first()) is not None:
            self._holder_term = kv.create_revision
            if kv.lease == self._lease.id and kv.lease:  # our own key from a lost reply
                self.term = kv.create_revision
                self.elections_won += 1
                if self._on_elected is not None:
                    self._on_elected(self.term)
                return self.term
        return None

    def _drop(self, reason: str) -> None:
        if self.term is None:
            return
        log.warning("master [%s] lost mastership of term [%d]: %s", self.node_id, self.term, reason)
        self.term = None
        if self._on_lost is not None:
            self._on_lost(reason)

    def _lease_lost(self, reason: str) -> None:
        self._drop(f"its election lease was lost: {reason}")

    def _master_changed(self, info: MasterInfo | None) -> None:
        if self.term is not None and (info is None or info.term != self.term):
            self._drop("the master key was deleted or replaced")

    async def resign(self) -> None:
        """Give mastership up now: not master from this call on, the key gone with the lease
        (the next candidate is elected as soon as its watch sees the deletion)."""
        self.term = None
        await self._lease.revoke()

    async def close(self, *, resign: bool = True) -> None:
        if resign:
            try:
                await self.resign()
            except CoordinationError as exc:
                log.warning("could not revoke the election lease: %s", exc.reason)
        else:
            self.term = None
            await self._lease.close()
        await self.observer.close()
