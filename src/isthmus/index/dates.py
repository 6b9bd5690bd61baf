"""Date parsing and formatting with Elasticsearch's format names.  [no I/O]

Dates are held as epoch milliseconds (int, UTC) everywhere inside Isthmus. This module owns the
conversion from the formats a mapping names (``strict_date_optional_time``, ``epoch_millis``,
``yyyy-MM-dd`` style patterns, ``||`` alternatives) and back.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

DEFAULT_DATE_FORMAT = "strict_date_optional_time||epoch_millis"
DYNAMIC_DATE_FORMATS = ("strict_date_optional_time", "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd")

_ISO = re.compile(
    r"^(?P<y>[+-]?\d{4,9})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:[Tt](?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?)?)?$"
)

# Java-style pattern letters we understand, mapped to regex pieces and group names.
_PATTERN_TOKENS: list[tuple[str, str, str]] = [
    ("yyyy", r"(?P<y>\d{4})", "y"),
    ("uuuu", r"(?P<y>\d{4})", "y"),
    ("MM", r"(?P<mo>\d{2})", "mo"),
    ("dd", r"(?P<d>\d{2})", "d"),
    ("HH", r"(?P<h>\d{2})", "h"),
    ("mm", r"(?P<mi>\d{2})", "mi"),
    ("ss", r"(?P<s>\d{2})", "s"),
    ("SSS", r"(?P<f>\d{3})", "f"),
]


class DateParseError(ValueError):
    """The value does not match the format; the message is ES's."""


def _tz(text: str | None) -> timezone:
    if not text or text in ("Z", "z"):
        return UTC
    sign = 1 if text[0] == "+" else -1
    digits = text[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) > 2 else 0
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _exact_millis(dt: datetime) -> int:
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


# ES's ISO-8601 format names, all read by the one ISO parser here.
ISO_FORMATS = frozenset(
    {
        "strict_date_optional_time",
        "date_optional_time",
        "strict_date_time",
        "date_time",
        "strict_date",
        "date",
        "iso8601",
        "strict_date_optional_time_nanos",
    }
)


def _parse_one(value: str, fmt: str) -> int:
    fmt = fmt.strip()
    if fmt in ISO_FORMATS:
        m = _ISO.match(value)
        if m is None:
            raise DateParseError(value)
        return _exact_millis_from_parts(m.groupdict())
    if fmt == "epoch_millis":
        try:
            return int(float(value))
        except ValueError:
            raise DateParseError(value) from None
    if fmt == "epoch_second":
        try:
            return int(float(value) * 1000)
        except ValueError:
            raise DateParseError(value) from None
    return _exact_millis_from_parts(_match_pattern(value, fmt))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _iso_fast(value: str) -> int | None:
    """The common ISO-8601 case through the C parser; None sends it the long way."""
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _MS


def _exact_millis_from_parts(parts: dict[str, str | None]) -> int:
    try:
        frac = parts.get("f") or "0"
        micro = int((frac + "000000")[:6])
        dt = datetime(
            int(parts["y"] or 0),
            int(parts.get("mo") or 1),
            int(parts.get("d") or 1),
            int(parts.get("h") or 0),
            int(parts.get("mi") or 0),
            int(parts.get("s") or 0),
            micro,
            tzinfo=_tz(parts.get("tz")),
        )
    except (ValueError, OverflowError) as exc:
        raise DateParseError(str(exc)) from None
    return _exact_millis(dt)


def _match_pattern(value: str, fmt: str) -> dict[str, str | None]:
    regex = ""
    used: set[str] = set()
    i = 0
    while i < len(fmt):
        for token, piece, name in _PATTERN_TOKENS:
            if fmt.startswith(token, i):
                # A field the format repeats ("yyyyyyyy") is matched again but read once.
                regex += piece.replace(f"(?P<{name}>", "(?:") if name in used else piece
                used.add(name)
                i += len(token)
                break
        else:
            ch = fmt[i]
            if ch == "'":
                end = fmt.find("'", i + 1)
                if end < 0:  # an unclosed literal: the value cannot match such a format
                    raise DateParseError(value)
                regex += re.escape(fmt[i + 1 : end])
                i = end + 1
            else:
                regex += re.escape(ch)
                i += 1
    m = re.fullmatch(regex, value)
    if m is None:
        raise DateParseError(value)
    return m.groupdict()


