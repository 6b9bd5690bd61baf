"""The cluster service: the current metadata, and the one path by which it changes.

Every change is a pure function ``ClusterMetadata → ClusterMetadata`` submitted to
:meth:`ClusterService.submit`; changes run one at a time (the role ES gives the elected master),
are persisted before they are visible, and then handed to appliers (the indices service opens or
drops shards). Readers take :attr:`state`, an immutable snapshot.

A change submitted with ``durable=False`` is one the node re-derives by itself (the disk
monitor's flood-stage block): when the disk is too full to persist it, it is applied in memory
anyway and written with the next change that persists.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import replace
from typing import Any

from isthmus.cluster.metadata import ClusterMetadata, new_uuid
from isthmus.cluster.store import ClusterStore
from isthmus.errors import StorageFullError

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
        self._lock = asyncio.Lock()
        self._appliers: list[Applier] = []

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
    ) -> ClusterMetadata:
        """Run ``change`` on the latest state, persist the result, apply it; returns it."""
        async with self._lock:
            old = self._state
            new = change(old)
            if new is old:
                return old
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

    def __repr__(self) -> str:
        return f"<ClusterService version={self._state.version} indices={len(self._state.indices)}>"
