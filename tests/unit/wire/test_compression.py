"""Compressed frames: golden bytes, round trips, response-follows-request, bombs and bad bytes."""

from __future__ import annotations

import tracemalloc
import zlib
from typing import Any

import lz4.frame
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.wire import (
    COMPRESSION_SCHEMES,
    NEED_DATA,
    Connection,
    ErrorResponse,
    Event,
    Flags,
    Frame,
    FrameLimits,
    Ping,
    ProtocolError,
    RemoteProtocolError,
    Request,
    Response,
    WireError,
    should_compress,
)
from isthmus.wire.compression import (
    MARKERS,
    CompressionError,
    compress,
    decompress,
)
from isthmus.wire.frames import PING_BYTES, PingFrame, encode_frame, read_frame

# The compressed examples of docs/wire-protocol.md, byte for byte:
# Request(1, "indices:data/write/bulk", {"q": 1}, compression=...) and the answer
# Response(1, {"ok": True}), which goes back with the request's scheme.
ACTION = "indices:data/write/bulk"
GOLDEN = {
    "deflate": (
        bytes.fromhex(
            "4553 00000036 0000000000000001 04 000f42a3 0000001b"
            " 0000 0017 696e64696365733a646174612f77726974652f62756c6b"
            " 44464c00 6b5c58c80800"
        ),
        bytes.fromhex(
            "4553 0000001e 0000000000000001 05 000f42a3 00000002 0000 44464c00 6b5c949f7d1800"
        ),
    ),
    "lz4": (
        bytes.fromhex(
            "4553 00000047 0000000000000001 04 000f42a3 0000001b"
            " 0000 0017 696e64696365733a646174612f77726974652f62756c6b"
            " 4c5a3400 04224d18 64 40 a7 04000080 81a17101 00000000 56556517"
        ),
        bytes.fromhex(
            "4553 0000002f 0000000000000001 05 000f42a3 00000002 0000"
            " 4c5a3400 04224d18 64 40 a7 05000080 81a26f6bc3 00000000 9e24bd60"
        ),
    ),
}
# zlib-ng (a drop-in some builds ship) emits different, equally valid, deflate bytes.
ZLIB_NG = "ng" in zlib.ZLIB_RUNTIME_VERSION
FEEDS = ["whole", "bytewise", "trailing"]


def events(conn: Connection, data: bytes, mode: str = "whole") -> list[Event]:
    """Feed ``data`` whole, byte by byte, or followed by half a ping; drain the events."""
    out: list[Event] = []

    def drain() -> None:
        while (event := conn.next_event()) is not NEED_DATA:
            assert not isinstance(event, type(NEED_DATA))
            out.append(event)

    if mode == "bytewise":
        for byte in data:
            conn.receive_data(bytes([byte]))
            drain()
    else:
        chunk = data + (PING_BYTES[:3] if mode == "trailing" else b"")
        if chunk:  # b"" would mean end of stream
            conn.receive_data(chunk)
        drain()
        if mode == "trailing":
            assert conn.info().buffered_bytes == 3
    return out


def decode_all(data: bytes, limits: FrameLimits = FrameLimits()) -> list[Frame | PingFrame]:
    out: list[Frame | PingFrame] = []
    buf = bytearray(data)
    while True:
        frame, used = read_frame(buf, limits)
        if frame is None:
            return out
        out.append(frame)
        del buf[:used]


def compressed_frame(payload: bytes, *, flags: Flags = Flags.COMPRESSED) -> bytes:
    """A request frame whose wire payload is ``payload`` as given (no compression applied)."""
    plain = encode_frame(Frame(7, flags & ~Flags.COMPRESSED, 1_000_099, {}, "a:b", payload))
    data = bytearray(plain)
    data[14] = int(flags)
    return bytes(data)


# --- golden bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", FEEDS)
@pytest.mark.parametrize("scheme", COMPRESSION_SCHEMES)
def test_golden_compressed_request_and_response(scheme: str, mode: str) -> None:
    golden_request, golden_response = GOLDEN[scheme]
    client, server = Connection(), Connection()
    request = client.new_request(ACTION, {"q": 1}, compression=scheme)
    sent = client.send(request)
    if scheme == "lz4" or not ZLIB_NG:
        assert sent == golden_request
    assert events(server, golden_request, mode) == [request]
    answer = server.send(Response(1, {"ok": True}))
    if scheme == "lz4" or not ZLIB_NG:
        assert answer == golden_response
    assert events(client, golden_response, mode) == [Response(1, {"ok": True})]
    assert client.info().compressed_sent == 1
    assert client.info().compressed_received == 1
    assert server.info().compressed_received == 1
    assert server.info().compressed_sent == 1


