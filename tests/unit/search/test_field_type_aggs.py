"""Aggregations over the newer field types, in memory and through the aggregation wire that
carries partial results between clusters: terms on ip, geo_bounds/geo_centroid, nested."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.index.mapping import Mapping
from isthmus.search import aggs_wire
from isthmus.search.aggs import collect_aggs, parse_aggs
from isthmus.search.aggs_core import AggDoc, reduce_results, results_json

MAPPING = Mapping(
    {
        "properties": {
            "ip": {"type": "ip"},
            "loc": {"type": "geo_point"},
            "c": {"type": "nested", "properties": {"n": {"type": "long"}}},
        }
    }
)


def _docs(*sources: dict[str, Any]) -> list[AggDoc]:
    return [AggDoc("i", str(n), 1.0, s) for n, s in enumerate(sources)]


def _run(body: dict[str, Any], *shards: list[AggDoc]) -> dict[str, Any]:
    """Each shard's partial result through the wire, then reduced and rendered."""
    partials = [
        aggs_wire.decode_results(
            aggs_wire.encode_results(collect_aggs(parse_aggs(body), docs, MAPPING, now_ms=0))
        )
        for docs in shards
    ]
    return results_json(reduce_results(partials))


def test_terms_on_ip_keys_travel_as_addresses() -> None:
    out = _run(
        {"t": {"terms": {"field": "ip"}}},
        _docs({"ip": "::ffff:10.0.0.1"}, {"ip": "10.0.0.2"}),
        _docs({"ip": "10.0.0.1"}),
    )
    assert out["t"]["buckets"] == [
        {"key": "10.0.0.1", "doc_count": 2},
        {"key": "10.0.0.2", "doc_count": 1},
    ]


def test_geo_bounds_and_centroid_merge_across_shards() -> None:
    body = {"b": {"geo_bounds": {"field": "loc"}}, "c": {"geo_centroid": {"field": "loc"}}}
    out = _run(body, _docs({"loc": [170, 10]}), _docs({"loc": "20,-170"}))
    bounds = out["b"]["bounds"]
    # The narrower box crosses the date line: west edge 170, east edge -170.
    assert bounds["top_left"]["lon"] == pytest.approx(170, abs=1e-6)
    assert bounds["bottom_right"]["lon"] == pytest.approx(-170, abs=1e-6)
    assert bounds["top_left"]["lat"] == pytest.approx(20, abs=1e-6)
    assert out["c"]["count"] == 2
    assert out["c"]["location"]["lat"] == pytest.approx(15, abs=1e-6)
    no_wrap = _run(
        {"b": {"geo_bounds": {"field": "loc", "wrap_longitude": False}}},
        _docs({"loc": [170, 10]}, {"loc": [-170, 20]}),
    )
    assert no_wrap["b"]["bounds"]["top_left"]["lon"] == pytest.approx(-170, abs=1e-6)


def test_nested_aggregation_counts_objects() -> None:
    body = {"c": {"nested": {"path": "c"}, "aggs": {"s": {"sum": {"field": "c.n"}}}}}
    out = _run(body, _docs({"c": [{"n": 1}, {"n": 2}]}, {"c": {"n": 4}}, {}))
    assert out["c"] == {"doc_count": 3, "s": {"value": 7.0}}


def test_ip_range_through_the_wire() -> None:
    body = {
        "r": {
            "ip_range": {
                "field": "ip",
                "keyed": True,
                "ranges": [{"mask": "10.0.0.0/31"}, {"from": "10.0.0.2", "key": "rest"}],
            }
        }
    }
    body["r"]["ip_range"]["missing"] = "10.0.0.1"
    out = _run(body, _docs({"ip": "10.0.0.1"}, {"ip": "10.0.0.9"}), _docs({"ip": "10.0.0.0"}, {}))
    assert out["r"]["buckets"] == {
        "10.0.0.0/31": {"from": "10.0.0.0", "to": "10.0.0.2", "doc_count": 3},
        "rest": {"from": "10.0.0.2", "doc_count": 1},
    }
