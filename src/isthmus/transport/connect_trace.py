"""What one outbound connect attempt reached, and when: TCP, TLS, the transport handshake.  [no I/O]

A :class:`ConnectAttempt` is filled in by :func:`isthmus.transport.client.connect` as the attempt
moves on (the instant each phase completed, the ``OSError`` the connect raised, the channel's
:class:`~isthmus.security.tls_failures.TlsFailure`, the peer's certificate expiry and who answered
the handshake) and by its caller when it ends (the exception, the end instant). It is a plain
record: whoever wants to know where an attempt failed (remote health, a probe) reads the phases
and the typed errors here instead of parsing an error message. An attempt still in flight is
readable too, so a stuck attempt can be reported by the phase it is stuck in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from isthmus.security.tls_failures import TlsFailure


@dataclass(eq=False)
class ConnectAttempt:
    """One attempt to open a handshaken channel to ``address``; times are monotonic seconds."""

    address: str  # "host:port" as dialled
    started: float
    tls: bool  # a TLS session is expected after TCP
    tcp_connected: float | None = None
    tls_done: float | None = None  # also set (to tcp_connected) when there is no TLS
    handshake_done: float | None = None
    ended: float | None = None
    error: BaseException | None = None
    os_error: OSError | None = None  # what the TCP connect (or the resolver) raised
    tls_failure: TlsFailure | None = None
    timed_out: bool = False  # the connect timeout expired (in the phase not yet reached)
    peer_not_after: dt.datetime | None = None  # the remote leaf certificate's expiry (UTC)
    remote_node_id: str | None = None
    remote_node_name: str | None = None
    remote_version: str | None = None
    remote_cluster_name: str | None = None
    remote_cluster_uuid: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.handshake_done is not None and self.error is None

    @property
    def done(self) -> bool:
        return self.ended is not None

    def connect_seconds(self) -> float | None:
        return None if self.tcp_connected is None else self.tcp_connected - self.started

    def tls_seconds(self) -> float | None:
        if not self.tls or self.tls_done is None or self.tcp_connected is None:
            return None
        return self.tls_done - self.tcp_connected

    def handshake_seconds(self) -> float | None:
        if self.handshake_done is None or self.tls_done is None:
            return None
        return self.handshake_done - self.tls_done

    def __repr__(self) -> str:
        phase = (
            "handshaken"
            if self.handshake_done is not None
            else "tls"
            if self.tls_done is not None
            else "tcp"
            if self.tcp_connected is not None
            else "connecting"
        )
        outcome = "failed" if self.error is not None else "ok" if self.done else "in flight"
        return f"<ConnectAttempt {self.address} {phase} {outcome}>"
