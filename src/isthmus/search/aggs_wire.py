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

The codecs by declared type are in ``aggs_wire_codecs``; the allow-list and the invariants in
``aggs_wire_allowlist``: adding an aggregation means adding its result classes (and any new
dataclass they hold) to ``aggs_wire_allowlist._ALLOWED``; a unit test fails while an
:class:`AggResult` subclass is missing.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from isthmus.search.aggs_core import AggResult
from isthmus.search.aggs_wire_allowlist import _ALLOWED, _INVARIANTS, _STATELESS
from isthmus.search.aggs_wire_codecs import (
    _ANY,
    _PLAIN_TAGS,
    _SCALARS,
    MAX_DEPTH,
    TAG,
    _check_depth,
    _Codec,
    _describe,
    _DictCodec,
    _Invalid,
    _ListCodec,
    _SetCodec,
    _show,
    _TupleCodec,
    _UnionCodec,
)
from isthmus.wire import RemoteProtocolError

WIRE_VERSION = 1


class AggsWireError(RemoteProtocolError):
    """A peer's aggregation results could not be decoded (unknown class, wrong shape, broken
    invariant). A :class:`~isthmus.wire.RemoteProtocolError`: the peer broke the protocol."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed aggregation results: {reason}")
        self.reason = reason


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
