"""The cluster metadata of a cluster of several nodes: one state, published by the elected master
through etcd, applied by every node.

In ES every change of the cluster state runs on the elected master, which publishes the result to
every node. Here :meth:`ClusterService.submit` on any node computes the change on the state it
last applied and hands the difference to the master (itself, or over the transport:
``internal:isthmus/cluster/publish_change``); the master publishes it with
:class:`~isthmus.coordination.publication.Publisher` (one fenced transaction per publication, or
several for a large one) and every node applies it from its
:class:`~isthmus.coordination.publication.StateApplier`. Change functions are pure
(``state → state``), so a node whose base was overtaken simply runs its change again on the newer
state: the outcome is ES's (changes serialized, each on the latest state), without sending
closures over the wire.

Rules:

- A proposal carries the version it was computed from. The master accepts it only when that is
  the version it last published (``conflict`` otherwise: the proposer waits until it has applied
  at least the master's version, then computes again). A master that lost its reign cannot
  publish (etcd's comparison on its master key fails): the proposer asks again once a master is
  known.
- What a proposal holds: the state's own part (cluster uuid, version, customs) and the indices
  that changed (their metadata and routing table) or were removed; unchanged indices are not
  sent or written.
- Persistent and transient settings are not part of it: :mod:`isthmus.cluster.settings_replication`
  shares them, and a node applies them to its own state without publishing.
- A node never merges its own indices into a cluster's: a node whose data path holds indices of
  another cluster refuses to join (ES's cluster UUID check) instead of dropping them.
- The answer to a submit comes once this node applied the published state (so the caller reads
  its own change), as in ES where the master answers after the publication's commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.shard_routing import IndexRouting
from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.etcd_records import Compare, Put
from isthmus.coordination.keys import ClusterKeys
from isthmus.coordination.publication import PublishedState, Publisher, StateApplier, encode
from isthmus.errors import (
    CoordinationError,
    CoordinationUnavailableError,
    IsthmusError,
    NotMasterError,
)

if TYPE_CHECKING:
    from isthmus.cluster.nodes import DiscoveryNode, NodesView
    from isthmus.cluster.service import ClusterService

log = logging.getLogger("isthmus.cluster.state_replication")

# How long a submit waits for a master, and for its change to come back applied.
SUBMIT_TIMEOUT_S = 30.0
RETRY_S = 0.2

IndexEntry = dict[str, Any]
Forward = Callable[["DiscoveryNode", dict[str, Any]], Awaitable[dict[str, Any]]]


def state_meta(state: ClusterMetadata) -> dict[str, Any]:
    """The state's own part, as published in ``state/meta``."""
    return {
        "cluster_uuid": state.cluster_uuid,
        "version": state.version,
        **({"customs": state.customs} if state.customs else {}),
    }


def index_entry(meta: IndexMetadata, routing: IndexRouting | None) -> IndexEntry:
    """One index as published in ``state/index/<uuid>``: its metadata and its routing table."""
    out: IndexEntry = {"meta": meta.to_json()}
    if routing is not None:
        out["routing"] = routing.to_json()
    return out


@dataclass(frozen=True, slots=True)
class Proposal:
    """A change of the cluster state, computed on ``base_version``."""

    base_version: int
    meta: dict[str, Any]
    changed: dict[str, IndexEntry] = field(default_factory=dict)
    removed: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {
            "base_version": self.base_version,
            "meta": self.meta,
            "changed": self.changed,
            "removed": list(self.removed),
        }

    @classmethod
    def from_wire(cls, body: Any) -> Proposal:
        if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
            raise CoordinationError("malformed cluster state proposal")
        changed = body.get("changed") or {}
        removed = body.get("removed") or []
        if not isinstance(changed, dict) or not isinstance(removed, list):
            raise CoordinationError("malformed cluster state proposal")
        return cls(int(body["base_version"]), body["meta"], changed, tuple(map(str, removed)))


def difference(base: ClusterMetadata, new: ClusterMetadata) -> Proposal:
    """What ``new`` changes in ``base`` (an index object and routing left untouched by the
    change are the same objects: nothing to send for them)."""
    old_by_uuid = {m.uuid: m for m in base.indices.values()}
    changed: dict[str, IndexEntry] = {}
    for meta in new.indices.values():
        old = old_by_uuid.get(meta.uuid)
        routing = new.routing.get(meta.uuid)
        if old is meta and base.routing.get(meta.uuid) is routing:
            continue
        changed[meta.uuid] = index_entry(meta, routing)
    live = {m.uuid for m in new.indices.values()}
    removed = tuple(u for u in old_by_uuid if u not in live)
    return Proposal(base.version, state_meta(new), changed, removed)


