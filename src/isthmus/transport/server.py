"""The transport server: binds a port of a range, accepts channels, answers the handshake.

The server owns its listening socket and one TaskGroup (entered by :meth:`start`, left by
:meth:`close`, so both must run in the same task — ``async with`` does that) in which each
accepted channel's :meth:`~TransportChannel.serve` runs. It answers
``internal:transport/handshake`` itself and sends every other action to the
:class:`ActionRegistry` once the peer has handshaken. A peer that breaks the protocol or fails TLS
loses its own connection only; TLS failures are kept (bounded) for diagnostics.

Unauthenticated peers are bounded (see :mod:`isthmus.transport.limits`): each accepted channel
gets the node's in-flight breaker, the TLS and transport handshake deadlines and this listener's
log throttle; past ``transport.max_unauthenticated_connections`` channels still before their
handshake, a new connection is closed as soon as it is accepted.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic

from isthmus.errors import HandshakeError
from isthmus.listeners import bind_first_free
from isthmus.logs import LogThrottle
from isthmus.security.tls_failures import TlsFailure
from isthmus.tasks import PARENT_TASK_HEADER, TaskManager
from isthmus.transport.actions import ActionRegistry, CallerT, TransportRequestContext
from isthmus.transport.channel import ChannelInfo, ChannelState, TransportChannel
from isthmus.transport.limits import InboundGuard, InFlightBreaker, TransportLimits
from isthmus.transport.local import LocalNode
from isthmus.wire import HANDSHAKE_ACTION, HandshakeRequest, Request
from isthmus.wire import RemoteProtocolError as WireRemoteProtocolError
from isthmus.wire.handshake import accept_request
from isthmus.wire.names import (
    DEFAULT_PROFILE,
    REMOTE_CLUSTER_HANDSHAKE_ACTION,
    REMOTE_CLUSTER_PROFILE,
)

if TYPE_CHECKING:
    from isthmus.security.trust_diagnostics import TrustInfo
    from isthmus.settings.remote import TcpOptions

_KEPT_TLS_FAILURES = 64
log = logging.getLogger("isthmus.transport")

# Authenticates/authorizes a request before its handler runs and returns who it runs as (None:
# the system identity); raises to refuse it.
RequestFilter = Callable[[str, Mapping[str, str], ChannelInfo], CallerT | None]


@dataclass(frozen=True)
class ServerInfo:
    bound_address: str | None  # "host:port" once started
    publish_address: str | None
    tls: bool
    open_channels: int
    accepted: int
    handshakes: int
    broken: int
    tls_failures: int
    refused: int = 0  # closed at once: too many connections before their handshake
    unauthenticated: int = 0  # open channels whose transport handshake is not done


class TransportServer(Generic[CallerT]):
    """Accepts transport connections for one node; ``CallerT`` is what its request filter says
    a request runs as, handed to the action's handler in its context."""

    def __init__(
        self,
        host: str,
        ports: tuple[int, int],
        registry: ActionRegistry[CallerT],
        *,
        identity: LocalNode,
        ssl_context: ssl.SSLContext | None = None,
        publish_host: str | None = None,
        publish_port: int | None = None,
        profile: str = DEFAULT_PROFILE,
        trust: TrustInfo | None = None,
        tcp: TcpOptions | None = None,
        request_filter: RequestFilter[CallerT] | None = None,
        limits: TransportLimits | None = None,
        breaker: InFlightBreaker | None = None,
        tls_handshake_timeout: float | None = None,
        log_throttle: LogThrottle | None = None,
        tasks: TaskManager | None = None,
    ) -> None:
        self.host = host
        self.limits = limits or TransportLimits()
        self.throttle = log_throttle or LogThrottle()
        self.guard = InboundGuard(
            breaker=breaker,
            throttle=self.throttle,
            handshake_timeout=self.limits.handshake_timeout,
            tls_handshake_timeout=tls_handshake_timeout if ssl_context is not None else None,
        )
        self.profile = profile
        self.trust = trust
        self.tcp = tcp
        self.request_filter = request_filter
        self.tasks = tasks  # requests become (child) tasks of the node's task manager
        self.ports = ports
        self.registry = registry
        self.identity = identity
        self.ssl_context = ssl_context
        self.publish_host = publish_host
        self.publish_port = publish_port if publish_port and publish_port > 0 else None
        self.bound_address: str | None = None
        self.tls_failures: collections.deque[TlsFailure] = collections.deque(
            maxlen=_KEPT_TLS_FAILURES
        )
        self._server: asyncio.Server | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._reporter: asyncio.Task[None] | None = None
        self._channels: set[TransportChannel] = set()
        self._accepted = 0
        self._handshakes = 0
        self._broken = 0
        self._refused = 0
        self._tls_failure_count = 0

    @property
    def port(self) -> int:
        if self.bound_address is None:
            raise RuntimeError("transport server is not started")
        return int(self.bound_address.rsplit(":", 1)[1])

    @property
    def publish_address(self) -> str | None:
        if self.bound_address is None:
            return None
        return f"{self.publish_host or self.host}:{self.publish_port or self.port}"

    async def start(self) -> None:
        """Bind and start accepting; pair with :meth:`close` in the same task."""
        sock = bind_first_free(self.host, self.ports)
        host, port = sock.getsockname()[:2]
        self.bound_address = f"{host}:{port}"
        # The handshake names this node at this listener's publish address (the transport's,
        # or the remote cluster server's), known only now that it is bound.
        published = f"{self.publish_host or self.host}:{self.publish_port or port}"
        self.identity = replace(
            self.identity, node=replace(self.identity.node, publish_address=published)
        )
        tg = asyncio.TaskGroup()
        await tg.__aenter__()
        self._tg = tg
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._new_channel, sock=sock)
        except BaseException as exc:
            await self._exit_task_group(exc)
            raise
        self._reporter = tg.create_task(self._report_suppressed(), name="suppressed log counts")

    async def close(self) -> None:
        """Stop accepting, close every channel and wait for their handlers to finish."""
        if self._server is not None:
            self._server.close()
        if self._reporter is not None:
            self._reporter.cancel()
            self._reporter = None
        for channel in list(self._channels):
            channel.close()
        await self._exit_task_group(None)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _report_suppressed(self) -> None:
        """Once per interval, the count of lines left out for peers that have gone quiet (a
        peer still failing gets its count with its next full line)."""
        while True:
            await asyncio.sleep(self.throttle.interval)
            for kind, peer, count in self.throttle.expired():
                log.warning(
                    "%s more %s from [%s] were not logged in the last [%ss]",
                    count,
                    kind,
                    peer,
                    f"{self.throttle.interval:g}",
                )

    async def _exit_task_group(self, exc: BaseException | None) -> None:
        tg, self._tg = self._tg, None
        if tg is not None:
            await tg.__aexit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)

    async def __aenter__(self) -> TransportServer[CallerT]:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _unauthenticated(self) -> int:
        return sum(1 for channel in self._channels if channel.remote_node is None)

    def _new_channel(self) -> asyncio.Protocol:
        assert self._tg is not None
        cap = self.limits.max_unauthenticated
        if cap and self._unauthenticated() >= cap:
            self._refused += 1
            return _Refused(self.throttle, self.profile, cap)
        channel = TransportChannel(
            handler=self._handle,
            ssl_context=self.ssl_context,
            server_side=True,
            profile=self.profile,
            trust=self.trust,
            tcp=self.tcp,
            guard=self.guard,
        )
        channel.local_name = self.identity.node.name
        self._channels.add(channel)
        self._accepted += 1
        self._tg.create_task(self._run_channel(channel), name=f"transport channel {self._accepted}")
        return channel

    async def _run_channel(self, channel: TransportChannel) -> None:
        try:
            await channel.serve()
            await channel.wait_closed()
        finally:
            self._channels.discard(channel)
            if channel.state is ChannelState.BROKEN:
                self._broken += 1
            if channel.tls_failure is not None:
                self._tls_failure_count += 1
                self.tls_failures.append(channel.tls_failure)

    async def _handle(self, channel: TransportChannel, request: Request) -> Any:
        if request.action == HANDSHAKE_ACTION:
            if self.profile == REMOTE_CLUSTER_PROFILE and self.request_filter is not None:
                # The remote cluster server lets nothing through unauthenticated, not even a
                # certificate-model caller's handshake (it is told to configure credentials).
                self.request_filter(request.action, request.headers, channel.handler_info())
            return self._handshake(channel, request)
        if request.action == REMOTE_CLUSTER_HANDSHAKE_ACTION:
            # The API-key model's handshake: authenticated like any request, answered here on
            # the remote cluster server; elsewhere its handler (if the server is enabled) says
            # which profile it needs.
            ctx = self._context(channel, request)
            if self.profile == REMOTE_CLUSTER_PROFILE:
                return self._handshake(channel, request)
            return await self.registry.dispatch(request.payload, ctx)
        if channel.remote_node is None:
            raise HandshakeError(
                f"received request [{request.action}] from [{channel.remote_address}] "
                "before the transport handshake"
            )
        handler = self.registry.handler(request.action)  # unknown: refused before auth
        ctx = self._context(channel, request)
        if self.tasks is None:
            return await handler(request.payload, ctx)
        parent = request.headers.get(PARENT_TASK_HEADER)
        with self.tasks.running(request.action, parent=parent):
            return await handler(request.payload, ctx)

    def _context(
        self, channel: TransportChannel, request: Request
    ) -> TransportRequestContext[CallerT]:
        """The handler's view of ``request``: the request filter runs here (raising refuses the
        request) and decides the caller; without a filter (security off) there is none."""
        info = channel.handler_info()
        caller = None
        if self.request_filter is not None:
            caller = self.request_filter(request.action, request.headers, info)
        return TransportRequestContext(request.action, request.headers, info, caller)

    def _handshake(self, channel: TransportChannel, request: Request) -> Any:
        try:
            hello = HandshakeRequest.from_payload(request.payload)
        except WireRemoteProtocolError as exc:
            channel.abort(f"protocol error: {exc.close_reason}")
            return None
        local = self.identity.handshake_response()
        version = accept_request(local, hello)
        channel.complete_handshake(hello.node, hello.cluster_name, hello.cluster_uuid, version)
        self._handshakes += 1
        return local.to_payload()

    def channels(self) -> tuple[ChannelInfo, ...]:
        """A snapshot of every open accepted channel."""
        return tuple(channel.info() for channel in self._channels)

    def info(self) -> ServerInfo:
        return ServerInfo(
            bound_address=self.bound_address,
            publish_address=self.publish_address,
            tls=self.ssl_context is not None,
            open_channels=len(self._channels),
            accepted=self._accepted,
            handshakes=self._handshakes,
            broken=self._broken,
            tls_failures=self._tls_failure_count,
            refused=self._refused,
            unauthenticated=self._unauthenticated(),
        )

    def __repr__(self) -> str:
        state = "listening" if self._server is not None else "stopped"
        return (
            f"<TransportServer {state} {self.bound_address or '-'} "
            f"channels={len(self._channels)} accepted={self._accepted}>"
        )


class _Refused(asyncio.Protocol):
    """A connection accepted past the cap of unauthenticated ones: closed at once, and said so
    (rate-limited per peer host) so that the refusal is never silent."""

    def __init__(self, throttle: LogThrottle, profile: str, cap: int) -> None:
        self._throttle = throttle
        self._profile = profile
        self._cap = cap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        admission = self._throttle.admit("refused connections", host)
        if admission.log:
            log.warning(
                "closing connection from [%s] on profile [%s]: [%s] connections have not "
                "completed their transport handshake ([%s] is the limit)%s",
                host,
                self._profile,
                self._cap,
                "transport.max_unauthenticated_connections",
                f"; {admission.suppressed} more were closed since the last message"
                if admission.suppressed
                else "",
            )
        transport.abort()  # type: ignore[attr-defined]
