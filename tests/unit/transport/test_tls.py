"""TLS driven through MemoryBIO: both sides see (and record) why a handshake failed."""

from __future__ import annotations

import asyncio
import logging
import ssl

import pytest
import trustme
import uvloop

from isthmus.errors import ConnectTransportError
from isthmus.security.tls_failures import DIAGNOSTIC_TRUST_MANAGER, SECURITY_NETTY4_TRANSPORT
from isthmus.transport.actions import ActionRegistry
from isthmus.transport.channel_info import ChannelState
from isthmus.transport.client import connect
from tests.unit.transport.conftest import eventually, local_node, serving


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    ca.configure_trust(ctx)
    ctx.verify_mode = ssl.CERT_REQUIRED  # transport default: client_authentication required
    return ctx


def client_context(ca: trustme.CA, *, with_cert: bool = True) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(ctx)
    if with_cert:
        ca.issue_cert("client.example", common_name="client").configure_cert(ctx)
    return ctx


async def test_mutual_tls(
    ca: trustme.CA, server_context: ssl.SSLContext, registry: ActionRegistry
) -> None:
    async with serving(registry, ssl_context=server_context) as server:
        channel = await connect(
            "127.0.0.1",
            server.port,
            identity=local_node("client"),
            ssl_context=client_context(ca),
            server_hostname="localhost",
        )
        answer = await channel.request("test:whoami")
        assert answer["node"] == "client"
        assert "commonName=client" in answer["peer_certificate"]
        info = channel.info()
        assert info.tls_version is not None and info.tls_version.startswith("TLS")
        assert info.peer_certificate is not None
        assert server.info().tls
        channel.close()
        await channel.wait_closed()
        assert server.tls_failures == type(server.tls_failures)()