class _Parsed:
    """Published index entries turned into metadata, reused while their JSON object is the same
    (the applier keeps the object of an index no publication touched)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Any, IndexMetadata, IndexRouting | None]] = {}

    def state(self, published: PublishedState, current: ClusterMetadata) -> ClusterMetadata:
        cache: dict[str, tuple[Any, IndexMetadata, IndexRouting | None]] = {}
        indices: dict[str, IndexMetadata] = {}
        routing: dict[str, IndexRouting] = {}
        for uuid, entry in published.indices.items():
            hit = self._cache.get(uuid)
            if hit is not None and hit[0] is entry:
                meta, table = hit[1], hit[2]
            else:
                body = dict(entry)
                meta = IndexMetadata.from_json(body["meta"])
                table = IndexRouting.from_json(body["routing"]) if body.get("routing") else None
            cache[uuid] = (entry, meta, table)
            indices[meta.name] = meta
            if table is not None:
                routing[uuid] = table
        self._cache = cache
        meta_json = published.meta
        return replace(
            current,
            cluster_uuid=str(meta_json.get("cluster_uuid") or current.cluster_uuid),
            version=int(meta_json.get("version", 0)),
            customs=dict(meta_json.get("customs") or {}),
            indices=indices,
            routing=routing,
        )


class StateReplication:
    """One node's side: follows the published state into the cluster service, proposes its
    changes to the master, and (on the master) publishes proposals."""

    def __init__(
        self,
        cluster: ClusterService,
        cluster_name: str,
        view: NodesView,
        *,
        term: Callable[[], int | None],
        forward: Forward,
        on_fatal: Callable[[str], None],
    ) -> None:
        self._cluster = cluster
        self._keys = ClusterKeys(cluster_name)
        self._view = view
        self._term = term  # this node's master term, None when it is not the master
        self._forward = forward
        self._on_fatal = on_fatal
        self._publisher: Publisher | None = None
        self._applier: StateApplier | None = None
        self._parsed = _Parsed()
        self._publish_lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self.publications = 0

    def __repr__(self) -> str:
        revision = self._applier.revision if self._applier is not None else 0
        return f"<StateReplication {self._keys.cluster_name} revision={revision}>"

    # --- following ---------------------------------------------------------------------------

    async def run(self, client_ready: Callable[[], Awaitable[EtcdClient]]) -> None:
        client = await client_ready()
        self._publisher = Publisher(client, self._keys)
        while True:
            try:
                await self._seed(client)
                applier = StateApplier(client, self._keys, self._install)
                await applier.start()
                break
            except CoordinationError as exc:
                log.warning("reading the cluster state failed: %s; retrying", exc.reason)
                await asyncio.sleep(0.5)
        self._applier = applier
        self._ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            await applier.close()

    async def _seed(self, client: EtcdClient) -> None:
        """A new cluster's first state: this node's cluster uuid, no index (create-if-absent:
        the first node to get here wins; every other node adopts that state)."""
        local = self._cluster.state
        if local.indices:
            return  # such a node never seeds: it must find the cluster's state (see _install)
        first = Put(self._keys.state_meta, encode({**state_meta(local), "version": 1}))
        await client.txn([Compare.create_revision(self._keys.state_meta, 0)], [first], [])

    async def _install(self, published: PublishedState) -> None:
        current = self._cluster.state
        try:
            new = self._parsed.state(published, current)
        except Exception as exc:  # never published by a master (it checks), so etcd was edited
            log.exception("cannot read the published cluster state [%s]", published.revision)
            self._on_fatal(
                f"the cluster state published at revision [{published.revision}] cannot be "
                f"read ({exc!r}): this node cannot follow the cluster"
            )
            return
        if current.indices and new.cluster_uuid != current.cluster_uuid and current.version > 0:
            mine = {m.uuid for m in current.indices.values()}
            if not mine <= {m.uuid for m in new.indices.values()}:
                self._on_fatal(
                    f"This node previously joined a cluster with UUID [{current.cluster_uuid}] "
                    f"and is now trying to join a different cluster with UUID "
                    f"[{new.cluster_uuid}]. This is forbidden: its data path holds indices "
                    f"{sorted(current.indices)} of the other cluster. Start it with an empty "
                    "data path (which removes that data) or keep it a cluster of its own"
                )
                return
        await self._cluster.install(new, f"published revision [{published.revision}]")

    async def wait_ready(self) -> None:
        await self._ready.wait()

    # --- proposing -----------------------------------------------------------------------------

    async def propose(self, proposal: Proposal) -> dict[str, Any]:
        """Hand ``proposal`` to the master: ``{"version": v}`` once published, or
        ``{"conflict": v}`` when the master's state is already at ``v``."""
        deadline = asyncio.get_running_loop().time() + SUBMIT_TIMEOUT_S
        while True:
            master = self._view.nodes.master_node
            try:
                if master is None:
                    raise CoordinationUnavailableError("no master node is known yet")
                if master.id == self._view.local.id:
                    return await self.publish_here(proposal.to_wire())
                return await self._forward(master, proposal.to_wire())
            except (IsthmusError, OSError) as exc:
                # Only reaching or being the master fails here (the change itself was computed
                # by the caller): ask again, the current master if it changed, until the time
                # is up (ES's master_not_discovered_exception then).
                if asyncio.get_running_loop().time() >= deadline:
                    raise CoordinationUnavailableError(
                        f"could not publish the cluster state change: {exc}"
                    ) from exc
                await asyncio.sleep(RETRY_S)

    async def publish_here(self, body: Any) -> dict[str, Any]:
        """The master's side of a proposal (the transport action's handler, and this node's own
        proposals when it is the master)."""
        proposal = Proposal.from_wire(body)
        await asyncio.wait_for(self._ready.wait(), SUBMIT_TIMEOUT_S)
        assert self._applier is not None and self._publisher is not None
        async with self._publish_lock:
            term = self._term()
            if term is None:
                raise NotMasterError("this node is not the elected master")
            current = self._applier.state
            version = int(current.meta.get("version", 0)) if current is not None else 0
            cluster_uuid = current.meta.get("cluster_uuid") if current is not None else None
            check_proposal(proposal, cluster_uuid)
            if proposal.base_version != version:
                return {"conflict": version}
            indices = dict(current.indices) if current is not None else {}
            for uuid in proposal.removed:
                indices.pop(uuid, None)
            indices.update(proposal.changed)
            # NotMasterError (another master published since, or this reign ended) and
            # FailedToCommitClusterStateError reach the proposer, which asks again.
            revision = await self._publisher.publish(term, proposal.meta, indices)
            self.publications += 1
            await self._applier.wait_for_revision(revision, SUBMIT_TIMEOUT_S)
            return {"version": int(proposal.meta["version"])}


