"""Cross-cluster replication of data streams between two real clusters (the official client).

As ES does: following a leader's backing index makes (or extends) the follower's data stream of
the same name, marked ``replicated``; an auto-follow pattern naming a stream (``logs-af-*``)
follows each of its new backing indices, the ones the leader's rollovers make included; a
replicated stream takes no writes and no local rollover until promoted. One leader and one
follower cluster are shared by the module; each test has its own streams.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.testing.process import NodeProcess, start_side_by_side

T = TypeVar("T")
FOLLOWING_ENGINE = (
    "a following engine does not accept operations without an assigned sequence number"
)


def wait_for(check: Callable[[], T | None], timeout: float = 20.0, what: str = "") -> T:
    import time

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except ApiError as exc:
            last, result = exc, None
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what or 'condition'} not met within {timeout}s (last: {last!r})")


def error_of(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as err:
        call()
    body = err.value.body
    return err.value.status_code, body["error"]["type"], body["error"]["reason"]


def events(stream: str, start: int, count: int) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for i in range(start, start + count):
        ops += [
            {"create": {"_index": stream}},
            {"@timestamp": f"2026-12-07T10:00:{i:02d}Z", "n": i},
        ]
    return ops


def write(client: Elasticsearch, stream: str, start: int, count: int) -> None:
    resp = client.bulk(operations=events(stream, start, count), refresh=True)
    assert not resp["errors"], resp


def backing(client: Elasticsearch, stream: str) -> list[str]:
    (found,) = client.indices.get_data_stream(name=stream)["data_streams"]
    return [i["index_name"] for i in found["indices"]]


def stream_of(client: Elasticsearch, stream: str) -> dict[str, Any]:
    (found,) = client.indices.get_data_stream(name=stream)["data_streams"]
    return dict(found)


def count(client: Elasticsearch, target: str) -> int:
    client.indices.refresh(index=target)
    return int(client.count(index=target)["count"])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Elasticsearch, Elasticsearch]]:
    base = tmp_path_factory.mktemp("ccr-ds")
    leader = NodeProcess(base / "leader", {"cluster.name": "leader", "node.name": "leader-node"})
    follower = NodeProcess(
        base / "follower", {"cluster.name": "follower", "node.name": "follower-node"}
    )
    start_side_by_side(leader, follower)
    lc, fc = Elasticsearch(leader.url), Elasticsearch(follower.url)
    for prefix in ("logs", "metrics"):
        lc.indices.put_index_template(
            name=f"{prefix}-ds", index_patterns=[f"{prefix}-*"], data_stream={}, priority=100
        )
    fc.cluster.put_settings(
        persistent={"cluster.remote.leader.seeds": [leader.transport_address()]}
    )
    yield lc, fc
    follower.kill()
    leader.kill()


def test_put_follow_of_backing_indices_builds_a_replicated_stream(
    pair: tuple[Elasticsearch, Elasticsearch],
) -> None:
    lc, fc = pair
    write(lc, "logs-pf-prod", 0, 5)
    lc.indices.rollover(alias="logs-pf-prod")
    write(lc, "logs-pf-prod", 5, 3)
    first, second = backing(lc, "logs-pf-prod")
    # The newer backing index first: the older one then goes before it (generation order).
    for index in (second, first):
        resp = fc.ccr.follow(
            index=index, remote_cluster="leader", leader_index=index, wait_for_active_shards="1"
        )
        assert resp["index_following_started"] is True
    replicated = stream_of(fc, "logs-pf-prod")
    assert [i["index_name"] for i in replicated["indices"]] == [first, second]
    assert (replicated["replicated"], replicated["generation"]) == (True, 2)
    assert stream_of(lc, "logs-pf-prod")["replicated"] is False
    assert fc.indices.get_settings(index=first)[first]["settings"]["index"]["hidden"] == "true"
    wait_for(lambda: count(fc, "logs-pf-prod") == 8, what="both generations replicated")
    write(lc, "logs-pf-prod", 8, 2)
    wait_for(lambda: count(fc, "logs-pf-prod") == 10, what="new writes replicated")
    assert fc.search(index="logs-*", size=0)["hits"]["total"]["value"] >= 10

    # Writes land on the write index, a follower (ES's following engine refuses them); a
    # local rollover is refused with ES's text.
    status, kind, reason = error_of(
        lambda: fc.index(
            index="logs-pf-prod", document={"@timestamp": "2026-12-07"}, op_type="create"
        )
    )
    assert (status, kind, reason) == (403, "status_exception", FOLLOWING_ENGINE)
    assert error_of(lambda: fc.indices.rollover(alias="logs-pf-prod")) == (
        400,
        "illegal_argument_exception",
        "data stream [logs-pf-prod] cannot be rolled over, because it is a replicated data stream",
    )
    # A data stream is followed by its backing indices, never by its name (ES's text).
    assert error_of(
        lambda: fc.ccr.follow(index="whole", remote_cluster="leader", leader_index="logs-pf-prod")
    ) == (
        400,
        "illegal_argument_exception",
        "cannot follow [logs-pf-prod], because it is a DATA_STREAM",
    )
    # ES (8.4+) lets the follower and its stream be renamed (data_stream_name), freely.
    copy = "pf-copy-000001"
    fc.ccr.follow(
        index=copy,
        remote_cluster="leader",
        leader_index=first,
        data_stream_name="logs-pf-copy",
        wait_for_active_shards="1",
    )
    renamed = stream_of(fc, "logs-pf-copy")
    assert ([i["index_name"] for i in renamed["indices"]], renamed["replicated"]) == ([copy], True)
    assert fc.indices.get(index=copy)[copy]["data_stream"] == "logs-pf-copy"
    wait_for(lambda: count(fc, "logs-pf-copy") == 5, what="renamed copy")


def test_promoted_stream_rolls_over_and_takes_writes(
    pair: tuple[Elasticsearch, Elasticsearch],
) -> None:
    lc, fc = pair
    write(lc, "logs-pr-prod", 0, 4)
    lc.indices.rollover(alias="logs-pr-prod")
    first, second = backing(lc, "logs-pr-prod")
    fc.ccr.follow(
        index=first, remote_cluster="leader", leader_index=first, wait_for_active_shards="1"
    )
    assert error_of(lambda: fc.indices.promote_data_stream(name="logs-pr-nope")) == (
        404,
        "resource_not_found_exception",
        "data stream [logs-pr-nope] does not exist",
    )
    # Promoting without a data stream template on this cluster warns (ES's text) ...
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fc.indices.promote_data_stream(name="logs-pr-prod")["acknowledged"] is True
    assert any(
        "Data stream [logs-pr-prod] does not have a matching index template. This will cause "
        "rollover to fail until a matching index template is created" in str(w.message)
        for w in caught
    )
    assert stream_of(fc, "logs-pr-prod")["replicated"] is False
    # ... and the rollover fails until there is one.
    assert error_of(lambda: fc.indices.rollover(alias="logs-pr-prod")) == (
        400,
        "illegal_argument_exception",
        "no matching index template found for data stream [logs-pr-prod]",
    )
    fc.indices.put_index_template(
        name="logs-pr", index_patterns=["logs-pr-*"], data_stream={}, priority=100
    )
    rolled = fc.indices.rollover(alias="logs-pr-prod")
    assert rolled["rolled_over"] is True and rolled["old_index"] == first
    # The new write index is a normal index: the stream takes writes again.
    created = fc.index(
        index="logs-pr-prod", document={"@timestamp": "2026-12-07"}, op_type="create"
    )
    assert created["result"] == "created" and created["_index"] == rolled["new_index"]
    assert backing(fc, "logs-pr-prod") == [first, rolled["new_index"]]
    # A promoted stream follows nothing more (ES's text).
    status, _, reason = error_of(
        lambda: fc.ccr.follow(index=second, remote_cluster="leader", leader_index=second)
    )
    assert (status, reason) == (
        400,
        f"cannot follow backing index [{second}], because local data stream [logs-pr-prod] is "
        "no longer marked as replicated",
    )
    assert not fc.indices.exists(index=second)


def test_auto_follow_follows_each_new_backing_index(
    pair: tuple[Elasticsearch, Elasticsearch],
) -> None:
    lc, fc = pair
    fc.ccr.put_auto_follow_pattern(
        name="logs-af", remote_cluster="leader", leader_index_patterns=["logs-af-*"]
    )
    fc.ccr.put_auto_follow_pattern(
        name="metrics-af",
        remote_cluster="leader",
        leader_index_patterns=["metrics-af-*"],
        follow_index_pattern="{{leader_index}}-copy",
    )
    write(lc, "logs-af-web", 0, 3)
    write(lc, "metrics-af-db", 0, 2)
    (logs_1,) = backing(lc, "logs-af-web")
    (metrics_1,) = backing(lc, "metrics-af-db")
    wait_for(lambda: backing(fc, "logs-af-web") == [logs_1], what="first backing index followed")
    # The pattern's template renames the stream's part of the name, and the stream.
    metrics_copy = metrics_1.replace("metrics-af-db", "metrics-af-db-copy")
    wait_for(lambda: backing(fc, "metrics-af-db-copy") == [metrics_copy], what="renamed")
    # Each rollover on the leader adds the next generation to the follower's stream.
    logs_2 = lc.indices.rollover(alias="logs-af-web")["new_index"]
    write(lc, "logs-af-web", 3, 2)
    wait_for(lambda: backing(fc, "logs-af-web") == [logs_1, logs_2], what="rolled-over index")
    wait_for(lambda: count(fc, "logs-af-web") == 5, what="documents of both generations")
    wait_for(lambda: count(fc, "metrics-af-db-copy") == 2, what="renamed stream's documents")
    replicated = stream_of(fc, "logs-af-web")
    assert (replicated["replicated"], replicated["generation"]) == (True, 2)
    stats = fc.ccr.stats()["auto_follow_stats"]
    assert stats["number_of_successful_follow_indices"] >= 3
    assert stats["recent_auto_follow_errors"] == []
