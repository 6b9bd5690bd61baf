"""An in-process network: listeners by address, connections as pairs of in-memory transports.

:class:`MemoryNetwork` implements :class:`isthmus.transport.network.ConnectionBackend`. A test
registers listeners (an ``asyncio.Protocol`` factory at ``host:port``) and passes the network to
``connect()`` or a ``Connector``; the client's protocol and a fresh listener protocol are then
joined by two :class:`MemoryTransport` objects. Bytes cross on the next loop pass (as with a
socket, a write never re-enters the peer), in order; closing delivers an end of stream after the
bytes already written. No port is bound, nothing waits on a timer, and many tests can run the
same addresses at once.

What it keeps of real TCP, because the code under test depends on it: a refused connection
(nothing listens) is a ``ConnectionRefusedError`` with asyncio's text, a name that resolves to
nothing a ``socket.gaierror``, a paused reader buffers what arrives (a frozen peer), and the
socket accepts and reports TCP options. What it leaves out: write buffering and flow control
(``pause_writing`` never happens), partial reads, and loss.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import itertools
import socket
from collections.abc import Callable
from typing import Any, TypeVar

P = TypeVar("P", bound=asyncio.BaseProtocol)
ProtocolFactory = Callable[[], asyncio.BaseProtocol]

CLIENT_HOST = "127.0.0.1"


class MemorySocket:
    """What ``get_extra_info("socket")`` returns: a TCP socket that remembers its options."""

    def __init__(self, family: int = socket.AF_INET) -> None:
        self.family = family
        self.type = socket.SOCK_STREAM
        self.options: dict[tuple[int, int], int] = {}

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self.options[(level, option)] = int(value)

    def getsockopt(self, level: int, option: int) -> int:
        return self.options.get((level, option), 0)

    def __repr__(self) -> str:
        return f"<MemorySocket options={len(self.options)}>"


class MemoryTransport(asyncio.Transport):
    """One end of an in-memory connection."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, local: tuple[str, int], peer: tuple[str, int]
    ) -> None:
        super().__init__()
        self._loop = loop
        self._local = local
        self._peername = peer
        self._socket = MemorySocket(socket.AF_INET6 if ":" in local[0] else socket.AF_INET)
        self._peer: MemoryTransport | None = None
        self._protocol: asyncio.BaseProtocol | None = None
        self._closing = False
        self._lost = False
        self._reading = True
        self._held: list[bytes | None] = []  # arrived while reading was paused; None is EOF
        self.bytes_sent = 0

    # --- asyncio.Transport -----------------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {
            "peername": self._peername,
            "sockname": self._local,
            "socket": self._socket,
        }.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        chunk = bytes(data)
        self.bytes_sent += len(chunk)
        if self._peer is not None:
            self._loop.call_soon(self._peer._arrive, chunk)

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0  # every write is handed over at once

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        return None

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._peer is not None:
            self._loop.call_soon(self._peer._arrive, None)  # after the bytes already written
        self._loop.call_soon(self._lose, None)

    def abort(self) -> None:
        # Nothing of ours is buffered, so an abort ends the stream as a close does.
        self.close()

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if self._reading:
            return
        self._reading = True
        held, self._held = self._held, []
        for item in held:
            self._arrive(item)

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    # --- delivery --------------------------------------------------------------------------------

    def _arrive(self, data: bytes | None) -> None:
        if self._lost:
            return
        if not self._reading:
            self._held.append(data)
            return
        protocol = self._protocol
        assert isinstance(protocol, asyncio.Protocol)
        if data is not None:
            protocol.data_received(data)
            return
        # End of stream: a protocol that does not keep its half open is closed, as asyncio does.
        if not protocol.eof_received():
            self._closing = True
            self._lose(None)

    def _lose(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        assert self._protocol is not None
        self._protocol.connection_lost(exc)

    def __repr__(self) -> str:
        state = "closing" if self._closing else "open"
        return f"<MemoryTransport {self._local[0]}:{self._local[1]}->{self._peername[0]}:{self._peername[1]} {state}>"


class MemoryListener:
    """A registered listening address; :meth:`close` stops accepting (open connections stay)."""

    def __init__(self, network: MemoryNetwork, host: str, port: int) -> None:
        self.network = network
        self.host = host
        self.port = port
        self.accepted = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        self.network._listeners.pop((self.host, self.port), None)

    def __repr__(self) -> str:
        return f"<MemoryListener {self.address} accepted={self.accepted}>"


class MemoryNetwork:
    """Addresses and connections that exist only in this process."""

    def __init__(self) -> None:
        self._listeners: dict[tuple[str, int], tuple[MemoryListener, ProtocolFactory]] = {}
        self._known_hosts: set[str] = {"localhost"}
        self._ports = itertools.count(9300)
        self._ephemeral = itertools.count(50000)
        self.connections = 0

    def listen(self, host: str, port: int, protocol_factory: ProtocolFactory) -> MemoryListener:
        """Accept connections to ``host:port`` (0: a port nobody uses) with new protocols."""
        if port == 0:
            port = self._free_port(host)
        elif (host, port) in self._listeners:
            raise OSError(errno.EADDRINUSE, f"address already in use: {host}:{port}")
        listener = MemoryListener(self, host, port)
        self._listeners[(host, port)] = (listener, protocol_factory)
        self._known_hosts.add(host)
        return listener

    def unused_address(self, host: str = "127.0.0.1") -> str:
        """An address where nothing listens: connecting to it is refused."""
        return f"{host}:{self._free_port(host)}"

    def _free_port(self, host: str) -> int:
        while (port := next(self._ports)) and (host, port) in self._listeners:
            continue
        return port

    async def create_connection(
        self, protocol_factory: Callable[[], P], host: str, port: int
    ) -> tuple[asyncio.BaseTransport, P]:
        if not self._resolves(host):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        entry = self._listeners.get((host, port))
        if entry is None:
            raise ConnectionRefusedError(
                errno.ECONNREFUSED, f"Connect call failed ('{host}', {port})"
            )
        listener, accept = entry
        loop = asyncio.get_running_loop()
        client_address = (CLIENT_HOST, next(self._ephemeral))
        client = MemoryTransport(loop, client_address, (host, port))
        server = MemoryTransport(loop, (host, port), client_address)
        client._peer, server._peer = server, client
        server_protocol = accept()
        server.set_protocol(server_protocol)
        client_protocol = protocol_factory()
        client.set_protocol(client_protocol)
        listener.accepted += 1
        self.connections += 1
        server_protocol.connection_made(server)
        client_protocol.connection_made(client)
        return client, client_protocol

    def _resolves(self, host: str) -> bool:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host in self._known_hosts
        return True

    def __repr__(self) -> str:
        return f"<MemoryNetwork listeners={len(self._listeners)} connections={self.connections}>"
