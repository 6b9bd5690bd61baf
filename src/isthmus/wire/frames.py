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
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, NamedTuple

from isthmus.wire import compression

MARKER = b"ES"
PING_LENGTH = -1
_PREFIX = struct.Struct(">2si")  # marker, length
_FIXED = struct.Struct(">qBii")  # request id, status, version, variable-header length
_HEAD = struct.Struct(">2siqBii")  # the prefix and the fixed header, packed at once
_U16 = struct.Struct(">H")
PREFIX_SIZE = _PREFIX.size  # 6
FIXED_SIZE = _FIXED.size  # 17
PING_BYTES = _PREFIX.pack(MARKER, PING_LENGTH)
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
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


class StreamCorruptedError(RemoteProtocolError):
    """The bytes are not this protocol at all (ES's ``StreamCorruptedException``): its text says
    what they look like instead (HTTP, TLS), as ES's transport logs it."""


class HttpOnTransportError(StreamCorruptedError):
    """An HTTP request on a transport port (ES's ``HttpRequestOnTransportException``): the
    accepting side answers its text as plain bytes and closes."""


# The request methods ES recognises on a transport port (TcpTransport.appearsToBeHTTPRequest).
_HTTP_METHODS = (
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"TRACE ",
)


def _may_be_told(start: bytes) -> bool:
    """Whether more bytes could show ``start`` to be HTTP or TLS (ES decides on 6 bytes)."""
    if start[:1] == b"\x16":
        return len(start) < 2 or start[1] == 0x03
    return any(m.startswith(start) or start.startswith(m) for m in (*_HTTP_METHODS, b"HTTP"))


def not_transport(start: bytes) -> StreamCorruptedError:
    """ES's words for a stream whose first bytes are not the ``ES`` marker."""
    if any(start.startswith(m) for m in _HTTP_METHODS):
        return HttpOnTransportError("This is not an HTTP port")
    if start.startswith(b"HTTP"):
        return StreamCorruptedError(
            "received HTTP response on transport port, ensure that transport port (not HTTP "
            "port) of a remote node is specified in the configuration"
        )
    first = "(" + ",".join(f"{b:x}" for b in start[:4]) + ")"
    if start[:1] == b"\x16" and start[1:2] == b"\x03":  # a TLS handshake record, any version
        return StreamCorruptedError(
            f"SSL/TLS request received but SSL/TLS is not enabled on this node, got {first}"
        )
    return StreamCorruptedError(f"invalid internal transport message format, got {first}")


class Flags(enum.IntFlag):
    """The status byte. Bits 4-7 are reserved and must be zero."""

    NONE = 0
    RESPONSE = 1 << 0
    ERROR = 1 << 1
    COMPRESSED = 1 << 2
    HANDSHAKE = 1 << 3


_KNOWN_FLAGS = int(Flags.RESPONSE | Flags.ERROR | Flags.COMPRESSED | Flags.HANDSHAKE)
# The same bits as plain ints: enum operations cost about a microsecond each, and a frame is
# encoded or decoded on every request.
RESPONSE_BIT: Final = int(Flags.RESPONSE)
ERROR_BIT: Final = int(Flags.ERROR)
COMPRESSED_BIT: Final = int(Flags.COMPRESSED)
HANDSHAKE_BIT: Final = int(Flags.HANDSHAKE)
# Every valid status byte as its Flags member, built once.
FLAGS_BY_STATUS: Final = tuple(Flags(value) for value in range(_KNOWN_FLAGS + 1))


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


def format_bytes(size: int) -> str:
    """A size as ES's ``ByteSizeValue`` prints it: ``64mb``, ``1.5gb``, ``100b``."""
    for unit, factor in (("pb", 1024**5), ("tb", 1024**4), ("gb", 1024**3), ("mb", 1024**2)):
        if size >= factor:
            return _one_decimal(size / factor) + unit
    if size >= 1024:
        return _one_decimal(size / 1024) + "kb"
    return f"{size}b"


