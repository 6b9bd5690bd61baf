"""Primary-backup on nodes in one process: real indices services, engines, write path and peer
recovery; the cluster state is shared by a small in-process stand-in for the published state
(every node applies each change in turn), and the transport is replaced by a direct call into
the other node's action registry with the payload and any error through their wire forms.

Checked: a new primary opens and reports started; a replica recovers the primary's history
(with writes landing during the recovery) and both copies hold the same documents; writes are
replicated and the global checkpoint is the replica's; a replica refuses a stale primary with
ES's message and that primary acknowledges nothing; an unreachable replica is failed before the
write is acknowledged; a promoted replica takes the raised term; a copy that leaves its node is
closed with its files, and a removed copy's recovery is abandoned; a replica holding an old
term's operation the new primary lacks is failed before the new primary's write is acknowledged
(never skips it), and a replica initializing again with its id recovers from empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from isthmus.actions.peer_recovery import PeerRecovery
from isthmus.actions.shard_replication import ShardWrites, StateWaiter
from isthmus.cluster.allocation import shard_failed, shard_started
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.routed_copies import RoutedCopies
from isthmus.cluster.routing import ShardId
from isthmus.cluster.shard_routing import (
    INITIALIZING,
    STARTED,
    UNASSIGNED,
    IndexRouting,
    ShardRouting,
    ShardTable,
)
from isthmus.errors import (
    ConnectTransportError,
    IllegalStateError,
    IsthmusError,
    NoShardAvailableActionError,
)
from isthmus.index.engine import HistoryOp, IndexOp
from isthmus.index.mapping import Mapping
from isthmus.index.service import IndicesService
from isthmus.transport.actions import ActionRegistry
from isthmus.wire.messages import WireError, pack_payload, unpack_payload

UUID = "idx-uuid"
SID = ShardId(UUID, 0, "logs")
MAPPING = Mapping({"properties": {"n": {"type": "long"}}})


class SharedState:
    """The published cluster state: one change at a time, applied by every node in turn."""

    def __init__(self, state: ClusterMetadata) -> None:
        self.state = state
        self.nodes: list[NodeState] = []
        self._lock = asyncio.Lock()

    async def submit(
        self, source: str, change: Callable[[ClusterMetadata], ClusterMetadata]
    ) -> ClusterMetadata:
        async with self._lock:
            new = change(self.state)
            if new is self.state:
                return new
            new = replace(new, version=self.state.version + 1)
            self.state = new
            for node in self.nodes:
                await node.apply(new)
            return new


class NodeState:
    """One node's applied state and appliers (what ClusterService offers its components)."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared
        self.state = ClusterMetadata(cluster_uuid="c")
        self._appliers: list[Any] = []
        shared.nodes.append(self)

    def add_applier(self, applier: Any) -> None:
        self._appliers.append(applier)

    async def apply(self, new: ClusterMetadata) -> None:
        old, self.state = self.state, new
        for applier in self._appliers:
            await applier(old, new)

    async def submit(self, source: str, change: Any) -> ClusterMetadata:
        return await self.shared.submit(source, change)


class Peers:
    """The transport between the test's nodes: payloads and errors through their wire forms."""

    cluster_name = "test"

    def __init__(self, registries: dict[str, ActionRegistry[Any]]) -> None:
        self.registries = registries
        self.down: set[str] = set()
        self.hang: set[str] = set()  # nodes whose answers never come

    async def request(self, node_id: str, action: str, payload: Any, timeout: Any) -> Any:
        if node_id in self.hang:
            await asyncio.Event().wait()
        if node_id in self.down:
            raise ConnectTransportError(f"[{node_id}] connect_exception")
        body = unpack_payload(pack_payload({**payload, "cluster_name": self.cluster_name}))
        try:
            answer = await self.registries[node_id].handler(action)(body, None)
        except IsthmusError as exc:
            raise WireError.from_exception(exc).to_exception() from None
        return unpack_payload(pack_payload(answer))


class View:
    def __init__(self, node_id: str) -> None:
        self.local = type("Local", (), {"id": node_id})()


