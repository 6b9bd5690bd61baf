"""Cross-cluster replication between two clusters of three real nodes each (etcd on unix
sockets), driven with the official client.

The leader index has 2 shards and 1 replica, so its shards' primaries and replicas are spread
over the leader's nodes, and the follower's over the follower's. The follower's remote is a
sniff remote seeded with every leader node: its requests reach whichever leader node its
connection reaches, and each is served by the node holding the leader shard's primary. Each
follower shard's task runs on the node of the follower shard's primary and writes to its
replica. Checked: every document written through any leader node can be read through every
follower node; ``_ccr/stats`` and ``_ccr/info`` answer the same through every node; the kill of
the node holding a follower primary (a replica is promoted, its task starts there from its own
checkpoint) and the kill of a leader node lose no document.
"""

from __future__ import annotations

import concurrent.futures
import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from elasticsearch import ApiError, ConnectionError, Elasticsearch, TransportError

from isthmus.lab.topology import _keystore
from isthmus.testing.cluster import NodeCluster

pytestmark = pytest.mark.integration

T = TypeVar("T")
LEADER, FOLLOWER = "docs", "docs-copy"
PASSWORD = "multinode-ccr-elastic-pw"


def wait_for(check: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (ApiError, OSError) as exc:
            last = exc
            result = None
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what or 'condition'} not met within {timeout}s (last: {last!r})")


def client(cluster: NodeCluster, name: str) -> Elasticsearch:
    return Elasticsearch(cluster[name].url, request_timeout=60)


def clients(cluster: NodeCluster) -> dict[str, Elasticsearch]:
    return {
        n.settings["node.name"]: Elasticsearch(n.url, request_timeout=60) for n in cluster.running()
    }


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeCluster, NodeCluster]]:
    base: Path = tmp_path_factory.mktemp("mnccr")
    leader = NodeCluster(base / "leader", 3, cluster_name="leader", prefix="leader")
    follower = NodeCluster(
        base / "follower",
        3,
        cluster_name="follower",
        prefix="follower",
        # Short enough that a task restarted on a promoted copy re-takes its lease quickly.
        settings={"ccr.retention_leases.renew_interval": "1s"},
    )
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        started = [pool.submit(leader.start, 40.0), pool.submit(follower.start, 40.0)]
        try:
            for future in started:
                future.result()
        except BaseException:
            leader.stop()
            follower.stop()
            raise
    try:
        seeds = [n.transport_address() for n in leader.running()]
        client(follower, "follower-1").cluster.put_settings(
            persistent={"cluster.remote.leader.seeds": seeds}
        )
        yield leader, follower
    finally:
        follower.stop()
        leader.stop()


def primaries(es: Elasticsearch, index: str) -> dict[int, str]:
    """Shard number → the node of its started primary."""
    rows = es.cat.shards(index=index, format="json", h="shard,prirep,state,node").body
    assert isinstance(rows, list)
    return {
        int(r["shard"]): str(r["node"])
        for r in rows
        if r["prirep"] == "p" and r["state"] == "STARTED"
    }


def green(es: Elasticsearch, index: str) -> bool:
    health = es.cluster.health(index=index, wait_for_status="green", timeout="20s")
    return bool(health["status"] == "green")


def ids_everywhere(cluster: NodeCluster, index: str, expected: set[str]) -> bool:
    """Every running node answers ``expected`` as the index's documents."""
    for es in clients(cluster).values():
        es.indices.refresh(index=index)
        found = es.search(index=index, size=len(expected) + 10, source=False)
        if {h["_id"] for h in found["hits"]["hits"]} != expected:
            return False
    return True


def write(leader: NodeCluster, start: int, count: int) -> set[str]:
    """``count`` documents, in batches sent to each running leader node in turn."""
    nodes = list(clients(leader).values())
    ids = set()
    for batch, first in enumerate(range(start, start + count, 20)):
        ops: list[dict[str, Any]] = []
        for n in range(first, min(first + 20, start + count)):
            ops += [{"index": {"_index": LEADER, "_id": f"d{n}"}}, {"n": n}]
            ids.add(f"d{n}")
        answer = nodes[batch % len(nodes)].bulk(operations=ops)
        assert not answer["errors"], answer
    return ids


