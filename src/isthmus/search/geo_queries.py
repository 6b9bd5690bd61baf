"""``geo_distance`` and ``geo_bounding_box`` queries on ``geo_point`` fields.  [no I/O]

Parsing follows ES's query bodies (the point in any geo_point format, the distance with its
unit, the box by corners, by sides or as WKT ``BBOX``; a box whose left is east of its right
crosses the date line). Matching is done in two steps on a shard's view: a latitude range on
the field's indexed latitudes gives the candidates, then each candidate's points (read from its
source, quantised as indexed) are tested exactly, and the query becomes the set of matching
``_id`` terms — so it composes inside ``bool`` like any other query. A document matches when any
of its points does. Scores are constant, as in ES.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import tantivy

from isthmus.errors import IllegalArgumentError, ParsingError, QueryShardError
from isthmus.index.field_types import GEO_POINT, FieldSpec
from isthmus.index.geo import (
    EARTH_MEAN_RADIUS,
    GeoParseError,
    GeoPoint,
    arc_distance,
    parse_distance,
    parse_point,
    unit_factor,
)
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.index.mapping import source_values
from isthmus.index.schema import IndexSchema
from isthmus.search import dsl


@dataclass(frozen=True)
class GeoDistance(dsl.Query):
    field: str = ""
    point: GeoPoint = dataclasses.field(default_factory=lambda: GeoPoint(0.0, 0.0))
    distance_m: float = 0.0
    ignore_unmapped: bool = False


@dataclass(frozen=True)
class GeoBoundingBox(dsl.Query):
    field: str = ""
    top: float = 0.0
    left: float = 0.0
    bottom: float = 0.0
    right: float = 0.0
    ignore_unmapped: bool = False


GeoQuery = GeoDistance | GeoBoundingBox
_DISTANCE_OPTIONS = {"distance", "distance_type", "validation_method", "ignore_unmapped", "unit"}
_BOX_OPTIONS = {"type", "validation_method", "ignore_unmapped"}


def _point(name: str, value: Any) -> GeoPoint:
    try:
        return parse_point(value)
    except GeoParseError as exc:
        raise ParsingError(f"[{name}] failed to parse point: {exc}") from None


def _boost(body: Mapping[str, Any]) -> float:
    try:
        return float(body.get("boost", 1.0))
    except (TypeError, ValueError):
        raise ParsingError(f"[boost] failed to parse value [{body.get('boost')}]") from None


def parse_geo_distance(body: Any) -> dsl.Query:
    if not isinstance(body, Mapping):
        raise ParsingError("[geo_distance] query malformed, no start_object after query name")
    fields = [k for k in body if k not in _DISTANCE_OPTIONS and k not in ("boost", "_name")]
    if not fields:
        raise ParsingError("geo_distance requires 'point' to be specified")
    if len(fields) > 1:
        raise ParsingError(
            f"[geo_distance] query doesn't support multiple fields, found [{fields[0]}] and "
            f"[{fields[1]}]"
        )
    if body.get("distance") is None:  # a JSON null is no value to ES's parser either
        raise ParsingError("geo_distance requires 'distance' to be specified")
    if body["distance"] == "":  # GeoDistanceQueryBuilder.distance's own checks
        raise IllegalArgumentError("distance must not be null or empty")
    try:
        distance = parse_distance(body["distance"], str(body.get("unit", "m")))
    except (GeoParseError, KeyError) as exc:
        raise ParsingError(f"[geo_distance] failed to parse [distance]: {exc}") from None
    if not distance > 0.0:
        raise IllegalArgumentError("distance must be greater than zero")
    return GeoDistance(
        field=fields[0],
        point=_point("geo_distance", body[fields[0]]),
        distance_m=distance,
        ignore_unmapped=body.get("ignore_unmapped", False) is True,
        boost=_boost(body),
    )


def _box_from_wkt(text: str) -> tuple[float, float, float, float]:
    """``BBOX (minLon, maxLon, maxLat, minLat)`` → top, left, bottom, right."""
    inner = text.strip()
    if not inner.upper().startswith("BBOX") or "(" not in inner or not inner.endswith(")"):
        raise ParsingError(f"failed to parse WKT bounding box [{text}]")
    parts = inner[inner.index("(") + 1 : -1].split(",")
    try:
        left, right, top, bottom = (float(p) for p in parts)
    except ValueError:
        raise ParsingError(f"failed to parse WKT bounding box [{text}]") from None
    return top, left, bottom, right


def parse_geo_bounding_box(body: Any) -> dsl.Query:
    if not isinstance(body, Mapping):
        raise ParsingError("[geo_bbox] query malformed, no start_object after query name")
    fields = [k for k in body if k not in _BOX_OPTIONS and k not in ("boost", "_name")]
    if len(fields) != 1:
        raise ParsingError(
            "failed to parse [geo_bbox] query. missing bounding box"
            if not fields
            else f"[geo_bbox] query doesn't support multiple fields, found [{fields[0]}] and "
            f"[{fields[1]}]"
        )
    box = body[fields[0]]
    if not isinstance(box, Mapping):
        raise ParsingError("failed to parse bounding box. Expected start object but found [VALUE]")
    sides: dict[str, float] = {}
    for key, value in box.items():
        if key == "wkt":
            top, left, bottom, right = _box_from_wkt(str(value))
            sides.update(top=top, left=left, bottom=bottom, right=right)
        elif key in ("top_left", "bottom_right", "top_right", "bottom_left"):
            point = _point("geo_bbox", value)
            vertical, horizontal = key.split("_")
            sides[vertical] = point.lat
            sides[horizontal] = point.lon
        elif key in ("top", "left", "bottom", "right"):
            try:
                sides[key] = float(value)
            except (TypeError, ValueError):
                raise ParsingError(
                    f"failed to parse bounding box. [{key}] must be a number"
                ) from None
        else:
            raise ParsingError(f"failed to parse bounding box. unexpected field [{key}]")
    missing = [s for s in ("top", "left", "bottom", "right") if s not in sides]
    if missing:
        raise ParsingError("failed to parse bounding box. missing bounding box corners")
    if sides["top"] < sides["bottom"]:
        raise ParsingError(f"top is below bottom corner: {sides['top']} vs. {sides['bottom']}")
    return GeoBoundingBox(
        field=fields[0],
        top=sides["top"],
        left=sides["left"],
        bottom=sides["bottom"],
        right=sides["right"],
        ignore_unmapped=body.get("ignore_unmapped", False) is True,
        boost=_boost(body),
    )


# --- matching ---------------------------------------------------------------------------------


def point_test(q: GeoQuery) -> Callable[[GeoPoint], bool]:
    if isinstance(q, GeoDistance):
        return lambda p: arc_distance(q.point, p) <= q.distance_m

    def in_box(p: GeoPoint) -> bool:
        if not q.bottom <= p.lat <= q.top:
            return False
        if q.left <= q.right:
            return q.left <= p.lon <= q.right
        return p.lon >= q.left or p.lon <= q.right  # the box crosses the date line

    return in_box


def _lat_bounds(q: GeoQuery) -> tuple[float, float]:
    if isinstance(q, GeoBoundingBox):
        return q.bottom, q.top
    spread = math.degrees(q.distance_m / EARTH_MEAN_RADIUS) + 1e-6
    return max(-90.0, q.point.lat - spread), min(90.0, q.point.lat + spread)


def geo_spec(q: GeoQuery, mapping: IndexMapping, query_name: str) -> FieldSpec | None:
    """The geo_point field ``q`` names; None when unmapped and ``ignore_unmapped``."""
    spec = mapping.field(q.field)
    if spec is None:
        if q.ignore_unmapped:
            return None
        raise QueryShardError(f"failed to find geo field [{q.field}]")
    if spec.type != GEO_POINT:
        raise QueryShardError(
            f"Field [{q.field}] is of unsupported type [{spec.es_type}] for [{query_name}] query"
        )
    return spec


def to_tantivy(
    q: GeoQuery,
    schema: IndexSchema,
    mapping: IndexMapping,
    searcher: tantivy.Searcher | None,
) -> tantivy.Query:
    """The ``_id`` terms of the shard's documents with a point ``q`` matches."""
    name = "geo_distance" if isinstance(q, GeoDistance) else "geo_bounding_box"
    spec = geo_spec(q, mapping, name)
    tfield = schema.field(spec.path) if spec is not None else None
    if spec is None or tfield is None or searcher is None:
        return tantivy.Query.empty_query()
    low, high = _lat_bounds(q)
    candidates = tantivy.Query.range_query(
        schema.schema, tfield.name, tantivy.FieldType.Float, low, high, True, True
    )
    test = point_test(q)
    ids: list[str] = []
    hits = searcher.search(candidates, max(searcher.num_docs, 1)).hits
    for _score, addr in hits:
        doc = searcher.doc(addr)
        source = orjson.loads(bytes(doc.get_first("_src") or b"{}"))
        if any(test(p) for p in source_values(source, spec)):
            ids.append(str(doc.get_first("_id")))
    if not ids:
        return tantivy.Query.empty_query()
    matched = tantivy.Query.term_set_query(schema.schema, "_id", list[Any](ids))
    return tantivy.Query.const_score_query(matched, 1.0)


