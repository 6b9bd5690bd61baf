"""TLS driven by hand: an ``ssl.SSLObject`` over two ``MemoryBIO``s, plus failure descriptions.

asyncio's own TLS neither sends the alert when it rejects a peer nor tells the server why a
handshake failed (see ``docs``/stack notes). Driving the ``SSLObject`` ourselves lets the channel
flush the alert bytes before closing, so the peer sees ``unknown ca`` / ``bad certificate``, and
lets both sides record what Elasticsearch would log. This module moves no bytes itself: the
channel feeds what it read and writes what :meth:`TlsSession.take_output` returns.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

_READ_CHUNK = 64 * 1024

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
_PLAINTEXT = {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"}


@dataclass(frozen=True)
class TlsFailure:
    """Why a TLS session failed, as this side saw it (``message`` is what gets logged)."""

    side: str  # "server" or "client": which end of the connection we are
    peer: str  # "host:port"
    reason: str  # OpenSSL's reason code, e.g. "TLSV1_ALERT_UNKNOWN_CA"
    message: str
    verify_code: int | None = None


def describe_failure(exc: ssl.SSLError, *, server_side: bool, peer: str) -> TlsFailure:
    """Translate an ``ssl`` error into the diagnosis Elasticsearch would log on this side."""
    side = "server" if server_side else "client"
    other = "client" if server_side else "server"
    reason = str(exc.reason or type(exc).__name__)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TlsFailure(
            side,
            peer,
            reason,
            f"failed to establish trust with {other} at [{peer}]: {exc.verify_message}",
            exc.verify_code,
        )
    if reason in _REJECTED_US:
        alert = _alert_name(reason)
        return TlsFailure(
            side,
            peer,
            reason,
            f"{other} did not trust this {side}'s certificate, closing connection "
            f"(Received fatal alert: {alert})",
        )
    if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return TlsFailure(side, peer, reason, f"Empty client certificate chain from [{peer}]")
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
        return TlsFailure(
            side,
            peer,
            reason,
            f"server at [{peer}] requires a client certificate "
            "(Received fatal alert: certificate_required)",
        )
    if reason in _PLAINTEXT:
        return TlsFailure(
            side, peer, reason, f"received plaintext traffic on an encrypted channel from [{peer}]"
        )
    return TlsFailure(side, peer, reason, f"TLS failure with [{peer}]: {exc}")


def _alert_name(reason: str) -> str:
    for prefix in ("TLSV13_ALERT_", "TLSV1_ALERT_", "SSLV3_ALERT_"):
        if reason.startswith(prefix):
            return reason[len(prefix) :].lower()
    return reason.lower()


class TlsSession:
    """One side of a TLS session over memory buffers."""

    def __init__(
        self,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
    ) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=None if server_side else server_hostname,
        )
        self.server_side = server_side
        self.handshake_done = False
        self.peer_closed = False  # the peer sent close_notify

    def start(self) -> None:
        """Begin the handshake (a client's ClientHello lands in the output)."""
        self._step_handshake()

    def receive(self, data: bytes) -> bytes:
        """Feed ciphertext (``b""`` = end of stream); the plaintext it completes.

        Raises :class:`ssl.SSLError` when the session fails; :meth:`take_output` then holds the
        alert to send before closing.
        """
        if data:
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
        return b"".join(chunks)

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
        return self._outgoing.read()

    def _step_handshake(self) -> bool:
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        self.handshake_done = True
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

    @property
    def version(self) -> str | None:
        return self._obj.version()

    def __repr__(self) -> str:
        state = "established" if self.handshake_done else "handshaking"
        side = "server" if self.server_side else "client"
        return f"<TlsSession {side} {state} {self.version or '-'}>"
