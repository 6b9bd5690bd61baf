"""Users, roles and API keys made cluster-wide in a cluster of several nodes, through etcd.

ES keeps them in its ``.security`` index, replicated to every node: a key created through any
node authenticates on every node, and an invalidation answered by one node is refused by all (ES
clears every node's caches before it answers). Here each node's :class:`SecurityStore` stays its
read copy (every request reads it synchronously), and etcd holds the cluster's version:

    /isthmus/<cluster>/security/doc/<table>/<key>   one document's JSON (hashes inside, as ES)
    /isthmus/<cluster>/security/applied/<node_id>   the revision that node's copy has reached

Rules:

- A write goes to this node's copy first (the service's read-modify-write code stays
  synchronous), is heard here in order and put to etcd by one writer task, in that order. The REST
  API answers once etcd committed it and every node of the cluster (``live_nodes``) has applied it
  (their ``applied`` keys): what one node answered, every node then authenticates or refuses.
  A node that does not confirm within ``ack_timeout`` is logged and not waited for further (ES
  logs a failed cache clear the same way).
- Every node follows ``doc/`` with a watch and applies each change to its copy: concurrent writes
  to one document end, on every node, as etcd ordered them (the last one wins). A watch whose
  start was compacted re-reads everything.
- Joining: the cluster's documents replace this node's copy (as an ES node uses the cluster's
  ``.security`` index, not what it held alone). ``bootstrap.password`` or the generated password
  only seeds an empty cluster: this node's ``elastic`` user is put when etcd has none (a
  create-if-absent transaction, so one node's wins).
- etcd unreachable: writes keep their order and are retried; the API answers 503
  (``master_not_discovered_exception``) after ``commit_timeout`` with the change applied on this
  node only. It is put when etcd answers again, unless the node stops first: a restarted node
  takes the cluster's version, and the unconfirmed change is gone (the client was told it failed).
  A change etcd refuses outright is undone on this node (the cluster's version is read back).
- Secrets: documents travel as the store holds them (hashes only); no log line here prints a
  document.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from isthmus.cluster.acknowledgements import Acknowledgements
from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.etcd_records import Compare, KeyValue, Put
from isthmus.coordination.keys import ClusterKeys
from isthmus.errors import CoordinationError, CoordinationUnavailableError, WatchCompactedError
from isthmus.security.store import TABLES, SecurityStore

log = logging.getLogger("isthmus.security.replication")

RETRY_S = 0.5


@dataclass(frozen=True, slots=True)
class _Write:
    seq: int
    table: str
    key: str
    value: bytes | None = field(repr=False)  # the document holds a hash: never in a repr


@dataclass(frozen=True, slots=True)
class ReplicationInfo:
    pending: int
    committed: int
    applied_revision: int
    failures: int


class _Signal:
    """Wakes every waiter at each change of state (one event per generation)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            pass


