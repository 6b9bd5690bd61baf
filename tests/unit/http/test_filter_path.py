"""``filter_path``: includes, ``*``, ``**``, excludes, arrays, empties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.http.filter_path import apply_filter_path

BODY: dict[str, Any] = {
    "took": 3,
    "timed_out": False,
    "hits": {
        "total": {"value": 2, "relation": "eq"},
        "hits": [
            {"_id": "1", "_source": {"a": 1, "b": {"c": 2}}},
            {"_id": "2", "_source": {"b": {"c": 3}}},
        ],
    },
    "list": [1, 2],
    "empty": {},
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("took", {"took": 3}),
        ("took,timed_out", {"took": 3, "timed_out": False}),
        (" took , ,timed_out ", {"took": 3, "timed_out": False}),
        ("hits.total.value", {"hits": {"total": {"value": 2}}}),
        ("hits.hits._id", {"hits": {"hits": [{"_id": "1"}, {"_id": "2"}]}}),
        ("hits.hits._source.a", {"hits": {"hits": [{"_source": {"a": 1}}]}}),
        ("*.total", {"hits": {"total": {"value": 2, "relation": "eq"}}}),
        ("t*", {"took": 3, "timed_out": False}),
        ("hits.total.*", {"hits": {"total": {"value": 2, "relation": "eq"}}}),
        (
            "**.c",
            {"hits": {"hits": [{"_source": {"b": {"c": 2}}}, {"_source": {"b": {"c": 3}}}]}},
        ),
        ("hits.**.value", {"hits": {"total": {"value": 2}}}),
        ("list", {"list": [1, 2]}),
        ("empty", {"empty": {}}),
        ("nope", {}),
        ("took.deeper", {}),
    ],
)
def test_includes(expr: str, expected: dict[str, Any]) -> None:
    assert apply_filter_path(BODY, expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            "-hits",
            {"took": 3, "timed_out": False, "list": [1, 2], "empty": {}},
        ),
        (
            "-hits.hits,-list,-empty,-timed_out",
            {"took": 3, "hits": {"total": {"value": 2, "relation": "eq"}}},
        ),
        (
            "-hits.hits._source,-hits.total,-took,-timed_out,-list,-empty",
            {"hits": {"hits": [{"_id": "1"}, {"_id": "2"}]}},
        ),
        (
            "-t*,-hits,-e*",
            {"list": [1, 2]},
        ),
    ],
)
def test_excludes(expr: str, expected: dict[str, Any]) -> None:
    assert apply_filter_path(BODY, expr) == expected


def test_double_wildcard_exclude() -> None:
    body = {"a": {"x": 1, "y": 2}, "b": {"c": {"x": 3, "z": 5}}, "x": 4}
    assert apply_filter_path(body, "-**.x") == {"a": {"y": 2}, "b": {"c": {"z": 5}}}


def test_include_then_exclude() -> None:
    out = apply_filter_path(BODY, "hits.hits,-hits.hits._source")
    assert out == {"hits": {"hits": [{"_id": "1"}, {"_id": "2"}]}}


def test_empties_left_by_including_are_dropped() -> None:
    body = {"a": [{"x": 1}, {"y": 2}], "b": {"y": 1}, "c": []}
    assert apply_filter_path(body, "a.x,b.x,c.x") == {"a": [{"x": 1}]}


def test_top_level_array_and_scalar() -> None:
    assert apply_filter_path([{"a": 1}, {"b": 2}], "a") == [{"a": 1}]
    assert apply_filter_path("text", "a") == {}
    assert apply_filter_path([{"b": 2}], "a") == {}


def test_empty_expression_keeps_everything() -> None:
    assert apply_filter_path(BODY, "") == BODY
    assert apply_filter_path(BODY, " , ") == BODY


def test_input_is_not_mutated() -> None:
    body = {"a": {"b": 1, "c": 2}}
    apply_filter_path(body, "a.b")
    apply_filter_path(body, "-a.b")
    assert body == {"a": {"b": 1, "c": 2}}


def test_trailing_double_wildcard_keeps_everything_below() -> None:
    assert apply_filter_path(BODY, "hits.**") == {"hits": BODY["hits"]}


def test_objects_emptied_by_excludes_are_dropped() -> None:
    assert apply_filter_path({"a": {"b": 1}, "c": 2}, "-a.b") == {"c": 2}


_keys = st.sampled_from(["a", "b", "c", "d"])
_json = st.recursive(
    st.one_of(st.integers(), st.text(max_size=3), st.booleans(), st.none()),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(_keys, kids, min_size=1, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(_keys, _json, min_size=1, max_size=4), _keys)
def test_top_level_include_is_a_projection(body: dict[str, Any], key: str) -> None:
    assert apply_filter_path(body, key) == ({key: body[key]} if key in body else {})


@given(st.dictionaries(_keys, _json, max_size=4), _keys)
def test_top_level_exclude_removes_only_that_key(body: dict[str, Any], key: str) -> None:
    out = apply_filter_path(body, f"-{key}")
    assert out == {k: v for k, v in body.items() if k != key}