class Node:
    def __init__(self, node_id: str, shared: SharedState, peers: Peers, folder: Path) -> None:
        self.id = node_id
        self.cluster = NodeState(shared)
        self.indices = IndicesService(folder / node_id)
        self.indices.local_node_id = lambda: node_id
        self.cluster.add_applier(self.indices.apply)
        self.copies = RoutedCopies(self.cluster, View(node_id))  # type: ignore[arg-type]
        registry: ActionRegistry[Any] = ActionRegistry()
        peers.registries[node_id] = registry
        waiter = StateWaiter(self.cluster)  # type: ignore[arg-type]
        self.writes = ShardWrites(self.cluster, self.indices, self.copies, peers, waiter)  # type: ignore[arg-type]
        self.writes.register(registry, peers.cluster_name)
        self.recovery = PeerRecovery(
            self.cluster,  # type: ignore[arg-type]
            self.writes,
            peers,  # type: ignore[arg-type]
            waiter,
            shard_started,
            shard_failed,
        )
        self.recovery.register(registry, peers.cluster_name)
        self.indices.copy_starter = self.recovery.start_copy

    def docs(self) -> dict[str, dict[str, Any]]:
        shard = self.indices.shard(SID)
        assert shard is not None
        rows = shard.engine.history(0, shard.engine.max_seq_no, 100_000)
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            doc = shard.engine.get(row.id)
            if doc is not None:
                out[row.id] = orjson.loads(doc.source)
        return out


def index_meta() -> IndexMetadata:
    settings = {"index.number_of_shards": "1", "index.number_of_replicas": "1"}
    return IndexMetadata("logs", UUID, settings, MAPPING)


def with_table(state: ClusterMetadata, *copies: ShardRouting, **kw: Any) -> ClusterMetadata:
    old = state.routing.get(UUID)
    base = old.shards[0] if old is not None else ShardTable(0, ())
    table = replace(base, copies=copies, **kw)
    return replace(state, routing={UUID: IndexRouting(UUID, (table,))})


def table_of(state: ClusterMetadata) -> ShardTable:
    return state.routing[UUID].shards[0]


def op(doc_id: str, n: int) -> IndexOp:
    source = {"n": n}
    return IndexOp(doc_id, orjson.dumps(source), MAPPING.parse_document(source, doc_id).values)


async def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


@pytest.fixture
def cluster(tmp_path: Path) -> tuple[SharedState, Peers, Node, Node]:
    shared = SharedState(ClusterMetadata(cluster_uuid="c"))
    peers = Peers({})
    return shared, peers, Node("a", shared, peers, tmp_path), Node("b", shared, peers, tmp_path)


async def start_primary(shared: SharedState) -> None:
    def create(state: ClusterMetadata) -> ClusterMetadata:
        state = replace(state, indices={"logs": index_meta()})
        return with_table(
            state,
            ShardRouting(0, True, INITIALIZING, "a", "pa"),
            ShardRouting(0, False, UNASSIGNED),
        )

    await shared.submit("create", create)
    await wait_until(lambda: table_of(shared.state).primary().state == STARTED)  # type: ignore[union-attr]


async def write(node: Node, *ops: IndexOp) -> list[Any]:
    async def here(shard: Any) -> Any:
        meta = node.cluster.state.indices["logs"]
        return await node.writes.write_on_primary(shard, list(ops), meta, None)

    async def there(node_id: str) -> Any:
        raise AssertionError("the test writes on the primary's node")

    return await node.writes.routed(SID, "2s", lambda: "test", here, there)  # type: ignore[no-any-return]


async def add_replica(shared: SharedState, aid: str = "rb", node: str = "b") -> None:
    def allocate(state: ClusterMetadata) -> ClusterMetadata:
        primary = table_of(state).primary()
        assert primary is not None
        return with_table(state, primary, ShardRouting(0, False, INITIALIZING, node, aid))

    await shared.submit("allocate replica", allocate)


async def test_replica_recovers_while_writes_continue_and_copies_match(
    cluster: tuple[SharedState, Peers, Node, Node],
) -> None:
    shared, _peers, a, b = cluster
    await start_primary(shared)
    assert table_of(shared.state).in_sync == {"pa"}
    for i in range(30):
        (result,) = await write(a, op(f"d{i}", i))
        assert result.error is None
    await write(a, op("d3", 333))  # an update: the history holds both operations
    await add_replica(shared)
    writing = asyncio.gather(*(write(a, op(f"live{i}", i)) for i in range(20)))
    await wait_until(lambda: table_of(shared.state).by_allocation("rb").state == STARTED)  # type: ignore[union-attr]
    results = [r for batch in await writing for r in batch]
    assert all(r.error is None for r in results)
    assert table_of(shared.state).in_sync == {"pa", "rb"}
    assert b.docs() == a.docs() and len(a.docs()) == 50 and b.docs()["d3"] == {"n": 333}
    # Writes after the recovery are replicated; the global checkpoint is the replica's.
    await write(a, op("after", 1))
    primary = a.indices.shard(SID)
    replica = b.indices.shard(SID)
    assert primary is not None and replica is not None
    assert replica.engine.local_checkpoint == primary.engine.max_seq_no
    assert primary.engine.global_checkpoint == primary.engine.max_seq_no
    # The peer-recovery lease was released once the copy was recovered.
    assert primary.engine.retention_leases(60_000) == []


