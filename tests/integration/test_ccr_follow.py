"""Cross-cluster replication between two real clusters, driven with the official client.

One leader cluster and one follower cluster (its remote alias ``leader``) are shared by the
module; each test uses its own leader and follower indices. The follower's copy is compared
document by document with the leader's, ``_seq_no``, ``_primary_term`` and ``_version``
included.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.testing.process import NodeProcess

T = TypeVar("T")
MAPPING = {"properties": {"n": {"type": "long"}, "tag": {"type": "keyword"}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout: float = 20.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except ApiError as exc:
            last = exc
            result = None
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what or 'condition'} not met within {timeout}s (last: {last!r})")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    base = tmp_path_factory.mktemp("ccr")
    leader = NodeProcess(
        base / "leader",
        {
            "cluster.name": "leader",
            "node.name": "leader-node",
            "transport.port": free_port(),
            # A leader shard takes at most 3 leases (followers): see test_new_follower_copies_...
            "ccr.retention_leases.max_per_shard": 3,
        },
    )
    follower = NodeProcess(
        base / "follower",
        {
            "cluster.name": "follower",
            "node.name": "follower-node",
            "ccr.retention_leases.renew_interval": "1s",
            # Bounds a connect to a frozen leader (test_frozen_leader_...).
            "transport.connect_timeout": "2s",
        },
    )
    leader.launch()
    follower.launch()
    leader.wait_started()
    follower.wait_started()
    Elasticsearch(follower.url).cluster.put_settings(
        persistent={"cluster.remote.leader.seeds": [leader.transport_address()]}
    )
    yield leader, follower
    follower.kill()
    leader.kill()


def clients(pair: tuple[NodeProcess, NodeProcess]) -> tuple[Elasticsearch, Elasticsearch]:
    leader, follower = pair
    return Elasticsearch(leader.url), Elasticsearch(follower.url)


def docs(client: Elasticsearch, index: str) -> dict[str, tuple[int, int, int, Any]]:
    client.indices.refresh(index=index)
    hits = client.search(
        index=index, size=1000, seq_no_primary_term=True, version=True, sort=["_doc"]
    )["hits"]["hits"]
    return {h["_id"]: (h["_seq_no"], h["_primary_term"], h["_version"], h["_source"]) for h in hits}


def converged(lc: Elasticsearch, fc: Elasticsearch, leader: str, follower: str) -> bool:
    expected = docs(lc, leader)
    return docs(fc, follower) == expected


def bulk(client: Elasticsearch, index: str, ops: list[tuple[str, str, int]]) -> None:
    body: list[dict[str, Any]] = []
    for kind, doc_id, n in ops:
        if kind == "delete":
            body.append({"delete": {"_index": index, "_id": doc_id}})
        else:
            body += [{"index": {"_index": index, "_id": doc_id}}, {"n": n, "tag": f"t{n % 3}"}]
    resp = client.bulk(operations=body)
    assert not resp["errors"], resp


def make_leader(lc: Elasticsearch, name: str, shards: int = 2) -> None:
    lc.indices.create(index=name, settings={"number_of_shards": shards}, mappings=MAPPING)
    bulk(lc, name, [("index", str(i), i) for i in range(25)])


def test_follower_replicates_index_update_delete_and_mapping_changes(
    pair: tuple[NodeProcess, NodeProcess],
) -> None:
    lc, fc = clients(pair)
    make_leader(lc, "logs")
    lc.index(index="logs", id="r-copied", document={"n": 7}, routing="rc")  # in the store copy
    resp = fc.ccr.follow(
        index="logs-copy", remote_cluster="leader", leader_index="logs", wait_for_active_shards="1"
    )
    assert resp.body == {
        "follow_index_created": True,
        "follow_index_shards_acked": True,
        "index_following_started": True,
    }
    settings = fc.indices.get_settings(index="logs-copy")["logs-copy"]["settings"]["index"]
    assert settings["number_of_shards"] == "2"
    assert settings["xpack"]["ccr"]["following_index"] == "true"
    wait_for(lambda: converged(lc, fc, "logs", "logs-copy"), what="initial copy")
    # An alias, updates, deletes (of present and absent ids) and a new field.
    lc.indices.put_alias(index="logs", name="logs-alias")
    bulk(lc, "logs", [("index", "3", 300), ("delete", "4", 0), ("delete", "nope", 0)])
    lc.index(index="logs", id="new", document={"n": 1, "extra": "a new field"})
    lc.update(index="logs", id="5", doc={"tag": "changed"})
    lc.index(index="logs", id="r-followed", document={"n": 8}, routing="rf")
    wait_for(lambda: converged(lc, fc, "logs", "logs-copy"), what="changes replicated")
    # The follower's documents keep the leader's routing (copied, then followed).
    for doc_id, routing in (("r-copied", "rc"), ("r-followed", "rf")):
        assert fc.get(index="logs-copy", id=doc_id, routing=routing)["_routing"] == routing
    routed = fc.search(index="logs-copy", query={"ids": {"values": ["r-copied", "r-followed"]}})
    assert sorted(h["_routing"] for h in routed["hits"]["hits"]) == ["rc", "rf"]
    copy = docs(fc, "logs-copy")
    assert copy["3"][2] == 2 and "4" not in copy and copy["5"][3]["tag"] == "changed"
    props = fc.indices.get_mapping(index="logs-copy")["logs-copy"]["mappings"]["properties"]
    assert "extra" in props
    assert "logs-alias" in fc.indices.get_alias(index="logs-copy")["logs-copy"]["aliases"]
    shards = fc.ccr.follow_stats(index="logs-copy")["indices"][0]["shards"]
    assert all(s["follower_aliases_version"] >= 2 for s in shards)
    got = fc.get(index="logs-copy", id="3")
    original = lc.get(index="logs", id="3")
    assert (got["_seq_no"], got["_version"]) == (original["_seq_no"], original["_version"])


def test_follower_refuses_client_writes(pair: tuple[NodeProcess, NodeProcess]) -> None:
    lc, fc = clients(pair)
    make_leader(lc, "ro", shards=1)
    fc.ccr.follow(index="ro-copy", remote_cluster="leader", leader_index="ro")
    with pytest.raises(ApiError) as caught:
        fc.index(index="ro-copy", id="x", document={"n": 1})
    assert caught.value.meta.status == 403
    error = caught.value.body["error"]
    assert error["type"] == "status_exception"
    assert error["reason"] == (
        "a following engine does not accept operations without an assigned sequence number"
    )
    item = fc.bulk(operations=[{"delete": {"_index": "ro-copy", "_id": "1"}}])["items"][0]
    assert item["delete"]["status"] == 403


def test_info_and_stats(pair: tuple[NodeProcess, NodeProcess]) -> None:
    lc, fc = clients(pair)
    make_leader(lc, "metrics")
    fc.ccr.follow(
        index="metrics-copy",
        remote_cluster="leader",
        leader_index="metrics",
        max_read_request_operation_count=7,
        read_poll_timeout="5s",
    )
    bulk(lc, "metrics", [("index", f"n{i}", i) for i in range(10)])
    wait_for(lambda: converged(lc, fc, "metrics", "metrics-copy"))
    (info,) = fc.ccr.follow_info(index="metrics-copy")["follower_indices"]
    assert info == {
        "follower_index": "metrics-copy",
        "remote_cluster": "leader",
        "leader_index": "metrics",
        "status": "active",
        "parameters": {
            "max_read_request_operation_count": 7,
            "max_write_request_operation_count": 5120,
            "max_outstanding_read_requests": 12,
            "max_outstanding_write_requests": 9,
            "max_read_request_size": "32mb",
            "max_write_request_size": "9223372036854775807b",
            "max_write_buffer_count": 2147483647,
            "max_write_buffer_size": "512mb",
            "max_retry_delay": "500ms",
            "read_poll_timeout": "5s",
        },
    }

    def caught_up() -> dict[str, Any] | None:
        body = fc.ccr.follow_stats(index="metrics-copy").body
        shards = body["indices"][0]["shards"]
        done = all(
            s["follower_global_checkpoint"] == s["leader_global_checkpoint"] >= 0 for s in shards
        )
        return body if done else None

    stats = wait_for(caught_up, what="stats caught up")
    (entry,) = stats["indices"]
    assert entry["index"] == "metrics-copy"
    assert entry["total_global_checkpoint_lag"] == 0
    shards = sorted(entry["shards"], key=lambda s: s["shard_id"])
    assert [s["shard_id"] for s in shards] == [0, 1]
    leader_stats = lc.indices.stats(index="metrics")["indices"]["metrics"]
    written = sum(s["operations_written"] for s in shards)
    # The leader holds its whole history: the follower read it all from _seq_no 0.
    assert written == leader_stats["primaries"]["indexing"]["index_total"] == 35
    for shard in shards:
        assert shard["remote_cluster"] == "leader" and shard["leader_index"] == "metrics"
        assert shard["follower_index"] == "metrics-copy"
        assert shard["follower_max_seq_no"] == shard["leader_max_seq_no"]
        assert shard["successful_read_requests"] >= 1 and shard["failed_read_requests"] == 0
        assert shard["operations_read"] >= shard["operations_written"]
        assert shard["bytes_read"] > 0 and shard["read_exceptions"] == []
        assert shard["follower_mapping_version"] >= 1
        assert "fatal_exception" not in shard
    whole = fc.ccr.stats().body
    assert whole["auto_follow_stats"] == {
        "number_of_failed_follow_indices": 0,
        "number_of_failed_remote_cluster_state_requests": 0,
        "number_of_successful_follow_indices": 0,
        "recent_auto_follow_errors": [],
        "auto_followed_clusters": [],
    }
    assert "metrics-copy" in [i["index"] for i in whole["follow_stats"]["indices"]]


def lease_ids(client: Elasticsearch, index: str) -> list[str]:
    shards = client.indices.stats(index=index, level="shards")["indices"][index]["shards"]
    return [
        lease["id"]
        for copies in shards.values()
        for copy in copies
        for lease in copy.get("retention_leases", {}).get("leases", [])
    ]


def error_of(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value.meta.status, caught.value.body["error"]


def test_pause_resume_and_unfollow_rules(pair: tuple[NodeProcess, NodeProcess]) -> None:
    lc, fc = clients(pair)
    make_leader(lc, "cycle", shards=1)
    fc.ccr.follow(index="cycle-copy", remote_cluster="leader", leader_index="cycle")
    wait_for(lambda: converged(lc, fc, "cycle", "cycle-copy"))
    assert fc.ccr.pause_follow(index="cycle-copy").body == {"acknowledged": True}
    (info,) = fc.ccr.follow_info(index="cycle-copy")["follower_indices"]
    assert info["status"] == "paused" and "parameters" not in info
    assert error_of(lambda: fc.ccr.follow_stats(index="cycle-copy")) == (
        404,
        {
            "root_cause": [
                {
                    "type": "resource_not_found_exception",
                    "reason": "No shard follow tasks for follower indices [cycle-copy]",
                }
            ],
            "type": "resource_not_found_exception",
            "reason": "No shard follow tasks for follower indices [cycle-copy]",
        },
    )
    status, error = error_of(lambda: fc.ccr.pause_follow(index="cycle-copy"))
    assert (status, error["reason"]) == (400, "no shard follow tasks for [cycle-copy]")
    bulk(lc, "cycle", [("index", "while-paused", 1)])
    time.sleep(0.5)
    assert "while-paused" not in docs(fc, "cycle-copy")
    fc.ccr.resume_follow(index="cycle-copy", max_read_request_operation_count=10)
    wait_for(lambda: converged(lc, fc, "cycle", "cycle-copy"), what="caught up after resume")
    (info,) = fc.ccr.follow_info(index="cycle-copy")["follower_indices"]
    assert info["parameters"]["max_read_request_operation_count"] == 10
    status, error = error_of(lambda: fc.ccr.resume_follow(index="cycle-copy"))
    assert (status, error["type"]) == (400, "resource_already_exists_exception")
    status, error = error_of(lambda: fc.ccr.unfollow(index="cycle-copy"))
    assert (status, error["reason"]) == (
        400,
        "cannot convert the follower index [cycle-copy] to a non-follower, because it has not "
        "been closed",
    )
    fc.indices.close(index="cycle-copy")
    status, error = error_of(lambda: fc.ccr.unfollow(index="cycle-copy"))
    assert error["reason"].endswith("because it has not been paused")
    fc.ccr.pause_follow(index="cycle-copy")
    assert fc.ccr.unfollow(index="cycle-copy").body == {"acknowledged": True}
    status, error = error_of(lambda: fc.ccr.resume_follow(index="cycle-copy"))
    assert (status, error["type"], error["reason"]) == (
        400,
        "illegal_argument_exception",
        "follow index [cycle-copy] does not have ccr metadata",
    )
    fc.indices.open(index="cycle-copy")
    assert fc.index(index="cycle-copy", id="mine", document={"n": 5})["result"] == "created"
    assert fc.ccr.follow_info(index="cycle-copy")["follower_indices"] == []
    status, error = error_of(lambda: fc.ccr.pause_follow(index="cycle-copy"))
    assert error["reason"] == "index [cycle-copy] is not a follower index"


def test_follow_request_errors(pair: tuple[NodeProcess, NodeProcess]) -> None:
    lc, fc = clients(pair)
    make_leader(lc, "err", shards=1)
    fc.indices.create(index="taken")
    status, error = error_of(
        lambda: fc.ccr.follow(index="taken", remote_cluster="leader", leader_index="err")
    )
    assert (status, error["type"]) == (400, "resource_already_exists_exception")
    # A name taken by an alias: the error creating an index gives.
    fc.indices.put_alias(index="taken", name="taken-alias")
    status, error = error_of(
        lambda: fc.ccr.follow(index="taken-alias", remote_cluster="leader", leader_index="err")
    )
    assert (status, error["type"], error["reason"]) == (
        400,
        "invalid_index_name_exception",
        "Invalid index name [taken-alias], already exists as alias",
    )
    status, error = error_of(
        lambda: fc.ccr.follow(index="x1", remote_cluster="leader", leader_index="missing")
    )
    assert (status, error["type"], error["reason"]) == (
        404,
        "index_not_found_exception",
        "no such index [missing]",
    )
    status, error = error_of(
        lambda: fc.ccr.follow(index="x2", remote_cluster="nope", leader_index="err")
    )
    assert (status, error["reason"]) == (404, "no such remote cluster: [nope]")
    status, error = error_of(
        lambda: fc.ccr.follow(
            index="x3",
            remote_cluster="leader",
            leader_index="err",
            settings={"index.number_of_shards": 5},
        )
    )
    assert (status, error["reason"]) == (
        400,
        'can not put follower index that could override leader settings {"index.number_of_shards":"5"}',
    )
    status, error = error_of(
        lambda: fc.perform_request(
            "PUT",
            "/x4/_ccr/follow",
            headers={"content-type": "application/json"},
            body={"max_outstanding_read_requests": 0},
        )
    )
    assert (status, error["reason"]) == (
        400,
        "Validation Failed: 1: max_outstanding_read_requests must be larger than 0;"
        "2: remote_cluster is missing;3: leader_index is missing;",
    )
    lc.indices.put_alias(index="err", name="err-alias")
    status, error = error_of(
        lambda: fc.ccr.follow(index="x5", remote_cluster="leader", leader_index="err-alias")
    )
    assert (status, error["reason"]) == (400, "cannot follow [err-alias], because it is a ALIAS")
    assert not fc.indices.exists(index="x1,x2,x3,x4,x5")


def test_following_survives_a_restart_and_a_leader_outage(
    pair: tuple[NodeProcess, NodeProcess],
) -> None:
    leader, follower = pair
    lc, fc = clients(pair)
    make_leader(lc, "durable", shards=1)
    fc.ccr.follow(
        index="durable-copy",
        remote_cluster="leader",
        leader_index="durable",
        max_retry_delay="200ms",
    )
    wait_for(lambda: converged(lc, fc, "durable", "durable-copy"))
    # The follower restarts: its follow task starts again by itself, from its checkpoint.
    follower.stop()
    bulk(lc, "durable", [("index", "while-down", 7), ("delete", "1", 0)])
    follower.start()
    fc = Elasticsearch(follower.url)
    wait_for(lambda: converged(lc, fc, "durable", "durable-copy"), what="caught up after restart")
    # The leader goes away: reads fail and are retried, shown in the stats...
    leader.kill()
    shard = wait_for(
        lambda: next(
            (
                sh
                for sh in fc.ccr.follow_stats(index="durable-copy")["indices"][0]["shards"]
                if sh["read_exceptions"]
            ),
            None,
        ),
        what="read exceptions",
    )
    assert shard["failed_read_requests"] >= 1
    (retry,) = shard["read_exceptions"]
    assert retry["retries"] >= 1 and retry["exception"]["type"]
    assert "fatal_exception" not in shard
    # ... and it comes back on the same address: the follower catches up by itself.
    leader.start()
    lc = Elasticsearch(leader.url)
    bulk(lc, "durable", [("index", "after-outage", 9)])
    wait_for(lambda: converged(lc, fc, "durable", "durable-copy"), what="caught up after outage")


def fatal_of(fc: Elasticsearch, index: str) -> dict[str, Any] | None:
    for shard in fc.ccr.follow_stats(index=index)["indices"][0]["shards"]:
        if "fatal_exception" in shard:
            fatal: dict[str, Any] = shard["fatal_exception"]
            return fatal
    return None


def test_leader_deleted_or_trimmed_is_fatal(pair: tuple[NodeProcess, NodeProcess]) -> None:
    _, follower = pair
    lc, fc = clients(pair)
    # The leader index is deleted: the task stops with ES's fatal error, resume cannot follow it.
    make_leader(lc, "gone", shards=1)
    # The default long poll: deleting the leader ends it at once (the leader's answer).
    fc.ccr.follow(index="gone-copy", remote_cluster="leader", leader_index="gone")
    wait_for(lambda: converged(lc, fc, "gone", "gone-copy"))
    lc.indices.delete(index="gone")
    fatal = wait_for(lambda: fatal_of(fc, "gone-copy"), what="fatal exception")
    assert fatal["type"] == "index_not_found_exception"
    assert fatal["reason"] == "no such index [gone]"
    assert "shard follow task encounter non-retryable error" in follower.log_text()
    status, error = error_of(lambda: fc.ccr.resume_follow(index="gone-copy"))
    assert (status, error["type"]) == (404, "index_not_found_exception")
    # The leader trimmed what a paused follower still needed (its lease expired): fatal too.
    lc.indices.create(
        index="short",
        settings={"number_of_shards": 1, "index.soft_deletes.retention_lease.period": "1s"},
        mappings=MAPPING,
    )
    bulk(lc, "short", [("index", "a", 1)])
    fc.ccr.follow(index="short-copy", remote_cluster="leader", leader_index="short")
    wait_for(lambda: converged(lc, fc, "short", "short-copy"))
    fc.ccr.pause_follow(index="short-copy")
    bulk(lc, "short", [("index", "b", 2), ("delete", "b", 0), ("index", "a", 3)])
    lc.indices.refresh(index="short")
    # The paused follower's lease is no longer renewed: it expires after the 1 s period, and the
    # next trim (within a second) drops the superseded operations the follower still needs.
    time.sleep(3.0)
    fc.ccr.resume_follow(index="short-copy")
    trimmed = wait_for(lambda: fatal_of(fc, "short-copy"), what="fatal exception after trimming")
    assert trimmed["type"] == "resource_not_found_exception"
    assert trimmed["reason"].startswith("Operations are no longer available for replicating.")


@pytest.mark.parametrize("seed", [11, 29])
def test_random_histories_with_pauses_converge(
    pair: tuple[NodeProcess, NodeProcess], seed: int
) -> None:
    """Seeded random index/update/delete rounds on the leader, the follower paused and resumed
    (with other parameters) between some of them: document by document, the follower ends equal
    to the leader, ``_seq_no``, ``_primary_term`` and ``_version`` included."""
    import random

    rng = random.Random(seed)
    lc, fc = clients(pair)
    leader_index, follower_index = f"rand-{seed}", f"rand-{seed}-copy"
    lc.indices.create(index=leader_index, settings={"number_of_shards": 2}, mappings=MAPPING)
    fc.ccr.follow(
        index=follower_index,
        remote_cluster="leader",
        leader_index=leader_index,
        max_read_request_operation_count=rng.choice([3, 50]),
        max_write_request_operation_count=rng.choice([2, 100]),
        max_outstanding_read_requests=rng.choice([1, 4]),
    )
    paused = False
    for _ in range(5):
        ops: list[tuple[str, str, int]] = []
        for _ in range(rng.randint(5, 40)):
            kind = rng.choice(["index", "index", "update", "delete"])
            doc_id = str(rng.randint(0, 15))
            ops.append(("index" if kind == "update" else kind, doc_id, rng.randint(0, 999)))
        bulk(lc, leader_index, ops)
        if rng.random() < 0.3:
            lc.update(
                index=leader_index, id=str(rng.randint(0, 15)), doc={"tag": "u"}, doc_as_upsert=True
            )
        if paused:
            fc.ccr.resume_follow(
                index=follower_index, max_read_request_operation_count=rng.randint(1, 20)
            )
            paused = False
        elif rng.random() < 0.5:
            fc.ccr.pause_follow(index=follower_index)
            paused = True
    if paused:
        fc.ccr.resume_follow(index=follower_index)
    wait_for(lambda: converged(lc, fc, leader_index, follower_index), what="random history")
    shards = fc.ccr.follow_stats(index=follower_index)["indices"][0]["shards"]
    leader_total = lc.indices.stats(index=leader_index)["indices"][leader_index]["primaries"]
    assert (
        sum(s["follower_max_seq_no"] + 1 for s in shards) == leader_total["indexing"]["index_total"]
    )


def test_closed_follower_stops_and_resumes_when_opened(
    pair: tuple[NodeProcess, NodeProcess],
) -> None:
    lc, fc = clients(pair)
    make_leader(lc, "shut", shards=1)
    fc.ccr.follow(index="shut-copy", remote_cluster="leader", leader_index="shut")
    wait_for(lambda: converged(lc, fc, "shut", "shut-copy"))
    fc.indices.close(index="shut-copy")
    # Closed: no follow task runs, but the follower is still following (info says so).
    assert fc.ccr.follow_info(index="shut-copy")["follower_indices"][0]["status"] == "active"
    status, _ = error_of(lambda: fc.ccr.follow_stats(index="shut-copy"))
    assert status == 404
    bulk(lc, "shut", [("index", "while-closed", 1), ("delete", "2", 0)])
    fc.indices.open(index="shut-copy")
    wait_for(lambda: converged(lc, fc, "shut", "shut-copy"), what="caught up after reopening")


def test_auto_follow_patterns(pair: tuple[NodeProcess, NodeProcess]) -> None:
    lc, fc = clients(pair)
    make_leader(lc, "af-old", shards=1)
    resp = fc.ccr.put_auto_follow_pattern(
        name="af",
        remote_cluster="leader",
        leader_index_patterns=["af-*"],
        leader_index_exclusion_patterns=["af-skip*"],
        follow_index_pattern="{{leader_index}}-auto",
        max_read_request_operation_count=100,
    )
    assert resp.body == {"acknowledged": True}
    assert fc.ccr.get_auto_follow_pattern(name="af").body == {
        "patterns": [
            {
                "name": "af",
                "pattern": {
                    "active": True,
                    "remote_cluster": "leader",
                    "leader_index_patterns": ["af-*"],
                    "leader_index_exclusion_patterns": ["af-skip*"],
                    "follow_index_pattern": "{{leader_index}}-auto",
                    "max_read_request_operation_count": 100,
                },
            }
        ]
    }
    # Only indices created after the pattern, and not excluded, are followed.
    make_leader(lc, "af-new", shards=1)
    make_leader(lc, "af-skip-1", shards=1)
    wait_for(lambda: fc.indices.exists(index="af-new-auto"), what="auto-followed index")
    wait_for(lambda: converged(lc, fc, "af-new", "af-new-auto"))
    info = fc.ccr.follow_info(index="af-new-auto")["follower_indices"][0]
    assert info["parameters"]["max_read_request_operation_count"] == 100
    stats = fc.ccr.stats()["auto_follow_stats"]
    assert stats["number_of_successful_follow_indices"] == 1
    assert [c["cluster_name"] for c in stats["auto_followed_clusters"]] == ["leader"]
    assert not fc.indices.exists(index="af-old-auto,af-skip-1-auto")
    # A paused pattern follows nothing new until resumed.
    assert fc.ccr.pause_auto_follow_pattern(name="af").body == {"acknowledged": True}
    assert fc.ccr.get_auto_follow_pattern(name="af")["patterns"][0]["pattern"]["active"] is False
    make_leader(lc, "af-late", shards=1)
    time.sleep(1.5)
    assert not fc.indices.exists(index="af-late-auto")
    fc.ccr.resume_auto_follow_pattern(name="af")
    wait_for(lambda: fc.indices.exists(index="af-late-auto"), what="followed after resume")
    # A follow that fails (the follower's name is taken) is counted and shown with ES's key.
    fc.indices.create(index="af-clash-auto")
    make_leader(lc, "af-clash", shards=1)

    def clash() -> dict[str, Any] | None:
        auto = fc.ccr.stats()["auto_follow_stats"]
        errors = [
            e for e in auto["recent_auto_follow_errors"] if e["leader_index"] == "af:af-clash"
        ]
        return errors[0] if errors and auto["number_of_failed_follow_indices"] >= 1 else None

    error = wait_for(clash, what="auto-follow error")
    assert error["auto_follow_exception"]["type"] == "resource_already_exists_exception"
    assert error["timestamp"] > 0
    assert fc.ccr.delete_auto_follow_pattern(name="af").body == {"acknowledged": True}
    status, error = error_of(lambda: fc.ccr.get_auto_follow_pattern(name="af"))
    assert (status, error["type"], error["reason"]) == (
        404,
        "resource_not_found_exception",
        "auto-follow pattern [af] is missing",
    )
    assert fc.ccr.get_auto_follow_pattern().body == {"patterns": []}
    status, error = error_of(
        lambda: fc.ccr.put_auto_follow_pattern(
            name="bad", remote_cluster="nope", leader_index_patterns=["x"]
        )
    )
    assert (status, error["reason"]) == (404, "no such remote cluster: [nope]")


def test_new_follower_copies_a_leader_whose_history_was_trimmed(
    pair: tuple[NodeProcess, NodeProcess],
) -> None:
    """The first copy is the leader's store (ES's restore), so a leader that no longer holds
    its whole history is followed all the same, from the copy's checkpoint."""
    lc, fc = clients(pair)
    lc.indices.create(
        index="old",
        settings={"number_of_shards": 1, "index.soft_deletes.retention_lease.period": "1s"},
        mappings=MAPPING,
    )
    for n in range(4):
        bulk(lc, "old", [("index", "a", n), ("index", f"b{n}", n)])
    lc.indices.refresh(index="old")
    time.sleep(2.5)  # superseded operations older than the period go at the next trim
    # Waiting for an active shard waits for the copy: the documents are there on answer.
    resp = fc.ccr.follow(
        index="old-copy", remote_cluster="leader", leader_index="old", wait_for_active_shards=1
    )
    assert resp.body == {
        "follow_index_created": True,
        "follow_index_shards_acked": True,
        "index_following_started": True,
    }
    assert docs(fc, "old-copy") == docs(lc, "old")
    # Waiting for none (the default) answers before the copy ends, nothing acknowledged.
    resp = fc.ccr.follow(index="old-copy0", remote_cluster="leader", leader_index="old")
    assert resp.body == {
        "follow_index_created": True,
        "follow_index_shards_acked": False,
        "index_following_started": False,
    }
    # The name is taken from the answer on, its copy running or not (ES: a restoring index).
    status, error = error_of(
        lambda: fc.ccr.follow(index="old-copy0", remote_cluster="leader", leader_index="old")
    )
    assert (status, error["type"]) == (400, "resource_already_exists_exception")
    wait_for(lambda: converged(lc, fc, "old", "old-copy0"), what="the copy after the answer")
    for follower in ("old-copy", "old-copy0"):
        (shard,) = fc.ccr.follow_stats(index=follower)["indices"][0]["shards"]
        assert shard["operations_written"] == 0 and "fatal_exception" not in shard
    bulk(lc, "old", [("index", "a", 99)])
    wait_for(lambda: converged(lc, fc, "old", "old-copy"), what="followed after the copy")
    # The leader's shard takes 3 leases (ccr.retention_leases.max_per_shard): the fourth
    # follower's copy is refused before it starts, and nothing of it is left.
    fc.ccr.follow(index="old-copy2", remote_cluster="leader", leader_index="old")
    status, error = error_of(
        lambda: fc.ccr.follow(
            index="old-copy3", remote_cluster="leader", leader_index="old", wait_for_active_shards=1
        )
    )
    assert (status, error["type"], error["reason"]) == (
        400,
        "illegal_argument_exception",
        "Trying to create too many retention leases. Must be less than or equal to: [3]. "
        "This limit can be set by changing the [ccr.retention_leases.max_per_shard] setting.",
    )
    assert not fc.indices.exists(index="old-copy3")
    assert len(lease_ids(lc, "old")) == 3


