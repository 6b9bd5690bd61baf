"""Large requests must not hold the event loop: health checks (and pings) keep their turns.

Review findings after issue 14's first pass: a read-only user's ``_bulk`` of hundreds of
thousands of refused lines, a ``bool`` of 200,000 clauses and a megabyte-long ``_source``
pattern each held the loop for seconds (36 s, 8.6 s and 17 s measured at their full sizes).
Each test polls ``GET /_cluster/health`` from another thread while the request runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.process import NodeProcess
from tests.integration.support import elastic_password
from tests.integration.test_hostile_patterns import HealthProbe, timed

PASSWORD = "fair-password-1"


def probe(url: str) -> HealthProbe:
    """Health polled as the read-only user (the node has no anonymous access)."""
    out = HealthProbe(url)
    out.client.close()
    out.client = Elasticsearch(url, basic_auth=("ro", PASSWORD), request_timeout=60)
    return out


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[tuple[NodeProcess, Elasticsearch, Elasticsearch]]:
    proc = NodeProcess(
        tmp_path_factory.mktemp("fairness"),
        {"xpack.security.enabled": True, "xpack.security.authc.anonymous.roles": []},
    )
    proc.start()
    password = elastic_password(proc.home)
    record_secret(password)
    record_secret(PASSWORD)
    admin = Elasticsearch(proc.url, basic_auth=("elastic", password), request_timeout=120)
    admin.index(index="data", id="1", document={"k": "v1", "text": "hello"}, refresh=True)
    admin.security.put_role(
        name="ro", cluster=["monitor"], indices=[{"names": ["data"], "privileges": ["read"]}]
    )
    admin.security.put_user(username="ro", password=PASSWORD, roles=["ro"])
    reader = Elasticsearch(proc.url, basic_auth=("ro", PASSWORD), request_timeout=120)
    yield proc, admin, reader
    reader.close()
    admin.close()
    proc.stop()


def test_a_huge_refused_bulk_leaves_health_responsive(
    node: tuple[NodeProcess, Elasticsearch, Elasticsearch],
) -> None:
    proc, admin, reader = node
    line = orjson.dumps({"delete": {"_index": "data", "_id": "1"}}) + b"\n"
    body = line * 300_000  # 11 MB, every item refused (the user may only read)
    with probe(proc.url) as health:
        took, resp = timed(lambda: reader.bulk(operations=body))
    assert resp["errors"] is True and len(resp["items"]) == 300_000
    assert {i["delete"]["status"] for i in resp["items"]} == {403}
    assert admin.count(index="data")["count"] == 1
    assert len(health.latencies) >= 3
    assert max(health.latencies) < 1.0, (took, max(health.latencies))


def test_a_query_of_200000_clauses_leaves_health_responsive(
    node: tuple[NodeProcess, Elasticsearch, Elasticsearch],
) -> None:
    proc, _, reader = node
    should = [{"term": {"k": f"v{i}"}} for i in range(200_000)]
    with probe(proc.url) as health:
        took, resp = timed(lambda: reader.search(index="data", query={"bool": {"should": should}}))
    assert resp["hits"]["total"]["value"] == 1
    assert len(health.latencies) >= 3
    assert max(health.latencies) < 1.0, (took, max(health.latencies))


def test_a_megabyte_source_pattern_is_cheap(
    node: tuple[NodeProcess, Elasticsearch, Elasticsearch],
) -> None:
    proc, _, reader = node
    pattern = "t*" + "x" * 1_000_000 + "*"
    with probe(proc.url) as health:
        for _ in range(5):
            took, resp = timed(
                lambda: reader.search(index="data", source_includes=None, source=[pattern, "k"])
            )
            assert resp["hits"]["hits"][0]["_source"] == {"k": "v1"}
    assert max(health.latencies) < 1.0, (took, max(health.latencies))
