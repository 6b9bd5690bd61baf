"""TLS handshake messages read by hand, for a diagnosis after a failed handshake.  [no I/O]

OpenSSL forgets what a failed handshake carried: a server drops the client's certificate chain
when it fails verification, and neither side reports the cipher suite or protocol of a TLS 1.2
handshake that failed. ES's failure texts quote all three, so the TLS session keeps the raw bytes
it saw (the client's Certificate message, the start of the server's first flight) and this
module reads them:

* :func:`parse_certificate_message`: the certificates of a Certificate handshake message
  (RFC 8446 4.4.2 / RFC 5246 7.4.2);
* :func:`parse_server_hello`: the cipher suite and protocol version the ServerHello chose;
* :func:`read_client_hello`: the ``server_name`` (SNI) a ClientHello asks for (RFC 6066 3), as an
  SNI-routing proxy reads it before choosing a backend (the lab's relay);
* :func:`iana_cipher_name` / :data:`PROTOCOL_NAMES`: suite and protocol as ES (the JDK) prints them.

Plain functions over bytes: no sockets, no ``ssl`` objects. Bytes that are cut short or malformed
give ``None`` (the ServerHello) or raise ``ValueError``/``IndexError`` (a Certificate message),
never a wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

# cryptography (about 70 ms to import) is loaded only when a chain is actually read.
if TYPE_CHECKING:
    from cryptography import x509

CONTENT_HANDSHAKE = 22  # TLS record content type
MESSAGE_CERTIFICATE = 11  # handshake message types
MESSAGE_SERVER_HELLO = 2
MESSAGE_CLIENT_HELLO = 1
TLS1_3 = 0x0304
_EXTENSION_SUPPORTED_VERSIONS = 43
_EXTENSION_SERVER_NAME = 0
_SNI_HOST_NAME = 0  # the only name type RFC 6066 defines
# A ClientHello is at most a few KiB; one that has not arrived whole by then is not one.
MAX_CLIENT_HELLO = 16 * 1024
PROTOCOL_NAMES = {0x0304: "TLSv1.3", 0x0303: "TLSv1.2", 0x0302: "TLSv1.1", 0x0301: "TLSv1"}


def parse_certificate_message(version: int, data: bytes) -> tuple[x509.Certificate, ...]:
    """The certificates (leaf first) of a Certificate handshake message, header included, as
    negotiated under protocol ``version`` (TLS 1.3 adds a request context and per-certificate
    extensions)."""
    from cryptography import x509

    pos = 4  # handshake header: type (1), length (3)
    if version >= TLS1_3:
        pos += 1 + data[pos]  # certificate_request_context
    end = pos + 3 + int.from_bytes(data[pos : pos + 3], "big")
    pos += 3
    certs: list[x509.Certificate] = []
    while pos + 3 <= min(end, len(data)):
        size = int.from_bytes(data[pos : pos + 3], "big")
        pos += 3
        certs.append(x509.load_der_x509_certificate(data[pos : pos + size]))
        pos += size
        if version >= TLS1_3:
            pos += 2 + int.from_bytes(data[pos : pos + 2], "big")  # per-certificate extensions
    return tuple(certs)


def parse_server_hello(records: bytes | bytearray) -> tuple[int, int] | None:
    """(cipher suite id, protocol version) of the ServerHello at the start of ``records`` (raw
    TLS records as the server sent them: the ServerHello is never encrypted), or ``None``."""
    handshake = bytearray()
    pos = 0
    while pos + 5 <= len(records) and records[pos] == CONTENT_HANDSHAKE:
        length = int.from_bytes(records[pos + 3 : pos + 5], "big")
        handshake += records[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if len(handshake) >= 4 and len(handshake) >= 4 + int.from_bytes(handshake[1:4], "big"):
            break
    if len(handshake) < 4 or handshake[0] != MESSAGE_SERVER_HELLO:
        return None
    declared = int.from_bytes(handshake[1:4], "big")
    body = bytes(handshake[4 : 4 + declared])
    if len(body) < declared or len(body) < 35 or len(body) < 35 + body[34] + 3:
        # Cut short: the suite may be there, but TLS 1.3's choice of version comes last (in
        # the supported_versions extension), so a partial message could name the wrong one.
        return None
    version = int.from_bytes(body[0:2], "big")  # legacy_version
    pos = 35 + body[34]  # version (2), random (32), session id (1 + its length)
    suite = int.from_bytes(body[pos : pos + 2], "big")
    pos += 3  # suite, compression method
    if pos + 2 <= len(body):
        end = min(len(body), pos + 2 + int.from_bytes(body[pos : pos + 2], "big"))
        pos += 2
        while pos + 4 <= end:
            kind = int.from_bytes(body[pos : pos + 2], "big")
            size = int.from_bytes(body[pos + 2 : pos + 4], "big")
            if kind == _EXTENSION_SUPPORTED_VERSIONS and size == 2 and pos + 6 <= end:
                version = int.from_bytes(body[pos + 4 : pos + 6], "big")  # TLS 1.3's choice
            pos += 4 + size
    return suite, version


@dataclass(frozen=True)
class ClientHello:
    """What a proxy reads from a ClientHello before choosing where to send it."""

    legacy_version: int  # 0x0303 for TLS 1.2 and 1.3 alike (1.3 says its version elsewhere)
    server_name: str | None  # the SNI host name; None when the client sent none (e.g. an IP)


def read_client_hello(records: bytes | bytearray) -> ClientHello | None:
    """The ClientHello at the start of ``records`` (raw TLS records from the client), or
    ``None`` while it has not fully arrived. Raises ``ValueError`` when the bytes are not a TLS
    handshake starting with a ClientHello, or it is malformed or larger than
    :data:`MAX_CLIENT_HELLO` (the caller stops waiting for more bytes then)."""
    if records and records[0] != CONTENT_HANDSHAKE:
        raise ValueError(f"not a TLS handshake record (content type [{records[0]}])")
    handshake = bytearray()
    pos = 0
    while pos + 5 <= len(records):
        if records[pos] != CONTENT_HANDSHAKE:
            raise ValueError("a ClientHello interrupted by another record type")
        if records[pos + 1] != 3:
            raise ValueError(f"not a TLS record version [{records[pos + 1]}.{records[pos + 2]}]")
        length = int.from_bytes(records[pos + 3 : pos + 5], "big")
        if len(records) < pos + 5 + length:
            break  # this record has not fully arrived
        handshake += records[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if len(handshake) >= 4 and len(handshake) >= 4 + int.from_bytes(handshake[1:4], "big"):
            break
    if handshake and handshake[0] != MESSAGE_CLIENT_HELLO:
        raise ValueError(f"the first handshake message is type [{handshake[0]}], not ClientHello")
    declared = int.from_bytes(handshake[1:4], "big") if len(handshake) >= 4 else 0
    if declared > MAX_CLIENT_HELLO or len(records) > MAX_CLIENT_HELLO + 64:
        raise ValueError("the ClientHello is larger than any real one")
    if len(handshake) < 4 or len(handshake) < 4 + declared:
        return None
    return _client_hello_body(bytes(handshake[4 : 4 + declared]))


def _client_hello_body(body: bytes) -> ClientHello:
    """RFC 8446 4.1.2: version, random, session id, suites, compression, extensions."""
    try:
        version = int.from_bytes(body[0:2], "big")
        pos = 34  # version (2), random (32)
        pos += 1 + body[pos]  # legacy_session_id
        pos += 2 + int.from_bytes(body[pos : pos + 2], "big")  # cipher_suites
        pos += 1 + body[pos]  # legacy_compression_methods
    except IndexError:
        raise ValueError("the ClientHello is cut short") from None
    if pos > len(body):
        raise ValueError("the ClientHello is cut short")
    if pos == len(body):
        return ClientHello(version, None)  # no extensions at all (old clients)
    end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
    if end > len(body):
        raise ValueError("the ClientHello's extensions run past its end")
    pos += 2
    while pos + 4 <= end:
        kind = int.from_bytes(body[pos : pos + 2], "big")
        size = int.from_bytes(body[pos + 2 : pos + 4], "big")
        data = body[pos + 4 : pos + 4 + size]
        if len(data) < size:
            raise ValueError("an extension runs past the ClientHello's end")
        if kind == _EXTENSION_SERVER_NAME:
            return ClientHello(version, _server_name(data))
        pos += 4 + size
    return ClientHello(version, None)


def _server_name(data: bytes) -> str | None:
    """The host_name entry of a server_name extension (RFC 6066 3)."""
    end = 2 + int.from_bytes(data[0:2], "big")
    pos = 2
    while pos + 3 <= min(end, len(data)):
        kind = data[pos]
        size = int.from_bytes(data[pos + 1 : pos + 3], "big")
        name = data[pos + 3 : pos + 3 + size]
        if len(name) < size:
            raise ValueError("the server_name extension is cut short")
        if kind == _SNI_HOST_NAME:
            try:
                return name.decode("ascii")
            except UnicodeDecodeError:
                raise ValueError("the SNI host name is not ASCII") from None
        pos += 3 + size
    return None


# OpenSSL names TLS 1.2 suites its own way; ES prints the IANA (JDK) names. TLS 1.3 suites have
# one name. The table covers what TLS 1.2 offers by default; others print as OpenSSL names them.
_IANA_CIPHER_NAMES = {
    "ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "DHE-RSA-AES256-GCM-SHA384": "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "DHE-RSA-AES128-GCM-SHA256": "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "DHE-RSA-CHACHA20-POLY1305": "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-AES256-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "ECDHE-RSA-AES256-SHA384": "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "ECDHE-ECDSA-AES128-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "ECDHE-RSA-AES128-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "ECDHE-ECDSA-AES256-SHA": "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "ECDHE-RSA-AES256-SHA": "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "ECDHE-ECDSA-AES128-SHA": "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "ECDHE-RSA-AES128-SHA": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "AES256-GCM-SHA384": "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "AES128-GCM-SHA256": "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "AES256-SHA256": "TLS_RSA_WITH_AES_256_CBC_SHA256",
    "AES128-SHA256": "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "AES256-SHA": "TLS_RSA_WITH_AES_256_CBC_SHA",
    "AES128-SHA": "TLS_RSA_WITH_AES_128_CBC_SHA",
}


def iana_cipher_name(openssl_name: str) -> str:
    """A cipher suite as ES prints it (its IANA name), from OpenSSL's name for it."""
    return _IANA_CIPHER_NAMES.get(openssl_name, openssl_name)
