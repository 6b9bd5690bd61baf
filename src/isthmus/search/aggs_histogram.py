"""Histogram bucket aggregations: ``histogram`` and ``date_histogram``.  [no I/O]

Both round every value down to a bucket key with a :class:`Rounding` and count each document
once per key it has a value in. The final step (``to_json``) fills the empty buckets between the
first and last key, widened by ``extended_bounds``, when ``min_doc_count`` is 0 (the default),
so a merge of partial results fills exactly like one shard would.

Roundings:

* numeric ``interval``/``offset``: ``floor((v - offset) / interval) * interval + offset``;
* ``fixed_interval`` (``30s``, ``1h``, ``7d``): fixed-length buckets on the wall clock of
  ``time_zone`` (so ``1d`` buckets start at local midnight), shifted by ``offset``;
* ``calendar_interval`` (``day``, ``1M``, ``quarter``, ...): calendar units on that wall clock,
  via :mod:`isthmus.search.datemath`. The legacy ``interval`` picks calendar rounding when its
  value is a calendar unit and fixed rounding otherwise.

``hard_bounds`` drops buckets whose key falls outside it and caps ``extended_bounds``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from isthmus.errors import IllegalArgumentError, ParsingError, TooManyBucketsError
from isthmus.search.aggs_bucket import KEY_ASC, Bucket, BucketOrder, merge_buckets, parse_order
from isthmus.search.aggs_core import (
    VALUES_SOURCE_PARAMS,
    Agg,
    AggContext,
    AggDoc,
    AggResult,
    AggsSpec,
    FieldRef,
    Params,
    resolve_source,
)
from isthmus.search.aggs_format import DateFormat, DocFormat, java_double_str
from isthmus.search.datemath import (
    calendar_bucket,
    next_calendar_bucket,
    parse_interval,
    resolve_time_zone,
    zone_offset_ms,
)

# ES's search.max_buckets default: a histogram that would fill more buckets is refused.
MAX_BUCKETS = 65_536
_CALENDAR_NAMES = frozenset(
    {"minute", "1m", "hour", "1h", "day", "1d", "week", "1w", "month", "1M", "quarter", "1q",
     "year", "1y"}
)  # fmt: skip


class Rounding(ABC):
    @abstractmethod
    def round(self, value: float) -> float:
        """The key of the bucket holding ``value``."""

    @abstractmethod
    def next(self, key: float) -> float:
        """The key of the bucket after the one keyed ``key``."""


@dataclass(frozen=True)
class NumericRounding(Rounding):
    interval: float
    offset: float = 0.0

    def _index(self, value: float) -> int:
        position = (value - self.offset) / self.interval
        if not math.isfinite(position):
            # An interval so small (or values so large) that the bucket number is no number.
            raise IllegalArgumentError(
                f"Trying to create too many buckets. Must be less than or equal to: "
                f"[{MAX_BUCKETS}]. The histogram interval is too small for the values."
            )
        return math.floor(position)

    def round(self, value: float) -> float:
        return self._index(value) * self.interval + self.offset

    def next(self, key: float) -> float:
        # Step by bucket index, not by adding intervals, so float error does not accumulate.
        index = round((key - self.offset) / self.interval)
        return (index + 1) * self.interval + self.offset


def _zone_offset_ms(ms: int, time_zone: str | None) -> int:
    if time_zone is None:
        return 0
    return zone_offset_ms(ms, resolve_time_zone(time_zone))


def _local_to_utc(local_ms: int, time_zone: str | None) -> int:
    """The instant whose wall clock in ``time_zone`` reads ``local_ms`` (earlier one on overlap)."""
    if time_zone is None:
        return local_ms
    guess = local_ms - _zone_offset_ms(local_ms, time_zone)
    return local_ms - _zone_offset_ms(guess, time_zone)


@dataclass(frozen=True)
class FixedRounding(Rounding):
    interval: int
    offset: int = 0
    time_zone: str | None = None

    def round(self, value: float) -> float:
        ms = int(value)
        local = ms + _zone_offset_ms(ms, self.time_zone)
        key_local = (local - self.offset) // self.interval * self.interval + self.offset
        return _local_to_utc(key_local, self.time_zone)

    def next(self, key: float) -> float:
        ms = int(key)
        local = ms + _zone_offset_ms(ms, self.time_zone) + self.interval
        return _local_to_utc(local, self.time_zone)


@dataclass(frozen=True)
class CalendarRounding(Rounding):
    unit: str
    offset: int = 0
    time_zone: str | None = None

    def round(self, value: float) -> float:
        return calendar_bucket(int(value) - self.offset, self.unit, self.time_zone) + self.offset

    def next(self, key: float) -> float:
        start = int(key) - self.offset
        return next_calendar_bucket(start, self.unit, self.time_zone) + self.offset


@dataclass(frozen=True)
class Bounds:
    low: float | None
    high: float | None

    def contains(self, key: float) -> bool:
        return (self.low is None or key >= self.low) and (self.high is None or key <= self.high)


@dataclass
class HistogramResult(AggResult):
    buckets: list[Bucket]
    rounding: Rounding
    min_doc_count: int
    extended: Bounds | None
    hard: Bounds | None
    keyed: bool
    order: BucketOrder
    fmt: DocFormat
    empty_subs: dict[str, AggResult]
    date_keys: bool

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        parts = [self, *(o for o in others if isinstance(o, HistogramResult))]
        return replace(self, buckets=merge_buckets([p.buckets for p in parts]))

    def _filled(self) -> list[Bucket]:
        by_key = {b.key: b for b in self.buckets}
        if self.min_doc_count > 0:
            return [b for b in by_key.values() if b.doc_count >= self.min_doc_count]
        keys = list(by_key)
        if self.extended is not None:
            for edge in (self.extended.low, self.extended.high):
                if edge is not None:
                    edge_key = self._key(self.rounding.round(edge))
                    if self.hard is None or self.hard.contains(edge_key):
                        keys.append(edge_key)
        if not keys:
            return []
        key, last = min(keys), max(keys)
        while key <= last:
            if key not in by_key:
                by_key[key] = Bucket(key, 0, dict(self.empty_subs))
            if len(by_key) > MAX_BUCKETS:
                raise TooManyBucketsError(MAX_BUCKETS)
            following = self._key(self.rounding.next(key))
            if following <= key:
                # An interval too small for the magnitude of the keys (float precision): the
                # walk would never end. ES refuses such histograms as too many buckets.
                raise IllegalArgumentError(
                    f"Trying to create too many buckets. Must be less than or equal to: "
                    f"[{MAX_BUCKETS}]. The histogram interval is too small for the values."
                )
            key = following
        return list(by_key.values())

    def _key(self, value: float) -> Any:
        return int(value) if self.date_keys else float(value)

    def body(self) -> dict[str, Any]:
        ordered = self.order.sort(self._filled())
        rendered = []
        for b in ordered:
            item: dict[str, Any] = {}
            if not self.fmt.raw:
                item["key_as_string"] = self.fmt.format(b.key)
            item["key"] = b.key
            item["doc_count"] = b.doc_count
            item.update(b.subs_json())
            rendered.append(item)
        if not self.keyed:
            return {"buckets": rendered}
        return {
            "buckets": {
                item.get("key_as_string", java_double_str(item["key"])): item for item in rendered
            }
        }


class HistogramAgg(Agg):
    accepts_subs = True

    def __init__(
        self,
        name: str,
        subs: AggsSpec,
        meta: Mapping[str, Any] | None,
        *,
        type_name: str,
        ref: FieldRef,
        rounding: Rounding,
        min_doc_count: int,
        extended: Bounds | None,
        hard: Bounds | None,
        raw_extended: Mapping[str, Any] | None,
        raw_hard: Mapping[str, Any] | None,
        keyed: bool,
        order: BucketOrder,
        time_zone: str | None,
    ) -> None:
        super().__init__(name, subs, meta)
        self.type_name = type_name
        self.ref = ref
        self.rounding = rounding
        self.min_doc_count = min_doc_count
        self.extended = extended
        self.hard = hard
        self.raw_extended = raw_extended
        self.raw_hard = raw_hard
        self.keyed = keyed
        self.order = order
        self.time_zone = time_zone

    @property
    def is_date(self) -> bool:
        return self.type_name == "date_histogram"

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        src = resolve_source(
            self.ref,
            self.type_name,
            ctx,
            numeric=True,
            allow_dates=self.is_date,
            time_zone=self.time_zone,
        )
        fmt: DocFormat = src.fmt
        extended, hard = self.extended, self.hard
        if self.is_date:
            date_fmt = (
                src.fmt
                if isinstance(src.fmt, DateFormat)
                else DateFormat(
                    self.ref.format or "strict_date_optional_time||epoch_millis", self.time_zone
                )
            )
            fmt = date_fmt
            extended = _date_bounds(self.raw_extended, date_fmt, ctx)
            hard = _date_bounds(self.raw_hard, date_fmt, ctx)
        groups: dict[Any, list[AggDoc]] = {}
        for doc in docs:
            keys = {self._key(self.rounding.round(v)) for v in src.values(doc, ctx)}
            for key in keys:
                if hard is None or hard.contains(key):
                    groups.setdefault(key, []).append(doc)
        ctx.consume_buckets(len(groups))  # search.max_buckets, before the sub-aggregations run
        buckets = [Bucket(k, len(ds), self.subs.collect(ds, ctx)) for k, ds in groups.items()]
        empty_subs = self.subs.collect([], ctx) if self.min_doc_count == 0 else {}
        return self.result(
            HistogramResult(
                buckets=buckets,
                rounding=self.rounding,
                min_doc_count=self.min_doc_count,
                extended=extended,
                hard=hard,
                keyed=self.keyed,
                order=self.order,
                fmt=fmt,
                empty_subs=empty_subs,
                date_keys=self.is_date,
            )
        )

    def _key(self, value: float) -> Any:
        return int(value) if self.is_date else float(value)


def _date_bounds(raw: Mapping[str, Any] | None, fmt: DateFormat, ctx: AggContext) -> Bounds | None:
    if raw is None:
        return None
    low, high = raw.get("min"), raw.get("max")
    return Bounds(
        None if low is None else fmt.parse(low, ctx.now_ms),
        None if high is None else fmt.parse(high, ctx.now_ms),
    )


def _bounds_param(p: Params, key: str, *, numeric: bool) -> Mapping[str, Any] | None:
    raw = p.raw(key)
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or any(k not in ("min", "max") for k in raw):
        raise ParsingError(f"[{p.agg_type}] failed to parse field [{key}]")
    if numeric:
        for edge in ("min", "max"):
            value = raw.get(edge)
            if value is not None and (isinstance(value, bool) or not _is_number(value)):
                raise ParsingError(f"[{p.agg_type}] failed to parse field [{key}]")
    return raw


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _numeric_bounds(raw: Mapping[str, Any] | None, key: str, name: str) -> Bounds | None:
    if raw is None:
        return None
    low = None if raw.get("min") is None else float(raw["min"])
    high = None if raw.get("max") is None else float(raw["max"])
    if low is not None and high is not None and low > high:
        raise IllegalArgumentError(
            f"[{key}.min][{low}] cannot be greater than [{key}.max][{high}] for histogram "
            f"aggregation [{name}]"
        )
    return Bounds(low, high)


def _min_doc_count(p: Params, name: str) -> int:
    value = p.integer("min_doc_count", 0)
    if value < 0:
        raise IllegalArgumentError(
            f"[min_doc_count] must be greater than or equal to 0. Found [{value}] in [{name}]"
        )
    return value


def parse_histogram(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    interval = p.number("interval", None)
    if interval is None or interval <= 0:
        raise IllegalArgumentError(f"[interval] must be >0 for histogram aggregation [{name}]")
    offset = p.number("offset", 0.0) or 0.0
    raw_extended = _bounds_param(p, "extended_bounds", numeric=True)
    raw_hard = _bounds_param(p, "hard_bounds", numeric=True)
    return HistogramAgg(
        name,
        subs,
        meta,
        type_name="histogram",
        ref=p.field_ref(),
        rounding=NumericRounding(interval, offset),
        min_doc_count=_min_doc_count(p, name),
        extended=_numeric_bounds(raw_extended, "extended_bounds", name),
        hard=_numeric_bounds(raw_hard, "hard_bounds", name),
        raw_extended=None,
        raw_hard=None,
        keyed=p.flag("keyed", False),
        order=parse_order(p.raw("order"), "histogram", subs, KEY_ASC),
        time_zone=None,
    )


def _offset_ms(p: Params) -> int:
    raw = p.raw("offset", 0)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return int(raw)
    text = str(raw).strip()
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    return sign * parse_interval(body, "date_histogram.offset") if body else 0


def parse_date_histogram(
    name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None
) -> Agg:
    calendar, fixed, legacy = (
        p.string("calendar_interval"),
        p.string("fixed_interval"),
        p.string("interval"),
    )
    if calendar is not None and fixed is not None:
        raise IllegalArgumentError(
            "Cannot use [fixed_interval] with [calendar_interval] configuration option."
        )
    if legacy is not None and (calendar is not None or fixed is not None):
        which = "calendar_interval" if calendar is not None else "fixed_interval"
        raise IllegalArgumentError(f"Cannot use [interval] with [{which}] configuration option.")
    if legacy is not None:
        calendar, fixed = (legacy, None) if legacy in _CALENDAR_NAMES else (None, legacy)
    time_zone = p.string("time_zone")
    if time_zone is not None:
        resolve_time_zone(time_zone)  # reject an unknown zone while parsing
    offset = _offset_ms(p)
    rounding: Rounding
    if calendar is not None:
        if calendar not in _CALENDAR_NAMES:
            raise IllegalArgumentError(
                f"The supplied interval [{calendar}] could not be parsed as a calendar interval."
            )
        rounding = CalendarRounding(calendar, offset, time_zone)
    elif fixed is not None:
        rounding = FixedRounding(parse_interval(fixed), offset, time_zone)
    else:
        raise IllegalArgumentError(
            "Required one of fields [fixed_interval, calendar_interval], but none were specified."
        )
    return HistogramAgg(
        name,
        subs,
        meta,
        type_name="date_histogram",
        ref=p.field_ref(),
        rounding=rounding,
        min_doc_count=_min_doc_count(p, name),
        extended=None,
        hard=None,
        raw_extended=_bounds_param(p, "extended_bounds", numeric=False),
        raw_hard=_bounds_param(p, "hard_bounds", numeric=False),
        keyed=p.flag("keyed", False),
        order=parse_order(p.raw("order"), "date_histogram", subs, KEY_ASC),
        time_zone=time_zone,
    )


HISTOGRAM_PARAMS = VALUES_SOURCE_PARAMS | {
    "interval", "offset", "min_doc_count", "extended_bounds", "hard_bounds", "keyed", "order",
}  # fmt: skip
DATE_HISTOGRAM_PARAMS = HISTOGRAM_PARAMS | {"calendar_interval", "fixed_interval", "time_zone"}


__all__ = [
    "DATE_HISTOGRAM_PARAMS",
    "HISTOGRAM_PARAMS",
    "MAX_BUCKETS",
    "Bounds",
    "CalendarRounding",
    "FixedRounding",
    "HistogramAgg",
    "HistogramResult",
    "NumericRounding",
    "Rounding",
    "parse_date_histogram",
    "parse_histogram",
]
