"""Malformed search bodies: typed reads and depth limits, with ES's errors (never a Python one)."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.errors import (
    IllegalArgumentError,
    IsthmusError,
    ParsingError,
    XContentParseError,
)
from isthmus.search import dsl
from isthmus.search.aggs import MAX_AGGREGATION_DEPTH, parse_aggs
from isthmus.search.request import parse_search


def _bools(depth: int) -> dict[str, Any]:
    query: dict[str, Any] = {"match_all": {}}
    for _ in range(depth - 1):
        query = {"bool": {"must": [query]}}
    return query


def test_query_nesting_up_to_the_limit() -> None:
    assert isinstance(dsl.parse_query(_bools(dsl.MAX_NESTED_DEPTH)), dsl.Bool)


@pytest.mark.parametrize("depth", [dsl.MAX_NESTED_DEPTH + 1, 900])
def test_query_nesting_past_the_limit(depth: int) -> None:
    with pytest.raises(XContentParseError) as info:
        dsl.parse_query(_bools(depth))
    assert info.value.reason == "[bool] failed to parse field [must]"
    assert info.value.caused_by is not None
    assert info.value.caused_by.reason == (
        "The nested depth of the query exceeds the maximum nested depth for queries set in "
        "[indices.query.bool.max_nested_depth]"
    )


def test_every_compound_counts() -> None:
    query: dict[str, Any] = {"match_all": {}}
    for i in range(dsl.MAX_NESTED_DEPTH):
        query = (
            {"constant_score": {"filter": query}} if i % 2 else {"dis_max": {"queries": [query]}}
        )
    with pytest.raises(XContentParseError):
        dsl.parse_query(query)


@pytest.mark.parametrize(
    ("query", "error", "reason"),
    [
        (
            {"match_phrase": {"f": {"query": "a b", "slop": -1}}},
            IllegalArgumentError,
            "No negative slop allowed.",
        ),
        (
            {"match_phrase": {"f": {"query": "a b", "slop": "x"}}},
            XContentParseError,
            "[match_phrase] failed to parse field [slop]",
        ),
        (
            {"match_phrase": {"f": {"query": "a", "slop": 2**40}}},
            XContentParseError,
            "[match_phrase] failed to parse field [slop]",
        ),
        (
            {"multi_match": {"query": "a", "slop": -3}},
            IllegalArgumentError,
            "No negative slop allowed.",
        ),
        (
            {"match": {"f": {"query": "a", "prefix_length": -1}}},
            IllegalArgumentError,
            "[match] requires prefix length to be non-negative.",
        ),
        (
            {"match_phrase_prefix": {"f": {"query": "a", "max_expansions": 0}}},
            IllegalArgumentError,
            "[match_phrase_prefix] requires maxExpansions to be positive.",
        ),
        (
            {"range": {"f": {"gte": [1]}}},
            XContentParseError,
            "[range] gte doesn't support values of type: START_ARRAY",
        ),
        (
            {"range": {"f": {"lt": {"a": 1}}}},
            XContentParseError,
            "[range] lt doesn't support values of type: START_OBJECT",
        ),
        (
            {"match": {"f": {"query": "a", "lenient": "maybe"}}},
            XContentParseError,
            "[match] failed to parse field [lenient]",
        ),
        (
            {"multi_match": {"query": "a", "fields": [{"x": 1}]}},
            XContentParseError,
            "[multi_match] fields doesn't support values of type: START_OBJECT",
        ),
    ],
)
def test_query_options_are_typed(query: Any, error: type[IsthmusError], reason: str) -> None:
    with pytest.raises(error) as info:
        dsl.parse_query(query)
    assert info.value.reason == reason


def test_aggregation_nesting() -> None:
    def chain(depth: int) -> dict[str, Any]:
        agg: dict[str, Any] = {"terms": {"field": "f"}}
        for _ in range(depth - 1):
            agg = {"terms": {"field": "f"}, "aggs": {"x": agg}}
        return {"x": agg}

    parse_aggs(chain(MAX_AGGREGATION_DEPTH))
    with pytest.raises(IllegalArgumentError) as info:
        parse_aggs(chain(MAX_AGGREGATION_DEPTH + 1))
    assert info.value.reason == (
        "The nested depth of the aggregations exceeds the maximum nested depth for "
        f"aggregations [{MAX_AGGREGATION_DEPTH}]"
    )


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        ({"min_score": "x"}, XContentParseError, "[search] failed to parse field [min_score]"),
        ({"version": "yes"}, XContentParseError, "[search] failed to parse field [version]"),
        ({"size": 2**31}, IllegalArgumentError, "Numeric value (2147483648) out of range of int"),
        ({"fields": [{"format": "x"}]}, ParsingError, "[fields] Required [field]"),
        (
            {"fields": [[1]]},
            XContentParseError,
            "[search] fields doesn't support values of type: START_ARRAY",
        ),
        (
            {"highlight": {"fields": {"f": []}}},
            XContentParseError,
            "[highlight_field] f doesn't support values of type: START_ARRAY",
        ),
        (
            {"highlight": {"fields": {"f": {"fragment_size": "big"}}}},
            XContentParseError,
            "[highlight_field] failed to parse field [fragment_size]",
        ),
        (
            {"highlight": {"fields": "f"}},
            XContentParseError,
            "[highlight] fields doesn't support values of type: VALUE_STRING",
        ),
        (
            {"_source": {"includes": [{}]}},
            XContentParseError,
            "[_source] includes doesn't support values of type: START_OBJECT",
        ),
        (
            {"_source": {"include_me": 1}},
            ParsingError,
            "Unknown key for a VALUE_NUMBER in [include_me].",
        ),
        (
            {"sort": [{"f": {"order": ["asc"]}}]},
            XContentParseError,
            "[field_sort] order doesn't support values of type: START_ARRAY",
        ),
        (
            {"sort": [{"f": {"missing": {}}}]},
            XContentParseError,
            "[field_sort] missing doesn't support values of type: START_OBJECT",
        ),
    ],
)
def test_search_body_values_are_typed(
    body: dict[str, Any], error: type[IsthmusError], reason: str
) -> None:
    with pytest.raises(error) as info:
        parse_search(body, {})
    assert info.value.reason == reason


def test_highlight_fields_as_an_array_keeps_order() -> None:
    request = parse_search({"highlight": {"fields": [{"b": {}}, {"a": {"fragment_size": 5}}]}}, {})
    assert request.highlight is not None
    assert list(request.highlight.fields) == ["b", "a"]
    assert request.highlight.fields["a"]["fragment_size"] == 5
