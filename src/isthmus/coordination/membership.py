"""Which nodes are in the cluster: one leased key per node, and a live view of all of them.

Owns: this node's ``nodes/<node_id>`` key (its description, on a lease of its own, so it
disappears when the node stops or stops renewing) and :class:`MembershipView`, the current set
with join / leave / update events from a watch. Logging ES's ``node-join`` / ``node-left`` lines
and removing nodes that the transport cannot reach are the caller's (the node wiring's) job.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.etcd_records import KeyValue
from isthmus.coordination.keys import ClusterKeys
from isthmus.coordination.leases import KeptLease
from isthmus.errors import CoordinationError, WatchCompactedError
from isthmus.supervision import TaskSet

log = logging.getLogger("isthmus.coordination.membership")


@dataclass(frozen=True, slots=True)
class NodeDescription:
    """What every node needs to know of another: ES's DiscoveryNode fields."""

    node_id: str
    name: str
    ephemeral_id: str
    roles: tuple[str, ...]
    transport_address: str
    version: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    remote_cluster_address: str | None = None  # the remote cluster server's publish address
    http_address: str | None = None

    def to_json(self) -> bytes:
        body = asdict(self)
        body["roles"] = list(self.roles)
        body["attributes"] = dict(self.attributes)
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> NodeDescription:
        try:
            body = json.loads(data)
            return cls(
                node_id=str(body["node_id"]),
                name=str(body["name"]),
                ephemeral_id=str(body["ephemeral_id"]),
                roles=tuple(str(r) for r in body.get("roles", ())),
                transport_address=str(body["transport_address"]),
                version=str(body["version"]),
                attributes={str(k): str(v) for k, v in body.get("attributes", {}).items()},
                remote_cluster_address=body.get("remote_cluster_address"),
                http_address=body.get("http_address"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CoordinationError(f"unreadable node description: {exc}") from None


class NodeRegistration:
    """This node's key: ``register`` (grant a lease, write the key), ``update``,
    ``deregister`` (revoke: the key goes at once). ``on_lost``: the lease was lost, the other
    nodes have seen this one leave; calling ``register`` again rejoins."""

    def __init__(
        self,
        client: EtcdClient,
        keys: ClusterKeys,
        description: NodeDescription,
        *,
        ttl: int = 5,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self.description = description
        self._lease = KeptLease(client, ttl, name=f"node {description.node_id}", on_lost=on_lost)

    @property
    def registered(self) -> bool:
        return self._lease.alive

    def __repr__(self) -> str:
        state = "registered" if self.registered else "not registered"
        return f"<NodeRegistration {self.description.node_id} {state}>"

    async def register(self) -> int:
        """Write the key on a fresh lease; returns the revision of the write."""
        if not self._lease.alive:
            await self._lease.grant()
        key = self._keys.node(self.description.node_id)
        result = await self._client.put(key, self.description.to_json(), lease=self._lease.id)
        return result.revision

    async def update(self, description: NodeDescription) -> int:
        if description.node_id != self.description.node_id:
            raise CoordinationError("a node's id never changes")
        self.description = description
        return await self.register()

    async def deregister(self) -> None:
        await self._lease.revoke()

    async def close(self) -> None:
        await self._lease.close()


MembershipKind = Literal["join", "leave", "update"]


@dataclass(frozen=True, slots=True)
class MembershipEvent:
    kind: MembershipKind
    node: NodeDescription
    revision: int


class MembershipView:
    """Every registered node, kept current by a watch on ``nodes/``."""

    def __init__(
        self,
        client: EtcdClient,
        keys: ClusterKeys,
        *,
        on_event: Callable[[MembershipEvent], None] | None = None,
        watch_idle_timeout: float | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._on_event = on_event
        self._idle_timeout = watch_idle_timeout
        self.nodes: dict[str, NodeDescription] = {}
        self.revision = 0
        self._changed = asyncio.Event()
        self._tasks = TaskSet(f"membership [{keys.cluster_name}]", log)

    def __repr__(self) -> str:
        return f"<MembershipView {self._keys.cluster_name} nodes={len(self.nodes)} rev={self.revision}>"

    async def start(self) -> None:
        await self._read()
        self._tasks.spawn(self._follow(), name="watch nodes")

    async def _read(self) -> None:
        """The whole set at one revision; differences from what was known become events."""
        found = await self._client.get(self._keys.nodes, prefix=True)
        fresh: dict[str, NodeDescription] = {}
        for kv in found.kvs:
            node = self._describe(kv)
            if node is not None:
                fresh[node.node_id] = node
        for node_id, node in list(self.nodes.items()):
            if node_id not in fresh:
                self._emit("leave", node, found.revision)
        for node_id, node in fresh.items():
            known = self.nodes.get(node_id)
            if known is None:
                self._emit("join", node, found.revision)
            elif known != node:
                self._emit("update", node, found.revision)
        self.nodes = fresh
        self.revision = found.revision
        self._wake()

    def _describe(self, kv: KeyValue) -> NodeDescription | None:
        try:
            return NodeDescription.from_json(kv.value)
        except CoordinationError as exc:
            log.warning("ignoring node key [%s]: %s", kv.key.decode(errors="replace"), exc.reason)
            return None

    def _emit(self, kind: MembershipKind, node: NodeDescription, revision: int) -> None:
        if self._on_event is not None:
            self._on_event(MembershipEvent(kind, node, revision))

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _follow(self) -> None:
        while True:
            try:
                stream = self._client.watch(
                    self._keys.nodes,
                    prefix=True,
                    start_revision=self.revision + 1,
                    progress_notify=True,
                    idle_timeout=self._idle_timeout,
                )
                try:
                    async for answer in stream:
                        for revision, events in answer.by_revision():
                            for event in events:
                                self._apply(event.type, event.kv, revision)
                            self.revision = revision
                        self._wake()
                finally:
                    await stream.aclose()
            except WatchCompactedError:
                await self._read()
            except CoordinationError as exc:
                log.warning("watching the nodes failed: %s; retrying", exc.reason)
                await asyncio.sleep(0.5)

    def _apply(self, kind: str, kv: KeyValue, revision: int) -> None:
        node_id = kv.key[len(self._keys.nodes) :].decode(errors="replace")
        if kind == "DELETE":
            gone = self.nodes.pop(node_id, None)
            if gone is not None:
                self._emit("leave", gone, revision)
            return
        node = self._describe(kv)
        if node is None:
            return
        known = self.nodes.get(node.node_id)
        self.nodes[node.node_id] = node
        if known is None:
            self._emit("join", node, revision)
        elif known != node:
            self._emit("update", node, revision)

    async def wait_for(
        self, predicate: Callable[[Mapping[str, NodeDescription]], bool], timeout: float | None
    ) -> Mapping[str, NodeDescription]:
        async with asyncio.timeout(timeout):
            while not predicate(self.nodes):
                await self._changed.wait()
        return self.nodes

    async def close(self) -> None:
        await self._tasks.close()
