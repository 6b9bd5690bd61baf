from __future__ import annotations

from isthmus.index.mapping import Mapping
from isthmus.search.aggs import AggDoc, parse_aggs, run_aggs
from isthmus.search.aggs_typed import apply_typed_keys

MAPPING = Mapping(
    {
        "properties": {
            "tag": {"type": "keyword"},
            "n": {"type": "long"},
            "price": {"type": "double"},
        }
    }
)
DOCS = [
    AggDoc("i", str(k), None, {"tag": t, "n": n, "price": p})
    for k, (t, n, p) in enumerate([("a", 1, 1.5), ("a", 2, 2.5), ("b", 2, 3.0)])
]


def test_names_are_typed_by_result_kind_at_every_level() -> None:
    spec = parse_aggs(
        {
            "by_tag": {"terms": {"field": "tag"}, "aggs": {"avg_p": {"avg": {"field": "price"}}}},
            "by_n": {"terms": {"field": "n"}},
            "by_price": {"terms": {"field": "price"}},
            "pct": {"percentiles": {"field": "price"}},
            "only_a": {
                "filter": {"term": {"tag": "a"}},
                "aggs": {"mx": {"max": {"field": "n"}}},
            },
        }
    )
    out = apply_typed_keys(run_aggs(spec, DOCS, MAPPING, now_ms=0), spec, MAPPING)
    assert list(out) == [
        "sterms#by_tag",
        "lterms#by_n",
        "dterms#by_price",
        "tdigest_percentiles#pct",
        "filter#only_a",
    ]
    assert out["sterms#by_tag"]["buckets"][0]["avg#avg_p"] == {"value": 2.0}
    assert out["filter#only_a"]["max#mx"] == {"value": 2.0}
    assert out["filter#only_a"]["doc_count"] == 2
