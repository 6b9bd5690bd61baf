"""A small TCP relay the lab puts between the local cluster and the remote, to summon the network
faults users meet: a path that black-holes, holds, resets or cuts idle connections, an
SNI-routing proxy and an HTTP CONNECT proxy.

The relay listens on one address and, in its :class:`RelayConfig`'s mode, does to each new
connection what a firewall, load balancer or proxy on a real path would do. The mode can be
switched while connections run (:meth:`Relay.configure`), so a scenario can break a working path
and heal it again; :meth:`Relay.cut` breaks the connections already open.

What each mode does to a *new* connection:

* ``pass``: forward to ``backend``;
* ``drop``: accept, read and discard, never answer (the peer waits for a TLS or handshake reply
  that never comes);
* ``blackhole``: do not even complete the TCP handshake: the listen queue is shrunk to zero and
  filled, so the kernel drops the SYNs and ``connect()`` times out, as behind a firewall that
  drops packets;
* ``hold``: accept, forward nothing for ``hold`` seconds, then forward (a slow path);
* ``reset``: accept and reset at once (``SO_LINGER`` 0: the peer reads ECONNRESET);
* ``sni``: read the TLS ClientHello's ``server_name`` and forward to ``routes[server_name]``;
  without a route the connection is closed, as an SNI-routing proxy closes it;
* ``connect``: an HTTP CONNECT proxy (``CONNECT host:port HTTP/1.1``) to loopback targets only,
  so that the lab never opens a proxy to the outside.

While the mode is ``drop`` or ``blackhole``, connections already open are silenced too (bytes in
either direction are discarded): the path died under them. ``idle_cut`` closes a connection that
carried no byte in either direction for that many seconds, in every forwarding mode, as a NAT or
firewall that forgets idle flows.

This module owns the sockets and the byte moving only; the modes and their parameters are
:mod:`isthmus.lab.relay_config`, the ClientHello is read by
:func:`isthmus.security.tls_records.read_client_hello`. The process that runs a relay for the lab
and its control channel are in :mod:`isthmus.lab.relay_control`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import struct
import time

from isthmus.lab.relay_config import (
    Address,
    RelayConfig,
    RelayMode,
    RelayStats,
    format_address,
    parse_address,
)
from isthmus.security.tls_records import read_client_hello

_CHUNK = 64 * 1024
_PREAMBLE_TIMEOUT = 10.0  # how long sni/connect wait for the ClientHello or the request head
_MAX_REQUEST_HEAD = 8 * 1024
# The start of an HTTP/1.x request: a method token, then a space (or the start of one).
_HTTP_START = re.compile(rb"^[A-Z]{1,16}(?: |$)")


_SILENT = frozenset({RelayMode.DROP, RelayMode.BLACKHOLE})


class _Conn:
    """One relayed connection: the client side, the backend side once opened, last activity."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.backend: asyncio.StreamWriter | None = None
        self.last_activity = time.monotonic()

    def close(self, *, reset: bool = False) -> None:
        for writer in (self.client, self.backend):
            if writer is None:
                continue
            if reset:
                _abort_with_rst(writer)
            else:
                writer.close()


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Relay:
    """``async with Relay(config) as relay:`` listens on ``relay.address`` until the block ends.

    Every connection task belongs to the relay's task group; leaving the block closes them all.
    """

    def __init__(self, config: RelayConfig, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._config = config
        self._bind = (host, port)
        self._sock: socket.socket | None = None
        self._group: asyncio.TaskGroup | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._filler: socket.socket | None = None  # fills the listen queue in blackhole mode
        self._filler_name: Address | None = None
        self._open: set[_Conn] = set()
        self._serving: set[asyncio.Task[None]] = set()
        self._counts = dict.fromkeys(
            ("accepted", "bytes_up", "bytes_down", "discarded", "idle_cuts", "resets",
             "unrouted", "backend_refused", "cut"),
            0,
        )  # fmt: skip

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Relay:
        family = socket.AF_INET6 if ":" in self._bind[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(self._bind)
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        await self._apply_listen_state(None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._group is not None and self._sock is not None
        if self._accepting is not None:
            self._accepting.cancel()
        for task in list(self._serving):
            task.cancel()
        for conn in list(self._open):
            conn.close(reset=True)
        await self._group.__aexit__(None, None, None)
        self._sock.close()
        if self._filler is not None:
            self._filler.close()

    @property
    def address(self) -> Address:
        assert self._sock is not None, "relay not started"
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def config(self) -> RelayConfig:
        return self._config

    # --- control ------------------------------------------------------------------------------

    async def configure(self, config: RelayConfig) -> None:
        """Switch the mode (and its parameters) for new connections; open connections keep
        flowing unless the new mode silences the path (``drop``, ``blackhole``)."""
        previous, self._config = self._config, config
        await self._apply_listen_state(previous)

    def cut(self, *, reset: bool = False) -> int:
        """Break every open connection (FIN, or RST with ``reset``); how many were open."""
        conns = list(self._open)
        for conn in conns:
            conn.close(reset=reset)
        self._counts["cut"] += len(conns)
        return len(conns)

    def stats(self) -> RelayStats:
        return RelayStats(mode=str(self._config.mode), open=len(self._open), **self._counts)

    def __repr__(self) -> str:
        where = format_address(self.address) if self._sock is not None else "unbound"
        return (
            f"<Relay {where} mode={self._config.mode} open={len(self._open)} "
            f"accepted={self._counts['accepted']}>"
        )

    # --- accepting ----------------------------------------------------------------------------

    async def _apply_listen_state(self, previous: RelayConfig | None) -> None:
        """Accept in every mode but ``blackhole``, where the listen queue is shrunk to zero
        and filled so that the kernel drops new SYNs (Linux drops them when the accept queue is
        full) instead of completing handshakes nobody would answer."""
        assert self._sock is not None and self._group is not None
        was = previous.mode if previous is not None else None
        now = self._config.mode
        if was is now and self._accepting is not None:
            return
        if now is RelayMode.BLACKHOLE:
            if self._accepting is not None:
                self._accepting.cancel()
                self._accepting = None
            self._sock.listen(0)
            filler = socket.socket(self._sock.family, socket.SOCK_STREAM)
            filler.setblocking(False)
            await asyncio.get_running_loop().sock_connect(filler, self.address)
            self._filler, self._filler_name = filler, filler.getsockname()[:2]
        elif was is RelayMode.BLACKHOLE or self._accepting is None:
            self._sock.listen(128)
            if self._filler is not None:
                self._filler.close()
                self._filler = None
            self._accepting = self._group.create_task(self._accept_loop())

    async def _accept_loop(self) -> None:
        assert self._sock is not None and self._group is not None
        loop = asyncio.get_running_loop()
        while True:
            sock, peer = await loop.sock_accept(self._sock)
            if self._filler_name is not None and tuple(peer[:2]) == self._filler_name:
                sock.close()  # our own queue filler from the last blackhole
                self._filler_name = None
                continue
            self._counts["accepted"] += 1
            task = self._group.create_task(self._serve(sock))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    # --- one connection -----------------------------------------------------------------------

    async def _serve(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader, writer = await asyncio.open_connection(sock=sock)
        conn = _Conn(writer)
        self._open.add(conn)
        config = self._config  # the mode a connection meets is the one when it arrived
        try:
            if config.mode is RelayMode.RESET:
                self._counts["resets"] += 1
                conn.close(reset=True)
                return
            if config.mode in _SILENT:
                await self._discard(conn, reader)
                return
            if config.mode is RelayMode.HOLD:
                await asyncio.sleep(config.hold)
            preamble, target = await self._choose_backend(config, reader, writer)
            if target is None:
                return
            try:
                source = (config.source, 0) if config.source else None
                backend_reader, backend = await asyncio.open_connection(*target, local_addr=source)
            except OSError:
                self._counts["backend_refused"] += 1
                if config.mode is RelayMode.CONNECT:
                    writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            conn.backend = backend
            if config.mode is RelayMode.CONNECT:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if preamble:
                backend.write(preamble)
            await self._pipe_both(conn, reader, backend_reader)
        except (ConnectionError, TimeoutError):
            pass  # the peer broke the connection while it was being set up: it is gone
        finally:
            self._open.discard(conn)
            conn.close()

    async def _choose_backend(
        self, config: RelayConfig, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[bytes, Address | None]:
        """(bytes already read from the client to forward first, where to forward)."""
        if config.mode in (RelayMode.PASS, RelayMode.HOLD):
            return b"", config.backend
        if config.mode is RelayMode.SNI:
            seen = bytearray()
            name: str | None = None
            async with asyncio.timeout(_PREAMBLE_TIMEOUT):
                while True:
                    chunk = await reader.read(_CHUNK)
                    seen += chunk
                    try:
                        hello = read_client_hello(seen)
                    except ValueError:
                        break  # not TLS: an SNI proxy has nothing to route by
                    if hello is not None:
                        name = hello.server_name
                        break
                    if not chunk:
                        break
            target = config.routes.get(name) if name is not None else None
            if target is None:
                self._counts["unrouted"] += 1
            return bytes(seen), target
        return await self._connect_request(reader, writer)

    async def _connect_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[bytes, Address | None]:
        """Read ``CONNECT host:port HTTP/1.x`` and its headers; answer errors as a proxy does.
        Bytes that cannot start an HTTP request (a TLS ClientHello, a transport frame) get a
        400 at once, as a real proxy answers them, instead of waiting for a request head."""
        head = bytearray()
        async with asyncio.timeout(_PREAMBLE_TIMEOUT):
            while b"\r\n\r\n" not in head and len(head) <= _MAX_REQUEST_HEAD:
                chunk = await reader.read(_CHUNK)
                head += chunk
                if not chunk or not _HTTP_START.match(head[:16]):
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    return b"", None
        if b"\r\n\r\n" not in head:
            writer.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n")
            return b"", None
        request_line = bytes(head).split(b"\r\n", 1)[0].decode("latin-1")
        method, _, rest = request_line.partition(" ")
        if method != "CONNECT":
            writer.write(
                b"HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT\r\nContent-Length: 0\r\n\r\n"
            )
            return b"", None
        try:
            target = parse_address(rest.split(" ", 1)[0])
            allowed = _is_loopback(target[0])
        except ValueError:
            target, allowed = ("", 0), False
        if not allowed:
            self._counts["unrouted"] += 1
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return b"", None
        # Bytes the client sent after the request head go to the target first.
        return bytes(head).split(b"\r\n\r\n", 1)[1], target

    async def _discard(self, conn: _Conn, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(_CHUNK):
            conn.last_activity = time.monotonic()
            self._counts["discarded"] += len(chunk)

    async def _pipe_both(
        self, conn: _Conn, client: asyncio.StreamReader, backend: asyncio.StreamReader
    ) -> None:
        assert conn.backend is not None
        async with asyncio.TaskGroup() as group:
            up = group.create_task(self._pipe(conn, client, conn.backend, "bytes_up"))
            down = group.create_task(self._pipe(conn, backend, conn.client, "bytes_down"))
            watchdog = group.create_task(self._watch_idle(conn))
            await asyncio.wait([up, down])
            watchdog.cancel()

    async def _pipe(
        self,
        conn: _Conn,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        counter: str,
    ) -> None:
        """Move bytes one way until EOF, then half-close the other side. A reset or a write to
        a closed peer ends this direction (the other one ends on its own EOF)."""
        try:
            while chunk := await source.read(_CHUNK):
                conn.last_activity = time.monotonic()
                if self._config.mode in _SILENT:
                    self._counts["discarded"] += len(chunk)
                    continue
                self._counts[counter] += len(chunk)
                sink.write(chunk)
                await sink.drain()
            if sink.can_write_eof() and not sink.is_closing():
                sink.write_eof()
        except (ConnectionError, OSError):
            conn.close()  # one side broke: a relay passes the break on to the other side

    async def _watch_idle(self, conn: _Conn) -> None:
        while True:
            limit = self._config.idle_cut
            if limit is None:
                await asyncio.sleep(0.25)  # the mode may gain an idle cut later
                continue
            idle = time.monotonic() - conn.last_activity
            if idle >= limit:
                self._counts["idle_cuts"] += 1
                conn.close()
                return
            await asyncio.sleep(min(limit - idle, 0.25) + 0.01)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The config names stay importable from here too (the doctor's probe tests use them so).
__all__ = ["Address", "Relay", "RelayConfig", "RelayMode", "RelayStats", "parse_address"]
