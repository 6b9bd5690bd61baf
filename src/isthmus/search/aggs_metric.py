"""Numeric metric aggregations: avg, sum, min, max, value_count, cardinality, stats,
extended_stats and percentiles.  [no I/O]

Values are doubles, as in Elasticsearch (dates are epoch milliseconds, booleans 0/1), and sums
use ES's compensated (Kahan) summation in document order, so results match ES to the last bit
on the same input order. Partial results keep raw state (count, sums, extremes, the set of
distinct values, all percentile samples) so :meth:`AggResult.reduce` is exact.

Percentiles are computed exactly from all values with linear interpolation between closest
ranks (rank ``p/100 * (n - 1)``), which is what ES's t-digest converges to on small sets; on
large sets ES's digest is an approximation and may differ slightly. ``hdr`` is accepted and
answered the same way. Cardinality is an exact distinct count (ES's HyperLogLog++ is exact below
its precision threshold).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from isthmus.errors import IllegalArgumentError, ParsingError
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
from isthmus.search.aggs_format import DocFormat, java_double_str, json_double

_INF = math.inf


@dataclass
class CompensatedSum:
    """Kahan summation as ES's ``CompensatedSum`` does it (non-finite values short-circuit)."""

    value: float = 0.0
    delta: float = 0.0

    def add(self, value: float, delta: float = 0.0) -> None:
        if not math.isfinite(value):
            self.value = value + self.value
        if math.isfinite(self.value):
            corrected = value + (self.delta + delta)
            updated = self.value + corrected
            self.delta = corrected - (updated - self.value)
            self.value = updated


@dataclass
class StatsState:
    """Everything avg/sum/min/max/stats/extended_stats need, mergeable."""

    count: int = 0
    total: CompensatedSum = field(default_factory=CompensatedSum)
    squares: CompensatedSum = field(default_factory=CompensatedSum)
    min: float = _INF
    max: float = -_INF

    def add(self, value: float) -> None:
        self.count += 1
        self.total.add(value)
        self.squares.add(value * value)
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def merged(self, others: Sequence[StatsState]) -> StatsState:
        out = StatsState(
            self.count,
            CompensatedSum(self.total.value, self.total.delta),
            CompensatedSum(self.squares.value, self.squares.delta),
            self.min,
            self.max,
        )
        for o in others:
            out.count += o.count
            out.total.add(o.total.value, o.total.delta)
            out.squares.add(o.squares.value, o.squares.delta)
            out.min = min(out.min, o.min)
            out.max = max(out.max, o.max)
        return out

    @property
    def avg(self) -> float:
        return self.total.value / self.count if self.count else math.nan

    def variance(self, sampling: bool) -> float:
        # ES's formula, with its clamp of rounding noise below zero.
        count = self.count
        numerator = self.squares.value - (self.total.value * self.total.value) / count
        variance = _java_div(numerator, count - 1 if sampling else count)
        return 0.0 if variance < 0 else variance


def _java_div(a: float, b: float) -> float:
    """Double division with Java's results for a zero divisor (NaN or a signed infinity)."""
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(_INF, a)
    return a / b


# --- single-value and stats metrics -------------------------------------------------------------


