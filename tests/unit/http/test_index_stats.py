"""``_stats`` metric parsing and section sums (ES's RestIndicesStatsAction rules)."""

from __future__ import annotations

import pytest

from isthmus.errors import IllegalArgumentError
from isthmus.http.handlers.index_stats import METRICS, ShardNumbers, parse_metrics, sections


def test_all_or_nothing_means_every_metric() -> None:
    assert parse_metrics("/_stats", None) == frozenset(METRICS)
    assert parse_metrics("/_stats/_all", "_all") == frozenset(METRICS)
    assert parse_metrics("/_stats/docs,store", "docs,store") == {"docs", "store"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("doc", "request [/p] contains unrecognized metric: [doc] -> did you mean [docs]?"),
        ("zzz", "request [/p] contains unrecognized metric: [zzz]"),
        (
            "zzz,storee",
            "request [/p] contains unrecognized metrics: [storee] -> did you mean [store]?, [zzz]",
        ),
        ("_all,docs", "request [/p] contains _all and individual metrics [_all,docs]"),
    ],
)
def test_bad_metrics_are_es_messages(raw: str, reason: str) -> None:
    with pytest.raises(IllegalArgumentError) as info:
        parse_metrics("/p", raw)
    assert info.value.reason == reason


def test_sections_sum_shards_and_keep_only_the_asked_metrics() -> None:
    shards = [ShardNumbers(3, 1, 100, 5, 2), ShardNumbers(1, 0, 50, 1, 0)]
    out = sections(shards, frozenset({"indexing", "docs", "search"}))
    assert out == {
        "docs": {"count": 4, "deleted": 1},
        "indexing": {"index_total": 6, "noop_update_total": 2},
    }
    assert list(sections(shards, frozenset(METRICS))) == [
        "docs",
        "shard_stats",
        "store",
        "indexing",
    ]
