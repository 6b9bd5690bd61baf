"""Payload compression: the two schemes, their 4-byte markers, and when to compress.

This module owns the bytes of a compressed payload (a scheme marker followed by the compressed
stream), bounded decompression, and the ``transport.compress`` policy (:func:`should_compress`).
It knows nothing about frames or connections and does no I/O: :mod:`isthmus.wire.frames` calls
:func:`compress` / :func:`decompress` and turns a :class:`CompressionError` into the right
protocol error (ours on send, the peer's on receive).

Layout of a compressed payload (the same idea as Elasticsearch's transport compression)::

    'D' 'F' 'L' 0x00 | raw DEFLATE stream (RFC 1951, no zlib/gzip wrapper), level 3
    'L' 'Z' '4' 0x00 | one LZ4 frame (the standard LZ4 frame format, with content checksum)

Decompression never trusts the sender: output is produced in bounded steps and abandoned as soon
as it passes the caller's limit, so a small "zip bomb" costs at most ``limit`` bytes of memory.
A truncated stream, bytes after the end of the stream, or an unknown marker are errors too.
"""

from __future__ import annotations

import functools
import zlib
from typing import Any, Final

import lz4.frame  # type: ignore[import-untyped]

from isthmus.wire.names import HANDSHAKE_ACTIONS, PROXY_ACTION_PREFIX

DEFLATE: Final = "deflate"
LZ4: Final = "lz4"
SCHEMES: Final = (DEFLATE, LZ4)
MARKER_SIZE: Final = 4
MARKERS: Final = {DEFLATE: b"DFL\x00", LZ4: b"LZ4\x00"}
_SCHEME_BY_MARKER: Final = {marker: scheme for scheme, marker in MARKERS.items()}

# Elasticsearch's deflate level (its DeflateCompressor): a speed/ratio trade-off.
DEFLATE_LEVEL: Final = 3
_RAW_DEFLATE_WBITS: Final = -15  # negative: a bare RFC 1951 stream, no header or checksum
# Decompression produces at most this much per step, so memory tracks the real output size
# instead of whatever a peer claims.
_STEP: Final = 256 * 1024


class CompressionError(ValueError):
    """Bytes that are not a well-formed compressed payload, or one that inflates too far."""


def compress(scheme: str, data: bytes) -> bytes:
    """``data`` compressed with ``scheme``, prefixed with the scheme's 4-byte marker."""
    if scheme == DEFLATE:
        deflater = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, _RAW_DEFLATE_WBITS)
        body = deflater.compress(data) + deflater.flush()
    elif scheme == LZ4:
        # No stored content size: a receiver must not trust it anyway, and it costs 8 bytes.
        body = _lz4_compress(data)
    else:
        raise CompressionError(f"unknown compression scheme [{scheme}]")
    return MARKERS[scheme] + body


def decompress(data: bytes, limit: int) -> tuple[str, bytes]:
    """``(scheme, plain bytes)`` of a compressed payload; never more than ``limit`` bytes."""
    marker = data[:MARKER_SIZE]
    scheme = _SCHEME_BY_MARKER.get(marker)
    if scheme is None:
        raise CompressionError(
            f"frame marked as compressed, but no compression scheme has the marker "
            f"[{marker.hex()}] (expected one of "
            f"{', '.join(f'[{m.hex()}] ({s})' for s, m in MARKERS.items())})"
        )
    body = data[MARKER_SIZE:]
    try:
        plain = _inflate(body, limit) if scheme == DEFLATE else _lz4_decompress(body, limit)
    except (zlib.error, RuntimeError) as exc:  # lz4 reports corrupt input as RuntimeError
        raise CompressionError(f"corrupt {scheme} payload: {exc}") from None
    return scheme, plain


def _too_large(scheme: str, limit: int) -> CompressionError:
    return CompressionError(f"{scheme} payload inflates to more than the limit of [{limit}] bytes")


