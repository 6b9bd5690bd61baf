"""Elasticsearch's TCP-level handshake (``internal:tcp/handshake``), written and read by hand.  [no I/O]

The probe speaks Isthmus's transport framing for the real handshakes; against an Elasticsearch
port it can still run the first exchange every ES connection starts with, which needs no
credentials and tells the node's transport version (and, in the newer format, its release). ES
documents both formats byte for byte in ``TransportHandshaker`` (its comment is the reference for
the golden tests); what this module writes is exactly that, what it reads is checked field by
field, and anything else is ``None`` (never a guess):

* ``v8800000`` (ES 8.18+ and 9.x send it): request payload = our transport version (vInt) and
  release (string); the response carries the node's transport version and release string;
* ``v7170099`` (every 8.x and 9.x node still answers it): request payload = our transport
  version; the response carries the node's transport version only.

Frame: ``'E' 'S'``, int32 length, int64 request id, status byte (0x08 handshake request, 0x09
handshake response, bit 0x02 an error), int32 handshake version, int32 variable-header length,
the variable header (no request headers, no response headers, [no features: v7 only], the action
name), then for a request the empty parent task id and the length-prefixed payload.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ACTION = "internal:tcp/handshake"
V7 = 7_170_099
V8800000 = 8_800_000
# What we claim: newer than any node, so that the node answers with its own version (ES keeps
# the lower of the two, and only refuses versions older than it can read).
_CLAIMED_TRANSPORT_VERSION = 99_999_990
_CLAIMED_RELEASE = "99.0.0"
_REQUEST, _RESPONSE, _ERROR, _HANDSHAKE = 0x00, 0x01, 0x02, 0x08


def _vint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_vint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(5):
        if pos >= len(data):
            raise IndexError("vInt cut short")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("vInt longer than 5 bytes")


def _string(text: str) -> bytes:
    encoded = text.encode()
    return _vint(len(text)) + encoded


def request(
    handshake_version: int,
    request_id: int = 1,
    *,
    transport_version: int = _CLAIMED_TRANSPORT_VERSION,
    release: str = _CLAIMED_RELEASE,
) -> bytes:
    """The handshake request in ``handshake_version``'s format (:data:`V7` or :data:`V8800000`)."""
    header = b"\x00\x00"  # no request headers, no response headers
    if handshake_version == V7:
        header += b"\x00"  # no features
    header += _string(ACTION)
    payload = _vint(transport_version)
    if handshake_version == V8800000:
        payload += _string(release)
    body = (
        struct.pack(">qBii", request_id, _REQUEST | _HANDSHAKE, handshake_version, len(header))
        + header
        + b"\x00"  # no parent task id
        + _vint(len(payload))
        + payload
    )
    return b"ES" + struct.pack(">i", len(body)) + body


@dataclass(frozen=True)
class EsHandshake:
    """What the node said: its transport version, and its release when the format carries it."""

    handshake_version: int
    transport_version: int
    release: str | None
    error: bool = False  # the node answered with an error (it refused our handshake)

    def describe(self) -> str:
        if self.error:
            return (
                f"an Elasticsearch node refused the TCP handshake (format {self.handshake_version})"
            )
        release = f"release [{self.release}], " if self.release else ""
        return (
            f"an Elasticsearch node answered the TCP handshake: {release}transport version "
            f"[{self.transport_version}]"
        )


def parse_response(data: bytes, request_id: int = 1) -> EsHandshake | None:
    """The node's answer to :func:`request` at the start of ``data``, or ``None`` when ``data``
    is not (or not yet all of) such an answer."""
    try:
        if len(data) < 6 or data[:2] != b"ES":
            return None
        (length,) = struct.unpack_from(">i", data, 2)
        if length < 17 or len(data) < 6 + length:
            return None
        frame = data[6 : 6 + length]
        rid, status, version, header_size = struct.unpack_from(">qBii", frame, 0)
        if rid != request_id or not status & _RESPONSE or not status & _HANDSHAKE:
            return None
        if version not in (V7, V8800000):
            return None
        pos = 17 + header_size
        if status & _ERROR:
            return EsHandshake(version, 0, None, error=True)
        transport_version, pos = _read_vint(frame, pos)
        release = None
        if version == V8800000:
            size, pos = _read_vint(frame, pos)
            release = frame[pos : pos + size].decode()
            if len(release) != size:
                return None
        return EsHandshake(version, transport_version, release)
    except (IndexError, ValueError, struct.error, UnicodeDecodeError):
        return None
