"""Frame layout: bytes <-> :class:`Frame`, with the limits that keep a peer from hurting us.

This module owns the byte layout documented in ``docs/wire-protocol.md`` and the two protocol
error classes. It knows nothing about payload encoding, request bookkeeping or handshakes, and
it does no I/O: :func:`read_frame` looks at a buffer and says how much of it was one frame.
Compression is applied here, at the layout level, so that :class:`Frame` always holds the plain
payload and the scheme it travelled with; the codec itself lives in
:mod:`isthmus.wire.compression`.

Layout (all integers big-endian)::

    'E' 'S' | int32 length | int64 request id | u8 status | int32 version |
    int32 variable-header length | headers | action (requests only) | payload

``length`` counts the bytes after itself. A ping is ``'E' 'S'`` with length ``-1`` and nothing
more. Headers are a u16 count followed by (u16 length, UTF-8) name/value pairs; the action is a
u16 length plus UTF-8. With the COMPRESSED status bit only the payload is compressed (a 4-byte
scheme marker, then the compressed stream); the headers and the action stay readable, as in
Elasticsearch, where the variable header is written before the compressing stream is opened.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from isthmus.wire import compression

MARKER = b"ES"
PING_LENGTH = -1
_PREFIX = struct.Struct(">2si")  # marker, length
_FIXED = struct.Struct(">qBii")  # request id, status, version, variable-header length
_U16 = struct.Struct(">H")
PREFIX_SIZE = _PREFIX.size  # 6
FIXED_SIZE = _FIXED.size  # 17
PING_BYTES = _PREFIX.pack(MARKER, PING_LENGTH)
_INT32_MAX = 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class WireProtocolError(Exception):
    """Base of the two protocol errors. ``close_reason`` is what the transport logs on close."""

    def __init__(self, close_reason: str) -> None:
        super().__init__(close_reason)
        self.close_reason = close_reason


class ProtocolError(WireProtocolError):
    """We (the local caller) tried to break the protocol: a bad event, an oversize frame."""


class RemoteProtocolError(WireProtocolError):
    """The peer broke the protocol. The connection must be closed; nothing else is safe."""


class Flags(enum.IntFlag):
    """The status byte. Bits 4-7 are reserved and must be zero."""

    NONE = 0
    RESPONSE = 1 << 0
    ERROR = 1 << 1
    COMPRESSED = 1 << 2
    HANDSHAKE = 1 << 3


_KNOWN_FLAGS = int(Flags.RESPONSE | Flags.ERROR | Flags.COMPRESSED | Flags.HANDSHAKE)


@dataclass(frozen=True)
class FrameLimits:
    """What one frame may contain. Violations are protocol errors, never crashes."""

    max_frame_bytes: int = 64 * 1024 * 1024  # the ``length`` field's maximum
    max_headers: int = 32
    max_header_name_bytes: int = 256
    # The cross-cluster subject-info header carries role descriptors; give it room.
    max_header_value_bytes: int = 64 * 1024
    max_action_bytes: int = 512
    # The plain size of a compressed payload. The frame limit only bounds the bytes on the
    # wire; this one bounds what a small compressed payload may inflate to.
    max_decompressed_bytes: int = 64 * 1024 * 1024


DEFAULT_LIMITS = FrameLimits()


@dataclass(frozen=True)
class Frame:
    """One non-ping message. ``payload`` is still encoded (msgpack) but never compressed:
    ``compression`` names the scheme it travels with, and is set exactly when ``flags`` has
    COMPRESSED."""

    request_id: int
    flags: Flags
    version: int
    headers: Mapping[str, str] = field(default_factory=dict)
    action: str | None = None  # present exactly when the RESPONSE flag is clear
    payload: bytes = b""
    compression: str | None = None  # None, "deflate" or "lz4"

    @property
    def is_response(self) -> bool:
        return Flags.RESPONSE in self.flags


@dataclass(frozen=True)
class PingFrame:
    """The six-byte keep-alive frame."""


PING = PingFrame()


# --- encoding -----------------------------------------------------------------------------------


def _utf8(text: str, limit: int, what: str) -> bytes:
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"{what} is not valid UTF-8: {exc}") from None
    if len(raw) > limit:
        raise ProtocolError(f"{what} is {len(raw)} bytes, more than the limit of [{limit}]")
    return _U16.pack(len(raw)) + raw


def encode_frame(frame: Frame | PingFrame, limits: FrameLimits = DEFAULT_LIMITS) -> bytes:
    """The bytes of one frame. Raises :class:`ProtocolError` for a frame we must not send."""
    if isinstance(frame, PingFrame):
        return PING_BYTES
    if int(frame.flags) & ~_KNOWN_FLAGS:
        raise ProtocolError(f"unknown status flags [{int(frame.flags):#04x}]")
    if (Flags.COMPRESSED in frame.flags) != (frame.compression is not None):
        raise ProtocolError("the COMPRESSED flag is set exactly when a compression scheme is")
    if frame.compression is not None and frame.compression not in compression.SCHEMES:
        raise ProtocolError(f"unknown compression scheme [{frame.compression}]")
    if Flags.COMPRESSED in frame.flags and Flags.HANDSHAKE in frame.flags:
        raise ProtocolError("handshake frames are never compressed")
    if Flags.ERROR in frame.flags and not frame.is_response:
        raise ProtocolError("the error flag is only valid on a response")
    if frame.is_response != (frame.action is None):
        raise ProtocolError("a request needs an action and a response must not have one")
    if not _INT64_MIN <= frame.request_id <= _INT64_MAX:
        raise ProtocolError(f"request id [{frame.request_id}] does not fit in an int64")
    if not -(2**31) <= frame.version <= _INT32_MAX:
        raise ProtocolError(f"version [{frame.version}] does not fit in an int32")
    if len(frame.headers) > limits.max_headers:
        raise ProtocolError(
            f"{len(frame.headers)} headers, more than the limit of [{limits.max_headers}]"
        )
    parts = [_U16.pack(len(frame.headers))]
    for name, value in frame.headers.items():
        parts.append(_utf8(name, limits.max_header_name_bytes, f"header name [{name}]"))
        parts.append(_utf8(value, limits.max_header_value_bytes, f"value of header [{name}]"))
    if frame.action is not None:
        if not frame.action:
            raise ProtocolError("the action name must not be empty")
        parts.append(_utf8(frame.action, limits.max_action_bytes, f"action [{frame.action}]"))
    variable = b"".join(parts)
    payload = frame.payload
    if frame.compression is not None:
        if len(payload) > limits.max_decompressed_bytes:
            raise ProtocolError(
                f"payload of {len(payload)} bytes is larger than the decompressed limit of "
                f"[{limits.max_decompressed_bytes}]"
            )
        payload = compression.compress(frame.compression, payload)
    length = FIXED_SIZE + len(variable) + len(payload)
    if length > limits.max_frame_bytes:
        raise ProtocolError(
            f"frame of {length} bytes is larger than the limit of [{limits.max_frame_bytes}]"
        )
    fixed = _FIXED.pack(frame.request_id, int(frame.flags), frame.version, len(variable))
    return _PREFIX.pack(MARKER, length) + fixed + variable + payload


# --- decoding -----------------------------------------------------------------------------------


class _Reader:
    """Walks the variable header; every short read is the peer's fault."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def string(self, limit: int, what: str) -> str:
        if self.pos + 2 > len(self.data):
            raise RemoteProtocolError(f"variable header ends inside the length of {what}")
        (size,) = _U16.unpack_from(self.data, self.pos)
        self.pos += 2
        if size > limit:
            raise RemoteProtocolError(f"{what} is {size} bytes, more than the limit of [{limit}]")
        if self.pos + size > len(self.data):
            raise RemoteProtocolError(f"variable header ends inside {what}")
        raw = self.data[self.pos : self.pos + size]
        self.pos += size
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RemoteProtocolError(f"{what} is not valid UTF-8") from None


