"""Index and cluster APIs held to Elasticsearch's documented behaviour (issue 18, item 5).

Each expectation is ES 8/9's observable answer through the official client: the sections and
fields a response carries, HTTP status, error ``type`` and the exact ``reason`` text.
"""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error, unique_index


@pytest.fixture
def idx(request: pytest.FixtureRequest) -> str:
    return unique_index("conf-idx-", request)


# --- _stats ---------------------------------------------------------------------------------------


def test_stats_counts_noop_updates(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"v": 1})
    for _ in range(2):
        assert es.update(index=idx, id="1", doc={"v": 1})["result"] == "noop"
    es.update(index=idx, id="1", doc={"v": 2})  # a real update is no noop
    indexing = es.indices.stats(index=idx)["indices"][idx]["primaries"]["indexing"]
    assert indexing["noop_update_total"] == 2
    assert indexing["index_total"] == 2
    assert es.indices.stats(index=idx)["_all"]["total"]["indexing"]["noop_update_total"] == 2


def test_stats_metric_shows_only_that_section(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"v": 1}, refresh=True)
    docs_only = es.indices.stats(index=idx, metric="docs")
    assert list(docs_only["indices"][idx]["primaries"]) == ["docs"]
    assert docs_only["indices"][idx]["primaries"]["docs"]["count"] == 1
    assert list(docs_only["_all"]["primaries"]) == ["docs"]
    two = es.indices.stats(index=idx, metric="store,indexing")
    assert sorted(two["indices"][idx]["total"]) == ["indexing", "store"]
    everything = es.indices.stats(index=idx, metric="_all")["indices"][idx]["primaries"]
    assert {"docs", "store", "indexing", "shard_stats"} <= set(everything)
    assert everything["shard_stats"] == {"total_count": 1}
    # Without an index too.
    assert list(es.indices.stats(metric="docs")["_all"]["total"]) == ["docs"]


def test_stats_unknown_metric_is_es_400_with_a_suggestion(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    status, body = api_error(lambda: es.indices.stats(index=idx, metric="doc"))
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        f"request [/{idx}/_stats/doc] contains unrecognized metric: [doc] -> did you mean [docs]?"
    )
    status, body = api_error(lambda: es.indices.stats(metric="_all,docs"))
    assert status == 400
    assert body["error"]["reason"] == (
        "request [/_stats/_all,docs] contains _all and individual metrics [_all,docs]"
    )
