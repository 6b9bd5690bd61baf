"""Socket options for transport connections: TCP keep-alive, ``TCP_USER_TIMEOUT``, no-delay.

Elasticsearch leaves dead-peer detection to the operating system's defaults, which on Linux take
minutes to hours. Isthmus sets short keep-alive probes and a ``TCP_USER_TIMEOUT`` by default (see
``settings/remote.py`` for the values) so that a peer that vanished is noticed in seconds even
when no application ping is running. Options a platform lacks are skipped, never fatal.
"""

from __future__ import annotations

import contextlib
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from isthmus.settings.remote import TcpOptions


def apply_tcp_options(sock: Any, options: TcpOptions | None) -> None:
    """Set ``options`` on a connected TCP socket or asyncio/uvloop socket wrapper (``None`` for
    either is a no-op)."""
    if sock is None or options is None:
        return
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    _set(sock, socket.IPPROTO_TCP, getattr(socket, "TCP_NODELAY", None), int(options.no_delay))
    _set(sock, socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(options.keep_alive))
    if options.keep_alive:
        # -1 means "leave the system default"; ES caps a larger system value at 300 s.
        if options.keep_idle > 0:
            _set(sock, socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPIDLE", None), options.keep_idle)
        if options.keep_interval > 0:
            _set(
                sock,
                socket.IPPROTO_TCP,
                getattr(socket, "TCP_KEEPINTVL", None),
                options.keep_interval,
            )
        if options.keep_count > 0:
            _set(sock, socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPCNT", None), options.keep_count)
    if options.user_timeout_ms > 0:
        _set(
            sock,
            socket.IPPROTO_TCP,
            getattr(socket, "TCP_USER_TIMEOUT", None),
            options.user_timeout_ms,
        )


def _set(sock: Any, level: int, option: int | None, value: int) -> None:
    if option is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(level, option, value)