__all__ = [
    "GeoBoundingBox",
    "GeoDistance",
    "GeoDistanceSort",
    "geo_sort_value",
    "parse_geo_bounding_box",
    "parse_geo_distance",
    "parse_geo_distance_sort",
    "point_test",
    "to_tantivy",
]


# --- the _geo_distance sort ---------------------------------------------------------------------

_SORT_OPTIONS = {"order", "unit", "mode", "distance_type", "ignore_unmapped", "validation_method"}


@dataclass(frozen=True)
class GeoDistanceSort:
    """``{"_geo_distance": {"<field>": point(s), ...}}``: each document sorts by the distance
    from its nearest (``mode`` min) or farthest (max) point, or the average (avg), to the
    nearest origin, in ``unit``."""

    origins: tuple[GeoPoint, ...]
    unit_m: float = 1.0
    mode: str | None = None
    ignore_unmapped: bool = False


def parse_geo_distance_sort(body: Any) -> tuple[str, str, GeoDistanceSort]:
    """The field, the order and the sort of one ``_geo_distance`` object."""
    if not isinstance(body, Mapping):
        raise ParsingError("[_geo_distance] failed to parse field [_geo_distance]")
    fields = [k for k in body if k not in _SORT_OPTIONS]
    if len(fields) != 1:
        raise ParsingError(
            "[_geo_distance] requires a field name and a point"
            if not fields
            else f"[_geo_distance] does not support multiple fields, found [{fields[0]}] and "
            f"[{fields[1]}]"
        )
    raw = body[fields[0]]
    items = [raw] if not isinstance(raw, list) or _is_one_point(raw) else raw
    origins = tuple(_point("_geo_distance", item) for item in items)
    order = str(body.get("order", "asc")).lower()
    mode = body.get("mode")
    if mode is not None and str(mode).lower() not in ("min", "max", "avg", "median"):
        raise IllegalArgumentError(f"Unknown SortMode [{mode}]")
    try:
        unit = unit_factor(str(body.get("unit", "m")))
    except GeoParseError as exc:
        raise IllegalArgumentError(str(exc)) from None
    return (
        fields[0],
        order,
        GeoDistanceSort(
            origins,
            unit,
            None if mode is None else str(mode).lower(),
            body.get("ignore_unmapped", False) is True,
        ),
    )