def test_frozen_leader_is_retried_then_caught_up(pair: tuple[NodeProcess, NodeProcess]) -> None:
    """A leader that stops answering without closing anything (SIGSTOP: its kernel still
    acknowledges): the transport's pings end the long poll, reads are retried (read_exceptions),
    and once the leader runs again the follower catches up by itself."""
    leader, _ = pair
    lc, fc = clients(pair)
    make_leader(lc, "frozen", shards=1)
    fc.ccr.follow(index="frozen-copy", remote_cluster="leader", leader_index="frozen")
    wait_for(lambda: converged(lc, fc, "frozen", "frozen-copy"))
    assert leader.proc is not None
    os.kill(leader.proc.pid, signal.SIGSTOP)
    try:

        def retried() -> dict[str, Any] | None:
            shards = fc.ccr.follow_stats(index="frozen-copy")["indices"][0]["shards"]
            return shards[0] if shards[0]["read_exceptions"] else None

        shard = wait_for(retried, timeout=15, what="read exceptions from a frozen leader")
        assert "fatal_exception" not in shard
    finally:
        os.kill(leader.proc.pid, signal.SIGCONT)
    bulk(lc, "frozen", [("index", "after-thaw", 1)])
    wait_for(lambda: converged(lc, fc, "frozen", "frozen-copy"), what="caught up after thaw")
    shards = fc.ccr.follow_stats(index="frozen-copy")["indices"][0]["shards"]
    assert shards[0]["read_exceptions"] == [] and "fatal_exception" not in shards[0]