def _one_decimal(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class Frame(NamedTuple):
    """One non-ping message. ``payload`` is still encoded (msgpack) but never compressed:
    ``compression`` names the scheme it travels with, and is set exactly when ``flags`` has
    COMPRESSED. (A named tuple: one is built per message, at a third of a dataclass's cost.)"""

    request_id: int
    flags: Flags
    version: int
    headers: Mapping[str, str] = _NO_HEADERS
    action: str | None = None  # present exactly when the RESPONSE flag is clear
    payload: bytes = b""
    compression: str | None = None  # None, "deflate" or "lz4"

    @property
    def is_response(self) -> bool:
        return bool(int(self.flags) & RESPONSE_BIT)


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
    status = int(frame.flags)
    if status & ~_KNOWN_FLAGS:
        raise ProtocolError(f"unknown status flags [{status:#04x}]")
    if bool(status & COMPRESSED_BIT) != (frame.compression is not None):
        raise ProtocolError("the COMPRESSED flag is set exactly when a compression scheme is")
    if frame.compression is not None and frame.compression not in compression.SCHEMES:
        raise ProtocolError(f"unknown compression scheme [{frame.compression}]")
    if status & COMPRESSED_BIT and status & HANDSHAKE_BIT:
        raise ProtocolError("handshake frames are never compressed")
    is_response = bool(status & RESPONSE_BIT)
    if status & ERROR_BIT and not is_response:
        raise ProtocolError("the error flag is only valid on a response")
    if is_response != (frame.action is None):
        raise ProtocolError("a request needs an action and a response must not have one")
    return encode_message(
        frame.request_id,
        status,
        frame.version,
        frame.headers,
        frame.action,
        frame.payload,
        frame.compression,
        limits,
    )


def encode_message(
    request_id: int,
    status: int,
    version: int,
    headers: Mapping[str, str],
    action: str | None,
    payload: bytes,
    scheme: str | None,
    limits: FrameLimits = DEFAULT_LIMITS,
) -> bytes:
    """The bytes of one non-ping frame whose status bits are already known to be consistent
    (:func:`encode_frame` checks them; :class:`~isthmus.wire.Connection` builds them so).
    Sizes, ranges and text are still checked here."""
    if not _INT64_MIN <= request_id <= _INT64_MAX:
        raise ProtocolError(f"request id [{request_id}] does not fit in an int64")
    if not _INT32_MIN <= version <= _INT32_MAX:
        raise ProtocolError(f"version [{version}] does not fit in an int32")
    if len(headers) > limits.max_headers:
        raise ProtocolError(
            f"{len(headers)} headers, more than the limit of [{limits.max_headers}]"
        )
    pack16 = _U16.pack
    parts = [pack16(len(headers))]
    name_limit, value_limit = limits.max_header_name_bytes, limits.max_header_value_bytes
    for name, value in headers.items():
        try:
            raw_name, raw_value = name.encode(), value.encode()
            fits = len(raw_name) <= name_limit and len(raw_value) <= value_limit
        except UnicodeEncodeError:
            fits = False
        if not fits:  # the careful path names the culprit (and raises)
            parts.append(_utf8(name, name_limit, f"header name [{name}]"))
            parts.append(_utf8(value, value_limit, f"value of header [{name}]"))
            continue
        parts += (pack16(len(raw_name)), raw_name, pack16(len(raw_value)), raw_value)
    if action is not None:
        if not action:
            raise ProtocolError("the action name must not be empty")
        parts.append(_utf8(action, limits.max_action_bytes, f"action [{action}]"))
    variable = b"".join(parts)
    if scheme is not None:
        if len(payload) > limits.max_decompressed_bytes:
            raise ProtocolError(
                f"payload of {len(payload)} bytes is larger than the decompressed limit of "
                f"[{limits.max_decompressed_bytes}]"
            )
        payload = compression.compress(scheme, payload)
    length = FIXED_SIZE + len(variable) + len(payload)
    if length > limits.max_frame_bytes:
        raise ProtocolError(
            f"frame of {length} bytes is larger than the limit of [{limits.max_frame_bytes}]"
        )
    head = _HEAD.pack(MARKER, length, request_id, status, version, len(variable))
    return b"".join((head, variable, payload))


# --- decoding -----------------------------------------------------------------------------------


def _string(data: bytes | bytearray, pos: int, end: int, limit: int, what: str) -> tuple[str, int]:
    """The (u16 length, UTF-8) string at ``pos`` of a variable header ending at ``end``, and
    the position after it; every short read is the peer's fault. ``what`` names the string in
    errors."""
    if pos + 2 > end:
        raise RemoteProtocolError(f"variable header ends inside the length of {what}")
    size = (data[pos] << 8) | data[pos + 1]
    pos += 2
    if size > limit:
        raise RemoteProtocolError(f"{what} is {size} bytes, more than the limit of [{limit}]")
    if pos + size > end:
        raise RemoteProtocolError(f"variable header ends inside {what}")
    try:
        return data[pos : pos + size].decode("utf-8"), pos + size
    except UnicodeDecodeError:
        raise RemoteProtocolError(f"{what} is not valid UTF-8") from None


# A decoded non-ping frame as a plain tuple, the fields of :class:`Frame` in order (the
# connection reads these without building a Frame; a tuple literal is the cheapest object).
RawFrame = tuple[int, int, int, dict[str, str], "str | None", bytes, "str | None"]


def read_frame(
    buffer: bytes | bytearray | memoryview, limits: FrameLimits = DEFAULT_LIMITS
) -> tuple[Frame | PingFrame | None, int]:
    """Decode the frame at the start of ``buffer``: ``(frame, bytes consumed)``.

    Returns ``(None, 0)`` while the frame is incomplete. Bad bytes are reported as early as they
    can be seen (a wrong first byte fails at once), so garbage never makes us buffer.
    """
    raw, used = read_raw_frame(buffer, limits)
    if raw is None or isinstance(raw, PingFrame):
        return raw, used
    request_id, status, version, headers, action, payload, scheme = raw
    return (
        Frame(request_id, FLAGS_BY_STATUS[status], version, headers, action, payload, scheme),
        used,
    )


def read_raw_frame(
    buffer: bytes | bytearray | memoryview, limits: FrameLimits = DEFAULT_LIMITS
) -> tuple[RawFrame | PingFrame | None, int]:
    """:func:`read_frame` with the frame as a :data:`RawFrame` (its status byte as an int)."""
    if type(buffer) is memoryview:
        buffer = bytes(buffer)
    size = len(buffer)
    if size < PREFIX_SIZE:
        start = bytes(buffer)
        if start[:2] != MARKER[: min(size, 2)] and not _may_be_told(start):
            # Neither the marker nor the start of something ES names (HTTP, TLS): fail on the
            # first bytes rather than wait for a prefix that cannot help.
            raise not_transport(start)
        return None, 0
    marker, length = _PREFIX.unpack_from(buffer)
    if marker != MARKER:
        raise not_transport(bytes(buffer[:8]))
    if length == PING_LENGTH:
        return PING, PREFIX_SIZE
    if length < FIXED_SIZE + 2:  # fixed header plus at least the header count
        raise RemoteProtocolError(f"invalid frame length [{length}]")
    if length > limits.max_frame_bytes:
        # ES's words (TcpTransport.readMessageLength), sizes as its ByteSizeValue prints them.
        raise RemoteProtocolError(
            f"transport content length received [{format_bytes(length)}] exceeded "
            f"[{format_bytes(limits.max_frame_bytes)}]"
        )
    end = PREFIX_SIZE + length
    if size < end:
        return None, 0
    return _decode_body(buffer, PREFIX_SIZE, end, limits), end


def _decode_body(data: bytes | bytearray, start: int, end: int, limits: FrameLimits) -> RawFrame:
    """The frame whose body (after the prefix) is ``data[start:end]``, read in place."""
    request_id, status, version, variable_length = _FIXED.unpack_from(data, start)
    if status & ~_KNOWN_FLAGS:
        raise RemoteProtocolError(f"unknown status flags [{status:#04x}]")
    if status & COMPRESSED_BIT and status & HANDSHAKE_BIT:
        raise RemoteProtocolError("a handshake frame is marked as compressed")
    is_response = status & RESPONSE_BIT
    if status & ERROR_BIT and not is_response:
        raise RemoteProtocolError("the error flag is set on a request")
    pos = start + FIXED_SIZE
    if not 2 <= variable_length <= end - pos:
        raise RemoteProtocolError(f"invalid variable header length [{variable_length}]")
    var_end = pos + variable_length
    decoded = _variable_header_fast(data, pos, var_end, bool(is_response), limits)
    headers, action = decoded or _variable_header(data, pos, var_end, bool(is_response), limits)
    # One copy of the payload (slicing a bytearray and then bytes() would copy it twice).
    payload = data[var_end:end] if type(data) is bytes else bytes(memoryview(data)[var_end:end])
    scheme = None
    if status & COMPRESSED_BIT:
        try:
            scheme, payload = compression.decompress(payload, limits.max_decompressed_bytes)
        except compression.CompressionError as exc:
            raise RemoteProtocolError(str(exc)) from None
    return (request_id, status, version, headers, action, payload, scheme)


def _variable_header_fast(
    data: bytes | bytearray, pos: int, end: int, is_response: bool, limits: FrameLimits
) -> tuple[dict[str, str], str | None] | None:
    """The headers and action of a well-formed variable header (``data[pos:end]``), read with
    as little work as possible; None at the first thing that is not (then
    :func:`_variable_header` reads it again and says exactly what is wrong)."""
    name_limit, value_limit = limits.max_header_name_bytes, limits.max_header_value_bytes
    headers: dict[str, str] = {}
    try:
        count = (data[pos] << 8) | data[pos + 1]
        pos += 2
        if count > limits.max_headers:
            return None
        for _ in range(count):
            size = (data[pos] << 8) | data[pos + 1]
            pos += 2
            name = data[pos : pos + size].decode()
            pos += size
            if size > name_limit or name in headers:
                return None
            size = (data[pos] << 8) | data[pos + 1]
            pos += 2
            headers[name] = data[pos : pos + size].decode()
            pos += size
            if size > value_limit or pos > end:
                return None
        action = None
        if not is_response:
            size = (data[pos] << 8) | data[pos + 1]
            pos += 2
            action = data[pos : pos + size].decode()
            pos += size
            if not action or size > limits.max_action_bytes:
                return None
    except (IndexError, UnicodeDecodeError):
        return None
    return (headers, action) if pos == end else None


def _variable_header(
    data: bytes | bytearray, pos: int, end: int, is_response: bool, limits: FrameLimits
) -> tuple[dict[str, str], str | None]:
    """The headers and action of the variable header ``data[pos:end]``, every check in order
    with its own message; raises :class:`RemoteProtocolError` at the first failure."""
    count = (data[pos] << 8) | data[pos + 1]
    pos += 2
    if count > limits.max_headers:
        raise RemoteProtocolError(f"{count} headers, more than the limit of [{limits.max_headers}]")
    headers: dict[str, str] = {}
    for _ in range(count):
        name, pos = _string(data, pos, end, limits.max_header_name_bytes, "a header name")
        value, pos = _string(
            data, pos, end, limits.max_header_value_bytes, f"the value of header [{name}]"
        )
        if name in headers:
            raise RemoteProtocolError(f"duplicate header [{name}]")
        headers[name] = value
    action = None
    if not is_response:
        action, pos = _string(data, pos, end, limits.max_action_bytes, "the action name")
        if not action:
            raise RemoteProtocolError("empty action name")
    if pos != end:
        raise RemoteProtocolError(f"{end - pos} unexpected bytes at the end of the variable header")
    return headers, action
