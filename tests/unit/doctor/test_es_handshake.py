"""Elasticsearch's TCP handshake, against the bytes ES documents in ``TransportHandshaker`` (the
same examples its ``TransportHandshakerRawMessageTests`` check): requests written exactly, answers
read whole, cut short at every byte, and with trailing bytes."""

from __future__ import annotations

import pytest

from isthmus.doctor.es_handshake import V7, V8800000, EsHandshake, parse_response, request

ACTION = b"internal:tcp/handshake"
V7_REQUEST = (
    bytes.fromhex("4553 00000031 0000000000000001 08 006d6833 0000001a 00 00 00 16")
    + ACTION
    + bytes.fromhex("00 04 c3f9eb03")
)
V7_RESPONSE = bytes.fromhex("4553 00000017 0000000000000001 09 006d6833 00000002 00 00 c3f9eb03")
V88_REQUEST = (
    bytes.fromhex("4553 00000036 0000000000000001 08 00864700 00000019 00 00 16")
    + ACTION
    + bytes.fromhex("00 0a e88f9b04 05")
    + b"9.0.0"
)
V88_RESPONSE = (
    bytes.fromhex("4553 0000001d 0000000000000001 09 00864700 00000002 00 00 e88f9b04 05")
    + b"9.0.0"
)


def test_requests_are_es_documented_bytes() -> None:
    assert request(V7, transport_version=8_060_099) == V7_REQUEST
    assert request(V8800000, transport_version=8_833_000, release="9.0.0") == V88_REQUEST


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (V7_RESPONSE, EsHandshake(V7, 8_060_099, None)),
        (V88_RESPONSE, EsHandshake(V8800000, 8_833_000, "9.0.0")),
    ],
)
def test_responses_whole_cut_and_with_trailing_bytes(data: bytes, expected: EsHandshake) -> None:
    assert parse_response(data) == expected
    assert parse_response(data + b"ES\x00\x00") == expected
    for cut in range(len(data)):
        assert parse_response(data[:cut]) is None
    assert "transport version [" in expected.describe()


def test_what_is_not_a_handshake_answer() -> None:
    assert parse_response(b"This is not an HTTP port") is None
    assert parse_response(V7_REQUEST) is None  # a request, not a response
    assert parse_response(V7_RESPONSE, request_id=2) is None  # not ours
    error = bytearray(V7_RESPONSE)
    error[14] |= 0x02
    answer = parse_response(bytes(error))
    assert answer is not None and answer.error
