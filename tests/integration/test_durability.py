"""Acknowledged writes survive ``kill -9``: same ``_seq_no``/``_version``, searchable after."""

from __future__ import annotations

import threading
from pathlib import Path

from elasticsearch import Elasticsearch

from isthmus.testing.process import NodeProcess


def _bulk_body(start: int, count: int) -> list[dict[str, object]]:
    ops: list[dict[str, object]] = []
    for i in range(start, start + count):
        ops.append({"index": {"_index": "durable", "_id": str(i)}})
        ops.append({"title": f"document number {i}", "n": i})
    return ops


def test_acknowledged_bulk_survives_sigkill(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "n")
    node.start()
    acked: dict[str, tuple[int, int]] = {}
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        client = Elasticsearch(node.url, request_timeout=10, max_retries=0)
        start = 0
        try:
            while not stop.is_set():
                resp = client.bulk(operations=_bulk_body(start, 200))
                for item in resp["items"]:
                    res = item["index"]
                    if res["status"] in (200, 201):
                        acked[res["_id"]] = (res["_seq_no"], res["_version"])
                start += 200
        except Exception as exc:  # the kill cuts a request short: expected
            errors.append(exc)

    es = Elasticsearch(node.url, request_timeout=10)
    es.indices.create(index="durable", settings={"refresh_interval": "30s"})
    # Updates first, so versions above 1 are checked too.
    for i in range(20):
        es.index(index="durable", id=str(i), document={"title": "first", "n": -1})
    t = threading.Thread(target=writer)
    t.start()
    while len(acked) < 2000 and t.is_alive():
        threading.Event().wait(0.05)
    node.kill()
    stop.set()
    t.join(10)
    assert len(acked) >= 2000

    node.start()
    es = Elasticsearch(node.url, request_timeout=30)
    missing = []
    for doc_id, (seq_no, version) in acked.items():
        got = es.get(index="durable", id=doc_id)
        if got["_seq_no"] != seq_no or got["_version"] != version:
            missing.append((doc_id, seq_no, version, got["_seq_no"], got["_version"]))
    assert not missing[:5]
    es.indices.refresh(index="durable")
    count = es.count(index="durable")["count"]
    assert count >= len(acked)
    hit = es.search(index="durable", query={"term": {"n": 1500}})["hits"]["hits"]
    assert [h["_id"] for h in hit] == ["1500"]
    node.stop()


def test_clean_shutdown_keeps_unrefreshed_writes(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "n")
    node.start()
    es = Elasticsearch(node.url)
    es.indices.create(index="calm", settings={"refresh_interval": "-1"})
    es.index(index="calm", id="a", document={"msg": "still here after restart"})
    assert node.stop() == 0
    assert "closed" in node.log_text()
    node.start()
    es = Elasticsearch(node.url)
    found = es.search(index="calm", query={"match": {"msg": "restart"}})["hits"]["hits"]
    assert [h["_id"] for h in found] == ["a"]
    node.stop()


def test_second_node_on_same_data_path_refuses_to_start(tmp_path: Path) -> None:
    first = NodeProcess(tmp_path / "n")
    first.start()
    second = NodeProcess(tmp_path / "n")
    try:
        try:
            second.start(timeout=10)
        except RuntimeError as exc:
            assert "failed to obtain node locks" in str(exc)
        else:
            raise AssertionError("second node started on a locked data path")
    finally:
        first.stop()
