"""ES's ``_shards`` of a replicated write: the copies that applied it and the failed replicas
(two in-process nodes, as in test_replication_nodes)."""

from __future__ import annotations

from pathlib import Path

from isthmus.actions.document_items import shards_section
from isthmus.actions.shard_replication import Replicated
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.shard_routing import STARTED
from tests.unit.index.test_replication_nodes import (
    SID,
    Node,
    Peers,
    SharedState,
    add_replica,
    op,
    start_primary,
    table_of,
    wait_until,
)


async def _write(node: Node, doc_id: str) -> Replicated:
    replicated = Replicated()
    meta = node.cluster.state.indices["logs"]
    shard = node.writes.primary_here(SID)
    assert shard is not None
    (result,) = await node.writes.write_on_primary(shard, [op(doc_id, 1)], meta, None, replicated)
    assert result.error is None
    return replicated


async def test_a_write_counts_the_copies_that_applied_it_and_the_failed_ones(
    tmp_path: Path,
) -> None:
    shared = SharedState(ClusterMetadata(cluster_uuid="c"))
    peers = Peers({})
    a, _b = Node("a", shared, peers, tmp_path), Node("b", shared, peers, tmp_path)
    await _started_pair(shared)
    # Both copies applied it (the item said successful 1 whatever the replicas did).
    done = await _write(a, "x")
    assert shards_section(2, done) == {"total": 2, "successful": 2, "failed": 0}
    _down(peers, "b")
    failed = await _write(a, "y")
    section = shards_section(2, failed)
    assert (section["total"], section["successful"], section["failed"]) == (2, 1, 1)
    (failure,) = section["failures"]
    assert (failure["_index"], failure["_shard"], failure["_node"], failure["primary"]) == (
        "logs",
        0,
        "b",
        False,
    )
    assert failure["reason"]["type"] and failure["status"]
    # The answer a forwarding node decodes is the same.
    assert Replicated.from_json(failed.to_json()) == failed
    assert Replicated.from_json(None) == Replicated()


async def _started_pair(shared: SharedState) -> None:
    await start_primary(shared)
    await add_replica(shared)
    await wait_until(lambda: table_of(shared.state).by_allocation("rb").state == STARTED)  # type: ignore[union-attr]


def _down(peers: Peers, node_id: str) -> None:
    peers.down.add(node_id)
