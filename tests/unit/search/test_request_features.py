"""Parsing of the search features of issue 18 item 3 (values in, typed request or ES error out)."""

from __future__ import annotations

import pytest

from isthmus.errors import IllegalArgumentError
from isthmus.search.request import parse_search


def test_terminate_after_from_body_or_url_and_zero_means_none() -> None:
    assert parse_search({"terminate_after": 5}, {}).terminate_after == 5
    assert parse_search({"terminate_after": 5}, {"terminate_after": "2"}).terminate_after == 2
    assert parse_search({"terminate_after": 0}, {}).terminate_after is None
    with pytest.raises(IllegalArgumentError, match=r"^terminateAfter must be > 0$"):
        parse_search({"terminate_after": -3}, {})


def test_rest_total_hits_as_int_counts_exactly_unless_told_otherwise() -> None:
    assert parse_search({}, {"rest_total_hits_as_int": "true"}).track_total_hits is True
    assert parse_search({"track_total_hits": -1}, {"rest_total_hits_as_int": "true"})
    off = parse_search({"track_total_hits": False}, {"rest_total_hits_as_int": "true"})
    assert off.track_total_hits is False
    with pytest.raises(IllegalArgumentError, match=r"not accurate, got 10000$"):
        parse_search({"track_total_hits": 10000}, {"rest_total_hits_as_int": "true"})


@pytest.mark.parametrize("kind", ["query_and_fetch", "dfs_query_and_fetch", "scan", ""])
def test_unknown_search_types(kind: str) -> None:
    with pytest.raises(IllegalArgumentError, match=rf"^No search type for \[{kind}\]$"):
        parse_search({}, {"search_type": kind})
    assert parse_search({}, {"search_type": "dfs_query_then_fetch"}).search_type == (
        "dfs_query_then_fetch"
    )


def test_indices_boost_entries_in_order_and_per_cluster() -> None:
    from isthmus.actions.ccs_search import boosts_for_cluster

    req = parse_search({"indices_boost": [{"a": 2}, {"my:b*": 1.5}, {"other:c": 3}]}, {})
    assert req.indices_boost == (("a", 2.0), ("my:b*", 1.5), ("other:c", 3.0))
    body = {"indices_boost": [{"a": 2}, {"my:b*": 1.5}, {"other:c": 3}], "size": 1}
    assert boosts_for_cluster(body, "my") == {"indices_boost": [{"b*": 1.5}], "size": 1}
    assert boosts_for_cluster({"size": 1}, "my") == {"size": 1}


def test_collapse_parsing() -> None:
    from isthmus.errors import ActionRequestValidationError, XContentParseError
    from isthmus.search.collapse import collapse_ranked

    req = parse_search({"collapse": {"field": "g", "inner_hits": {"name": "a", "size": 2}}}, {})
    assert req.collapse is not None and req.collapse.field == "g"
    assert [(i.name, i.size) for i in req.collapse.inner_hits] == [("a", 2)]
    with pytest.raises(XContentParseError, match=r"^\[collapse\] unknown field \[x\]$"):
        parse_search({"collapse": {"field": "g", "x": 1}}, {})
    with pytest.raises(
        ActionRequestValidationError,
        match=r"^Validation Failed: 1: cannot use `collapse` in a scroll context;$",
    ):
        parse_search({"collapse": {"field": "g"}}, {"scroll": "1m"})
    heads, groups = collapse_ranked(["a", None, "a", "b", None])
    assert heads == [0, 1, 3]
    assert groups == {0: [0, 2], 1: [1, 4], 3: [3]}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("total", 2.0 + 6.0), ("multiply", 12.0), ("avg", 4.0), ("max", 6.0), ("min", 2.0)],
)
def test_rescore_score_modes(mode: str, expected: float) -> None:
    req = parse_search(
        {
            "rescore": {
                "query": {
                    "rescore_query": {"match_all": {}},
                    "query_weight": 0.5,
                    "rescore_query_weight": 3,
                    "score_mode": mode,
                }
            }
        },
        {},
    )
    (rescorer,) = req.rescore
    assert rescorer.window_size == 10
    assert rescorer.combine(4.0, 2.0) == expected
    assert rescorer.combine(4.0, None) == 2.0
