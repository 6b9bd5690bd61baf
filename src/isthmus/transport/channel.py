"""One transport connection as an ``asyncio.Protocol``: bytes <-> :class:`wire.Connection`.

The channel owns one :class:`~isthmus.wire.Connection`, optionally a :class:`TlsSession` it drives
itself, the table of our requests awaiting answers (futures by request id), and the queue of the
peer's requests awaiting a handler. It does not know actions, handshakes or servers: a handler
callback answers requests, and :meth:`serve` (run by whoever owns the channel, inside its
TaskGroup) owns the handler tasks.

An accepted channel given an :class:`~isthmus.transport.limits.InboundGuard` also owns its
:class:`~isthmus.transport.defences.ChannelDefences` (deadlines, the pre-handshake frame cap,
the in-flight breaker reservation, throttled WARNs) and tells it what happens.

Ending: **closed** means we called :meth:`close`; **broken** means it ended on us (peer EOF,
reset, protocol error, TLS failure) and :attr:`broken_reason` says why. Either way every pending
request fails with :class:`NodeDisconnectedError` and later requests with
:class:`NodeNotConnectedError`.

The rooms: reading the peer's frames and running its requests in
:mod:`isthmus.transport.channel_events` (:class:`ChannelEvents`), driving TLS in
:mod:`isthmus.transport.channel_tls` (:class:`ChannelTls`); both are bases of
:class:`TransportChannel`, so a frame costs the same method calls as before.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.errors import (
    IsthmusError,
    NodeDisconnectedError,
    NodeNotConnectedError,
    ReceiveTimeoutTransportError,
)
from isthmus.security.tls_failures import TlsFailure
from isthmus.transport.channel_events import ChannelEvents
from isthmus.transport.channel_info import ENDED as _ENDED
from isthmus.transport.channel_info import ChannelInfo as ChannelInfo
from isthmus.transport.channel_info import ChannelState as ChannelState
from isthmus.transport.channel_tls import ChannelTls
from isthmus.transport.defences import ChannelDefences
from isthmus.transport.sockets import apply_tcp_options
from isthmus.transport.tls_session import TlsSession
from isthmus.wire import (
    DEFAULT_LIMITS,
    Connection,
    FrameLimits,
    NodeIdentity,
    Ping,
    Request,
    should_compress,
)
from isthmus.wire.names import CANCEL_ACTION, DEFAULT_PROFILE, HANDSHAKE_ACTIONS

if TYPE_CHECKING:
    from isthmus.security.trust_diagnostics import TrustInfo
    from isthmus.settings.remote import TcpOptions
    from isthmus.transport.limits import InboundGuard

log = logging.getLogger("isthmus.transport")

RequestHandler = Callable[["TransportChannel", Request], Awaitable[Any]]


def _address(value: Any) -> str:
    if isinstance(value, tuple) and len(value) >= 2:
        return f"{value[0]}:{value[1]}"
    return "" if value is None else str(value)


class TransportChannel(ChannelEvents, ChannelTls, asyncio.Protocol):
    """A multiplexed request/response channel over one TCP (optionally TLS) connection."""

    def __init__(
        self,
        *,
        handler: RequestHandler | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_side: bool = False,
        server_hostname: str | None = None,
        limits: FrameLimits = DEFAULT_LIMITS,
        profile: str = DEFAULT_PROFILE,
        trust: TrustInfo | None = None,
        clock: Clock = SYSTEM_CLOCK,
        tcp: TcpOptions | None = None,
        guard: InboundGuard | None = None,
    ) -> None:
        self.connection = Connection(limits=limits)
        # An accepted channel's defences (deadlines, breaker, log throttle); None when outbound.
        self._defences = ChannelDefences(guard, self) if guard and server_side else None
        self.server_side = server_side
        self.profile = profile
        # This node's name, sent with the errors it answers (set by the accepting server).
        self.local_name: str | None = None
        self._tcp = tcp
        self._server_hostname = None if server_side else server_hostname
        self._trust = trust
        # Liveness and request deadlines are read on this clock (virtual in tests).
        self._clock = clock
        self.last_received = clock.monotonic()  # liveness: when the peer last sent us anything
        # (transport.compress, transport.compression_scheme) for our requests; None: never.
        # Answers follow the request they answer, whatever this says.
        self.compression: tuple[str, str] | None = None
        self._handler = handler
        self._tls = (
            None
            if ssl_context is None
            else TlsSession(ssl_context, server_side=server_side, server_hostname=server_hostname)
        )
        self._transport: asyncio.Transport | None = None
        self.state = ChannelState.CONNECTING
        self.broken_reason: str | None = None
        self.tls_failure: TlsFailure | None = None
        # Told of each request whose answer was an error (remote health watches its channels).
        self.on_error_answer: Callable[[str, IsthmusError], None] | None = None
        self.local_address = ""
        self.remote_address = ""
        self.remote_node: NodeIdentity | None = None
        self.remote_cluster_name: str | None = None
        self.remote_cluster_uuid: str | None = None
        self._pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._inbox: asyncio.Queue[Request | None] = asyncio.Queue()
        self._ready = asyncio.Event()  # set once OPEN or ended
        self._ended = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._running: dict[int, asyncio.Task[None]] = {}  # the peer's requests being handled
        self._tg: asyncio.TaskGroup | None = None  # serve()'s, while it runs
        self._handler_info: ChannelInfo | None = None
        self.cancelled_inbound = 0

    # --- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self.local_address = _address(transport.get_extra_info("sockname"))
        self.remote_address = _address(transport.get_extra_info("peername"))
        apply_tcp_options(transport.get_extra_info("socket"), self._tcp)
        if self._defences is not None:
            self._defences.accepted(tls=self._tls is not None)
        if self._tls is None:
            self._set_open()
            return
        if not self.server_side:
            self._tls.start()
            self._flush_tls()

    def data_received(self, data: bytes) -> None:
        if self.state in _ENDED:
            return
        self.last_received = self._clock.monotonic()
        if self._tls is not None:
            data = self._decrypt(data)
            if self.state in _ENDED or not data:
                return
        self.connection.receive_data(data)
        self._process_events()
        if self._defences is not None:
            self._defences.received()

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost does the bookkeeping

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self.state not in _ENDED:
            # The kernel gave up (ETIMEDOUT after TCP_USER_TIMEOUT, a reset): say so, rather
            # than letting the end of stream read as a clean close by the peer.
            self._end(ChannelState.BROKEN, f"connection lost: {exc}")
        if self.state not in _ENDED:
            self.connection.receive_data(b"")
            self._process_events()
        if self.state not in _ENDED:
            reason = "closed by peer" if exc is None else f"connection lost: {exc}"
            self._end(ChannelState.BROKEN, reason)
        self._ended.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # --- outbound --------------------------------------------------------------------------------

    async def wait_ready(self) -> None:
        """Wait for the TLS handshake (if any); raises if the channel ended first."""
        await self._ready.wait()
        if self.state is not ChannelState.OPEN:
            raise self._not_connected()

    async def request(
        self,
        action: str,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float | None = 30.0,
    ) -> Any:
        """Send a request and await its answer; an error answer raises the remote exception."""
        if self.state is not ChannelState.OPEN:
            raise self._not_connected()
        scheme = None
        if self.compression is not None:
            setting, chosen = self.compression
            if should_compress(setting, action):
                scheme = chosen
        request = self.connection.new_request(
            action, payload, dict(headers or {}), compression=scheme
        )
        data = self.connection.send(request)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request.request_id] = (action, future)
        try:
            self._write(data)
            if timeout is None:  # no timer to arm (most requests: their caller bounds them)
                if not self._writable.is_set():
                    await self._writable.wait()  # back-pressure; set again when it ends
                return await future
            async with self._clock.timeout(timeout):
                await self._writable.wait()  # back-pressure; set again when the channel ends
                return await future
        except asyncio.CancelledError:
            # Our caller gave up (client went away, search cancelled): tell the peer to stop
            # the work, so nothing keeps running for an answer nobody will read.
            if self.state is ChannelState.OPEN and action not in HANDSHAKE_ACTIONS:
                cancel = self.connection.new_request(
                    CANCEL_ACTION, {"request_id": request.request_id}
                )
                self._write(self.connection.send(cancel))
            raise
        except TimeoutError:
            raise ReceiveTimeoutTransportError(
                f"[{self._node_name()}][{self.remote_address}][{action}] "
                f"request_id [{request.request_id}] timed out after [{timeout}s]"
            ) from None
        except IsthmusError as exc:
            if self.on_error_answer is not None:
                self.on_error_answer(action, exc)
            raise
        finally:
            self._pending.pop(request.request_id, None)

    async def ping(self) -> None:
        """Send a keep-alive ping (it has no answer)."""
        if self.state is not ChannelState.OPEN:
            raise self._not_connected()
        # Never waits for the peer to drain: a ping that cannot be written is itself the sign
        # of a stuck peer, which the silence deadline then catches.
        self._write(self.connection.send(Ping()))

    def complete_handshake(
        self, node: NodeIdentity, cluster_name: str, cluster_uuid: str, version: int
    ) -> None:
        """Record the peer the transport handshake named, and speak the negotiated version."""
        self.remote_node = node
        self.remote_cluster_name = cluster_name
        self.remote_cluster_uuid = cluster_uuid
        self.connection.use_version(version)
        if self._defences is not None:
            self._defences.handshaken()

    def close(self) -> None:
        """Close the channel (idempotent); pending requests fail with NodeDisconnectedError."""
        if self.state in _ENDED:
            return
        self._end(ChannelState.CLOSED, "closed locally")

    def abort(self, reason: str) -> None:
        """Break the channel because the peer misbehaved above the framing layer."""
        if self.state not in _ENDED:
            self._end(ChannelState.BROKEN, reason, error=True)

    def refuse(self, request_id: int, err: IsthmusError) -> None:
        """Answer the peer's request ``request_id`` with ``err`` without running it."""
        self._answer_error(request_id, err)

    @property
    def ended(self) -> bool:
        return self.state in _ENDED

    async def wait_closed(self) -> None:
        await self._ended.wait()

    def _write(self, data: bytes) -> None:
        assert self._transport is not None
        if self._tls is not None:
            self._tls.send(data)
            self._flush_tls()
        else:
            self._transport.write(data)

    # --- ending ----------------------------------------------------------------------------------

    def _set_open(self) -> None:
        self.state = ChannelState.OPEN
        self._ready.set()
        if self._defences is not None:
            self._defences.tls_established()

    def _warn(self, logger: logging.Logger, text: str, kind: str) -> None:
        if self._defences is not None:
            self._defences.warn(logger, text, kind)  # a peer may provoke this at will
        else:
            logger.warning("%s", text)

    def _end(
        self, state: ChannelState, reason: str, *, error: bool = False, tls: bool = False
    ) -> None:
        self.state = state
        if self._defences is not None:
            self._defences.ended()
        if state is ChannelState.BROKEN:
            self.broken_reason = reason
            # Logged once. On an accepted channel nobody else sees the failure, so it is logged
            # here (the server only records it, and its throttle bounds what a hostile peer can
            # make us write); on an outbound channel it propagates to the caller (connect,
            # pending requests, broken_reason), which decides about logging. TLS failures were
            # already logged with ES's text when they happened.
            text = f"transport channel {self._describe_peer()} broken: {reason}"
            if error and not tls and self.server_side:
                self._warn(log, text, "broken transport connections")
            else:
                log.debug("%s", text)
        for request_id, (action, future) in list(self._pending.items()):
            if not future.done():
                future.set_exception(
                    NodeDisconnectedError(
                        f"[{self._node_name()}][{self.remote_address}][{action}] disconnected"
                        + ("" if state is ChannelState.CLOSED else f": {reason}")
                    )
                )
            del self._pending[request_id]
        self._inbox.put_nowait(None)
        self._ready.set()
        self._writable.set()  # nobody may wait for a drain that will never come
        if self._transport is not None:
            if self._tls is not None and state is ChannelState.CLOSED and self._tls.handshake_done:
                self._tls.close_notify()
                self._flush_tls()
            if error:
                self._transport.abort()
            else:
                self._transport.close()  # flushes what is buffered (a TLS alert) first
        else:
            self._ended.set()

    def _not_connected(self) -> NodeNotConnectedError:
        why = "" if self.broken_reason is None else f": {self.broken_reason}"
        return NodeNotConnectedError(
            f"[{self._node_name()}][{self.remote_address}] Node not connected{why}"
        )

    def socket(self) -> Any:
        """The underlying socket (for options), once connected. asyncio and uvloop hand out
        socket-like wrappers (``TransportSocket``, ``PseudoSocket``) that support
        ``setsockopt``/``getsockopt``, not ``socket.socket`` instances."""
        if self._transport is None:
            return None
        return self._transport.get_extra_info("socket")

    def describe(self) -> str:
        """The channel as ES's transport logs name it."""
        return (
            f"Netty4TcpChannel{{localAddress=/{self.local_address}, "
            f"remoteAddress=/{self.remote_address}, profile={self.profile}}}"
        )

    def silent_for(self) -> float:
        """Seconds since the peer last sent anything."""
        return self._clock.monotonic() - self.last_received

    def _node_name(self) -> str:
        return "" if self.remote_node is None else self.remote_node.name

    def _describe_peer(self) -> str:
        return self.remote_address if self.remote_node is None else self.remote_node.describe()

    # --- introspection ---------------------------------------------------------------------------

    def handler_info(self) -> ChannelInfo:
        """What request handlers see of the channel: its peer, profile and certificate. Built
        once after the handshake (these do not change), not per request."""
        if self._handler_info is None or self._handler_info.remote_node is not self.remote_node:
            self._handler_info = self.info()
        return self._handler_info

    def info(self) -> ChannelInfo:
        conn = self.connection.info()
        return ChannelInfo(
            state=self.state,
            server_side=self.server_side,
            profile=self.profile,
            local_address=self.local_address,
            remote_address=self.remote_address,
            tls_version=None if self._tls is None else self._tls.version,
            peer_certificate=None if self._tls is None else self._tls.peer_certificate_subject(),
            remote_node=self.remote_node,
            remote_cluster_name=self.remote_cluster_name,
            remote_cluster_uuid=self.remote_cluster_uuid,
            version=conn.version,
            outbound_pending=len(self._pending),
            inbound_pending=conn.inbound_pending,
            requests_sent=conn.requests_sent,
            requests_received=conn.requests_received,
            pings_received=conn.pings_received,
            broken_reason=self.broken_reason,
            tls_failure=self.tls_failure,
        )

    def __repr__(self) -> str:
        side = "server" if self.server_side else "client"
        tls = " tls" if self._tls is not None else ""
        return (
            f"<TransportChannel {side}{tls} {self.state.value} {self.local_address}->"
            f"{self.remote_address} pending={len(self._pending)}>"
        )