def test_put_follow_waits_for_active_shard_copies(pair: tuple[NodeProcess, NodeProcess]) -> None:
    """ES's wait_for_active_shards: none answers at once (nothing acknowledged), ``all`` waits
    for the primary and every replica of each shard; on one node the replicas never start, so
    it waits out the timeout and says so, and the follower follows all the same."""
    lc, fc = clients(pair)
    lc.indices.create(
        index="wait", settings={"number_of_shards": 2, "number_of_replicas": 1}, mappings=MAPPING
    )
    bulk(lc, "wait", [("index", str(i), i) for i in range(10)])
    resp = fc.ccr.follow(
        index="wait-none", remote_cluster="leader", leader_index="wait", wait_for_active_shards=0
    )
    assert resp.body == {
        "follow_index_created": True,
        "follow_index_shards_acked": False,
        "index_following_started": False,
    }
    resp = fc.ccr.follow(
        index="wait-all0",
        remote_cluster="leader",
        leader_index="wait",
        wait_for_active_shards="all",
        settings={"index.number_of_replicas": 0},
    )
    assert resp.body == {
        "follow_index_created": True,
        "follow_index_shards_acked": True,
        "index_following_started": True,
    }
    began = time.monotonic()
    resp = fc.perform_request(
        "PUT",
        "/wait-all/_ccr/follow",
        params={"wait_for_active_shards": "all", "timeout": "1s"},
        headers={"content-type": "application/json", "accept": "application/json"},
        body={"remote_cluster": "leader", "leader_index": "wait"},
    )
    took = time.monotonic() - began
    assert resp.body == {
        "follow_index_created": True,
        "follow_index_shards_acked": False,
        "index_following_started": True,
    }
    assert 1.0 <= took < 10.0, took
    # A fourth follower finds each leader shard's 3 leases taken (the module's leader allows
    # 3): its follow tasks log the refused lease and follow all the same.
    fc.ccr.follow(index="wait-4", remote_cluster="leader", leader_index="wait")
    for follower in ("wait-none", "wait-all0", "wait-all", "wait-4"):
        wait_for(lambda f=follower: converged(lc, fc, "wait", f), what=f"{follower} followed")
    refused = wait_for(
        lambda: [
            line
            for line in pair[1].log_text().splitlines()
            if "/wait-4/" in line and "Trying to create too many retention leases" in line
        ],
        what="the refused lease logged",
    )
    assert "background management of retention lease" in refused[0]
    assert len(lease_ids(lc, "wait")) == 2 * 3
    status, error = error_of(
        lambda: fc.ccr.follow(
            index="wait-x", remote_cluster="leader", leader_index="wait", wait_for_active_shards=-3
        )
    )
    assert (status, error["reason"]) == (400, "shard count cannot be a negative value")