def caught_up(es: Elasticsearch) -> list[dict[str, Any]] | None:
    stats = es.ccr.follow_stats(index=FOLLOWER)
    (entry,) = stats["indices"]
    shards = entry["shards"]
    if len(shards) != 2 or any(
        s["follower_global_checkpoint"] != s["leader_global_checkpoint"]
        or s["leader_global_checkpoint"] < 0
        for s in shards
    ):
        return None
    return list(shards)


def test_follow_between_two_three_node_clusters(
    clusters: tuple[NodeCluster, NodeCluster],
) -> None:
    leader, follower = clusters
    lead = client(leader, "leader-1")
    lead.indices.create(
        index=LEADER,
        settings={"number_of_shards": 2, "number_of_replicas": 1},
        mappings={"properties": {"n": {"type": "long"}}},
    )
    wait_for(lambda: green(lead, LEADER), what="leader green")
    # Through a node that need not hold the follower's primaries.
    answer = client(follower, "follower-2").ccr.follow(
        index=FOLLOWER, remote_cluster="leader", leader_index=LEADER, wait_for_active_shards="1"
    )
    assert answer["follow_index_created"] and answer["index_following_started"]
    expected = write(leader, 0, 200)
    wait_for(lambda: ids_everywhere(follower, FOLLOWER, expected), what="200 docs on every node")
    wait_for(lambda: green(client(follower, "follower-3"), FOLLOWER), what="follower green")

    # Every node answers the cluster's truth: both shards' tasks, wherever they run.
    views = {n: wait_for(functools.partial(caught_up, es)) for n, es in clients(follower).items()}
    for name, shards in views.items():
        assert [s["shard_id"] for s in shards] == [0, 1], name
        assert sum(s["follower_global_checkpoint"] + 1 for s in shards) == 200, name
        info = clients(follower)[name].ccr.follow_info(index=FOLLOWER)
        (entry,) = info["follower_indices"]
        assert entry["status"] == "active" and entry["leader_index"] == LEADER
        assert entry["remote_cluster"] == "leader"
    # The documents keep the leader's numbers on every copy.
    doc = client(follower, "follower-1").get(index=FOLLOWER, id="d7")
    source = client(leader, "leader-2").get(index=LEADER, id="d7")
    assert (doc["_seq_no"], doc["_primary_term"], doc["_version"]) == (
        source["_seq_no"],
        source["_primary_term"],
        source["_version"],
    )


def test_pause_and_resume_through_any_node(clusters: tuple[NodeCluster, NodeCluster]) -> None:
    """A pause through one node stops the tasks on every node; a resume through another starts
    them on the primaries' nodes again, from the follower's checkpoints."""
    leader, follower = clusters
    es = clients(follower)
    es["follower-3"].ccr.pause_follow(index=FOLLOWER)

    def stopped(node: Elasticsearch) -> bool:
        # The pause is answered once the node that took it applied it; the others follow
        # within moments (a cluster metadata change).
        try:
            node.ccr.follow_stats(index=FOLLOWER)
        except ApiError as refused:
            return refused.meta.status == 404
        return False

    for name, node in es.items():
        wait_for(functools.partial(stopped, node), timeout=10, what=f"paused on {name}")
        (entry,) = node.ccr.follow_info(index=FOLLOWER)["follower_indices"]
        assert entry["status"] == "paused", name
    more = write(leader, 1000, 40)
    es["follower-1"].ccr.resume_follow(index=FOLLOWER)
    expected = {f"d{n}" for n in range(200)} | more
    wait_for(lambda: ids_everywhere(follower, FOLLOWER, expected), what="docs after the resume")
    shards = wait_for(lambda: caught_up(es["follower-2"]), what="caught up after the resume")
    assert sum(s["follower_global_checkpoint"] + 1 for s in shards) == 240


