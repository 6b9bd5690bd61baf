"""Aggregation results on the wire: internal, mergeable results <-> msgpack-safe values.
[no I/O]

Cross-cluster search with ``ccs_minimize_roundtrips`` has every remote cluster run its search
and send back its aggregation results in their *internal* form (:class:`AggResult` trees, which
keep everything a merge needs), so that the coordinating cluster can
:func:`~isthmus.search.aggs_core.reduce_results` them with its own and render the response as
one search over the union of the data would. This module owns that encoding:
:func:`encode_results` turns results into values ormsgpack can carry (dict with str keys, list,
str, int, float, bool, None) and :func:`decode_results` turns a peer's values back into results,
or raises :class:`AggsWireError`.

The codec is explicit and type-directed. Only the classes of the allow-list :data:`REGISTRY`
travel, each as ``{"@": "<ClassName>", <field>: <value>, ...}`` with exactly its dataclass fields
(stateless formats such as ``RawFormat`` carry no field). Every field is encoded and decoded by
its declared type (``typing.get_type_hints``), so decoding checks each value's shape against the
annotation: an ``int`` is an int and not a bool, a ``tuple[str, ...]`` comes back a tuple of
strings, a ``DocFormat`` field accepts only registered ``DocFormat`` subclasses. Fields typed
``Any`` (bucket keys, ``_source``, ``meta``, sort values, cardinality values) hold *plain data*
only: None, bool, int, float, str, list and str-keyed dicts as themselves; tuples, sets,
frozensets, dicts with other keys (or with a key ``"@"``) and integers beyond 64 bits as
``{"@": "tuple"|"set"|"frozenset"|"dict"|"int", ...}``. Floats are msgpack float64, so NaN, the
infinities and -0.0 survive. Typed ``Mapping`` fields come back as ``dict``.

Nothing is ever imported or called by a name read from the input: a tag selects an entry of the
allow-list or the payload is refused. A few invariants that reduce and rendering rely on are
checked too (a positive, finite histogram interval; non-negative counts; bucket keys and sort
values that are scalars; one sort value per sort key; a known stats kind). Whether a peer's
partial answers the *same* request as the local one (same aggregation names, same number of
``filters``/``range`` buckets, keys of the same type) is the caller's concern, as is the size
of the payload (bounded by the transport's frame limits).

Adding an aggregation means adding its result classes (and any new dataclass they hold) to
:data:`_ALLOWED`; a unit test fails while an :class:`AggResult` subclass is missing.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import math
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from isthmus.search.aggs_bucket import (
    Bucket,
    BucketOrder,
    FiltersResult,
    OrderKey,
    SingleBucketResult,
)
from isthmus.search.aggs_core import AggDoc, AggResult
from isthmus.search.aggs_format import (
    RAW,
    BooleanFormat,
    DateFormat,
    DecimalFormat,
    DocFormat,
    RawFormat,
)
from isthmus.search.aggs_geo import GeoBoundsResult, GeoCentroidResult
from isthmus.search.aggs_histogram import (
    Bounds,
    CalendarRounding,
    FixedRounding,
    HistogramResult,
    NumericRounding,
)
from isthmus.search.aggs_ip import IpRange, IpRangeBucket, IpRangeResult
from isthmus.search.aggs_metric import (
    CardinalityResult,
    CompensatedSum,
    PercentilesResult,
    StatsResult,
    StatsState,
)
from isthmus.search.aggs_range import RangeBucket, RangeResult
from isthmus.search.aggs_terms import TermsResult
from isthmus.search.aggs_top_hits import (
    MAX_INNER_RESULT_WINDOW,
    RankedHit,
    SortKey,
    SourceFilter,
    TopHitsResult,
)
from isthmus.wire import RemoteProtocolError

WIRE_VERSION = 1
TAG = "@"
# Nesting levels of the encoded value a peer may send (each aggregation level takes about four:
# result, bucket list, bucket, sub-aggregation map). Far beyond real requests, well below
# Python's recursion limit.
MAX_DEPTH = 200
_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1  # what msgpack carries as an integer
_PLAIN_TAGS = frozenset({"tuple", "set", "frozenset", "dict", "int"})


class AggsWireError(RemoteProtocolError):
    """A peer's aggregation results could not be decoded (unknown class, wrong shape, broken
    invariant). A :class:`~isthmus.wire.RemoteProtocolError`: the peer broke the protocol."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed aggregation results: {reason}")
        self.reason = reason