def test_static_leader_setting_closes_and_reopens_the_follower(
    pair: tuple[NodeProcess, NodeProcess],
) -> None:
    """A static setting changed on the (closed) leader reaches the follower as ES's follow
    task brings it: the follower is closed, updated and opened again, and keeps following."""
    _, follower = pair
    lc, fc = clients(pair)
    make_leader(lc, "static", shards=2)
    fc.ccr.follow(
        index="static-copy",
        remote_cluster="leader",
        leader_index="static",
        wait_for_active_shards=1,
    )
    wait_for(lambda: converged(lc, fc, "static", "static-copy"))
    lc.indices.close(index="static")
    lc.indices.put_settings(index="static", settings={"index.queries.cache.enabled": False})
    lc.indices.open(index="static")
    bulk(lc, "static", [("index", f"after{i}", i) for i in range(20)])

    def cache_setting() -> dict[str, str] | None:
        got = fc.indices.get_settings(index="static-copy")["static-copy"]["settings"]["index"]
        cache: dict[str, str] | None = got.get("queries", {}).get("cache")
        return cache

    assert wait_for(cache_setting, what="the static setting on the follower") == {
        "enabled": "false"
    }
    wait_for(lambda: converged(lc, fc, "static", "static-copy"), what="following after reopen")
    log = follower.log_text()
    closing = log.index("closing indices [static-copy/")
    assert log.index("completed closing of indices [static-copy]") > closing
    assert log.index("opening indices [[static-copy/") > closing
    shards = fc.ccr.follow_stats(index="static-copy")["indices"][0]["shards"]
    assert len(shards) == 2 and not any("fatal_exception" in shard for shard in shards)
    assert log.count("closing indices [static-copy/") == 1  # one shard's task closed it once