def test_a_leader_whose_history_was_trimmed_is_copied_on_the_primaries_nodes(
    clusters: tuple[NodeCluster, NodeCluster],
) -> None:
    """The leader's shards no longer hold their whole history: each follower shard is copied
    from its leader's store on the node of the follower's primary, its replica gets the same
    operations, and following goes on from the copy."""
    leader, follower = clusters
    lead = client(leader, "leader-3")
    lead.indices.create(
        index="old",
        settings={
            "number_of_shards": 2,
            "number_of_replicas": 1,
            "index.soft_deletes.retention_lease.period": "1s",
        },
    )
    wait_for(lambda: green(lead, "old"), what="leader green")
    for n in range(4):  # a and b are written 4 times: their first 3 versions are superseded
        ops = [
            {"index": {"_index": "old", "_id": doc}} if i % 2 == 0 else {"n": n}
            for doc in ("a", "b", f"c{n}")
            for i in range(2)
        ]
        lead.bulk(operations=ops)
    time.sleep(2.5)  # superseded operations older than the period go at the next trim
    answer = client(follower, "follower-3").ccr.follow(
        index="old-copy", remote_cluster="leader", leader_index="old", wait_for_active_shards="1"
    )
    assert answer["follow_index_shards_acked"] and answer["index_following_started"]
    expected = {"a", "b", "c0", "c1", "c2", "c3"}
    wait_for(lambda: ids_everywhere(follower, "old-copy", expected), what="the copy everywhere")
    copy = client(follower, "follower-1").get(index="old-copy", id="a")
    assert (copy["_version"], copy["_source"]) == (4, {"n": 3})
    lead.index(index="old", id="d", document={"n": 9})
    wait_for(lambda: ids_everywhere(follower, "old-copy", expected | {"d"}), what="followed after")
    for es in clients(follower).values():
        (entry,) = es.ccr.follow_stats(index="old-copy")["indices"]
        assert [s["shard_id"] for s in entry["shards"]] == [0, 1]
        assert not any("fatal_exception" in s for s in entry["shards"])


def test_auto_follow_runs_once_and_answers_through_every_node(
    clusters: tuple[NodeCluster, NodeCluster],
) -> None:
    """Only the elected master coordinates auto-follow (every node would race to create the
    same follower), and every node answers its counters."""
    leader, follower = clusters
    client(follower, "follower-2").ccr.put_auto_follow_pattern(
        name="auto",
        remote_cluster="leader",
        leader_index_patterns=["auto-*"],
        follow_index_pattern="{{leader_index}}-copy",
    )
    lead = client(leader, "leader-1")
    lead.indices.create(index="auto-1", settings={"number_of_shards": 1, "number_of_replicas": 1})
    lead.index(index="auto-1", id="x", document={"n": 1})
    wait_for(lambda: ids_everywhere(follower, "auto-1-copy", {"x"}), what="the auto-follower")
    for name, es in clients(follower).items():
        stats = es.ccr.stats()["auto_follow_stats"]
        counts = (
            stats["number_of_successful_follow_indices"],
            stats["number_of_failed_follow_indices"],
        )
        assert counts == (1, 0), (name, stats)


def write_during(
    leader: NodeCluster, start: int, count: int, kill: Callable[[], None]
) -> tuple[set[str], set[str]]:
    """Write ``count`` documents in batches through every leader node in turn, calling
    ``kill`` after the first third; the acknowledged ids and every id tried. A batch the
    kill holds up is given up after 20 s (unacknowledged: its documents may or may not be
    written)."""
    nodes = [Elasticsearch(n.url, request_timeout=20) for n in leader.running()]
    acked: set[str] = set()
    tried: set[str] = set()
    for batch, first in enumerate(range(start, start + count, 10)):
        if batch == count // 30:
            kill()
        ids = [f"d{n}" for n in range(first, min(first + 10, start + count))]
        tried.update(ids)
        ops: list[dict[str, Any]] = []
        for doc_id in ids:
            ops += [{"index": {"_index": LEADER, "_id": doc_id}}, {"n": int(doc_id[1:])}]
        try:
            # A batch that meets a shard without a primary it can reach gives up after 3 s.
            answer = nodes[batch % len(nodes)].bulk(operations=ops, timeout="3s")
        except (ApiError, ConnectionError, TransportError):
            continue  # the node was killed: nothing of this batch is acknowledged
        acked.update(
            item["index"]["_id"] for item in answer["items"] if item["index"]["status"] < 300
        )
        time.sleep(0.02)
    return acked, tried


def leader_ids(leader: NodeCluster) -> set[str]:
    es = next(iter(clients(leader).values()))
    es.indices.refresh(index=LEADER)
    hits = es.search(index=LEADER, size=1000, source=False)["hits"]["hits"]
    return {h["_id"] for h in hits}