class _Invalid(Exception):
    """Internal: why decoding failed, and where (field names collected while unwinding)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def _describe(raw: Any) -> str:
    return type(raw).__name__


def _show(raw: Any) -> str:
    """A peer's value in an error message: short strings and small ints, else just the type."""
    if type(raw) is str:
        return repr(raw[:40])
    if type(raw) is int and abs(raw) < 2**64:
        return str(raw)
    return f"<{_describe(raw)}>"


# --- codecs by declared type --------------------------------------------------------------------


class _Codec(ABC):
    @abstractmethod
    def fits(self, value: Any) -> bool:
        """Whether a Python value has this type (shallowly); picks a union's arm to encode."""

    @abstractmethod
    def encode(self, value: Any) -> Any: ...

    @abstractmethod
    def matches(self, raw: Any) -> bool:
        """Whether an encoded value has this codec's outer shape; picks a union's arm."""

    @abstractmethod
    def decode(self, raw: Any, depth: int) -> Any: ...


def _encode_int(value: int) -> Any:
    if _INT_MIN <= value <= _UINT_MAX:
        return value
    return {TAG: "int", "v": str(value)}


def _is_tagged(raw: Any, tag: str) -> bool:
    return type(raw) is dict and raw.get(TAG) == tag


def _decode_int(raw: Any) -> int:
    if type(raw) is int:
        return raw
    if _is_tagged(raw, "int") and set(raw) == {TAG, "v"} and type(raw["v"]) is str:
        try:
            return int(raw["v"])
        except ValueError:  # not digits, or more digits than int() accepts
            raise _Invalid("integer tag with an invalid value") from None
    raise _Invalid(f"expected an integer, got {_describe(raw)}")


def _check_depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _Invalid(f"nested deeper than {MAX_DEPTH} levels")


class _NoneCodec(_Codec):
    def fits(self, value: Any) -> bool:
        return value is None

    def encode(self, value: Any) -> Any:
        if value is not None:
            raise TypeError(f"expected None, got {_describe(value)}")
        return None

    def matches(self, raw: Any) -> bool:
        return raw is None

    def decode(self, raw: Any, depth: int) -> Any:
        if raw is not None:
            raise _Invalid(f"expected null, got {_describe(raw)}")
        return None


class _ScalarCodec(_Codec):
    """bool, str: exactly that type."""

    def __init__(self, kind: type) -> None:
        self.kind = kind

    def fits(self, value: Any) -> bool:
        return type(value) is self.kind

    def encode(self, value: Any) -> Any:
        if type(value) is not self.kind:
            raise TypeError(f"expected {self.kind.__name__}, got {_describe(value)}")
        return value

    def matches(self, raw: Any) -> bool:
        return type(raw) is self.kind

    def decode(self, raw: Any, depth: int) -> Any:
        if type(raw) is not self.kind:
            raise _Invalid(f"expected {self.kind.__name__}, got {_describe(raw)}")
        return raw


class _IntCodec(_Codec):
    """``int``: an int, never a bool."""

    def fits(self, value: Any) -> bool:
        return type(value) is int

    def encode(self, value: Any) -> Any:
        if type(value) is not int:
            raise TypeError(f"expected int, got {_describe(value)}")
        return _encode_int(value)

    def matches(self, raw: Any) -> bool:
        return type(raw) is int or _is_tagged(raw, "int")

    def decode(self, raw: Any, depth: int) -> Any:
        return _decode_int(raw)


