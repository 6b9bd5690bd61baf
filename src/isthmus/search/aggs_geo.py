"""Metric aggregations over ``geo_point`` fields: geo_bounds and geo_centroid.  [no I/O]

Points are the quantised values the index holds (``index.geo``), so results print as ES's do.
``geo_bounds`` keeps ES's six extremes (top, bottom, and the west/east-most longitudes on each
side of the prime meridian) so partial results merge exactly and ``wrap_longitude`` can pick the
narrower of the box that crosses the date line and the one that does not. ``geo_centroid`` is
the mean latitude and mean longitude (compensated sums, as ES), with the point count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from isthmus.index.field_types import GEO_POINT, FieldSpec
from isthmus.search.aggs_core import (
    Agg,
    AggContext,
    AggDoc,
    AggResult,
    AggsSpec,
    FieldRef,
    Params,
    unsupported_field,
)
from isthmus.search.aggs_metric import CompensatedSum

GEO_BOUNDS_PARAMS = {"field", "missing", "wrap_longitude", "script"}
GEO_CENTROID_PARAMS = {"field", "missing", "script"}
_INF = math.inf


def _geo_field(ref: FieldRef, ctx: AggContext, agg_type: str) -> FieldSpec | None:
    spec = ctx.mapping.field(ref.field)
    if spec is not None and spec.type != GEO_POINT:
        raise unsupported_field(spec, agg_type)
    return spec


def _points(docs: Sequence[AggDoc], ctx: AggContext, spec: FieldSpec | None) -> list[Any]:
    if spec is None:
        return []
    return [p for doc in docs for p in ctx.values(doc, spec)]


@dataclass
class GeoBoundsResult(AggResult):
    wrap_longitude: bool = True
    top: float = -_INF
    bottom: float = _INF
    pos_left: float = _INF
    pos_right: float = -_INF
    neg_left: float = _INF
    neg_right: float = -_INF

    def add(self, lat: float, lon: float) -> None:
        self.top = max(self.top, lat)
        self.bottom = min(self.bottom, lat)
        if lon >= 0:
            self.pos_left = min(self.pos_left, lon)
            self.pos_right = max(self.pos_right, lon)
        else:
            self.neg_left = min(self.neg_left, lon)
            self.neg_right = max(self.neg_right, lon)

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        out = replace(self)
        for o in others:
            if isinstance(o, GeoBoundsResult):
                out.top = max(out.top, o.top)
                out.bottom = min(out.bottom, o.bottom)
                out.pos_left = min(out.pos_left, o.pos_left)
                out.pos_right = max(out.pos_right, o.pos_right)
                out.neg_left = min(out.neg_left, o.neg_left)
                out.neg_right = max(out.neg_right, o.neg_right)
        return out

    def _sides(self) -> tuple[float, float]:
        if math.isinf(self.pos_left):
            return self.neg_left, self.neg_right
        if math.isinf(self.neg_left):
            return self.pos_left, self.pos_right
        if self.wrap_longitude:
            unwrapped = self.pos_right - self.neg_left
            wrapped = (180 - self.pos_left) - (-180 - self.neg_right)
            if unwrapped <= wrapped:
                return self.neg_left, self.pos_right
            return self.pos_left, self.neg_right
        return self.neg_left, self.pos_right

    def body(self) -> dict[str, Any]:
        if math.isinf(self.top):
            return {}
        left, right = self._sides()
        return {
            "bounds": {
                "top_left": {"lat": self.top, "lon": left},
                "bottom_right": {"lat": self.bottom, "lon": right},
            }
        }


@dataclass
class GeoCentroidResult(AggResult):
    count: int = 0
    lat: CompensatedSum = field(default_factory=CompensatedSum)
    lon: CompensatedSum = field(default_factory=CompensatedSum)

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        out = GeoCentroidResult(
            count=self.count,
            lat=CompensatedSum(self.lat.value, self.lat.delta),
            lon=CompensatedSum(self.lon.value, self.lon.delta),
            meta=self.meta,
        )
        for o in others:
            if isinstance(o, GeoCentroidResult):
                out.count += o.count
                out.lat.add(o.lat.value, o.lat.delta)
                out.lon.add(o.lon.value, o.lon.delta)
        return out

    def body(self) -> dict[str, Any]:
        if not self.count:
            return {"count": 0}
        return {
            "location": {"lat": self.lat.value / self.count, "lon": self.lon.value / self.count},
            "count": self.count,
        }


class GeoBoundsAgg(Agg):
    type_name = "geo_bounds"

    def __init__(
        self,
        name: str,
        subs: AggsSpec,
        meta: Mapping[str, Any] | None,
        ref: FieldRef,
        wrap_longitude: bool,
    ) -> None:
        super().__init__(name, subs, meta)
        self.ref = ref
        self.wrap_longitude = wrap_longitude

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        res = GeoBoundsResult(wrap_longitude=self.wrap_longitude)
        for point in _points(docs, ctx, _geo_field(self.ref, ctx, self.type_name)):
            res.add(point.lat, point.lon)
        return self.result(res)


class GeoCentroidAgg(Agg):
    type_name = "geo_centroid"

    def __init__(
        self, name: str, subs: AggsSpec, meta: Mapping[str, Any] | None, ref: FieldRef
    ) -> None:
        super().__init__(name, subs, meta)
        self.ref = ref

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        res = GeoCentroidResult()
        for point in _points(docs, ctx, _geo_field(self.ref, ctx, self.type_name)):
            res.count += 1
            res.lat.add(point.lat)
            res.lon.add(point.lon)
        return self.result(res)


def parse_geo_bounds(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    return GeoBoundsAgg(name, subs, meta, p.field_ref(), p.flag("wrap_longitude", True))


def parse_geo_centroid(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    return GeoCentroidAgg(name, subs, meta, p.field_ref())
