"""Cross-cluster search between two real clusters with the official client."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError

from isthmus.testing.process import NodeProcess, start_side_by_side


def transport_address(client: Elasticsearch) -> str:
    (only,) = client.nodes.info()["nodes"].values()
    return str(only["transport_address"])


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    base = tmp_path_factory.mktemp("ccs")
    remote = NodeProcess(base / "remote", {"cluster.name": "remote", "node.name": "remote-node"})
    local = NodeProcess(base / "local", {"cluster.name": "local", "node.name": "local-node"})
    start_side_by_side(remote, local)
    rc, lc = Elasticsearch(remote.url), Elasticsearch(local.url)
    for client, index, offset in ((lc, "logs", 0), (rc, "logs", 100)):
        client.indices.create(
            index=index,
            mappings={"properties": {"n": {"type": "long"}, "tag": {"type": "keyword"}}},
        )
        ops: list[dict[str, Any]] = []
        for i in range(20):
            ops += [
                {"index": {"_index": index, "_id": str(offset + i)}},
                {"n": offset + i, "tag": f"t{i % 3}", "msg": "hello world"},
            ]
        client.bulk(operations=ops, refresh=True)
    lc.cluster.put_settings(persistent={"cluster.remote.my.seeds": [transport_address(rc)]})
    yield local, remote
    local.kill()
    remote.kill()


def test_local_and_remote_hits_merge(clusters: tuple[NodeProcess, NodeProcess]) -> None:
    local, _ = clusters
    lc = Elasticsearch(local.url)
    resp = lc.search(index="logs,my:logs", sort=[{"n": "desc"}], size=5).body
    assert [h["_index"] for h in resp["hits"]["hits"]] == ["my:logs"] * 5
    assert [h["_source"]["n"] for h in resp["hits"]["hits"]] == [119, 118, 117, 116, 115]
    assert resp["hits"]["total"] == {"value": 40, "relation": "eq"}
    assert resp["_shards"] == {"total": 2, "successful": 2, "skipped": 0, "failed": 0}
    clusters_section = resp["_clusters"]
    assert {k: v for k, v in clusters_section.items() if k != "details"} == {
        "total": 2, "successful": 2, "skipped": 0, "running": 0, "partial": 0, "failed": 0,
    }  # fmt: skip
    details = clusters_section["details"]
    assert list(details) == ["(local)", "my"]
    assert details["my"]["status"] == "successful"
    assert details["my"]["indices"] == "logs"
    assert details["my"]["_shards"] == {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    assert list(details["(local)"]) == ["status", "indices", "took", "timed_out", "_shards"]
    ascending = lc.search(index="my:logs,logs", sort=[{"n": "asc"}], from_=18, size=4).body
    assert [h["_source"]["n"] for h in ascending["hits"]["hits"]] == [18, 19, 100, 101]


def test_wildcard_alias_and_remote_only(clusters: tuple[NodeProcess, NodeProcess]) -> None:
    lc = Elasticsearch(clusters[0].url)
    resp = lc.search(index="*:logs", query={"term": {"tag": "t1"}}, size=100).body
    assert {h["_index"] for h in resp["hits"]["hits"]} == {"my:logs"}
    assert resp["hits"]["total"]["value"] == 7
    assert list(resp["_clusters"]["details"]) == ["my"]


def test_expression_errors(clusters: tuple[NodeProcess, NodeProcess]) -> None:
    lc = Elasticsearch(clusters[0].url)
    with pytest.raises(NotFoundError) as missing:
        lc.search(index="nope:logs")
    assert missing.value.body["error"]["type"] == "no_such_remote_cluster_exception"
    assert missing.value.body["error"]["reason"] == "no such remote cluster: [nope]"
    with pytest.raises(BadRequestError) as bad:
        lc.search(index="-my:*,logs")
    assert bad.value.body["error"]["reason"].startswith("Attempt to exclude cluster [my] failed")
    assert lc.search(index="logs,my:logs,-my:*").body["hits"]["total"]["value"] == 20


def test_unavailable_remote(tmp_path: Path) -> None:
    remote = NodeProcess(tmp_path / "r", {"cluster.name": "remote", "node.name": "remote-node"})
    local = NodeProcess(tmp_path / "l", {"cluster.name": "local", "node.name": "local-node"})
    start_side_by_side(remote, local)  # local names no remote at start
    try:
        lc, rc = Elasticsearch(local.url), Elasticsearch(remote.url)
        rc.indices.create(index="logs")
        lc.indices.create(index="logs")
        lc.index(index="logs", id="1", document={"a": 1}, refresh=True)
        lc.cluster.put_settings(persistent={"cluster.remote.my.seeds": [transport_address(rc)]})
        assert lc.search(index="logs,my:logs")["_clusters"]["successful"] == 2
        remote.stop()
        resp = lc.search(index="logs,my:logs").body
        assert resp["hits"]["total"]["value"] == 1
        assert resp["_clusters"]["skipped"] == 1
        skipped = resp["_clusters"]["details"]["my"]
        assert skipped["status"] == "skipped"
        assert skipped["failures"][0]["shard"] == -1
        assert skipped["failures"][0]["index"] is None
        assert skipped["failures"][0]["reason"]["type"] in (
            "connect_transport_exception",
            "node_disconnected_exception",
            "node_not_connected_exception",
        )
        lc.cluster.put_settings(persistent={"cluster.remote.my.skip_unavailable": False})
        with pytest.raises(ApiError) as failed:
            lc.search(index="logs,my:logs")
        assert failed.value.body["error"]["type"] == "connect_transport_exception"
    finally:
        local.kill()
        remote.kill()


def test_shard_by_shard_and_scroll(clusters: tuple[NodeProcess, NodeProcess]) -> None:
    lc = Elasticsearch(clusters[0].url)
    resp = lc.search(
        index="logs,my:logs", sort=[{"n": "desc"}], size=3, ccs_minimize_roundtrips=False
    ).body
    assert [h["_index"] for h in resp["hits"]["hits"]] == ["my:logs"] * 3
    assert resp["_clusters"]["details"]["my"]["_shards"]["total"] == 1
    assert resp["_clusters"]["details"]["(local)"]["_shards"]["total"] == 1
    assert list(resp)[:4] == ["took", "timed_out", "_shards", "_clusters"]
    page = lc.search(index="logs,my:logs", scroll="1m", size=15, sort=[{"n": "asc"}]).body
    seen = [h["_source"]["n"] for h in page["hits"]["hits"]]
    while True:
        page = lc.scroll(scroll_id=page["_scroll_id"], scroll="1m").body
        if not page["hits"]["hits"]:
            break
        seen += [h["_source"]["n"] for h in page["hits"]["hits"]]
    assert seen == list(range(20)) + list(range(100, 120))


def test_msearch_mixes_local_remote_and_errors(clusters: tuple[NodeProcess, NodeProcess]) -> None:
    lc = Elasticsearch(clusters[0].url)
    resp = lc.msearch(
        searches=[
            {"index": "logs"},
            {"query": {"term": {"tag": "t0"}}, "size": 0},
            {"index": "my:logs"},
            {"query": {"match_all": {}}, "size": 1, "sort": [{"n": "desc"}]},
            {"index": "nope:logs"},
            {},
            {"index": "missing-index"},
            {},
        ]
    ).body
    first, second, third, fourth = resp["responses"]
    assert first["status"] == 200 and first["hits"]["total"]["value"] == 7
    assert "_clusters" not in first
    assert second["status"] == 200 and second["hits"]["hits"][0]["_index"] == "my:logs"
    assert second["_clusters"]["total"] == 1
    assert third["status"] == 404
    assert third["error"]["type"] == "no_such_remote_cluster_exception"
    assert fourth["status"] == 404
    assert fourth["error"]["type"] == "index_not_found_exception"


def test_resolve_index_across_clusters(clusters: tuple[NodeProcess, NodeProcess]) -> None:
    lc = Elasticsearch(clusters[0].url)
    resp = lc.indices.resolve_index(name="logs*,my:logs*").body
    assert resp == {
        "indices": [
            {"name": "logs", "attributes": ["open"]},
            {"name": "my:logs", "attributes": ["open"]},
        ],
        "aliases": [],
        "data_streams": [],
    }
    with pytest.raises(NotFoundError):
        lc.indices.resolve_index(name="nope:*")


def test_async_search_shows_progress_then_the_result(tmp_path: Path) -> None:
    import os
    import signal

    remote = NodeProcess(tmp_path / "r", {"cluster.name": "remote", "node.name": "remote-node"})
    local = NodeProcess(tmp_path / "l", {"cluster.name": "local", "node.name": "local-node"})
    start_side_by_side(remote, local)  # local names no remote at start
    try:
        lc, rc = Elasticsearch(local.url), Elasticsearch(remote.url)
        for client in (lc, rc):
            client.index(index="logs", id="1", document={"n": 1}, refresh=True)
        lc.cluster.put_settings(persistent={"cluster.remote.my.seeds": [transport_address(rc)]})
        # Completed within the wait and not kept: no id, the whole answer.
        quick = lc.async_search.submit(index="logs,my:logs", wait_for_completion_timeout="10s").body
        assert "id" not in quick
        assert quick["is_running"] is False and quick["is_partial"] is False
        assert quick["response"]["hits"]["total"]["value"] == 2
        # A remote that is slow to answer: the clusters show it running, then successful.
        assert remote.proc is not None
        os.kill(remote.proc.pid, signal.SIGSTOP)
        try:
            running = lc.async_search.submit(
                index="logs,my:logs", wait_for_completion_timeout="200ms", keep_alive="1m"
            ).body
        finally:
            os.kill(remote.proc.pid, signal.SIGCONT)
        assert running["is_running"] is True and running["is_partial"] is True
        assert running["response"]["_clusters"]["details"]["my"]["status"] == "running"
        assert running["response"]["_clusters"]["running"] >= 1
        search_id = running["id"]
        done = lc.async_search.get(id=search_id, wait_for_completion_timeout="10s").body
        assert done["is_running"] is False and done["is_partial"] is False
        assert done["response"]["_clusters"]["successful"] == 2
        assert done["response"]["hits"]["total"]["value"] == 2
        status = lc.async_search.status(id=search_id).body
        assert status["completion_status"] == 200 and status["is_running"] is False
        assert lc.async_search.delete(id=search_id).body == {"acknowledged": True}
        with pytest.raises(NotFoundError):
            lc.async_search.get(id=search_id)
    finally:
        local.kill()
        remote.kill()


def test_count_across_clusters(clusters: tuple[NodeProcess, NodeProcess]) -> None:
    lc = Elasticsearch(clusters[0].url)
    assert lc.count(index="logs,my:logs").body == {
        "count": 40,
        "_shards": {"total": 2, "successful": 2, "skipped": 0, "failed": 0},
    }
    assert lc.count(index="my:logs", query={"term": {"tag": "t2"}})["count"] == 6
    assert lc.count(index="logs", q="tag:t0")["count"] == 7


def test_field_caps_local_and_remote(clusters: tuple[NodeProcess, NodeProcess]) -> None:
    lc = Elasticsearch(clusters[0].url)
    resp = lc.field_caps(index="logs,my:logs", fields="n,tag,msg*").body
    assert resp["indices"] == ["logs", "my:logs"]
    assert resp["fields"]["n"] == {
        "long": {"type": "long", "metadata_field": False, "searchable": True, "aggregatable": True}
    }
    assert resp["fields"]["tag"]["keyword"]["aggregatable"] is True
    assert resp["fields"]["msg"]["text"] == {
        "type": "text",
        "metadata_field": False,
        "searchable": True,
        "aggregatable": False,
    }
    assert (
        lc.field_caps(index="logs", fields="_id")["fields"]["_id"]["_id"]["metadata_field"] is True
    )


def test_frozen_remote_is_skipped_or_fails_in_seconds(tmp_path: Path) -> None:
    import os
    import signal
    import time

    remote = NodeProcess(tmp_path / "r", {"cluster.name": "remote", "node.name": "remote-node"})
    local = NodeProcess(
        tmp_path / "l",
        {"cluster.name": "local", "node.name": "local-node", "transport.connect_timeout": "3s"},
    )
    start_side_by_side(remote, local)  # local names no remote at start
    assert remote.proc is not None
    try:
        lc, rc = Elasticsearch(local.url, request_timeout=30), Elasticsearch(remote.url)
        for client in (lc, rc):
            client.index(index="logs", id="1", document={"n": 1}, refresh=True)
        lc.cluster.put_settings(persistent={"cluster.remote.my.seeds": [transport_address(rc)]})
        assert lc.search(index="logs,my:logs")["hits"]["total"]["value"] == 2
        os.kill(remote.proc.pid, signal.SIGSTOP)
        try:
            # The search timeout bounds the wait: the remote is reported partial, timed out.
            started = time.monotonic()
            timed = lc.search(index="logs,my:logs", timeout="300ms").body
            assert time.monotonic() - started < 1.5, timed
            assert timed["timed_out"] is True
            assert timed["_clusters"]["details"]["my"]["status"] == "partial"
            assert timed["_clusters"]["details"]["my"]["timed_out"] is True
            assert timed["hits"]["total"]["value"] == 1
            started = time.monotonic()
            skipped = lc.search(index="logs,my:logs").body  # in flight when the remote froze
            took = time.monotonic() - started
            assert skipped["_clusters"]["details"]["my"]["status"] == "skipped"
            assert skipped["hits"]["total"]["value"] == 1
            assert took < 3.5, took  # pings every 1 s, dead after 2 s of silence
            lc.cluster.put_settings(persistent={"cluster.remote.my.skip_unavailable": False})
            # Now the search reconnects and waits (bounded by transport.connect_timeout), then
            # fails as a whole with the connection error.
            started = time.monotonic()
            with pytest.raises(ApiError) as failed:
                lc.search(index="logs,my:logs")
            assert failed.value.body["error"]["type"] == "connect_transport_exception"
            assert time.monotonic() - started < 10
        finally:
            os.kill(remote.proc.pid, signal.SIGCONT)
    finally:
        local.kill()
        remote.kill()


@pytest.mark.filterwarnings("ignore::elasticsearch.exceptions.GeneralAvailabilityWarning")
def test_tasks_list_and_cancel_a_cross_cluster_search(tmp_path: Path) -> None:
    import os
    import signal
    import threading
    import time

    remote = NodeProcess(tmp_path / "r", {"cluster.name": "remote", "node.name": "remote-node"})
    local = NodeProcess(
        tmp_path / "l",
        {
            "cluster.name": "local",
            "node.name": "local-node",
            # long enough that the frozen remote is not declared dead during the test
            "cluster.remote.my.transport.ping_schedule": "30s",
        },
    )
    remote.start()
    rc = Elasticsearch(remote.url)
    rc.index(index="logs", id="1", document={"n": 1}, refresh=True)
    local.settings["cluster.remote.my.seeds"] = [transport_address(rc)]
    local.start()
    assert remote.proc is not None
    try:
        lc = Elasticsearch(local.url, request_timeout=30)
        lc.index(index="logs", id="1", document={"n": 1}, refresh=True)
        assert lc.search(index="logs,my:logs")["hits"]["total"]["value"] == 2
        os.kill(remote.proc.pid, signal.SIGSTOP)
        outcome: dict[str, Any] = {}

        def search() -> None:
            try:
                outcome["body"] = lc.search(index="logs,my:logs").body
            except ApiError as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=search)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            tasks: dict[str, Any] = {}
            while time.monotonic() < deadline and not tasks:
                listed = lc.tasks.list(actions="indices:data/read/search", detailed=True).body
                tasks = next(iter(listed["nodes"].values()), {}).get("tasks", {})
                time.sleep(0.05)
            ((task_id, task),) = tasks.items()
            assert task["action"] == "indices:data/read/search"
            assert task["description"] == "indices[logs,my:logs]"
            assert task["cancellable"] is True
            lc.tasks.cancel(task_id=task_id)
            thread.join(10)
            error = outcome["error"]
            assert error.body["error"]["type"] == "task_cancelled_exception"
        finally:
            os.kill(remote.proc.pid, signal.SIGCONT)
            thread.join(10)
    finally:
        local.kill()
        remote.kill()


def test_typed_keys_for_remote_only_aggregations(clusters: tuple[NodeProcess, NodeProcess]) -> None:
    lc = Elasticsearch(clusters[0].url)
    aggs = {"tags": {"terms": {"field": "tag"}}, "ns": {"terms": {"field": "n", "size": 1}}}
    for expression in ("my:logs", "logs,my:logs"):
        resp = lc.search(index=expression, size=0, aggs=aggs, typed_keys=True).body
        assert set(resp["aggregations"]) == {"sterms#tags", "lterms#ns"}


def test_search_after_pages_across_clusters(clusters: tuple[NodeProcess, NodeProcess]) -> None:
    lc = Elasticsearch(clusters[0].url)
    for minimize in (True, False):
        seen: list[int] = []
        after = None
        while True:
            page = lc.search(
                index="logs,my:logs",
                sort=[{"n": "asc"}],
                size=7,
                search_after=after,
                ccs_minimize_roundtrips=minimize,
            ).body["hits"]["hits"]
            if not page:
                break
            seen += [h["_source"]["n"] for h in page]
            after = page[-1]["sort"]
        assert seen == list(range(20)) + list(range(100, 120)), minimize


def test_shard_failure_inside_a_remote_is_partial(
    clusters: tuple[NodeProcess, NodeProcess],
) -> None:
    lc, rc = Elasticsearch(clusters[0].url), Elasticsearch(clusters[1].url)
    rc.indices.create(index="mixed-a", mappings={"properties": {"v": {"type": "keyword"}}})
    rc.indices.create(index="mixed-b", mappings={"properties": {"v": {"type": "text"}}})
    rc.index(index="mixed-a", id="1", document={"v": "abd"}, refresh=True)
    rc.index(index="mixed-b", id="1", document={"v": "abd"}, refresh=True)
    for minimize in (True, False):
        # Sorting on a text field fails on that index's shard only (no fielddata).
        resp = lc.search(
            index="my:mixed-*", sort=[{"v": "asc"}], ccs_minimize_roundtrips=minimize
        ).body
        details = resp["_clusters"]["details"]["my"]
        assert details["status"] == "partial", (minimize, details)
        assert details["_shards"]["failed"] == 1
        assert resp["_clusters"]["partial"] == 1
        assert resp["_shards"]["failed"] == 1
        assert resp["_shards"]["failures"][0]["index"] == "my:mixed-b"
        assert "my:mixed-b" not in [h["_index"] for h in resp["hits"]["hits"]]


def _raw(url: str, method: str, path: str, body: bytes | None = None) -> bytes:
    req = urllib.request.Request(
        url + path, data=body, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return bytes(resp.read())


def test_source_comes_back_as_indexed_locally_and_across_clusters(
    clusters: tuple[NodeProcess, NodeProcess],
) -> None:
    # As ES does, `_source` is the document's bytes as indexed (not re-encoded: 1.50 stays
    # 1.50, the escape stays an escape), on its own cluster and through the coordinator.
    local, remote = clusters
    doc = b'{"price": 1.50, "name": "caf\\u00e9", "tags": [ "a" ]}'
    for node in (local, remote):
        _raw(node.url, "PUT", "/raw-src/_doc/1?refresh=true", doc)
    for path in ("/raw-src/_search", "/my:raw-src/_search", "/raw-src,my:raw-src/_search"):
        out = _raw(local.url, "POST", path, b'{"query": {"match_all": {}}}')
        assert out.count(b'"_source":' + doc) == path.count("raw-src"), out
        assert Elasticsearch(local.url).search(index=path.split("/")[1]).body["hits"]["hits"][0][
            "_source"
        ] == {"price": 1.5, "name": "café", "tags": ["a"]}
    # Walked responses parse the bytes: pretty printing, filter_path, YAML.
    pretty = _raw(local.url, "POST", "/my:raw-src/_search?pretty", b"{}")
    assert b'"price" : 1.5,' in pretty
    filtered = _raw(
        local.url, "POST", "/my:raw-src/_search?filter_path=hits.hits._source.name", b"{}"
    )
    assert filtered == b'{"hits":{"hits":[{"_source":{"name":"caf\xc3\xa9"}}]}}'
    yaml_out = _raw(local.url, "POST", "/raw-src/_search?format=yaml", b"{}")
    assert b"price: 1.5" in yaml_out
    # Source filtering still parses and filters.
    only = Elasticsearch(local.url).search(index="my:raw-src", source_includes=["name"]).body
    assert only["hits"]["hits"][0]["_source"] == {"name": "café"}


@pytest.mark.parametrize("minimize", [True, False])
def test_search_features_across_clusters(
    clusters: tuple[NodeProcess, NodeProcess], minimize: bool
) -> None:
    # terminate_after, indices_boost naming remote:index, fields and named queries, with the
    # remote answering for itself (the default) and shard by shard.
    lc = Elasticsearch(clusters[0].url)
    query = {"match": {"msg": {"query": "hello", "_name": "greets"}}}
    plain = lc.search(index="logs,my:logs", query=query, ccs_minimize_roundtrips=minimize)
    base = plain["hits"]["max_score"]
    boosted = lc.search(
        index="logs,my:logs",
        query=query,
        indices_boost=[{"my:logs": 2.0}, {"logs": 0.5}],
        fields=["tag"],
        size=40,
        ccs_minimize_roundtrips=minimize,
    )
    hits = boosted["hits"]["hits"]
    by_index = {h["_index"]: h["_score"] for h in hits}
    assert by_index["my:logs"] == pytest.approx(base * 2.0)
    assert by_index["logs"] == pytest.approx(base * 0.5)
    assert [h["_index"] for h in hits[:20]] == ["my:logs"] * 20
    assert all(h["matched_queries"] == ["greets"] for h in hits)
    assert hits[0]["fields"]["tag"][0].startswith("t")
    stopped = lc.search(
        index="logs,my:logs", terminate_after=3, size=0, ccs_minimize_roundtrips=minimize
    )
    assert stopped["terminated_early"] is True
    assert stopped["hits"]["total"]["value"] == 6
    collapsed = lc.search(
        index="logs,my:logs",
        sort=[{"n": "desc"}],
        collapse={"field": "tag"},
        ccs_minimize_roundtrips=minimize,
    )
    assert [
        (h["_index"], h["_source"]["n"], h["fields"]["tag"]) for h in collapsed["hits"]["hits"]
    ] == [
        ("my:logs", 119, ["t1"]),
        ("my:logs", 118, ["t0"]),
        ("my:logs", 117, ["t2"]),
    ]
    assert collapsed["hits"]["total"]["value"] == 40
    # Each cluster suggests from its own terms; the merge adds the frequencies.
    suggested = lc.search(
        index="logs,my:logs",
        size=0,
        typed_keys=True,
        suggest={"s": {"text": "helo", "term": {"field": "msg"}}},
        ccs_minimize_roundtrips=minimize,
    )
    (entry,) = suggested["suggest"]["term#s"]
    assert entry["options"] == [{"text": "hello", "score": 0.75, "freq": 40}]
