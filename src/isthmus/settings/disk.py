"""ES's disk threshold settings: watermark values, their validation and declarations.  [no I/O]

ES's ``DiskThresholdSettings`` rules, as values:

* A watermark is a percentage (or ratio) of the disk *used* (``85%``, ``0.85``), or an absolute
  byte size of disk that must stay *free* (``500mb``). The three must be of one kind, ordered
  low <= high <= flood stage for percentages and low >= high >= flood stage for free bytes.
* With percentages left at their defaults, each stage's required free space is capped by its
  ``max_headroom`` (200gb, 150gb, 100gb), so large disks are not held to 15 % free.
* ``cluster.info.update.interval`` (30s, at least 10s) paces the disk monitor.

Errors carry ES's messages, for ``PUT _cluster/settings`` (wrapped as ES wraps them: "illegal
value can't update [key] from [old] to [new]") and for ``isthmus.yml`` at startup.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from isthmus.errors import SettingsError
from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting

PREFIX = "cluster.routing.allocation.disk."
ENABLED = PREFIX + "threshold_enabled"
LOW = PREFIX + "watermark.low"
HIGH = PREFIX + "watermark.high"
FLOOD = PREFIX + "watermark.flood_stage"
HEADROOMS = {
    LOW: LOW + ".max_headroom",
    HIGH: HIGH + ".max_headroom",
    FLOOD: FLOOD + ".max_headroom",
}
REROUTE_INTERVAL = PREFIX + "reroute_interval"
UPDATE_INTERVAL = "cluster.info.update.interval"

_GB = 1024**3
_DEFAULT_PERCENT = {LOW: "85%", HIGH: "90%", FLOOD: "95%"}
_DEFAULT_HEADROOM = {LOW: 200 * _GB, HIGH: 150 * _GB, FLOOD: 100 * _GB}
_LONG_MAX = 2**63 - 1
_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


# --- values ---------------------------------------------------------------------------------


def _percent_text(percent: float) -> str:
    text = f"{round(percent, 10):.10f}".rstrip("0").rstrip(".")
    return f"{text}%"


@dataclass(frozen=True, slots=True)
class ByteSize:
    """ES's ``ByteSizeValue`` as a setting holds it: bytes, and the text ES echoes (``500mb``)."""

    bytes: int
    text: str


def parse_byte_size(raw: object, key: str) -> ByteSize:
    text = str(raw).strip().lower()
    if text in ("-1", "0"):
        return ByteSize(int(text), text if text == "-1" else "0b")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmgtp])b?", text)
    if m is None or (m.group(2) == "b" and text.endswith("bb")):
        raise ValueError(
            f"failed to parse setting [{key}] with value [{raw}] as a size in bytes: "
            "unit is missing or unrecognized"
        )
    number, unit = m.group(1), m.group(2)
    exact = float(number) * _UNITS[unit]
    if exact > _LONG_MAX:  # ES's bytes are a Java long
        raise SizeTooLarge(f"Values greater than {_LONG_MAX} bytes are not supported: {text}")
    if "." in number:  # ES keeps fractional sizes as plain bytes
        size = int(exact)
        return ByteSize(size, f"{size}b")
    return ByteSize(int(number) * _UNITS[unit], f"{int(number)}{unit if unit != 'b' else ''}b")


class SizeTooLarge(ValueError):
    """A byte size over ``Long.MAX_VALUE``: ES reports it as such, not as unparseable."""


@dataclass(frozen=True, slots=True)
class Watermark:
    """ES's ``RelativeByteSizeValue``: a used-disk percentage, or an absolute free-bytes size."""

    percent: float | None  # of the disk used
    free: ByteSize | None  # bytes that must stay free

    @property
    def is_absolute(self) -> bool:
        return self.free is not None

    @property
    def text(self) -> str:
        if self.free is not None:
            return self.free.text
        assert self.percent is not None
        return _percent_text(self.percent)

    def used_limit(self, total: int, headroom: int) -> int:
        """Bytes that may be used before this watermark is passed (ES's ``calculateValue``)."""
        if self.free is not None:
            return self.free.bytes
        assert self.percent is not None
        used = math.ceil(self.percent / 100 * total)
        return max(used, total - headroom) if headroom != -1 else used

    def free_threshold(self, total: int, headroom: int) -> int:
        """The free bytes below which this watermark is exceeded."""
        if self.free is not None:
            return self.free.bytes
        return total - self.used_limit(total, headroom)