def check_proposal(proposal: Proposal, cluster_uuid: Any) -> None:
    """What the master checks before publishing: a state every node can read (one unreadable
    entry in etcd would stop every node's applier), the next version, the cluster's uuid."""
    meta = proposal.meta
    if meta.get("version") != proposal.base_version + 1:
        raise CoordinationError(
            f"cluster state proposal of version [{meta.get('version')}] on version "
            f"[{proposal.base_version}]"
        )
    if cluster_uuid is not None and meta.get("cluster_uuid") != cluster_uuid:
        raise CoordinationError(
            f"cluster state proposal for cluster [{meta.get('cluster_uuid')}], this cluster is "
            f"[{cluster_uuid}]"
        )
    if not isinstance(meta.get("customs", {}), dict):
        raise CoordinationError("cluster state proposal with unreadable customs")
    for uuid, entry in proposal.changed.items():
        try:
            index = IndexMetadata.from_json(entry["meta"])
            if index.uuid != uuid:
                raise ValueError(f"index [{index.name}] has uuid [{index.uuid}], keyed [{uuid}]")
            if entry.get("routing"):
                routing = IndexRouting.from_json(entry["routing"])
                if routing.index_uuid != uuid:
                    raise ValueError(f"routing of [{routing.index_uuid}] keyed [{uuid}]")
        except Exception as exc:
            raise CoordinationError(
                f"cluster state proposal with an unreadable index [{uuid}]: {exc!r}"
            ) from None
