"""The probe's protocol stage: what answers at the address, and whether the model can use it.

On the connection the TCP stage opened, a TLS hello (with a context that accepts any chain, to
see what the remote sends, not to trust it); then, inside TLS or on a fresh plaintext
connection, a transport ping and ``GET /`` (:mod:`isthmus.doctor.port_identity` says what each
kind of server does with them); on an Isthmus transport port, the transport handshake without
credentials tells the profile (the transport profile answers it, the remote cluster server
refuses it for want of the cross-cluster credentials header). The port is then compared with
what the alias's model needs. The chain the remote sent is kept for the TLS stage.

The TLS hello makes a plaintext port log a broken connection (an Isthmus node: "invalid frame
marker"; Elasticsearch: a corrupted stream), as any client with the wrong TLS setting would.
"""

from __future__ import annotations

import ipaddress
import ssl
import time
from dataclasses import replace

from isthmus.doctor.model import Confidence, Stage
from isthmus.doctor.port_identity import (
    HTTP_PORT_REPLY,
    PING,
    PORT_READINGS,
    HttpFlavour,
    PortIdentity,
    PortKind,
    Reply,
    classify_reply,
    http_flavour,
    identify,
    port_verdict,
)
from isthmus.doctor.probe import Probe, ProbeTarget
from isthmus.doctor.probe_connection import ProbeConnection, Received
from isthmus.remote.security_model import SecurityModel
from isthmus.transport.local import LocalNode
from isthmus.wire import (
    NEED_DATA,
    Connection,
    ErrorResponse,
    HandshakeResponse,
    RemoteProtocolError,
    Response,
)
from isthmus.wire.handshake import NodeIdentity
from isthmus.wire.names import (
    DEFAULT_PROFILE,
    HANDSHAKE_ACTION,
    REMOTE_CLUSTER_PROFILE,
)

# Alerts a server sends when the client gave no (acceptable) certificate: OpenSSL's TLS 1.3
# certificate_required, Java's bad_certificate ("Empty client certificate chain"), and the
# handshake_failure / certificate_unknown / unknown_ca some stacks send instead.
CERTIFICATE_ALERTS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_DECRYPT_ERROR",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    }
)
_HTTP_GET = b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"


