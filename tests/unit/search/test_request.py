"""``parse_search``: a whole search request (body + URL parameters) into one frozen value."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.errors import IllegalArgumentError, IsthmusError, ParsingError, XContentParseError
from isthmus.search import dsl
from isthmus.search.request import (
    Highlight,
    SearchRequest,
    SortField,
    SourceFilter,
    parse_search,
    parse_sort,
    parse_source,
)


def test_defaults() -> None:
    req = parse_search(None, {})
    assert req == SearchRequest()
    assert req.query == dsl.MatchAll()
    assert (req.from_, req.size) == (0, 10)
    assert req.sort == ()
    assert req.source == SourceFilter(enabled=True)
    assert req.track_total_hits == 10000
    assert req.search_after is None
    assert req.aggs is None and req.highlight is None and req.post_filter is None
    assert req.timeout_ms is None and req.terminate_after is None
    assert req.sorts_by_score_only
    assert parse_search({}, {}) == req


def test_body_values() -> None:
    req = parse_search(
        {
            "query": {"term": {"tag": "red"}},
            "post_filter": {"exists": {"field": "x"}},
            "from": 5,
            "size": 20,
            "min_score": "0.5",
            "terminate_after": 100,
            "timeout": "2s",
            "version": True,
            "seq_no_primary_term": True,
            "explain": True,
            "track_scores": True,
            "fields": ["a", {"field": "b", "format": "epoch_millis"}],
            "aggregations": {"x": {"terms": {"field": "tag"}}},
        },
        {},
    )
    assert req.query == dsl.Term(field="tag", value="red")
    assert req.post_filter == dsl.Exists(field="x")
    assert (req.from_, req.size) == (5, 20)
    assert req.min_score == 0.5
    assert req.terminate_after == 100
    assert req.timeout_ms == 2000
    assert (req.version, req.seq_no_primary_term, req.explain, req.track_scores) == (
        True,
        True,
        True,
        True,
    )
    assert [f.field for f in req.fields] == ["a", "b"]
    assert req.aggs == {"x": {"terms": {"field": "tag"}}}


def test_url_parameters_win_over_body() -> None:
    body = {"size": 5, "from": 1, "sort": ["a"], "_source": False, "track_total_hits": 5}
    params = {
        "size": "7",
        "from": "2",
        "sort": "b:desc,c",
        "_source": "x,y",
        "track_total_hits": "false",
        "timeout": "1m",
    }
    req = parse_search(body, params)
    assert (req.from_, req.size) == (2, 7)
    assert req.sort == (SortField("b", "desc"), SortField("c", "asc"))
    assert req.source == SourceFilter(includes=("x", "y"))
    assert req.track_total_hits is False
    assert req.timeout_ms == 60_000


def test_url_only_flags() -> None:
    req = parse_search(
        None,
        {
            "rest_total_hits_as_int": "true",
            "typed_keys": "true",
            "version": "true",
            "seq_no_primary_term": "true",
            "explain": "true",
            "track_scores": "true",
        },
    )
    assert req.rest_total_hits_as_int and req.typed_keys
    assert req.version and req.seq_no_primary_term and req.explain and req.track_scores


def test_q_parameter_becomes_query_string() -> None:
    req = parse_search({"query": {"match_all": {}}}, {"q": "title:fox"})
    assert isinstance(req.query, dsl.Match)
    assert (req.query.field, req.query.query) == ("title", "fox")
    req = parse_search(None, {"q": "fox", "df": "body"})
    assert isinstance(req.query, dsl.Match)
    assert req.query.field == "body"


# --- unknown and unsupported keys ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "token"),
    [
        (1, "VALUE_NUMBER"),
        (1.5, "VALUE_NUMBER"),
        ("x", "VALUE_STRING"),
        (True, "VALUE_BOOLEAN"),
        ({}, "START_OBJECT"),
        ([], "START_ARRAY"),
    ],
)
def test_unknown_body_key(value: Any, token: str) -> None:
    with pytest.raises(ParsingError) as info:
        parse_search({"foo": value}, {})
    assert info.value.reason == f"Unknown key for a {token} in [foo]."
    assert info.value.to_body()["error"]["type"] == "parsing_exception"


def test_unknown_body_key_null() -> None:
    with pytest.raises(ParsingError) as info:
        parse_search({"foo": None}, {})
    assert info.value.reason == "Unknown key for a VALUE_NULL in [foo]."


@pytest.mark.parametrize("key", ["pit", "slice"])
def test_known_but_unsupported_keys_are_said_plainly(key: str) -> None:
    with pytest.raises(IllegalArgumentError) as info:
        parse_search({key: {}}, {})
    assert info.value.reason == f"[{key}] is not supported by Isthmus yet"


# --- from and size ------------------------------------------------------------------------------


def test_negative_size_and_from() -> None:
    with pytest.raises(IllegalArgumentError) as info:
        parse_search({"size": -1}, {})
    assert info.value.reason == "[size] parameter cannot be negative, found [-1]"
    with pytest.raises(IllegalArgumentError) as info:
        parse_search(None, {"from": "-3"})
    assert info.value.reason == "[from] parameter cannot be negative but was [-3]"


def test_size_zero_is_allowed() -> None:
    assert parse_search({"size": 0}, {}).size == 0


@pytest.mark.parametrize(("where", "value"), [("body", "x"), ("url", "abc")])
def test_size_not_a_number(where: str, value: Any) -> None:
    body, params = ({"size": value}, {}) if where == "body" else ({}, {"size": value})
    with pytest.raises(IllegalArgumentError) as info:
        parse_search(body, params)
    assert info.value.reason == f"Failed to parse int parameter [size] with value [{value}]"


@pytest.mark.parametrize(
    ("key", "value", "token"),
    [
        ("size", None, "VALUE_NULL"),
        ("min_score", [], "START_ARRAY"),
        ("from", {}, "START_OBJECT"),
        ("query", "x", "VALUE_STRING"),
        ("highlight", [], "START_ARRAY"),
        ("search_after", 1, "VALUE_NUMBER"),
    ],
)
def test_body_key_with_a_token_es_does_not_take(key: str, value: Any, token: str) -> None:
    # ES's search source parser dispatches on the token first (null is no value token).
    with pytest.raises(ParsingError) as info:
        parse_search({key: value}, {})
    assert info.value.reason == f"Unknown key for a {token} in [{key}]."


def test_size_boolean() -> None:
    with pytest.raises(ParsingError) as info:
        parse_search({"size": True}, {})
    assert info.value.reason == "[size] failed to parse field [size]"


# --- sort ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a", (SortField("a"),)),
        ("a:desc", (SortField("a", "desc"),)),
        ("a:DESC", (SortField("a", "desc"),)),
        ("_score", (SortField("_score", "desc"),)),
        ("_score:asc", (SortField("_score", "asc"),)),
        ("_doc", (SortField("_doc", "asc"),)),
        ({"a": "desc"}, (SortField("a", "desc"),)),
        ({"a": "ASC"}, (SortField("a", "asc"),)),
        ({"_score": {}}, (SortField("_score", "desc"),)),
        (
            {"a": {"order": "desc", "missing": "_first", "unmapped_type": "long", "mode": "min"}},
            (SortField("a", "desc", "_first", "long"),),
        ),
        (
            ["a", {"b": "desc"}, {"c": {"missing": 0}}],
            (SortField("a"), SortField("b", "desc"), SortField("c", "asc", 0)),
        ),
        ([], ()),
    ],
)
def test_sort_forms(raw: Any, expected: tuple[SortField, ...]) -> None:
    assert parse_sort(raw) == expected


def test_sort_field_properties() -> None:
    assert SortField("a", "desc").descending
    assert not SortField("a").descending
    assert parse_search({"sort": ["_score"]}, {}).sorts_by_score_only
    assert not parse_search({"sort": [{"_score": "asc"}]}, {}).sorts_by_score_only
    assert not parse_search({"sort": ["a"]}, {}).sorts_by_score_only


@pytest.mark.parametrize(
    ("raw", "error", "reason"),
    [
        ({"a": {"bogus": 1}}, XContentParseError, "[field_sort] unknown field [bogus]"),
        (
            {"a": {"ordr": "asc"}},
            XContentParseError,
            "[field_sort] unknown field [ordr] did you mean [order]?",
        ),
        ({"a": "up"}, IllegalArgumentError, "Unknown SortOrder [up]"),
        ("a:sideways", IllegalArgumentError, "Unknown SortOrder [sideways]"),
        ({"a": 1}, ParsingError, "[sort] failed to parse field [a]"),
        (
            [1],
            ParsingError,
            "malformed sort format, within the sort array, an object, or an actual string are allowed",
        ),
    ],
)
def test_sort_errors(raw: Any, error: type[IsthmusError], reason: str) -> None:
    with pytest.raises(error) as info:
        parse_sort(raw)
    assert info.value.reason == reason


def test_sort_object_with_several_fields() -> None:
    assert parse_sort([{"a": "asc", "b": "desc"}]) == (SortField("a"), SortField("b", "desc"))


# --- _source ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, SourceFilter()),
        (True, SourceFilter(enabled=True)),
        (False, SourceFilter(enabled=False)),
        ("true", SourceFilter(enabled=True)),
        ("false", SourceFilter(enabled=False)),
        ("a", SourceFilter(includes=("a",))),
        ("a, b.*,", SourceFilter(includes=("a", "b.*"))),
        (["a", "b"], SourceFilter(includes=("a", "b"))),
        ({"includes": ["a"], "excludes": ["b"]}, SourceFilter(includes=("a",), excludes=("b",))),
        ({"includes": "a", "excludes": "b"}, SourceFilter(includes=("a",), excludes=("b",))),
        ({"include": ["a"], "exclude": "b"}, SourceFilter(includes=("a",), excludes=("b",))),
        ({"excludes": ["b"]}, SourceFilter(excludes=("b",))),
    ],
)
def test_source_forms(raw: Any, expected: SourceFilter) -> None:
    assert parse_source(raw) == expected


def test_source_bad_value() -> None:
    with pytest.raises(ParsingError) as info:
        parse_source(5)
    assert info.value.reason == "[_source] unsupported value"


def test_source_url_includes_excludes() -> None:
    req = parse_search({"_source": False}, {"_source_includes": "a,b", "_source_excludes": "c"})
    assert req.source == SourceFilter(includes=("a", "b"), excludes=("c",))
    req = parse_search(None, {"_source_excludes": "c"})
    assert req.source == SourceFilter(excludes=("c",))


# --- track_total_hits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "raw", "expected"),
    [
        ("body", True, True),
        ("body", False, False),
        ("body", 100, 100),
        ("body", "100", 100),
        ("body", -1, True),
        ("body", 0, 0),
        ("url", "true", True),
        ("url", "false", False),
        ("url", "5", 5),
        ("url", "-1", True),
    ],
)
def test_track_total_hits_forms(where: str, raw: Any, expected: bool | int) -> None:
    body, params = (
        ({"track_total_hits": raw}, {}) if where == "body" else ({}, {"track_total_hits": raw})
    )
    value = parse_search(body, params).track_total_hits
    assert value == expected
    assert type(value) is type(expected)


def test_track_total_hits_below_minus_one() -> None:
    with pytest.raises(IllegalArgumentError) as info:
        parse_search({"track_total_hits": -2}, {})
    assert info.value.reason == (
        "[track_total_hits] parameter must be positive or equals to -1, got -2"
    )


def test_track_total_hits_garbage() -> None:
    with pytest.raises(IllegalArgumentError) as info:
        parse_search(None, {"track_total_hits": "maybe"})
    assert (
        info.value.reason == "Failed to parse int parameter [track_total_hits] with value [maybe]"
    )


# --- search_after -------------------------------------------------------------------------------


def test_search_after() -> None:
    req = parse_search({"search_after": [5, "x"], "sort": ["a", {"b": "desc"}]}, {})
    assert req.search_after == (5, "x")


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        ({"search_after": [1]}, IllegalArgumentError, "Sort must contain at least one field."),
        (
            {"search_after": [1], "sort": ["a", "b"]},
            IllegalArgumentError,
            "search_after has 1 value(s) but sort has 2.",
        ),
        (
            {"search_after": [1, 2, 3], "sort": ["a"]},
            IllegalArgumentError,
            "search_after has 3 value(s) but sort has 1.",
        ),
        (
            {"search_after": 1, "sort": ["a"]},
            ParsingError,
            "Unknown key for a VALUE_NUMBER in [search_after].",
        ),
        (
            {"search_after": [1], "sort": ["a"], "from": 5},
            IllegalArgumentError,
            "[from] parameter must be set to 0 when [search_after] is used.",
        ),
    ],
)
def test_search_after_validation(
    body: dict[str, Any], error: type[IsthmusError], reason: str
) -> None:
    with pytest.raises(error) as info:
        parse_search(body, {})
    assert info.value.reason == reason
    assert info.value.http_status == 400


def test_search_after_with_url_sort() -> None:
    req = parse_search({"search_after": [1]}, {"sort": "a"})
    assert req.search_after == (1,)


# --- misc ---------------------------------------------------------------------------------------


def test_aggs_must_be_an_object() -> None:
    with pytest.raises(ParsingError) as info:
        parse_search({"aggs": "x"}, {})
    # ES's search source parser takes aggregations only as an object.
    assert info.value.reason == "Unknown key for a VALUE_STRING in [aggs]."


def test_aggs_and_aggregations_are_aliases() -> None:
    assert parse_search({"aggs": {"a": {}}}, {}).aggs == {"a": {}}
    assert parse_search({"aggregations": {"a": {}}}, {}).aggs == {"a": {}}


def test_timeout() -> None:
    assert parse_search({"timeout": "500ms"}, {}).timeout_ms == 500
    assert parse_search({"timeout": "-1"}, {}).timeout_ms == -1
    with pytest.raises(ParsingError) as info:
        parse_search({"timeout": "5"}, {})
    assert info.value.reason == "failed to parse setting [timeout] with value [5] as a time value"


def test_query_errors_propagate() -> None:
    with pytest.raises(ParsingError) as info:
        parse_search({"query": {"nope": {}}}, {})
    assert info.value.reason == "unknown query [nope]"


def test_highlight() -> None:
    req = parse_search(
        {
            "highlight": {
                "fields": {"title": {}, "body": None},
                "pre_tags": ["<b>"],
                "post_tags": ["</b>"],
                "fragment_size": 50,
                "number_of_fragments": 2,
                "require_field_match": False,
            }
        },
        {},
    )
    assert req.highlight == Highlight(
        fields={"title": {}, "body": {}},
        pre_tags=("<b>",),
        post_tags=("</b>",),
        fragment_size=50,
        number_of_fragments=2,
        require_field_match=False,
    )


def test_highlight_fields_as_list_and_defaults() -> None:
    req = parse_search({"highlight": {"fields": [{"a": {}}, {"b": {"fragment_size": 9}}]}}, {})
    assert req.highlight == Highlight(fields={"a": {}, "b": {"fragment_size": 9}})
    assert req.highlight.pre_tags == ("<em>",)
    assert req.highlight.fragment_size == 100
    assert req.highlight.number_of_fragments == 5


def test_highlight_needs_fields() -> None:
    with pytest.raises(ParsingError) as info:
        parse_search({"highlight": {"pre_tags": ["<b>"]}}, {})
    assert info.value.reason == "[highlight] requires a [fields] object"


def test_sort_top_level_number_message() -> None:
    with pytest.raises(ParsingError) as info:
        parse_sort(5)
    assert info.value.reason == (
        "malformed sort format, either start with array, object, or an actual string"
    )