def test_following_survives_the_follower_primarys_node(
    clusters: tuple[NodeCluster, NodeCluster],
) -> None:
    """The node holding follower shard 0's primary is killed while the leader is written: its
    replica is promoted, the task starts on that node from its own checkpoint, nothing is lost."""
    leader, follower = clusters
    victim = primaries(client(follower, "follower-1"), FOLLOWER)[0]
    survivors = [n for n in follower.names if n != victim]
    acked, _ = write_during(leader, 200, 100, follower[victim].kill)
    assert len(acked) == 100  # the leader is untouched
    follower.wait_formed(2, without=None)
    survivor = client(follower, survivors[0])
    wait_for(lambda: primaries(survivor, FOLLOWER).get(0) in survivors, what="a promoted primary")
    expected = {f"d{n}" for n in [*range(200), *range(1000, 1040)]} | acked
    wait_for(lambda: ids_everywhere(follower, FOLLOWER, expected), what="340 docs after the kill")
    shards = wait_for(lambda: caught_up(survivor), what="caught up after the kill")
    assert sum(s["follower_global_checkpoint"] + 1 for s in shards) == 340


def test_following_survives_a_leader_node(clusters: tuple[NodeCluster, NodeCluster]) -> None:
    """The node holding leader shard 0's primary is killed while the leader is written through
    every node: every acknowledged document reaches every follower node, and the follower ends
    equal to the leader (its promoted primary keeps the shard's history uuid)."""
    leader, follower = clusters
    victim = primaries(client(leader, "leader-1"), LEADER)[0]
    survivors = [n for n in leader.names if n != victim]
    acked, tried = write_during(leader, 300, 150, leader[victim].kill)
    wait_for(
        lambda: primaries(client(leader, survivors[0]), LEADER).get(0) in survivors,
        what="a promoted leader primary",
    )
    on_leader = wait_for(lambda: leader_ids(leader), what="the leader's documents")
    assert acked <= on_leader <= {f"d{n}" for n in [*range(300), *range(1000, 1040)]} | tried
    wait_for(lambda: ids_everywhere(follower, FOLLOWER, on_leader), what="the leader's docs")
    es = clients(follower)
    shards = wait_for(lambda: caught_up(next(iter(es.values()))), what="caught up")
    assert sum(s["follower_global_checkpoint"] + 1 for s in shards) >= len(on_leader)
    assert not any("fatal_exception" in s for s in shards)


def follower_leases(leader: NodeCluster) -> list[str]:
    """The follower's retention leases on the leader's copies (each on a primary)."""
    es = next(iter(clients(leader).values()))
    shards = es.indices.stats(index=LEADER, level="shards")["indices"][LEADER]["shards"]
    return [
        lease["id"]
        for copies in shards.values()
        for copy in copies
        for lease in copy.get("retention_leases", {}).get("leases", [])
        if f"/{FOLLOWER}/" in lease["id"]
    ]


def test_unfollow_through_any_node_removes_the_leases_on_the_leader_primaries(
    clusters: tuple[NodeCluster, NodeCluster],
) -> None:
    leader, follower = clusters
    # One lease per leader shard, on its primary (a promoted primary gets it back at the
    # follow task's next renewal).
    wait_for(lambda: len(follower_leases(leader)) == 2, what="a lease on each leader primary")
    first, *_, last = clients(follower).values()
    first.ccr.pause_follow(index=FOLLOWER)
    last.indices.close(index=FOLLOWER)
    assert last.ccr.unfollow(index=FOLLOWER)["acknowledged"]
    assert follower_leases(leader) == []
    # Every node applies the change within moments: no longer a follower anywhere.
    wait_for(
        lambda: not first.ccr.follow_info(index=FOLLOWER)["follower_indices"],
        what="unfollowed on another node",
    )


# --- the certificate security model ---------------------------------------------------------


