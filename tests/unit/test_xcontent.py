"""Typed reads of request bodies: ES's x-content errors, whole and at the edges of each type."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus import xcontent
from isthmus.errors import XContentParseError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, "START_OBJECT"),
        ([], "START_ARRAY"),
        (True, "VALUE_BOOLEAN"),
        (1, "VALUE_NUMBER"),
        (1.5, "VALUE_NUMBER"),
        (None, "VALUE_NULL"),
        ("x", "VALUE_STRING"),
    ],
)
def test_tokens_are_jacksons(value: Any, expected: str) -> None:
    assert xcontent.token(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3), (3.0, 3), ("12", 12), (" 7 ", 7), ("1e3", 1000), (-0.0, 0)]
)
def test_int_coerces_as_es_does(value: Any, expected: int) -> None:
    assert xcontent.as_int("p", "f", value) == expected


@pytest.mark.parametrize("value", [{}, [], True, None])
def test_int_of_another_kind(value: Any) -> None:
    with pytest.raises(XContentParseError) as info:
        xcontent.as_int("p", "f", value)
    assert info.value.reason == f"[p] f doesn't support values of type: {xcontent.token(value)}"
    assert info.value.http_status == 400


@pytest.mark.parametrize(
    ("value", "cause"),
    [
        ("ten", 'For input string: "ten"'),
        (1.5, 'For input string: "1.5"'),
        ("1e400", 'For input string: "1e400"'),
        (2**31, "Numeric value (2147483648) out of range of int"),
        (-(2**31) - 1, "Numeric value (-2147483649) out of range of int"),
    ],
)
def test_int_that_does_not_convert(value: Any, cause: str) -> None:
    with pytest.raises(XContentParseError) as info:
        xcontent.as_int("p", "f", value)
    assert info.value.reason == "[p] failed to parse field [f]"
    assert info.value.caused_by is not None
    assert info.value.caused_by.reason == cause
    # ES reports the x-content error as the root cause (an IllegalArgumentException is no
    # ElasticsearchException).
    assert info.value.to_body()["error"]["root_cause"][0]["type"] == "x_content_parse_exception"


def test_long_range() -> None:
    assert xcontent.as_long("p", "f", 2**63 - 1) == 2**63 - 1
    with pytest.raises(XContentParseError):
        xcontent.as_long("p", "f", 2**63)


@pytest.mark.parametrize(("value", "expected"), [(1, 1.0), ("2.5", 2.5), (-1e308, -1e308)])
def test_float(value: Any, expected: float) -> None:
    assert xcontent.as_float("p", "f", value) == expected


@pytest.mark.parametrize("value", ["inf", "nan", "x", "1e400"])
def test_float_must_be_finite(value: str) -> None:
    with pytest.raises(XContentParseError):
        xcontent.as_float("p", "f", value)


def test_bool_takes_booleans_and_their_strings_only() -> None:
    assert xcontent.as_bool("p", "f", True) is True
    assert xcontent.as_bool("p", "f", "false") is False
    with pytest.raises(XContentParseError) as info:
        xcontent.as_bool("p", "f", "yes")
    assert info.value.caused_by is not None
    assert info.value.caused_by.reason == (
        "Failed to parse value [yes] as only [true] or [false] are allowed."
    )
    with pytest.raises(XContentParseError):
        xcontent.as_bool("p", "f", 1)


def test_str_takes_scalars_as_text() -> None:
    assert xcontent.as_str("p", "f", "a") == "a"
    assert xcontent.as_str("p", "f", 5) == "5"
    assert xcontent.as_str("p", "f", False) == "false"
    for value in ({}, [], None):
        with pytest.raises(XContentParseError):
            xcontent.as_str("p", "f", value)


def test_list_and_object() -> None:
    assert xcontent.as_list("p", "f", [1]) == [1]
    assert xcontent.as_list("p", "f", "one") == ["one"]  # a single value stands for an array
    with pytest.raises(XContentParseError):
        xcontent.as_list("p", "f", {"a": 1})
    assert xcontent.as_object("p", "f", {"a": 1}) == {"a": 1}
    with pytest.raises(XContentParseError):
        xcontent.as_object("p", "f", [])


def test_body_depth() -> None:
    value: object = 1
    for _ in range(xcontent.MAX_BODY_DEPTH - 1):
        value = {"a": value}
    xcontent.check_depth([value])  # the outer array is the 200th level
    with pytest.raises(XContentParseError) as info:
        xcontent.check_depth([[value]])
    assert info.value.reason == (
        f"Document nesting depth ({xcontent.MAX_BODY_DEPTH + 1}) exceeds the maximum allowed "
        f"({xcontent.MAX_BODY_DEPTH})"
    )
