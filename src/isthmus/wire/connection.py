"""The per-connection state machine, in the h11 style: bytes in, events out, events to bytes.

A :class:`Connection` owns request-id allocation, the two pending-request tables (requests we
sent and await answers to, requests the peer sent and awaits answers to), ping handling and the
protocol-error policy. It owns no socket, no clock and no task: the transport layer calls
:meth:`Connection.receive_data` with whatever it read (``b""`` for end of stream), drains
:meth:`Connection.next_event` until :data:`NEED_DATA`, and writes what :meth:`Connection.send`
returns.

Compression: a request is sent compressed when its ``compression`` names a scheme (the caller
decides, see :func:`isthmus.wire.compression.should_compress`); a successful answer to a
compressed request is compressed with the same scheme, as Elasticsearch does. Error answers,
pings and handshakes are never compressed.

Errors: :class:`ProtocolError` means the caller misused the connection (the connection stays
usable); :class:`RemoteProtocolError` means the peer broke the protocol, and the connection is
then broken for good: every later :meth:`next_event` raises the same error again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, NamedTuple

from isthmus.wire.compression import SCHEMES
from isthmus.wire.frames import (
    COMPRESSED_BIT,
    DEFAULT_LIMITS,
    ERROR_BIT,
    FIXED_SIZE,
    HANDSHAKE_BIT,
    PING,
    PING_LENGTH,
    PREFIX_SIZE,
    RESPONSE_BIT,
    FrameLimits,
    PingFrame,
    ProtocolError,
    RawFrame,
    RemoteProtocolError,
    WireProtocolError,
    encode_frame,
    encode_message,
    read_raw_frame,
)
from isthmus.wire.handshake import CURRENT_VERSION, MIN_COMPATIBLE_VERSION
from isthmus.wire.messages import (
    ConnectionClosed,
    ErrorResponse,
    Event,
    Ping,
    Request,
    Response,
    WireError,
    pack_payload,
    unpack_payload,
)
from isthmus.wire.names import HANDSHAKE_ACTION, HANDSHAKE_ACTIONS

__all__ = [
    "NEED_DATA",
    "Connection",
    "ConnectionInfo",
    "PartialFrame",
    "ProtocolError",
    "RemoteProtocolError",
    "State",
    "WireProtocolError",
]


class _NeedData(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData.NEED_DATA


class State(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"  # the peer ended the stream cleanly
    BROKEN = "broken"  # the peer broke the protocol


@dataclass(frozen=True)
class ConnectionInfo:
    state: State
    version: int
    outbound_pending: int
    inbound_pending: int
    requests_sent: int
    requests_received: int
    pings_received: int
    buffered_bytes: int
    discarded_frames: int = 0
    compressed_sent: int = 0  # frames we sent with the COMPRESSED flag
    compressed_received: int = 0


class PartialFrame(NamedTuple):
    """The frame being received: its header is in, its body is not complete yet."""

    size: int  # the whole frame on the wire, as its length field announces it
    request_id: int
    status: int

    @property
    def is_request(self) -> bool:
        return not self.status & RESPONSE_BIT


class _Inbound(NamedTuple):
    """A peer's request we owe an answer to."""

    action: str
    compression: str | None  # the scheme a successful answer is compressed with


