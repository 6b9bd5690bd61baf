"""Frame layout: golden bytes, whole / byte-by-byte / trailing-bytes decoding, limits, garbage."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.wire.frames import (
    DEFAULT_LIMITS,
    PING,
    PING_BYTES,
    Flags,
    Frame,
    FrameLimits,
    HttpOnTransportError,
    PingFrame,
    ProtocolError,
    RemoteProtocolError,
    StreamCorruptedError,
    encode_frame,
    format_bytes,
    read_frame,
)

# The example frames of docs/wire-protocol.md, byte for byte.
REQUEST = Frame(
    request_id=1,
    flags=Flags.NONE,
    version=1_000_099,
    headers={"_cross_cluster_access_credentials": "ApiKey abc"},
    action="indices:data/read/search",
    payload=bytes.fromhex("81a17101"),  # msgpack {"q": 1}
)
REQUEST_BYTES = bytes.fromhex(
    "4553 00000060 0000000000000001 00 000f42a3 0000004b"
    " 0001 0021 5f63726f73735f636c75737465725f6163636573735f63726564656e7469616c73"
    " 000a 4170694b657920616263"
    " 0018 696e64696365733a646174612f726561642f736561726368"
    " 81a17101"
)
RESPONSE = Frame(1, Flags.RESPONSE, 1_000_099, {}, None, bytes.fromhex("81a26f6bc3"))
RESPONSE_BYTES = bytes.fromhex(
    "4553 00000018 0000000000000001 01 000f42a3 00000002 0000 81a26f6bc3"
)


def decode_all(data: bytes, limits: FrameLimits = DEFAULT_LIMITS) -> list[Frame | PingFrame]:
    out: list[Frame | PingFrame] = []
    buf = bytearray(data)
    while True:
        frame, used = read_frame(buf, limits)
        if frame is None:
            return out
        out.append(frame)
        del buf[:used]


def decode_bytewise(data: bytes) -> list[Frame | PingFrame]:
    out: list[Frame | PingFrame] = []
    buf = bytearray()
    for byte in data:
        buf.append(byte)
        frame, used = read_frame(buf)
        if frame is not None:
            out.append(frame)
            del buf[:used]
    assert not buf
    return out


@pytest.mark.parametrize(
    ("frame", "golden"),
    [(REQUEST, REQUEST_BYTES), (RESPONSE, RESPONSE_BYTES), (PING, bytes.fromhex("4553ffffffff"))],
    ids=["request", "response", "ping"],
)
def test_golden_bytes(frame: Frame | PingFrame, golden: bytes) -> None:
    assert encode_frame(frame) == golden
    assert decode_all(golden) == [frame]
    assert decode_bytewise(golden) == [frame]


def test_trailing_bytes_are_left_for_the_next_frame() -> None:
    data = REQUEST_BYTES + RESPONSE_BYTES[:9]
    frame, used = read_frame(data)
    assert frame == REQUEST
    assert used == len(REQUEST_BYTES)
    assert read_frame(data[used:]) == (None, 0)


def test_every_prefix_of_a_frame_is_incomplete() -> None:
    for cut in range(len(REQUEST_BYTES)):
        assert read_frame(REQUEST_BYTES[:cut]) == (None, 0)


def test_ping_is_six_bytes() -> None:
    assert PING_BYTES == b"ES\xff\xff\xff\xff"
    assert read_frame(PING_BYTES + b"ES") == (PING, 6)


# --- limits and bad input -------------------------------------------------------------------------


def test_bad_marker_fails_on_the_first_byte_that_cannot_be_told() -> None:
    with pytest.raises(RemoteProtocolError, match=r"invalid internal transport message format"):
        read_frame(b"X")
    with pytest.raises(RemoteProtocolError, match=r"got \(45,58\)"):
        read_frame(b"EX")


@pytest.mark.parametrize(
    ("data", "error", "text"),
    [
        (b"GET / HTTP/1.1\r\n", HttpOnTransportError, "This is not an HTTP port"),
        (b"DELETE /x HTTP/1.1\r\n", HttpOnTransportError, "This is not an HTTP port"),
        (
            b"HTTP/1.1 400 Bad Request\r\n",
            StreamCorruptedError,
            "received HTTP response on transport port, ensure that transport port (not HTTP "
            "port) of a remote node is specified in the configuration",
        ),
        (
            b"\x16\x03\x01\x02\x00\x01\x00",
            StreamCorruptedError,
            "SSL/TLS request received but SSL/TLS is not enabled on this node, got (16,3,1,2)",
        ),
        (
            b"\x00\x01\x0a\xff\x00\x00",
            StreamCorruptedError,
            "invalid internal transport message format, got (0,1,a,ff)",
        ),
    ],
)
def test_what_is_not_transport_is_named_as_es_names_it(
    data: bytes, error: type[Exception], text: str
) -> None:
    # ES's TcpTransport decides on its 6-byte header what the bytes are.
    with pytest.raises(error) as info:
        read_frame(data)
    assert str(info.value) == text
    if error is HttpOnTransportError or data[:1] in (b"H", b"\x16"):
        assert read_frame(data[:3]) == (None, 0)  # a prefix of HTTP or TLS waits for more


def test_oversize_length_fails_before_buffering() -> None:
    limits = FrameLimits(max_frame_bytes=100)
    # ES's words (TcpTransport.readMessageLength), sizes as ByteSizeValue prints them.
    expected = "transport content length received [101b] exceeded [100b]"
    with pytest.raises(RemoteProtocolError, match=re.escape(expected)) as info:
        read_frame(b"ES\x00\x00\x00\x65", limits)
    assert info.value.close_reason == expected


@pytest.mark.parametrize("length", [-2, 0, 18, -(2**31)])
def test_invalid_lengths(length: int) -> None:
    with pytest.raises(RemoteProtocolError, match="invalid frame length"):
        read_frame(b"ES" + length.to_bytes(4, "big", signed=True))


def _with_body_patch(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (14, b"\x10", "unknown status flags"),
        (14, b"\x04", "marked as compressed, but no compression scheme has the marker"),
        (14, b"\x0c", "handshake frame is marked as compressed"),
        (14, b"\x02", "error flag is set on a request"),
        (19, b"\x00\x00\x00\x01", "invalid variable header length"),
        (19, b"\x00\x00\x00\xff", "invalid variable header length"),
        (19, b"\x00\x00\x00\x4a", "ends inside"),
        (19, b"\x00\x00\x00\x4c", "unexpected bytes at the end of the variable header"),
        (23, b"\x00\x02", "ends inside"),
        (60, b"\x00\x02\xff\xfe", "not valid UTF-8"),
        (72, b"\x00\x00", "empty action name"),
    ],
)
def test_malformed_request_frames(offset: int, value: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        read_frame(_with_body_patch(REQUEST_BYTES, offset, value))


def test_duplicate_headers_are_rejected() -> None:
    body = (
        b"\x00\x02" + (b"\x00\x01a\x00\x01b" * 2) + b"\x00\x01x"  # two headers "a", action "x"
    )
    fixed = (7).to_bytes(8, "big") + b"\x00" + (1).to_bytes(4, "big") + len(body).to_bytes(4, "big")
    data = b"ES" + (len(fixed) + len(body) + 1).to_bytes(4, "big") + fixed + body + b"\xc0"
    with pytest.raises(RemoteProtocolError, match="duplicate header \\[a\\]"):
        read_frame(data)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (FrameLimits(max_headers=0), "1 headers, more than the limit of \\[0\\]"),
        (FrameLimits(max_header_name_bytes=10), "a header name is 33 bytes"),
        (FrameLimits(max_header_value_bytes=5), "is 10 bytes, more than the limit of \\[5\\]"),
        (FrameLimits(max_action_bytes=8), "the action name is 24 bytes"),
        (FrameLimits(max_frame_bytes=90), "exceeded \\[90b\\]"),
    ],
)
def test_limits_on_receive_are_remote_errors(limits: FrameLimits, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        read_frame(REQUEST_BYTES, limits)


@pytest.mark.parametrize(
    "limits",
    [
        FrameLimits(max_headers=0),
        FrameLimits(max_header_name_bytes=10),
        FrameLimits(max_header_value_bytes=5),
        FrameLimits(max_action_bytes=8),
        FrameLimits(max_frame_bytes=90),
    ],
)
def test_limits_on_send_are_local_errors(limits: FrameLimits) -> None:
    with pytest.raises(ProtocolError):
        encode_frame(REQUEST, limits)


@pytest.mark.parametrize(
    "frame",
    [
        Frame(1, Flags.NONE, 1, {}, None, b""),  # request without action
        Frame(1, Flags.RESPONSE, 1, {}, "x", b""),  # response with action
        Frame(1, Flags.ERROR, 1, {}, "x", b""),  # error flag on a request
        Frame(1, Flags.COMPRESSED, 1, {}, "x", b""),
        Frame(1, Flags(0x10), 1, {}, "x", b""),
        Frame(1, Flags.NONE, 1, {}, "", b""),
        Frame(2**63, Flags.NONE, 1, {}, "x", b""),
        Frame(1, Flags.NONE, 2**31, {}, "x", b""),
        Frame(1, Flags.NONE, 1, {"\ud800": "x"}, "x", b""),
    ],
)
def test_invalid_frames_are_not_sent(frame: Frame) -> None:
    with pytest.raises(ProtocolError):
        encode_frame(frame)


# --- properties -------------------------------------------------------------------------------

texts = st.text(max_size=20)
frames = st.builds(
    Frame,
    request_id=st.integers(-(2**63), 2**63 - 1),
    flags=st.sampled_from([Flags.NONE, Flags.HANDSHAKE]),
    version=st.integers(-(2**31), 2**31 - 1),
    headers=st.dictionaries(texts, texts, max_size=5),
    action=st.text(min_size=1, max_size=30),
    payload=st.binary(max_size=50),
    compression=st.none(),
) | st.builds(
    Frame,
    request_id=st.integers(-(2**63), 2**63 - 1),
    flags=st.sampled_from(
        [Flags.RESPONSE, Flags.RESPONSE | Flags.ERROR, Flags.RESPONSE | Flags.HANDSHAKE]
    ),
    version=st.integers(-(2**31), 2**31 - 1),
    headers=st.dictionaries(texts, texts, max_size=5),
    action=st.none(),
    payload=st.binary(max_size=50),
    compression=st.none(),
)


@given(st.lists(frames | st.just(PING), min_size=1, max_size=4))
def test_round_trip_whole_and_bytewise(items: list[Frame | PingFrame]) -> None:
    data = b"".join(encode_frame(f) for f in items)
    assert decode_all(data) == items
    assert decode_bytewise(data) == items


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_garbage_raises_only_remote_protocol_error(data: bytes) -> None:
    try:
        decode_all(data)
    except RemoteProtocolError:
        pass


@settings(max_examples=300)
@given(frames, st.data())
def test_mutated_frames_raise_only_remote_protocol_error(frame: Frame, data: st.DataObject) -> None:
    raw = bytearray(encode_frame(frame))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] = data.draw(st.integers(0, 255))
    try:
        decode_all(bytes(raw))
    except RemoteProtocolError:
        pass


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0b"),
        (100, "100b"),
        (1024, "1kb"),
        (1536, "1.5kb"),
        (64 * 1024**2, "64mb"),
        (3 * 1024**3 // 2, "1.5gb"),
    ],
)
def test_sizes_print_as_es_byte_size_values(size: int, text: str) -> None:
    assert format_bytes(size) == text
