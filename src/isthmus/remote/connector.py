"""How a remote-cluster strategy opens one channel: TCP, TLS, handshake, socket options.

A :class:`Connector` bundles what every outbound remote connection of one security model shares
(this node's identity, the client TLS context and its trust description, TCP options, the
connect-and-handshake timeout, the handshake and node-discovery actions, and the headers each
request carries), and the network and clock those connections use, so that strategies only say
*where* to connect. Strategies take a connector as a parameter, which is also the seam tests use
to point them at in-memory nodes (``isthmus.testing``) on a fake network and a fake clock; the
defaults are the real network and clock.

The two security models differ only in their connector: the certificate model uses the
transport's TLS and sends the caller's identity; the API-key model uses the
``remote_cluster_client`` TLS, ``cluster:internal/remote_cluster/handshake`` and
``.../nodes``, and sends the cross-cluster credentials and subject info.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.transport.channel import TransportChannel
from isthmus.transport.client import connect
from isthmus.transport.connect_trace import ConnectAttempt
from isthmus.transport.local import LocalNode
from isthmus.transport.network import SYSTEM_NETWORK, ConnectionBackend
from isthmus.wire.names import CLUSTER_STATE_ACTION, DEFAULT_PROFILE, HANDSHAKE_ACTION

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.security.trust_diagnostics import TrustInfo
    from isthmus.settings.remote import TcpOptions


RequestHeaders = Callable[["Subject | None", str], dict[str, str]]


def _no_headers(subject: Subject | None, action: str) -> dict[str, str]:
    return {}


@dataclass
class Connector:
    """Opens handshaken channels to remote nodes for one transport profile."""

    identity: Callable[[], LocalNode]
    ssl_context: ssl.SSLContext | None = None
    trust: TrustInfo | None = None
    tcp: TcpOptions | None = None
    connect_timeout: float = 30.0
    profile: str = DEFAULT_PROFILE
    handshake_action: str = HANDSHAKE_ACTION
    nodes_action: str = CLUSTER_STATE_ACTION
    # The headers of one request (caller, action); the caller None is the system (handshakes,
    # node discovery). Read on every request, so a reloaded credential applies at once.
    headers: RequestHeaders = _no_headers
    # (transport.compress, transport.compression_scheme) of the remote alias.
    compression: tuple[str, str] | None = None
    # Where connections are opened and whose time their deadlines, pings and liveness read.
    network: ConnectionBackend = SYSTEM_NETWORK
    clock: Clock = SYSTEM_CLOCK

    async def open(
        self,
        host: str,
        port: int,
        *,
        server_name: str | None = None,
        expected_cluster_name: str | None = None,
        attempt: ConnectAttempt | None = None,
        node_name: str = "",
    ) -> TransportChannel:
        """A handshaken channel to ``host:port`` or a ConnectTransportError/HandshakeError;
        ``attempt`` records how far it got (remote health reads it)."""
        return await connect(
            host,
            port,
            identity=self.identity(),
            ssl_context=self.ssl_context,
            server_hostname=server_name or host,
            timeout=self.connect_timeout,
            expected_cluster_name=expected_cluster_name,
            profile=self.profile,
            trust=self.trust,
            tcp=self.tcp,
            handshake_action=self.handshake_action,
            headers=self.headers(None, self.handshake_action),
            compression=self.compression,
            network=self.network,
            clock=self.clock,
            attempt=attempt,
            node_name=node_name,
        )

    @property
    def system_headers(self) -> dict[str, str]:
        """The headers of node discovery on this connection's model."""
        return self.headers(None, self.nodes_action)

    def __repr__(self) -> str:
        tls = "tls" if self.ssl_context is not None else "plain"
        return f"<Connector profile={self.profile} {tls} timeout={self.connect_timeout}s>"
