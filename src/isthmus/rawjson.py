"""JSON kept as the bytes it was stored as, for documents' ``_source`` in search responses.

A hit's ``_source`` is the document exactly as it was indexed. Parsing it into Python objects only
to serialize it again costs time on every hit (twice in a cross-cluster search: on the remote
cluster and on the coordinator), so an unfiltered source travels as :class:`RawJson` and is
written into the response as is, as Elasticsearch writes source bytes. Code that has to walk a
response (``filter_path``, ``?pretty``, YAML) calls :func:`expand` first.  [no I/O]
"""

from __future__ import annotations

from typing import Any

import orjson


class RawJson:
    """One JSON value as UTF-8 bytes, already known to be valid JSON."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    @classmethod
    def checked(cls, raw: bytes) -> RawJson:
        """``raw`` from another cluster: it must parse before it goes into our response
        (``orjson.JSONDecodeError``, a ValueError, otherwise)."""
        orjson.loads(raw)
        return cls(raw)

    def fragment(self) -> orjson.Fragment:
        """What orjson writes verbatim (returned from a ``default`` hook)."""
        return orjson.Fragment(self.raw)

    def value(self) -> Any:
        return orjson.loads(self.raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RawJson):
            return self.raw == other.raw or self.value() == other.value()
        return bool(self.value() == other)

    __hash__ = None  # type: ignore[assignment]  # equal to mutable values: not hashable

    def __repr__(self) -> str:
        return f"RawJson({self.raw[:60]!r}{'...' if len(self.raw) > 60 else ''})"


def expand(value: Any) -> Any:
    """``value`` with every :class:`RawJson` inside it parsed (containers are copied only where
    something was replaced)."""
    if type(value) is RawJson:
        return value.value()
    if isinstance(value, dict):
        out = {k: expand(v) for k, v in value.items()}
        return out if any(out[k] is not value[k] for k in out) else value
    if isinstance(value, list):
        items = [expand(v) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value
