"""Shard allocation on three real nodes (issue 20): the elected master spreads a new index's
copies (never two copies of a shard on one node), an exclude filter moves started copies away
and steers new ones, rebalancing evens the nodes out once it is lifted, a lost node's copies are
replaced, and ``_cluster/allocation/explain`` says why a copy has nowhere to go.

One cluster serves the module; the tests run in order and the last one kills a node.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import BadRequestError, Elasticsearch

from isthmus.testing.cluster import NodeCluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    folder: Path = tmp_path_factory.mktemp("allocation")
    settings = {
        "xpack.security.enabled": False,
        "cluster.routing.rebalance.enable": "all",  # ES's default (Isthmus's is none)
    }
    with NodeCluster(folder, 3, settings=settings) as c:
        yield c


def _es(cluster: NodeCluster, name: str) -> Elasticsearch:
    return Elasticsearch(cluster[name].url, request_timeout=60)


def _shards(es: Elasticsearch, index: str) -> list[dict[str, Any]]:
    rows = es.cat.shards(index=index, format="json", h="index,shard,prirep,state,node,ur")
    return list(rows.body)


def test_new_index_spreads_started_copies_over_the_nodes(cluster: NodeCluster) -> None:
    es = _es(cluster, "node-2")
    created = es.indices.create(
        index="spread", settings={"number_of_shards": 3, "number_of_replicas": 1}
    )
    assert created["shards_acknowledged"] is True
    health = es.cluster.health(index="spread", wait_for_status="green", timeout="20s")
    assert health["status"] == "green", health
    assert (health["active_primary_shards"], health["active_shards"]) == (3, 6)
    rows = _shards(_es(cluster, "node-3"), "spread")
    assert len(rows) == 6 and {r["state"] for r in rows} == {"STARTED"}
    assert {r["node"] for r in rows} == {"node-1", "node-2", "node-3"}
    for shard in ("0", "1", "2"):
        holders = [r["node"] for r in rows if r["shard"] == shard]
        assert len(holders) == 2 and len(set(holders)) == 2  # never two copies on one node
    report = _es(cluster, "node-3").health_report(feature="shards_availability")
    availability = report["indicators"]["shards_availability"]
    assert availability["status"] == "green", availability
    assert availability["details"]["started_replicas"] == 3
    state = _es(cluster, "node-1").cluster.state(metric="routing_table,metadata")
    table = state["routing_table"]["indices"]["spread"]["shards"]
    assert sorted(table) == ["0", "1", "2"]
    for number, copies in table.items():
        ids = sorted(c["allocation_id"]["id"] for c in copies)
        assert [c["state"] for c in copies] == ["STARTED", "STARTED"]
        in_sync = state["metadata"]["indices"]["spread"]["in_sync_allocations"][number]
        assert sorted(in_sync) == ids
        assert state["metadata"]["indices"]["spread"]["primary_terms"][number] == 1
    found = _es(cluster, "node-1").cat.allocation(format="json", h="shards,node").body
    assert isinstance(found, list)
    allocation: list[dict[str, Any]] = found
    assert sorted((r["node"], r["shards"]) for r in allocation) == [
        ("node-1", "2"),
        ("node-2", "2"),
        ("node-3", "2"),
    ]


def test_exclude_filter_moves_copies_away_rebalance_brings_them_back(cluster: NodeCluster) -> None:
    es = _es(cluster, "node-1")
    es.indices.put_settings(
        index="spread", settings={"index.routing.allocation.exclude._name": "node-3"}
    )
    # ES's relocation: each copy on node-3 gets a target elsewhere, then leaves; no copy is lost.
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = _shards(es, "spread")
        seen |= {r["state"] for r in rows}
        if {r["node"] for r in rows} == {"node-1", "node-2"} and len(rows) == 6:
            break
        assert es.cluster.health(index="spread")["status"] == "green"  # never a copy short
        time.sleep(0.05)
    assert len(rows) == 6 and {r["state"] for r in rows} == {"STARTED"}, rows
    assert {r["node"] for r in rows} == {"node-1", "node-2"}, rows
    health = es.cluster.health(index="spread", wait_for_no_relocating_shards=True, timeout="5s")
    assert (health["status"], health["relocating_shards"]) == ("green", 0), health
    # Lifting the filter: rebalancing brings copies back to node-3. Isthmus's rebalancing moves
    # replicas only (docs/allocation.md), so whether the nodes end at 2 copies each depends on
    # which node holds which primaries: every node holds some again, and at most one move away
    # from even (ES's weighted balancer, moving primaries too, would reach 2/2/2).
    es.indices.put_settings(
        index="spread", settings={"index.routing.allocation.exclude._name": None}
    )
    deadline = time.monotonic() + 30
    settled_since: float | None = None
    while time.monotonic() < deadline:
        rows = _shards(es, "spread")
        per_node = sorted(
            sum(1 for r in rows if r["node"] == n and r["state"] == "STARTED")
            for n in cluster.names
        )
        if per_node == [2, 2, 2]:
            break
        if per_node[0] >= 1 and all(r["state"] == "STARTED" for r in rows):
            settled_since = settled_since or time.monotonic()
            if time.monotonic() - settled_since > 3:  # no further move for 3 s
                break
        else:
            settled_since = None
        time.sleep(0.05)
    assert per_node[0] >= 1 and per_node[-1] - per_node[0] <= 2, rows
    es.indices.create(
        index="filtered",
        settings={
            "number_of_shards": 2,
            "number_of_replicas": 1,
            "index.routing.allocation.exclude._name": "node-3",
        },
    )
    health = es.cluster.health(index="filtered", wait_for_status="green", timeout="20s")
    assert health["status"] == "green", health
    assert {r["node"] for r in _shards(es, "filtered")} == {"node-1", "node-2"}


def test_explain_a_replica_with_no_node_left_says_same_shard(cluster: NodeCluster) -> None:
    es = _es(cluster, "node-3")
    created = es.indices.create(
        index="many",
        settings={"number_of_shards": 1, "number_of_replicas": 3},
        wait_for_active_shards="all",
        timeout="1s",
    )
    assert created["shards_acknowledged"] is False  # one copy can never be allocated
    health = es.cluster.health(
        index="many", wait_for_status="yellow", wait_for_active_shards=3, timeout="20s"
    )
    assert (health["status"], health["unassigned_shards"]) == ("yellow", 1), health
    out = es.cluster.allocation_explain(index="many", shard=0, primary=False)
    assert (out["current_state"], out["can_allocate"]) == ("unassigned", "no")
    assert out["unassigned_info"]["reason"] == "INDEX_CREATED"
    decisions = out["node_allocation_decisions"]
    assert {d["node_name"] for d in decisions} == {"node-1", "node-2", "node-3"}
    for decision in decisions:
        assert [d["decider"] for d in decision["deciders"]] == ["same_shard"], decision
    es.indices.delete(index="many")


def test_lost_node_replicas_reallocated_green_again(cluster: NodeCluster) -> None:
    es = _es(cluster, "node-1")
    es.indices.put_settings(
        index="spread,filtered", settings={"index.unassigned.node_left.delayed_timeout": "0"}
    )
    assert any(r["node"] == "node-2" for r in _shards(es, "spread"))
    cluster["node-2"].kill()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        health = es.cluster.health(index="spread")
        if health["number_of_nodes"] == 2 and health["status"] == "green":
            break
        time.sleep(0.1)
    # (Yellow in between can be too short to see: empty copies recover in milliseconds.)
    assert health["number_of_nodes"] == 2 and health["status"] == "green", health
    rows = _shards(es, "spread")
    assert len(rows) == 6 and {r["state"] for r in rows} == {"STARTED"}
    assert {r["node"] for r in rows} == {"node-1", "node-3"}
    # "filtered" excludes node-3: its primaries survive on node-1 (replicas promoted where the
    # primary was lost), its replicas have nowhere to go.
    filtered = _shards(es, "filtered")
    assert sorted((r["prirep"], r["state"], r["node"] or "", r["ur"] or "") for r in filtered) == [
        ("p", "STARTED", "node-1", ""),
        ("p", "STARTED", "node-1", ""),
        ("r", "UNASSIGNED", "", "NODE_LEFT"),
        ("r", "UNASSIGNED", "", "NODE_LEFT"),
    ]
    assert es.cluster.health(index="filtered")["status"] == "yellow"
    out = es.cluster.allocation_explain(index="filtered", shard=0, primary=False)
    deciders = {
        d["node_name"]: [x["decider"] for x in d["deciders"]]
        for d in out["node_allocation_decisions"]
    }
    assert deciders == {"node-1": ["same_shard"], "node-3": ["filter"]}
    # A replica cannot be forced where the filter forbids it; retry_failed is accepted.
    with pytest.raises(BadRequestError) as refused:
        es.cluster.reroute(
            commands=[{"allocate_replica": {"index": "filtered", "shard": 0, "node": "node-3"}}]
        )
    assert "is not allowed, reason: [filter]" in str(refused.value.info)
    rerouted = es.cluster.reroute(retry_failed=True, metric="routing_table")
    assert rerouted["acknowledged"] is True
    assert "filtered" in rerouted["state"]["routing_table"]["indices"]
