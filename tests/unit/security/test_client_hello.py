"""The ClientHello reader an SNI-routing proxy uses: real ClientHellos from OpenSSL (memory BIOs,
no sockets) whole, cut at every byte, split over several records and with trailing bytes; and
what is not a ClientHello at all."""

from __future__ import annotations

import ssl

import pytest

from isthmus.security.tls_records import MAX_CLIENT_HELLO, ClientHello, read_client_hello


def _client_hello(server_hostname: str | None, maximum: ssl.TLSVersion | None = None) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        ctx.maximum_version = maximum
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


def _split_records(data: bytes, size: int) -> bytes:
    """The same handshake bytes re-framed as records of at most ``size`` bytes (RFC 8446 5.1
    lets a handshake message span records)."""
    payload = data[5:]
    out = b""
    for i in range(0, len(payload), size):
        chunk = payload[i : i + size]
        out += data[:3] + len(chunk).to_bytes(2, "big") + chunk
    return out


@pytest.mark.parametrize("maximum", [None, ssl.TLSVersion.TLSv1_2])
def test_sni_of_a_real_client_hello(maximum: ssl.TLSVersion | None) -> None:
    hello = _client_hello("remote.lab.internal", maximum)
    assert read_client_hello(hello) == ClientHello(0x0303, "remote.lab.internal")
    assert read_client_hello(hello + b"\x17\x03\x03\x00\x05hello") == ClientHello(
        0x0303, "remote.lab.internal"
    )


def test_an_ip_address_sends_no_sni() -> None:
    # RFC 6066: literal IP addresses are not permitted in server_name; OpenSSL leaves it out.
    assert read_client_hello(_client_hello("127.0.0.1")) == ClientHello(0x0303, None)
    assert read_client_hello(_client_hello(None)) == ClientHello(0x0303, None)


def test_cut_at_every_byte_asks_for_more() -> None:
    hello = _client_hello("remote.lab.internal")
    for cut in range(len(hello)):
        assert read_client_hello(hello[:cut]) is None, cut


@pytest.mark.parametrize("size", [1, 7, 100])
def test_spread_over_records(size: int) -> None:
    records = _split_records(_client_hello("a.example"), size)
    assert read_client_hello(records) == ClientHello(0x0303, "a.example")
    for cut in range(0, len(records), 13):
        assert read_client_hello(records[:cut]) is None


@pytest.mark.parametrize(
    "data",
    [
        b"CONNECT 127.0.0.1:9443 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\n",
        b"ES\x00\x00\x00\x10",  # a plaintext transport frame
        b"\x16\x02\x00\x00\x10",  # not TLS record version 3.x
        b"\x16\x03\x03\x00\x04\x02\x00\x00\x00",  # a ServerHello
        b"\x16\x03\x03\x00\x04\x01\xff\xff\xff",  # declares an impossible length
        b"\x16\x03\x03\x00\x05\x01\x00\x00\x01\x03",  # body cut inside the version
    ],
)
def test_what_is_not_a_client_hello(data: bytes) -> None:
    with pytest.raises(ValueError):
        read_client_hello(data)


def test_a_stream_that_never_completes_is_refused() -> None:
    header = b"\x16\x03\x03\x40\x00\x01" + (MAX_CLIENT_HELLO - 1).to_bytes(3, "big")
    assert read_client_hello(header) is None
    with pytest.raises(ValueError):
        read_client_hello(header + b"\x00" * (MAX_CLIENT_HELLO + 100))