def _is_one_point(raw: list[Any]) -> bool:
    return len(raw) in (2, 3) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in raw
    )


def geo_sort_value(points: list[GeoPoint], sort: GeoDistanceSort, descending: bool) -> Any:
    """The distance a document sorts by (None: it has no point)."""
    if not points:
        return None
    distances = [
        min(arc_distance(origin, p) for origin in sort.origins) / sort.unit_m for p in points
    ]
    mode = sort.mode or ("max" if descending else "min")
    if mode == "max":
        return max(distances)
    if mode == "avg":
        return sum(distances) / len(distances)
    if mode == "median":
        ordered = sorted(distances)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return min(distances)


def check_sort_field(name: str, geo: GeoDistanceSort | None, spec: FieldSpec | None) -> bool:
    """ES's errors for sorting on a geo_point field; True when the sort key is settled here
    (a geo sort, or an unmapped field it ignores)."""
    if geo is not None:
        if spec is None:
            if geo.ignore_unmapped:
                return True
            raise IllegalArgumentError(
                f"failed to find mapper for [{name}] for geo distance based sort"
            )
        if spec.type != GEO_POINT:
            raise IllegalArgumentError(f"field [{name}] is not a geo_point field")
        return True
    if spec is not None and spec.type == GEO_POINT:
        raise IllegalArgumentError(
            "can't sort on geo_point field without using specific sorting feature, like "
            "geo_distance"
        )
    return False
