"""TLS driven by hand: an ``ssl.SSLObject`` over two ``MemoryBIO``s, plus failure descriptions.

asyncio's own TLS neither sends the alert when it rejects a peer nor tells the server why a
handshake failed (see ``docs``/stack notes). Driving the ``SSLObject`` ourselves lets the channel
flush the alert bytes before closing, so the peer sees ``unknown ca`` / ``bad certificate``, and
lets both sides record what Elasticsearch would log. This module moves no bytes itself: the
channel feeds what it read and writes what :meth:`TlsSession.take_output` returns.

It owns :class:`TlsSession` (one side of one session, with the peer's chain, cipher suite and
protocol still readable after a failed handshake) and :func:`describe_failure`, which turns an
``ssl.SSLError`` into the WARN line ES logs on the same side of the same failure: its logger, its
text, and the Java exception ES prints under it (:class:`TlsFailure`).
"""

from __future__ import annotations

import _ssl
import datetime as dt
import ipaddress
import ssl
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# cryptography (about 70 ms to import) is loaded only when a TLS failure is diagnosed or a
# peer chain is read: a node without TLS problems never pays for it at startup.
if TYPE_CHECKING:
    from cryptography import x509

    from isthmus.security.trust_diagnostics import Side, TrustInfo

_READ_CHUNK = 64 * 1024

# The loggers ES logs these failures under (the full names; ES's log pattern abbreviates them).
DIAGNOSTIC_TRUST_MANAGER = "org.elasticsearch.common.ssl.DiagnosticTrustManager"
SECURITY_NETTY4_TRANSPORT = (
    "org.elasticsearch.xpack.core.security.transport.netty4.SecurityNetty4Transport"
)
TCP_TRANSPORT = "org.elasticsearch.transport.TcpTransport"

