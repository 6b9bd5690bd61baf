"""Where outbound transport connections come from: the network a client connects through.

:func:`isthmus.transport.client.connect` opens its TCP connection through a
:class:`ConnectionBackend` (httpcore's "network backend" seam). The default,
:data:`SYSTEM_NETWORK`, is the event loop's ``create_connection``: real sockets, real DNS.
Tests pass :class:`isthmus.testing.memory_network.MemoryNetwork`, which connects the same
``asyncio.Protocol`` (a :class:`~isthmus.transport.channel.TransportChannel`) to an in-process
peer over in-memory transports, so that channels, handshakes, strategies and connection managers
run unchanged without a port.

The seam is the protocol/transport pair, not streams: the channel is an ``asyncio.Protocol`` and
drives TLS itself, so a backend only moves bytes. A backend reports failures as the loop does,
``socket.gaierror`` for an unknown host and ``OSError`` (with ``strerror``) for a refused or
unreachable address; the client turns them into ES's ``connect_exception``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, TypeVar

P = TypeVar("P", bound=asyncio.BaseProtocol)


class ConnectionBackend(Protocol):
    """Opens a TCP connection to ``host:port`` and attaches a protocol instance to it."""

    async def create_connection(
        self, protocol_factory: Callable[[], P], host: str, port: int
    ) -> tuple[asyncio.BaseTransport, P]: ...


class SystemNetwork:
    """The operating system's network through the running event loop (asyncio or uvloop)."""

    async def create_connection(
        self, protocol_factory: Callable[[], P], host: str, port: int
    ) -> tuple[asyncio.BaseTransport, P]:
        loop = asyncio.get_running_loop()
        return await loop.create_connection(protocol_factory, host, port)

    def __repr__(self) -> str:
        return "<SystemNetwork>"


SYSTEM_NETWORK: ConnectionBackend = SystemNetwork()
