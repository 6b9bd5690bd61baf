"""Dynamic cluster settings made cluster-wide in a cluster of several nodes, through etcd.

In ES ``PUT _cluster/settings`` through any node changes the cluster state every node applies:
``cluster.remote.x.seeds`` set through one node connects every node to ``x``. Here both layers
live in one etcd key, and every node applies them to its own metadata:

    /isthmus/<cluster>/settings/cluster   {"persistent": {...}, "transient": {...}}

Rules:

- An update reads the key, computes the new layers from them (validation included: it sees the
  cluster's layers, not this node's copy) and writes them with a transaction that holds only if
  the key's ``mod_revision`` is still the one read. Two updates through two nodes cannot lose
  each other's keys: the second one's comparison fails, and it is computed again on top of the
  first. The update is answered once every node of the cluster applied it
  (:mod:`isthmus.cluster.acknowledgements`), ``acknowledged: false`` when one did not within
  the request's ``timeout`` (ES's acknowledgement of a cluster state update).
- Every node follows the key with a watch and hands each version to ``apply`` (the cluster
  actions: this node's metadata, its settings consumers, the remote cluster connections). A
  watch whose start was compacted reads the key again.
- Joining: when etcd has no settings yet, this node's persistent settings seed them (a
  create-if-absent transaction: one node's win); otherwise the cluster's replace this node's.
- Transient settings live in the same key and, as in ES, do not survive a restart of the whole
  cluster: the first node to join a cluster where no other node is registered (every node key
  is on a lease, so none is left once all nodes stopped) drops them. A node restarted while
  others run keeps them. Nodes killed all at once and restarted before their leases expired
  (the lease TTL) still find each other's keys: the transient settings are kept then.
- etcd unreachable: the update fails with 503 (``master_not_discovered_exception``) and changes
  nothing; an answer lost after the transaction was sent is retried by reading again (the
  comparison fails if it was applied, and the recomputed layers are the same).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from isthmus.cluster.acknowledgements import Acknowledgements
from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.etcd_records import Compare, Put
from isthmus.coordination.keys import ClusterKeys
from isthmus.errors import (
    CoordinationError,
    CoordinationUnavailableError,
    IsthmusError,
    WatchCompactedError,
)

log = logging.getLogger("isthmus.cluster.settings_replication")

Layers = tuple[dict[str, Any], dict[str, Any]]  # (persistent, transient)
RETRY_S = 0.5


@dataclass(frozen=True, slots=True)
class SettingsReplicationInfo:
    applied_revision: int
    updates: int
    conflicts: int


def _decode(value: bytes) -> Layers:
    body = orjson.loads(value) if value else {}
    return dict(body.get("persistent") or {}), dict(body.get("transient") or {})


def _encode(layers: Layers) -> bytes:
    return orjson.dumps(
        {"persistent": layers[0], "transient": layers[1]}, option=orjson.OPT_SORT_KEYS
    )


class SettingsReplication:
    """One node's side: :meth:`update` (the PUT), :meth:`run` (in the node's task group)."""

    def __init__(
        self,
        cluster_name: str,
        apply: Callable[[dict[str, Any], dict[str, Any]], Awaitable[None]],
        own_persistent: Callable[[], Mapping[str, Any]],
        *,
        node_id: str,
        live_nodes: Callable[[], Collection[str]],
        timeout: float = 30.0,
    ) -> None:
        keys = ClusterKeys(cluster_name)
        root = keys.root + b"settings/"
        self._nodes = keys.nodes
        self._own_node_key = keys.node(node_id)
        self.key = root + b"cluster"
        self.acks = Acknowledgements(root, node_id, live_nodes)
        self._apply = apply
        self._own_persistent = own_persistent
        self.timeout = timeout
        self._client: EtcdClient | None = None
        self._applied = 0
        self._updates = 0
        self._conflicts = 0
        self._changed = asyncio.Event()
        self._joined = asyncio.Event()

    def __repr__(self) -> str:
        return f"<SettingsReplication applied={self._applied} updates={self._updates}>"

    def info(self) -> SettingsReplicationInfo:
        return SettingsReplicationInfo(self._applied, self._updates, self._conflicts)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def update(
        self,
        change: Callable[[dict[str, Any], dict[str, Any]], Layers],
        ack_timeout: float = 30.0,
    ) -> bool:
        """Apply ``change`` to the cluster's layers (compare-on-revision, recomputed on a
        conflict) and wait until this node applied them; returns whether every other node did
        within ``ack_timeout`` (ES's ``acknowledged``). Before this node joined the store, waits
        for it; 503 when the store does not answer within ``timeout``."""
        try:
            async with asyncio.timeout(self.timeout):
                client, revision = await self._commit(change)
        except TimeoutError:
            raise CoordinationUnavailableError(
                f"the cluster settings update did not complete within [{self.timeout}s]: the "
                "cluster's store did not answer (it may still be applied)"
            ) from None
        behind = await self.acks.wait(client, revision, ack_timeout)
        if behind:
            log.warning(
                "nodes %s did not apply the cluster settings of revision [%d] within [%ss]",
                behind,
                revision,
                ack_timeout,
            )
        return not behind

    async def _commit(
        self, change: Callable[[dict[str, Any], dict[str, Any]], Layers]
    ) -> tuple[EtcdClient, int]:
        await self._joined.wait()  # ES waits for a master the same way (master_timeout)
        client = self._client
        assert client is not None
        while True:
            try:
                found = await client.get(self.key)
                kv = found.first()
                current = _decode(kv.value) if kv is not None else ({}, {})
                new = change(*current)
                compare = Compare.mod_revision(self.key, kv.mod_revision if kv else 0)
                result = await client.txn([compare], [Put(self.key, _encode(new))])
            except CoordinationUnavailableError as exc:
                if not exc.maybe_applied:
                    raise
                await asyncio.sleep(0.05)  # read again: the comparison tells what happened
                continue
            if result.succeeded:
                break
            self._conflicts += 1
        self._updates += 1
        while self._applied < result.revision:
            await self._changed.wait()
        return client, result.revision

    async def run(self, client_ready: Callable[[], Awaitable[EtcdClient]]) -> None:
        """Join, then follow the cluster's settings until cancelled."""
        client = await client_ready()
        first = True
        while True:
            try:
                revision = await self._read(client, seed=first)
                self._client = client
                self._joined.set()
                first = False
                await self._watch(client, revision)
            except WatchCompactedError as exc:
                log.info("cluster settings watch: %s; reading them again", exc.reason)
            except CoordinationError as exc:
                log.warning("cluster settings watch failed: %s; retrying", exc.reason)
                await asyncio.sleep(RETRY_S)

    async def _read(self, client: EtcdClient, *, seed: bool) -> int:
        found = await client.get(self.key)
        if found.first() is None and seed:
            own: Layers = (dict(self._own_persistent()), {})
            seeded = await client.txn(
                [Compare.create_revision(self.key, 0)], [Put(self.key, _encode(own))]
            )
            if seeded.succeeded and own[0]:
                log.info("this node's persistent settings seed the cluster's settings")
            found = await client.get(self.key)
        kv = found.first()
        if seed and kv is not None and _decode(kv.value)[1] and await self._first_node(client):
            persistent, _ = _decode(kv.value)
            dropped = await client.txn(
                [Compare.mod_revision(self.key, kv.mod_revision)],
                [Put(self.key, _encode((persistent, {})))],
            )
            if dropped.succeeded:
                log.info("the transient cluster settings are dropped: the whole cluster restarted")
            found = await client.get(self.key)
            kv = found.first()
        await self._apply_logged(*(_decode(kv.value) if kv is not None else ({}, {})))
        await self._set_applied(client, found.revision)
        return found.revision

    async def _first_node(self, client: EtcdClient) -> bool:
        """No other node is registered: the whole cluster is starting."""
        nodes = await client.get(self._nodes, prefix=True)
        return all(kv.key == self._own_node_key for kv in nodes.kvs)

    async def _watch(self, client: EtcdClient, revision: int) -> None:
        watch = client.watch(
            self.key, start_revision=revision + 1, progress_notify=True, reconnect_for=30.0
        )
        try:
            async for response in watch:
                for rev, events in response.by_revision():
                    event = events[-1]
                    layers = ({}, {}) if event.type == "DELETE" else _decode(event.kv.value)
                    await self._apply_logged(*layers)
                    await self._set_applied(client, rev)
        finally:
            await watch.aclose()

    async def _apply_logged(self, persistent: dict[str, Any], transient: dict[str, Any]) -> None:
        """Apply the cluster's layers; a failure here is logged and the node carries on (ES's
        applier does the same): every node applies the same value, so one that raised would
        otherwise stop them all."""
        try:
            await self._apply(persistent, transient)
        except IsthmusError as exc:
            log.error("failed to apply the cluster settings: %s", exc.reason)

    async def _set_applied(self, client: EtcdClient, revision: int) -> None:
        self._applied = max(self._applied, revision)
        self._notify()
        await self.acks.publish(client, revision)