@dataclass
class StatsResult(AggResult):
    """Result of avg, sum, min, max, value_count, stats and extended_stats (``kind``)."""

    kind: str
    state: StatsState
    fmt: DocFormat
    sigma: float = 2.0

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        states = [o.state for o in others if isinstance(o, StatsResult)]
        return replace(self, state=self.state.merged(states))

    def _values(self) -> dict[str, float]:
        s = self.state
        out = {
            "count": float(s.count),
            "min": s.min,
            "max": s.max,
            "avg": s.avg,
            "sum": s.total.value,
        }
        if self.kind == "extended_stats" and s.count:
            out["sum_of_squares"] = s.squares.value
            for name, sampling in (("population", False), ("sampling", True)):
                out[f"variance_{name}"] = s.variance(sampling)
                out[f"std_deviation_{name}"] = math.sqrt(s.variance(sampling))
            out["variance"] = out["variance_population"]
            out["std_deviation"] = out["std_deviation_population"]
        return out

    def sort_value(self, path: Sequence[str], metric: str | None) -> Any:
        if path:
            return super().sort_value(path, metric)
        single = {"avg": "avg", "sum": "sum", "min": "min", "max": "max", "value_count": "count"}
        if self.kind in single:
            if metric not in (None, "value"):
                raise IllegalArgumentError(f"Unknown value key [{metric}] for single-value metric")
            return self._values()[single[self.kind]]
        if metric is None:
            raise IllegalArgumentError(
                f"The provided aggregation is a multi-value aggregation [{self.kind}]; a metric "
                "name must be given in the order path"
            )
        values = self._values()
        if metric not in values:
            if self.kind == "extended_stats" and not self.state.count:
                return math.nan
            raise IllegalArgumentError(f"Unknown value key [{metric}] for [{self.kind}]")
        return values[metric]

    def body(self) -> dict[str, Any]:
        s, fmt = self.state, self.fmt
        if self.kind == "value_count":
            return {"value": s.count}
        if self.kind in ("avg", "min", "max"):
            value = {"avg": s.avg, "min": s.min, "max": s.max}[self.kind]
            if not s.count:
                return {"value": None}
            return _with_string({"value": value}, fmt)
        if self.kind == "sum":
            return _with_string({"value": s.total.value}, fmt)
        out: dict[str, Any] = {"count": s.count}
        if not s.count:
            out.update({"min": None, "max": None, "avg": None, "sum": 0.0})
            if self.kind == "extended_stats":
                out.update(dict.fromkeys(_EXTENDED_KEYS))
                out["std_deviation_bounds"] = dict.fromkeys(_BOUND_KEYS)
            return out
        stats = {"min": s.min, "max": s.max, "avg": s.avg, "sum": s.total.value}
        out.update({k: json_double(v) for k, v in stats.items()})
        if not fmt.raw:
            out.update({f"{k}_as_string": fmt.format(v) for k, v in stats.items()})
        if self.kind == "extended_stats":
            values = self._values()
            extended = {k: values[k] for k in _EXTENDED_KEYS}
            bounds = self._bounds(values)
            out.update({k: json_double(v) for k, v in extended.items()})
            out["std_deviation_bounds"] = {k: json_double(v) for k, v in bounds.items()}
            if not fmt.raw:
                out.update({f"{k}_as_string": _fmt(fmt, v) for k, v in extended.items()})
                out["std_deviation_bounds_as_string"] = {k: _fmt(fmt, v) for k, v in bounds.items()}
        return out

    def _bounds(self, values: Mapping[str, float]) -> dict[str, float]:
        avg, sigma = self.state.avg, self.sigma
        out = {}
        for suffix, std in (
            ("", values["std_deviation"]),
            ("_population", values["std_deviation_population"]),
            ("_sampling", values["std_deviation_sampling"]),
        ):
            out[f"upper{suffix}"] = avg + sigma * std
            out[f"lower{suffix}"] = avg - sigma * std
        return out


_EXTENDED_KEYS = (
    "sum_of_squares", "variance", "variance_population", "variance_sampling", "std_deviation",
    "std_deviation_population", "std_deviation_sampling",
)  # fmt: skip
_BOUND_KEYS = (
    "upper", "lower", "upper_population", "lower_population", "upper_sampling", "lower_sampling",
)  # fmt: skip


def _fmt(fmt: DocFormat, value: float) -> str:
    return fmt.format(value) if math.isfinite(value) else str(json_double(value))


def _with_string(out: dict[str, Any], fmt: DocFormat) -> dict[str, Any]:
    value = out["value"]
    out["value"] = json_double(value)
    if not fmt.raw:
        out["value_as_string"] = _fmt(fmt, value)
    return out


class StatsAgg(Agg):
    """avg, sum, min, max, stats, extended_stats (numeric) and value_count (any doc values)."""

    def __init__(
        self,
        name: str,
        subs: AggsSpec,
        meta: Mapping[str, Any] | None,
        *,
        kind: str,
        ref: FieldRef,
        sigma: float = 2.0,
    ) -> None:
        super().__init__(name, subs, meta)
        self.type_name = kind
        self.kind = kind
        self.ref = ref
        self.sigma = sigma

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        numeric = self.kind != "value_count"
        src = resolve_source(self.ref, self.kind, ctx, numeric=numeric)
        state = StatsState()
        for doc in docs:
            for value in src.values(doc, ctx):
                if numeric:
                    state.add(float(value))
                else:
                    state.count += 1
        return self.result(StatsResult(self.kind, state, src.fmt, self.sigma))