def read_frame(
    buffer: bytes | bytearray | memoryview, limits: FrameLimits = DEFAULT_LIMITS
) -> tuple[Frame | PingFrame | None, int]:
    """Decode the frame at the start of ``buffer``: ``(frame, bytes consumed)``.

    Returns ``(None, 0)`` while the frame is incomplete. Bad bytes are reported as early as they
    can be seen (a wrong first byte fails at once), so garbage never makes us buffer.
    """
    data = bytes(buffer[:PREFIX_SIZE])
    if data[:2] != MARKER[: len(data[:2])]:
        raise RemoteProtocolError(f"invalid frame marker {data[:2]!r}, expected {MARKER!r}")
    if len(data) < PREFIX_SIZE:
        return None, 0
    _, length = _PREFIX.unpack(data)
    if length == PING_LENGTH:
        return PING, PREFIX_SIZE
    if length < FIXED_SIZE + 2:  # fixed header plus at least the header count
        raise RemoteProtocolError(f"invalid frame length [{length}]")
    if length > limits.max_frame_bytes:
        raise RemoteProtocolError(
            f"frame of {length} bytes is larger than the limit of [{limits.max_frame_bytes}]"
        )
    if len(buffer) < PREFIX_SIZE + length:
        return None, 0
    body = bytes(buffer[PREFIX_SIZE : PREFIX_SIZE + length])
    return _decode_body(body, limits), PREFIX_SIZE + length


