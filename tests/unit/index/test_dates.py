"""Date parsing and formatting with Elasticsearch's format names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.index.dates import (
    DEFAULT_DATE_FORMAT,
    DateParseError,
    format_date,
    format_iso,
    looks_like_date,
    parse_date,
)

T = 1704164645250  # 2024-01-02T03:04:05.250Z
DAY = 1704153600000  # 2024-01-02T00:00:00Z


@pytest.mark.parametrize(
    ("value", "millis"),
    [
        ("2024", 1704067200000),
        ("2024-01", 1704067200000),
        ("2024-01-02", DAY),
        ("2024-01-02T03", DAY + 3 * 3_600_000),
        ("2024-01-02T03:04", DAY + 3 * 3_600_000 + 4 * 60_000),
        ("2024-01-02T03:04:05Z", T - 250),
        ("2024-01-02T03:04:05.250Z", T),
        ("2024-01-02T03:04:05,250Z", T),
        ("2024-01-02T03:04:05.25", T),
        ("2024-01-02T03:04:05.250123456Z", T),
        ("2024-01-02T04:04:05.250+01:00", T),
        ("2024-01-02T04:04:05.250+0100", T),
        ("2024-01-02T02:04:05.250-01", T),
        ("1969-12-31T23:59:59.999Z", -1),
        ("1704164645250", T),
        ("-1000", -1000),
    ],
)
def test_default_format(value: str, millis: int) -> None:
    assert parse_date(value) == millis
    assert parse_date(value, DEFAULT_DATE_FORMAT) == millis


@pytest.mark.parametrize(
    "value", ["2024-13-01", "2024-02-30", "2024-01-02T25:00", "nope", "", "2024-1-2", "20240102x"]
)
def test_default_format_rejects(value: str) -> None:
    with pytest.raises(DateParseError) as info:
        parse_date(value)
    assert str(info.value) == (
        f"failed to parse date field [{value}] with format [{DEFAULT_DATE_FORMAT}]"
    )


def test_strict_date_optional_time_needs_t() -> None:
    with pytest.raises(DateParseError):
        parse_date("2024-01-02 03:04:05", "strict_date_optional_time")


def test_epoch_formats() -> None:
    assert parse_date("1704164645", "epoch_second") == 1704164645000
    assert parse_date("1704164645.25", "epoch_second") == T
    assert parse_date(1704164645, "epoch_second") == 1704164645000
    assert parse_date(T, "epoch_millis") == T
    assert parse_date(str(T), "epoch_millis") == T
    assert parse_date(1.9, "epoch_millis") == 1
    assert parse_date("0", "epoch_second") == 0


def test_numbers_with_the_default_format_are_millis() -> None:
    assert parse_date(T) == T
    assert parse_date(0) == 0


def test_epoch_second_first_alternative_wins_for_numbers() -> None:
    assert parse_date(1704164645, "epoch_second||epoch_millis") == 1704164645000


@pytest.mark.parametrize("value", ["abc", "1.2.3", ""])
@pytest.mark.parametrize("fmt", ["epoch_millis", "epoch_second"])
def test_epoch_rejects(fmt: str, value: str) -> None:
    with pytest.raises(DateParseError):
        parse_date(value, fmt)


@pytest.mark.parametrize(
    ("value", "fmt", "millis"),
    [
        ("2024/01/02", "yyyy/MM/dd", DAY),
        ("02.01.2024 03:04", "dd.MM.yyyy HH:mm", DAY + 3 * 3_600_000 + 4 * 60_000),
        ("2024-01-02 03:04:05.250", "yyyy-MM-dd HH:mm:ss.SSS", T),
        ("2024-01-02T03:04", "yyyy-MM-dd'T'HH:mm", DAY + 3 * 3_600_000 + 4 * 60_000),
        ("2024-01-02", "uuuu-MM-dd", DAY),
        ("2024-01-02", "  yyyy-MM-dd  ", DAY),
    ],
)
def test_custom_patterns(value: str, fmt: str, millis: int) -> None:
    assert parse_date(value, fmt) == millis


def test_custom_pattern_mismatch() -> None:
    with pytest.raises(DateParseError) as info:
        parse_date("2024-01-02", "yyyy/MM/dd")
    assert str(info.value) == "failed to parse date field [2024-01-02] with format [yyyy/MM/dd]"


def test_alternatives_are_tried_in_order() -> None:
    fmt = "yyyy/MM/dd||epoch_millis||strict_date_optional_time"
    assert parse_date("2024/01/02", fmt) == DAY
    assert parse_date("5", fmt) == 5
    assert parse_date("2024-01-02", fmt) == DAY


@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}])
def test_non_scalar_values_rejected(value: object) -> None:
    with pytest.raises(DateParseError):
        parse_date(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02", True),
        ("2024-01-02T03:04:05Z", True),
        ("2024/01/02", True),
        ("2024/01/02 03:04:05", True),
        ("2024", True),
        ("hello", False),
        ("", False),
        ("123abc", False),
        ("1704164645250", False),
        ("v2024-01-02", False),
    ],
)
def test_looks_like_date(value: str, expected: bool) -> None:
    assert looks_like_date(value) is expected


def test_format_iso() -> None:
    assert format_iso(0) == "1970-01-01T00:00:00.000Z"
    assert format_iso(T) == "2024-01-02T03:04:05.250Z"
    assert format_iso(-1) == "1969-12-31T23:59:59.999Z"
    assert format_iso(1704164645007) == "2024-01-02T03:04:05.007Z"


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (DEFAULT_DATE_FORMAT, "2024-01-02T03:04:05.250Z"),
        ("strict_date_optional_time", "2024-01-02T03:04:05.250Z"),
        ("date_time", "2024-01-02T03:04:05.250Z"),
        ("epoch_millis", str(T)),
        ("epoch_second", "1704164645"),
        ("epoch_millis||strict_date_optional_time", str(T)),
        ("yyyy/MM/dd HH:mm:ss.SSS", "2024/01/02 03:04:05.250"),
        ("yyyy-MM-dd", "2024-01-02"),
        ("dd.MM.yyyy", "02.01.2024"),
        ("yyyy-MM-dd'T'HH:mm", "2024-01-02T03:04"),
    ],
)
def test_format_date(fmt: str, text: str) -> None:
    assert format_date(T, fmt) == text


_millis = st.integers(min_value=-(10**12), max_value=4 * 10**12)


@given(_millis)
def test_iso_round_trip(millis: int) -> None:
    assert parse_date(format_iso(millis)) == millis


@given(_millis, st.sampled_from(["yyyy-MM-dd HH:mm:ss.SSS", "yyyy/MM/dd'T'HH:mm:ss.SSS"]))
def test_pattern_round_trip(millis: int, fmt: str) -> None:
    millis = abs(millis)  # four-digit years only
    assert parse_date(format_date(millis, fmt), fmt) == millis


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_epoch_round_trip(millis: int) -> None:
    assert parse_date(format_date(millis, "epoch_millis"), "epoch_millis") == millis
    seconds = millis // 1000 * 1000
    assert parse_date(format_date(seconds, "epoch_second"), "epoch_second") == seconds
