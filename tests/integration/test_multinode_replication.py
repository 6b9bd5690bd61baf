"""Primary-backup replication on three real nodes (etcd on unix sockets, the official client):
an index with 2 shards and 1 replica goes green; bulk requests through every node land and every
document is read through every node; after the node of a primary is SIGKILLed its replica is
promoted and answers every document; nodes SIGKILLed at random during concurrent bulk indexing
lose no acknowledged write (seeds printed).
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.cluster import NodeCluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    folder: Path = tmp_path_factory.mktemp("replication")
    with NodeCluster(folder, 3, settings={"xpack.security.enabled": False}) as c:
        c.wait_formed(3)
        yield c


# A node that left is not waited for (ES delays a replica's reallocation 1m by default).
NO_DELAY = {"index.unassigned.node_left.delayed_timeout": "0s"}


def client(cluster: NodeCluster, name: str, timeout: float = 60) -> Elasticsearch:
    return Elasticsearch(cluster[name].url, request_timeout=timeout)


def up(cluster: NodeCluster) -> list[str]:
    return [
        n for n in cluster.names if cluster[n].proc is not None and cluster[n].proc.poll() is None
    ]


def shards(es: Elasticsearch, index: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = es.cat.shards(
        index=index, format="json", h="shard,prirep,state,node"
    )
    return rows


def wait_green(es: Elasticsearch, index: str, timeout: str = "30s") -> None:
    health = es.cluster.health(index=index, wait_for_status="green", timeout=timeout)
    assert health["status"] == "green", (health, shards(es, index))


def bulk(es: Elasticsearch, index: str, ids: list[str], tag: str) -> list[str]:
    """Index ``ids``; the ids whose write was acknowledged."""
    ops: list[Any] = []
    for doc_id in ids:
        ops += [{"index": {"_index": index, "_id": doc_id}}, {"tag": tag, "id": doc_id}]
    answer = es.bulk(operations=ops, timeout="20s")
    return [i["index"]["_id"] for i in answer["items"] if i["index"].get("status", 500) < 300]


def test_bulk_through_every_node_is_read_through_every_node(cluster: NodeCluster) -> None:
    es = [client(cluster, n) for n in cluster.names]
    es[0].indices.create(index="rep", settings={"number_of_shards": 2, "number_of_replicas": 1})
    wait_green(es[1], "rep")
    rows = shards(es[2], "rep")
    assert sorted((r["shard"], r["prirep"], r["state"]) for r in rows) == [
        ("0", "p", "STARTED"),
        ("0", "r", "STARTED"),
        ("1", "p", "STARTED"),
        ("1", "r", "STARTED"),
    ]
    written: list[str] = []
    for i, node in enumerate(es):
        ids = [f"n{i}-{j}" for j in range(25)]
        assert bulk(node, "rep", ids, f"from-{i}") == ids
        written += ids
    es[1].update(index="rep", id="n0-0", doc={"tag": "updated"})
    for node in es:
        got = node.mget(index="rep", ids=written)["docs"]
        assert all(d["found"] for d in got), [d["_id"] for d in got if not d["found"]]
        assert node.get(index="rep", id="n0-0")["_source"]["tag"] == "updated"
    es[2].indices.refresh(index="rep")
    for node in es:
        assert node.count(index="rep")["count"] == 75
        # A non-realtime get reads what a started copy made searchable (this node's, or the
        # primary's).
        assert node.get(index="rep", id="n0-0", realtime=False)["_source"]["tag"] == "updated"


def test_a_promoted_replica_answers_every_document(cluster: NodeCluster) -> None:
    es = client(cluster, cluster.names[0])
    es.indices.create(
        index="promote", settings={"number_of_shards": 1, "number_of_replicas": 1, **NO_DELAY}
    )
    wait_green(es, "promote")
    ids = [f"p{j}" for j in range(40)]
    assert bulk(es, "promote", ids, "x") == ids
    primary = next(r["node"] for r in shards(es, "promote") if r["prirep"] == "p")
    survivors = [n for n in cluster.names if n != primary]
    victim = cluster[primary]
    assert victim.proc is not None
    os.kill(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait()
    try:
        cluster.wait_formed(2, timeout=20)
        other = client(cluster, survivors[0])
        deadline = time.monotonic() + 20
        while True:
            rows = [r for r in shards(other, "promote") if r["prirep"] == "p"]
            if rows and rows[0]["state"] == "STARTED" and rows[0]["node"] in survivors:
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.1)
        for name in survivors:
            got = client(cluster, name).mget(index="promote", ids=ids)["docs"]
            assert all(d["found"] for d in got)
        # Writes go on through the promoted primary.
        assert bulk(other, "promote", ["after"], "y") == ["after"]
    finally:
        victim.start()
        cluster.wait_formed(3, timeout=30)


def test_no_acknowledged_write_is_lost_when_nodes_are_killed(cluster: NodeCluster) -> None:
    seed = int(os.environ.get("REPLICATION_SEED", random.randrange(1 << 30)))
    print(f"REPLICATION_SEED={seed}")
    rng = random.Random(seed)
    es = client(cluster, up(cluster)[0])
    es.indices.create(
        index="chaos", settings={"number_of_shards": 2, "number_of_replicas": 1, **NO_DELAY}
    )
    wait_green(es, "chaos")
    acknowledged: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def writer(w: int) -> None:
        n = 0
        while not stop.is_set():
            names = up(cluster)
            if not names:
                time.sleep(0.05)
                continue
            name = rng.choice(names)
            ids = [f"w{w}-{n + k}" for k in range(10)]
            n += 10
            try:
                done = bulk(client(cluster, name, timeout=30), "chaos", ids, "chaos")
            except Exception:  # the node died under the request: nothing acknowledged
                continue
            with lock:
                acknowledged.update(done)

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(writer, w) for w in range(3)]
        for _round in range(int(os.environ.get("REPLICATION_KILLS", "2"))):
            time.sleep(rng.uniform(0.5, 1.5))
            name = rng.choice(up(cluster))
            node = cluster[name]
            assert node.proc is not None
            print(f"killing {name}")
            os.kill(node.proc.pid, signal.SIGKILL)
            node.proc.wait()
            time.sleep(rng.uniform(0.5, 1.5))
            node.start()
            cluster.wait_formed(3, timeout=30)
            back = client(cluster, name)
            # A replica allocated again to the killed node while it was still a member (until
            # its lease expired) fails on every write, but an unreachable node's copy is not a
            # failed allocation: index.allocation.max_retries is never used up, no reroute is
            # needed for the cluster to become green again.
            wait_green(back, "chaos", timeout="60s")
        time.sleep(0.5)
        stop.set()
        for f in futures:
            f.result()
    print(f"{len(acknowledged)} writes acknowledged")
    assert acknowledged
    for name in up(cluster):
        node = client(cluster, name)
        ids = sorted(acknowledged)
        missing = [d["_id"] for d in node.mget(index="chaos", ids=ids)["docs"] if not d["found"]]
        assert not missing, (seed, name, missing[:20], len(missing))
    # Both copies of each shard hold the same documents (searched copy by copy).
    es = client(cluster, up(cluster)[0])
    es.indices.refresh(index="chaos")
    rows = es.cat.shards(index="chaos", format="json", h="shard,prirep,state,id")
    nodes = {n["name"]: n_id for n_id, n in es.nodes.info()["nodes"].items()}
    assert {r["state"] for r in rows} == {"STARTED"}, rows
    for number in ("0", "1"):
        counts = {
            r["prirep"]: es.count(
                index="chaos", preference=f"_shards:{number}|_only_nodes:{r['id']}"
            )["count"]
            for r in rows
            if r["shard"] == number
        }
        assert len(counts) == 2 and len(set(counts.values())) == 1, (seed, number, counts, nodes)


def test_a_write_without_an_active_primary_is_unavailable_after_its_timeout(
    cluster: NodeCluster,
) -> None:
    es = client(cluster, up(cluster)[0])
    es.indices.create(
        index="nowhere",
        settings={
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "index.routing.allocation.require._name": "no-such-node",
        },
        wait_for_active_shards="0",
    )
    started = time.monotonic()
    answer = es.options(ignore_status=503).index(
        index="nowhere", id="1", document={"a": 1}, timeout="1s"
    )
    assert 1.0 <= time.monotonic() - started < 10
    assert answer.meta.status == 503
    error = answer.body["error"]
    assert error["type"] == "unavailable_shards_exception"
    assert error["reason"] == (
        "[nowhere][0] primary shard is not active Timeout: [1s], request: "
        '[BulkShardRequest [[nowhere][0]] containing [index {[nowhere][1], source[{"a":1}]}]]'
    )
    bad = es.options(ignore_status=400).index(
        index="nowhere", id="1", document={"a": 1}, timeout="soon"
    )
    assert bad.meta.status == 400


def test_refresh_true_reaches_every_copy(cluster: NodeCluster) -> None:
    """With no periodic refresh, a write or update with refresh=true through any node is
    searchable on both copies (each searched on its own node: preference=_local)."""
    es = client(cluster, up(cluster)[0])
    es.indices.create(
        index="fresh",
        settings={"number_of_shards": 1, "number_of_replicas": 1, "refresh_interval": "-1"},
    )
    wait_green(es, "fresh")
    holders = [r["node"] for r in shards(es, "fresh")]
    others = [n for n in cluster.names if n not in holders]
    for i, name in enumerate(cluster.names):
        client(cluster, name).index(index="fresh", id=str(i), document={"v": 1}, refresh=True)
    via = client(cluster, (others or holders)[0])
    via.update(index="fresh", id="0", doc={"v": 2}, refresh=True)
    for name in holders:
        node = client(cluster, name)
        assert node.count(index="fresh", preference="_local")["count"] == 3
        hits = node.search(index="fresh", q="v:2", preference="_local")["hits"]["hits"]
        assert [h["_id"] for h in hits] == ["0"], name
