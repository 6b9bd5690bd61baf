"""A node the master cannot reach leaves allocation although etcd still hears it (ES's follower
checks): node-3 publishes a transport port nobody listens on, so it keeps its etcd lease (etcd
is on unix sockets) and dials out fine, but no other node can send it a write or a replica
operation. The master's follower checks fail three times in a row: node-3's copies are failed
and placed elsewhere, writes succeed, the index is green without node-3. When node-3 publishes
its real port again, it is checked successfully and takes copies again.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.cluster import NodeCluster

pytestmark = pytest.mark.integration

FAST_CHECKS = {
    "cluster.fault_detection.follower_check.interval": "200ms",
    "cluster.fault_detection.follower_check.timeout": "1s",
    "xpack.security.enabled": False,
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    folder: Path = tmp_path_factory.mktemp("follower-checks")
    with NodeCluster(folder, 3, settings=FAST_CHECKS) as c:
        c.wait_formed(3)
        yield c


def _copies_on(es: Elasticsearch, index: str, node: str) -> list[dict[str, str]]:
    rows = es.cat.shards(index=index, format="json", h="shard,prirep,state,node")
    return [r for r in rows if r.get("node") == node]


def _wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_node_the_master_cannot_reach_gets_no_copies(cluster: NodeCluster) -> None:
    cut = cluster["node-3"]
    cut.stop()
    cut.settings["transport.publish_port"] = _closed_port()
    cut.start()
    cluster.wait_formed(3, timeout=30)  # etcd lists it: it is a member
    # The master's checks fail three times in a row (200 ms apart) and take node-3 out of
    # allocation. (An index created before that could place a primary on node-3: its only
    # copy would then be out of reach and the shard red, as in ES.)
    _wait(
        lambda: (
            "followers check retry count exceeded"
            in "".join(cluster[n].log_text() for n in ("node-1", "node-2"))
        ),
        15,
        "the master never gave node-3 up",
    )
    es = Elasticsearch(cluster["node-1"].url, request_timeout=60)
    es.indices.create(
        index="cut",
        settings={
            "number_of_shards": 3,
            "number_of_replicas": 1,
            "index.unassigned.node_left.delayed_timeout": "0s",
        },
    )

    def settled() -> bool:
        health = es.cluster.health(index="cut")
        return health["status"] == "green" and not _copies_on(es, "cut", "node-3")

    _wait(settled, 30, "the index never went green without node-3's copies")
    ops: list[dict[str, object]] = []
    for i in range(30):
        ops += [{"index": {"_index": "cut", "_id": str(i)}}, {"n": i}]
    answer = es.bulk(operations=ops, refresh=True, timeout="10s")
    assert not answer["errors"], answer["items"][:2]
    assert es.count(index="cut")["count"] == 30
    assert not _copies_on(es, "cut", "node-3")

    # Reachable again: checked successfully, it takes copies (a replica recovers there).
    cut.stop()
    del cut.settings["transport.publish_port"]
    cut.start()
    cluster.wait_formed(3, timeout=30)
    es.indices.put_settings(index="cut", settings={"number_of_replicas": 2})
    _wait(
        lambda: (
            es.cluster.health(index="cut")["status"] == "green"
            and len(_copies_on(es, "cut", "node-3")) == 3
        ),
        30,
        "node-3 never took copies again",
    )