def _decode_body(body: bytes, limits: FrameLimits) -> Frame:
    request_id, status, version, variable_length = _FIXED.unpack_from(body)
    if status & ~_KNOWN_FLAGS:
        raise RemoteProtocolError(f"unknown status flags [{status:#04x}]")
    flags = Flags(status)
    if Flags.COMPRESSED in flags and Flags.HANDSHAKE in flags:
        raise RemoteProtocolError("a handshake frame is marked as compressed")
    is_response = Flags.RESPONSE in flags
    if Flags.ERROR in flags and not is_response:
        raise RemoteProtocolError("the error flag is set on a request")
    if not 2 <= variable_length <= len(body) - FIXED_SIZE:
        raise RemoteProtocolError(f"invalid variable header length [{variable_length}]")
    reader = _Reader(body[FIXED_SIZE : FIXED_SIZE + variable_length])
    (count,) = _U16.unpack_from(reader.data)
    reader.pos = 2
    if count > limits.max_headers:
        raise RemoteProtocolError(f"{count} headers, more than the limit of [{limits.max_headers}]")
    headers: dict[str, str] = {}
    for _ in range(count):
        name = reader.string(limits.max_header_name_bytes, "a header name")
        value = reader.string(limits.max_header_value_bytes, f"the value of header [{name}]")
        if name in headers:
            raise RemoteProtocolError(f"duplicate header [{name}]")
        headers[name] = value
    action = None
    if not is_response:
        action = reader.string(limits.max_action_bytes, "the action name")
        if not action:
            raise RemoteProtocolError("empty action name")
    if reader.pos != len(reader.data):
        raise RemoteProtocolError(
            f"{len(reader.data) - reader.pos} unexpected bytes at the end of the variable header"
        )
    payload = body[FIXED_SIZE + variable_length :]
    scheme = None
    if Flags.COMPRESSED in flags:
        try:
            scheme, payload = compression.decompress(payload, limits.max_decompressed_bytes)
        except compression.CompressionError as exc:
            raise RemoteProtocolError(str(exc)) from None
    return Frame(
        request_id=request_id,
        flags=flags,
        version=version,
        headers=headers,
        action=action,
        payload=payload,
        compression=scheme,
    )
