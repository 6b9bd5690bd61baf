"""Opening an outbound transport channel: TCP, TLS, then the transport handshake.

:func:`connect` returns a handshaken :class:`TransportChannel` (its ``remote_node``,
``remote_cluster_name`` and ``remote_cluster_uuid`` set) or raises: refusal and TLS failures as
:class:`ConnectTransportError` with ES's ``[][host:port] ...`` text, an incompatible or foreign
peer as :class:`~isthmus.wire.HandshakeError`. The channel has no task of its own; pass a
``handler`` only if the caller will also run ``channel.serve()`` in its TaskGroup. The network
and the clock are parameters (real by default) so that tests connect without ports or sleeps.
"""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING

from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.errors import ConnectTransportError, NodeNotConnectedError, OsConnectError
from isthmus.transport.channel import RequestHandler, TransportChannel
from isthmus.transport.connect_trace import ConnectAttempt
from isthmus.transport.local import LocalNode
from isthmus.transport.network import SYSTEM_NETWORK, ConnectionBackend
from isthmus.wire import HANDSHAKE_ACTION, HandshakeResponse, RemoteProtocolError
from isthmus.wire.handshake import check_response
from isthmus.wire.names import DEFAULT_PROFILE

if TYPE_CHECKING:
    from isthmus.security.trust_diagnostics import TrustInfo
    from isthmus.settings.remote import TcpOptions


async def connect(
    host: str,
    port: int,
    *,
    identity: LocalNode,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    timeout: float = 30.0,
    expected_cluster_name: str | None = None,
    handler: RequestHandler | None = None,
    profile: str = DEFAULT_PROFILE,
    trust: TrustInfo | None = None,
    tcp: TcpOptions | None = None,
    handshake_action: str = HANDSHAKE_ACTION,
    headers: dict[str, str] | None = None,
    compression: tuple[str, str] | None = None,
    network: ConnectionBackend = SYSTEM_NETWORK,
    clock: Clock = SYSTEM_CLOCK,
    attempt: ConnectAttempt | None = None,
    node_name: str = "",
) -> TransportChannel:
    """Connect to ``host:port`` through ``network`` and handshake as ``identity``; the whole
    exchange is bounded by ``timeout`` seconds of ``clock``, which the channel keeps.
    ``attempt``, when given, records each phase as it completes (see ``connect_trace``).
    ``node_name`` is the remote node's name when it is known (a node a sniff discovered): ES's
    errors start with ``[<name>][<address>]``, a seed's or proxy's with an empty name."""
    address = f"{host}:{port}"
    label = f"[{node_name}][{address}]"
    channel: TransportChannel | None = None
    # ES's two budgets of connect_timeout each: opening the channel (TCP and, with TLS, its
    # handshake: ES's connect future completes after the TLS handshake) is connect_timeout[..];
    # the transport handshake after it is handshake_timeout[..].
    phase = "connect"
    try:
        async with clock.timeout(timeout):
            try:
                _, channel = await network.create_connection(
                    lambda: TransportChannel(
                        handler=handler,
                        ssl_context=ssl_context,
                        server_side=False,
                        server_hostname=server_hostname or host,
                        profile=profile,
                        trust=trust,
                        tcp=tcp,
                        clock=clock,
                    ),
                    host,
                    port,
                )
            except socket.gaierror as exc:
                if attempt is not None:
                    attempt.os_error = exc
                raise ConnectTransportError(
                    f"{label} connect_exception",
                    caused_by=OsConnectError(f"unknown host [{host}]"),
                ) from exc
            except OSError as exc:
                if attempt is not None:
                    attempt.os_error = exc
                raise ConnectTransportError(
                    f"{label} connect_exception",
                    caused_by=OsConnectError(f"{exc.strerror or exc}: /{address}"),
                ) from exc
            if attempt is not None:
                attempt.tcp_connected = clock.monotonic()
            channel.compression = compression
            await _channel_ready(channel, label, attempt, clock)
        phase = "handshake"
        async with clock.timeout(timeout):
            await _handshake(
                channel, identity, label, expected_cluster_name, handshake_action, headers
            )
    except TimeoutError:
        if attempt is not None:
            attempt.timed_out = True
        if channel is not None:
            _record_failure(attempt, channel)
            channel.close()
        # ES prints the TimeValue as configured: connect_timeout[30s], not [30.0s].
        raise ConnectTransportError(f"{label} {phase}_timeout[{timeout:g}s]") from None
    except BaseException:
        if channel is not None:
            _record_failure(attempt, channel)
            channel.close()
        raise
    if attempt is not None:
        _record_success(attempt, channel, clock)
    return channel


def _record_failure(attempt: ConnectAttempt | None, channel: TransportChannel) -> None:
    if attempt is not None:
        attempt.tls_failure = channel.tls_failure


def _record_success(attempt: ConnectAttempt, channel: TransportChannel, clock: Clock) -> None:
    attempt.handshake_done = clock.monotonic()
    if attempt.tls_done is None:
        attempt.tls_done = attempt.tcp_connected
    node = channel.remote_node
    if node is not None:
        attempt.remote_node_id, attempt.remote_node_name = node.id, node.name
        attempt.remote_version = node.version
    attempt.remote_cluster_name = channel.remote_cluster_name
    attempt.remote_cluster_uuid = channel.remote_cluster_uuid
    chain = channel.peer_chain()
    if chain:
        attempt.peer_not_after = chain[0].not_valid_after_utc


async def _channel_ready(
    channel: TransportChannel, label: str, attempt: ConnectAttempt | None, clock: Clock
) -> None:
    """Wait until the channel can carry the handshake (its TLS handshake done, if any)."""
    try:
        await channel.wait_ready()
    except NodeNotConnectedError as exc:
        raise _failed(channel, label, exc) from exc
    except ConnectTransportError as exc:  # the channel broke mid-way
        raise _failed(channel, label, exc) from exc
    if attempt is not None:
        attempt.tls_done = clock.monotonic()


async def _handshake(
    channel: TransportChannel,
    identity: LocalNode,
    label: str,
    expected_cluster_name: str | None,
    action: str,
    headers: dict[str, str] | None,
) -> None:
    local = identity.handshake_request()
    try:
        payload = await channel.request(action, local.to_payload(), headers, timeout=None)
    except NodeNotConnectedError as exc:
        raise _failed(channel, label, exc) from exc
    except ConnectTransportError as exc:  # NodeDisconnectedError: the channel broke mid-way
        raise _failed(channel, label, exc) from exc
    try:
        response = HandshakeResponse.from_payload(payload)
    except RemoteProtocolError as exc:
        channel.abort(f"protocol error: {exc.close_reason}")
        raise ConnectTransportError(f"{label} handshake failed: {exc.close_reason}") from exc
    version = check_response(local, response, expected_cluster_name=expected_cluster_name)
    channel.complete_handshake(response.node, response.cluster_name, response.cluster_uuid, version)


def _failed(channel: TransportChannel, label: str, exc: Exception) -> ConnectTransportError:
    if channel.tls_failure is not None:
        reason = channel.tls_failure.message
    else:
        reason = f"handshake failed: {channel.broken_reason or exc}"
    return ConnectTransportError(f"{label} {reason}")
