"""The payloads of the cross-cluster index APIs on the transport, typed.  [no I/O]

What a coordinating cluster sends a remote one, and what comes back, for
``indices:admin/resolve/index`` (``GET /_resolve/index``), ``indices:admin/resolve/cluster``
(``GET /_resolve/cluster``) and ``indices:data/read/field_caps`` (``_field_caps``). Each value
knows its payload form (``to_payload``: the msgpack map sent, unchanged from the ad-hoc maps it
replaces) and reads one back (``from_payload``), validating every field: a malformed request is
refused with ES's ``illegal_argument_exception``, a malformed answer names the cluster that sent
it. (Cross-cluster search's payloads are in :mod:`isthmus.search.ccs_wire`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.errors import IllegalArgumentError

# A remote index's field capabilities: field -> [type, searchable, aggregatable, metadata_field].
IndexCaps = dict[str, list[Any]]
_RESOLVED_KINDS = ("indices", "aliases", "data_streams")


@dataclass(frozen=True)
class ResolveIndexRequest:
    indices: tuple[str, ...]
    params: Mapping[str, str]

    def to_payload(self) -> dict[str, Any]:
        return {"indices": list(self.indices), "params": dict(self.params)}

    @classmethod
    def from_payload(cls, value: Any) -> ResolveIndexRequest:
        names = value.get("indices") if isinstance(value, dict) else None
        indices = _names(names, "resolve index request needs a list of [indices]")
        return cls(indices, _params(value.get("params"), "resolve index request"))


@dataclass(frozen=True)
class ResolveIndexResponse:
    """A cluster's matching indices, aliases and data streams, as ``_resolve/index`` lists them
    (each entry a map with at least its ``name``)."""

    indices: list[dict[str, Any]]
    aliases: list[dict[str, Any]]
    data_streams: list[dict[str, Any]]

    def kinds(self) -> tuple[list[dict[str, Any]], ...]:
        """The three lists, in the order of the response's sections."""
        return (self.indices, self.aliases, self.data_streams)

    def to_payload(self) -> dict[str, Any]:
        return dict(zip(_RESOLVED_KINDS, self.kinds(), strict=True))

    @classmethod
    def from_payload(cls, value: Any, *, cluster: str) -> ResolveIndexResponse:
        if not isinstance(value, dict):
            raise _malformed("resolve index", cluster)
        kinds = []
        for kind in _RESOLVED_KINDS:
            entries = value.get(kind, [])
            if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries
            ):
                raise _malformed("resolve index", cluster)
            kinds.append(entries)
        return cls(*kinds)


@dataclass(frozen=True)
class ResolveClusterRequest:
    indices: tuple[str, ...]

    def to_payload(self) -> dict[str, Any]:
        return {"indices": list(self.indices)}

    @classmethod
    def from_payload(cls, value: Any) -> ResolveClusterRequest:
        names = value.get("indices") if isinstance(value, dict) else None
        return cls(_names(names, "resolve cluster request needs a list of [indices]"))


@dataclass(frozen=True)
class ResolveClusterResponse:
    """Whether the expression matches indices the caller may see there, and the remote's
    version block."""

    matching_indices: bool
    version: dict[str, Any] | None

    def to_payload(self) -> dict[str, Any]:
        return {"matching_indices": self.matching_indices, "version": self.version}

    @classmethod
    def from_payload(cls, value: Any, *, cluster: str) -> ResolveClusterResponse:
        version = value.get("version") if isinstance(value, dict) else None
        if not isinstance(value, dict) or not (version is None or isinstance(version, dict)):
            raise _malformed("resolve cluster", cluster)
        return cls(bool(value.get("matching_indices")), version)


@dataclass(frozen=True)
class FieldCapsRequest:
    indices: tuple[str, ...]
    fields: tuple[str, ...]
    params: Mapping[str, str]

    def to_payload(self) -> dict[str, Any]:
        return {
            "indices": list(self.indices),
            "fields": list(self.fields),
            "params": dict(self.params),
        }

    @classmethod
    def from_payload(cls, value: Any) -> FieldCapsRequest:
        if not isinstance(value, dict) or not isinstance(value.get("indices"), list):
            raise IllegalArgumentError("field caps request needs a list of [indices]")
        fields = value.get("fields") or []
        if not isinstance(fields, list):
            raise IllegalArgumentError("field caps request [fields] must be a list")
        return cls(
            tuple(str(n) for n in value["indices"]),
            tuple(str(f) for f in fields),
            _params(value.get("params"), "field caps request"),
        )


@dataclass(frozen=True)
class FieldCapsResponse:
    """Each index's field capabilities, by index name as the answering cluster spells it."""

    indices: dict[str, IndexCaps]

    def to_payload(self) -> dict[str, Any]:
        return self.indices

    @classmethod
    def from_payload(cls, value: Any, *, cluster: str) -> FieldCapsResponse:
        if not isinstance(value, dict) or not all(
            isinstance(index, str) and isinstance(caps, dict) and all(map(_is_caps, caps.values()))
            for index, caps in value.items()
        ):
            raise _malformed("field caps", cluster)
        return cls(value)


def _is_caps(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 4 and isinstance(value[0], str)


def _malformed(what: str, cluster: str) -> IllegalArgumentError:
    return IllegalArgumentError(f"malformed {what} answer from [{cluster}]")


def _names(value: Any, message: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise IllegalArgumentError(message)
    return tuple(value)


def _params(value: Any, what: str) -> dict[str, str]:
    """URL parameters as the coordinator forwarded them (absent: none)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IllegalArgumentError(f"{what} [params] must be a map")
    return {str(k): str(v) for k, v in value.items()}


__all__ = [
    "FieldCapsRequest",
    "FieldCapsResponse",
    "IndexCaps",
    "ResolveClusterRequest",
    "ResolveClusterResponse",
    "ResolveIndexRequest",
    "ResolveIndexResponse",
]
