"""How aggregation values print: Java doubles and ES's ``DocValueFormat``s.  [no I/O]

Elasticsearch computes metrics as Java doubles and renders them with Jackson, so a response
shows ``100.0`` for a whole number, ``1.0E7`` in a range key, and ``"NaN"``/``"Infinity"`` as
strings. Keys and values of dates, booleans and ``format``-ted numbers also get a
``*_as_string`` twin rendered by a format: :class:`DateFormat` (the field's or aggregation's date
format, on the wall clock of ``time_zone``), :class:`BooleanFormat`, or :class:`DecimalFormat`
(a subset of Java's ``DecimalFormat`` patterns). :data:`RAW` means "no string twin".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, ClassVar

from isthmus.index.dates import DEFAULT_DATE_FORMAT, format_date
from isthmus.search.datemath import resolve_date_math, resolve_time_zone, zone_offset_ms

# --- numbers as Elasticsearch prints them -------------------------------------------------------


def json_double(value: float) -> float | str:
    """A Java double in a response: finite values as numbers, others as Jackson's strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def java_double_str(value: float) -> str:
    """``Double.toString``: ``100.0``, ``0.001``, ``1.0E7``, ``1.0E-4``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(float(value))
        return text if "." in text else text + ".0"
    # Java switches to computerized scientific notation outside [1e-3, 1e7), keeping the
    # shortest digits that round-trip (which is also what repr() chooses).
    _, digit_tuple, exponent = Decimal(repr(abs(float(value)))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    power = len(digit_tuple) + exponent - 1
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{power}"


# --- formats of *_as_string outputs -------------------------------------------------------------


class DocFormat:
    """ES ``DocValueFormat``: how a key or metric value is rendered as a string (RAW: never)."""

    raw: ClassVar[bool] = False

    def format(self, value: Any) -> str:
        return str(value)


class RawFormat(DocFormat):
    raw = True


RAW = RawFormat()


class BooleanFormat(DocFormat):
    def format(self, value: Any) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class DateFormat(DocFormat):
    pattern: str = DEFAULT_DATE_FORMAT
    time_zone: str | None = None

    def format(self, value: Any) -> str:
        return format_in_zone(int(value), self.pattern, self.time_zone)

    def parse(self, value: Any, now_ms: int, *, round_up: bool = False) -> int:
        return resolve_date_math(
            value if isinstance(value, int | float | str) else str(value),
            now_ms=now_ms,
            fmt=self.pattern,
            round_up=round_up,
            time_zone=self.time_zone,
        )


@dataclass(frozen=True)
class DecimalFormat(DocFormat):
    """A subset of Java's ``DecimalFormat`` patterns: ``0.00``, ``#,##0.0#``, literal affixes."""

    pattern: str = "0"

    def format(self, value: Any) -> str:
        body_chars = "#0,."
        start = next((i for i, c in enumerate(self.pattern) if c in body_chars), 0)
        end = len(self.pattern)
        while end > start and self.pattern[end - 1] not in body_chars:
            end -= 1
        prefix, body, suffix = self.pattern[:start], self.pattern[start:end], self.pattern[end:]
        int_part, _, frac_part = body.partition(".")
        min_int = int_part.count("0")
        grouping = len(int_part) - int_part.rindex(",") - 1 if "," in int_part else 0
        min_frac = frac_part.count("0")
        max_frac = min_frac + frac_part.count("#")
        number = Decimal(float(value)).quantize(Decimal(1).scaleb(-max_frac), ROUND_HALF_EVEN)
        sign = "-" if number < 0 else ""
        whole, _, frac = f"{abs(number):f}".partition(".")
        frac = frac.rstrip("0").ljust(min_frac, "0")
        whole = whole.lstrip("0").rjust(min_int, "0")
        if grouping:
            groups: list[str] = []
            while len(whole) > grouping:
                groups.insert(0, whole[-grouping:])
                whole = whole[:-grouping]
            whole = ",".join([whole, *groups]) if whole else ",".join(groups)
        text = whole + ("." + frac if frac else "")
        return f"{prefix}{sign}{text or '0'}{suffix}"


def format_in_zone(millis: int, fmt: str, time_zone: str | None) -> str:
    """``format_date`` on the wall clock of ``time_zone``; ISO output carries the offset."""
    if time_zone is None:
        return format_date(millis, fmt)
    first = fmt.split("||")[0].strip()
    if first in ("epoch_millis", "epoch_second"):
        return format_date(millis, fmt)
    offset_ms = zone_offset_ms(millis, resolve_time_zone(time_zone))
    text = format_date(millis + offset_ms, fmt)
    if text.endswith("Z") and offset_ms:
        minutes = offset_ms // 60_000
        sign = "+" if minutes >= 0 else "-"
        text = text[:-1] + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return text


__all__ = [
    "RAW",
    "BooleanFormat",
    "DateFormat",
    "DecimalFormat",
    "DocFormat",
    "RawFormat",
    "format_in_zone",
    "java_double_str",
    "json_double",
]