class Connection:
    """One transport connection's protocol state. Both ends use the same class."""

    def __init__(
        self,
        *,
        limits: FrameLimits = DEFAULT_LIMITS,
        version: int = CURRENT_VERSION,
        min_compatible_version: int = MIN_COMPATIBLE_VERSION,
        first_request_id: int = 1,
    ) -> None:
        self.limits = limits
        # The version stamped on frames we send; the transport sets the negotiated one after
        # the handshake (:meth:`use_version`).
        self.version = version
        self.min_compatible_version = min_compatible_version
        self.state = State.OPEN
        self._buffer = bytearray()
        self._skip = 0  # bytes of a discarded frame still to arrive (dropped, never buffered)
        self._discarded = 0
        self._eof = False
        self._error: RemoteProtocolError | None = None
        self._next_id = first_request_id
        self._outbound: dict[int, str] = {}  # our requests awaiting answers: id -> action
        self._inbound: dict[int, _Inbound] = {}  # peer's requests awaiting our answers
        self._requests_sent = 0
        self._requests_received = 0
        self._pings_received = 0
        self._compressed_sent = 0
        self._compressed_received = 0

    # --- outbound ----------------------------------------------------------------------------

    def new_request(
        self,
        action: str,
        payload: Any = None,
        headers: dict[str, str] | None = None,
        *,
        compression: str | None = None,
    ) -> Request:
        """A request with a freshly allocated id (pass it to :meth:`send`)."""
        request_id = self._next_id
        self._next_id += 1
        return Request(request_id, action, payload, dict(headers or {}), compression)

    def use_version(self, version: int) -> None:
        """Stamp ``version`` (the negotiated one) on every frame sent from now on."""
        self.version = version

    def send(self, event: Request | Response | ErrorResponse | Ping) -> bytes:
        """The bytes for ``event``; raises :class:`ProtocolError` if it may not be sent now."""
        if self.state is not State.OPEN:
            raise ProtocolError(f"cannot send on a {self.state.value} connection")
        if isinstance(event, Ping):
            return encode_frame(PING, self.limits)
        if isinstance(event, Request):
            if event.request_id in self._outbound:
                raise ProtocolError(f"request id [{event.request_id}] is already pending")
            status = HANDSHAKE_BIT if event.action in HANDSHAKE_ACTIONS else 0
            if event.compression is not None:
                if event.compression not in SCHEMES:
                    raise ProtocolError(f"unknown compression scheme [{event.compression}]")
                if status:
                    raise ProtocolError("handshake frames are never compressed")
                status |= COMPRESSED_BIT
            if event.action is None:
                raise ProtocolError("a request needs an action and a response must not have one")
            data = encode_message(
                event.request_id,
                status,
                self.version,
                event.headers,
                event.action,
                pack_payload(event.payload),
                event.compression,
                self.limits,
            )
            self._outbound[event.request_id] = event.action
            self._requests_sent += 1
            self._compressed_sent += event.compression is not None
            return data
        inbound = self._inbound.get(event.request_id)
        if inbound is None:
            raise ProtocolError(f"no pending request with id [{event.request_id}] to answer")
        status = RESPONSE_BIT
        if inbound.action in HANDSHAKE_ACTIONS:
            status |= HANDSHAKE_BIT
        scheme = None
        if isinstance(event, ErrorResponse):
            # Like Elasticsearch, errors go back plain whatever the request was.
            status |= ERROR_BIT
            payload = pack_payload(event.error.to_payload())
        else:
            payload = pack_payload(event.payload)
            scheme = inbound.compression
            if scheme is not None:
                if status & HANDSHAKE_BIT:  # a peer's compressed handshake: answered plain
                    raise ProtocolError("handshake frames are never compressed")
                status |= COMPRESSED_BIT
        data = encode_message(
            event.request_id,
            status,
            self.version,
            event.headers,
            None,
            payload,
            scheme,
            self.limits,
        )
        del self._inbound[event.request_id]
        self._compressed_sent += scheme is not None
        return data

    # --- inbound -----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the peer; ``b""`` means the peer ended the stream."""
        if self._eof:
            if data:
                raise ProtocolError("receive_data after end of stream")
            return
        if data and self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
            if not data:
                return
        if data:
            self._buffer += data
        else:
            self._eof = True

    def next_event(self) -> Event | _NeedData:
        """The next complete event, or :data:`NEED_DATA`."""
        if self._error is not None:
            raise self._error
        if self.state is State.CLOSED:
            return ConnectionClosed(tuple(self._outbound))  # like h11: closed stays closed
        try:
            return self._next_event()
        except RemoteProtocolError as exc:
            self.state = State.BROKEN
            self._error = exc
            raise

    def _next_event(self) -> Event | _NeedData:
        raw, used = read_raw_frame(self._buffer, self.limits)
        if raw is None:
            if not self._eof:
                return NEED_DATA
            if self._buffer:
                raise RemoteProtocolError(
                    f"connection closed inside a frame ({len(self._buffer)} bytes buffered)"
                )
            self.state = State.CLOSED
            return ConnectionClosed(tuple(self._outbound))
        del self._buffer[:used]
        if isinstance(raw, PingFrame):
            self._pings_received += 1
            return Ping()
        return self._to_event(raw)

    def _to_event(self, raw: RawFrame) -> Event:
        request_id, status, version, headers, action, payload, scheme = raw
        if not status & HANDSHAKE_BIT and version < self.min_compatible_version:
            raise RemoteProtocolError(
                f"frame version [{version}] is older than the minimum compatible "
                f"version [{self.min_compatible_version}]"
            )
        if not status & RESPONSE_BIT:
            assert action is not None  # the decoder guarantees it for requests
            if request_id in self._inbound:
                raise RemoteProtocolError(f"duplicate request id [{request_id}]")
            event = Request(request_id, action, unpack_payload(payload), headers, scheme)
            self._inbound[request_id] = _Inbound(action, scheme)
            self._requests_received += 1
            self._compressed_received += scheme is not None
            return event
        if request_id not in self._outbound:
            raise RemoteProtocolError(f"response to unknown request id [{request_id}]")
        decoded = unpack_payload(payload)
        result: Event
        if status & ERROR_BIT:
            result = ErrorResponse(request_id, WireError.from_payload(decoded), headers)
        else:
            result = Response(request_id, decoded, headers)
        del self._outbound[request_id]
        self._compressed_received += scheme is not None
        return result

    def partial_frame(self) -> PartialFrame | None:
        """The frame whose header (prefix and fixed header) is buffered but whose body is not
        complete, or ``None``. The transport reserves its announced size before buffering it
        (the in-flight breaker) and may :meth:`discard_frame` it instead."""
        buffer = self._buffer
        if len(buffer) < PREFIX_SIZE + FIXED_SIZE or self._error is not None:
            return None
        if buffer[0:2] != b"ES":
            return None  # next_event names the fault
        length = int.from_bytes(buffer[2:6], "big", signed=True)
        if length == PING_LENGTH or length < FIXED_SIZE + 2 or length > self.limits.max_frame_bytes:
            return None
        size = PREFIX_SIZE + length
        if len(buffer) >= size:
            return None
        request_id = int.from_bytes(buffer[6:14], "big", signed=True)
        return PartialFrame(size, request_id, buffer[14])

    def discard_frame(self) -> PartialFrame:
        """Drop the partial frame: what is buffered now and the rest of it as it arrives.

        A request stays owed an answer (send it an :class:`ErrorResponse`, as ES answers a
        request the in-flight breaker refused); nothing else about it is decoded. Raises
        :class:`ProtocolError` when no frame is partial."""
        partial = self.partial_frame()
        if partial is None:
            raise ProtocolError("no partial frame to discard")
        if partial.is_request:
            if partial.request_id in self._inbound:
                raise RemoteProtocolError(f"duplicate request id [{partial.request_id}]")
            # The action is unknown (it may not have arrived): only "handshake or not" matters
            # for the answer's status bits.
            action = HANDSHAKE_ACTION if partial.status & HANDSHAKE_BIT else "<discarded>"
            self._inbound[partial.request_id] = _Inbound(action, None)
            self._requests_received += 1
        self._skip = partial.size - len(self._buffer)
        self._buffer.clear()
        self._discarded += 1
        return partial

    # --- introspection -----------------------------------------------------------------------

    def pending_requests(self) -> dict[int, str]:
        """Our requests still awaiting an answer: id -> action."""
        return dict(self._outbound)

    def info(self) -> ConnectionInfo:
        return ConnectionInfo(
            state=self.state,
            version=self.version,
            outbound_pending=len(self._outbound),
            inbound_pending=len(self._inbound),
            requests_sent=self._requests_sent,
            requests_received=self._requests_received,
            pings_received=self._pings_received,
            buffered_bytes=len(self._buffer),
            discarded_frames=self._discarded,
            compressed_sent=self._compressed_sent,
            compressed_received=self._compressed_received,
        )

    def __repr__(self) -> str:
        return (
            f"<Connection {self.state.value} version={self.version} "
            f"out={len(self._outbound)} in={len(self._inbound)} buffered={len(self._buffer)}>"
        )
