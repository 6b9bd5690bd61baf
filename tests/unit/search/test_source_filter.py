"""``_source`` includes/excludes with ES's path and wildcard rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.search.source_filter import filter_source

SRC: dict[str, Any] = {
    "user": {"name": "kimchy", "id": 1, "addr": {"city": "Oslo", "zip": "0150"}},
    "title": "t",
    "tags": ["a", "b"],
    "items": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}],
    "empty": {},
    "u": 5,
}


@pytest.mark.parametrize(
    ("includes", "excludes", "expected"),
    [
        ([], [], SRC),
        (["title"], [], {"title": "t"}),
        (["user"], [], {"user": SRC["user"]}),
        (["user.name"], [], {"user": {"name": "kimchy"}}),
        (["user.name", "user.addr.zip"], [], {"user": {"name": "kimchy", "addr": {"zip": "0150"}}}),
        (["user.*"], [], {"user": SRC["user"]}),
        (["user.addr.*"], [], {"user": {"addr": SRC["user"]["addr"]}}),
        (["*.id"], [], {"user": {"id": 1}, "items": [{"id": 1}, {"id": 2}]}),
        (["*.city"], [], {"user": {"addr": {"city": "Oslo"}}}),
        (["items.id"], [], {"items": [{"id": 1}, {"id": 2}]}),
        (["tit*"], [], {"title": "t"}),
        (["us*"], [], {"user": SRC["user"]}),
        (["u"], [], {"u": 5}),
        (["tags"], [], {"tags": ["a", "b"]}),
        (["empty"], [], {"empty": {}}),
        (["nope"], [], {}),
        (["title.deeper"], [], {}),
        ([], ["user"], {k: v for k, v in SRC.items() if k != "user"}),
        ([], ["user.addr"], {**SRC, "user": {"name": "kimchy", "id": 1}}),
        (
            [],
            ["*.id"],
            {
                **SRC,
                "user": {"name": "kimchy", "addr": SRC["user"]["addr"]},
                "items": [{"v": "a"}, {"v": "b"}],
            },
        ),
        (
            ["user"],
            ["user.addr.zip"],
            {"user": {"name": "kimchy", "id": 1, "addr": {"city": "Oslo"}}},
        ),
        (["user.addr"], ["*.zip"], {"user": {"addr": {"city": "Oslo"}}}),
        (["items"], ["items.v"], {"items": [{"id": 1}, {"id": 2}]}),
        (["*"], ["title", "u"], {k: v for k, v in SRC.items() if k not in ("title", "u")}),
        (["title"], ["title"], {}),
        ([], ["*"], {}),
    ],
)
def test_filter(includes: list[str], excludes: list[str], expected: dict[str, Any]) -> None:
    assert filter_source(SRC, includes, excludes) == expected


def test_excluding_every_child_drops_the_object() -> None:
    assert filter_source({"a": {"b": 1}, "c": 2}, [], ["a.b"]) == {"c": 2}
    assert filter_source({"a": [{"b": 1}], "c": 2}, [], ["a.b"]) == {"c": 2}


def test_source_is_not_mutated() -> None:
    src = {"a": {"b": 1, "c": 2}, "d": [{"e": 1, "f": 2}]}
    filter_source(src, ["a.b", "d.e"], ["a.c"])
    filter_source(src, [], ["d.f"])
    assert src == {"a": {"b": 1, "c": 2}, "d": [{"e": 1, "f": 2}]}


def test_scalars_in_arrays_need_the_array_path() -> None:
    src = {"items": [{"id": 1, "v": 2}, 3]}
    assert filter_source(src, ["items.id"], []) == {"items": [{"id": 1}]}


_keys = st.sampled_from(["a", "b", "c"])
_json = st.recursive(
    st.one_of(st.integers(), st.text(max_size=3), st.none()),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(_keys, kids, min_size=1, max_size=3)
    ),
    max_leaves=10,
)
_sources = st.dictionaries(_keys, _json, max_size=3)


@given(_sources)
def test_no_filters_is_identity(src: dict[str, Any]) -> None:
    assert filter_source(src, [], []) == src


@given(_sources, _keys)
def test_top_level_include_and_exclude(src: dict[str, Any], key: str) -> None:
    assert filter_source(src, [key], []) == ({key: src[key]} if key in src else {})
    assert filter_source(src, [], [key]) == {k: v for k, v in src.items() if k != key}
    assert filter_source(src, ["*"], [key]) == {k: v for k, v in src.items() if k != key}