class _FloatCodec(_Codec):
    """``float``: a float or (as typing allows, and kept as such) an int, never a bool."""

    def fits(self, value: Any) -> bool:
        return type(value) in (float, int)

    def encode(self, value: Any) -> Any:
        if type(value) is float:
            return value
        if type(value) is int:
            return _encode_int(value)
        raise TypeError(f"expected float, got {_describe(value)}")

    def matches(self, raw: Any) -> bool:
        return type(raw) in (float, int) or _is_tagged(raw, "int")

    def decode(self, raw: Any, depth: int) -> Any:
        if type(raw) is float:
            return raw
        return _decode_int(raw)


class _AnyCodec(_Codec):
    """Plain data: what ``Any`` fields hold. Never a registered class."""

    def fits(self, value: Any) -> bool:
        return True

    def encode(self, value: Any) -> Any:
        kind = type(value)
        if value is None or kind in (bool, str, float):
            return value
        if isinstance(value, str):
            return str(value)  # an ip address (index.ip) travels as its text
        if kind is int:
            return _encode_int(value)
        if kind is list:
            return [self.encode(v) for v in value]
        if kind is tuple:
            return {TAG: "tuple", "items": [self.encode(v) for v in value]}
        if kind in (set, frozenset):
            return {TAG: kind.__name__, "items": [self.encode(v) for v in value]}
        if kind is dict:
            if TAG not in value and all(type(k) is str for k in value):
                return {k: self.encode(v) for k, v in value.items()}
            return {
                TAG: "dict",
                "items": [[self.encode(k), self.encode(v)] for k, v in value.items()],
            }
        raise TypeError(f"cannot encode a {kind.__name__} as plain data")

    def matches(self, raw: Any) -> bool:
        return True

    def decode(self, raw: Any, depth: int) -> Any:
        kind = type(raw)
        if raw is None or kind in (bool, str, float, int):
            return raw
        _check_depth(depth)
        if kind is list:
            return [self.decode(v, depth + 1) for v in raw]
        if kind is not dict:
            raise _Invalid(f"unexpected {kind.__name__}")
        if any(type(k) is not str for k in raw):
            raise _Invalid("map with a non-string key")
        if TAG not in raw:
            return {k: self.decode(v, depth + 1) for k, v in raw.items()}
        tag = raw[TAG]
        if tag == "int":
            return _decode_int(raw)
        if (
            type(tag) is not str
            or tag not in _PLAIN_TAGS
            or set(raw) != {TAG, "items"}
            or type(raw["items"]) is not list
        ):
            raise _Invalid(f"unknown or malformed plain value tag {_show(tag)}")
        items = [self.decode(v, depth + 1) for v in raw["items"]]
        try:
            if tag == "tuple":
                return tuple(items)
            if tag == "set":
                return set(items)
            if tag == "frozenset":
                return frozenset(items)
            if not all(type(p) is list and len(p) == 2 for p in items):
                raise _Invalid("dict items must be [key, value] pairs")
            return {k: v for k, v in items}
        except TypeError:  # an unhashable set element or dict key
            raise _Invalid(f"unhashable member in a {tag}") from None


class _ListCodec(_Codec):
    def __init__(self, item: _Codec) -> None:
        self.item = item

    def fits(self, value: Any) -> bool:
        return type(value) is list

    def encode(self, value: Any) -> Any:
        if type(value) is not list:
            raise TypeError(f"expected list, got {_describe(value)}")
        return [self.item.encode(v) for v in value]

    def matches(self, raw: Any) -> bool:
        return type(raw) is list

    def decode(self, raw: Any, depth: int) -> Any:
        if type(raw) is not list:
            raise _Invalid(f"expected list, got {_describe(raw)}")
        _check_depth(depth)
        return [self.item.decode(v, depth + 1) for v in raw]


