"""A channel's inbound side: the peer's frames as events, and the peer's requests run.

Answers resolve our pending requests; requests go to the handler, as tasks of
:meth:`serve`'s TaskGroup (a cancel request stops one); pings are echoed by the accepting side;
bytes that are not the transport protocol end the channel as ES's TcpTransport does. A base of
:class:`~isthmus.transport.channel.TransportChannel`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from isthmus.errors import (
    ActionNotFoundTransportError,
    IsthmusError,
    TaskCancelledError,
)
from isthmus.security.tls_failures import TCP_TRANSPORT
from isthmus.transport.channel_info import ENDED as _ENDED
from isthmus.transport.channel_info import ChannelState
from isthmus.wire import (
    NEED_DATA,
    Connection,
    ConnectionClosed,
    ErrorResponse,
    Ping,
    ProtocolError,
    RemoteProtocolError,
    Request,
    Response,
    WireError,
)
from isthmus.wire.frames import HttpOnTransportError, StreamCorruptedError
from isthmus.wire.names import CANCEL_ACTION

log = logging.getLogger("isthmus.transport")


def _forget(running: dict[int, asyncio.Task[None]], request_id: int, _task: object) -> None:
    running.pop(request_id, None)


class ChannelEvents:
    """Events and handlers of :class:`~isthmus.transport.channel.TransportChannel`."""

    if TYPE_CHECKING:  # what the channel (channel.py) provides
        connection: Connection
        server_side: bool
        state: ChannelState
        remote_address: str
        _transport: asyncio.Transport | None
        local_name: str | None
        cancelled_inbound: int
        _pending: dict[int, tuple[str, asyncio.Future[Any]]]
        _handler: Callable[[Any, Request], Awaitable[Any]] | None
        _inbox: asyncio.Queue[Request | None]
        _running: dict[int, asyncio.Task[None]]
        _tg: asyncio.TaskGroup | None

        def describe(self) -> str: ...

        def _warn(self, logger: logging.Logger, text: str, kind: str) -> None: ...

        def _end(
            self, state: ChannelState, reason: str, *, error: bool = False, tls: bool = False
        ) -> None: ...

        def _write(self, data: bytes) -> None: ...

        def _node_name(self) -> str: ...

    # --- events ----------------------------------------------------------------------------------

    def _process_events(self) -> None:
        while self.state not in _ENDED:
            try:
                event = self.connection.next_event()
            except StreamCorruptedError as exc:
                self._not_transport(exc)
                return
            except RemoteProtocolError as exc:
                self._end(ChannelState.BROKEN, f"protocol error: {exc.close_reason}", error=True)
                return
            if event is NEED_DATA:
                return
            if isinstance(event, Request):
                self._dispatch(event)
            elif isinstance(event, Response):
                self._resolve(event.request_id, event.payload, None)
            elif isinstance(event, ErrorResponse):
                self._resolve(event.request_id, None, event.error.to_exception(), event.error.node)
            elif isinstance(event, ConnectionClosed):
                self._end(ChannelState.BROKEN, "closed by peer")
            else:
                assert isinstance(event, Ping)
                # The accepting side echoes pings: the connecting side measures liveness by
                # hearing from its peer, which a frozen or black-holed peer cannot fake.
                if self.server_side:
                    self._write(self.connection.send(Ping()))

    def _not_transport(self, exc: StreamCorruptedError) -> None:
        """Bytes that are not the transport protocol (HTTP, TLS to a plaintext port, garbage),
        handled as ES's TcpTransport does: an HTTP request gets ES's one-line answer as plain
        bytes; anything else is logged as ES logs a StreamCorruptedException (no stack trace),
        on either side (a connecting side that dialled an HTTP port reads an HTTP response)."""
        if isinstance(exc, HttpOnTransportError) and self.server_side and self._transport:
            self._transport.write(exc.close_reason.encode())
            self._end(ChannelState.BROKEN, f"protocol error: {exc.close_reason}")
            return
        text = f"{exc.close_reason}, [{self.describe()}], closing connection"
        self._warn(logging.getLogger(TCP_TRANSPORT), text, "broken transport connections")
        self._end(ChannelState.BROKEN, f"protocol error: {exc.close_reason}", error=True, tls=True)

    def _resolve(
        self,
        request_id: int,
        payload: Any,
        error: IsthmusError | None,
        error_node: str | None = None,
    ) -> None:
        entry = self._pending.pop(request_id, None)
        if entry is None:
            return  # its caller timed out or was cancelled: the late answer has no reader
        action, future = entry
        if future.done():
            return
        if error is not None:
            name = self._node_name() or error_node or ""
            error.remote_origin = f"[{name}][{self.remote_address}][{action}]"
        if error is None:
            future.set_result(payload)
        else:
            future.set_exception(error)

    def _dispatch(self, request: Request) -> None:
        if self._handler is None:
            self._answer_error(request.request_id, ActionNotFoundTransportError(request.action))
        elif self._tg is not None:
            self._start(self._tg, request)  # serve() is running: no queue hop, one loop pass less
        else:
            self._inbox.put_nowait(request)

    # --- handlers --------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run the handlers of incoming requests until the channel ends.

        The channel's owner runs this in its TaskGroup; each handler runs in this coroutine's own
        TaskGroup and is cancelled when the channel ends (its answer would have nowhere to go).
        """
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            try:
                while (request := await self._inbox.get()) is not None:
                    self._start(tg, request)
            finally:
                self._tg = None
            for task in list(self._running.values()):
                task.cancel()

    def _start(self, tg: asyncio.TaskGroup, request: Request) -> None:
        if request.action == CANCEL_ACTION:
            self._cancel_inbound(request)
            return
        task = tg.create_task(self._handle(request), name=f"transport {request.action}")
        self._running[request.request_id] = task
        task.add_done_callback(functools.partial(_forget, self._running, request.request_id))

    def _cancel_inbound(self, request: Request) -> None:
        """The peer gave up on one of its requests: stop the work it started here."""
        target = request.payload.get("request_id") if isinstance(request.payload, dict) else None
        task = self._running.get(target) if isinstance(target, int) else None
        if task is not None:
            self.cancelled_inbound += 1
            task.cancel()
        self._write(
            self.connection.send(Response(request.request_id, {"cancelled": task is not None}))
        )

    async def _handle(self, request: Request) -> None:
        assert self._handler is not None
        try:
            payload = await self._handler(self, request)
        except asyncio.CancelledError:
            if self.state not in _ENDED:
                # Cancelled at the peer's request: it no longer reads the answer, but the wire
                # protocol wants one for every request.
                self._answer_error(request.request_id, TaskCancelledError("task cancelled"))
            raise
        except IsthmusError as err:
            self._answer_error(request.request_id, err)
        except Exception as exc:
            # A handler bug: logged here, once, and answered as a generic ES "exception".
            log.exception("handler for [%s] from [%s] failed", request.action, self.remote_address)
            self._answer_error(request.request_id, IsthmusError(f"{type(exc).__name__}: {exc}"))
        else:
            if self.state in _ENDED:
                return
            try:
                self._write(self.connection.send(Response(request.request_id, payload)))
            except ProtocolError as exc:
                self._answer_error(
                    request.request_id,
                    IsthmusError(f"response to [{request.action}] failed: {exc.close_reason}"),
                )

    def _answer_error(self, request_id: int, err: IsthmusError) -> None:
        if self.state in _ENDED:
            return
        wire = WireError.from_exception(err, node=self.local_name)
        self._write(self.connection.send(ErrorResponse(request_id, wire)))


__all__ = ["ChannelEvents"]