# Alerts by which the peer tells us it rejected *our* certificate.
_REJECTED_US = {
    "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    "SSLV3_ALERT_CERTIFICATE_REVOKED",
    "TLSV1_ALERT_DECRYPT_ERROR",
}
_CERTIFICATE_REQUIRED = "TLSV13_ALERT_CERTIFICATE_REQUIRED"
_NO_CLIENT_CERTIFICATE = "PEER_DID_NOT_RETURN_A_CERTIFICATE"
_PLAINTEXT = {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"}
_NETTY_DECODER = "io.netty.handler.codec.DecoderException"


@dataclass(frozen=True, kw_only=True)
class TlsFailure:
    """Why a TLS session failed, as this side saw it, and what ES logs for it on this side.

    ``message`` is the short reason quoted in errors returned to callers (for a certificate we
    rejected, the whole diagnostic). ``logger`` / ``log_message`` / ``cause_line`` are the WARN
    line ES writes: ``[time][WARN ][<logger>] [node] <log_message>``, then ``cause_line`` (the Java
    exception, when ES prints one) on the next line.
    """

    side: str  # "server" or "client": which end of the connection we are
    peer: str  # "host:port"
    reason: str  # OpenSSL's reason code, e.g. "TLSV1_ALERT_UNKNOWN_CA"
    message: str
    verify_code: int | None = None
    logger: str
    log_message: str
    cause_line: str | None = None


def channel_description(local: str, remote: str, profile: str = "default") -> str:
    """A channel as ES prints one in transport logs:
    ``Netty4TcpChannel{localAddress=/127.0.0.1:9300, remoteAddress=/127.0.0.1:50000, profile=default}``.
    Addresses are ``host:port`` as the channel records them; an unknown one prints as Java prints
    a missing address, ``null``."""
    return (
        f"Netty4TcpChannel{{localAddress={_java_socket_address(local)}, "
        f"remoteAddress={_java_socket_address(remote)}, profile={profile}}}"
    )


def _java_socket_address(address: str) -> str:
    """``InetSocketAddress.toString()`` of a literal address: ``/10.0.0.1:9300``,
    ``/[0:0:0:0:0:0:0:1]:9300`` (IPv6 in Java's long form, bracketed since JDK 14). A bare host
    (no port) prints without one."""
    if not address:
        return "null"
    host, port = _split_address(address)
    ip = _ip(host)
    suffix = f":{port}" if port else ""
    if ip is None:
        return f"{host}/<unresolved>{suffix}"
    from isthmus.security.cert_facts import format_ip

    text = format_ip(ip)
    return f"/[{text}]{suffix}" if ip.version == 6 and port else f"/{text}{suffix}"


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _peer_host(peer: str) -> str:
    """The host of ``host:port`` (or of a bare host): what ES's ``SSLSession.getPeerHost()``
    gives, without the port."""
    if not peer:
        return "<unknown host>"
    return _split_address(peer)[0].strip("[]")


def _split_address(address: str) -> tuple[str, str]:
    """(host, port) of ``host:port``, ``[v6]:port`` or the channel's ``v6:port``; a bare host
    (``localhost``, ``fe80::1``) has port ``""``."""
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and (":" not in host or _ip(host) is not None):
        return host, port
    return address, ""


def describe_failure(
    exc: ssl.SSLError,
    *,
    server_side: bool,
    peer: str,
    session: TlsSession | None = None,
    channel: str = "",
    trust: TrustInfo | None = None,
    now: dt.datetime | None = None,
) -> TlsFailure:
    """Translate an ``ssl`` error into what Elasticsearch logs on this side of the connection.

    ``session`` (the failed one) gives the peer's chain, cipher suite and protocol; ``trust``
    what this side's context trusts; ``channel`` the channel as ES prints it (see
    :func:`channel_description`). Without them the texts say less, never something false.
    """
    side = "server" if server_side else "client"
    other = "client" if server_side else "server"
    reason = str(exc.reason or type(exc).__name__)
    channel = channel or channel_description("", peer)
    host = _peer_host(peer)
    now = now or dt.datetime.now(dt.UTC)

    if isinstance(exc, ssl.SSLCertVerificationError):
        return _untrusted_peer(exc, side, peer, host, reason, session, trust, now)
    if reason in _REJECTED_US or reason == _CERTIFICATE_REQUIRED:
        alert = _alert_name(reason)
        if server_side:
            # ES: the client's trust manager refused our certificate (SecurityNetty4Transport
            # recognises the alert and says so, without a stack trace).
            return TlsFailure(
                side=side,
                peer=peer,
                reason=reason,
                message=f"client did not trust this server's certificate (Received fatal alert: {alert})",
                logger=SECURITY_NETTY4_TRANSPORT,
                log_message=f"client did not trust this server's certificate, closing connection {channel}",
            )
        if reason == _CERTIFICATE_REQUIRED:
            message = (
                f"server at [{peer}] requires a client certificate (Received fatal alert: {alert})"
            )
            # A JDK server answers a missing client certificate with bad_certificate (TLS 1.3's
            # certificate_required is what OpenSSL sends); ES's guide quotes the JDK's alert.
            alert = "bad_certificate"
        else:
            message = (
                f"server did not trust this client's certificate (Received fatal alert: {alert})"
            )
        return TlsFailure(
            side=side,
            peer=peer,
            reason=reason,
            message=message,
            logger=TCP_TRANSPORT,
            log_message=_transport_exception(channel),
            cause_line=f"{_NETTY_DECODER}: javax.net.ssl.SSLHandshakeException: Received fatal alert: {alert}",
        )
    if reason == _NO_CLIENT_CERTIFICATE:
        return TlsFailure(
            side=side,
            peer=peer,
            reason=reason,
            message="Empty client certificate chain",
            logger=TCP_TRANSPORT,
            log_message=_transport_exception(channel),
            cause_line=f"{_NETTY_DECODER}: javax.net.ssl.SSLHandshakeException: Empty client certificate chain",
        )
    if reason in _PLAINTEXT:
        # ES (either side) recognises non-TLS bytes and logs it plainly, without a stack trace.
        return TlsFailure(
            side=side,
            peer=peer,
            reason=reason,
            message="received plaintext traffic on an encrypted channel",
            logger=SECURITY_NETTY4_TRANSPORT,
            log_message=f"received plaintext traffic on an encrypted channel, closing connection {channel}",
        )
    return TlsFailure(
        side=side,
        peer=peer,
        reason=reason,
        message=f"TLS failure with {other} at [{peer}]: {exc}",
        logger=TCP_TRANSPORT,
        log_message=_transport_exception(channel),
        cause_line=f"{_NETTY_DECODER}: {_java_ssl_exception(exc, reason, session)}",
    )


def _untrusted_peer(
    exc: ssl.SSLCertVerificationError,
    side: str,
    peer: str,
    host: str,
    reason: str,
    session: TlsSession | None,
    trust: TrustInfo | None,
    now: dt.datetime,
) -> TlsFailure:
    """We rejected the peer's certificate: ES's DiagnosticTrustManager diagnosis."""
    from isthmus.security.trust_diagnostics import diagnose_peer, trust_failure_cause

    ours: Side = "server" if side == "server" else "client"
    chain = session.peer_chain() if session is not None else ()
    hostname = session.server_hostname if session is not None else None
    if chain:
        text = diagnose_peer(
            side=ours,
            peer_host=host,
            chain=chain,
            trust=trust,
            cipher=session.cipher() if session is not None else None,
            protocol=session.protocol() if session is not None else None,
            now=now,
        )
    else:
        # Without the session the chain is unknown: say what OpenSSL found rather than claim
        # (as ES's text for an empty chain would) that the peer sent no certificate.
        other = "client" if side == "server" else "server"
        text = f"failed to establish trust with {other} at [{host}]; {exc.verify_message}"
    return TlsFailure(
        side=side,
        peer=peer,
        reason=reason,
        message=text,
        verify_code=exc.verify_code,
        logger=DIAGNOSTIC_TRUST_MANAGER,
        log_message=text,
        cause_line=trust_failure_cause(
            side=ours,
            chain=chain,
            verify_code=exc.verify_code,
            verify_message=exc.verify_message,
            hostname=hostname,
            now=now,
        ),
    )


def handshake_timeout_failure(timeout: float, *, peer: str, channel: str = "") -> TlsFailure:
    """An accepted connection that did not finish its TLS handshake in time: what ES logs when
    Netty's ``SslHandler`` gives up on it (``handshake_timeout``, 10 s by default)."""
    millis = int(timeout * 1000)
    message = f"handshake timed out after {millis}ms"
    return TlsFailure(
        side="server",
        peer=peer,
        reason="HANDSHAKE_TIMEOUT",
        message=message,
        logger=TCP_TRANSPORT,
        log_message=_transport_exception(channel or channel_description("", peer)),
        cause_line=f"io.netty.handler.ssl.SslHandshakeTimeoutException: {message}",
    )


def _transport_exception(channel: str) -> str:
    return f"exception caught on transport layer [{channel}], closing connection"


def _java_ssl_exception(exc: ssl.SSLError, reason: str, session: TlsSession | None) -> str:
    """The ``javax.net.ssl`` exception a JDK peer would have raised for ``exc``."""
    handshaking = session is None or not session.handshake_done
    kind = "SSLHandshakeException" if handshaking else "SSLException"
    if "_ALERT_" in reason:
        return f"javax.net.ssl.{kind}: Received fatal alert: {_alert_name(reason)}"
    return f"javax.net.ssl.{kind}: {_openssl_text(exc) or reason}"


def _openssl_text(exc: ssl.SSLError) -> str:
    """OpenSSL's words for ``exc``, without Python's ``[SSL: CODE]`` and ``(_ssl.c:NNN)``."""
    text = str(exc.strerror or exc)
    if "] " in text:
        text = text.split("] ", 1)[1]
    return text.rsplit(" (_ssl.c:", 1)[0]


def _alert_name(reason: str) -> str:
    for prefix in ("TLSV13_ALERT_", "TLSV1_ALERT_", "SSLV3_ALERT_"):
        if reason.startswith(prefix):
            return reason[len(prefix) :].lower()
    return reason.lower()


# --- the peer's chain after a failed handshake ---------------------------------------------------
#
# A client reads the server's chain after a failed verification through the SSLObject
# (``get_unverified_chain``). A server cannot: OpenSSL drops the client's chain when it fails
# verification. So server contexts that ask for client certificates get a message callback that
# keeps the client's Certificate handshake message (decrypted: the callback sees plaintext
# handshake messages, TLS 1.3 included) until the handshake ends. The callback is set on the C
# type directly: the Python-level property wraps every call in enum conversions, which costs
# ~10 us on every record of the connection; the raw callback costs well under one.

_CONTENT_HANDSHAKE = 22
_MESSAGE_CERTIFICATE = 11
_TLS1_3 = 0x0304
# The C-level descriptor under ``SSLContext._msg_callback`` (private since Python 3.8; absent
# elsewhere, in which case a server's diagnosis just lacks the client's chain).
_RAW_MSG_CALLBACK: Any = getattr(_ssl._SSLContext, "_msg_callback", None)
_CERTIFICATE_MESSAGES: weakref.WeakKeyDictionary[ssl.SSLObject, tuple[int, bytes]] = (
    weakref.WeakKeyDictionary()
)


def _keep_certificate_message(
    conn: Any, direction: str, version: int, content_type: int, msg_type: int, data: bytes
) -> None:
    # Called by OpenSSL for every record and message: the first test must be cheap, and nothing
    # may raise (an exception here would surface from the next SSLObject call).
    if content_type != _CONTENT_HANDSHAKE or msg_type != _MESSAGE_CERTIFICATE:
        return
    if direction != "read":
        return
    try:
        _CERTIFICATE_MESSAGES[conn] = (version, bytes(data))
    except TypeError:
        pass


def _capture_client_certificates(context: ssl.SSLContext) -> None:
    """Install the callback on a server context that requests client certificates (once)."""
    if _RAW_MSG_CALLBACK is None or context.verify_mode == ssl.CERT_NONE:
        return
    current = _RAW_MSG_CALLBACK.__get__(context)
    if current is None:
        _RAW_MSG_CALLBACK.__set__(context, _keep_certificate_message)
    # else: ours already, or someone else's (a debugging hook): leave it alone


def _parse_certificate_message(version: int, data: bytes) -> tuple[x509.Certificate, ...]:
    """The certificates of a Certificate handshake message (RFC 8446 4.4.2 / RFC 5246 7.4.2)."""
    from cryptography import x509

    pos = 4  # handshake header: type (1), length (3)
    if version >= _TLS1_3:
        pos += 1 + data[pos]  # certificate_request_context
    end = pos + 3 + int.from_bytes(data[pos : pos + 3], "big")
    pos += 3
    certs: list[x509.Certificate] = []
    while pos + 3 <= min(end, len(data)):
        size = int.from_bytes(data[pos : pos + 3], "big")
        pos += 3
        certs.append(x509.load_der_x509_certificate(data[pos : pos + size]))
        pos += size
        if version >= _TLS1_3:
            pos += 2 + int.from_bytes(data[pos : pos + 2], "big")  # per-certificate extensions
    return tuple(certs)


# --- the ServerHello: suite and protocol after a failed handshake --------------------------------

_HELLO_KEPT = 16 * 1024  # the ServerHello opens the server's first flight, well within this
_MESSAGE_SERVER_HELLO = 2
_EXTENSION_SUPPORTED_VERSIONS = 43
_PROTOCOL_NAMES = {0x0304: "TLSv1.3", 0x0303: "TLSv1.2", 0x0302: "TLSv1.1", 0x0301: "TLSv1"}


def _parse_server_hello(records: bytes | bytearray) -> tuple[int, int] | None:
    """(cipher suite id, protocol version) of the ServerHello at the start of ``records`` (raw
    TLS records as the server sent them: the ServerHello is never encrypted), or ``None``."""
    handshake = bytearray()
    pos = 0
    while pos + 5 <= len(records) and records[pos] == _CONTENT_HANDSHAKE:
        length = int.from_bytes(records[pos + 3 : pos + 5], "big")
        handshake += records[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if len(handshake) >= 4 and len(handshake) >= 4 + int.from_bytes(handshake[1:4], "big"):
            break
    if len(handshake) < 4 or handshake[0] != _MESSAGE_SERVER_HELLO:
        return None
    body = bytes(handshake[4 : 4 + int.from_bytes(handshake[1:4], "big")])
    if len(body) < 35 or len(body) < 35 + body[34] + 3:
        return None  # cut short: no suite to read
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


class TlsSession:
    """One side of a TLS session over memory buffers."""

    def __init__(
        self,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
    ) -> None:
        if server_side:
            _capture_client_certificates(context)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=None if server_side else server_hostname,
        )
        self._context = context
        self.server_side = server_side
        self.handshake_done = False
        self.peer_closed = False  # the peer sent close_notify
        # The first handshake bytes in the server's direction (what a client reads, what a server
        # writes), kept until the handshake ends: the ServerHello names the suite and protocol,
        # which OpenSSL does not report after a failed TLS 1.2 handshake.
        self._hello = bytearray()

    def start(self) -> None:
        """Begin the handshake (a client's ClientHello lands in the output)."""
        self._step_handshake()

    def receive(self, data: bytes) -> bytes:
        """Feed ciphertext (``b""`` = end of stream); the plaintext it completes.

        Raises :class:`ssl.SSLError` when the session fails; :meth:`take_output` then holds the
        alert to send before closing.
        """
        if data:
            if not self.server_side and not self.handshake_done:
                self._keep_hello(data)
            self._incoming.write(data)
        else:
            self._incoming.write_eof()
        if not self.handshake_done and not self._step_handshake():
            return b""
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._obj.read(_READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.peer_closed = True
                break
            if not chunk:
                break
            chunks.append(chunk)
            if not self._incoming.pending and not self._obj.pending():
                break  # nothing left to decrypt: the next read could only raise SSLWantReadError
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def send(self, plaintext: bytes) -> None:
        """Encrypt ``plaintext`` into the output (only after the handshake)."""
        self._obj.write(plaintext)

    def close_notify(self) -> None:
        """Queue our close_notify alert; the peer's answer is not awaited."""
        try:
            self._obj.unwrap()
        except ssl.SSLError:
            pass  # SSLWantReadError: the peer's close_notify is not in; we do not wait for it

    def take_output(self) -> bytes:
        data = self._outgoing.read()
        if self.server_side and not self.handshake_done and data:
            self._keep_hello(data)
        return data

    def _keep_hello(self, data: bytes) -> None:
        room = _HELLO_KEPT - len(self._hello)
        if room > 0:
            self._hello += data[:room]

    def _step_handshake(self) -> bool:
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        self.handshake_done = True
        # OpenSSL reports chain, suite and protocol now; what was kept was only for a failure.
        _CERTIFICATE_MESSAGES.pop(self._obj, None)
        self._hello = bytearray()
        return True

    def peer_certificate_subject(self) -> str | None:
        if not self.handshake_done:
            return None
        cert = self._obj.getpeercert()
        if not cert:
            return None
        subject: Any = cert.get("subject", ())
        parts = [f"{k}={v}" for rdn in subject for k, v in rdn]
        return ", ".join(parts) or None

    def peer_chain(self) -> tuple[x509.Certificate, ...]:
        """The certificates the peer sent, leaf first, verified or not: also after a failed
        handshake (empty when it sent none, or its Certificate message never arrived)."""
        from cryptography import x509

        raw: Any = getattr(self._obj, "_sslobj", None)
        chain = raw.get_unverified_chain() if raw is not None else None
        if chain:
            return tuple(
                x509.load_der_x509_certificate(c.public_bytes(_ssl.ENCODING_DER)) for c in chain
            )
        kept = _CERTIFICATE_MESSAGES.get(self._obj)
        if kept is None:
            return ()
        try:
            return _parse_certificate_message(*kept)
        except (ValueError, IndexError):
            return ()

    def cipher(self) -> str | None:
        """The session's cipher suite by its IANA name (as the JDK, and so ES, prints it); also
        after a failed certificate check (from the ServerHello when OpenSSL cannot tell)."""
        suite = self._obj.cipher()
        if suite is not None:
            name = suite[0]
        else:
            hello = _parse_server_hello(self._hello)
            if hello is None:
                return None
            ids = {c["id"] & 0xFFFF: str(c["name"]) for c in self._context.get_ciphers()}
            name = ids.get(hello[0], f"0x{hello[0]:04X}")
        return _IANA_CIPHER_NAMES.get(name, name)

    def protocol(self) -> str | None:
        """The negotiated protocol (``TLSv1.3``); also after a failed certificate check, when
        OpenSSL reports none: then it is the version the ServerHello chose."""
        version = self._obj.version()
        if version is not None:
            return version
        hello = _parse_server_hello(self._hello)
        return None if hello is None else _PROTOCOL_NAMES.get(hello[1])

    @property
    def server_hostname(self) -> str | None:
        """The name a client checks the server's certificate against (``None`` on a server)."""
        return self._obj.server_hostname

    @property
    def version(self) -> str | None:
        return self._obj.version()

    def __repr__(self) -> str:
        state = "established" if self.handshake_done else "handshaking"
        side = "server" if self.server_side else "client"
        return f"<TlsSession {side} {state} {self.version or '-'}>"
