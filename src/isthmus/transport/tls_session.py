"""TLS driven by hand: one side of a session, an ``ssl.SSLObject`` over two ``MemoryBIO``s.

asyncio's own TLS neither sends the alert when it rejects a peer nor tells the server why a
handshake failed (see ``docs``/stack notes). Driving the ``SSLObject`` ourselves lets the channel
flush the alert bytes before closing, so the peer sees ``unknown ca`` / ``bad certificate``, and
lets both sides record what Elasticsearch would log. This module moves no bytes itself: the
channel feeds what it read and writes what :meth:`TlsSession.take_output` returns.

:class:`TlsSession` keeps the peer's chain, cipher suite and protocol readable after a failed
handshake (it is a :class:`~isthmus.security.tls_failures.FailedSession`): the bytes OpenSSL
forgets are kept here and read by :mod:`isthmus.security.tls_records`; CPython's private hooks
this needs live in :mod:`isthmus.transport.ssl_private`. What a failure means, in ES's words, is
:mod:`isthmus.security.tls_failures`.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from isthmus.security.tls_records import (
    PROTOCOL_NAMES,
    iana_cipher_name,
    parse_certificate_message,
    parse_server_hello,
)
from isthmus.transport.ssl_private import (
    capture_client_certificates,
    certificate_message,
    forget,
    unverified_chain_der,
)

if TYPE_CHECKING:
    from cryptography import x509

_READ_CHUNK = 64 * 1024
_HELLO_KEPT = 16 * 1024  # the ServerHello opens the server's first flight, well within this


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
            capture_client_certificates(context)
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
        forget(self._obj)
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

        chain = unverified_chain_der(self._obj)
        if chain:
            return tuple(x509.load_der_x509_certificate(der) for der in chain)
        kept = certificate_message(self._obj)
        if kept is None:
            return ()
        try:
            return parse_certificate_message(*kept)
        except (ValueError, IndexError):
            return ()

    def cipher(self) -> str | None:
        """The session's cipher suite by its IANA name (as the JDK, and so ES, prints it); also
        after a failed certificate check (from the ServerHello when OpenSSL cannot tell)."""
        suite = self._obj.cipher()
        if suite is not None:
            name = suite[0]
        else:
            hello = parse_server_hello(self._hello)
            if hello is None:
                return None
            ids = {c["id"] & 0xFFFF: str(c["name"]) for c in self._context.get_ciphers()}
            name = ids.get(hello[0], f"0x{hello[0]:04X}")
        return iana_cipher_name(name)

    def protocol(self) -> str | None:
        """The negotiated protocol (``TLSv1.3``); also after a failed certificate check, when
        OpenSSL reports none: then it is the version the ServerHello chose."""
        version = self._obj.version()
        if version is not None:
            return version
        hello = parse_server_hello(self._hello)
        return None if hello is None else PROTOCOL_NAMES.get(hello[1])

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
