"""Disk watermarks on a real node: the real ``statvfs`` of ``path.data`` trips them.

Absolute watermarks are minimum *free* space, so ``800tb`` of required free space is exceeded on
any disk: the flood-stage block goes on, writes answer ES's 429, reads and index deletion still
work, and lowering the watermarks releases the block on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.process import NodeProcess
from tests.integration.support import api_error

FLOOD = {
    "cluster.routing.allocation.disk.watermark.low": "1000tb",
    "cluster.routing.allocation.disk.watermark.high": "900tb",
    "cluster.routing.allocation.disk.watermark.flood_stage": "800tb",
}
CLEAR = {
    "cluster.routing.allocation.disk.watermark.low": "3b",
    "cluster.routing.allocation.disk.watermark.high": "2b",
    "cluster.routing.allocation.disk.watermark.flood_stage": "1b",
}
BLOCK = "[TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block]"


def blocked_reason(index: str) -> str:
    return f"index [{index}] blocked by: {BLOCK};"


def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def read_only(es: Elasticsearch, index: str) -> bool:
    settings = es.indices.get_settings(index=index, flat_settings=True)[index]["settings"]
    return settings.get("index.blocks.read_only_allow_delete") == "true"


@pytest.fixture
def disk_node(tmp_path: Path) -> Iterator[tuple[NodeProcess, Elasticsearch]]:
    proc = NodeProcess(tmp_path / "node")
    proc.start()
    client = Elasticsearch(proc.url, request_timeout=30)
    yield proc, client
    client.close()
    proc.kill()


def test_flood_stage_blocks_writes_keeps_reads_and_releases(
    disk_node: tuple[NodeProcess, Elasticsearch],
) -> None:
    proc, es = disk_node
    es.indices.create(index="disk-a", settings={"number_of_replicas": 0})
    es.indices.create(index="disk-b", settings={"number_of_replicas": 0})
    es.index(index="disk-a", id="1", document={"n": 1}, refresh=True)

    es.cluster.put_settings(persistent=FLOOD)
    wait_until(lambda: read_only(es, "disk-a") and read_only(es, "disk-b"))

    # Every document write is refused with ES's block, status and reason.
    status, body = api_error(lambda: es.index(index="disk-a", id="2", document={"n": 2}))
    assert status == 429
    assert body["error"]["type"] == "cluster_block_exception"
    assert body["error"]["reason"] == blocked_reason("disk-a")
    assert body["error"]["root_cause"][0]["reason"] == blocked_reason("disk-a")
    status, _ = api_error(lambda: es.delete(index="disk-a", id="1"))
    assert status == 429
    status, _ = api_error(lambda: es.update(index="disk-a", id="1", doc={"n": 5}))
    assert status == 429
    bulk = es.bulk(
        operations=[
            {"index": {"_index": "disk-a", "_id": "3"}},
            {"n": 3},
            {"delete": {"_index": "disk-a", "_id": "1"}},
        ]
    )
    assert bulk["errors"] is True
    for item in bulk["items"]:
        (result,) = item.values()
        assert result["status"] == 429
        assert result["error"] == {
            "type": "cluster_block_exception",
            "reason": blocked_reason("disk-a"),
        }
    # Metadata writes too; a request changing only the block setting is let through.
    status, body = api_error(
        lambda: es.indices.put_mapping(index="disk-a", properties={"x": {"type": "keyword"}})
    )
    assert (status, body["error"]["type"]) == (429, "cluster_block_exception")
    status, _ = api_error(
        lambda: es.indices.put_settings(index="disk-a", settings={"index.refresh_interval": "2s"})
    )
    assert status == 429

    # Reads still work, and the document written before the block is intact.
    assert es.get(index="disk-a", id="1")["_source"] == {"n": 1}
    assert es.search(index="disk-a")["hits"]["total"]["value"] == 1
    assert es.count(index="disk-a")["count"] == 1

    # Deleting a whole index frees space, so the flood-stage block allows it.
    assert es.indices.delete(index="disk-b")["acknowledged"] is True
    assert not es.indices.exists(index="disk-b")

    log = proc.log_text()
    assert "flood stage disk watermark [800tb] exceeded on [" in log
    assert "all indices on this node will be marked read-only" in log

    # Lowering the watermarks lets the monitor release the block by itself.
    es.cluster.put_settings(persistent=CLEAR)
    wait_until(lambda: not read_only(es, "disk-a"))
    assert es.index(index="disk-a", id="2", document={"n": 2})["result"] == "created"
    uuid = es.indices.get_settings(index="disk-a", flat_settings=True)["disk-a"]["settings"][
        "index.uuid"
    ]
    assert (
        f"releasing read-only block on indices [[disk-a/{uuid}]] since they are now allocated "
        "to nodes with sufficient disk space" in proc.log_text()
    )


def test_disabling_thresholds_releases_blocks(disk_node: tuple[NodeProcess, Elasticsearch]) -> None:
    _, es = disk_node
    es.indices.create(index="disk-c", settings={"number_of_replicas": 0})
    es.cluster.put_settings(persistent=FLOOD)
    wait_until(lambda: read_only(es, "disk-c"))
    es.cluster.put_settings(persistent={"cluster.routing.allocation.disk.threshold_enabled": False})
    wait_until(lambda: not read_only(es, "disk-c"))
    assert es.index(index="disk-c", id="1", document={"n": 1})["result"] == "created"


def test_new_index_on_a_flooded_node_is_blocked(
    disk_node: tuple[NodeProcess, Elasticsearch],
) -> None:
    _, es = disk_node
    es.cluster.put_settings(persistent=FLOOD)
    es.indices.create(index="disk-d", settings={"number_of_replicas": 0})
    wait_until(lambda: read_only(es, "disk-d"))
    status, body = api_error(lambda: es.index(index="disk-d", id="1", document={"n": 1}))
    assert (status, body["error"]["reason"]) == (429, blocked_reason("disk-d"))


@pytest.mark.parametrize(
    ("update", "outer", "cause"),
    [
        (
            {
                "cluster.routing.allocation.disk.watermark.low": "90%",
                "cluster.routing.allocation.disk.watermark.high": "83.45%",
            },
            "illegal value can't update [cluster.routing.allocation.disk.watermark.low] "
            "from [85%] to [90%]",
            "low disk watermark [90%] more than high disk watermark [83.45%]",
        ),
        (
            {"cluster.routing.allocation.disk.watermark.high": "96%"},
            "illegal value can't update [cluster.routing.allocation.disk.watermark.high] "
            "from [90%] to [96%]",
            "high disk watermark [96%] more than flood stage disk watermark [95%]",
        ),
        (
            {
                "cluster.routing.allocation.disk.watermark.low": "500m",
                "cluster.routing.allocation.disk.watermark.high": "1000m",
                "cluster.routing.allocation.disk.watermark.flood_stage": "250m",
            },
            "illegal value can't update [cluster.routing.allocation.disk.watermark.low] "
            "from [85%] to [500m]",
            "low disk watermark [500mb] less than high disk watermark [1000mb]",
        ),
        (
            {"cluster.routing.allocation.disk.watermark.high": "1000m"},
            "illegal value can't update [cluster.routing.allocation.disk.watermark.high] "
            "from [90%] to [1000m]",
            "unable to consistently parse [cluster.routing.allocation.disk.watermark.low=85%], "
            "[cluster.routing.allocation.disk.watermark.high=1000mb], and "
            "[cluster.routing.allocation.disk.watermark.flood_stage=95%] as percentage or bytes",
        ),
    ],
)
def test_inconsistent_watermarks_are_refused_with_es_messages(
    node: NodeProcess, es: Elasticsearch, update: dict[str, str], outer: str, cause: str
) -> None:
    status, body = api_error(lambda: es.cluster.put_settings(persistent=update))
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == outer
    assert body["error"]["caused_by"] == {"type": "illegal_argument_exception", "reason": cause}
    assert es.cluster.get_settings()["persistent"].get("cluster", {}).get("routing") is None


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (
            "cluster.routing.allocation.disk.watermark.low",
            "abc",
            "unable to parse [cluster.routing.allocation.disk.watermark.low=abc] as either "
            "percentage or bytes",
        ),
        (
            "cluster.routing.allocation.disk.watermark.flood_stage",
            "101%",
            "unable to parse [cluster.routing.allocation.disk.watermark.flood_stage=101%] as "
            "either percentage or bytes",
        ),
        (
            "cluster.info.update.interval",
            "1s",
            "failed to parse value [1s] for setting [cluster.info.update.interval], must be >= [10s]",
        ),
    ],
)
def test_malformed_disk_settings_are_400(
    es: Elasticsearch, key: str, value: str, reason: str
) -> None:
    status, body = api_error(lambda: es.cluster.put_settings(persistent={key: value}))
    assert (status, body["error"]["type"], body["error"]["reason"]) == (
        400,
        "illegal_argument_exception",
        reason,
    )


def test_contradictory_watermarks_in_yml_stop_the_start(tmp_path: Path) -> None:
    proc = NodeProcess(
        tmp_path / "node",
        {
            "cluster.routing.allocation.disk.watermark.low": "95%",
            "cluster.routing.allocation.disk.watermark.high": "90%",
        },
    )
    with pytest.raises(RuntimeError, match=r"low disk watermark \[95%\] more than high"):
        proc.start()


def test_cluster_read_only_blocks_refuse_writes_and_creation(
    disk_node: tuple[NodeProcess, Elasticsearch],
) -> None:
    """The same block code serves ES's cluster-wide blocks (403, listed without an index)."""
    _, es = disk_node
    es.indices.create(index="ro-a", settings={"number_of_replicas": 0})
    es.index(index="ro-a", id="1", document={"n": 1}, refresh=True)
    es.cluster.put_settings(persistent={"cluster.blocks.read_only": True})
    reason = "blocked by: [FORBIDDEN/6/cluster read-only (api)];"
    for call in (
        lambda: es.index(index="ro-a", id="2", document={"n": 2}),
        lambda: es.indices.create(index="ro-b"),
        lambda: es.indices.delete(index="ro-a"),
        lambda: es.indices.put_settings(
            index="ro-a", settings={"index.blocks.read_only_allow_delete": False}
        ),
    ):
        status, body = api_error(call)
        assert (status, body["error"]["type"], body["error"]["reason"]) == (
            403,
            "cluster_block_exception",
            reason,
        )
    assert es.count(index="ro-a")["count"] == 1
    es.cluster.put_settings(persistent={"cluster.blocks.read_only": None})
    es.cluster.put_settings(persistent={"cluster.blocks.read_only_allow_delete": True})
    status, body = api_error(lambda: es.index(index="ro-a", id="2", document={"n": 2}))
    assert (status, body["error"]["reason"]) == (
        403,
        "blocked by: [FORBIDDEN/13/cluster read-only / allow delete (api)];",
    )
    assert es.indices.delete(index="ro-a")["acknowledged"] is True