class _TupleCodec(_Codec):
    """``tuple[T, ...]`` (``items`` of one codec, variadic) or ``tuple[A, B]`` (fixed)."""

    def __init__(self, items: tuple[_Codec, ...], variadic: bool) -> None:
        self.items = items
        self.variadic = variadic

    def _codecs(self, n: int) -> tuple[_Codec, ...] | None:
        if self.variadic:
            return (self.items[0],) * n
        return self.items if n == len(self.items) else None

    def fits(self, value: Any) -> bool:
        return type(value) is tuple

    def encode(self, value: Any) -> Any:
        codecs = self._codecs(len(value)) if type(value) is tuple else None
        if codecs is None:
            size = "" if self.variadic else f" of {len(self.items)}"
            raise TypeError(f"expected a tuple{size}, got {_describe(value)}")
        return [c.encode(v) for c, v in zip(codecs, value, strict=True)]

    def matches(self, raw: Any) -> bool:
        return type(raw) is list

    def decode(self, raw: Any, depth: int) -> Any:
        codecs = self._codecs(len(raw)) if type(raw) is list else None
        if codecs is None:
            size = "" if self.variadic else f" of {len(self.items)}"
            raise _Invalid(f"expected a list{size} for a tuple, got {_describe(raw)}")
        _check_depth(depth)
        return tuple(c.decode(v, depth + 1) for c, v in zip(codecs, raw, strict=True))


class _SetCodec(_Codec):
    def __init__(self, item: _Codec, kind: type[Any]) -> None:
        self.item = item
        self.kind = kind

    def fits(self, value: Any) -> bool:
        return type(value) is self.kind

    def encode(self, value: Any) -> Any:
        if type(value) is not self.kind:
            raise TypeError(f"expected {self.kind.__name__}, got {_describe(value)}")
        return [self.item.encode(v) for v in value]

    def matches(self, raw: Any) -> bool:
        return type(raw) is list

    def decode(self, raw: Any, depth: int) -> Any:
        if type(raw) is not list:
            raise _Invalid(f"expected list for a {self.kind.__name__}, got {_describe(raw)}")
        _check_depth(depth)
        items = [self.item.decode(v, depth + 1) for v in raw]
        try:
            return self.kind(items)
        except TypeError:
            raise _Invalid(f"unhashable member in a {self.kind.__name__}") from None


class _DictCodec(_Codec):
    """``dict[K, V]`` / ``Mapping[K, V]`` (decoded as dict): a map for str keys, else pairs."""

    def __init__(self, key: _Codec, value: _Codec, *, any_mapping: bool) -> None:
        self.key = key
        self.value = value
        self.any_mapping = any_mapping
        self.str_keys = isinstance(key, _ScalarCodec) and key.kind is str

    def fits(self, value: Any) -> bool:
        return isinstance(value, Mapping) if self.any_mapping else type(value) is dict

    def encode(self, value: Any) -> Any:
        if not self.fits(value):
            raise TypeError(f"expected a mapping, got {_describe(value)}")
        if self.str_keys:
            return {self.key.encode(k): self.value.encode(v) for k, v in value.items()}
        return [[self.key.encode(k), self.value.encode(v)] for k, v in value.items()]

    def matches(self, raw: Any) -> bool:
        return type(raw) is (dict if self.str_keys else list)

    def decode(self, raw: Any, depth: int) -> Any:
        if not self.matches(raw):
            raise _Invalid(f"expected a {'map' if self.str_keys else 'list of pairs'}")
        _check_depth(depth)
        pairs = raw.items() if self.str_keys else raw
        out: dict[Any, Any] = {}
        for pair in pairs:
            if type(pair) not in (list, tuple) or len(pair) != 2:
                raise _Invalid("dict items must be [key, value] pairs")
            key = self.key.decode(pair[0], depth + 1)
            try:
                item = self.value.decode(pair[1], depth + 1)
            except _Invalid as exc:
                exc.path.append(f"[{_show(key)}]")
                raise
            try:
                out[key] = item
            except TypeError:
                raise _Invalid("unhashable dict key") from None
        return out


