"""A transport node on a :class:`~isthmus.testing.memory_network.MemoryNetwork`.

:class:`MemoryNode` is the accepting end that channel, strategy and connection-manager tests
connect to: real :class:`~isthmus.transport.channel.TransportChannel` objects on the server side,
the transport handshake answered as ``TransportServer`` answers it (``wire.handshake``'s
negotiation, the peer's identity recorded on the channel), and every later request handed to a
handler chosen by action name. It has none of the server's admission limits, request filter or
task registry; tests of those use the real server on loopback.

It owns one TaskGroup, entered by :meth:`start` and left by :meth:`close` (use ``async with``, or
call both from the same task), in which each accepted channel's ``serve()`` runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.errors import ActionNotFoundTransportError, HandshakeError
from isthmus.testing.memory_network import MemoryListener, MemoryNetwork, MemoryTransport
from isthmus.transport.channel import RequestHandler, TransportChannel
from isthmus.transport.local import LocalNode
from isthmus.wire import HANDSHAKE_ACTION, HandshakeRequest, Request
from isthmus.wire import RemoteProtocolError as WireRemoteProtocolError
from isthmus.wire.handshake import accept_request

if TYPE_CHECKING:
    from isthmus.settings.remote import TcpOptions


class MemoryNode:
    """Accepts transport channels at one memory address and answers them."""

    def __init__(
        self,
        network: MemoryNetwork,
        identity: LocalNode,
        handlers: Mapping[str, RequestHandler] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = SYSTEM_CLOCK,
        tcp: TcpOptions | None = None,
        handshake_actions: Collection[str] = (HANDSHAKE_ACTION,),
    ) -> None:
        self.network = network
        self.identity = identity
        self.handlers: dict[str, RequestHandler] = dict(handlers or {})
        self.host = host
        self.requested_port = port
        self.clock = clock
        self.tcp = tcp
        self.handshake_actions = frozenset(handshake_actions)
        self.channels: set[TransportChannel] = set()  # accepted and not yet ended
        self.accepted = 0
        self.handshakes = 0
        self._listener: MemoryListener | None = None
        self._tg: asyncio.TaskGroup | None = None

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("memory node is not started")
        return self._listener.port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen; the node publishes the address it listens on."""
        tg = asyncio.TaskGroup()
        await tg.__aenter__()
        self._tg = tg
        self._listener = self.network.listen(self.host, self.requested_port, self._accept)
        node = self.identity.node
        self.identity = replace(self.identity, node=replace(node, publish_address=self.address))

    async def close(self) -> None:
        """Stop listening, close every accepted channel, wait for their handlers to end."""
        if self._listener is not None:
            self._listener.close()
        for channel in list(self.channels):
            channel.close()
        tg, self._tg = self._tg, None
        if tg is not None:
            await tg.__aexit__(None, None, None)

    async def __aenter__(self) -> MemoryNode:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def freeze(self) -> None:
        """Stop reading every accepted connection, as a stopped process does: what the peer
        sends (pings included) is held and nothing is answered."""
        for channel in self.channels:
            transport = channel._transport
            assert isinstance(transport, MemoryTransport)
            transport.pause_reading()

    # --- accepting and answering -----------------------------------------------------------------

    def _accept(self) -> asyncio.Protocol:
        if self._tg is None:
            raise RuntimeError("memory node is closed")
        channel = TransportChannel(
            handler=self._handle, server_side=True, clock=self.clock, tcp=self.tcp
        )
        channel.local_name = self.identity.node.name
        self.channels.add(channel)
        self.accepted += 1
        self._tg.create_task(self._run(channel), name=f"memory channel {self.accepted}")
        return channel

    async def _run(self, channel: TransportChannel) -> None:
        try:
            await channel.serve()
            await channel.wait_closed()
        finally:
            self.channels.discard(channel)

    async def _handle(self, channel: TransportChannel, request: Request) -> Any:
        if request.action in self.handshake_actions:
            return self._handshake(channel, request)
        if channel.remote_node is None:
            raise HandshakeError(
                f"received request [{request.action}] from [{channel.remote_address}] "
                "before the transport handshake"
            )
        handler = self.handlers.get(request.action)
        if handler is None:
            raise ActionNotFoundTransportError(request.action)
        return await handler(channel, request)

    def _handshake(self, channel: TransportChannel, request: Request) -> Any:
        try:
            hello = HandshakeRequest.from_payload(request.payload)
        except WireRemoteProtocolError as exc:
            channel.abort(f"protocol error: {exc.close_reason}")
            return None
        local = self.identity.handshake_response()
        version = accept_request(local, hello)
        channel.complete_handshake(hello.node, hello.cluster_name, hello.cluster_uuid, version)
        self.handshakes += 1
        return local.to_payload()

    def __repr__(self) -> str:
        where = "stopped" if self._listener is None else self.address
        return (
            f"<MemoryNode {self.identity.node.name} {where} channels={len(self.channels)} "
            f"accepted={self.accepted}>"
        )