@pytest.mark.parametrize("scheme", COMPRESSION_SCHEMES)
def test_golden_frames_decode_to_the_plain_payload(scheme: str) -> None:
    golden_request, golden_response = GOLDEN[scheme]
    assert decode_all(golden_request) == [
        Frame(1, Flags.COMPRESSED, 1_000_099, {}, ACTION, bytes.fromhex("81a17101"), scheme)
    ]
    assert decode_all(golden_response + golden_request[:9]) == [
        Frame(1, Flags.RESPONSE | Flags.COMPRESSED, 1_000_099, {}, None, b"\x81\xa2ok\xc3", scheme)
    ]


def test_markers_are_the_elasticsearch_ones() -> None:
    assert MARKERS == {"deflate": b"DFL\x00", "lz4": b"LZ4\x00"}
    for scheme, marker in MARKERS.items():
        assert compress(scheme, b"x").startswith(marker)


def test_deflate_is_raw_deflate_at_level_3() -> None:
    data = b'{"index":{"_id":"1"}}\n{"field":"value value value"}\n' * 50
    body = compress("deflate", data)[4:]
    assert zlib.decompress(body, wbits=-15) == data
    deflater = zlib.compressobj(3, zlib.DEFLATED, -15)
    assert body == deflater.compress(data) + deflater.flush()


def test_lz4_is_a_standard_lz4_frame() -> None:
    data = b"abc" * 10_000
    body = compress("lz4", data)[4:]
    assert lz4.frame.decompress(body) == data
    assert len(body) < len(data) // 20


# --- the connection: who compresses what ----------------------------------------------------------


@pytest.mark.parametrize("mode", FEEDS)
@pytest.mark.parametrize("scheme", COMPRESSION_SCHEMES)
def test_response_uses_the_scheme_of_its_request(scheme: str, mode: str) -> None:
    client, server = Connection(), Connection()
    other = next(s for s in COMPRESSION_SCHEMES if s != scheme)
    big = {"docs": ["the same words again and again"] * 200}
    requests = [
        client.new_request(ACTION, big, compression=scheme),
        client.new_request("indices:data/read/search", {"q": 1}),
        client.new_request(ACTION, big, compression=other),
    ]
    received = events(server, b"".join(client.send(r) for r in requests), mode)
    assert received == requests
    assert [r.compression for r in received] == [scheme, None, other]
    answers = [server.send(Response(r.request_id, big)) for r in reversed(received)]
    assert [a[14] for a in answers] == [0x05, 0x01, 0x05]
    assert answers[0][25:29] == MARKERS[other]  # the payload of a header-less response
    assert answers[2][25:29] == MARKERS[scheme]
    frames = decode_all(b"".join(answers))
    assert [f.compression for f in frames if isinstance(f, Frame)] == [other, None, scheme]
    assert events(client, b"".join(answers), mode) == [
        Response(r.request_id, big) for r in reversed(requests)
    ]
    assert server.info().compressed_received == 2
    assert server.info().compressed_sent == 2


def test_compressed_frames_are_smaller_for_repetitive_payloads() -> None:
    payload = {"docs": [{"message": "GET /index.html 200", "n": i % 3} for i in range(500)]}
    plain = Connection().send(Request(1, ACTION, payload))
    for scheme in COMPRESSION_SCHEMES:
        compressed = Connection().send(Request(1, ACTION, payload, compression=scheme))
        assert len(compressed) < len(plain) // 5


@pytest.mark.parametrize("scheme", COMPRESSION_SCHEMES)
def test_error_responses_go_back_plain(scheme: str) -> None:
    # Elasticsearch sends error responses without compression whatever the request was.
    client, server = Connection(), Connection()
    events(server, client.send(client.new_request(ACTION, {}, compression=scheme)))
    error = WireError("illegal_argument_exception", "bad", 400)
    data = server.send(ErrorResponse(1, error))
    assert data[14] == int(Flags.RESPONSE | Flags.ERROR)
    assert events(client, data) == [ErrorResponse(1, error)]


