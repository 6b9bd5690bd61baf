"""TCP options reach the kernel: ``apply_tcp_options`` on a real (unconnected) socket.

The strategies' tests check that both ends of a remote connection set the options (on in-memory
sockets); this checks that the calls they make are ones the kernel takes. No port is bound.
"""

from __future__ import annotations

import socket

from isthmus.settings.remote import transport_tuning
from isthmus.transport.sockets import apply_tcp_options


def test_default_options_are_set_on_a_tcp_socket() -> None:
    tcp = transport_tuning({}).tcp
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        apply_tcp_options(sock, tcp)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 3000
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3


def test_non_tcp_sockets_and_no_options_are_left_alone() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        apply_tcp_options(sock, transport_tuning({}).tcp)  # not TCP: nothing to set, no error
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        apply_tcp_options(sock, None)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
