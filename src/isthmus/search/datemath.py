"""Elasticsearch date math, calendar buckets and fixed intervals.  [no I/O]

This module owns turning expressions such as ``now-1d/d`` or ``2024-01-31||+1M`` into epoch
milliseconds, and the calendar arithmetic a ``date_histogram`` needs (bucket starts for
``calendar_interval``, lengths of ``fixed_interval``). It never reads the clock: callers pass
``now_ms``, so range queries and their tests are deterministic.

Rules, as Elasticsearch documents them:

* ``now`` or ``<date>||`` anchors the expression; ``+N<unit>``, ``-N<unit>`` and ``/<unit>`` follow,
  applied left to right. Units: ``y M w d h H m s``.
* Year, month, week and day steps move the wall clock in ``time_zone`` (Jan 31 + 1M is the last day
  of February); hour, minute and second steps move the instant.
* ``/unit`` rounds down to the first millisecond of the unit, or with ``round_up`` (range ``gt`` and
  ``lte`` bounds) to its last millisecond.
* A date written without a time, rounded up, is filled with the end of the missing components
  (``2024-01-01`` becomes ``2024-01-01T23:59:59.999``); month and day are never filled.
* ``time_zone`` converts dates written without an offset and sets the wall clock rounding uses;
  it never changes ``now`` or epoch numbers, which are instants.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from isthmus.errors import DateMathParseError, IllegalArgumentError
from isthmus.index.dates import DEFAULT_DATE_FORMAT, ISO_FORMATS, DateParseError, parse_date

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DIGITS = frozenset("0123456789")
_MS = timedelta(milliseconds=1)
_SECOND = 1000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
# The instants Python's calendar can hold (years 1 to 9999, a day of margin for any offset).
# ES dates reach ±292 million years; wall-clock arithmetic (calendar rounding, time zones) on an
# instant outside this range is refused with a 400 rather than failing inside datetime.
_WALL_MIN_MS = (datetime(1, 1, 2, tzinfo=UTC) - _EPOCH) // _MS
_WALL_MAX_MS = (datetime(9999, 12, 30, tzinfo=UTC) - _EPOCH) // _MS
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1

# Instants, not wall-clock texts: a time zone never shifts them.
_EPOCH_FORMATS = frozenset({"epoch_millis", "epoch_second"})
_ISO_FORMATS = ISO_FORMATS
_ISO_TIME = re.compile(
    r"^[+-]?\d{4,9}-\d{2}-\d{2}[Tt ]\d{2}(?P<mi>:\d{2})?(?P<s>:\d{2})?(?P<f>[.,]\d+)?"
)
_HAS_OFFSET = re.compile(r"[Tt ][\d:.,]*?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$")
_OFFSET_ZONE = re.compile(r"^(?:UTC|GMT|UT)?(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$")
_INTERVAL = re.compile(r"^(?P<num>.*?)(?P<unit>nanos|micros|ms|s|m|h|d)$")

# ES's calendar_interval names, each mapped to one rounding unit of the date-math alphabet.
_CALENDAR_UNITS = {
    name: unit
    for unit, names in (
        ("s", "second 1s"),
        ("m", "minute 1m"),
        ("h", "hour 1h"),
        ("d", "day 1d"),
        ("w", "week 1w"),
        ("M", "month 1M"),
        ("q", "quarter 1q"),
        ("y", "year 1y"),
    )
    for name in names.split()
}
_FIXED_UNIT_NANOS = {
    "nanos": 1,
    "micros": 1000,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
}


def resolve_date_math(
    expr: str | int | float,
    *,
    now_ms: int,
    fmt: str = DEFAULT_DATE_FORMAT,
    round_up: bool = False,
    time_zone: str | None = None,
) -> int:
    """Resolve a date or date-math expression to epoch milliseconds (UTC).

    ``round_up`` selects the last millisecond of any ``/unit`` rounding (and of missing time
    components of a bare date); range queries pass it for ``gt`` and ``lte``.
    """
    if isinstance(expr, bool):
        raise _bad_date(str(expr).lower(), fmt)
    if isinstance(expr, int | float):
        if not math.isfinite(expr) or not _LONG_MIN <= expr <= _LONG_MAX:
            raise _bad_date(str(expr), fmt)
        return int(expr)
    if not isinstance(expr, str):  # an array or object where a date goes
        raise _bad_date(str(expr), fmt)
    zone = resolve_time_zone(time_zone)
    if expr.startswith("now"):
        start, steps = now_ms, expr[3:]
    elif "||" in expr:
        anchor, _, steps = expr.partition("||")
        start = _parse_anchor(anchor, fmt, zone, round_up=False)
    else:
        return _parse_anchor(expr, fmt, zone, round_up=round_up)
    try:
        return _apply_math(steps, start, zone, round_up)
    except (OverflowError, ValueError):
        raise DateMathParseError(f"date math [{expr}] is outside the supported range") from None


def resolve_time_zone(time_zone: str | None) -> tzinfo:
    """A ``time_zone`` parameter (``+01:00``, ``Z``, ``Europe/Paris``) as a tzinfo; None is UTC."""
    if time_zone is None or time_zone in ("Z", "z", "UTC", "GMT"):
        return UTC
    m = _OFFSET_ZONE.match(time_zone)
    if m is not None:
        hours, minutes = int(m["h"]), int(m["m"] or 0)
        if hours > 18 or minutes > 59:
            raise IllegalArgumentError(f"Invalid ID for ZoneOffset, invalid format: {time_zone}")
        sign = -1 if m["sign"] == "-" else 1
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise IllegalArgumentError(f"Unknown time-zone ID: {time_zone}") from None


def parse_interval(text: str, setting: str = "date_histogram.fixedInterval") -> int:
    """A fixed interval (``500ms``, ``30s``, ``1m``, ``2h``, ``1d``) in milliseconds.

    Units are read case-insensitively except ``m``: ``M`` means months, which have no fixed length.
    """
    m = _INTERVAL.match(text.strip().lower())
    if m is None or (m["unit"] == "m" and not text.strip().endswith("m")):
        raise IllegalArgumentError(
            f"failed to parse setting [{setting}] with value [{text}] as a time value: "
            "unit is missing or unrecognized"
        )
    try:
        number = int(m["num"].strip())
    except ValueError:
        why = ", fractional time values are not supported" if _is_float(m["num"]) else ""
        raise IllegalArgumentError(f"failed to parse [{text}]{why}") from None
    millis = number * _FIXED_UNIT_NANOS[m["unit"]] // 10**6
    if millis <= 0:
        raise IllegalArgumentError(f"Zero or negative time interval [{text}] not supported")
    return millis


def calendar_bucket(ms: int, unit: str, time_zone: str | None = None) -> int:
    """Start of the ``calendar_interval`` bucket (``day``, ``1M``, …) that holds ``ms``.

    Buckets follow the wall clock of ``time_zone``: a ``day`` starts at local midnight, a ``week``
    on Monday, a ``quarter`` in January, April, July or October.
    """
    step = _calendar_unit(unit)
    zone = resolve_time_zone(time_zone)
    if step == "q":
        wall, offset = _to_wall(ms, zone)
        first = datetime(wall.year, (wall.month - 1) // 3 * 3 + 1, 1)
        return _from_wall(first, zone, offset)
    return _round(ms, step, zone, up=False)


def next_calendar_bucket(start_ms: int, unit: str, time_zone: str | None = None) -> int:
    """Start of the bucket after the one starting at ``start_ms`` (for filling empty buckets)."""
    step = _calendar_unit(unit)
    zone = resolve_time_zone(time_zone)
    if step == "q":
        return _add(start_ms, "M", 3, zone)
    return calendar_bucket(_add(start_ms, step, 1, zone), unit, time_zone)


# --- parsing --------------------------------------------------------------------------------------


def _parse_anchor(text: str, fmt: str, zone: tzinfo, *, round_up: bool) -> int:
    if not text:
        raise DateMathParseError("cannot parse empty date")
    for one in (part.strip() for part in fmt.split("||")):
        try:
            ms = parse_date(text, one)
        except (DateParseError, ValueError, OverflowError):
            continue
        if one in _EPOCH_FORMATS:
            return ms
        if round_up:
            ms += _missing_time_fill(text, one)
        if _HAS_OFFSET.search(text) is None and zone is not UTC:
            try:
                return _from_wall(_EPOCH.replace(tzinfo=None) + ms * _MS, zone, None)
            except (OverflowError, ValueError):
                break
        return ms
    raise _bad_date(text, fmt)


def _bad_date(text: str, fmt: str) -> DateMathParseError:
    inner = f"failed to parse date field [{text}] with format [{fmt}]"
    err = DateMathParseError(f"{inner}: [{inner}]")
    err.caused_by = IllegalArgumentError(inner)
    return err


def _missing_time_fill(text: str, fmt: str) -> int:
    """Milliseconds to add so a date without some time components points at their last instant."""
    if fmt in _ISO_FORMATS:
        m = _ISO_TIME.match(text)
        has = (m is not None, bool(m and m["mi"]), bool(m and m["s"]), bool(m and m["f"]))
    else:
        has = ("HH" in fmt, "mm" in fmt, "ss" in fmt, "SSS" in fmt)
    for present, fill in zip(has, (_DAY, _HOUR, _MINUTE, _SECOND), strict=True):
        if not present:
            return fill - 1
    return 0


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _calendar_unit(unit: str) -> str:
    step = _CALENDAR_UNITS.get(unit)
    if step is None:
        raise IllegalArgumentError(
            f"The supplied interval [{unit}] could not be parsed as a calendar interval."
        )
    return step


# --- arithmetic -----------------------------------------------------------------------------------


def _apply_math(steps: str, ms: int, zone: tzinfo, round_up: bool) -> int:
    i, n = 0, len(steps)
    while i < n:
        op = steps[i]
        i += 1
        if op not in "+-/":
            raise DateMathParseError(f"operator not supported for date math [{steps}]")
        if i >= n:
            raise DateMathParseError(f"truncated date math [{steps}]")
        j = i
        while j < n and steps[j] in _DIGITS:
            j += 1
        if j >= n:
            raise DateMathParseError(f"truncated date math [{steps}]")
        num = int(steps[i:j]) if j > i else 1
        if op == "/" and num != 1:
            raise DateMathParseError(
                f"rounding `/` can only be used on single unit types [{steps}]"
            )
        unit, i = steps[j], j + 1
        if unit not in "yMwdhHms":
            raise DateMathParseError(f"unit [{unit}] not supported for date math [{steps}]")
        if op == "/":
            ms = _round(ms, unit, zone, up=round_up)
        else:
            ms = _add(ms, unit, num if op == "+" else -num, zone)
    return ms


def _round(ms: int, unit: str, zone: tzinfo, *, up: bool) -> int:
    """First (or with ``up`` last) millisecond of the ``unit`` holding ``ms`` on the local clock."""
    wall, offset = _to_wall(ms, zone)
    if unit == "y":
        wall = datetime(wall.year, 1, 1)
    elif unit == "M":
        wall = datetime(wall.year, wall.month, 1)
    elif unit == "w":
        wall = datetime(wall.year, wall.month, wall.day) - timedelta(days=wall.weekday())
    elif unit == "d":
        wall = datetime(wall.year, wall.month, wall.day)
    elif unit in "hH":
        wall = wall.replace(minute=0, second=0, microsecond=0)
    elif unit == "m":
        wall = wall.replace(second=0, microsecond=0)
    else:
        wall = wall.replace(microsecond=0)
    start = _from_wall(wall, zone, offset)
    return _add(start, unit, 1, zone) - 1 if up else start


def _add(ms: int, unit: str, num: int, zone: tzinfo) -> int:
    """Move ``ms`` by ``num`` units: calendar units on the wall clock, time units on the instant."""
    if unit in "hH":
        return ms + num * _HOUR
    if unit == "m":
        return ms + num * _MINUTE
    if unit == "s":
        return ms + num * _SECOND
    wall, offset = _to_wall(ms, zone)
    if unit in "wd":
        wall += timedelta(days=num * (7 if unit == "w" else 1))
    else:
        months = wall.year * 12 + wall.month - 1 + (num * 12 if unit == "y" else num)
        year, month = divmod(months, 12)
        wall = wall.replace(year=year, month=month + 1, day=min(wall.day, _month_days(year, month)))
    return _from_wall(wall, zone, offset)


def _month_days(year: int, month0: int) -> int:
    nxt = datetime(year + (month0 == 11), (month0 + 1) % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def zone_offset_ms(ms: int, zone: tzinfo) -> int:
    """The UTC offset of ``zone`` at instant ``ms``, for any long: beyond the calendar's range
    the offset in force at its edge applies (time-zone rules do not change out there)."""
    clamped = min(max(ms, _WALL_MIN_MS), _WALL_MAX_MS)
    offset = (_EPOCH + clamped * _MS).astimezone(zone).utcoffset() or timedelta(0)
    return offset // _MS


def _to_wall(ms: int, zone: tzinfo) -> tuple[datetime, timedelta | None]:
    """Local wall-clock time (naive) of an instant, with the UTC offset in force there."""
    if not _WALL_MIN_MS <= ms <= _WALL_MAX_MS:
        raise IllegalArgumentError(
            f"date [{ms}] is outside the range of calendar rounding (years 1 to 9999)"
        )
    local = (_EPOCH + ms * _MS).astimezone(zone)
    return local.replace(tzinfo=None), local.utcoffset()


def _from_wall(wall: datetime, zone: tzinfo, prefer: timedelta | None) -> int:
    """The instant of a local time, resolved as java.time does.

    In an overlap (clocks set back) the offset in force before the step is kept when it is one of
    the two candidates, else the earlier one; in a gap (clocks set forward) the time moves forward
    by the length of the gap, which is what fold=0 yields for a nonexistent local time.
    """
    chosen = wall.replace(tzinfo=zone, fold=0)
    if prefer is not None:
        other = wall.replace(tzinfo=zone, fold=1)
        if other.utcoffset() == prefer != chosen.utcoffset() and _exists(other):
            chosen = other
    return (chosen - _EPOCH) // _MS


def _exists(local: datetime) -> bool:
    return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) == local.replace(
        tzinfo=None
    )


__all__ = [
    "DateMathParseError",
    "calendar_bucket",
    "next_calendar_bucket",
    "parse_interval",
    "resolve_date_math",
    "resolve_time_zone",
    "zone_offset_ms",
]
