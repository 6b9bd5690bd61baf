"""The cluster service: the current metadata, and the one path by which it changes.

Every change is a pure function ``ClusterMetadata → ClusterMetadata`` submitted to
:meth:`ClusterService.submit`; changes run one at a time (the role ES gives the elected master),
are persisted before they are visible, and then handed to appliers (the indices service opens or
drops shards). Readers take :attr:`state`, an immutable snapshot.

In a cluster of several nodes (:meth:`ClusterService.replicate_through` set by the node) a change
is proposed to the elected master instead of being persisted here
(:mod:`isthmus.cluster.state_replication`): it runs on this node's latest applied state, again
on a newer one when another change won the race, and the call returns once this node applied
the published result (:meth:`ClusterService.install`, which every published state goes through).
A change with ``local=True`` (the settings layers etcd already shares) stays on this node.

A change submitted with ``durable=False`` is one the node re-derives by itself (the disk
monitor's flood-stage block): when the disk is too full to persist it, it is applied in memory
anyway and written with the next change that persists.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from isthmus.cluster.metadata import ClusterMetadata, new_uuid
from isthmus.cluster.store import ClusterStore
from isthmus.errors import CoordinationUnavailableError, StorageFullError

if TYPE_CHECKING:
    from isthmus.cluster.state_replication import StateReplication

log = logging.getLogger("org.elasticsearch.cluster.service.MasterService")

Applier = Callable[[ClusterMetadata, ClusterMetadata], Awaitable[None]]


class ClusterService:
    def __init__(
        self, store: ClusterStore, node_settings: AbcMapping[str, Any] | None = None
    ) -> None:
        """``node_settings``: the node's yml/-E settings, under the dynamic cluster settings."""
        self._store = store
        loaded = store.load()
        if loaded is None:
            loaded = ClusterMetadata(cluster_uuid=new_uuid())
            store.save(loaded)
        self._state = replace(loaded, node_settings=dict(node_settings or {}))
        self._lock = asyncio.Lock()  # one submission at a time
        self._apply_lock = asyncio.Lock()  # one state change (and its appliers) at a time
        self._appliers: list[Applier] = []
        self._replication: StateReplication | None = None
        self._installed = asyncio.Condition()
        # Run on every replicated change before it is proposed (the allocation of new shards).
        self.post_change: Callable[[ClusterMetadata], ClusterMetadata] | None = None

    def replicate_through(self, replication: StateReplication) -> None:
        """This node is part of a cluster of several nodes: changes go through the master."""
        self._replication = replication

    @property
    def replicated(self) -> bool:
        return self._replication is not None

    @property
    def state(self) -> ClusterMetadata:
        return self._state

    def add_applier(self, applier: Applier) -> None:
        self._appliers.append(applier)

    async def submit(
        self,
        source: str,
        change: Callable[[ClusterMetadata], ClusterMetadata],
        *,
        durable: bool = True,
        local: bool = False,
    ) -> ClusterMetadata:
        """Run ``change`` on the latest state, persist the result, apply it; returns it."""
        if self._replication is not None and not local:
            return await self._submit_replicated(source, change)
        # A replicated node's local changes do not wait behind a submission waiting for the
        # master (they only touch the settings layers).
        serial = self._lock if self._replication is None else contextlib.nullcontext()
        async with serial, self._apply_lock:
            old = self._state
            new = change(old)
            if new is old:
                return old
            if self._replication is None:
                new = replace(new, version=old.version + 1)
            try:
                await asyncio.to_thread(self._store.save, new)
            except StorageFullError:
                if durable:
                    raise
                log.warning(
                    "cluster state version [%s] from [%s] applied in memory only: the disk is "
                    "full (it is written with the next change that can be persisted)",
                    new.version,
                    source,
                )
            self._state = new
            log.debug("cluster state updated by [%s] to version [%s]", source, new.version)
            for applier in self._appliers:
                await applier(old, new)
            return new

    async def _submit_replicated(
        self, source: str, change: Callable[[ClusterMetadata], ClusterMetadata]
    ) -> ClusterMetadata:
        from isthmus.cluster.state_replication import SUBMIT_TIMEOUT_S, difference

        replication = self._replication
        assert replication is not None
        async with self._lock:
            while True:
                base = self._state
                new = change(base)
                if new is base:
                    return base
                new = replace(new, version=base.version + 1)
                if self.post_change is not None:
                    new = self.post_change(new)
                answer = await replication.propose(difference(base, new))
                wanted = int(answer.get("version", answer.get("conflict", 0)))
                try:
                    async with asyncio.timeout(SUBMIT_TIMEOUT_S), self._installed:
                        await self._installed.wait_for(functools.partial(self._reached, wanted))
                except TimeoutError:
                    raise CoordinationUnavailableError(
                        f"the cluster state of version [{wanted}] from [{source}] was not "
                        f"applied on this node within [{SUBMIT_TIMEOUT_S:.0f}s]"
                    ) from None
                if "version" in answer:
                    log.debug("cluster state change [%s] published as version [%s]", source, wanted)
                    return self._state

    def _reached(self, version: int) -> bool:
        return self._state.version >= version

    async def install(self, new: ClusterMetadata, source: str) -> None:
        """A published cluster state becomes this node's (settings layers and the node's own
        settings are kept: they are not part of a publication)."""
        async with self._apply_lock:
            old = self._state
            new = replace(
                new,
                persistent=old.persistent,
                transient=old.transient,
                node_settings=old.node_settings,
            )
            try:
                await asyncio.to_thread(self._store.save, new)
            except StorageFullError:
                log.warning(
                    "cluster state version [%s] applied in memory only: the disk is full",
                    new.version,
                )
            self._state = new
            log.debug("applying cluster state version [%s] (%s)", new.version, source)
            for applier in self._appliers:
                try:
                    await applier(old, new)
                except Exception:
                    log.exception("failed to apply cluster state version [%s]", new.version)
        async with self._installed:
            self._installed.notify_all()

    def __repr__(self) -> str:
        return f"<ClusterService version={self._state.version} indices={len(self._state.indices)}>"
