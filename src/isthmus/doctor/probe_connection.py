"""One raw connection of the doctor's probe: TCP, optionally TLS, bytes in and out with waits.

The probe must see what a normal client hides: the first bytes a server sends (or that it sends
none), a TLS alert that arrives after our handshake finished (TLS 1.3 reports a missing client
certificate that way), a reset versus a clean close. So this connection drives TLS itself, over
memory buffers (:class:`~isthmus.transport.tls_session.TlsSession`, which also keeps the peer's
chain, cipher and protocol after a failed handshake), and every read has its own wait. It
decides nothing: it reports what happened (:class:`Received`, :class:`TlsOutcome`) and the
probe's pure modules interpret it.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from isthmus.transport.tls_session import TlsSession

_READ = 65536


@dataclass(frozen=True)
class Received:
    """What came back within a wait: ``data`` None for nothing, ``b""`` for end of stream."""

    data: bytes | None
    reset: bool = False  # the end of stream was a reset (ECONNRESET), not a clean close
    alert: str | None = None  # the TLS failure OpenSSL reported (e.g. an alert from the peer)


@dataclass(frozen=True)
class TlsOutcome:
    """How a TLS handshake went: completed, failed (``alert``), or answered in plaintext."""

    done: bool
    alert: str | None = None  # OpenSSL's reason, e.g. "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    verify_code: int | None = None  # set when *we* rejected the peer's certificate
    plaintext: Received | None = None  # the peer answered the hello, not in TLS


class ProbeConnection:
    """A TCP connection (and maybe a TLS session on it) owned by one probe step."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.tls: TlsSession | None = None

    @classmethod
    async def open(cls, host: str, port: int, timeout: float) -> ProbeConnection:
        """Connect within ``timeout`` seconds; raises ``OSError``/``TimeoutError`` as the
        kernel reported the failure."""
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=_READ)
        return cls(reader, writer)

    async def _read_raw(self, wait: float) -> Received:
        try:
            async with asyncio.timeout(max(wait, 0.0)):
                data = await self._reader.read(_READ)
        except TimeoutError:
            return Received(None)
        except ConnectionResetError:
            return Received(b"", reset=True)
        except OSError:
            return Received(b"", reset=True)
        return Received(data)

    async def listen(self, wait: float) -> Received:
        """Whatever arrives within ``wait`` (decrypted when TLS is on)."""
        raw = await self._read_raw(wait)
        if self.tls is None or not raw.data:
            return raw
        return self._decrypt(raw.data)

    async def exchange(self, data: bytes, wait: float) -> Received:
        """Send ``data`` (encrypted when TLS is on) and return the first answer within ``wait``;
        a TLS session keeps reading records until one carries application data."""
        try:
            if self.tls is not None:
                self.tls.send(data)
                self._writer.write(self.tls.take_output())
            else:
                self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError):
            return Received(b"", reset=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            got = await self.listen(deadline - loop.time())
            if got.data is None or got.data or got.alert is not None or self.tls is None:
                return got
            if got.reset or self._reader.at_eof():
                return got
            # a TLS record without application data (a session ticket): read on

    def _decrypt(self, data: bytes) -> Received:
        assert self.tls is not None
        try:
            plain = self.tls.receive(data)
        except ssl.SSLError as exc:
            return Received(b"", alert=_reason(exc))
        out = self.tls.take_output()
        if out:
            self._writer.write(out)
        if self.tls.peer_closed and not plain:
            return Received(b"")
        return Received(plain)

    async def start_tls(
        self, context: ssl.SSLContext, server_hostname: str | None, wait: float
    ) -> TlsOutcome:
        """Run a client TLS handshake within ``wait``. A reply that is not a TLS record is
        returned as-is in ``plaintext`` (the port does not speak TLS)."""
        from isthmus.doctor.port_identity import Reply, classify_reply

        self.tls = tls = TlsSession(context, server_side=False, server_hostname=server_hostname)
        tls.start()
        self._writer.write(tls.take_output())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        first = True
        while not tls.handshake_done:
            raw = await self._read_raw(deadline - loop.time())
            if first and (raw.data is None or classify_reply(raw.data) is not Reply.TLS):
                self.tls = None
                return TlsOutcome(False, plaintext=raw)
            first = False
            if raw.data is None:
                return TlsOutcome(False, alert="TIMEOUT")
            try:
                tls.receive(raw.data)
            except ssl.SSLCertVerificationError as exc:
                self._flush()
                return TlsOutcome(False, alert=_reason(exc), verify_code=exc.verify_code)
            except ssl.SSLError as exc:
                self._flush()
                return TlsOutcome(False, alert=_reason(exc))
            self._flush()
            if not raw.data:
                return TlsOutcome(False, alert="CLOSED" if not raw.reset else "RESET")
        return TlsOutcome(True)

    def _flush(self) -> None:
        if self.tls is not None:
            out = self.tls.take_output()
            if out:
                self._writer.write(out)

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        """Close with a reset, so that the server does not wait for anything else from us."""
        transport = self._writer.transport
        transport.abort()


def _reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or type(exc).__name__)
