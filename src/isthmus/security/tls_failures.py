"""Why a TLS session failed, in the words Elasticsearch logs on the same side of the same failure.

[no sockets] Owns :class:`TlsFailure` and the translation of an ``ssl.SSLError`` into it
(:func:`describe_failure`, :func:`handshake_timeout_failure`): ES's logger, its WARN text and the
Java exception ES prints under it, for each kind of failure (the peer rejected our certificate,
we rejected the peer's, no client certificate, plaintext on a TLS port, a handshake timeout).
A certificate we rejected is diagnosed by :mod:`isthmus.security.trust_diagnostics`; a channel
is printed as ES prints a Netty channel (:func:`channel_description`).

The session that failed is read through :class:`FailedSession` (the transport's ``TlsSession``
has that shape), so this module imports nothing from ``transport/`` and the transport may import
it: it sits below the transport, beside ``trust_diagnostics``. It moves no bytes and opens
nothing; ``ssl`` is imported for its exception types only. The code is our own; only the words
are ES's.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from isthmus.wire.names import DEFAULT_PROFILE

# cryptography (about 70 ms to import) is loaded only when a TLS failure is diagnosed or a
# peer chain is read: a node without TLS problems never pays for it at startup.
if TYPE_CHECKING:
    from cryptography import x509

    from isthmus.security.trust_diagnostics import Side, TrustInfo


class FailedSession(Protocol):
    """What a diagnosis reads from the session that failed (all readable after a failure)."""

    @property
    def handshake_done(self) -> bool: ...

    @property
    def server_hostname(self) -> str | None: ...

    def peer_chain(self) -> tuple[x509.Certificate, ...]: ...

    def cipher(self) -> str | None: ...

    def protocol(self) -> str | None: ...


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


def channel_description(local: str, remote: str, profile: str = DEFAULT_PROFILE) -> str:
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
    session: FailedSession | None = None,
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
            # A JDK server answers a missing client certificate with bad_certificate (TLS 1.3's
            # certificate_required is what OpenSSL sends); ES's guide quotes the JDK's alert, and
            # the search error and the log line name the same one.
            alert = "bad_certificate"
            message = (
                f"server at [{peer}] requires a client certificate (Received fatal alert: {alert})"
            )
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
    session: FailedSession | None,
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


def _java_ssl_exception(exc: ssl.SSLError, reason: str, session: FailedSession | None) -> str:
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
