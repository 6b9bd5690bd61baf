"""Typed events that cross a transport connection, and errors as wire values.

This module owns what a frame *means*: the events a :class:`~isthmus.wire.connection.Connection`
yields and accepts, the ormsgpack payload codec, and :class:`WireError`, the structured form in
which an :class:`~isthmus.errors.IsthmusError` crosses the wire so that a remote failure reaches a
REST caller with its Elasticsearch ``type``, reason, cause chain, extra fields and status intact.
No I/O, no bookkeeping (that is the connection's job).
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import ormsgpack

from isthmus.errors import IsthmusError
from isthmus.wire.error_types import class_for
from isthmus.wire.frames import ProtocolError, RemoteProtocolError

# A cause chain deeper than this is hostile or broken; ES chains are a handful deep.
MAX_CAUSE_DEPTH = 32
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class Request(NamedTuple):
    """A request: ``payload`` is any ormsgpack-encodable value.

    ``compression`` is the scheme (``"deflate"`` or ``"lz4"``) the payload travels with, or
    None. On a received request it is the scheme the peer used, and the answer to it goes back
    compressed the same way (see :class:`~isthmus.wire.connection.Connection`).
    """

    request_id: int
    action: str
    payload: Any = None
    headers: Mapping[str, str] = _NO_HEADERS
    compression: str | None = None


class Response(NamedTuple):
    """A successful answer to the request with the same ``request_id``. (Requests and
    responses are named tuples: one of each is built per message, at a third of a frozen
    dataclass's cost.)"""

    request_id: int
    payload: Any = None
    headers: Mapping[str, str] = _NO_HEADERS


@dataclass(frozen=True)
class ErrorResponse:
    """A failed answer: the error frame's payload is ``error`` as a map."""

    request_id: int
    error: WireError
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ping:
    """A keep-alive frame. It carries nothing and needs no answer."""


@dataclass(frozen=True)
class ConnectionClosed:
    """The peer closed the stream cleanly; ``pending`` are our requests it never answered."""

    pending: tuple[int, ...] = ()


Event = Request | Response | ErrorResponse | Ping | ConnectionClosed


# --- payload codec ------------------------------------------------------------------------------


def pack_payload(value: Any) -> bytes:
    """Encode a payload; a value ormsgpack cannot encode is the caller's mistake."""
    try:
        return bytes(ormsgpack.packb(value))
    except (TypeError, ValueError, ormsgpack.MsgpackEncodeError) as exc:
        raise ProtocolError(f"payload cannot be encoded: {exc}") from None


def unpack_payload(raw: bytes) -> Any:
    """Decode a payload; bytes that are not one msgpack value are the peer's mistake."""
    if not raw:
        raise RemoteProtocolError("empty payload")
    try:
        return ormsgpack.unpackb(raw)
    except (ormsgpack.MsgpackDecodeError, ValueError, TypeError) as exc:
        raise RemoteProtocolError(f"payload is not valid msgpack: {exc}") from None


# --- errors as values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WireError:
    """An error as it travels: ES ``type``, ``reason``, HTTP ``status``, cause chain, extras."""

    type: str
    reason: str
    status: int = 500
    caused_by: WireError | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    stack: str | None = None  # optional: a remote stack trace for the logs, never for clients
    # False for errors ES raises as plain Java exceptions; it decides the REST root cause.
    is_es: bool = True
    # The name of the node that raised it (ES's RemoteTransportException names it, even before
    # the caller learnt it from a handshake).
    node: str | None = None

    @classmethod
    def from_exception(
        cls, err: IsthmusError, *, include_stack: bool = False, node: str | None = None
    ) -> WireError:
        """The wire form of ``err`` and its whole ``caused_by`` chain."""
        stack = None
        if include_stack:
            stack = "".join(traceback.format_exception(err)).rstrip() or None
        cause = err.caused_by
        return cls(
            type=err.es_type,
            reason=err.reason,
            status=err.http_status,
            caused_by=None if cause is None else cls.from_exception(cause),
            extra=dict(err.extra),
            stack=stack,
            is_es=err.is_es,
            node=node,
        )

    def to_exception(self) -> IsthmusError:
        """The local exception: a known ES type becomes the Isthmus class the static table
        names, any other type a :class:`RemoteError` that keeps the type string, so the REST
        body is unchanged."""
        cls = _class_for(self.type, self.status, self.is_es)
        err = cls.__new__(cls)
        # Bypass subclass constructors (IndexNotFoundError(index) ...): the wire already holds
        # the finished reason and extras, which is all the base initialiser needs.
        IsthmusError.__init__(
            err,
            self.reason,
            caused_by=None if self.caused_by is None else self.caused_by.to_exception(),
            extra=self.extra,
            status=self.status,
        )
        return err

    def to_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "reason": self.reason, "status": self.status}
        if self.extra:
            body["extra"] = dict(self.extra)
        if self.caused_by is not None:
            body["caused_by"] = self.caused_by.to_payload()
        if self.stack is not None:
            body["stack"] = self.stack
        if not self.is_es:
            body["is_es"] = False
        if self.node is not None:
            body["node"] = self.node
        return body

    @classmethod
    def from_payload(cls, value: Any, _depth: int = 0) -> WireError:
        """Parse the map a peer sent; any shape error is a :class:`RemoteProtocolError`."""
        if _depth > MAX_CAUSE_DEPTH:
            raise RemoteProtocolError(f"error cause chain deeper than [{MAX_CAUSE_DEPTH}]")
        if not isinstance(value, dict):
            raise RemoteProtocolError("error payload is not a map")
        type_, reason, status = value.get("type"), value.get("reason"), value.get("status", 500)
        extra, stack, cause = value.get("extra", {}), value.get("stack"), value.get("caused_by")
        is_es = value.get("is_es", True)
        node = value.get("node")
        if node is not None and not isinstance(node, str):
            raise RemoteProtocolError("error payload [node] is not a string")
        if not isinstance(type_, str) or not type_ or not isinstance(reason, str):
            raise RemoteProtocolError("error payload needs string [type] and [reason]")
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise RemoteProtocolError(f"error payload has an invalid status [{status!r}]")
        if not isinstance(extra, dict) or not all(isinstance(k, str) for k in extra):
            raise RemoteProtocolError("error payload [extra] is not a map of strings")
        if stack is not None and not isinstance(stack, str):
            raise RemoteProtocolError("error payload [stack] is not a string")
        if not isinstance(is_es, bool):
            raise RemoteProtocolError("error payload [is_es] is not a boolean")
        unknown = set(value) - {
            "type", "reason", "status", "extra", "stack", "caused_by", "is_es", "node"
        }  # fmt: skip
        if unknown:
            raise RemoteProtocolError(f"error payload has unknown fields {sorted(unknown)}")
        return cls(
            type=type_,
            reason=reason,
            status=status,
            caused_by=None if cause is None else cls.from_payload(cause, _depth + 1),
            extra=extra,
            stack=stack,
            is_es=is_es,
            node=node,
        )


class RemoteError(IsthmusError):
    """Base of the classes made for ES types Isthmus has no class for (see :func:`_class_for`)."""


_REMOTE_CLASSES: dict[tuple[str, bool], type[IsthmusError]] = {}


def _class_for(es_type: str, status: int, is_es: bool) -> type[IsthmusError]:
    """The class to rebuild an error of ``es_type``: the one the static table names (see
    :mod:`isthmus.wire.error_types`), else a remote error that keeps the type, reason and
    status."""
    known = class_for(es_type, status, is_es)
    if known is not None:
        return known
    cls = _REMOTE_CLASSES.get((es_type, is_es))
    if cls is None:
        # es_type is a ClassVar, so a type the tree lacks gets its own (cached) subclass.
        attrs = {"es_type": es_type, "is_es": is_es}
        cls = type(f"RemoteError[{es_type}]", (RemoteError,), attrs)
        _REMOTE_CLASSES[(es_type, is_es)] = cls
    return cls