# A date is a Java long of milliseconds in ES: anything outside cannot be stored or compared.
_MILLIS_MIN, _MILLIS_MAX = -(2**63), 2**63 - 1


def parse_date(value: object, fmt: str = DEFAULT_DATE_FORMAT) -> int:
    """Parse ``value`` with an ES format (``a||b`` tries each) into epoch milliseconds."""
    try:
        millis = _parse_date(value, fmt)
    except (OverflowError, ValueError) as exc:
        if isinstance(exc, DateParseError):
            raise
        raise DateParseError(f"failed to parse date field [{value}] with format [{fmt}]") from None
    if not _MILLIS_MIN <= millis <= _MILLIS_MAX:
        raise DateParseError(f"failed to parse date field [{value}] with format [{fmt}]")
    return millis


def _parse_date(value: object, fmt: str) -> int:
    if isinstance(value, bool):
        raise DateParseError(str(value))
    if isinstance(value, int | float):
        # A number is read by the first epoch format the field names (ES tries them in order).
        epochs = [f.strip() for f in fmt.split("||") if f.strip().startswith("epoch_")]
        if epochs and epochs[0] == "epoch_second":
            return int(value * 1000)
        return int(value)
    if not isinstance(value, str):
        raise DateParseError(str(value))
    if (
        fmt.startswith("strict_date_optional_time")
        and len(value) >= 10
        and value[4] == "-"
        and (len(value) == 10 or value[10] == "T")
    ):
        fast = _iso_fast(value)
        if fast is not None:
            return fast
    for one in fmt.split("||"):
        try:
            return _parse_one(value, one)
        except DateParseError:
            continue
    raise DateParseError(f"failed to parse date field [{value}] with format [{fmt}]")


def looks_like_date(value: str) -> bool:
    """Dynamic date detection as ES does it with the default ``dynamic_date_formats``."""
    if not value or not value[0].isdigit():
        return False
    for fmt in DYNAMIC_DATE_FORMATS:
        try:
            parse_date(value, fmt)
            return True
        except DateParseError:
            continue
    return False


def _civil(millis: int) -> tuple[int, int, int, int, int, int, int]:
    """(year, month, day, hour, minute, second, milli) of epoch milliseconds, in the proleptic
    Gregorian calendar, for any long (Python's datetime stops at year 9999; ES dates do not)."""
    days, rem = divmod(millis, 86_400_000)
    # Days to civil date (H. Hinnant's algorithm), eras of 400 years from 0000-03-01.
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    hour, rem = divmod(rem, 3_600_000)
    minute, rem = divmod(rem, 60_000)
    second, milli = divmod(rem, 1000)
    return year, month, day, hour, minute, second, milli


def _year(year: int) -> str:
    # java.time prints years beyond four digits with a sign, and years before 0 with a minus.
    return f"{year:04d}" if 0 <= year <= 9999 else f"{year:+05d}"


def format_iso(millis: int) -> str:
    """ES's ``strict_date_optional_time`` output, e.g. ``2024-01-02T03:04:05.000Z``."""
    year, month, day, hour, minute, second, milli = _civil(millis)
    return f"{_year(year)}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


def format_date(millis: int, fmt: str = DEFAULT_DATE_FORMAT) -> str:
    """Format epoch milliseconds with the first format of ``fmt`` (what ES shows as key_as_string)."""
    first = fmt.split("||")[0].strip()
    if first == "epoch_millis":
        return str(millis)
    if first == "epoch_second":
        return str(millis // 1000)
    if first in (
        "strict_date_optional_time",
        "date_optional_time",
        "strict_date_time",
        "date_time",
        "iso8601",
        "strict_date_optional_time_nanos",
    ):
        return format_iso(millis)
    year, month, day, hour, minute, second, milli = _civil(millis)
    out = first
    for token, text in (
        ("yyyy", _year(year)),
        ("uuuu", _year(year)),
        ("MM", f"{month:02d}"),
        ("dd", f"{day:02d}"),
        ("HH", f"{hour:02d}"),
        ("mm", f"{minute:02d}"),
        ("ss", f"{second:02d}"),
    ):
        out = out.replace(token, text)
    out = out.replace("SSS", f"{milli:03d}").replace("'", "")
    return out


__all__ = [
    "DEFAULT_DATE_FORMAT",
    "DateParseError",
    "format_date",
    "format_iso",
    "looks_like_date",
    "parse_date",
]
