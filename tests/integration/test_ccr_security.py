"""Cross-cluster replication with security on, in the API-key model: the follower's user needs
``manage_ccr`` and ``manage_follow_index``/``write``/``monitor`` on the follower, its role's
``remote_indices`` name the leader with ``cross_cluster_replication``, and the cross-cluster key
must have ``replication`` access to the leader index."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.lab.topology import ALIAS, ELASTIC_PASSWORD, INDEX, Lab, LabSpec, _call

FOLLOWER_ROLE = {
    "cluster": ["manage_ccr", "monitor"],
    "indices": [
        {
            "names": ["logs-copy*"],
            "privileges": ["manage_follow_index", "write", "monitor", "read"],
        }
    ],
    "remote_indices": [
        {
            "clusters": [ALIAS],
            "names": [f"{INDEX}*"],
            "privileges": ["cross_cluster_replication", "cross_cluster_replication_internal"],
        }
    ],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    spec = LabSpec(key_access={"replication": [{"names": [f"{INDEX}*"]}]})
    with Lab(tmp_path_factory.mktemp("ccr-sec"), spec) as lab:
        lab.start()
        lab.wait_connected()
        _call(lab.local_url, "PUT", "/_security/role/follower", FOLLOWER_ROLE)
        _call(
            lab.local_url,
            "PUT",
            "/_security/user/replicator",
            {"password": "replicator-pw", "roles": ["follower"]},
        )
        without_ccr = {**FOLLOWER_ROLE, "cluster": ["monitor"]}
        _call(lab.local_url, "PUT", "/_security/role/no-ccr", without_ccr)
        _call(
            lab.local_url,
            "PUT",
            "/_security/user/nobody",
            {"password": "nobody-pw", "roles": ["no-ccr"]},
        )
        yield lab


def client(lab: Lab, user: str, password: str) -> Elasticsearch:
    assert lab.local is not None
    return Elasticsearch(lab.local.url, basic_auth=(user, password), request_timeout=30)


def leader_client(lab: Lab) -> Elasticsearch:
    assert lab.remote is not None
    return Elasticsearch(lab.remote.url, basic_auth=("elastic", ELASTIC_PASSWORD))


def docs(es: Elasticsearch, index: str) -> dict[str, tuple[int, int, Any]]:
    es.indices.refresh(index=index)
    hits = es.search(index=index, seq_no_primary_term=True, version=True, size=100)["hits"]
    return {h["_id"]: (h["_seq_no"], h["_version"], h["_source"]) for h in hits["hits"]}


def lease_ids(es: Elasticsearch, index: str) -> list[str]:
    shards = es.indices.stats(index=index, level="shards")["indices"][index]["shards"]
    return [
        lease["id"]
        for copies in shards.values()
        for copy in copies
        for lease in copy.get("retention_leases", {}).get("leases", [])
    ]


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ApiError:
            pass
        time.sleep(0.05)
    raise AssertionError("not converged")


def test_follow_with_a_replication_key(lab: Lab) -> None:
    es = client(lab, "replicator", "replicator-pw")
    admin = client(lab, "elastic", ELASTIC_PASSWORD)
    leader = leader_client(lab)
    resp = es.ccr.follow(
        index="logs-copy", remote_cluster=ALIAS, leader_index=INDEX, wait_for_active_shards=1
    )
    assert resp["index_following_started"] is True  # ES says so once it waited for a shard
    wait_for(lambda: docs(admin, "logs-copy") == docs(leader, INDEX))
    leader.index(index=INDEX, id="1", document={"msg": "changed"})
    leader.delete(index=INDEX, id="2")
    wait_for(lambda: docs(admin, "logs-copy") == docs(leader, INDEX))
    assert es.ccr.follow_info(index="logs-copy")["follower_indices"][0]["status"] == "active"
    shards = es.ccr.follow_stats(index="logs-copy")["indices"][0]["shards"]
    assert shards[0]["read_exceptions"] == [] and "fatal_exception" not in shards[0]
    # After a restart the follow task reads as the user who started it again.
    assert lab.local is not None
    lab.local.stop()
    leader.index(index=INDEX, id="10", document={"msg": "while the follower was down"})
    lab.local.start()
    admin = client(lab, "elastic", ELASTIC_PASSWORD)
    wait_for(lambda: docs(admin, "logs-copy") == docs(leader, INDEX))


def test_follow_needs_manage_ccr(lab: Lab) -> None:
    es = client(lab, "nobody", "nobody-pw")
    with pytest.raises(ApiError) as denied:
        es.ccr.follow(index="logs-copy2", remote_cluster=ALIAS, leader_index=INDEX)
    assert denied.value.meta.status == 403
    error = denied.value.body["error"]
    assert error["type"] == "security_exception"
    assert error["reason"].startswith(
        "action [cluster:admin/xpack/ccr/resume_follow] is unauthorized for user [nobody]"
    )
    with pytest.raises(ApiError) as paused:
        es.ccr.pause_follow(index="logs-copy")
    assert paused.value.meta.status == 403


def test_unfollow_as_the_follower_user(lab: Lab) -> None:
    es = client(lab, "replicator", "replicator-pw")
    es.ccr.follow(index="logs-copy-3", remote_cluster=ALIAS, leader_index=INDEX)
    es.ccr.pause_follow(index="logs-copy-3")
    es.indices.close(index="logs-copy-3")
    assert es.ccr.unfollow(index="logs-copy-3").body == {"acknowledged": True}
    # As in ES, manage_follow_index closes but does not reopen: that takes `manage`.
    with pytest.raises(ApiError) as denied:
        es.indices.open(index="logs-copy-3")
    assert denied.value.meta.status == 403
    assert "granted by the index privileges [manage,all]" in str(denied.value.body)
    client(lab, "elastic", ELASTIC_PASSWORD).indices.open(index="logs-copy-3")
    assert es.index(index="logs-copy-3", id="own", document={"n": 1})["result"] == "created"


def test_leader_outside_the_key_is_refused(lab: Lab, tmp_path: Path) -> None:
    leader = leader_client(lab)
    leader.indices.create(index="private")
    leader.index(index="private", id="1", document={"n": 1}, refresh=True)
    es = client(lab, "elastic", ELASTIC_PASSWORD)
    with pytest.raises(ApiError) as denied:
        es.ccr.follow(index="private-copy", remote_cluster=ALIAS, leader_index="private")
    assert denied.value.meta.status == 403
    assert not es.indices.exists(index="private-copy")
    body: dict[str, Any] = denied.value.body
    assert body["error"]["type"] == "security_exception"
    assert body["error"]["reason"] == (
        "insufficient privileges to follow index [private], privilege for action "
        "[indices:data/read/xpack/ccr/shard_changes] is missing, privilege for action "
        "[indices:monitor/stats] is missing"
    )


@pytest.fixture(scope="module")
def certificate_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The certificate model: the local user's identity travels, the leader authorizes it
    against its own roles of the same names."""
    spec = LabSpec(credential=None, target="transport", transport_trusts_remote_transport_ca=True)
    with Lab(tmp_path_factory.mktemp("ccr-cert"), spec) as lab:
        lab.start()
        lab.wait_connected()
        _call(lab.local_url, "PUT", "/_security/role/follower", FOLLOWER_ROLE)
        _call(
            lab.local_url,
            "PUT",
            "/_security/user/replicator",
            {"password": "replicator-pw", "roles": ["follower"]},
        )
        # The leader's role of the same name: what ES's docs ask of it (read_ccr, and read and
        # monitor on the leader index).
        _call(
            lab.remote_url,
            "PUT",
            "/_security/role/follower",
            {
                "cluster": ["read_ccr"],
                "indices": [{"names": [f"{INDEX}*"], "privileges": ["read", "monitor"]}],
            },
        )
        yield lab


