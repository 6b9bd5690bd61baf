"""A point in time across two clusters: ``POST /r:logs,logs/_pit`` opens reader contexts on the
remote cluster too; its id carries both parts; ``search_after`` pages through it give what a
search of the same data gives (and not what was written on the remote since); ``DELETE /_pit``
frees the remote's contexts as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from isthmus.lab.topology import (
    ALIAS,
    ELASTIC_PASSWORD,
    INDEX,
    USER,
    USER_PASSWORD,
    USER_ROLE,
    Lab,
    LabSpec,
)
from isthmus.testing.process import NodeProcess, start_side_by_side

from .support import api_error


@pytest.fixture(scope="module")
def clusters(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Elasticsearch, Elasticsearch]]:
    base = tmp_path_factory.mktemp("pit_ccs")
    remote = NodeProcess(base / "remote", {"cluster.name": "remote", "node.name": "remote-node"})
    local = NodeProcess(base / "local", {"cluster.name": "local", "node.name": "local-node"})
    start_side_by_side(remote, local)
    try:
        rc, lc = Elasticsearch(remote.url), Elasticsearch(local.url)
        for es, shards, offset in ((lc, 2, 0), (rc, 3, 100)):
            es.indices.create(
                index="logs",
                settings={"number_of_shards": shards},
                mappings={"properties": {"n": {"type": "long"}}},
            )
            ops: list[dict[str, Any]] = []
            for i in range(25):  # n repeats within and across clusters: ties to break
                ops += [{"index": {"_index": "logs", "_id": str(offset + i)}}, {"n": i // 4}]
            es.bulk(operations=ops, refresh=True)
        lc.cluster.put_settings(persistent={"cluster.remote.r.seeds": [remote.transport_address()]})
        yield lc, rc
    finally:
        local.kill()
        remote.kill()


def test_remote_pit_pages_as_the_search_of_its_data(
    clusters: tuple[Elasticsearch, Elasticsearch],
) -> None:
    lc, rc = clusters
    # A second alias nothing answers on: skip_unavailable leaves it out of the PIT, as ES does.
    lc.cluster.put_settings(
        persistent={
            "cluster.remote.gone.seeds": ["127.0.0.1:9"],
            "cluster.remote.gone.skip_unavailable": True,
        }
    )
    opened = lc.open_point_in_time(index="r:logs,gone:logs,logs", keep_alive="1m").body
    assert opened["_shards"] == {"total": 5, "successful": 5, "skipped": 0, "failed": 0}
    lc.cluster.put_settings(persistent={"cluster.remote.gone.skip_unavailable": False})
    status, body = api_error(lambda: lc.open_point_in_time(index="gone:logs", keep_alive="1m"))
    assert (status, body["error"]["type"]) == (500, "connect_transport_exception")  # as _search
    lc.cluster.put_settings(
        persistent={"cluster.remote.gone.seeds": None, "cluster.remote.gone.skip_unavailable": None}
    )
    expected = lc.search(index="logs,r:logs", sort=[{"n": "asc"}], size=100).body["hits"]["hits"]
    # Written on the remote after the PIT opened: invisible through it.
    rc.index(index="logs", id="late", document={"n": 0})
    rc.delete(index="logs", id="100", refresh=True)
    pit = opened["id"]
    seen: list[dict[str, Any]] = []
    after: list[Any] | None = None
    while True:
        extra: dict[str, Any] = {"search_after": after} if after is not None else {}
        page = lc.search(pit={"id": pit, "keep_alive": "1m"}, sort=[{"n": "asc"}], size=7, **extra)
        assert page.body["pit_id"] == pit
        hits = page.body["hits"]["hits"]
        if not hits:
            break
        assert all(len(h["sort"]) == 2 for h in hits)  # n, then the _shard_doc tiebreaker
        seen += hits
        after = hits[-1]["sort"]
    assert len(seen) == len(expected) == 50
    assert [h["sort"][0] for h in seen] == [h["sort"][0] for h in expected]
    key = [(h["_index"], h["_id"], h["_source"]["n"]) for h in seen]
    assert sorted(key) == sorted((h["_index"], h["_id"], h["_source"]["n"]) for h in expected)
    assert ("r:logs", "100", 0) in key and all(i != "late" for _, i, _ in key)
    # One search over both parts: totals add, _clusters names both.
    out = lc.search(pit={"id": pit}, size=0).body
    assert out["hits"]["total"]["value"] == 50
    assert out["_shards"]["total"] == 5
    assert out["_clusters"]["total"] == 2 and out["_clusters"]["successful"] == 2
    assert lc.close_point_in_time(id=pit).body == {"succeeded": True, "num_freed": 5}
    status, body = api_error(lambda: lc.search(pit={"id": pit}))
    assert status == 404
    assert body["error"]["root_cause"][0]["type"] == "search_context_missing_exception"


def test_remote_pit_runs_as_the_caller_under_the_remote_authorization(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    """The API-key model: the remote opens and searches its part as the key and the user allow
    (the key hides ``secret`` and keeps info-level documents), and refuses an index the key does
    not cover with its 403."""
    key_access = {
        "search": [
            {
                "names": [INDEX],
                "query": {"term": {"level": "info"}},
                "field_security": {"grant": ["*"], "except": ["secret"]},
            }
        ]
    }
    with Lab(tmp_path, LabSpec(key_access=key_access)) as lab:
        lab.start()
        assert lab.key is not None
        record_secret(str(lab.key["encoded"]))
        assert lab.wait_connected()["connected"] and lab.local is not None
        es = Elasticsearch(lab.local.url, basic_auth=(USER, USER_PASSWORD), request_timeout=30)
        opened = es.open_point_in_time(index=f"{ALIAS}:{INDEX}", keep_alive="1m").body
        out = es.search(pit={"id": opened["id"]}, sort=["_doc"], size=10).body
        assert sorted(h["_id"] for h in out["hits"]["hits"]) == ["1", "2"]
        assert all(h["_index"] == f"{ALIAS}:{INDEX}" for h in out["hits"]["hits"])
        assert all("secret" not in h["_source"] for h in out["hits"]["hits"])
        assert es.close_point_in_time(id=opened["id"]).body["succeeded"] is True
        status, body = api_error(
            lambda: es.open_point_in_time(index=f"{ALIAS}:private", keep_alive="1m")
        )
        assert status == 403
        assert body["error"]["type"] == "security_exception"


def test_remote_pit_in_the_certificate_model(tmp_path: Path) -> None:
    """The certificate model: the caller's identity travels, the remote authorizes it with its
    own role of the same name (read on logs, ``secret`` hidden) and refuses other indices."""
    spec = LabSpec(credential=None, target="transport", transport_trusts_remote_transport_ca=True)
    with Lab(tmp_path, spec) as lab:
        lab.start()
        assert lab.wait_connected()["connected"]
        assert lab.local is not None and lab.remote is not None
        remote = Elasticsearch(lab.remote.url, basic_auth=("elastic", ELASTIC_PASSWORD))
        remote.security.put_role(
            name=USER_ROLE,
            indices=[
                {
                    "names": [INDEX],
                    "privileges": ["read"],
                    "field_security": {"grant": ["*"], "except": ["secret"]},
                }
            ],
        )
        remote.indices.create(index="private")
        es = Elasticsearch(lab.local.url, basic_auth=(USER, USER_PASSWORD), request_timeout=30)
        opened = es.open_point_in_time(index=f"{ALIAS}:{INDEX}", keep_alive="1m").body
        hits = es.search(pit={"id": opened["id"]}, size=10).body["hits"]["hits"]
        assert sorted(h["_id"] for h in hits) == ["1", "2", "3"]
        assert all("secret" not in h["_source"] and "message" in h["_source"] for h in hits)
        assert es.close_point_in_time(id=opened["id"]).body["succeeded"] is True
        status, body = api_error(
            lambda: es.open_point_in_time(index=f"{ALIAS}:private", keep_alive="1m")
        )
        assert (status, body["error"]["type"]) == (403, "security_exception")