def parse_stats(kind: str) -> ParseFn:
    def parse(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
        sigma = 2.0
        if kind == "extended_stats":
            sigma = p.number("sigma", 2.0) or 0.0
            if sigma < 0:
                raise IllegalArgumentError(
                    f"[sigma] must be greater than or equal to 0. Found [{sigma}] in [{name}]"
                )
        return StatsAgg(name, subs, meta, kind=kind, ref=p.field_ref(), sigma=sigma)

    return parse


STATS_PARAMS = VALUES_SOURCE_PARAMS
EXTENDED_STATS_PARAMS = VALUES_SOURCE_PARAMS | {"sigma"}


# --- cardinality --------------------------------------------------------------------------------


@dataclass
class CardinalityResult(AggResult):
    values: set[Any]

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        merged = set(self.values)
        for o in others:
            if isinstance(o, CardinalityResult):
                merged |= o.values
        return replace(self, values=merged)

    def body(self) -> dict[str, Any]:
        return {"value": len(self.values)}

    def sort_value(self, path: Sequence[str], metric: str | None) -> Any:
        return len(self.values) if not path else super().sort_value(path, metric)


class CardinalityAgg(Agg):
    type_name = "cardinality"

    def __init__(
        self, name: str, subs: AggsSpec, meta: Mapping[str, Any] | None, ref: FieldRef
    ) -> None:
        super().__init__(name, subs, meta)
        self.ref = ref

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        src = resolve_source(self.ref, self.type_name, ctx, numeric=False)
        seen = {v for doc in docs for v in src.values(doc, ctx)}
        return self.result(CardinalityResult(seen))


def parse_cardinality(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    return CardinalityAgg(name, subs, meta, p.field_ref())


CARDINALITY_PARAMS = VALUES_SOURCE_PARAMS | {"precision_threshold", "rehash", "execution_hint"}


# --- percentiles --------------------------------------------------------------------------------

DEFAULT_PERCENTS = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)


def percentile(sorted_values: Sequence[float], percent: float) -> float:
    """Linear interpolation between closest ranks; NaN for no values."""
    n = len(sorted_values)
    if not n:
        return math.nan
    rank = percent / 100 * (n - 1)
    low = math.floor(rank)
    high = min(low + 1, n - 1)
    weight = rank - low
    return sorted_values[low] + weight * (sorted_values[high] - sorted_values[low])


@dataclass
class PercentilesResult(AggResult):
    values: list[float]
    percents: tuple[float, ...]
    keyed: bool
    fmt: DocFormat

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        merged = list(self.values)
        for o in others:
            if isinstance(o, PercentilesResult):
                merged.extend(o.values)
        return replace(self, values=merged)

    def _computed(self) -> list[tuple[float, float]]:
        ordered = sorted(self.values)
        return [(p, percentile(ordered, p)) for p in self.percents]

    def body(self) -> dict[str, Any]:
        empty = not self.values
        if self.keyed:
            keyed: dict[str, Any] = {}
            for p, v in self._computed():
                key = java_double_str(p)
                keyed[key] = None if empty else json_double(v)
                if not empty and not self.fmt.raw:
                    keyed[f"{key}_as_string"] = _fmt(self.fmt, v)
            return {"values": keyed}
        items = []
        for p, v in self._computed():
            item: dict[str, Any] = {"key": p, "value": None if empty else json_double(v)}
            if not empty and not self.fmt.raw:
                item["value_as_string"] = _fmt(self.fmt, v)
            items.append(item)
        return {"values": items}

    def sort_value(self, path: Sequence[str], metric: str | None) -> Any:
        if path or metric is None:
            return super().sort_value(path, metric)
        try:
            wanted = float(metric)
        except ValueError:
            raise IllegalArgumentError(f"Invalid percentile [{metric}]") from None
        return percentile(sorted(self.values), wanted)


class PercentilesAgg(Agg):
    type_name = "percentiles"

    def __init__(
        self,
        name: str,
        subs: AggsSpec,
        meta: Mapping[str, Any] | None,
        *,
        ref: FieldRef,
        percents: tuple[float, ...],
        keyed: bool,
    ) -> None:
        super().__init__(name, subs, meta)
        self.ref = ref
        self.percents = percents
        self.keyed = keyed

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        src = resolve_source(self.ref, self.type_name, ctx, numeric=True)
        values = [float(v) for doc in docs for v in src.values(doc, ctx)]
        return self.result(PercentilesResult(values, self.percents, self.keyed, src.fmt))


def parse_percentiles(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    raw = p.raw("percents", list(DEFAULT_PERCENTS))
    if not isinstance(raw, list):
        raise ParsingError("[percentiles] failed to parse field [percents]")
    if not raw:
        raise IllegalArgumentError(f"[percents] must not be empty: [{name}]")
    percents: list[float] = []
    for item in raw:
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            raise ParsingError("[percentiles] failed to parse field [percents]")
        try:
            value = float(item)
        except ValueError:
            raise ParsingError("[percentiles] failed to parse field [percents]") from None
        if not 0 <= value <= 100:
            raise IllegalArgumentError(f"percent must be in [0,100], got [{value}]")
        percents.append(value)
    # ES answers the requested percents in ascending order.
    ordered = tuple(sorted(percents))
    return PercentilesAgg(
        name, subs, meta, ref=p.field_ref(), percents=ordered, keyed=p.flag("keyed", True)
    )


PERCENTILES_PARAMS = VALUES_SOURCE_PARAMS | {"percents", "keyed", "tdigest", "hdr"}


__all__ = [
    "CARDINALITY_PARAMS",
    "DEFAULT_PERCENTS",
    "EXTENDED_STATS_PARAMS",
    "PERCENTILES_PARAMS",
    "STATS_PARAMS",
    "CardinalityAgg",
    "CardinalityResult",
    "CompensatedSum",
    "PercentilesAgg",
    "PercentilesResult",
    "StatsAgg",
    "StatsResult",
    "StatsState",
    "parse_cardinality",
    "parse_percentiles",
    "parse_stats",
    "percentile",
]