def test_follow_in_the_certificate_model(certificate_lab: Lab) -> None:
    lab = certificate_lab
    es = client(lab, "replicator", "replicator-pw")
    admin = client(lab, "elastic", ELASTIC_PASSWORD)
    leader = leader_client(lab)
    es.ccr.follow(index="logs-copy", remote_cluster=ALIAS, leader_index=INDEX)
    leader.index(index=INDEX, id="9", document={"msg": "after follow"})
    wait_for(lambda: docs(admin, "logs-copy") == docs(leader, INDEX))
    # The follower's lease on the leader shard, added under the system context (ES's system
    # user may run the lease actions; the leader refused it once and the follower held none).
    wait_for(lambda: any(f"-following-{ALIAS}/{INDEX}/" in i for i in lease_ids(leader, INDEX)))
    leader.indices.create(index="secret")
    with pytest.raises(ApiError) as denied:
        es.ccr.follow(index="logs-copy-secret", remote_cluster=ALIAS, leader_index="secret")
    assert denied.value.meta.status == 403
    assert denied.value.body["error"]["reason"].startswith(
        "insufficient privileges to follow index [secret]"
    )
    # Auto-follow reads the leader's indices as the pattern's user here (its read_ccr role).
    es.ccr.put_auto_follow_pattern(
        name="cert", remote_cluster=ALIAS, leader_index_patterns=[f"{INDEX}-c*"],
        follow_index_pattern="logs-copy-{{leader_index}}",
    )  # fmt: skip
    leader.indices.create(index=f"{INDEX}-c1")
    wait_for(lambda: bool(admin.indices.exists(index=f"logs-copy-{INDEX}-c1")))


