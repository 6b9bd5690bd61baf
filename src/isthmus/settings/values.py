"""Parsers for setting values: time values, byte sizes, booleans, ports.  [no I/O]

Each parser takes the raw value (string from YAML/-E/REST, or a YAML scalar) and returns the
typed value or raises :class:`InvalidValue` (a ``ValueError``, and a 400 when it reaches a
client). Pass ``key`` to name the setting or URL parameter in the message; without it the
settings registry fills the name in, and any other caller that lets the error through shows a
message about the value alone — never an unfilled ``{key}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from isthmus.errors import InvalidValue

_TIME_UNITS = {
    "nanos": 1e-6,
    "micros": 1e-3,
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
}
_BYTE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}


@dataclass(frozen=True, slots=True)
class TimeValue:
    """A duration as ES writes it (``30s``); ``millis == -1`` means disabled."""

    millis: int
    text: str

    @property
    def seconds(self) -> float:
        return self.millis / 1000

    def __str__(self) -> str:
        return self.text


def human_time(millis: int) -> str:
    """A duration as ES's ``TimeValue.toString()`` prints it: the largest unit, one decimal."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if abs(millis) >= size:
            text = f"{millis / size:.1f}".removesuffix(".0")
            return f"{text}{unit}"
    return f"{millis}ms"


# Java's Long.MAX_VALUE: ES keeps time values and byte sizes in longs.
_LONG_MAX = 2**63 - 1


def parse_time(raw: object, key: str | None = None) -> TimeValue:
    text = str(raw).strip()
    if text in ("-1", "0"):
        return TimeValue(int(text), text)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(nanos|micros|ms|s|m|h|d)", text.lower())
    if m is None or isinstance(raw, dict | list):
        raise InvalidValue(
            f"failed to parse setting [{{key}}] with value [{text}] as a time value: "
            "unit is missing or unrecognized",
            key,
        )
    exact = float(m.group(1)) * _TIME_UNITS[m.group(2)]  # inf for hundreds of digits
    millis = int(exact) if exact <= _LONG_MAX else _LONG_MAX + 1
    if millis > _LONG_MAX:
        raise InvalidValue(
            f"failed to parse setting [{{key}}] with value [{text}] as a time value: "
            "value is out of range",
            key,
        )
    return TimeValue(millis, text)


def parse_bytes(raw: object, key: str | None = None) -> int:
    text = str(raw).strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|pb|k|m|g|t|p)?", text)
    if m is None or isinstance(raw, dict | list):
        raise InvalidValue(
            f"failed to parse setting [{{key}}] with value [{raw}] as a size in bytes: "
            "unit is missing or unrecognized",
            key,
        )
    unit = m.group(2) or "b"
    if len(unit) == 1 and unit != "b":
        unit += "b"
    return int(float(m.group(1)) * _BYTE_UNITS[unit])


def parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw)
    if text == "true":
        return True
    if text == "false":
        return False
    raise InvalidValue(f"Failed to parse value [{text}] as only [true] or [false] are allowed.")


def parse_flag(value: str | None, default: bool) -> bool:
    """A boolean URL parameter: absent → ``default``; present and empty (``?pretty``) → true."""
    if value is None:
        return default
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    raise InvalidValue(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")


def parse_int(raw: object, key: str | None = None) -> int:
    if isinstance(raw, bool | dict | list):
        raise InvalidValue(f"Failed to parse value [{raw}] for setting [{{key}}]", key)
    try:
        return int(str(raw))
    except ValueError:
        raise InvalidValue(f"Failed to parse value [{raw}] for setting [{{key}}]", key) from None


def parse_port_range(raw: object) -> tuple[int, int]:
    """``9200`` or ``9200-9300``; a single port still allows no fallback."""
    text = str(raw).strip()
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if m is None:
        raise InvalidValue(f"Failed to parse value [{text}] for setting [{{key}}]")
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if not (0 <= lo <= hi <= 65535):
        raise InvalidValue(f"Failed to parse value [{text}] for setting [{{key}}]")
    return lo, hi


def parse_str(raw: object) -> str:
    if isinstance(raw, list | dict):
        raise InvalidValue(f"Failed to parse value [{raw}] for setting [{{key}}]")
    return "true" if raw is True else "false" if raw is False else str(raw)


def parse_str_list(raw: object) -> tuple[str, ...]:
    if isinstance(raw, list | tuple):
        return tuple(str(v) for v in raw)
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return tuple(p.strip() for p in text.split(",") if p.strip())


# Log4j's level names as ES accepts them for ``logger.<name>`` (case-insensitive). ``OFF`` and
# ``ALL`` are refused until the logging side maps them.
LOG_LEVELS = ("FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE")


def parse_log_level(raw: object) -> str:
    """A ``logger.<name>`` value; ES's message (Log4j's ``Level.valueOf``) otherwise."""
    text = raw if isinstance(raw, str) else None
    if text is None or text.upper() not in LOG_LEVELS:
        raise InvalidValue(f"Unknown level constant [{str(raw).upper()}].")
    return text.upper()