def probe_identity(target: ProbeTarget) -> LocalNode:
    from isthmus import ES_COMPAT_VERSION

    node = NodeIdentity("isthmus-doctor", "isthmus-doctor", "0.0.0.0:0", ES_COMPAT_VERSION)
    return LocalNode(target.local_cluster_name, "_na_", node)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _unverified() -> ssl.SSLContext:
    """A client context that accepts any chain: to see what the remote sends, not to trust it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# --- protocol ------------------------------------------------------------------------------------


async def protocol(probe: Probe) -> None:
    t = probe.target
    conn = probe.conn
    assert conn is not None
    sni = t.server_name or (None if _is_ip(t.host) else t.host)
    seen: list[str] = []
    hello = await conn.start_tls(_unverified(), sni, probe.budget.share(1.5, 3))
    if hello.plaintext is None:
        port = await _inside_tls(probe, conn, hello.done, hello.alert, seen)
    else:
        first = classify_reply(hello.plaintext.data)
        seen.append(f"a TLS hello got {_said(first, hello.plaintext)}")
        if first in (Reply.NOTHING, Reply.CLOSED):
            conn.abort()
            conn = probe.conn = await ProbeConnection.open(
                probe.addresses[0], t.port, probe.budget.share(2.0)
            )
            port = await _identify(probe, conn, tls=False, seen=seen)
            port = replace(port, sni=sni)
        else:
            port = PortIdentity(identify(first, None, tls=False), tls=False)
            if port.kind is PortKind.HTTP:
                port = await _http(probe, port, hello.plaintext.data or b"", seen)
    probe.port = port
    verdict = port_verdict(
        port, api_key_model=t.model is SecurityModel.API_KEY, client_tls=t.client_ssl is not None
    )
    details = (*seen, f"identified: {port.describe()}")
    if verdict.cause is None:
        probe.passed(Stage.PROTOCOL, *details)
    else:
        # What answers at the address was seen: every other reading of it is ruled out (a port
        # question another source left open, "HTTP port or not TLS at all", is answered).
        seen_it = verdict.confidence is Confidence.CERTAIN
        probe.fail(
            Stage.PROTOCOL,
            verdict.cause,
            verdict.message,
            *details,
            confidence=verdict.confidence,
            ruled_out=tuple(c for c in PORT_READINGS if c != verdict.cause) if seen_it else (),
        )


async def _inside_tls(
    probe: Probe, conn: ProbeConnection, done: bool, alert: str | None, seen: list[str]
) -> PortIdentity:
    assert conn.tls is not None
    probe.chain = conn.tls.peer_chain()
    suite = f"{conn.tls.protocol() or '?'} {conn.tls.cipher() or '?'}"
    if not done:
        seen.append(f"a TLS hello got a TLS answer ({suite}), then the alert [{alert}]")
        probe.no_certificate_alert = alert
        required = alert in CERTIFICATE_ALERTS and bool(probe.chain)
        return PortIdentity(
            PortKind.TLS_UNIDENTIFIED,
            tls=True,
            client_certificate_required=required,
            detail=f"TLS handshake refused without a client certificate ({alert})",
        )
    seen.append(f"a TLS hello got a TLS session ({suite}) without a client certificate")
    return await _identify(probe, conn, tls=True, seen=seen)


async def _identify(
    probe: Probe, conn: ProbeConnection, *, tls: bool, seen: list[str]
) -> PortIdentity:
    """Ping, then (if the ping got nothing) ``GET /``; on an Isthmus port, the profile."""
    ping = await conn.exchange(PING, probe.budget.share(0.3))
    if ping.alert is not None:
        seen.append(f"the first record after the TLS handshake was the alert [{ping.alert}]")
        probe.no_certificate_alert = ping.alert
        return PortIdentity(
            PortKind.TLS_UNIDENTIFIED,
            tls=True,
            client_certificate_required=ping.alert in CERTIFICATE_ALERTS,
            detail=f"TLS session refused after the handshake ({ping.alert})",
        )
    first = classify_reply(ping.data)
    seen.append(f"a transport ping got {_said(first, ping)}")
    if first is Reply.HTTP:
        return await _http(probe, PortIdentity(PortKind.HTTP, tls=tls), ping.data or b"", seen)
    if first is Reply.PING_ECHO:
        profile = await read_profile(
            probe, conn, ping.data[len(PING) :] if ping.data else b"", seen
        )
        return PortIdentity(PortKind.TRANSPORT, tls=tls, isthmus=True, profile=profile)
    second = None
    if first is Reply.NOTHING:
        host = probe.target.host.encode("ascii", errors="replace")
        got = await conn.exchange(_HTTP_GET % host, probe.budget.share(1.5, 2))
        second = classify_reply(got.data)
        seen.append(f"GET / got {_said(second, got)}")
        if second is Reply.HTTP:
            flavour = http_flavour(got.data or b"")
            seen.append(f"the HTTP server is {flavour.value}")
            return PortIdentity(PortKind.HTTP, tls=tls, http=flavour)
    return PortIdentity(identify(first, second, tls=tls), tls=tls)


async def _http(probe: Probe, port: PortIdentity, reply: bytes, seen: list[str]) -> PortIdentity:
    """Whose HTTP server: its answer to our bytes may say; if not, its answer to ``GET /``."""
    flavour = http_flavour(reply)
    if flavour is HttpFlavour.UNKNOWN:
        conn = await ProbeConnection.open(
            probe.addresses[0], probe.target.port, probe.budget.share(1.0)
        )
        try:
            if port.tls:
                sni = probe.target.server_name or (
                    None if _is_ip(probe.target.host) else probe.target.host
                )
                await conn.start_tls(_unverified(), sni, probe.budget.share(1.0))
            host = probe.target.host.encode("ascii", errors="replace")
            got = await conn.exchange(_HTTP_GET % host, probe.budget.share(1.0))
        finally:
            conn.abort()
        if classify_reply(got.data) is Reply.HTTP:
            flavour = http_flavour(got.data or b"")
    seen.append(f"the HTTP server is {flavour.value}")
    return PortIdentity(PortKind.HTTP, tls=port.tls, http=flavour)


async def read_profile(
    probe: Probe, conn: ProbeConnection, leftover: bytes, seen: list[str]
) -> str | None:
    """The transport handshake without credentials: answered on the transport profile, refused
    on the remote cluster server for want of the cross-cluster credentials header."""
    wire = Connection()
    request = wire.new_request(
        HANDSHAKE_ACTION, probe_identity(probe.target).handshake_request().to_payload()
    )
    if leftover:
        wire.receive_data(leftover)
    got = await conn.exchange(wire.send(request), probe.budget.share(1.0))
    deadline = time.monotonic() + probe.budget.share(1.0)
    while True:
        if got.data is None or not got.data:
            seen.append("the transport handshake without credentials got no answer")
            return None
        wire.receive_data(got.data)
        try:
            event = wire.next_event()
        except RemoteProtocolError as exc:  # a peer that breaks the framing: no profile
            seen.append(f"the transport handshake got an unreadable answer ({exc.close_reason})")
            return None
        if event is not NEED_DATA:
            break
        got = await conn.listen(deadline - time.monotonic())
    if isinstance(event, Response):
        try:
            answer = HandshakeResponse.from_payload(event.payload)
        except RemoteProtocolError as exc:
            seen.append(f"the transport handshake answer is malformed ({exc.close_reason})")
            return None
        probe.remote.update(
            cluster_name=answer.cluster_name,
            cluster_uuid=answer.cluster_uuid,
            version=answer.node.version,
            node=answer.node.name,
        )
        seen.append(
            f"the transport handshake without credentials was answered by node "
            f"[{answer.node.name}] of cluster [{answer.cluster_name}]: profile [{DEFAULT_PROFILE}]"
        )
        return DEFAULT_PROFILE
    if isinstance(event, ErrorResponse):
        seen.append(
            f"the transport handshake without credentials was refused: "
            f"[{event.error.type}] {event.error.reason}"
        )
        if "_cross_cluster_access_credentials" in event.error.reason:
            return REMOTE_CLUSTER_PROFILE
    return None


def _said(reply: Reply, got: Received) -> str:
    if reply is Reply.NOTHING:
        return "no answer"
    if reply is Reply.CLOSED:
        return "a reset" if got.reset else "the connection closed"
    if reply is Reply.NOT_HTTP_PORT:
        return f"[{HTTP_PORT_REPLY.decode()}] (Elasticsearch's transport)"
    data = got.data or b""
    return f"{reply.value} ({data[:32]!r})"