def _inflate(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(_RAW_DEFLATE_WBITS)
    out: list[bytes] = []
    total = 0
    pending = body
    while not inflater.eof:
        chunk = inflater.decompress(pending, _STEP)
        pending = inflater.unconsumed_tail
        total += len(chunk)
        if total > limit:
            raise _too_large(DEFLATE, limit)
        out.append(chunk)
        if not pending and len(chunk) < _STEP and not inflater.eof:
            # All input consumed, output not throttled, and still no end-of-stream block.
            raise CompressionError("deflate payload ends before the end of its stream")
    if inflater.unused_data:
        raise CompressionError(
            f"{len(inflater.unused_data)} unexpected bytes after the end of the deflate stream"
        )
    return b"".join(out)


def _lz4_compress(data: bytes) -> bytes:
    return bytes(lz4.frame.compress(data, content_checksum=True, store_size=False))


def _lz4_decompress(body: bytes, limit: int) -> bytes:
    decompressor: Any = lz4.frame.LZ4FrameDecompressor()
    out: list[bytes] = []
    total = 0
    pending = body
    while True:
        # max_length is always given: without it the library sizes its buffer from the
        # content size the sender wrote in the frame header.
        chunk = bytes(decompressor.decompress(pending, max_length=_STEP))
        pending = b""
        total += len(chunk)
        if total > limit:
            raise _too_large(LZ4, limit)
        out.append(chunk)
        if decompressor.eof:
            break
        if decompressor.needs_input or not chunk:  # no input left, or no progress made
            raise CompressionError("lz4 payload ends before the end of its frame")
    if decompressor.unused_data:
        raise CompressionError(
            f"{len(decompressor.unused_data)} unexpected bytes after the end of the lz4 frame"
        )
    return b"".join(out)


# --- policy -------------------------------------------------------------------------------------

COMPRESS_SETTINGS: Final = ("true", "indexing_data", "false")

# What Elasticsearch calls "raw indexing data" (requests that implement
# RawIndexingDataTransportRequest): bulk requests and their shard-level primary/replica
# operations, CCR's shard-changes read (the operations a follower fetches), peer-recovery
# translog replay and primary-replica resync. Isthmus matches on action names, by prefix, so
# the ``[s]``, ``[p]`` and ``[r]`` sub-actions are covered. Every ``indices:data/write/``
# action counts: in ES, single-document index/delete/update reach the shards as bulk shard
# requests. CCR file-chunk reads (``.../ccr/restore/file_chunk/get``) are deliberately absent:
# ES does not mark them as indexing data (the request is tiny, and its answer, which holds
# already-compressed Lucene bytes, follows the request's compression).
INDEXING_DATA_ACTION_PREFIXES: Final = (
    "indices:data/write/",
    "indices:data/read/xpack/ccr/shard_changes",
    "internal:index/shard/recovery/translog_ops",
    "internal:index/seq_no/resync",
)


@functools.lru_cache(maxsize=1024)
def should_compress(setting: str, action: str) -> bool:
    """Whether a request for ``action`` is sent compressed under ``transport.compress``.

    ``true`` compresses every request, ``indexing_data`` only those carrying indexing data
    (see :data:`INDEXING_DATA_ACTION_PREFIXES`), ``false`` none. Handshakes never are,
    whatever the setting. Answers are not decided here: a response is compressed exactly when
    its request was (the connection does that). Remembered per (setting, action): it is asked
    on every request sent.
    """
    if setting not in COMPRESS_SETTINGS:
        raise ValueError(
            f"unknown transport.compress value [{setting}], expected one of {COMPRESS_SETTINGS}"
        )
    if setting == "false" or action in HANDSHAKE_ACTIONS:
        return False
    if setting == "true":
        return True
    # A proxied request (sent through a gateway node) is judged by the request it wraps.
    action = action.removeprefix(PROXY_ACTION_PREFIX)
    return action.startswith(INDEXING_DATA_ACTION_PREFIXES)
