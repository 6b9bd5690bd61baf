"""Range bucket aggregations: ``range`` and ``date_range``.  [no I/O]

Each range is ``[from, to)``; a document falls in every range one of its values falls in. Like
ES, the ranges are answered sorted by ``from`` then ``to`` (open ends first/last), whatever order
the request listed them in. Bucket keys default to ``<from>-<to>`` with ``*`` for an open end,
numbers printed as Java doubles (``"*-100.0"``) and dates with the aggregation's format.
``date_range`` bounds accept date math (``now-1M/M``) and are read in ``time_zone``; a ``range``
on a date field reads string bounds with the field's format the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, ParsingError, XContentParseError
from isthmus.search.aggs_bucket import Bucket
from isthmus.search.aggs_core import (
    VALUES_SOURCE_PARAMS,
    Agg,
    AggContext,
    AggDoc,
    AggResult,
    AggsSpec,
    FieldRef,
    Params,
    ParseFn,
    resolve_source,
)
from isthmus.search.aggs_format import DateFormat, DocFormat, java_double_str


@dataclass(frozen=True)
class RangeSpec:
    """One requested range, bounds as written (resolved against the field at collection)."""

    key: str | None
    low: Any
    high: Any


@dataclass
class RangeBucket:
    low: float
    high: float
    bucket: Bucket


@dataclass
class RangeResult(AggResult):
    ranges: list[RangeBucket]
    keyed: bool
    fmt: DocFormat

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        rest = [o for o in others if isinstance(o, RangeResult)]
        merged = [
            replace(r, bucket=r.bucket.merged([o.ranges[i].bucket for o in rest]))
            for i, r in enumerate(self.ranges)
        ]
        return replace(self, ranges=merged)

    def body(self) -> dict[str, Any]:
        rendered: list[tuple[str, dict[str, Any]]] = []
        for r in self.ranges:
            item: dict[str, Any] = {} if self.keyed else {"key": r.bucket.key}
            for edge, value in (("from", r.low), ("to", r.high)):
                if math.isfinite(value):
                    item[edge] = value
                    if not self.fmt.raw:
                        item[f"{edge}_as_string"] = self.fmt.format(value)
            item["doc_count"] = r.bucket.doc_count
            item.update(r.bucket.subs_json())
            rendered.append((r.bucket.key, item))
        if self.keyed:
            return {"buckets": dict(rendered)}
        return {"buckets": [item for _, item in rendered]}


class RangeAgg(Agg):
    accepts_subs = True

    def __init__(
        self,
        name: str,
        subs: AggsSpec,
        meta: Mapping[str, Any] | None,
        *,
        type_name: str,
        ref: FieldRef,
        ranges: tuple[RangeSpec, ...],
        keyed: bool,
        time_zone: str | None,
    ) -> None:
        super().__init__(name, subs, meta)
        self.type_name = type_name
        self.ref = ref
        self.ranges = ranges
        self.keyed = keyed
        self.time_zone = time_zone

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        src = resolve_source(self.ref, self.type_name, ctx, numeric=True, time_zone=self.time_zone)
        fmt = src.fmt
        if self.type_name == "date_range" and not isinstance(fmt, DateFormat):
            fmt = DateFormat(self.ref.format or "strict_date_optional_time", self.time_zone)
        resolved = [
            (s, self._bound(s.low, fmt, ctx, -math.inf), self._bound(s.high, fmt, ctx, math.inf))
            for s in self.ranges
        ]
        resolved.sort(key=lambda r: (r[1], r[2]))
        values = [(doc, [float(v) for v in src.values(doc, ctx)]) for doc in docs]
        out = []
        for spec, low, high in resolved:
            chosen = [doc for doc, vs in values if any(low <= v < high for v in vs)]
            key = spec.key if spec.key is not None else f"{_edge(low, fmt)}-{_edge(high, fmt)}"
            bucket = Bucket(key, len(chosen), self.subs.collect(chosen, ctx))
            out.append(RangeBucket(low, high, bucket))
        return self.result(RangeResult(out, self.keyed, fmt))

    @staticmethod
    def _bound(value: Any, fmt: DocFormat, ctx: AggContext, open_end: float) -> float:
        if value is None:
            return open_end
        if isinstance(fmt, DateFormat) and isinstance(value, str):
            return float(fmt.parse(value, ctx.now_ms))
        try:
            return float(value)
        except (TypeError, ValueError):
            raise IllegalArgumentError(f'For input string: "{value}"') from None


def _edge(value: float, fmt: DocFormat) -> str:
    if math.isinf(value):
        return "*"
    return java_double_str(value) if fmt.raw else fmt.format(value)


_RANGE_FIELDS = ("key", "from", "to")


def _parse_ranges(name: str, p: Params) -> tuple[RangeSpec, ...]:
    raw = p.raw("ranges")
    if raw is None:
        raise IllegalArgumentError(f"No [ranges] specified for the [{name}] aggregation")
    if not isinstance(raw, list):
        raise ParsingError(f"[{p.agg_type}] failed to parse field [ranges]")
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ParsingError(f"[{p.agg_type}] failed to parse field [ranges]")
        for key in item:
            if key not in _RANGE_FIELDS:
                # ES's "range" entry parser refuses it; the aggregation's parser wraps that.
                raise XContentParseError(
                    f"[{p.agg_type}] failed to parse field [ranges]",
                    caused_by=xcontent.unknown_field("range", key, _RANGE_FIELDS),
                )
        key_value = item.get("key")
        out.append(
            RangeSpec(
                None if key_value is None else str(key_value), item.get("from"), item.get("to")
            )
        )
    if not out:
        raise IllegalArgumentError(f"No [ranges] specified for the [{name}] aggregation")
    return tuple(out)


def parse_range(type_name: str) -> ParseFn:
    def parse(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
        return RangeAgg(
            name,
            subs,
            meta,
            type_name=type_name,
            ref=p.field_ref(),
            ranges=_parse_ranges(name, p),
            keyed=p.flag("keyed", False),
            time_zone=p.string("time_zone"),
        )

    return parse


RANGE_PARAMS = VALUES_SOURCE_PARAMS | {"ranges", "keyed"}
DATE_RANGE_PARAMS = RANGE_PARAMS | {"time_zone"}


__all__ = [
    "DATE_RANGE_PARAMS",
    "RANGE_PARAMS",
    "RangeAgg",
    "RangeResult",
    "RangeSpec",
    "parse_range",
]