class SecurityReplication:
    """The store's :class:`~isthmus.security.store.WriteListener` in a cluster of several nodes.
    :meth:`run` (in the node's task group) is given the etcd client once formation has one."""

    def __init__(
        self,
        store: SecurityStore,
        cluster_name: str,
        node_id: str,
        *,
        live_nodes: Callable[[], Collection[str]],
        commit_timeout: float = 30.0,
        ack_timeout: float = 10.0,
    ) -> None:
        self.store = store
        self.node_id = node_id
        root = ClusterKeys(cluster_name).root + b"security/"
        self._docs = root + b"doc/"
        self.acks = Acknowledgements(root, node_id, live_nodes)
        self.commit_timeout = commit_timeout
        self.ack_timeout = ack_timeout
        self._client: EtcdClient | None = None
        self._pending: deque[_Write] = deque()
        self._seq = 0  # the last write heard
        self._committed = 0  # the last write etcd committed (or refused: see _failed)
        self._commit_revision = 0  # etcd's revision after the last committed write
        self._failed: dict[int, str] = {}  # write → why etcd refused it
        self._applied = 0  # the revision this node's copy has reached
        self._changed = _Signal()
        store.listener = self
        store.loaded = False  # until the first read of the cluster's documents (_read_all)

    def __repr__(self) -> str:
        return (
            f"<SecurityReplication pending={len(self._pending)} committed={self._committed} "
            f"applied={self._applied}>"
        )

    def info(self) -> ReplicationInfo:
        return ReplicationInfo(
            len(self._pending), self._committed, self._applied, len(self._failed)
        )

    def _doc_key(self, table: str, key: str) -> bytes:
        return self._docs + f"{table}/{key}".encode()

    def _parse_key(self, raw: bytes) -> tuple[str, str] | None:
        table, sep, key = raw[len(self._docs) :].decode().partition("/")
        return (table, key) if sep and table in TABLES else None

    # --- writes ----------------------------------------------------------------------------------

    def written(self, table: str, key: str, value: bytes | None) -> None:
        # Called on the event loop's thread (the REST handlers call the service there).
        self._seq += 1
        self._pending.append(_Write(self._seq, table, key, value))
        self._changed.notify()

    async def committed(self) -> None:
        target = self._seq
        # The writes this call answers for: those heard since the last one committed when it
        # began (a refusal of an earlier write was answered by the call that waited for it).
        start = self._committed
        if target <= start:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.commit_timeout
        while self._committed < target:
            left = deadline - loop.time()
            if left <= 0:
                raise CoordinationUnavailableError(
                    f"the security change was not written to the cluster's store within "
                    f"[{self.commit_timeout}s]: it is applied on this node only, and written "
                    "when the store answers again"
                )
            await self._changed.wait(left)
        failures = [reason for seq, reason in self._failed.items() if start < seq <= target]
        for seq in [seq for seq in self._failed if seq <= target]:
            del self._failed[seq]  # reported now, or by the call that waited for it
        if failures:
            raise CoordinationError(f"the cluster's store refused the change: {failures[-1]}")
        await self._acknowledged(self._commit_revision)

    async def _acknowledged(self, revision: int) -> None:
        """Wait until this node's copy and every live node's reached ``revision`` (at most
        ``ack_timeout`` for the others)."""
        client = self._client
        assert client is not None  # a write was committed, so the client exists
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ack_timeout
        while self._applied < revision and loop.time() < deadline:
            await self._changed.wait(deadline - loop.time())
        behind = await self.acks.wait(client, revision, self.ack_timeout)
        if behind:
            log.warning(
                "nodes %s did not confirm the security change at revision [%d] within [%ss]; "
                "answering without them",
                behind,
                revision,
                self.ack_timeout,
            )

    async def _write_loop(self, client: EtcdClient) -> None:
        warned = False
        while True:
            while not self._pending:
                await self._changed.wait(3600)
            write = self._pending[0]
            key = self._doc_key(write.table, write.key)
            try:
                if write.value is None:
                    revision = (await client.delete(key)).revision
                else:
                    revision = (await client.put(key, write.value)).revision
            except CoordinationUnavailableError as exc:
                # Put again, in order (a put or delete applied twice leaves the same document).
                if not warned:
                    log.warning("cannot write a security change to etcd yet: %s", exc.reason)
                    warned = True
                await asyncio.sleep(RETRY_S)
                continue
            except CoordinationError as exc:
                log.error(
                    "etcd refused the security change of [%s/%s]: %s; this node takes the "
                    "cluster's version back",
                    write.table,
                    write.key,
                    exc.reason,
                )
                self._failed[write.seq] = exc.reason
                revision = await self._restore(client, write, key)
            warned = False
            self._pending.popleft()
            self._committed = write.seq
            self._commit_revision = max(self._commit_revision, revision)
            self._changed.notify()

    async def _restore(self, client: EtcdClient, write: _Write, key: bytes) -> int:
        while True:
            try:
                found = await client.get(key)
            except CoordinationError:
                await asyncio.sleep(RETRY_S)
                continue
            kv = found.first()
            self.store.apply(write.table, write.key, kv.value if kv is not None else None)
            return found.revision

    # --- following the cluster -------------------------------------------------------------------

    async def run(self, client_ready: Callable[[], Awaitable[EtcdClient]]) -> None:
        """Join, then write and follow until cancelled."""
        client = await client_ready()
        self._client = client
        async with asyncio.TaskGroup() as group:
            group.create_task(self._follow(client), name="security state watch")
            group.create_task(self._write_loop(client), name="security state writer")

    async def _follow(self, client: EtcdClient) -> None:
        first = True
        while True:
            try:
                revision = await self._read_all(client, seed=first)
                first = False
                await self._watch(client, revision)
            except WatchCompactedError as exc:
                log.info("security watch: %s; reading the whole state again", exc.reason)
            except CoordinationError as exc:
                log.warning("security watch failed: %s; retrying", exc.reason)
                await asyncio.sleep(RETRY_S)

    async def _read_all(self, client: EtcdClient, *, seed: bool) -> int:
        found = await client.get(self._docs, prefix=True)
        elastic = self._doc_key("users", "elastic")
        if seed and not any(kv.key == elastic for kv in found.kvs):
            own = self.store.get_raw("users", "elastic")
            if own is not None:
                seeded = await client.txn(
                    [Compare.create_revision(elastic, 0)], [Put(elastic, own)]
                )
                if seeded.succeeded:
                    log.info("the [elastic] user of this node seeds the cluster's security state")
                found = await client.get(self._docs, prefix=True)
        docs: dict[str, dict[str, bytes]] = {t: {} for t in TABLES}
        for kv in found.kvs:
            where = self._parse_key(kv.key)
            if where is not None:
                docs[where[0]][where[1]] = kv.value
        own_elastic = self.store.get_raw("users", "elastic")
        dropped = self.store.replace_all(docs)
        self.store.loaded = True
        if seed and own_elastic is not None and docs["users"].get("elastic") != own_elastic:
            log.info(
                "the [elastic] user of this node is replaced by the cluster's: its password is "
                "the one the cluster was formed with or later set through the API"
            )
        if seed and any(dropped.values()):
            log.warning(
                "this node's security store held documents the cluster does not know (%s): "
                "the cluster's users, roles and API keys replace them",
                ", ".join(f"{n} {t}" for t, n in dropped.items() if n),
            )
        await self._set_applied(client, found.revision)
        return found.revision

    async def _watch(self, client: EtcdClient, revision: int) -> None:
        watch = client.watch(
            self._docs,
            prefix=True,
            start_revision=revision + 1,
            progress_notify=True,
            reconnect_for=30.0,
        )
        try:
            async for response in watch:
                for rev, events in response.by_revision():
                    for event in events:
                        self._apply(event.kv, deleted=event.type == "DELETE")
                    await self._set_applied(client, rev)
        finally:
            await watch.aclose()

    def _apply(self, kv: KeyValue, *, deleted: bool) -> None:
        where = self._parse_key(kv.key)
        if where is not None:
            self.store.apply(where[0], where[1], None if deleted else kv.value)

    async def _set_applied(self, client: EtcdClient, revision: int) -> None:
        self._applied = max(self._applied, revision)
        self._changed.notify()
        await self.acks.publish(client, revision)