def parse_watermark(raw: object, key: str) -> Watermark:
    """``85%``, ``0.85`` or ``500mb`` (ES's ``parseRelativeByteSizeValue``, with its message)."""
    text = str(raw).strip()
    if not text.endswith("b"):
        percent: float | None = None
        try:
            if text.endswith("%"):
                percent = float(text[:-1])
                percent = abs(percent) if 0 <= percent <= 100 else None  # "-0%" is 0%
            else:
                ratio = float(text)
                percent = ratio * 100 if 0 <= ratio <= 1 else None
        except ValueError:
            percent = None
        if percent is not None and math.isfinite(percent):
            if percent != 0 or text.endswith("%"):
                return Watermark(percent, None)
            return Watermark(None, ByteSize(0, "0b"))
    try:
        size = parse_byte_size(text, key)
    except SizeTooLarge:
        raise
    except ValueError:
        size = None
    if size is None or size.bytes < 0:
        raise ValueError(f"unable to parse [{key}={text}] as either percentage or bytes")
    return Watermark(None, size)


def _watermark_parser(key: str) -> Any:
    return lambda raw: parse_watermark(raw, key)


def _headroom_parser(key: str) -> Any:
    return lambda raw: parse_byte_size(raw, key)


def _min_interval(value: v.TimeValue) -> None:
    if value.millis < 10_000:
        raise ValueError(
            f"failed to parse value [{value.text}] for setting [{UPDATE_INTERVAL}], must be >= [10s]"
        )


# The dynamic cluster settings, declared once (gathered by isthmus.settings.catalog).
DISK_SETTINGS: tuple[Setting, ...] = (
    *(
        s
        for key in (LOW, HIGH, FLOOD)
        for s in (
            Setting(key, _watermark_parser(key), _DEFAULT_PERCENT[key], Scope.CLUSTER, True),
            Setting(HEADROOMS[key], _headroom_parser(HEADROOMS[key]), None, Scope.CLUSTER, True),
        )
    ),
    Setting(ENABLED, v.parse_bool, True, Scope.CLUSTER, dynamic=True),
    Setting(REROUTE_INTERVAL, v.parse_time, v.TimeValue(60_000, "60s"), Scope.CLUSTER, True),
    Setting(
        UPDATE_INTERVAL,
        v.parse_time,
        v.TimeValue(30_000, "30s"),
        Scope.CLUSTER,
        dynamic=True,
        validator=_min_interval,
    ),
)


# --- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskThresholds:
    """The disk threshold settings in force, parsed and validated together."""

    enabled: bool = True
    low: Watermark = Watermark(85.0, None)
    high: Watermark = Watermark(90.0, None)
    flood: Watermark = Watermark(95.0, None)
    # -1: no cap. Defaults apply only while no watermark is set explicitly (ES's rule).
    headrooms: tuple[int, int, int] = (200 * _GB, 150 * _GB, 100 * _GB)
    update_interval_s: float = 30.0
    reroute_interval_s: float = 60.0

    @classmethod
    def from_settings(cls, flat: Mapping[str, Any]) -> DiskThresholds:
        """Parse the effective settings; raises :class:`SettingsError` with ES's messages."""
        try:
            marks = [
                parse_watermark(flat.get(k, _DEFAULT_PERCENT[k]), k) for k in (LOW, HIGH, FLOOD)
            ]
            explicit = any(flat.get(k) is not None for k in (LOW, HIGH, FLOOD))
            headrooms = []
            for key in (LOW, HIGH, FLOOD):
                raw = flat.get(HEADROOMS[key])
                if raw is None:
                    headrooms.append(-1 if explicit else _DEFAULT_HEADROOM[key])
                else:
                    headrooms.append(parse_byte_size(raw, HEADROOMS[key]).bytes)
            enabled = v.parse_bool(flat.get(ENABLED, True))
            interval = v.parse_time(flat.get(UPDATE_INTERVAL, "30s"), UPDATE_INTERVAL)
            _min_interval(interval)
            reroute = v.parse_time(flat.get(REROUTE_INTERVAL, "60s"), REROUTE_INTERVAL)
        except SettingsError:
            raise
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        validate_watermarks(*marks)
        low, high, flood = marks
        if low.is_absolute and any(h != -1 for h in headrooms):
            raise SettingsError(
                "At least one of the disk max headroom settings is set "
                f"[low={_headroom_text(headrooms[0])}, high={_headroom_text(headrooms[1])}, "
                f"flood={_headroom_text(headrooms[2])}], while the disk watermark values are set "
                "to absolute values instead of ratios/percentages, e.g., the low watermark is "
                f"[{low.text}]"
            )
        return cls(
            enabled,
            low,
            high,
            flood,
            (headrooms[0], headrooms[1], headrooms[2]),
            interval.millis / 1000,
            reroute.millis / 1000,
        )

    def free_thresholds(self, total: int) -> tuple[int, int, int]:
        """Free bytes below which the low, high and flood-stage watermarks are exceeded."""
        return (
            self.low.free_threshold(total, self.headrooms[0]),
            self.high.free_threshold(total, self.headrooms[1]),
            self.flood.free_threshold(total, self.headrooms[2]),
        )

    def describe(self, stage: Stage, total: int) -> str:
        """The watermark as ES names it in a log line (``95%``, ``500mb``, ``max_headroom=..``)."""
        mark = {Stage.LOW: self.low, Stage.HIGH: self.high, Stage.FLOOD: self.flood}[stage]
        headroom = self.headrooms[int(stage) - 1]
        if mark.is_absolute or mark.used_limit(total, headroom) == mark.used_limit(total, -1):
            return mark.text
        return f"max_headroom={format_bytes(headroom)}"


