"""The HTTP listener: uvicorn, with the limits a client that never authenticates must meet.

uvicorn reads a request's head without any bound of time or size, and keeps a connection that
never sends a byte. This module owns what ES (Netty) enforces there, and what Isthmus adds:

* ``http.max_initial_line_length`` (ES, ``4kb``) and ``http.max_header_size`` (ES, ``8kb``): a
  longer request line or header section is answered as ES answers it, 400
  ``too_long_http_line_exception`` / ``too_long_http_header_exception`` with Netty's words, and
  the connection is closed.
* ``http.header_timeout`` (Isthmus, ``10s``): a connection must deliver a complete request head
  within this time of being accepted (or of its previous answer); silent connections and heads
  trickled a byte at a time are closed when it passes. Idle keep-alive connections are closed
  after uvicorn's 5 s keep-alive timeout.
* ``http.body_timeout`` (Isthmus, ``30s``): while a request's body is incomplete, the longest
  silence between two reads; a stalled upload is closed when it passes.
* ``http.max_connections`` (Isthmus; default half the process's file-descriptor limit, at most
  10000): one more open connection is closed as soon as it is accepted, with a rate-limited WARN,
  so hostile clients cannot exhaust the node's file descriptors.
* ``xpack.security.http.ssl.handshake_timeout`` (see :mod:`isthmus.security.tls`): the TLS
  handshake's deadline, given to the event loop's TLS server.

Body size (``http.max_content_length``, the early 413) and the in-flight breaker are the ASGI
application's (:mod:`isthmus.http.app`): they need the parsed head.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from isthmus.logs import LogThrottle
from isthmus.settings import values as v
from isthmus.settings.listener_limits import positive_int

log = logging.getLogger("org.elasticsearch.http.AbstractHttpServerTransport")

_MAX_CONNECTIONS_CEILING = 10_000


def default_max_connections() -> int:
    """Half the file descriptors this process may open (the rest serve the transport, the
    indices and the logs), at most 10000."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return _MAX_CONNECTIONS_CEILING
    return max(16, min(_MAX_CONNECTIONS_CEILING, soft // 2))


@dataclass(frozen=True)
class HttpLimits:
    """The HTTP listener's limits, parsed once from the node settings."""

    max_initial_line_length: int = 4 * 1024
    max_header_size: int = 8 * 1024
    header_timeout: float | None = 10.0
    body_timeout: float | None = 30.0
    max_connections: int = _MAX_CONNECTIONS_CEILING
    tls_handshake_timeout: float = 10.0

    @classmethod
    def from_settings(
        cls, flat: Mapping[str, Any], tls_handshake_timeout: float | None
    ) -> HttpLimits:
        timeout = v.parse_time(flat.get("http.header_timeout", "10s"))
        body = v.parse_time(flat.get("http.body_timeout", "30s"))
        raw_max = flat.get("http.max_connections")
        return cls(
            max_initial_line_length=v.parse_bytes(flat.get("http.max_initial_line_length", "4kb")),
            max_header_size=v.parse_bytes(flat.get("http.max_header_size", "8kb")),
            header_timeout=timeout.seconds if timeout.millis > 0 else None,
            body_timeout=body.seconds if body.millis > 0 else None,
            max_connections=default_max_connections() if raw_max is None else positive_int(raw_max),
            # The event loop wants a positive deadline: "no deadline" is a very long one.
            tls_handshake_timeout=tls_handshake_timeout or 86_400.0,
        )


def _error_response(es_type: str, reason: str) -> bytes:
    body = orjson.dumps(
        {
            "error": {
                "root_cause": [{"type": es_type, "reason": reason}],
                "type": es_type,
                "reason": reason,
            },
            "status": 400,
        }
    )
    head = (
        b"HTTP/1.1 400 Bad Request\r\n"
        b"x-elastic-product: Elasticsearch\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n"
    )
    return head + body


class HeadLimits:
    """Checks a request head as it arrives, before the parser keeps any of it.  [no I/O]

    Feed it the bytes received while a head is awaited; :meth:`feed` returns ``None`` while
    they are within the limits, else ES's (type, reason) for the answer."""

    def __init__(self, max_line: int, max_header: int) -> None:
        self.max_line = max_line
        self.max_header = max_header
        self._head = bytearray()

    def reset(self) -> None:
        self._head.clear()

    def feed(self, data: bytes) -> tuple[str, str] | None:
        room = self.max_line + self.max_header + 4 - len(self._head)
        if room > 0:
            self._head += data[: room + 1]
        head = self._head
        line_end = head.find(b"\n")
        line = len(head) if line_end < 0 else line_end + 1
        if line > self.max_line + 2:  # CRLF is not part of the line
            return (
                "too_long_http_line_exception",
                f"An HTTP line is larger than {self.max_line} bytes.",
            )
        if line_end < 0:
            return None
        end = head.find(b"\r\n\r\n", line_end - 1)
        headers = (len(head) if end < 0 else end + 2) - (line_end + 1)
        if headers > self.max_header + 2:
            return (
                "too_long_http_header_exception",
                f"HTTP header is larger than {self.max_header} bytes.",
            )
        return None


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the head's limits, its deadline and the connection cap.

    The limits reach it through its config (:class:`HttpConfig`)."""

    def __init__(self, config: HttpConfig, *args: Any, **kw: Any) -> None:
        super().__init__(config, *args, **kw)
        self._limits = config.limits
        self._throttle = config.throttle
        self._head = HeadLimits(
            config.limits.max_initial_line_length, config.limits.max_header_size
        )
        self._awaiting_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            self._refuse(transport)
            return
        self._await_head()

    def _refuse(self, transport: asyncio.Transport) -> None:
        host = self.client[0] if self.client else "?"
        admission = self._throttle.admit("refused HTTP connections", host)
        if admission.log:
            log.warning(
                "closing connection from [%s]: [%s] HTTP connections are open "
                "(http.max_connections)%s",
                host,
                self._limits.max_connections,
                f"; {admission.suppressed} more were closed since the last message"
                if admission.suppressed
                else "",
            )
        transport.abort()

    def _await_head(self) -> None:
        self._awaiting_head = True
        self._head.reset()
        self._cancel_head_timer()
        if self._limits.header_timeout is not None:
            self._head_timer = self.loop.call_later(self._limits.header_timeout, self._head_expired)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._awaiting_head and not self.transport.is_closing():
            log.debug("closing connection from %s: no complete request head in time", self.client)
            self.transport.abort()

    def _body_pending(self) -> bool:
        cycle = self.cycle
        return cycle is not None and cycle.more_body and not cycle.response_complete

    def _watch_body(self) -> None:
        """(Re)start the body's silence deadline while the request's body is incomplete."""
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if self._limits.body_timeout is not None and self._body_pending():
            self._body_timer = self.loop.call_later(self._limits.body_timeout, self._body_expired)

    def _body_expired(self) -> None:
        self._body_timer = None
        if self._body_pending() and not self.transport.is_closing():
            log.debug("closing connection from %s: request body stalled", self.client)
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            refused = self._head.feed(data)
            if refused is not None:
                self._awaiting_head = False
                self._cancel_head_timer()
                self.transport.write(_error_response(*refused))
                self.transport.close()
                return
        super().data_received(data)
        if self.parser is not None:
            self._watch_body()

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._cancel_head_timer()
        self._head.reset()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a pipelined request (its head already read) is being answered now
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().connection_lost(exc)


class _PeerTriggeredLines(logging.Filter):
    """uvicorn WARNs ``Invalid HTTP request received.`` for every unparsable request, which
    any client can send in a loop: the line is kept to one per interval, with the count of
    those left out (it names no peer, so one count for all)."""

    _MESSAGES = ("Invalid HTTP request received.",)

    def __init__(self, throttle: LogThrottle) -> None:
        super().__init__()
        self._throttle = throttle

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg not in self._MESSAGES:
            return True
        admission = self._throttle.admit("invalid HTTP requests", "*")
        if admission.log and admission.suppressed:
            record.msg = f"{record.msg} ({admission.suppressed} more since the last one)"
        return admission.log


class HttpConfig(uvicorn.Config):
    """uvicorn's config with an ``SSLContext`` the node built (PEM or PKCS#12, reloadable) and
    the listener's limits."""

    def __init__(
        self,
        *args: Any,
        ssl_context: ssl.SSLContext | None = None,
        limits: HttpLimits | None = None,
        **kw: Any,
    ) -> None:
        kw["http"] = LimitedHttpProtocol  # whatever the caller named: the limits live there
        super().__init__(*args, **kw)
        self._ssl_context = ssl_context
        self.limits = limits or HttpLimits()
        self.throttle = LogThrottle()

    def load(self) -> None:
        super().load()
        if self._ssl_context is not None:
            self.ssl = self._ssl_context


class HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling (the node decides how to stop), serving the
    node's bound socket with the TLS handshake deadline."""

    config: HttpConfig
    _filter: _PeerTriggeredLines | None = None

    @classmethod
    def for_node(
        cls,
        app: Any,
        flat: Mapping[str, Any],
        *,
        ssl_context: ssl.SSLContext | None,
        tls_handshake_timeout: float | None,
    ) -> HttpServer:
        """The node's HTTP server: uvicorn on the loop the node runs, httptools, no lifespan,
        no logging or headers of its own (the app writes ES's), 30 s for in-flight requests
        to finish at shutdown."""
        return cls(
            HttpConfig(
                app,
                ssl_context=ssl_context,
                limits=HttpLimits.from_settings(flat, tls_handshake_timeout),
                loop="none",
                http="httptools",
                lifespan="off",
                log_config=None,
                access_log=False,
                server_header=False,
                date_header=False,
                timeout_graceful_shutdown=30,
            )
        )

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        assert sockets is not None, "the node binds the HTTP socket itself"
        config = self.config
        await self.lifespan.startup()

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return LimitedHttpProtocol(
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=_loop,
            )

        self._filter = _PeerTriggeredLines(config.throttle)
        logging.getLogger("uvicorn.error").addFilter(self._filter)
        loop = asyncio.get_running_loop()
        self.servers = []
        for sock in sockets:
            extra: dict[str, Any] = {}
            if config.ssl is not None:
                extra["ssl_handshake_timeout"] = config.limits.tls_handshake_timeout
            server = await loop.create_server(
                create_protocol, sock=sock, ssl=config.ssl, backlog=config.backlog, **extra
            )
            self.servers.append(server)
        self.started = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Idle keep-alive connections are aborted at once: a TLS close waits for the client's
        # close_notify, which an idle pooled client never sends. In-flight requests finish.
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            if cycle is None or getattr(cycle, "response_complete", True):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
        await super().shutdown(sockets)
        if self._filter is not None:
            logging.getLogger("uvicorn.error").removeFilter(self._filter)