def test_auto_follow_as_the_pattern_user(lab: Lab) -> None:
    es = client(lab, "replicator", "replicator-pw")
    admin = client(lab, "elastic", ELASTIC_PASSWORD)
    leader = leader_client(lab)
    es.ccr.put_auto_follow_pattern(
        name="auto",
        remote_cluster=ALIAS,
        leader_index_patterns=[f"{INDEX}-auto-*"],
        follow_index_pattern="logs-copy-{{leader_index}}",
    )
    leader.indices.create(index=f"{INDEX}-auto-1")
    leader.index(index=f"{INDEX}-auto-1", id="1", document={"n": 1}, refresh=True)
    follower = f"logs-copy-{INDEX}-auto-1"
    wait_for(lambda: bool(admin.indices.exists(index=follower)))
    wait_for(lambda: docs(admin, follower) == docs(leader, f"{INDEX}-auto-1"))
    # A user without manage_ccr may not see or change patterns.
    nobody = client(lab, "nobody", "nobody-pw")
    with pytest.raises(ApiError) as denied:
        nobody.ccr.get_auto_follow_pattern(name="auto")
    assert denied.value.meta.status == 403
    es.ccr.delete_auto_follow_pattern(name="auto")


def test_trimmed_leader_is_copied_with_a_replication_key(lab: Lab) -> None:
    """The restore sessions run as the system within the key's replication access."""
    leader = leader_client(lab)
    admin = client(lab, "elastic", ELASTIC_PASSWORD)
    index = f"{INDEX}-trimmed"
    leader.indices.create(
        index=index,
        settings={"number_of_shards": 1, "index.soft_deletes.retention_lease.period": "1s"},
    )
    for n in range(3):
        leader.index(index=index, id="a", document={"n": n}, refresh=True)
    time.sleep(2.5)  # superseded operations older than the period go at the next trim
    es = client(lab, "replicator", "replicator-pw")
    es.ccr.follow(index="logs-copy-trimmed", remote_cluster=ALIAS, leader_index=index)
    wait_for(lambda: docs(admin, "logs-copy-trimmed") == docs(leader, index))
    (shard,) = es.ccr.follow_stats(index="logs-copy-trimmed")["indices"][0]["shards"]
    assert shard["operations_written"] == 0  # everything came with the copy
    # The lease the copy took before its restore session is the one the follow task keeps.
    leader_uuid = leader.indices.get_settings(index=index)[index]["settings"]["index"]["uuid"]
    (lease,) = lease_ids(leader, index)
    assert "/logs-copy-trimmed/" in lease
    assert lease.endswith(f"-following-{ALIAS}/{index}/{leader_uuid}")
    leader.index(index=index, id="b", document={"n": 9}, refresh=True)
    wait_for(lambda: docs(admin, "logs-copy-trimmed") == docs(leader, index))


def test_trimmed_leader_is_copied_in_the_certificate_model(certificate_lab: Lab) -> None:
    """The restore sessions go as the system under ES's internal:admin/ccr/restore/* names."""
    lab = certificate_lab
    leader = leader_client(lab)
    admin = client(lab, "elastic", ELASTIC_PASSWORD)
    index = f"{INDEX}-old"
    leader.indices.create(
        index=index,
        settings={"number_of_shards": 1, "index.soft_deletes.retention_lease.period": "1s"},
    )
    for n in range(3):
        leader.index(index=index, id="a", document={"n": n}, refresh=True)
    time.sleep(2.5)  # superseded operations older than the period go at the next trim
    es = client(lab, "replicator", "replicator-pw")
    es.ccr.follow(index="logs-copy-old", remote_cluster=ALIAS, leader_index=index)
    wait_for(lambda: docs(admin, "logs-copy-old") == docs(leader, index))
