"""CCR's shard work on the node of the shard's primary, in-process (no sockets): two leader
"nodes" share one cluster state; node A holds no copy, node B holds the primary. What a
follower asks of A is authorized there and served by B; B's errors come back as they were; the
hand-over actions refuse other clusters and clusters of one. And the copy of a leader store
replayed as operations, its trimmed ``_seq_no`` as no-ops."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import orjson
import ormsgpack
import pytest

from isthmus.ccr.leader import LeaderShards
from isthmus.ccr.placement import CcrPlacement
from isthmus.ccr.replica_writes import replica_writer
from isthmus.ccr.restore_ops import (
    pending_restore,
    restored,
    snapshot_operations,
    with_pending_restore,
)
from isthmus.ccr.retry import should_retry
from isthmus.ccr.wire import (
    LeaderIndexMetadataRequest,
    ReplicatedOp,
    RetentionLeaseRequest,
    ShardChangesRequest,
)
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.routing import ShardId
from isthmus.cluster.shard_copies import CopyTarget
from isthmus.errors import (
    IllegalArgumentError,
    IllegalStateError,
    NoLongerPrimaryShardError,
    ShardNotFoundError,
    UnavailableShardsError,
)
from isthmus.index.engine import DeleteOp, IndexOp, ShardEngine
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.index.service import IndicesService, Shard
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.transport.channel_info import ChannelInfo
from isthmus.wire.names import (
    ADD_RETENTION_LEASE_ACTION,
    CLUSTER_STATE_ACTION,
    SHARD_CHANGES_ACTION,
    SHARD_CHANGES_SHARD_ACTION,
)

MAPPING = IndexMapping({"properties": {"n": {"type": "long"}}})
META = IndexMetadata("lead", "L-uuid", {"index.number_of_shards": "1"}, MAPPING)


@dataclass
class Copies:
    """Every shard's primary on ``primary_node`` (None: no active primary)."""

    local: str
    primary_node: str | None
    started: bool = True
    distributed: bool = True

    @property
    def local_node_id(self) -> str:
        return self.local

    def primary(self, shard_id: ShardId) -> CopyTarget | None:
        if self.primary_node is None:
            return None
        return CopyTarget(self.primary_node, "aid", True, self.started)

    def replicas(self, shard_id: ShardId) -> list[CopyTarget]:
        return []

    def readable(self, shard_id: ShardId) -> list[CopyTarget]:
        target = self.primary(shard_id)
        return [target] if target is not None else []

    def primary_term(self, shard_id: ShardId) -> int:
        return 1

    async def fail_copy(
        self, shard_id: ShardId, aid: str, term: int, reason: str, *, unreachable: bool = False
    ) -> None:
        return None


def ctx(action: str) -> TransportRequestContext[Any]:
    return TransportRequestContext(action, {}, cast(ChannelInfo, None))


@dataclass
class Nodes:
    a: ActionRegistry[Any]
    b: ActionRegistry[Any]
    a_copies: Copies
    b_copies: Copies
    shard: Shard
    sent: list[str]


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Nodes]:
    state = ClusterMetadata("c", {"lead": META})
    empty = IndicesService(tmp_path / "a")  # node A holds no copy
    holding = IndicesService(tmp_path / "b")
    await holding.apply(ClusterMetadata("c"), state)
    (shard,) = holding.shards.values()
    leader_a = LeaderShards(lambda: state, empty)
    leader_b = LeaderShards(lambda: state, holding)
    registries: dict[str, ActionRegistry[Any]] = {"a": ActionRegistry(), "b": ActionRegistry()}
    sent: list[str] = []

    async def request(
        node: str, action: str, payload: Mapping[str, Any], timeout: float | None
    ) -> Any:
        sent.append(f"{node} {action}")
        wire = ormsgpack.unpackb(ormsgpack.packb(dict(payload)))
        answer = await registries[node].dispatch(wire, ctx(action))
        return ormsgpack.unpackb(ormsgpack.packb(answer))

    a_copies, b_copies = Copies("a", "b"), Copies("b", "b")
    leader_a.distribute(CcrPlacement(a_copies, "c", request))
    leader_b.distribute(CcrPlacement(b_copies, "c", request))
    leader_a.register(registries["a"])
    leader_b.register(registries["b"])
    # (what actions.remote_nodes registers on a node, the index metadata part of it)
    registries["a"].register(CLUSTER_STATE_ACTION, leader_a.index_metadata)
    yield Nodes(registries["a"], registries["b"], a_copies, b_copies, shard, sent)
    await holding.close()


def changes(shard: Shard, history_uuid: str | None = None) -> dict[str, Any]:
    request = ShardChangesRequest(
        "lead", 0, 0, 100, history_uuid or shard.engine.history_uuid, poll_timeout_ms=0
    )
    return request.to_payload()


async def test_a_node_without_the_primary_hands_shard_changes_to_its_node(nodes: Nodes) -> None:
    ops = [IndexOp(i, orjson.dumps({"n": 1}), {"n": [1]}) for i in ("x", "y")]
    await nodes.shard.write(ops, MAPPING)
    answer = await nodes.a.dispatch(changes(nodes.shard), ctx(SHARD_CHANGES_ACTION))
    assert [op[1] for op in answer["operations"]] == ["x", "y"]
    assert answer["global_checkpoint"] == 1
    assert nodes.sent == [f"b {SHARD_CHANGES_SHARD_ACTION}"]


async def test_the_primarys_error_comes_back_as_it_was(nodes: Nodes) -> None:
    with pytest.raises(IllegalStateError, match=r"unexpected history uuid, expected \[other\]"):
        await nodes.a.dispatch(changes(nodes.shard, "other"), ctx(SHARD_CHANGES_ACTION))


