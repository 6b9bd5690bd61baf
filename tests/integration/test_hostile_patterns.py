"""Issue 14, finding 3: hostile patterns and very large aggregations, on real nodes.

A catastrophic regular expression (``(a+)+b`` against 27+ characters) used to run on Python's
backtracking ``re`` in the node process and freeze it — across clusters it killed the link. A
request with 20,000 ``filters`` held the event loop for 13.8 s. These tests send the same
requests through the official client, locally and across clusters, and check that they answer
in milliseconds (or with ES's limit errors) while health checks and other users' searches go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from elasticsearch import BadRequestError, Elasticsearch

from isthmus.testing.process import NodeProcess, start_side_by_side

HOSTILE_REGEXP = "(a+)+b"
HOSTILE_WILDCARD = "*a" * 24 + "*b"
VALUES = ["a" * 40 + str(i) for i in range(30)]  # every value: 41-42 characters of 'a' then digits
MANY_DOCS = 400


def transport_address(client: Elasticsearch) -> str:
    (only,) = client.nodes.info()["nodes"].values()
    return str(only["transport_address"])


def _fill(client: Elasticsearch, index: str, values: list[str], **settings: Any) -> None:
    client.indices.create(
        index=index,
        settings=settings or None,
        mappings={"properties": {"k": {"type": "keyword"}, "n": {"type": "long"}}},
    )
    ops: list[dict[str, Any]] = []
    for i, value in enumerate(values):
        ops += [{"index": {"_index": index, "_id": str(i)}}, {"k": value, "n": i}]
    client.bulk(operations=ops, refresh=True)


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    base = tmp_path_factory.mktemp("hostile")
    remote = NodeProcess(base / "remote", {"cluster.name": "remote", "node.name": "remote-node"})
    local = NodeProcess(base / "local", {"cluster.name": "local", "node.name": "local-node"})
    start_side_by_side(remote, local)
    rc, lc = Elasticsearch(remote.url), Elasticsearch(local.url)
    _fill(lc, "words", VALUES)
    _fill(rc, "words", VALUES)
    _fill(lc, "many", [f"v{i}" for i in range(MANY_DOCS)])
    lc.cluster.put_settings(persistent={"cluster.remote.far.seeds": [transport_address(rc)]})
    deadline = time.monotonic() + 10
    while not lc.cluster.remote_info().body.get("far", {}).get("connected"):
        assert time.monotonic() < deadline, "remote never connected"
        time.sleep(0.1)
    yield local, remote
    local.kill()
    remote.kill()


@pytest.fixture(scope="module")
def es(clusters: tuple[NodeProcess, NodeProcess]) -> Elasticsearch:
    return Elasticsearch(clusters[0].url, request_timeout=60)


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


class HealthProbe:
    """Polls ``GET /_cluster/health`` from its own thread and records each latency."""

    def __init__(self, url: str) -> None:
        self.client = Elasticsearch(url, request_timeout=60)
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            took, _ = timed(self.client.cluster.health)
            self.latencies.append(took)
            time.sleep(0.02)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        self.client.close()


# --- patterns -----------------------------------------------------------------------------------


@pytest.mark.parametrize("index", ["words", "far:words"])
def test_hostile_regexp_query(es: Elasticsearch, index: str) -> None:
    took, resp = timed(lambda: es.search(index=index, query={"regexp": {"k": HOSTILE_REGEXP}}))
    assert resp["hits"]["total"]["value"] == 0
    assert took < 1.0
    matching = es.search(index=index, query={"regexp": {"k": "(a+)+[0-9]+"}}, size=0)
    assert matching["hits"]["total"]["value"] == len(VALUES)
    took, resp = timed(lambda: es.search(index=index, query={"wildcard": {"k": HOSTILE_WILDCARD}}))
    assert resp["hits"]["total"]["value"] == 0
    assert took < 1.0


@pytest.mark.parametrize("index", ["words", "far:words"])
def test_hostile_terms_include_exclude(es: Elasticsearch, index: str) -> None:
    def terms(**filters: str) -> dict[str, Any]:
        aggs = {"t": {"terms": {"field": "k", "size": 100, **filters}}}
        return dict(es.search(index=index, size=0, aggs=aggs)["aggregations"]["t"])

    took, included = timed(lambda: terms(include=HOSTILE_REGEXP))
    assert included["buckets"] == []
    assert took < 1.0
    took, excluded = timed(lambda: terms(exclude=HOSTILE_REGEXP))
    assert len(excluded["buckets"]) == len(VALUES)
    assert took < 1.0


@pytest.mark.parametrize("index", ["words", "far:words"])
def test_hostile_filter_and_filters_aggs(es: Elasticsearch, index: str) -> None:
    aggs = {
        "one": {"filter": {"regexp": {"k": HOSTILE_REGEXP}}},
        "many": {
            "filters": {
                "filters": {
                    "re": {"regexp": {"k": HOSTILE_REGEXP}},
                    "wild": {"wildcard": {"k": HOSTILE_WILDCARD}},
                    "ok": {"regexp": {"k": "a+[0-9]"}},
                }
            }
        },
    }
    took, resp = timed(lambda: es.search(index=index, size=0, aggs=aggs))
    assert took < 1.0
    out = resp["aggregations"]
    assert out["one"]["doc_count"] == 0
    assert {k: b["doc_count"] for k, b in out["many"]["buckets"].items()} == {
        "ok": 10,
        "re": 0,
        "wild": 0,
    }


def test_regexp_limits_answer_es_errors(es: Elasticsearch) -> None:
    _fill(es, "short-regex", ["abc"], **{"index.max_regex_length": 5})
    with pytest.raises(BadRequestError) as too_long:
        es.search(index="short-regex", query={"regexp": {"k": "a.c.e."}})
    body = too_long.value.body["error"]
    assert body["type"] == "search_phase_execution_exception"
    message = (
        "The length of regex [6] used in the Regexp Query request has exceeded the allowed "
        "maximum of [5]. This maximum can be set by changing the [index.max_regex_length] index "
        "level setting."
    )
    assert body["root_cause"][0]["type"] == "query_shard_exception"
    assert body["root_cause"][0]["reason"] == f"failed to create query: {message}"
    assert body["caused_by"]["caused_by"] == {
        "type": "illegal_argument_exception",
        "reason": message,
    }
    assert es.search(index="short-regex", query={"regexp": {"k": "a.c"}})["hits"]["total"]["value"]
    # The default limit of 1000 applies to an index that does not set one.
    with pytest.raises(BadRequestError):
        es.search(index="words", query={"regexp": {"k": "a" * 1001}})
    # A regexp inside a filter aggregation is held to the same limit.
    with pytest.raises(BadRequestError):
        es.search(index="short-regex", size=0, aggs={"f": {"filter": {"regexp": {"k": "abcdef"}}}})

    with pytest.raises(BadRequestError) as complex_:
        es.search(index="words", query={"regexp": {"k": "[ac]*a[ac]{50,200}"}})
    root = complex_.value.body["error"]["root_cause"][0]
    assert root["type"] == "query_shard_exception"
    assert root["reason"].startswith("failed to create query: Determinizing automaton with ")
    assert root["reason"].endswith(" would require more than 10000 effort.")
    # Across clusters the remote refuses it the same way (and, skip_unavailable, is skipped).
    resp = es.search(index="far:words", query={"regexp": {"k": "[ac]*a[ac]{50,200}"}})
    (failure,) = resp["_clusters"]["details"]["far"]["failures"]
    assert failure["reason"]["caused_by"]["caused_by"] == {
        "type": "too_complex_to_determinize_exception",
        "reason": root["reason"].removeprefix("failed to create query: "),
    }
    # max_determinized_states per query: lower refuses, default accepts.
    small = {"regexp": {"k": {"value": "[ac]*a[ac]{6}", "max_determinized_states": 20}}}
    with pytest.raises(BadRequestError):
        es.search(index="words", query=small)
    es.search(index="words", query={"regexp": {"k": "[ac]*a[ac]{6}"}})


def test_search_max_buckets(es: Elasticsearch) -> None:
    with pytest.raises(BadRequestError) as negative:
        es.cluster.put_settings(persistent={"search.max_buckets": -1})
    assert negative.value.body["error"]["reason"] == (
        "Failed to parse value [-1] for setting [search.max_buckets] must be >= 0"
    )
    es.cluster.put_settings(persistent={"search.max_buckets": 50})
    try:
        filters = {f"f{i}": {"term": {"k": f"v{i}"}} for i in range(51)}
        with pytest.raises(BadRequestError) as too_many:
            es.search(index="many", size=0, aggs={"x": {"filters": {"filters": filters}}})
        error = too_many.value.body["error"]
        cause = error["root_cause"][0]
        assert cause["type"] == "too_many_buckets_exception"
        assert cause["reason"] == (
            "Trying to create too many buckets. Must be less than or equal to: [50] but this "
            "number of buckets was exceeded. This limit can be set by changing the "
            "[search.max_buckets] cluster level setting."
        )
        assert cause["max_buckets"] == 50
        assert too_many.value.status_code == 400
        # Buckets of sub-aggregations count too: 10 terms x 6 filters = 60.
        nested = {
            "t": {
                "terms": {"field": "k", "size": 10},
                "aggs": {"f": {"filters": {"filters": [{"match_all": {}}] * 5}}},
            }
        }
        with pytest.raises(BadRequestError):
            es.search(index="many", size=0, aggs=nested)
        for bucketing in (
            {"terms": {"field": "k", "size": 60}},
            {"histogram": {"field": "n", "interval": 1}},
        ):
            with pytest.raises(BadRequestError) as other:
                es.search(index="many", size=0, aggs={"b": bucketing})
            assert (
                other.value.body["error"]["root_cause"][0]["type"] == "too_many_buckets_exception"
            )
        ok = {"x": {"filters": {"filters": dict(list(filters.items())[:50])}}}
        assert len(es.search(index="many", size=0, aggs=ok)["aggregations"]["x"]["buckets"]) == 50
    finally:
        es.cluster.put_settings(persistent={"search.max_buckets": None})


# --- the event loop stays free ------------------------------------------------------------------


def test_20000_filters_leave_health_responsive(
    es: Elasticsearch, clusters: tuple[NodeProcess, NodeProcess]
) -> None:
    # 20,000 filters over 400 documents: 8,000,000 tests, seconds of CPU. Before the fix they
    # ran on the event loop and every health check waited for all of it (13.8 s measured).
    filters = {f"f{i:05}": {"term": {"k": f"v{i}"}} for i in range(20_000)}
    with HealthProbe(clusters[0].url) as probe:
        took, resp = timed(
            lambda: es.search(index="many", size=0, aggs={"x": {"filters": {"filters": filters}}})
        )
    buckets = resp["aggregations"]["x"]["buckets"]
    assert len(buckets) == 20_000
    assert sum(b["doc_count"] for b in buckets.values()) == MANY_DOCS
    assert len(probe.latencies) >= 3
    assert max(probe.latencies) < 1.0, (took, max(probe.latencies))


def test_cross_cluster_hostile_search_keeps_the_link_and_other_users(
    es: Elasticsearch, clusters: tuple[NodeProcess, NodeProcess]
) -> None:
    """A CCS with catastrophic patterns for every kind of use, sent while another user keeps
    searching the remote: the link stays up and the other user's searches keep answering."""
    other = Elasticsearch(clusters[0].url, request_timeout=60)
    other_latencies: list[float] = []
    stop = threading.Event()

    def other_user() -> None:
        while not stop.is_set():
            took, resp = timed(lambda: other.search(index="far:words", size=1))
            assert resp["hits"]["total"]["value"] == len(VALUES)
            other_latencies.append(took)

    hostile = {
        "query": {"bool": {"should": [{"regexp": {"k": HOSTILE_REGEXP}}, {"match_all": {}}]}},
        "aggs": {
            "t": {"terms": {"field": "k", "include": HOSTILE_REGEXP, "exclude": "(a|a)*b"}},
            "f": {"filters": {"filters": [{"wildcard": {"k": HOSTILE_WILDCARD}}] * 50}},
        },
    }
    thread = threading.Thread(target=other_user, daemon=True)
    with HealthProbe(clusters[0].url) as probe:
        thread.start()
        for minimize in ("true", "false"):
            took, resp = timed(
                lambda m=minimize: es.search(  # type: ignore[misc]
                    index="far:words,words", size=0, ccs_minimize_roundtrips=m, **hostile
                )
            )
            assert took < 2.0
            assert resp["_clusters"]["successful"] == 2
            assert resp["aggregations"]["t"]["buckets"] == []
        stop.set()
        thread.join(timeout=60)
    other.close()
    assert other_latencies and max(other_latencies) < 2.0
    assert max(probe.latencies) < 1.0
    info = es.cluster.remote_info()["far"]
    assert info["connected"] is True
    assert es.search(index="far:words", size=0)["hits"]["total"]["value"] == len(VALUES)