def test_a_peer_may_answer_a_plain_request_compressed() -> None:
    # Accepted like Elasticsearch's decoder does: the flag, not our request, decides.
    client = Connection()
    client.send(client.new_request("a:b"))
    frame = Frame(1, Flags.RESPONSE | Flags.COMPRESSED, 1_000_099, {}, None, b"\xc0", "lz4")
    assert events(client, encode_frame(frame)) == [Response(1, None)]


def test_handshakes_and_pings_are_never_compressed() -> None:
    client = Connection()
    for action in ("internal:transport/handshake", "cluster:internal/remote_cluster/handshake"):
        with pytest.raises(ProtocolError, match="handshake frames are never compressed"):
            client.send(client.new_request(action, {}, compression="lz4"))
        assert not should_compress("true", action)
    # A ping has no status byte to carry the flag, and no way to ask for compression.
    assert client.send(Ping()) == PING_BYTES
    with pytest.raises(TypeError):
        Ping(compression="lz4")  # type: ignore[call-arg]
    assert read_frame(PING_BYTES + b"\x04") == (PingFrame(), 6)
    assert client.info().compressed_sent == 0


def test_a_compressed_handshake_from_the_peer_is_rejected() -> None:
    data = compressed_frame(compress("lz4", b"\x80"), flags=Flags.COMPRESSED | Flags.HANDSHAKE)
    with pytest.raises(RemoteProtocolError, match="handshake frame is marked as compressed"):
        events(Connection(), data)


def test_local_misuse_is_protocol_error_and_connection_stays_usable() -> None:
    client = Connection(limits=FrameLimits(max_decompressed_bytes=100))
    with pytest.raises(ProtocolError, match="unknown compression scheme \\[zstd\\]"):
        client.send(client.new_request("a:b", compression="zstd"))
    with pytest.raises(ProtocolError, match="larger than the decompressed limit of \\[100\\]"):
        client.send(client.new_request("a:b", "x" * 200, compression="deflate"))
    assert client.pending_requests() == {}
    assert client.info().compressed_sent == 0
    request = client.new_request("a:b", "x" * 50, compression="deflate")
    client.send(request)
    assert client.pending_requests() == {request.request_id: "a:b"}


@pytest.mark.parametrize(
    "frame",
    [
        Frame(1, Flags.COMPRESSED, 1, {}, "x", b""),  # flag without a scheme
        Frame(1, Flags.NONE, 1, {}, "x", b"", "lz4"),  # scheme without the flag
        Frame(1, Flags.COMPRESSED, 1, {}, "x", b"", "gzip"),
        Frame(1, Flags.COMPRESSED | Flags.HANDSHAKE, 1, {}, "x", b"", "lz4"),
    ],
)
def test_inconsistent_compressed_frames_are_not_sent(frame: Frame) -> None:
    with pytest.raises(ProtocolError):
        encode_frame(frame)


def test_compressed_frame_counts_against_the_frame_limit_after_compression() -> None:
    payload = b"\x00" * 10_000
    limits = FrameLimits(max_frame_bytes=200)
    with pytest.raises(ProtocolError, match="larger than the limit"):
        encode_frame(Frame(1, Flags.NONE, 1, {}, "x", payload), limits)
    data = encode_frame(Frame(1, Flags.COMPRESSED, 1, {}, "x", payload, "deflate"), limits)
    assert len(data) < 200
    assert decode_all(data, limits)[0] == Frame(1, Flags.COMPRESSED, 1, {}, "x", payload, "deflate")


# --- the peer's bad bytes -----------------------------------------------------------------------


def _deflate_bomb(size: int) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    body = b"".join(deflater.compress(zeros) for _ in range(size >> 20)) + deflater.flush()
    return MARKERS["deflate"] + body


def _lz4_bomb(size: int) -> bytes:
    # The header also claims the full content size: the decoder must not believe it.
    compressor = lz4.frame.LZ4FrameCompressor(content_checksum=True)
    zeros = bytes(1 << 20)
    parts = [compressor.begin(source_size=size)]
    parts += [compressor.compress(zeros) for _ in range(size >> 20)]
    parts.append(compressor.flush())
    return MARKERS["lz4"] + b"".join(parts)


