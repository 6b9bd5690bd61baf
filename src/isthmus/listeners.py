"""Binding listening sockets for the node's servers (HTTP, transport)."""

from __future__ import annotations

import errno
import socket

from isthmus.errors import NodeStartupError


def bind_first_free(host: str, ports: tuple[int, int]) -> socket.socket:
    """Bind the first free port of the range, as ES does for ``http.port: 9200-9300`` and
    ``transport.port: 9300-9400``; a single port (or 0, any free one) allows no fallback."""
    last_error: OSError | None = None
    for port in range(ports[0], ports[1] + 1):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            last_error = exc
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                continue
            raise NodeStartupError(f"Failed to bind to [{host}:{port}]: {exc.strerror}") from exc
        sock.listen(1024)
        sock.setblocking(False)
        return sock
    raise NodeStartupError(
        f"Failed to bind to [{ports[0]}-{ports[1]}] on [{host}]: "
        f"{last_error.strerror if last_error else 'no port'}"
    )