class _UnionCodec(_Codec):
    def __init__(self, arms: tuple[_Codec, ...]) -> None:
        self.arms = arms

    def fits(self, value: Any) -> bool:
        return any(a.fits(value) for a in self.arms)

    def encode(self, value: Any) -> Any:
        for arm in self.arms:
            if arm.fits(value):
                return arm.encode(value)
        raise TypeError(f"{_describe(value)} fits no member of the union")

    def matches(self, raw: Any) -> bool:
        return any(a.matches(raw) for a in self.arms)

    def decode(self, raw: Any, depth: int) -> Any:
        for arm in self.arms:
            if arm.matches(raw):
                return arm.decode(raw, depth)
        raise _Invalid(f"unexpected {_describe(raw)}")


class _ClassCodec(_Codec):
    """A field typed with a class: any registered class that is (a subclass of) it."""

    def __init__(self, base: type) -> None:
        self.base = base

    def fits(self, value: Any) -> bool:
        return isinstance(value, self.base)

    def encode(self, value: Any) -> Any:
        entry = _BY_CLASS.get(type(value))
        if entry is None or not isinstance(value, self.base):
            raise TypeError(
                f"{type(value).__qualname__} is not a registered {self.base.__name__} "
                "(add it to aggs_wire._ALLOWED)"
            )
        return entry.encode(value)

    def matches(self, raw: Any) -> bool:
        return type(raw) is dict and TAG in raw

    def decode(self, raw: Any, depth: int) -> Any:
        if not self.matches(raw):
            raise _Invalid(f"expected a tagged {self.base.__name__}, got {_describe(raw)}")
        tag = raw[TAG]
        entry = _BY_NAME.get(tag) if type(tag) is str else None
        if entry is None:
            raise _Invalid(f"unknown class tag {_show(tag)}")
        if not issubclass(entry.cls, self.base):
            raise _Invalid(f"a {tag} where a {self.base.__name__} belongs")
        _check_depth(depth)
        return entry.decode(raw, depth + 1)


_SCALARS: dict[Any, _Codec] = {
    bool: _ScalarCodec(bool),
    str: _ScalarCodec(str),
    int: _IntCodec(),
    float: _FloatCodec(),
    type(None): _NoneCodec(),
    None: _NoneCodec(),
}
_ANY = _AnyCodec()
# Bare containers (``list`` without an item type) say too little to check a peer's values.
_CONTAINERS = (list, tuple, set, frozenset, dict, collections.abc.Mapping, str, bytes)