@pytest.mark.parametrize("bomb", [_deflate_bomb, _lz4_bomb], ids=["deflate", "lz4"])
def test_a_zip_bomb_is_a_remote_error_in_bounded_memory(bomb: Any) -> None:
    payload = bomb(64 << 20)  # 64 MiB of zeros
    assert len(payload) < 1 << 20
    data = compressed_frame(payload)
    limits = FrameLimits(max_decompressed_bytes=1 << 20)
    conn = Connection(limits=limits)
    conn.receive_data(data)
    tracemalloc.start()
    try:
        with pytest.raises(RemoteProtocolError, match="more than the limit of \\[1048576\\]"):
            conn.next_event()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * (len(data) + (1 << 20))  # the frame plus the limit, never the bomb


@pytest.mark.parametrize("scheme", COMPRESSION_SCHEMES)
def test_payload_exactly_at_the_limit_is_accepted(scheme: str) -> None:
    plain = bytes(range(256)) * 4096  # 1 MiB
    limits = FrameLimits(max_decompressed_bytes=len(plain))
    frame = Frame(1, Flags.COMPRESSED, 1, {}, "x", plain, scheme)
    assert decode_all(encode_frame(frame, limits), limits) == [frame]
    with pytest.raises(RemoteProtocolError, match="more than the limit"):
        decode_all(encode_frame(frame, limits), FrameLimits(max_decompressed_bytes=len(plain) - 1))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"ZST\x00abcd", "no compression scheme has the marker \\[5a535400\\]"),
        (b"lZ4\x00abcd", "no compression scheme has the marker \\[6c5a3400\\]"),
        (b"DF", "no compression scheme has the marker \\[4446\\]"),
        (b"", "no compression scheme has the marker \\[\\]"),
        (MARKERS["deflate"] + b"\xff\xff", "corrupt deflate payload"),
        (MARKERS["lz4"] + b"\x00" * 12, "corrupt lz4 payload"),
        (compress("deflate", b"hello" * 100)[:-3], "deflate payload ends before"),
        (compress("lz4", b"hello" * 100)[:-3], "lz4 payload ends before"),
        (
            compress("deflate", b"hello") + b"\x00",
            "1 unexpected bytes after the end of the deflate",
        ),
        (compress("lz4", b"hello") + b"xy", "2 unexpected bytes after the end of the lz4"),
        (MARKERS["deflate"], "deflate payload ends before"),
        (MARKERS["lz4"], "lz4 payload ends before"),
    ],
)
def test_bad_compressed_payloads_are_remote_errors(payload: bytes, message: str) -> None:
    data = compressed_frame(payload)
    with pytest.raises(RemoteProtocolError, match=message):
        read_frame(data)
    conn = Connection()
    conn.receive_data(data)
    with pytest.raises(RemoteProtocolError, match=message):
        conn.next_event()
    with pytest.raises(RemoteProtocolError):
        conn.next_event()  # broken for good


def test_lz4_content_checksum_is_verified() -> None:
    data = bytearray(compress("lz4", b"hello world" * 10))
    data[-1] ^= 0xFF
    with pytest.raises(CompressionError, match="corrupt lz4 payload"):
        decompress(bytes(data), 1000)


# --- properties ---------------------------------------------------------------------------------

