"""Documents and mappings walked without recursion, with ES's depth limits; dates of any long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from isthmus.errors import DocumentParsingError, IllegalArgumentError
from isthmus.index.dates import DateParseError, format_date, format_iso, parse_date
from isthmus.index.mapping import MAX_DOCUMENT_DEPTH, MAX_MAPPING_DEPTH, Mapping


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def test_documents_up_to_the_depth_limit() -> None:
    unmapped = Mapping({"dynamic": False})
    unmapped.parse_document(_nested(MAX_DOCUMENT_DEPTH, 1))
    with pytest.raises(DocumentParsingError) as info:
        unmapped.parse_document(_nested(MAX_DOCUMENT_DEPTH + 1, 1))
    assert info.value.reason == (
        f"Document nesting depth ({MAX_DOCUMENT_DEPTH + 1}) exceeds the maximum allowed "
        f"({MAX_DOCUMENT_DEPTH})"
    )


@pytest.mark.parametrize(
    "source",
    [
        _nested(5000, 1),  # far beyond Python's recursion limit: refused, not a RecursionError
        {"a": _nested(60, [[[{"b": _nested(60, 1)}]]])},  # arrays count as levels too
        _nested(98, [[[[1]]]]),
    ],
)
def test_deep_documents_are_refused(source: Any) -> None:
    with pytest.raises(DocumentParsingError):
        Mapping({"dynamic": False}).parse_document(source)


def test_dynamic_objects_stop_at_the_mapping_depth() -> None:
    # The root counts as depth 1: MAX_MAPPING_DEPTH keys deep is MAX_MAPPING_DEPTH - 1 objects.
    mapping = Mapping()
    mapping.parse_document(_nested(MAX_MAPPING_DEPTH, "x"))
    with pytest.raises(IllegalArgumentError) as info:
        mapping.parse_document(_nested(MAX_MAPPING_DEPTH + 1, "x"))
    assert info.value.reason.startswith(
        f"Limit of mapping depth [{MAX_MAPPING_DEPTH}] has been exceeded due to object field [a.a"
    )


def test_declared_objects_stop_at_the_mapping_depth() -> None:
    props: dict[str, Any] = {"leaf": {"type": "keyword"}}
    for _ in range(MAX_MAPPING_DEPTH):
        props = {"o": {"properties": props}}
    with pytest.raises(IllegalArgumentError):
        Mapping({"properties": props})


def test_field_types_must_be_names() -> None:
    from isthmus.errors import MapperParsingError

    with pytest.raises(MapperParsingError):
        Mapping({"properties": {"a": {"type": ["text"]}}})
    with pytest.raises(MapperParsingError):
        Mapping({"properties": {"a": {"type": "text", "fields": {"k": {"type": {}}}}}})


def test_iso_rendering_matches_datetime_where_it_reaches() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for millis in (0, -1, 1, 951_782_400_000, -30_610_224_000_000, 253_402_300_799_999, 1_234):
        dt = epoch + timedelta(milliseconds=millis)
        expected = dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
        assert format_iso(millis) == expected


def test_years_beyond_four_digits_are_signed_as_java_time() -> None:
    assert format_iso(2**63 - 1) == "+292278994-08-17T07:12:55.807Z"
    assert format_iso(-(2**63)) == "-292275055-05-16T16:47:04.192Z"
    assert format_iso(8 * 10**15) == "+255479-11-28T14:13:20.000Z"
    assert format_date(8 * 10**15, "yyyy-MM-dd") == "+255479-11-28"


@pytest.mark.parametrize("value", ["1e400", 1e300, 2**64, "99999999999999999999999"])
def test_dates_outside_a_long_are_refused(value: Any) -> None:
    with pytest.raises(DateParseError):
        parse_date(value, "strict_date_optional_time||epoch_millis")