def _compile(hint: Any) -> _Codec:
    """The codec of a resolved annotation; TypeError for a type this codec does not carry."""
    if hint is Any:
        return _ANY
    if hint in _SCALARS:
        return _SCALARS[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return _UnionCodec(tuple(_compile(a) for a in args))
    if origin is list and len(args) == 1:
        return _ListCodec(_compile(args[0]))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _TupleCodec((_compile(args[0]),), variadic=True)
    if origin is tuple and args:
        return _TupleCodec(tuple(_compile(a) for a in args), variadic=False)
    if origin in (set, frozenset) and len(args) == 1:
        return _SetCodec(_compile(args[0]), origin)
    if origin in (dict, collections.abc.Mapping) and len(args) == 2:
        return _DictCodec(_compile(args[0]), _compile(args[1]), any_mapping=origin is not dict)
    if origin is None and isinstance(hint, type) and not issubclass(hint, _CONTAINERS):
        return _ClassCodec(hint)
    raise TypeError(f"aggs_wire cannot carry a field of type {hint!r}")


# --- the allow-list -----------------------------------------------------------------------------


class _Entry:
    """How one allow-listed class travels."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.name = cls.__name__

    def encode(self, value: Any) -> dict[str, Any]:
        raise NotImplementedError

    def decode(self, raw: dict[str, Any], depth: int) -> Any:
        raise NotImplementedError


class _DataclassEntry(_Entry):
    def __init__(self, cls: type) -> None:
        super().__init__(cls)
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        if any(not f.init for f in fields):
            raise TypeError(f"{self.name}: fields that __init__ does not take cannot travel")
        self.fields = tuple((f.name, _compile(hints[f.name])) for f in fields)
        self.names = frozenset({TAG, *(name for name, _ in self.fields)})

    def encode(self, value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {TAG: self.name}
        for name, codec in self.fields:
            try:
                out[name] = codec.encode(getattr(value, name))
            except TypeError as exc:
                raise TypeError(f"{self.name}.{name}: {exc}") from None
        return out

    def decode(self, raw: dict[str, Any], depth: int) -> Any:
        if set(raw) != self.names:
            missing = sorted(self.names - set(raw))
            extra = sorted(_show(n) for n in set(raw) - self.names)
            raise _Invalid(f"{self.name} with missing fields {missing} / unknown fields {extra}")
        kwargs = {}
        for name, codec in self.fields:
            try:
                kwargs[name] = codec.decode(raw[name], depth)
            except _Invalid as exc:
                exc.path.append(f"{self.name}.{name}")
                raise
        value = self.cls(**kwargs)
        check = _INVARIANTS.get(self.cls)
        problem = check(value) if check is not None else None
        if problem is not None:
            raise _Invalid(f"{self.name}: {problem}")
        return value


class _StatelessEntry(_Entry):
    """A class without instance state (``RawFormat``): the tag alone, decoded by ``make``."""

    def __init__(self, cls: type, make: Callable[[], Any]) -> None:
        super().__init__(cls)
        self.make = make

    def encode(self, value: Any) -> dict[str, Any]:
        if vars(value):
            raise TypeError(f"{self.name} instance carries state {sorted(vars(value))}")
        return {TAG: self.name}

    def decode(self, raw: dict[str, Any], depth: int) -> Any:
        if set(raw) != {TAG}:
            raise _Invalid(f"{self.name} takes no fields")
        return self.make()


# Every class that can appear inside an AggResult tree, and nothing else.
_ALLOWED: tuple[type, ...] = (
    # results
    SingleBucketResult,
    FiltersResult,
    TermsResult,
    HistogramResult,
    RangeResult,
    StatsResult,
    CardinalityResult,
    PercentilesResult,
    TopHitsResult,
    GeoBoundsResult,
    GeoCentroidResult,
    IpRangeResult,
    # what they hold
    IpRangeBucket,
    IpRange,
    Bucket,
    BucketOrder,
    OrderKey,
    NumericRounding,
    FixedRounding,
    CalendarRounding,
    Bounds,
    RangeBucket,
    StatsState,
    CompensatedSum,
    RankedHit,
    SortKey,
    SourceFilter,
    AggDoc,
    DateFormat,
    DecimalFormat,
)
_STATELESS: tuple[tuple[type, Callable[[], Any]], ...] = (
    (DocFormat, DocFormat),
    (RawFormat, lambda: RAW),
    (BooleanFormat, BooleanFormat),
)

_STATS_KINDS = frozenset({"avg", "sum", "min", "max", "value_count", "stats", "extended_stats"})


def _check_numeric_rounding(r: NumericRounding) -> str | None:
    ok = math.isfinite(r.interval) and r.interval > 0 and math.isfinite(r.offset)
    return None if ok else "interval must be finite and positive, offset finite"


def _check_top_hits(r: TopHitsResult) -> str | None:
    if r.start < 0 or r.size < 0 or r.start + r.size > MAX_INNER_RESULT_WINDOW or r.total < 0:
        return "negative or oversized from/size/total"
    n = len(r.sort)
    if any(len(h.keys) != n or len(h.shown) != n for h in r.hits):
        return "a hit's sort values do not match the sort"
    return None


_SCALAR_TYPES = (type(None), bool, int, float, str)


def _scalar(value: Any) -> bool:
    # A str subclass is a field's value shown as text (an ip address, index.ip).
    return type(value) in _SCALAR_TYPES or isinstance(value, str)


def _check_bucket(b: Bucket) -> str | None:
    if b.doc_count < 0:
        return "negative doc_count"
    return None if _scalar(b.key) else "a bucket key must be null, a boolean, a number or a string"


def _check_ranked_hit(h: RankedHit) -> str | None:
    ok = all(_scalar(v) for v in h.keys) and all(_scalar(v) for v in h.shown)
    return None if ok else "sort values must be null, booleans, numbers or strings"


_INVARIANTS: dict[type, Callable[[Any], str | None]] = {
    Bucket: _check_bucket,
    RankedHit: _check_ranked_hit,
    StatsState: lambda s: None if s.count >= 0 else "negative count",
    StatsResult: lambda r: None if r.kind in _STATS_KINDS else "unknown kind",
    TermsResult: lambda r: (
        None if r.size > 0 and r.min_doc_count >= 0 and r.other_doc_count >= 0 else "bad sizes"
    ),
    HistogramResult: lambda r: None if r.min_doc_count >= 0 else "negative min_doc_count",
    NumericRounding: _check_numeric_rounding,
    FixedRounding: lambda r: None if r.interval > 0 else "interval must be positive",
    BucketOrder: lambda o: None if o.keys else "an order needs at least one key",
    TopHitsResult: _check_top_hits,
}


def _build_registry() -> tuple[dict[str, _Entry], dict[type, _Entry]]:
    entries: list[_Entry] = [_DataclassEntry(cls) for cls in _ALLOWED]
    entries += [_StatelessEntry(cls, make) for cls, make in _STATELESS]
    by_name: dict[str, _Entry] = {}
    for entry in entries:
        if entry.name in by_name or entry.name in _PLAIN_TAGS:
            raise TypeError(f"aggs_wire: two classes travel as {entry.name!r}")
        by_name[entry.name] = entry
    return by_name, {e.cls: e for e in entries}


_BY_NAME, _BY_CLASS = _build_registry()

REGISTRY: Mapping[str, type] = types.MappingProxyType({n: e.cls for n, e in _BY_NAME.items()})
"""The allow-list: tag → class, for every class that may travel."""

_RESULTS = _DictCodec(_SCALARS[str], _ClassCodec(AggResult), any_mapping=True)


# --- entry points -------------------------------------------------------------------------------


def encode_results(results: Mapping[str, AggResult]) -> dict[str, Any]:
    """``results`` (name → internal result) as msgpack-safe values.

    Raises TypeError when a result holds something the codec cannot carry faithfully (a class
    missing from the allow-list, a value that does not match its field's declared type).
    """
    return {"v": WIRE_VERSION, "aggs": _RESULTS.encode(results)}


def decode_results(value: Any) -> dict[str, AggResult]:
    """Results from a peer's :func:`encode_results` value (after msgpack); any other input
    raises :class:`AggsWireError`."""
    if type(value) is not dict or set(value) != {"v", "aggs"}:
        raise AggsWireError("expected an object with [v] and [aggs]")
    if type(value["v"]) is not int or value["v"] != WIRE_VERSION:
        raise AggsWireError(f"unsupported version {_show(value['v'])}, expected {WIRE_VERSION}")
    try:
        decoded: dict[str, AggResult] = _RESULTS.decode(value["aggs"], 0)
    except _Invalid as exc:
        where = " > ".join(reversed(exc.path))
        raise AggsWireError(f"{exc.reason} at {where}" if where else exc.reason) from None
    except RecursionError:
        raise AggsWireError("nested too deeply") from None
    return decoded


__all__ = [
    "MAX_DEPTH",
    "REGISTRY",
    "WIRE_VERSION",
    "AggsWireError",
    "decode_results",
    "encode_results",
]