# Payloads that compress well and payloads that do not, around the decoder's 256 KiB step.
payloads = (
    st.binary(max_size=300)
    | st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=8), st.integers(1, 2000))
    | st.sampled_from([0, 1, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 600_000]).map(
        lambda n: (bytes(range(251)) * (n // 251 + 1))[:n]
    )
)
texts = st.text(max_size=12)
compressed_frames = st.builds(
    Frame,
    request_id=st.integers(-(2**63), 2**63 - 1),
    flags=st.just(Flags.COMPRESSED),
    version=st.integers(-(2**31), 2**31 - 1),
    headers=st.dictionaries(texts, texts, max_size=3),
    action=st.text(min_size=1, max_size=20),
    payload=payloads,
    compression=st.sampled_from(COMPRESSION_SCHEMES),
) | st.builds(
    Frame,
    request_id=st.integers(-(2**63), 2**63 - 1),
    flags=st.sampled_from(
        [Flags.RESPONSE | Flags.COMPRESSED, Flags.RESPONSE | Flags.ERROR | Flags.COMPRESSED]
    ),
    version=st.integers(-(2**31), 2**31 - 1),
    headers=st.dictionaries(texts, texts, max_size=3),
    action=st.none(),
    payload=payloads,
    compression=st.sampled_from(COMPRESSION_SCHEMES),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(compressed_frames, min_size=1, max_size=3), st.binary(max_size=5))
def test_compressed_frames_round_trip(items: list[Frame], tail: bytes) -> None:
    data = b"".join(encode_frame(f) for f in items)
    assert decode_all(data + (b"ES" + tail)[:5]) == items


@settings(max_examples=40, deadline=None)
@given(st.lists(compressed_frames.filter(lambda f: len(f.payload) < 2000), min_size=1, max_size=2))
def test_compressed_frames_decode_byte_by_byte(items: list[Frame]) -> None:
    data = b"".join(encode_frame(f) for f in items)
    out: list[Frame | PingFrame] = []
    buf = bytearray()
    for byte in data:
        buf.append(byte)
        frame, used = read_frame(buf)
        if frame is not None:
            out.append(frame)
            del buf[:used]
    assert out == items and not buf


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | texts | st.binary(max_size=64),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


@settings(deadline=None)
@given(
    st.lists(st.tuples(values, st.none() | st.sampled_from(COMPRESSION_SCHEMES)), max_size=4),
    st.sampled_from(["whole", "bytewise"]),
)
def test_event_round_trip_with_compression(items: list[tuple[Any, str | None]], mode: str) -> None:
    client, server = Connection(), Connection()
    sent = [client.new_request(ACTION, v, compression=s) for v, s in items]
    assert events(server, b"".join(client.send(r) for r in sent), mode) == sent
    replies = [Response(r.request_id, r.payload) for r in sent]
    answers = [server.send(r) for r in replies]
    for request, answer in zip(sent, answers, strict=True):
        assert bool(answer[14] & Flags.COMPRESSED) == (request.compression is not None)
    assert events(client, b"".join(answers), mode) == replies


@settings(max_examples=300)
@given(st.sampled_from(list(MARKERS.values())), st.binary(max_size=80))
def test_garbage_after_a_marker_raises_only_remote_protocol_error(
    marker: bytes, garbage: bytes
) -> None:
    try:
        read_frame(compressed_frame(marker + garbage))
    except RemoteProtocolError as exc:
        assert exc.close_reason


@settings(max_examples=200)
@given(compressed_frames.filter(lambda f: len(f.payload) < 1000), st.data())
def test_mutated_compressed_frames_raise_only_remote_protocol_error(
    frame: Frame, data: st.DataObject
) -> None:
    raw = bytearray(encode_frame(frame))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] = data.draw(st.integers(0, 255))
    try:
        decode_all(bytes(raw))
    except RemoteProtocolError:
        pass


# --- policy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "indexing_data"),
    [
        ("indices:data/write/bulk", True),
        ("indices:data/write/bulk[s]", True),
        ("indices:data/write/bulk[s][p]", True),
        ("indices:data/write/bulk[s][r]", True),
        ("indices:data/write/index", True),
        ("indices:data/read/xpack/ccr/shard_changes", True),
        ("internal:transport/proxy/indices:data/read/xpack/ccr/shard_changes", True),
        ("internal:index/shard/recovery/translog_ops", True),
        ("internal:index/seq_no/resync[p]", True),
        ("indices:data/read/search", False),
        ("indices:data/read/search[phase/query]", False),
        ("internal:admin/ccr/restore/file_chunk/get", False),
        ("indices:internal/admin/ccr/restore/file_chunk/get", False),
        ("cluster:monitor/state", False),
        ("internal:transport/handshake", False),
    ],
)
def test_should_compress(action: str, indexing_data: bool) -> None:
    handshake = action.endswith("handshake")
    assert should_compress("true", action) is (not handshake)
    assert should_compress("indexing_data", action) is indexing_data
    assert should_compress("false", action) is False


def test_should_compress_rejects_unknown_settings() -> None:
    with pytest.raises(ValueError, match=r"unknown transport\.compress value \[TRUE\]"):
        should_compress("TRUE", "a:b")


def test_info_counts_compressed_frames() -> None:
    client, server = Connection(), Connection()
    events(server, client.send(client.new_request("a:b", 1, compression="lz4")))
    events(server, client.send(client.new_request("a:c", 2)))
    events(client, server.send(Response(1, "one")) + server.send(Response(2, "two")))
    assert (client.info().compressed_sent, client.info().compressed_received) == (1, 1)
    assert (server.info().compressed_sent, server.info().compressed_received) == (1, 1)
    assert client.info().requests_sent == 2
