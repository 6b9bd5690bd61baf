"""The ``geo_point`` field type: ES's input formats, its quantisation, distances.  [no I/O]

A point may be given as an object (``{"lat": 41.1, "lon": -71.3}``), a string (``"41.1,-71.3"``),
an array (``[-71.3, 41.1]``: GeoJSON order, longitude first), a geohash (``"drm3btev3e86"``) or
WKT (``"POINT (-71.3 41.1)"``). ES keeps each coordinate as a 32-bit integer (Lucene's
``LatLonPoint`` encoding), so what queries and aggregations see is the decoded value, a few
nanodegrees off what was sent: :func:`quantize` does the same here so results print as ES's do.
Distances are ES's ``arc`` distance: haversine on a sphere of the earth's mean radius.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

EARTH_MEAN_RADIUS = 6371008.7714  # metres, ES's GeoUtils
_LAT_STEP = 180.0 / 2**32
_LON_STEP = 360.0 / 2**32
_BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz"
_WKT_POINT = re.compile(r"^\s*POINT\s*\(\s*(\S+)\s+(\S+)(?:\s+\S+)?\s*\)\s*$", re.IGNORECASE)
# ES's distance units, in metres.
_UNITS = {
    "mi": 1609.344,
    "miles": 1609.344,
    "yd": 0.9144,
    "yards": 0.9144,
    "ft": 0.3048,
    "feet": 0.3048,
    "in": 0.0254,
    "inch": 0.0254,
    "km": 1000.0,
    "kilometers": 1000.0,
    "m": 1.0,
    "meters": 1.0,
    "cm": 0.01,
    "centimeters": 0.01,
    "mm": 0.001,
    "millimeters": 0.001,
    "nmi": 1852.0,
    "NM": 1852.0,
    "nauticalmiles": 1852.0,
}
_DISTANCE = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


class GeoPoint(NamedTuple):
    lat: float
    lon: float

    def to_json(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon}


class GeoParseError(ValueError):
    """A value that is not a point, with ES's message."""


def quantize(lat: float, lon: float) -> GeoPoint:
    """The point as ES stores it: each coordinate floored to its 32-bit grid, then decoded."""
    lat_enc = min(math.floor(lat / _LAT_STEP), 2**31 - 1)
    lon_enc = min(math.floor(lon / _LON_STEP), 2**31 - 1)
    return GeoPoint(lat_enc * _LAT_STEP, lon_enc * _LON_STEP)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise GeoParseError(f"{what} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GeoParseError(f"{what} must be a number") from None
    if not math.isfinite(number):
        raise GeoParseError(f"{what} must be a number")
    return number


def _geohash(text: str) -> GeoPoint:
    """The centre of a geohash cell."""
    lat_lo, lat_hi, lon_lo, lon_hi = -90.0, 90.0, -180.0, 180.0
    even = True
    for char in text:
        index = _BASE32.find(char)
        if index < 0:
            raise GeoParseError(f"unsupported symbol [{char}] in geohash [{text}]")
        for bit in range(4, -1, -1):
            on = (index >> bit) & 1
            if even:
                mid = (lon_lo + lon_hi) / 2
                lon_lo, lon_hi = (mid, lon_hi) if on else (lon_lo, mid)
            else:
                mid = (lat_lo + lat_hi) / 2
                lat_lo, lat_hi = (mid, lat_hi) if on else (lat_lo, mid)
            even = not even
    return GeoPoint((lat_lo + lat_hi) / 2, (lon_lo + lon_hi) / 2)


def parse_point(value: Any) -> GeoPoint:
    """One point in any of ES's formats (not yet validated or quantised)."""
    if isinstance(value, Mapping):
        if "lat" not in value:
            raise GeoParseError("field [lat] missing")
        if "lon" not in value:
            raise GeoParseError("field [lon] missing")
        for key in value:
            if key not in ("lat", "lon", "z"):
                raise GeoParseError("field must be either [lat], [lon] or [z]")
        return GeoPoint(_number(value["lat"], "latitude"), _number(value["lon"], "longitude"))
    if isinstance(value, list):
        if len(value) not in (2, 3):
            raise GeoParseError("[geo_point] field type does not accept more than 3 dimensions")
        return GeoPoint(_number(value[1], "latitude"), _number(value[0], "longitude"))
    if isinstance(value, str):
        wkt = _WKT_POINT.match(value)
        if wkt:
            return GeoPoint(_number(wkt.group(2), "latitude"), _number(wkt.group(1), "longitude"))
        parts = value.split(",")
        if len(parts) in (2, 3):
            try:
                return GeoPoint(float(parts[0].strip()), float(parts[1].strip()))
            except ValueError:
                raise GeoParseError("latitude must be a number") from None
        if len(parts) == 1 and value.strip():
            return _geohash(value.strip())
    raise GeoParseError("geo_point expected")


def checked_point(value: Any, field: str) -> GeoPoint:
    """A document's point: parsed, validated as ES validates (strictly), and quantised."""
    point = parse_point(value)
    if not -90.0 <= point.lat <= 90.0:
        raise GeoParseError(f"illegal latitude value [{point.lat}] for {field}")
    if not -180.0 <= point.lon <= 180.0:
        raise GeoParseError(f"illegal longitude value [{point.lon}] for {field}")
    return quantize(point.lat, point.lon)


def is_single_point(value: list[Any]) -> bool:
    """Whether an array is one ``[lon, lat]`` point rather than a list of points."""
    return 2 <= len(value) <= 3 and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    )


def arc_distance(a: GeoPoint, b: GeoPoint) -> float:
    """Metres between two points along the sphere (haversine)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS * math.asin(min(1.0, math.sqrt(h)))


def parse_distance(value: Any, default_unit: str = "m") -> float:
    """A distance (``"12km"``, ``"200"``, ``15.5``) in metres."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) * _UNITS[default_unit]
    match = _DISTANCE.match(str(value))
    if not match:
        raise GeoParseError(f"failed to parse [{value}] as a distance")
    number, unit = match.groups()
    factor = _UNITS.get(unit or default_unit) or _UNITS.get(unit.lower())
    if factor is None:
        raise GeoParseError(f"No distance unit match [{unit}]")
    return float(number) * factor


def unit_factor(unit: str) -> float:
    factor = _UNITS.get(unit)
    if factor is None:
        raise GeoParseError(f"No distance unit match [{unit}]")
    return factor