async def test_a_lease_taken_through_any_node_is_on_the_primary(nodes: Nodes) -> None:
    lease = RetentionLeaseRequest("lead", 0, "f-lease", 0, leader_index_uuid="L-uuid")
    await nodes.a.dispatch(lease.to_payload(), ctx(ADD_RETENTION_LEASE_ACTION))
    leases = nodes.shard.engine.retention_leases(nodes.shard.retention_lease_period_ms)
    assert "f-lease" in {lease.id for lease in leases}


async def test_the_leader_index_names_its_primaries_history(nodes: Nodes) -> None:
    payload = LeaderIndexMetadataRequest("lead").to_payload()
    answer = await nodes.a.dispatch(payload, ctx(CLUSTER_STATE_ACTION))
    assert answer["shard_history_uuids"] == [nodes.shard.engine.history_uuid]


async def test_a_shard_without_an_active_primary_is_retried_by_the_follower(
    nodes: Nodes,
) -> None:
    nodes.a_copies.started = False
    with pytest.raises(ShardNotFoundError):
        await nodes.a.dispatch(changes(nodes.shard), ctx(SHARD_CHANGES_ACTION))
    assert nodes.sent == []


async def test_the_hand_over_is_refused_to_another_cluster_and_in_a_cluster_of_one(
    nodes: Nodes, tmp_path: Path
) -> None:
    foreign = {**changes(nodes.shard), "cluster_name": "other"}
    with pytest.raises(IllegalArgumentError, match="only answered to nodes of cluster"):
        await nodes.b.dispatch(foreign, ctx(SHARD_CHANGES_SHARD_ACTION))
    alone = ActionRegistry[Any]()
    LeaderShards(lambda: ClusterMetadata("c", {"lead": META}), IndicesService(tmp_path)).register(
        alone
    )
    with pytest.raises(IllegalArgumentError, match="only answered to nodes of this cluster"):
        await alone.dispatch(
            {**changes(nodes.shard), "cluster_name": ""}, ctx(SHARD_CHANGES_SHARD_ACTION)
        )


async def test_a_copy_no_longer_primary_refuses_what_is_handed_over(nodes: Nodes) -> None:
    """The primary moved between A's decision and B's answer: B, whose copy is no longer the
    primary, refuses with ES's retryable shard_not_found_exception."""
    nodes.b_copies.primary_node = "c"
    with pytest.raises(ShardNotFoundError):
        await nodes.a.dispatch(changes(nodes.shard), ctx(SHARD_CHANGES_ACTION))


# --- a leader store copied as operations ----------------------------------------------------


def test_a_copied_store_replays_its_history_with_no_ops_for_what_was_trimmed(
    tmp_path: Path,
) -> None:
    engine = ShardEngine(tmp_path / "leader", MAPPING)
    for n in range(3):  # "a" three times: its first two operations are superseded
        engine.write([IndexOp("a", orjson.dumps({"n": n}), {"n": [n]})], MAPPING)
    engine.write([IndexOp("b", orjson.dumps({"n": 7}), {"n": [7]}, routing="r")], MAPPING)
    engine.write([DeleteOp("b")], MAPPING)
    engine.snapshot_store(tmp_path / "copy.sqlite")
    engine.close()
    store = tmp_path / "copy.sqlite"
    db = sqlite3.connect(store)
    db.execute("DELETE FROM ops WHERE seq_no IN (0, 1)")  # trimmed on the leader
    db.commit()
    db.close()
    ops = snapshot_operations(store)
    assert [(o.op, o.id, o.seq_no) for o in ops] == [
        ("noop", "", 0),
        ("noop", "", 1),
        ("index", "a", 2),
        ("index", "b", 3),
        ("delete", "b", 4),
    ]
    assert (ops[2].version, orjson.loads(ops[2].source or b"")) == (3, {"n": 2})
    assert ops[3].routing == "r"
    shutil.rmtree(tmp_path / "leader")


def test_the_shards_left_to_copy_are_recorded_on_the_follower() -> None:
    meta = with_pending_restore(META, frozenset({0, 2}))
    assert pending_restore(meta) == {0, 2}
    state = ClusterMetadata("c", {"lead": meta})
    state = restored("L-uuid", 0)(state)
    assert pending_restore(state.indices["lead"]) == {2}
    state = restored("L-uuid", 2)(state)
    assert "ccr_restore" not in state.indices["lead"].custom


# --- a follower primary's writes and its replicas -------------------------------------------


class ReplicatedCopies(Copies):
    def replicas(self, shard_id: ShardId) -> list[CopyTarget]:
        return [CopyTarget("c", "r", False, True)]


class StaleWrites:
    """A write path whose replication step finds this primary stale."""

    copies = ReplicatedCopies("b", "b")

    async def replicate(self, *args: Any) -> None:
        raise NoLongerPrimaryShardError("lead", "L-uuid", 0, "primary term [1] is stale")


async def test_a_write_its_replicas_may_lack_is_retried_not_fatal(nodes: Nodes) -> None:
    """The copy that failed the operations could not be failed (this primary is stale): the
    follow task must try again, not stop."""
    replicate = replica_writer(cast(Any, StaleWrites()))
    op = ReplicatedOp("index", "z", 0, 1, 1, orjson.dumps({"n": 1}))
    with pytest.raises(UnavailableShardsError) as failed:
        await replicate(nodes.shard, [op], META)
    assert should_retry(failed.value)
    assert nodes.shard.engine.local_checkpoint == 0  # stored here, not acknowledged
