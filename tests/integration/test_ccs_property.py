"""Correctness by construction: a document set split across a local and two remote clusters,
searched with CCS, gives what one local search over the union gives (hits, totals,
aggregations), with ``_index`` prefixes as the only difference."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.testing.process import NodeProcess, start_side_by_side

MAPPING = {
    "properties": {
        "n": {"type": "long"},
        "seq": {"type": "long"},
        "x": {"type": "double"},
        "tag": {"type": "keyword"},
        "msg": {"type": "text"},
    }
}
WORDS = ["alpha", "beta", "gamma", "delta"]
_counter = itertools.count()


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Elasticsearch]]:
    base: Path = tmp_path_factory.mktemp("ccs-prop")
    nodes = [
        NodeProcess(base / name, {"cluster.name": name, "node.name": f"{name}-node"})
        for name in ("local", "r1", "r2")
    ]
    start_side_by_side(*nodes)
    clients = [Elasticsearch(n.url, request_timeout=30) for n in nodes]
    seeds = {}
    for alias, client in zip(("r1", "r2"), clients[1:], strict=True):
        (only,) = client.nodes.info()["nodes"].values()
        seeds[f"cluster.remote.{alias}.seeds"] = [only["transport_address"]]
    clients[0].cluster.put_settings(persistent=seeds)
    yield clients
    for node in nodes:
        node.kill()


docs_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "n": st.integers(-50, 50),
            "x": st.floats(-10, 10, allow_nan=False).map(lambda f: round(f, 3)),
            "tag": st.sampled_from(["a", "b", "c", "d", "e"]),
            "msg": st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
        }
    ),
    min_size=0,
    max_size=30,
)

AGGS = {
    "tags": {"terms": {"field": "tag", "size": 3}, "aggs": {"avg_x": {"avg": {"field": "x"}}}},
    "stats_n": {"stats": {"field": "n"}},
    "hist": {"histogram": {"field": "n", "interval": 20}},
    "card": {"cardinality": {"field": "tag"}},
    "mx": {"max": {"field": "x"}},
}


def approx_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: approx_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [approx_tree(v) for v in value]
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-12, abs=1e-12)
    return value


def strip_prefix(hit: dict[str, Any]) -> dict[str, Any]:
    out = dict(hit)
    out["_index"] = "u"
    return out


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(docs=docs_strategy, split=st.lists(st.integers(0, 2), min_size=30, max_size=30))
def test_ccs_equals_local_union(
    three: list[Elasticsearch], docs: list[dict[str, Any]], split: list[int]
) -> None:
    local, r1, r2 = three
    run = next(_counter)
    part_index = f"part-{run}"
    union_index = f"union-{run}"
    for client in three:
        client.indices.create(index=part_index, mappings=MAPPING)
    local.indices.create(index=union_index, mappings=MAPPING)
    ops: list[list[dict[str, Any]]] = [[], [], []]
    union_ops: list[dict[str, Any]] = []
    for i, doc in enumerate(docs):
        doc = {**doc, "seq": i}  # a unique last sort key: the order is fully determined
        target = split[i]
        ops[target] += [{"index": {"_index": part_index, "_id": str(i)}}, doc]
        union_ops += [{"index": {"_index": union_index, "_id": str(i)}}, doc]
    for client, batch in zip(three, ops, strict=True):
        if batch:
            client.bulk(operations=batch, refresh=True)
    if union_ops:
        local.bulk(operations=union_ops, refresh=True)
    expression = f"{part_index},r1:{part_index},r2:{part_index}"
    for kwargs in (
        {"sort": [{"n": "asc"}, {"x": "desc"}, {"seq": "asc"}], "size": 7, "from_": 3},
        {"query": {"match": {"msg": "alpha"}}, "sort": [{"x": "asc"}, {"seq": "desc"}], "size": 50},
        {"size": 0, "aggs": AGGS},
        {
            "query": {"range": {"n": {"gte": 0}}},
            "size": 5,
            "sort": [{"n": "desc"}, {"seq": "asc"}],
            "aggs": AGGS,
        },
    ):
        one = local.search(index=union_index, **kwargs).body
        for minimize in (True, False):
            ccs = local.search(index=expression, ccs_minimize_roundtrips=minimize, **kwargs).body
            check(ccs, one, kwargs)
    local.indices.delete(index=[part_index, union_index])
    r1.indices.delete(index=part_index)
    r2.indices.delete(index=part_index)


def check(ccs: dict[str, Any], one: dict[str, Any], kwargs: dict[str, Any]) -> None:
    assert ccs["hits"]["total"] == one["hits"]["total"]
    if "sort" in kwargs:
        assert [strip_prefix(h) for h in ccs["hits"]["hits"]] == [
            strip_prefix(h) for h in one["hits"]["hits"]
        ]
    # Sums of doubles may differ in the last bit with the order of addition (as in ES).
    assert ccs.get("aggregations") == approx_tree(one.get("aggregations"))
    assert ccs["_clusters"]["successful"] == 3