def _headroom_text(value: int) -> str:
    return "-1" if value == -1 else format_bytes(value)


def validate_watermarks(low: Watermark, high: Watermark, flood: Watermark) -> None:
    """ES's WatermarkValidator: one kind for all three, in order."""
    if low.percent is not None and high.percent is not None and flood.percent is not None:
        if low.percent > high.percent:
            raise SettingsError(
                f"low disk watermark [{low.text}] more than high disk watermark [{high.text}]"
            )
        if high.percent > flood.percent:
            raise SettingsError(
                f"high disk watermark [{high.text}] more than flood stage disk watermark "
                f"[{flood.text}]"
            )
    elif low.free is not None and high.free is not None and flood.free is not None:
        if low.free.bytes < high.free.bytes:
            raise SettingsError(
                f"low disk watermark [{low.text}] less than high disk watermark [{high.text}]"
            )
        if high.free.bytes < flood.free.bytes:
            raise SettingsError(
                f"high disk watermark [{high.text}] less than flood stage disk watermark "
                f"[{flood.text}]"
            )
    else:
        raise SettingsError(
            f"unable to consistently parse [{LOW}={low.text}], [{HIGH}={high.text}], and "
            f"[{FLOOD}={flood.text}] as percentage or bytes"
        )


def validate_update(previous: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """A dynamic update of the disk settings, refused as ES refuses it: the first changed key,
    its old and new value, and the validator's reason beneath."""
    try:
        DiskThresholds.from_settings(current)
    except SettingsError as exc:
        changed = [
            k for k in (LOW, HIGH, FLOOD, *HEADROOMS.values()) if previous.get(k) != current.get(k)
        ]
        if not changed:
            raise
        key = changed[0]
        old = previous.get(key, _DEFAULT_PERCENT.get(key, "-1"))
        raise SettingsError(
            f"illegal value can't update [{key}] from [{old}] to [{current.get(key)}]",
            caused_by=SettingsError(exc.reason),
        ) from None


class Stage(IntEnum):
    NONE = 0
    LOW = 1
    HIGH = 2
    FLOOD = 3


# --- rendering like ES ------------------------------------------------------------------------


def format_bytes(size: int) -> str:
    """ES's ``ByteSizeValue.toString``: the largest unit, one decimal truncated (``39.7gb``)."""
    for suffix, factor in (("pb", 1024**5), ("tb", 1024**4), ("gb", 1024**3), ("mb", 1024**2)):
        if abs(size) >= factor:
            return one_decimal(size / factor, suffix)
    if abs(size) >= 1024:
        return one_decimal(size / 1024, "kb")
    return f"{size}b"


def one_decimal(value: float, suffix: str) -> str:
    """ES's ``Strings.format1Decimals``: one decimal, truncated, dropped when zero."""
    whole, _, frac = repr(float(value)).partition(".")
    digit = frac[:1] if frac[:1].isdigit() else "0"
    return f"{whole}{suffix}" if digit == "0" else f"{whole}.{digit}{suffix}"
