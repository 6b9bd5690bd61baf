"""The hand-read TLS handshake messages: whole, cut at every byte, and with trailing bytes.

The ServerHello comes from real OpenSSL sessions (two ``SSLObject``s over memory buffers, no
sockets); the Certificate messages are built by hand in both protocol layouts, from real
certificates.
"""

from __future__ import annotations

import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from isthmus.security import certs
from isthmus.security.tls_records import (
    PROTOCOL_NAMES,
    TLS1_3,
    iana_cipher_name,
    parse_certificate_message,
    parse_server_hello,
)

TLS1_2 = 0x0303


@pytest.fixture(scope="module")
def ca() -> certs.CertificateAndKey:
    return certs.generate_ca("CN=Records CA", days=30)


@pytest.fixture(scope="module")
def chain(ca: certs.CertificateAndKey) -> tuple[x509.Certificate, x509.Certificate]:
    leaf = certs.issue_certificate("CN=leaf", issuer=ca, dns_names=["localhost"], days=30)
    return leaf.certificate, ca.certificate


def _server_first_flight(
    ca: certs.CertificateAndKey, tmp_path_factory: pytest.TempPathFactory, version: ssl.TLSVersion
) -> tuple[bytes, ssl.SSLObject]:
    """The server's first flight for a ClientHello, and the client that will read it."""
    leaf = certs.issue_certificate("CN=server", issuer=ca, dns_names=["localhost"], days=30)
    tmp = tmp_path_factory.mktemp("records")
    (tmp / "cert.pem").write_bytes(certs.encode_pem_certificates(leaf.certificate))
    (tmp / "key.pem").write_bytes(certs.encode_pem_key(leaf.key))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    server_ctx.maximum_version = version
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    flight = b""
    done: set[str] = set()
    for _ in range(10):  # pump both ways until both handshakes are complete
        for name, obj, out, peer_in in (("c", client, c_out, s_in), ("s", server, s_out, c_in)):
            if name not in done:
                try:
                    obj.do_handshake()
                    done.add(name)
                except ssl.SSLWantReadError:
                    pass
            data = out.read()
            if name == "s" and data and not flight:
                flight = data
            peer_in.write(data)
    assert done == {"c", "s"}
    return flight, client


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_server_hello_names_the_suite_and_protocol_openssl_chose(
    ca: certs.CertificateAndKey, tmp_path_factory: pytest.TempPathFactory, version: ssl.TLSVersion
) -> None:
    flight, client = _server_first_flight(ca, tmp_path_factory, version)
    parsed = parse_server_hello(flight)
    assert parsed is not None
    suite, protocol = parsed
    assert PROTOCOL_NAMES[protocol] == client.version()
    cipher = client.cipher()
    assert cipher is not None
    ids = {c["id"] & 0xFFFF: c["name"] for c in ssl.create_default_context().get_ciphers()}
    assert ids[suite] == cipher[0]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_server_hello_cut_anywhere_gives_none_or_the_answer(
    ca: certs.CertificateAndKey, tmp_path_factory: pytest.TempPathFactory, version: ssl.TLSVersion
) -> None:
    flight, _client = _server_first_flight(ca, tmp_path_factory, version)
    whole = parse_server_hello(flight)
    hello_record_end = 5 + int.from_bytes(flight[3:5], "big")
    for n in range(len(flight) + 1):
        got = parse_server_hello(flight[:n])
        assert got in (None, whole), n
        if n >= hello_record_end:
            assert got == whole, n
    assert parse_server_hello(flight + b"\x17\x03\x03\x00\x05trail") == whole


def test_not_a_server_hello() -> None:
    assert parse_server_hello(b"") is None
    assert parse_server_hello(b"GET / HTTP/1.1\r\n\r\n") is None
    client_hello = bytes([22, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0])
    assert parse_server_hello(client_hello) is None


def _certificate_message(version: int, ders: list[bytes]) -> bytes:
    """A Certificate handshake message as RFC 8446 4.4.2 (TLS 1.3) / RFC 5246 7.4.2 lay it out."""
    entries = b""
    for der in ders:
        entries += len(der).to_bytes(3, "big") + der
        if version >= TLS1_3:
            entries += b"\x00\x00"  # no per-certificate extensions
    body = len(entries).to_bytes(3, "big") + entries
    if version >= TLS1_3:
        body = b"\x00" + body  # empty certificate_request_context
    return bytes([11]) + len(body).to_bytes(3, "big") + body


@pytest.mark.parametrize("version", [TLS1_3, TLS1_2])
def test_certificate_message_whole_and_cut(
    version: int, chain: tuple[x509.Certificate, x509.Certificate]
) -> None:
    ders = [c.public_bytes(Encoding.DER) for c in chain]
    message = _certificate_message(version, ders)
    assert parse_certificate_message(version, message) == chain
    assert parse_certificate_message(version, message + b"trailing") == chain
    for n in range(len(message)):
        try:
            got = parse_certificate_message(version, message[:n])
        except (ValueError, IndexError):
            continue  # the documented failures of a cut message
        assert got == chain[: len(got)], n  # never a wrong certificate


def test_empty_certificate_message() -> None:
    assert parse_certificate_message(TLS1_3, _certificate_message(TLS1_3, [])) == ()
    assert parse_certificate_message(TLS1_2, _certificate_message(TLS1_2, [])) == ()


def test_cipher_names_as_es_prints_them() -> None:
    assert (
        iana_cipher_name("ECDHE-RSA-AES128-GCM-SHA256") == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    )
    assert iana_cipher_name("AES256-SHA") == "TLS_RSA_WITH_AES_256_CBC_SHA"
    assert (
        iana_cipher_name("TLS_AES_256_GCM_SHA384") == "TLS_AES_256_GCM_SHA384"
    )  # TLS 1.3: one name