async def test_stale_primary_is_refused_and_acknowledges_nothing(
    cluster: tuple[SharedState, Peers, Node, Node],
) -> None:
    shared, _peers, a, b = cluster
    await start_primary(shared)
    await add_replica(shared)
    await wait_until(lambda: table_of(shared.state).by_allocation("rb").state == STARTED)  # type: ignore[union-attr]
    replica = b.indices.shard(SID)
    assert replica is not None
    # The master raised the term (a's node has not applied that state yet, b's copy knows it):
    # a is a stale primary.
    await asyncio.to_thread(replica.engine.set_primary_term, 2)
    shared.state = with_table(shared.state, *table_of(shared.state).copies, primary_term=2)
    (result,) = await write(a, op("x", 1))
    assert isinstance(result.error, IsthmusError)
    assert result.error.es_type in ("no_longer_primary_shard_exception", "illegal_state_exception")
    with pytest.raises(
        IllegalStateError,
        match=r"\[logs\]\[0\] operation primary term \[1\] is too old \(current \[2\]\)",
    ):
        await b.writes.on_replica(
            {
                "index_uuid": UUID,
                "shard": 0,
                "allocation_id": "rb",
                "primary_term": 1,
                "global_checkpoint": 0,
                "ops": [],
            }
        )


async def test_unreachable_replica_is_failed_before_the_write_is_acknowledged(
    cluster: tuple[SharedState, Peers, Node, Node],
) -> None:
    shared, peers, a, b = cluster
    await start_primary(shared)
    await add_replica(shared)
    await wait_until(lambda: table_of(shared.state).by_allocation("rb").state == STARTED)  # type: ignore[union-attr]
    peers.down.add("b")
    (result,) = await write(a, op("y", 1))
    assert result.error is None
    table = table_of(shared.state)
    assert table.by_allocation("rb") is None and table.in_sync == {"pa"}
    primary = a.indices.shard(SID)
    assert primary is not None and primary.engine.global_checkpoint == primary.engine.max_seq_no
    # b's copy left it: closed, and its files deleted (the index lives on).
    assert b.indices.shard(SID) is None
    assert not b.indices.shard_dir(UUID, 0).exists()


async def test_promoted_replica_takes_the_new_term_and_serves_writes(
    cluster: tuple[SharedState, Peers, Node, Node],
) -> None:
    shared, peers, a, b = cluster
    await start_primary(shared)
    await write(a, op("k", 1))
    await add_replica(shared)
    await wait_until(lambda: table_of(shared.state).by_allocation("rb").state == STARTED)  # type: ignore[union-attr]
    peers.down.add("a")

    def promote(state: ClusterMetadata) -> ClusterMetadata:
        table = table_of(state)
        return with_table(
            state,
            ShardRouting(0, True, STARTED, "b", "rb"),
            ShardRouting(0, False, UNASSIGNED),
            primary_term=table.primary_term + 1,
            in_sync=frozenset({"rb"}),
        )

    await shared.submit("promote", promote)
    (result,) = await write(b, op("k", 2))
    assert result.error is None and result.primary_term == 2 and result.version == 2


async def test_a_removed_copy_abandons_its_recovery(
    cluster: tuple[SharedState, Peers, Node, Node],
) -> None:
    shared, peers, _a, b = cluster
    peers.hang.add("a")  # the recovery waits for its source
    await start_primary(shared)
    await add_replica(shared)
    await asyncio.sleep(0.05)
    assert b.indices.shard(SID) is not None and len(b.indices._starting) == 1
    primary = table_of(shared.state).primary()
    assert primary is not None
    await shared.submit(
        "remove replica", lambda s: with_table(s, primary, ShardRouting(0, False, UNASSIGNED))
    )
    assert b.indices.shard(SID) is None and b.indices._starting == {}