def tls_settings(folder: Path) -> dict[str, Any]:
    """Transport TLS with certificates of one CA for both clusters: in the certificate model
    each cluster trusts the other's transport certificates."""
    from isthmus.security.certs import (
        encode_pem_certificates,
        encode_pem_key,
        generate_ca,
        issue_certificate,
    )

    folder.mkdir(parents=True, exist_ok=True)
    ca = generate_ca("CN=Isthmus multinode CCR test CA")
    cert = issue_certificate(
        "CN=node", issuer=ca, dns_names=["localhost"], ip_addresses=["127.0.0.1"]
    )
    (folder / "ca.crt").write_bytes(encode_pem_certificates(ca.certificate))
    (folder / "node.crt").write_bytes(encode_pem_certificates(cert.certificate))
    (folder / "node.key").write_bytes(encode_pem_key(cert.key))
    return {
        "xpack.security.enabled": True,
        "xpack.security.transport.ssl.enabled": True,
        "xpack.security.transport.ssl.key": str(folder / "node.key"),
        "xpack.security.transport.ssl.certificate": str(folder / "node.crt"),
        "xpack.security.transport.ssl.certificate_authorities": [str(folder / "ca.crt")],
    }


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[tuple[NodeCluster, NodeCluster]]:
    base: Path = tmp_path_factory.mktemp("mnccr-tls")
    tls = tls_settings(base / "certs")
    record_secret(PASSWORD)
    auth = ("elastic", PASSWORD)
    # Every leader node also runs a remote cluster server (the API-key model's port).
    server = {
        "remote_cluster_server.enabled": True,
        "remote_cluster.host": "127.0.0.1",
        "remote_cluster.port": 0,
        "xpack.security.remote_cluster_server.ssl.key": tls["xpack.security.transport.ssl.key"],
        "xpack.security.remote_cluster_server.ssl.certificate": tls[
            "xpack.security.transport.ssl.certificate"
        ],
    }
    client_trust = {
        "xpack.security.remote_cluster_client.ssl.certificate_authorities": tls[
            "xpack.security.transport.ssl.certificate_authorities"
        ]
    }
    leader = NodeCluster(
        base / "leader",
        3,
        cluster_name="tleader",
        prefix="tl",
        settings={**tls, **server},
        auth=auth,
    )
    follower = NodeCluster(
        base / "follower",
        3,
        cluster_name="tfollower",
        prefix="tf",
        settings={**tls, **client_trust},
        auth=auth,
    )
    for node in [*leader.nodes.values(), *follower.nodes.values()]:
        _keystore(node.config_dir, {"bootstrap.password": PASSWORD})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        started = [pool.submit(leader.start, 40.0), pool.submit(follower.start, 40.0)]
        try:
            for future in started:
                future.result()
        except BaseException:
            leader.stop()
            follower.stop()
            raise
    try:
        nodes = secure_client(leader, "tl-1").nodes.info()["nodes"]
        seeds = [str(n["transport_address"]) for n in nodes.values()]
        secure_client(follower, "tf-1").cluster.put_settings(
            persistent={"cluster.remote.leader.seeds": seeds}
        )
        yield leader, follower
    finally:
        follower.stop()
        leader.stop()


def secure_client(cluster: NodeCluster, name: str) -> Elasticsearch:
    return Elasticsearch(cluster[name].url, basic_auth=("elastic", PASSWORD), request_timeout=60)


def cross_cluster_search_everywhere(
    leader: NodeCluster, follower: NodeCluster, target: str, expected: set[str]
) -> None:
    """Cross-cluster search between the two 3-node clusters: through every follower node, with
    and without minimized round trips (the leader's shards are spread over its nodes: the node
    the search reaches gathers the others' shards), every document is found once."""
    secure_client(leader, leader.names[0]).indices.refresh(index=target.split(":", 1)[1])
    for name in follower.names:
        es = secure_client(follower, name)
        for minimize in (True, False):
            found = es.search(
                index=target, size=100, source=False, ccs_minimize_roundtrips=minimize
            )
            ids = [h["_id"] for h in found["hits"]["hits"]]
            assert sorted(ids) == sorted(expected), (name, minimize, len(ids))
            assert found["_shards"]["failed"] == 0, found["_shards"]
            assert found["_clusters"]["successful"] == 1, found["_clusters"]


