"""Date math, calendar buckets and fixed intervals, against a fixed clock."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.errors import DateMathParseError, IllegalArgumentError, IsthmusError, ParsingError
from isthmus.index.dates import format_iso, parse_date
from isthmus.search.datemath import (
    calendar_bucket,
    next_calendar_bucket,
    parse_interval,
    resolve_date_math,
    resolve_time_zone,
)

NOW = parse_date("2024-03-15T10:20:30.456Z")  # a Friday


def iso(expr: str | int | float, **kwargs: Any) -> str:
    return format_iso(resolve_date_math(expr, now_ms=NOW, **kwargs))


# --- anchors and arithmetic -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("now", "2024-03-15T10:20:30.456Z"),
        ("now-1d", "2024-03-14T10:20:30.456Z"),
        ("now+1h", "2024-03-15T11:20:30.456Z"),
        ("now+1H", "2024-03-15T11:20:30.456Z"),
        ("now-90m", "2024-03-15T08:50:30.456Z"),
        ("now+30s", "2024-03-15T10:21:00.456Z"),
        ("now+2w", "2024-03-29T10:20:30.456Z"),
        ("now-1M", "2024-02-15T10:20:30.456Z"),
        ("now-1y", "2023-03-15T10:20:30.456Z"),
        ("now+d", "2024-03-16T10:20:30.456Z"),  # a missing number means one
        ("now-1d-1h", "2024-03-14T09:20:30.456Z"),
        ("now+1h/d", "2024-03-15T00:00:00.000Z"),
        ("now/d+1h", "2024-03-15T01:00:00.000Z"),
        ("now-1d/d", "2024-03-14T00:00:00.000Z"),
        ("2024-01-01||+1M/d", "2024-02-01T00:00:00.000Z"),
        ("2024-01-01T12:00:00Z||-12h", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01||", "2024-01-01T00:00:00.000Z"),
        ("1700000000000||/d", "2023-11-14T00:00:00.000Z"),
        ("1700000000000", "2023-11-14T22:13:20.000Z"),
    ],
)
def test_expressions(expr: str, expected: str) -> None:
    assert iso(expr) == expected


def test_numbers_are_epoch_millis() -> None:
    assert resolve_date_math(1_700_000_000_000, now_ms=NOW) == 1_700_000_000_000
    assert resolve_date_math(1.7e12, now_ms=NOW) == 1_700_000_000_000
    assert resolve_date_math(1_700_000_000_000, now_ms=NOW, round_up=True) == 1_700_000_000_000


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("2024-01-31||+1M", "2024-02-29T00:00:00.000Z"),  # leap year: clamps to Feb 29
        ("2023-01-31||+1M", "2023-02-28T00:00:00.000Z"),
        ("2024-03-31||-1M", "2024-02-29T00:00:00.000Z"),
        ("2024-01-31||+2M", "2024-03-31T00:00:00.000Z"),  # one step of two months
        ("2024-01-31||+1M+1M", "2024-03-29T00:00:00.000Z"),  # two steps clamp on the way
        ("2024-02-29||+1y", "2025-02-28T00:00:00.000Z"),
        ("2024-02-29||-4y", "2020-02-29T00:00:00.000Z"),
        ("2023-12-31||+2M", "2024-02-29T00:00:00.000Z"),
        ("2024-05-31||-15M", "2023-02-28T00:00:00.000Z"),
        ("2024-01-01||-1d", "2023-12-31T00:00:00.000Z"),
    ],
)
def test_month_and_year_arithmetic_clamps_the_day(expr: str, expected: str) -> None:
    assert iso(expr) == expected


# --- rounding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "down", "up"),
    [
        ("y", "2024-01-01T00:00:00.000Z", "2024-12-31T23:59:59.999Z"),
        ("M", "2024-03-01T00:00:00.000Z", "2024-03-31T23:59:59.999Z"),
        ("w", "2024-03-11T00:00:00.000Z", "2024-03-17T23:59:59.999Z"),  # weeks start Monday
        ("d", "2024-03-15T00:00:00.000Z", "2024-03-15T23:59:59.999Z"),
        ("h", "2024-03-15T10:00:00.000Z", "2024-03-15T10:59:59.999Z"),
        ("H", "2024-03-15T10:00:00.000Z", "2024-03-15T10:59:59.999Z"),
        ("m", "2024-03-15T10:20:00.000Z", "2024-03-15T10:20:59.999Z"),
        ("s", "2024-03-15T10:20:30.000Z", "2024-03-15T10:20:30.999Z"),
    ],
)
def test_rounding_per_unit(unit: str, down: str, up: str) -> None:
    assert iso(f"now/{unit}") == down
    assert iso(f"now/{unit}", round_up=True) == up


def test_round_up_of_february_in_a_leap_year() -> None:
    assert iso("2024-02-10||/M", round_up=True) == "2024-02-29T23:59:59.999Z"
    assert iso("2023-02-10||/M", round_up=True) == "2023-02-28T23:59:59.999Z"


def test_round_up_only_changes_rounding_not_arithmetic() -> None:
    assert iso("now-1d", round_up=True) == "2024-03-14T10:20:30.456Z"
    assert iso("2024-01-01||+1d", round_up=True) == "2024-01-02T00:00:00.000Z"


@pytest.mark.parametrize(
    ("expr", "fmt", "expected"),
    [
        ("2024-01-01", None, "2024-01-01T23:59:59.999Z"),
        ("2024", None, "2024-01-01T23:59:59.999Z"),  # month and day are never filled
        ("2024-01-01T10", None, "2024-01-01T10:59:59.999Z"),
        ("2024-01-01T10:30", None, "2024-01-01T10:30:59.999Z"),
        ("2024-01-01T10:30:15", None, "2024-01-01T10:30:15.999Z"),
        ("2024-01-01T10:30:15.250", None, "2024-01-01T10:30:15.250Z"),
        ("2024-01-01T10:30:15Z", None, "2024-01-01T10:30:15.999Z"),
        ("2024/01/01", "yyyy/MM/dd", "2024-01-01T23:59:59.999Z"),
        ("2024/01/01 10:30", "yyyy/MM/dd HH:mm", "2024-01-01T10:30:59.999Z"),
    ],
)
def test_round_up_fills_missing_time_components(expr: str, fmt: str | None, expected: str) -> None:
    kwargs: dict[str, Any] = {"round_up": True} if fmt is None else {"round_up": True, "fmt": fmt}
    assert iso(expr, **kwargs) == expected
    down = {k: v for k, v in kwargs.items() if k != "round_up"}
    assert iso(expr, **down) <= expected


# --- time zones -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "zone", "round_up", "expected"),
    [
        ("now/d", "+01:00", False, "2024-03-14T23:00:00.000Z"),
        ("now/d", "-05:00", True, "2024-03-16T04:59:59.999Z"),
        ("now/d", "Europe/Paris", False, "2024-03-14T23:00:00.000Z"),
        ("now/h", "+05:30", False, "2024-03-15T09:30:00.000Z"),
        ("now/M", "America/New_York", False, "2024-03-01T05:00:00.000Z"),
        ("now", "+01:00", False, "2024-03-15T10:20:30.456Z"),  # now is an instant
        ("2024-01-01", "-05:00", False, "2024-01-01T05:00:00.000Z"),
        ("2024-01-01", "+0100", True, "2024-01-01T22:59:59.999Z"),
        ("2024-07-01T12:00", "Europe/Paris", False, "2024-07-01T10:00:00.000Z"),
        ("2024-07-01T12:00:00Z", "Europe/Paris", False, "2024-07-01T12:00:00.000Z"),
        ("2024-07-01T12:00:00+03:00", "-05:00", False, "2024-07-01T09:00:00.000Z"),
        ("1700000000000", "+01:00", False, "2023-11-14T22:13:20.000Z"),  # epoch: an instant
        ("2024-01-01||/d", "+01:00", False, "2023-12-31T23:00:00.000Z"),
    ],
)
def test_time_zones(expr: str, zone: str, round_up: bool, expected: str) -> None:
    assert iso(expr, time_zone=zone, round_up=round_up) == expected


def test_daylight_saving_day_rounding_and_steps() -> None:
    paris = {"time_zone": "Europe/Paris"}
    # 2024-03-31 has 23 hours in Paris: clocks go from 02:00 to 03:00.
    assert iso("2024-03-31T12:00:00Z||/d", **paris) == "2024-03-30T23:00:00.000Z"
    assert iso("2024-03-31T12:00:00Z||/d", round_up=True, **paris) == "2024-03-31T21:59:59.999Z"
    # A day step keeps the wall clock; an hour step keeps the instant arithmetic.
    assert iso("2024-03-30T12:00||+1d", **paris) == "2024-03-31T10:00:00.000Z"
    assert iso("2024-03-30T12:00||+24h", **paris) == "2024-03-31T11:00:00.000Z"
    # A local time in the gap moves forward by the gap; one in the overlap takes the earlier offset.
    assert iso("2024-03-31T02:30", **paris) == "2024-03-31T01:30:00.000Z"
    assert iso("2024-10-27T02:30", **paris) == "2024-10-27T00:30:00.000Z"
    # A step landing in the overlap keeps the offset it started from.
    assert iso("2024-10-26T02:30||+1d", **paris) == "2024-10-27T00:30:00.000Z"
    assert iso("2024-10-28T01:30:00Z||-1d", **paris) == "2024-10-27T01:30:00.000Z"


def test_time_zone_names() -> None:
    assert resolve_time_zone(None) is resolve_time_zone("Z")
    assert resolve_time_zone("UTC+02:00").utcoffset(None) is not None
    for bad, message in [
        ("Mars/Olympus", "Unknown time-zone ID: Mars/Olympus"),
        ("+19:00", "Invalid ID for ZoneOffset, invalid format: +19:00"),
        ("../etc", "Unknown time-zone ID: ../etc"),
    ]:
        with pytest.raises(IllegalArgumentError, match="^" + message.replace("+", r"\+")):
            resolve_time_zone(bad)


# --- errors ---------------------------------------------------------------------------------------


def test_unparsable_date_has_es_shape() -> None:
    fmt = "strict_date_optional_time||epoch_millis"
    with pytest.raises(DateMathParseError) as info:
        resolve_date_math("xyz", now_ms=NOW)
    inner = f"failed to parse date field [xyz] with format [{fmt}]"
    assert info.value.reason == f"{inner}: [{inner}]"
    assert isinstance(info.value, ParsingError)
    assert info.value.to_cause() == {
        "type": "parse_exception",
        "reason": f"{inner}: [{inner}]",
        "caused_by": {"type": "illegal_argument_exception", "reason": inner},
    }
    assert info.value.http_status == 400


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("", "cannot parse empty date"),
        ("||+1d", "cannot parse empty date"),
        ("now-1x", "unit [x] not supported for date math [-1x]"),
        ("now+", "truncated date math [+]"),
        ("now+1", "truncated date math [+1]"),
        ("now/2d", "rounding `/` can only be used on single unit types [/2d]"),
        ("now*1d", "operator not supported for date math [*1d]"),
        ("nowish", "operator not supported for date math [ish]"),
        ("now+100000y", "date math [now+100000y] is outside the supported range"),
        ("2024-13-01", "failed to parse date field [2024-13-01]"),
        ("2024-01-01||+1q", "unit [q] not supported for date math [+1q]"),
    ],
)
def test_bad_expressions(expr: str, reason: str) -> None:
    with pytest.raises(DateMathParseError) as info:
        resolve_date_math(expr, now_ms=NOW)
    assert info.value.reason.startswith(reason)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True])
def test_bad_numbers(value: float) -> None:
    with pytest.raises(DateMathParseError):
        resolve_date_math(value, now_ms=NOW)


def test_custom_format() -> None:
    assert iso("15/03/2024", fmt="dd/MM/yyyy") == "2024-03-15T00:00:00.000Z"
    assert iso("15/03/2024||+1d", fmt="dd/MM/yyyy") == "2024-03-16T00:00:00.000Z"
    with pytest.raises(DateMathParseError, match=r"with format \[dd/MM/yyyy\]"):
        resolve_date_math("2024-03-15", now_ms=NOW, fmt="dd/MM/yyyy")


@given(st.text(alphabet="now+-/|0123456789yMwdhHmsTZ:.x ", max_size=30), st.booleans())
def test_any_text_resolves_or_raises_our_error(text: str, round_up: bool) -> None:
    try:
        assert isinstance(resolve_date_math(text, now_ms=NOW, round_up=round_up), int)
    except IsthmusError as exc:
        assert exc.http_status == 400


UNITS = st.sampled_from(list("yMwdhms"))
ZONES = st.sampled_from([None, "+05:30", "-08:00", "Europe/Paris", "America/New_York"])
INSTANTS = st.integers(min_value=-(10**12), max_value=4 * 10**12)


@given(INSTANTS, UNITS, ZONES)
def test_rounding_brackets_the_instant(ms: int, unit: str, zone: str | None) -> None:
    down = resolve_date_math(f"now/{unit}", now_ms=ms, time_zone=zone)
    up = resolve_date_math(f"now/{unit}", now_ms=ms, time_zone=zone, round_up=True)
    assert down <= ms <= up
    assert resolve_date_math(f"now/{unit}", now_ms=up + 1, time_zone=zone) == up + 1


# --- calendar buckets and fixed intervals ---------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "start", "following"),
    [
        ("minute", "2024-03-15T10:20:00.000Z", "2024-03-15T10:21:00.000Z"),
        ("1m", "2024-03-15T10:20:00.000Z", "2024-03-15T10:21:00.000Z"),
        ("hour", "2024-03-15T10:00:00.000Z", "2024-03-15T11:00:00.000Z"),
        ("1h", "2024-03-15T10:00:00.000Z", "2024-03-15T11:00:00.000Z"),
        ("day", "2024-03-15T00:00:00.000Z", "2024-03-16T00:00:00.000Z"),
        ("1d", "2024-03-15T00:00:00.000Z", "2024-03-16T00:00:00.000Z"),
        ("week", "2024-03-11T00:00:00.000Z", "2024-03-18T00:00:00.000Z"),
        ("1w", "2024-03-11T00:00:00.000Z", "2024-03-18T00:00:00.000Z"),
        ("month", "2024-03-01T00:00:00.000Z", "2024-04-01T00:00:00.000Z"),
        ("1M", "2024-03-01T00:00:00.000Z", "2024-04-01T00:00:00.000Z"),
        ("quarter", "2024-01-01T00:00:00.000Z", "2024-04-01T00:00:00.000Z"),
        ("1q", "2024-01-01T00:00:00.000Z", "2024-04-01T00:00:00.000Z"),
        ("year", "2024-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000Z"),
        ("1y", "2024-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000Z"),
    ],
)
def test_calendar_buckets(unit: str, start: str, following: str) -> None:
    bucket = calendar_bucket(NOW, unit)
    assert format_iso(bucket) == start
    assert format_iso(next_calendar_bucket(bucket, unit)) == following


def test_calendar_buckets_follow_the_time_zone() -> None:
    assert format_iso(calendar_bucket(NOW, "day", "Asia/Kolkata")) == "2024-03-14T18:30:00.000Z"
    assert format_iso(calendar_bucket(NOW, "hour", "+05:30")) == "2024-03-15T09:30:00.000Z"
    feb = parse_date("2024-02-10T00:00:00Z")
    assert format_iso(calendar_bucket(feb, "quarter", "-05:00")) == "2024-01-01T05:00:00.000Z"
    dst = parse_date("2024-03-30T23:00:00Z")  # 2024-03-31 00:00 in Paris: a 23 hour day
    assert next_calendar_bucket(dst, "day", "Europe/Paris") - dst == 23 * 3600 * 1000


def test_unknown_calendar_interval() -> None:
    with pytest.raises(IllegalArgumentError) as info:
        calendar_bucket(NOW, "2d")
    assert info.value.reason == (
        "The supplied interval [2d] could not be parsed as a calendar interval."
    )


CALENDAR = st.sampled_from(["minute", "hour", "day", "week", "month", "quarter", "year"])


@given(INSTANTS, CALENDAR, ZONES)
def test_calendar_bucket_holds_the_instant(ms: int, unit: str, zone: str | None) -> None:
    start = calendar_bucket(ms, unit, zone)
    following = next_calendar_bucket(start, unit, zone)
    assert start <= ms < following
    assert calendar_bucket(start, unit, zone) == start
    assert calendar_bucket(following, unit, zone) == following


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("500ms", 500),
        ("30s", 30_000),
        ("1m", 60_000),
        ("90m", 5_400_000),
        ("2h", 7_200_000),
        ("2H", 7_200_000),
        ("1d", 86_400_000),
        ("7d", 604_800_000),
        ("1000micros", 1),
        ("2000000nanos", 2),
        (" 5 m ", 300_000),
    ],
)
def test_fixed_intervals(text: str, millis: int) -> None:
    assert parse_interval(text) == millis


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1M", "as a time value: unit is missing or unrecognized"),  # months are not fixed
        ("1w", "as a time value: unit is missing or unrecognized"),
        ("1y", "as a time value: unit is missing or unrecognized"),
        ("10", "as a time value: unit is missing or unrecognized"),
        ("1.5h", "failed to parse [1.5h], fractional time values are not supported"),
        ("xh", "failed to parse [xh]"),
        ("0s", "Zero or negative time interval [0s] not supported"),
        ("-1s", "Zero or negative time interval [-1s] not supported"),
    ],
)
def test_bad_fixed_intervals(text: str, reason: str) -> None:
    with pytest.raises(IllegalArgumentError) as info:
        parse_interval(text)
    assert reason in info.value.reason
    if "unit is missing" in reason:
        assert info.value.reason.startswith(
            f"failed to parse setting [date_histogram.fixedInterval] with value [{text}]"
        )