async def test_a_promoted_primary_resyncs_its_copies(tmp_path: Path) -> None:
    """Primary a, replicas b and c; the old primary's last operation reached b only. b is
    promoted: c receives that operation under the new term and the global checkpoint is
    known at once (no write needed)."""
    shared = SharedState(ClusterMetadata(cluster_uuid="c"))
    peers = Peers({})
    a, b, c = (Node(n, shared, peers, tmp_path) for n in "abc")
    await start_primary(shared)
    primary = table_of(shared.state).primary()
    assert primary is not None

    def replicas(state: ClusterMetadata) -> ClusterMetadata:
        return with_table(
            state,
            primary,
            ShardRouting(0, False, INITIALIZING, "b", "rb"),
            ShardRouting(0, False, INITIALIZING, "c", "rc"),
        )

    await shared.submit("replicas", replicas)
    await wait_until(lambda: table_of(shared.state).in_sync == {"pa", "rb", "rc"})
    for i in range(5):
        await write(a, op(f"d{i}", i))
    only_b = b.indices.shard(SID)
    assert only_b is not None
    lost = HistoryOp(5, 1, 1, "index", "late", b'{"n": 5}', 0)
    await only_b.apply_replicated([lost], MAPPING)
    peers.down.add("a")

    def promote(state: ClusterMetadata) -> ClusterMetadata:
        return with_table(
            state,
            ShardRouting(0, True, STARTED, "b", "rb"),
            ShardRouting(0, False, STARTED, "c", "rc"),
            ShardRouting(0, False, UNASSIGNED),
            primary_term=2,
            in_sync=frozenset({"rb", "rc"}),
        )

    await shared.submit("promote", promote)
    replica_c = c.indices.shard(SID)
    assert replica_c is not None
    await wait_until(lambda: replica_c.engine.get("late") is not None)
    assert replica_c.engine.primary_term == 2
    await wait_until(lambda: only_b.engine.global_checkpoint == 5)
    assert c.docs() == b.docs()


async def test_a_copy_opened_before_the_starter_is_set_starts_later(
    cluster: tuple[SharedState, Peers, Node, Node],
) -> None:
    """The node's first state is applied before its actions exist: the copy opens, and is
    reported started once the starter is set (replication_for calls start_pending)."""
    shared, _peers, a, _b = cluster
    starter, a.indices.copy_starter = a.indices.copy_starter, None

    def create(state: ClusterMetadata) -> ClusterMetadata:
        state = replace(state, indices={"logs": index_meta()})
        return with_table(state, ShardRouting(0, True, INITIALIZING, "a", "pa"))

    await shared.submit("create", create)
    assert a.indices.shard(SID) is not None
    await asyncio.sleep(0.05)
    assert table_of(shared.state).copies[0].state == INITIALIZING
    a.indices.copy_starter = starter
    a.indices.start_pending()
    await wait_until(lambda: table_of(shared.state).copies[0].state == STARTED)


async def test_a_get_reads_the_primary_else_a_started_replica(
    cluster: tuple[SharedState, Peers, Node, Node],
) -> None:
    shared, peers, a, b = cluster
    await start_primary(shared)
    await write(a, op("k", 1))
    assert (await b.writes.get(SID, "k")) is not None  # from the primary, on a
    await add_replica(shared)
    await wait_until(lambda: table_of(shared.state).by_allocation("rb").state == STARTED)  # type: ignore[union-attr]
    await write(a, op("k", 2))
    peers.down.add("a")  # the primary's node cannot be reached: b's started copy answers
    doc = await b.writes.get(SID, "k")
    assert doc is not None and doc.version == 2
    peers.down.add("b")
    with pytest.raises(NoShardAvailableActionError, match=r"No shard available for \[get"):
        await a.writes.get(ShardId("other", 0, "other"), "k")


