"""The defences of one accepted transport channel against its peer.

An accepted channel does not know who is on the other end until its transport handshake is
done (and, on the remote cluster server, authenticated by it). Until then its peer may only
announce frames of :data:`~isthmus.transport.limits.HANDSHAKE_FRAME_BYTES`, and must finish the
TLS handshake and the transport handshake before their deadlines. Whoever it is, the request it
is sending holds the announced size in the node's in-flight breaker until it is complete, and
the WARN lines it can provoke go through the listener's throttle.

:class:`ChannelDefences` owns those timers and that reservation. The channel tells it what
happens (accepted, TLS established, handshaken, bytes received, ended); it acts only through
the channel's public operations (:meth:`~TransportChannel.abort`,
:meth:`~TransportChannel.fail_tls`, :meth:`~TransportChannel.refuse`). Outbound channels have
none: their peer is a node we chose to connect to, and their connect timeout bounds them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

from isthmus.errors import CircuitBreakingError
from isthmus.security.tls_failures import handshake_timeout_failure
from isthmus.wire import RemoteProtocolError
from isthmus.wire.frames import HANDSHAKE_BIT

if TYPE_CHECKING:
    from isthmus.transport.channel import TransportChannel
    from isthmus.transport.limits import InboundGuard

log = logging.getLogger("isthmus.transport")


class ChannelDefences:
    """Deadlines, the pre-handshake frame cap, the in-flight reservation and throttled WARNs
    of one accepted channel."""

    def __init__(self, guard: InboundGuard, channel: TransportChannel) -> None:
        self.guard = guard
        self._channel = channel
        self._limits = channel.connection.limits  # restored once the peer has handshaken
        self._tls_timer: asyncio.TimerHandle | None = None
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._reserved: tuple[int, int, int] | None = None  # (request id, size, breaker cost)

    # --- what happens to the channel ---------------------------------------------------------

    def accepted(self, tls: bool) -> None:
        """Start the deadlines and hold the peer to the frame size a handshake needs."""
        guard, connection = self.guard, self._channel.connection
        loop = asyncio.get_running_loop()
        if guard.handshake_frame_bytes < self._limits.max_frame_bytes:
            connection.limits = dataclasses.replace(
                self._limits, max_frame_bytes=guard.handshake_frame_bytes
            )
        if tls and guard.tls_handshake_timeout is not None:
            self._tls_timer = loop.call_later(
                guard.tls_handshake_timeout, self._tls_expired, guard.tls_handshake_timeout
            )
        if guard.handshake_timeout is not None:
            self._handshake_timer = loop.call_later(
                guard.handshake_timeout, self._handshake_expired, guard.handshake_timeout
            )

    def tls_established(self) -> None:
        if self._tls_timer is not None:
            self._tls_timer.cancel()
            self._tls_timer = None

    def handshaken(self) -> None:
        """The peer is known (and authenticated where the listener requires it): its frames
        may be as large as any, and it has no deadline any more."""
        self._channel.connection.limits = self._limits
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None

    def received(self) -> None:
        """Keep the breaker's reservation equal to the announced size of the request being
        received; a request the breaker refuses is answered with ES's 429 and skipped.
        Handshakes never trip it (as in ES): they are small (the frame cap before the handshake
        bounds them) and a full breaker must not keep peers from connecting."""
        breaker, channel = self.guard.breaker, self._channel
        if breaker is None:
            return
        partial = channel.connection.partial_frame()
        wanted = None
        if partial is not None and partial.is_request and not partial.status & HANDSHAKE_BIT:
            wanted = (partial.request_id, partial.size)
        if self._reserved is not None:
            if wanted == self._reserved[:2]:
                return
            breaker.release(self._reserved[2])
            self._reserved = None
        if partial is None or wanted is None or channel.ended:
            return
        try:
            cost = breaker.reserve(partial.size)
        except CircuitBreakingError as err:
            try:
                channel.connection.discard_frame()
            except RemoteProtocolError as exc:
                channel.abort(f"protocol error: {exc.close_reason}")
                return
            log.debug(
                "request [%s] from [%s] refused: %s",
                partial.request_id,
                channel.remote_address,
                err.reason,
            )
            channel.refuse(partial.request_id, err)
            return
        self._reserved = (partial.request_id, partial.size, cost)

    def ended(self) -> None:
        for timer in (self._tls_timer, self._handshake_timer):
            if timer is not None:
                timer.cancel()
        self._tls_timer = self._handshake_timer = None
        if self._reserved is not None and self.guard.breaker is not None:
            self.guard.breaker.release(self._reserved[2])
        self._reserved = None

    # --- logging -----------------------------------------------------------------------------

    def warn(self, logger: logging.Logger, text: str, kind: str) -> None:
        """WARN ``text``, unless the listener's throttle says this peer has had its line of this
        kind for this interval; the next full line then says how many were left out."""
        throttle = self.guard.throttle
        if throttle is None:
            logger.warning("%s", text)
            return
        host = self._channel.remote_address.rsplit(":", 1)[0]
        admission = throttle.admit(kind, host)
        if not admission.log:
            return
        if admission.suppressed:
            logger.warning(
                "%s more %s from [%s] were not logged in the last [%ss]",
                admission.suppressed,
                kind,
                host,
                f"{throttle.interval:g}",
            )
        logger.warning("%s", text)

    # --- deadlines ---------------------------------------------------------------------------

    def _tls_expired(self, timeout: float) -> None:
        self._tls_timer = None
        channel = self._channel
        if channel.tls_pending:
            channel.fail_tls(
                handshake_timeout_failure(
                    timeout, peer=channel.remote_address, channel=channel.describe()
                )
            )

    def _handshake_expired(self, timeout: float) -> None:
        self._handshake_timer = None
        channel = self._channel
        if not channel.ended and channel.remote_node is None:
            channel.abort(f"transport handshake not completed within [{timeout:g}s]")

    def __repr__(self) -> str:
        held = 0 if self._reserved is None else self._reserved[2]
        return (
            f"<ChannelDefences tls_deadline={self._tls_timer is not None} "
            f"handshake_deadline={self._handshake_timer is not None} held={held}>"
        )