async def test_client_distrusting_the_server_ca(
    server_context: ssl.SSLContext, registry: ActionRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="isthmus.transport")
    other = trustme.CA()
    async with serving(registry, ssl_context=server_context) as server:
        with pytest.raises(ConnectTransportError) as info:
            await connect(
                "127.0.0.1",
                server.port,
                identity=local_node("client"),
                ssl_context=client_context(other),
                server_hostname="localhost",
            )
        assert info.value.reason.startswith(
            f"[][127.0.0.1:{server.port}] failed to establish trust with server at ["
        )
        # ES's diagnosis: the server's certificate, and (trustme sends its root along) the chain
        assert "; the server provided a certificate with subject name [" in info.value.reason
        assert "; the certificate is signed by (subject [" in info.value.reason
        failure = (await eventually(lambda: list(server.tls_failures)))[0]
        assert failure.side == "server"
        assert failure.reason == "TLSV1_ALERT_UNKNOWN_CA"
        assert "client did not trust this server's certificate" in failure.message
        assert "unknown_ca" in failure.message
        assert server.info().tls_failures == 1
        # each side logs ES's line once, under ES's logger, and nothing else at WARN
        warnings = [
            (r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING
        ]
        assert sorted(name for name, _ in warnings) == sorted(
            [DIAGNOSTIC_TRUST_MANAGER, SECURITY_NETTY4_TRANSPORT]
        )
        warnings_by_name = dict(warnings)
        assert warnings_by_name[DIAGNOSTIC_TRUST_MANAGER].startswith(
            "failed to establish trust with server"
        )
        assert warnings_by_name[SECURITY_NETTY4_TRANSPORT].startswith(
            "client did not trust this server's certificate, closing connection Netty4TcpChannel{"
        )


async def test_wrong_hostname(
    ca: trustme.CA, server_context: ssl.SSLContext, registry: ActionRegistry
) -> None:
    async with serving(registry, ssl_context=server_context) as server:
        # ES's text states the certificate's names; the log's cause line says which did not match
        with pytest.raises(
            ConnectTransportError,
            match=r"the certificate has subject alternative names \[DNS:localhost,IP:127\.0\.0\.1\]",
        ):
            await connect(
                "127.0.0.1",
                server.port,
                identity=local_node("client"),
                ssl_context=client_context(ca),
                server_hostname="elsewhere.example",
            )
        await eventually(lambda: list(server.tls_failures))


async def test_client_without_certificate(
    ca: trustme.CA, server_context: ssl.SSLContext, registry: ActionRegistry
) -> None:
    async with serving(registry, ssl_context=server_context) as server:
        with pytest.raises(ConnectTransportError, match="requires a client certificate"):
            await connect(
                "127.0.0.1",
                server.port,
                identity=local_node("client"),
                ssl_context=client_context(ca, with_cert=False),
                server_hostname="localhost",
            )
        failure = (await eventually(lambda: list(server.tls_failures)))[0]
        assert failure.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE"
        assert failure.message.startswith("Empty client certificate chain")


async def test_plaintext_client_on_a_tls_port(
    server_context: ssl.SSLContext, registry: ActionRegistry
) -> None:
    async with serving(registry, ssl_context=server_context) as server:
        with pytest.raises(ConnectTransportError):
            await connect("127.0.0.1", server.port, identity=local_node("client"), timeout=3)
        failure = (await eventually(lambda: list(server.tls_failures)))[0]
        assert "plaintext" in failure.message
        assert server.info().open_channels == 0 or all(
            c.state is not ChannelState.OPEN for c in server.channels()
        )


async def test_server_distrusting_the_client_certificate(
    server_context: ssl.SSLContext, registry: ActionRegistry
) -> None:
    stranger = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    async with serving(registry, ssl_context=server_context) as server:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # isolate the server's verdict on the client
        stranger.issue_cert("client.example").configure_cert(ctx)
        with pytest.raises(ConnectTransportError, match="server did not trust this client's"):
            await connect("127.0.0.1", server.port, identity=local_node("c"), ssl_context=ctx)
        failure = (await eventually(lambda: list(server.tls_failures)))[0]
        assert failure.message.startswith(
            "failed to establish trust with client at [127.0.0.1]; the client provided a certificate"
        )


def test_mutual_tls_on_uvloop(ca: trustme.CA, server_context: ssl.SSLContext) -> None:
    """The production loop: the hand-driven TLS must not depend on asyncio's own transports."""
    registry = ActionRegistry()

    async def main() -> None:
        async with serving(registry, ssl_context=server_context) as server:
            channel = await connect(
                "127.0.0.1",
                server.port,
                identity=local_node("client"),
                ssl_context=client_context(ca),
                server_hostname="localhost",
                timeout=5,
            )
            assert channel.remote_node is not None and channel.remote_node.name == "server"
            with pytest.raises(ConnectTransportError, match="requires a client certificate"):
                await connect(
                    "127.0.0.1",
                    server.port,
                    identity=local_node("c2"),
                    ssl_context=client_context(ca, with_cert=False),
                    server_hostname="localhost",
                    timeout=5,
                )
            channel.close()

    uvloop.run(main())


async def test_unfinished_tls_handshakes_are_closed_at_the_deadline_and_logged_once(
    ca: trustme.CA,
    server_context: ssl.SSLContext,
    registry: ActionRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Silent peers and half-sent ClientHellos on a TLS listener: closed when
    ``ssl.handshake_timeout`` passes, with ES's line for it written once for the peer address
    (the others are counted), and recorded among the server's TLS failures."""
    async with serving(registry, ssl_context=server_context, tls_handshake_timeout=0.3) as server:
        with caplog.at_level(logging.WARNING):
            peers = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(5)]
            peers[0][1].write(b"\x16\x03\x01\x02\x00\x01")  # a ClientHello that never ends
            for reader, _writer in peers:
                async with asyncio.timeout(3):
                    assert await reader.read() == b""
            # A client that completes TLS in time is unaffected by the deadline.
            channel = await connect(
                "127.0.0.1",
                server.port,
                identity=local_node("client"),
                ssl_context=client_context(ca),
                server_hostname="localhost",
            )
            await asyncio.sleep(0.5)
            assert await channel.request("test:echo", 1) == {"payload": 1, "headers": {}}
            channel.close()
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        timeouts = [line for line in lines if "SslHandshakeTimeoutException" in line]
        assert timeouts == [
            timeouts[0].split("\n")[0]
            + "\nio.netty.handler.ssl.SslHandshakeTimeoutException: handshake timed out after 300ms"
        ]
        assert timeouts[0].startswith("exception caught on transport layer [Netty4TcpChannel{")
        await eventually(lambda: len(server.tls_failures) == 5)
        assert {f.reason for f in server.tls_failures} == {"HANDSHAKE_TIMEOUT"}
        assert server.throttle.suppressed_total == 4
