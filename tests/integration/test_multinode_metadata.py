"""One cluster metadata over three real nodes (etcd on unix sockets): whichever node a change
goes through, every node applies the same state; concurrent changes through several nodes all
land (none overwrites another); a change after the master was killed goes through the next
master; a restarted node gets the changes it missed.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.cluster import NodeCluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    folder: Path = tmp_path_factory.mktemp("metadata")
    with NodeCluster(folder, 3, settings={"xpack.security.enabled": False}) as c:
        c.wait_formed(3)
        yield c


def _client(cluster: NodeCluster, name: str) -> Elasticsearch:
    return Elasticsearch(cluster[name].url, request_timeout=60)


def _indices(es: Elasticsearch) -> dict[str, str]:
    found = es.indices.get(index="*", expand_wildcards="all")
    return {name: body["settings"]["index"]["uuid"] for name, body in found.items()}


def _eventually_same(cluster: NodeCluster, timeout: float = 10.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        seen = [_indices(_client(cluster, n)) for n in cluster.names if cluster[n].proc]
        if all(s == seen[0] for s in seen) or time.monotonic() > deadline:
            assert all(s == seen[0] for s in seen), seen
            return seen[0]
        time.sleep(0.05)


def test_a_change_through_any_node_is_every_nodes(cluster: NodeCluster) -> None:
    one, two, three = (_client(cluster, n) for n in cluster.names)
    two.indices.create(index="shared", settings={"number_of_shards": 2})
    # The answer comes once the node that took the request applied the state: read it there.
    assert "shared" in _indices(two)
    three.indices.put_mapping(index="shared", properties={"tag": {"type": "keyword"}})
    one.indices.put_alias(index="shared", name="everyone")
    one.indices.put_index_template(
        name="t", index_patterns=["logs-*"], template={"settings": {"number_of_shards": 3}}
    )
    same = _eventually_same(cluster)
    assert "shared" in same
    for es in (one, two, three):
        mapping = es.indices.get_mapping(index="shared")["shared"]["mappings"]
        assert mapping["properties"]["tag"] == {"type": "keyword"}
        assert "everyone" in es.indices.get_alias(index="shared")["shared"]["aliases"]
        assert es.indices.get_index_template(name="t")["index_templates"][0]["name"] == "t"
    three.indices.create(index="logs-a")
    for es in (one, two, three):
        settings = es.indices.get_settings(index="logs-a")["logs-a"]["settings"]["index"]
        assert settings["number_of_shards"] == "3"
    two.indices.delete(index="shared")
    assert "shared" not in _eventually_same(cluster)


def test_concurrent_changes_through_every_node_all_land(cluster: NodeCluster) -> None:
    """Nine creations at once, three through each node: changes computed on a state another
    change overtook are computed again, so none is lost and none is applied twice."""
    names = [f"race-{i}" for i in range(9)]

    def create(i: int) -> object:
        es = _client(cluster, cluster.names[i % 3])
        return es.indices.create(index=names[i])

    with concurrent.futures.ThreadPoolExecutor(9) as pool:
        answers = list(pool.map(create, range(9)))
    assert all(a["acknowledged"] for a in answers)  # type: ignore[index]
    same = _eventually_same(cluster)
    assert set(names) <= set(same)
    # The master keeps changing the state while the new shards start (allocation): once they
    # are all started, every node applied the same last version.
    _client(cluster, "node-1").cluster.health(wait_for_status="green", timeout="30s")
    deadline = time.monotonic() + 10
    while True:
        versions = {
            _client(cluster, n).cluster.state(metric="version")["version"] for n in cluster.names
        }
        if len(versions) == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(versions) == 1, versions
    # The same index created twice at once: exactly one creation wins, the other is ES's 400.
    outcomes: list[str] = []

    def create_twice(node: str) -> None:
        try:
            _client(cluster, node).indices.create(index="twice")
            outcomes.append("created")
        except Exception as exc:
            outcomes.append(type(exc).__name__ + str(getattr(exc, "error", "")))

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(create_twice, cluster.names))
    assert outcomes.count("created") == 1, outcomes
    assert sum("resource_already_exists_exception" in o for o in outcomes) == 2, outcomes


def test_changes_survive_the_master_and_reach_a_restarted_node(cluster: NodeCluster) -> None:
    master = cluster.master_seen_by(cluster[cluster.names[0]])
    assert master is not None
    others = [n for n in cluster.names if n != master]
    cluster[master].kill()
    try:
        cluster.wait_formed(2, without=master)
        es = _client(cluster, others[0])
        es.indices.create(index="after-failover")
        assert "after-failover" in _indices(_client(cluster, others[1]))
    finally:
        cluster[master].launch(write_config=False)
        cluster[master].wait_started(30)
    cluster.wait_formed(3)
    deadline = time.monotonic() + 10
    while "after-failover" not in _indices(_client(cluster, master)):
        assert time.monotonic() < deadline, "the restarted node never got the missed change"
        time.sleep(0.05)
    _eventually_same(cluster)


def test_an_unreadable_proposal_is_refused_and_the_cluster_goes_on(cluster: NodeCluster) -> None:
    """A proposal the master cannot read (a bug, a peer of another version) is refused before
    it reaches etcd: otherwise every node's applier would stop on it for good."""
    import asyncio

    from isthmus.transport.client import connect
    from isthmus.transport.local import LocalNode
    from isthmus.wire.handshake import NodeIdentity
    from isthmus.wire.names import PUBLISH_CHANGE_ACTION

    es = _client(cluster, cluster.names[0])
    state = es.cluster.state(metric="master_node,version")
    nodes = es.nodes.info(metric="transport")["nodes"]
    host, port = nodes[state["master_node"]]["transport"]["publish_address"].rsplit(":", 1)
    version = state["version"]
    me = LocalNode("probe", "x", NodeIdentity("pid", "probe", "127.0.0.1:0", "9.1.0"))

    async def propose(changed: dict[str, object], meta_version: int) -> str:
        channel = await connect(host, int(port), identity=me, ssl_context=None, timeout=10)
        try:
            await channel.request(
                PUBLISH_CHANGE_ACTION,
                {
                    "cluster_name": cluster.cluster_name,
                    "base_version": version,
                    "meta": {"cluster_uuid": state["cluster_uuid"], "version": meta_version},
                    "changed": changed,
                    "removed": [],
                },
                {},
                timeout=20,
            )
            return "published"
        except Exception as exc:  # the refusal is what is checked
            return str(exc)

    bad_index = asyncio.run(propose({"bogus": {"meta": {"nonsense": 1}}}, version + 1))
    assert "unreadable index [bogus]" in bad_index, bad_index
    bad_version = asyncio.run(propose({}, version + 7))
    assert "proposal of version" in bad_version, bad_version
    es.indices.create(index="after-a-bad-proposal")
    for name in cluster.names:
        assert "after-a-bad-proposal" in _indices(_client(cluster, name))
