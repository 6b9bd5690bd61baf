"""The type-directed codecs of ``search.aggs_wire``: one per declared field type.  [no I/O]

Each codec encodes a Python value of its type into msgpack-safe values and decodes a peer's
values back, checking their shape against the type (an ``int`` is an int and not a bool, a
``tuple[str, ...]`` a tuple of strings); ``Any`` fields hold plain data, tagged with
:data:`TAG` where msgpack has no such type. Decoding failures raise :class:`_Invalid`, which
``aggs_wire`` turns into its ``AggsWireError``. Fields typed with a class, and the allow-list of
classes that may travel, are ``aggs_wire``'s.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

TAG = "@"
# Nesting levels of the encoded value a peer may send (each aggregation level takes about four:
# result, bucket list, bucket, sub-aggregation map). Far beyond real requests, well below
# Python's recursion limit.
MAX_DEPTH = 200
_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1  # what msgpack carries as an integer
_PLAIN_TAGS = frozenset({"tuple", "set", "frozenset", "dict", "int"})


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


_SCALARS: dict[Any, _Codec] = {
    bool: _ScalarCodec(bool),
    str: _ScalarCodec(str),
    int: _IntCodec(),
    float: _FloatCodec(),
    type(None): _NoneCodec(),
    None: _NoneCodec(),
}
_ANY = _AnyCodec()