def test_follow_between_two_secured_three_node_clusters(
    secured: tuple[NodeCluster, NodeCluster],
) -> None:
    """The certificate model: the follower's requests carry its user (authorized on the leader
    node they reach), the leader nodes hand them to the primaries' nodes as the system, and
    the follower's nodes ask each other for stats as the system."""
    leader, follower = secured
    lead = secure_client(leader, "tl-2")
    lead.indices.create(index="sec", settings={"number_of_shards": 2, "number_of_replicas": 1})
    wait_for(lambda: green(lead, "sec"), what="leader green")
    secure_client(follower, "tf-3").ccr.follow(
        index="sec-copy", remote_cluster="leader", leader_index="sec", wait_for_active_shards="1"
    )
    nodes = [secure_client(leader, n) for n in leader.names]
    expected = set()
    for n in range(60):
        nodes[n % 3].index(index="sec", id=f"s{n}", document={"n": n})
        expected.add(f"s{n}")

    def everywhere() -> bool:
        for name in follower.names:
            es = secure_client(follower, name)
            es.indices.refresh(index="sec-copy")
            hits = es.search(index="sec-copy", size=100, source=False)["hits"]["hits"]
            if {h["_id"] for h in hits} != expected:
                return False
        return True

    wait_for(everywhere, what="60 docs on every secured follower node")
    cross_cluster_search_everywhere(leader, follower, "leader:sec", expected)
    for name in follower.names:
        (entry,) = secure_client(follower, name).ccr.follow_stats(index="sec-copy")["indices"]
        assert [s["shard_id"] for s in entry["shards"]] == [0, 1]
        assert not any(s["read_exceptions"] or "fatal_exception" in s for s in entry["shards"])


def test_follow_in_the_api_key_model_between_three_node_clusters(
    secured: tuple[NodeCluster, NodeCluster], record_secret: Callable[[str], None]
) -> None:
    """The API-key model: the follower's requests reach a leader node's remote cluster server
    with a cross-cluster key (replication access), are authorized there, and are handed to
    the primaries' nodes over the transport. The credential is in every follower node's
    keystore, reloaded through one node."""
    leader, follower = secured
    lead = secure_client(leader, "tl-1")
    lead.indices.create(index="keyed", settings={"number_of_shards": 2, "number_of_replicas": 1})
    wait_for(lambda: green(lead, "keyed"), what="leader green")
    key = lead.perform_request(
        "POST",
        "/_security/cross_cluster/api_key",
        headers={"content-type": "application/json", "accept": "application/json"},
        body={
            "name": "ccr-key",
            "access": {
                "replication": [{"names": ["keyed*"]}],
                "search": [{"names": ["keyed*"]}],
            },
        },
    ).body
    record_secret(str(key["encoded"]))
    record_secret(str(key["api_key"]))
    for node in follower.nodes.values():
        _keystore(node.config_dir, {"cluster.remote.keyed.credentials": str(key["encoded"])})
    local = secure_client(follower, "tf-2")
    reloaded = local.nodes.reload_secure_settings()
    assert all("reload_exception" not in n for n in reloaded["nodes"].values())
    servers = [
        str(n["remote_cluster_server"]["publish_address"])
        for n in lead.nodes.info()["nodes"].values()
    ]
    local.cluster.put_settings(persistent={"cluster.remote.keyed.seeds": servers})
    wait_for(lambda: local.cluster.remote_info()["keyed"]["connected"], what="the keyed remote")
    assert local.cluster.remote_info()["keyed"]["cluster_credentials"] == "::es_redacted::"
    local.ccr.follow(
        index="keyed-copy", remote_cluster="keyed", leader_index="keyed", wait_for_active_shards="1"
    )
    nodes = [secure_client(leader, n) for n in leader.names]
    expected = set()
    for n in range(30):
        nodes[n % 3].index(index="keyed", id=f"k{n}", document={"n": n})
        expected.add(f"k{n}")

    def everywhere() -> bool:
        for name in follower.names:
            es = secure_client(follower, name)
            es.indices.refresh(index="keyed-copy")
            hits = es.search(index="keyed-copy", size=100, source=False)["hits"]["hits"]
            if {h["_id"] for h in hits} != expected:
                return False
        return True

    wait_for(everywhere, what="30 docs on every follower node (API-key model)")
    cross_cluster_search_everywhere(leader, follower, "keyed:keyed", expected)
    (entry,) = local.ccr.follow_stats(index="keyed-copy")["indices"]
    assert [s["shard_id"] for s in entry["shards"]] == [0, 1]
    assert not any("fatal_exception" in s for s in entry["shards"])
