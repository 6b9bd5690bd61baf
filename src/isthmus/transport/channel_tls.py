"""Driving a channel's TLS: the :class:`TlsSession` pump between the socket and the frames.

Incoming bytes are decrypted before the frame decoder sees them, whatever the session has to say
(handshake records, alerts) is written at once, and a TLS failure is described and logged once,
with ES's text, on both sides. A base of :class:`~isthmus.transport.channel.TransportChannel`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING

from isthmus.security.tls_failures import TlsFailure, describe_failure
from isthmus.transport.channel_info import ENDED as _ENDED
from isthmus.transport.channel_info import ChannelState
from isthmus.transport.tls_session import TlsSession
from isthmus.wire import Connection

if TYPE_CHECKING:
    from cryptography import x509

    from isthmus.security.trust_diagnostics import TrustInfo


class ChannelTls:
    """The TLS side of :class:`~isthmus.transport.channel.TransportChannel`."""

    if TYPE_CHECKING:  # what the channel (channel.py) provides
        connection: Connection
        server_side: bool
        state: ChannelState
        remote_address: str
        _transport: asyncio.Transport | None
        tls_failure: TlsFailure | None
        _tls: TlsSession | None
        _trust: TrustInfo | None
        _server_hostname: str | None

        def describe(self) -> str: ...

        def _warn(self, logger: logging.Logger, text: str, kind: str) -> None: ...

        def _end(
            self, state: ChannelState, reason: str, *, error: bool = False, tls: bool = False
        ) -> None: ...

        def _set_open(self) -> None: ...

        def _process_events(self) -> None: ...

    # --- TLS -------------------------------------------------------------------------------------

    def _decrypt(self, data: bytes) -> bytes:
        assert self._tls is not None
        try:
            plain = self._tls.receive(data)
        except ssl.SSLError as exc:
            self.tls_failure = describe_failure(
                exc,
                server_side=self.server_side,
                peer=self._peer_host(),
                session=self._tls,
                channel=self.describe(),
                trust=self._trust,
            )
            # Logged here, once, on both sides: under ES's logger and with its text, so that a
            # user (or the doctor) reading either cluster's log sees why the connection failed.
            self._log_tls_failure(self.tls_failure)
            self._flush_tls()  # the alert: the peer must see why we hang up
            self._end(ChannelState.BROKEN, self.tls_failure.message, tls=True)
            return b""
        self._flush_tls()
        if self._tls.handshake_done and self.state is ChannelState.CONNECTING:
            self._set_open()
        if self._tls.peer_closed and self.state not in _ENDED:
            if plain:
                self.connection.receive_data(plain)
            self.connection.receive_data(b"")
            self._process_events()
            if self.state not in _ENDED:
                self._end(ChannelState.BROKEN, "closed by peer")
            return b""
        return plain

    def _log_tls_failure(self, failure: TlsFailure) -> None:
        text = failure.log_message
        if failure.cause_line:
            text += "\n" + failure.cause_line
        self._warn(logging.getLogger(failure.logger), text, "TLS failures")

    def _flush_tls(self) -> None:
        assert self._tls is not None and self._transport is not None
        out = self._tls.take_output()
        if out:
            self._transport.write(out)

    def fail_tls(self, failure: TlsFailure) -> None:
        """Break the channel for a TLS failure found outside the session (its deadline)."""
        if self.state in _ENDED:
            return
        self.tls_failure = failure
        self._log_tls_failure(failure)
        self._end(ChannelState.BROKEN, failure.message, error=True, tls=True)

    @property
    def tls_pending(self) -> bool:
        """TLS is configured and its handshake has not completed."""
        return self._tls is not None and self.state is ChannelState.CONNECTING

    def peer_chain(self) -> tuple[x509.Certificate, ...]:
        """The certificates the peer sent (leaf first); empty without TLS or before it."""
        return () if self._tls is None else self._tls.peer_chain()

    def _peer_host(self) -> str:
        if self._server_hostname:
            return self._server_hostname
        return self.remote_address.rsplit(":", 1)[0]


__all__ = ["ChannelTls"]