async def test_an_acknowledged_write_is_not_skipped_by_a_replica_with_an_old_terms_operation(
    tmp_path: Path,
) -> None:
    """Primary a, replicas b and c; the old primary's last operation (seq 5, term 1, never
    acknowledged) reached b only. c (which lacks it) is promoted: its next write gets seq 5
    under term 2 and is acknowledged. b, whose seq 5 the resync did not confirm, refuses and is
    failed (without counting an allocation failure) before the acknowledgement, so it can never
    be promoted with the old operation; a new copy on b recovers from empty and holds the
    acknowledged write only. (A review's probe: b skipped the write as already processed.)"""
    shared = SharedState(ClusterMetadata(cluster_uuid="c"))
    peers = Peers({})
    a, b, c = (Node(n, shared, peers, tmp_path) for n in "abc")
    await start_primary(shared)
    primary = table_of(shared.state).primary()
    assert primary is not None

    def replicas(state: ClusterMetadata) -> ClusterMetadata:
        return with_table(
            state,
            primary,
            ShardRouting(0, False, INITIALIZING, "b", "rb"),
            ShardRouting(0, False, INITIALIZING, "c", "rc"),
        )

    await shared.submit("replicas", replicas)
    await wait_until(lambda: table_of(shared.state).in_sync == {"pa", "rb", "rc"})
    for i in range(5):
        await write(a, op(f"d{i}", i))
    only_b = b.indices.shard(SID)
    assert only_b is not None
    await only_b.apply_replicated([HistoryOp(5, 1, 1, "index", "unacked", b'{"n": 5}', 0)], MAPPING)
    peers.down.add("a")

    def promote_c(state: ClusterMetadata) -> ClusterMetadata:
        return with_table(
            state,
            ShardRouting(0, True, STARTED, "c", "rc"),
            ShardRouting(0, False, STARTED, "b", "rb"),
            ShardRouting(0, False, UNASSIGNED),
            primary_term=2,
            in_sync=frozenset({"rb", "rc"}),
        )

    await shared.submit("promote c", promote_c)
    await asyncio.sleep(0.2)  # c's resync
    (result,) = await write(c, op("acked", 6))
    assert result.error is None  # acknowledged to the client
    table = table_of(shared.state)
    assert table.by_allocation("rb") is None and table.in_sync == {"rc"}
    # Not counted as a failed allocation of the copy (its retries are not used up).
    assert all(c.unassigned is None or c.unassigned.failed_attempts == 0 for c in table.copies)
    primary_c = table.primary()
    assert primary_c is not None

    def reallocate(state: ClusterMetadata) -> ClusterMetadata:
        return with_table(state, primary_c, ShardRouting(0, False, INITIALIZING, "b", "rb2"))

    await shared.submit("reallocate b", reallocate)
    await wait_until(lambda: table_of(shared.state).in_sync == {"rc", "rb2"})
    replica_b = b.indices.shard(SID)
    assert replica_b is not None
    assert replica_b.engine.get("acked") is not None, "b skipped an acknowledged write"
    assert replica_b.engine.get("unacked") is None
    assert b.docs() == c.docs()


async def test_a_replica_initializing_again_with_its_id_recovers_from_empty(
    cluster: tuple[SharedState, Peers, Node, Node],
) -> None:
    """A replica the table marks INITIALIZING again with its allocation id while it is open
    (its start to be tried again) drops its store and recovers from empty: an operation only
    its old store held (an older primary's) is gone."""
    shared, _peers, a, b = cluster
    await start_primary(shared)
    for i in range(3):
        await write(a, op(f"d{i}", i))
    await add_replica(shared)
    await wait_until(lambda: table_of(shared.state).by_allocation("rb").state == STARTED)  # type: ignore[union-attr]
    old = b.indices.shard(SID)
    assert old is not None
    await old.apply_replicated([HistoryOp(3, 1, 1, "index", "stray", b'{"n": 3}', 0)], MAPPING)
    primary = table_of(shared.state).primary()
    assert primary is not None
    await shared.submit(
        "reinitialize",
        lambda s: with_table(s, primary, ShardRouting(0, False, INITIALIZING, "b", "rb")),
    )
    await wait_until(lambda: table_of(shared.state).by_allocation("rb").state == STARTED)  # type: ignore[union-attr]
    await write(a, op("d3", 3))
    replica = b.indices.shard(SID)
    assert replica is not None and replica is not old
    assert replica.engine.get("stray") is None
    assert b.docs() == a.docs() and replica.engine.get("d3") is not None


async def test_a_live_write_of_a_new_term_waits_for_the_resync_that_confirms_the_replica(
    cluster: tuple[SharedState, Peers, Node, Node],
) -> None:
    """The term rises while replica b holds operations above the global checkpoint it knew: a
    write of the new term reaching b first waits for the primary's resync, which confirms b's
    operations (the same _seq_no and terms): b applies the write and stays in sync instead of
    being replaced."""
    shared, _peers, a, b = cluster
    await start_primary(shared)
    await add_replica(shared)
    await wait_until(lambda: table_of(shared.state).by_allocation("rb").state == STARTED)  # type: ignore[union-attr]
    for i in range(3):
        await write(a, op(f"d{i}", i))
    replica = b.indices.shard(SID)
    primary = a.indices.shard(SID)
    assert replica is not None and primary is not None
    assert replica.engine.max_seq_no > replica.engine.known_global_checkpoint
    await shared.submit("raise term", lambda s: with_table(s, *table_of(s).copies, primary_term=2))
    assert replica.engine.primary_term == 2 and replica.unconfirmed_from is not None
    live = asyncio.create_task(write(a, op("x", 9)))
    await asyncio.sleep(0.1)
    assert not live.done()  # b waits for the resync
    await a.writes.resync(primary)
    (result,) = await live
    assert result.error is None and result.primary_term == 2
    assert table_of(shared.state).in_sync == {"pa", "rb"}
    assert b.indices.shard(SID) is replica and replica.unconfirmed_from is None
    assert b.docs() == a.docs() and replica.engine.get("x") is not None
