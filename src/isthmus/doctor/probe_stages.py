"""The probe's protocol, TLS and handshake stages (the I/O; the meaning is decided elsewhere).

* protocol: a TLS hello on the connection the TCP stage opened; then, inside TLS or on a fresh
  plaintext connection, a transport ping and ``GET /`` (see :mod:`isthmus.doctor.port_identity`
  for what each kind of server does with them); on an Isthmus transport port, the transport
  handshake without credentials tells the profile. The port is then compared with the model.
* TLS: the chain the remote sent (read without verification in the protocol stage) is verified
  by :mod:`isthmus.doctor.tls_check` against what the client trusts and against each candidate CA
  file; then a real handshake with the client's own context shows whether the remote requires a
  client certificate and accepts the client's.
* handshake and authentication: the project's transport client runs the real handshake of the
  alias's model (the API-key model's remote cluster handshake carries the credential); an error
  answer is classified by :mod:`isthmus.doctor.handshake_errors`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import ssl
import time

from cryptography import x509

from isthmus.doctor.handshake_errors import RemoteFailure, classify
from isthmus.doctor.model import Confidence, Stage
from isthmus.doctor.port_identity import (
    HTTP_PORT_REPLY,
    PING,
    PortIdentity,
    PortKind,
    Reply,
    classify_reply,
    identify,
    port_verdict,
)
from isthmus.doctor.probe import Probe, ProbeTarget
from isthmus.doctor.probe_connection import ProbeConnection, Received
from isthmus.doctor.tls_check import TrustSource, verify_chain
from isthmus.errors import ConnectTransportError, IsthmusError
from isthmus.remote.security_model import SecurityModel
from isthmus.transport.local import LocalNode
from isthmus.wire import NEED_DATA, Connection, ErrorResponse, HandshakeResponse, Response
from isthmus.wire.handshake import NodeIdentity
from isthmus.wire.names import (
    DEFAULT_PROFILE,
    HANDSHAKE_ACTION,
    REMOTE_CLUSTER_HANDSHAKE_ACTION,
    REMOTE_CLUSTER_PROFILE,
)

# Alerts a server sends when the client gave no (acceptable) certificate: OpenSSL's TLS 1.3
# certificate_required, Java's bad_certificate ("Empty client certificate chain"), and the
# handshake_failure / certificate_unknown / unknown_ca some stacks send instead.
_CERTIFICATE_ALERTS = frozenset(
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


def _identity(target: ProbeTarget) -> LocalNode:
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
        else:
            port = PortIdentity(identify(first, None, tls=False), tls=False)
    probe.port = port
    verdict = port_verdict(
        port, api_key_model=t.model is SecurityModel.API_KEY, client_tls=t.client_ssl is not None
    )
    details = (*seen, f"identified: {port.describe()}")
    if verdict.cause is None:
        probe.passed(Stage.PROTOCOL, *details)
    else:
        probe.fail(
            Stage.PROTOCOL, verdict.cause, verdict.message, *details, confidence=verdict.confidence
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
        required = alert in _CERTIFICATE_ALERTS and bool(probe.chain)
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
            client_certificate_required=ping.alert in _CERTIFICATE_ALERTS,
            detail=f"TLS session refused after the handshake ({ping.alert})",
        )
    first = classify_reply(ping.data)
    seen.append(f"a transport ping got {_said(first, ping)}")
    if first is Reply.PING_ECHO:
        profile = await _profile(probe, conn, ping.data[len(PING) :] if ping.data else b"", seen)
        return PortIdentity(PortKind.TRANSPORT, tls=tls, isthmus=True, profile=profile)
    second = None
    if first is Reply.NOTHING:
        host = probe.target.host.encode("ascii", errors="replace")
        got = await conn.exchange(_HTTP_GET % host, probe.budget.share(1.5, 2))
        second = classify_reply(got.data)
        seen.append(f"GET / got {_said(second, got)}")
    return PortIdentity(identify(first, second, tls=tls), tls=tls)


async def _profile(
    probe: Probe, conn: ProbeConnection, leftover: bytes, seen: list[str]
) -> str | None:
    """The transport handshake without credentials: answered on the transport profile, refused
    on the remote cluster server for want of the cross-cluster credentials header."""
    wire = Connection()
    request = wire.new_request(
        HANDSHAKE_ACTION, _identity(probe.target).handshake_request().to_payload()
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
        except Exception as exc:  # a peer that breaks the framing: no profile to report
            seen.append(f"the transport handshake got an unreadable answer ({exc})")
            return None
        if event is not NEED_DATA:
            break
        got = await conn.listen(deadline - time.monotonic())
    if isinstance(event, Response):
        try:
            answer = HandshakeResponse.from_payload(event.payload)
        except Exception:
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


# --- TLS -----------------------------------------------------------------------------------------


async def tls(probe: Probe) -> None:
    t = probe.target
    port = probe.port
    assert port is not None
    if not port.tls:
        probe.not_checked(Stage.TLS, "plaintext on both sides: no TLS on this connection")
        return
    ctx = t.client_ssl
    assert ctx is not None  # the protocol stage failed otherwise
    details: list[str] = []
    if ctx.verify_mode == ssl.CERT_NONE:
        details.append("the client verifies nothing (verification_mode none)")
    else:
        verdict = verify_chain(
            probe.chain,
            _trusted(ctx),
            host=t.host,
            server_name=t.server_name,
            check_hostname=ctx.check_hostname,
            now=dt.datetime.now(dt.UTC),
            candidates=_candidates(t, details),
        )
        details.extend(verdict.facts)
        if verdict.trusted_by:
            details.append(f"trusted by the candidate CA files {list(verdict.trusted_by)}")
        if port.client_certificate_required:
            details.append(
                "the remote requires a client certificate (a transport port does by default; "
                "the remote cluster server does not)"
            )
        if verdict.cause is not None:
            probe.fail(Stage.TLS, verdict.cause, verdict.message, *details)
            return
        if verdict.candidates:
            probe.undecided(
                Stage.TLS, verdict.message, verdict.candidates, verdict.would_decide, *details
            )
            return
    await _client_handshake(probe, ctx, details)


async def _client_handshake(probe: Probe, ctx: ssl.SSLContext, details: list[str]) -> None:
    """A real handshake with the client's own context: its certificate, the server's verdict."""
    t = probe.target
    conn = await ProbeConnection.open(probe.addresses[0], t.port, probe.budget.share(2.0))
    try:
        outcome = await conn.start_tls(ctx, t.server_name or t.host, probe.budget.share(2.0))
        alert = outcome.alert
        if outcome.done:
            got = await conn.exchange(PING, probe.budget.share(0.3))
            alert = got.alert
            if got.alert is None and classify_reply(got.data) is Reply.PING_ECHO:
                await _identify_with_client_certificate(probe, conn, got.data or b"", details)
    finally:
        conn.abort()
    if outcome.verify_code is not None:
        probe.undecided(
            Stage.TLS,
            f"the client's TLS refused the remote's certificate ({alert}, code "
            f"{outcome.verify_code}) although the doctor's own check trusts it",
            ("tls_untrusted_ca", "tls_hostname_mismatch", "tls_expired"),
            ("the node's log line 'failed to establish trust with server'",),
            *details,
        )
        return
    if alert is None:
        accepted = (
            "; the remote accepted the client's certificate"
            if probe.port and probe.port.client_certificate_required
            else ""
        )
        probe.passed(
            Stage.TLS,
            *details,
            f"TLS handshake with the client's configuration succeeded{accepted}",
        )
        return
    details.append(f"with the client's configuration the remote answered the alert [{alert}]")
    if alert == "TLSV13_ALERT_CERTIFICATE_REQUIRED" or alert == probe.no_certificate_alert:
        probe.fail(
            Stage.TLS,
            "tls_client_certificate_required",
            "the remote requires a client certificate and the client sends none",
            *details,
            confidence=Confidence.CERTAIN
            if alert == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
            else Confidence.LIKELY,
        )
    elif alert in _CERTIFICATE_ALERTS:
        probe.fail(
            Stage.TLS,
            "tls_client_untrusted",
            f"the remote refused the client's certificate ({alert}): it does not trust the "
            "CA that issued it",
            *details,
        )
    else:
        probe.undecided(
            Stage.TLS,
            f"the TLS handshake failed with [{alert}]",
            ("tls_client_untrusted", "tls_client_certificate_required"),
            ("the remote's log line for this connection",),
            *details,
        )


async def _identify_with_client_certificate(
    probe: Probe, conn: ProbeConnection, echoed: bytes, details: list[str]
) -> None:
    """A port that refused us without a certificate is identified now that we have one; a
    port the model cannot use is the protocol stage's finding after all."""
    port = probe.port
    if port is None or port.kind is not PortKind.TLS_UNIDENTIFIED:
        return
    profile = await _profile(probe, conn, echoed[len(PING) :], details)
    probe.port = port = PortIdentity(PortKind.TRANSPORT, tls=True, isthmus=True, profile=profile)
    verdict = port_verdict(
        port,
        api_key_model=probe.target.model is SecurityModel.API_KEY,
        client_tls=True,
    )
    if verdict.cause is not None:
        probe.fail(Stage.PROTOCOL, verdict.cause, verdict.message, *details)


def _trusted(ctx: ssl.SSLContext) -> tuple[x509.Certificate, ...]:
    loaded = tuple(
        x509.load_der_x509_certificate(der) for der in ctx.get_ca_certs(binary_form=True)
    )
    if loaded:
        return loaded
    from isthmus.security.trust_diagnostics import system_trusted_certificates

    return system_trusted_certificates()


def _candidates(target: ProbeTarget, details: list[str]) -> tuple[TrustSource, ...]:
    from isthmus.security.certs import decode_bundle

    out: list[TrustSource] = []
    for path in target.candidate_cas:
        try:
            bundle = decode_bundle(path.read_bytes())
        except (OSError, IsthmusError, ValueError) as exc:
            details.append(f"the candidate CA file [{path}] cannot be read: {exc}")
            continue
        out.append(TrustSource(str(path), bundle.certificates))
    return tuple(out)


# --- handshake and authentication ----------------------------------------------------------------


async def handshake(probe: Probe) -> None:
    from isthmus.security.cross_cluster_access import SYSTEM_SUBJECT_INFO, outbound_headers
    from isthmus.transport.client import connect

    t = probe.target
    port = probe.port
    if port is None or not port.isthmus:
        why = (
            "the port speaks Elasticsearch's transport; the probe's own handshake speaks "
            "Isthmus's framing only, so this stage is left to the REST and log evidence"
        )
        probe.not_checked(Stage.HANDSHAKE, why)
        return
    api = t.model is SecurityModel.API_KEY
    headers: dict[str, str] | None = None
    if api and t.credential is not None:
        headers = outbound_headers(t.credential, SYSTEM_SUBJECT_INFO)
    action = REMOTE_CLUSTER_HANDSHAKE_ACTION if api else HANDSHAKE_ACTION
    started = time.monotonic()
    budget = probe.budget.left()
    try:
        channel = await connect(
            probe.addresses[0],
            t.port,
            identity=_identity(t),
            ssl_context=t.client_ssl,
            server_hostname=t.server_name or t.host,
            timeout=budget,
            profile=REMOTE_CLUSTER_PROFILE if api else DEFAULT_PROFILE,
            handshake_action=action,
            headers=headers,
        )
    except IsthmusError as exc:
        _handshake_failed(probe, exc, action, time.monotonic() - started, budget)
        return
    node = channel.remote_node
    probe.remote.update(
        cluster_name=channel.remote_cluster_name,
        cluster_uuid=channel.remote_cluster_uuid,
        version=None if node is None else node.version,
        node=None if node is None else node.name,
    )
    channel.close()
    probe.passed(
        Stage.HANDSHAKE,
        f"[{action}] answered by node [{probe.remote.get('node')}] of cluster "
        f"[{probe.remote.get('cluster_name')}] (uuid [{probe.remote.get('cluster_uuid')}], "
        f"version [{probe.remote.get('version')}]) in {(time.monotonic() - started) * 1000:.0f} ms",
    )
    if api:
        probe.passed(
            Stage.AUTHENTICATION,
            f"the remote cluster server authenticated the cross-cluster API key "
            f"[{key_id(t.credential)}]",
        )


def _handshake_failed(
    probe: Probe, exc: IsthmusError, action: str, took: float, budget: float
) -> None:
    api = probe.target.model is SecurityModel.API_KEY
    if exc.remote_origin is None and isinstance(exc, ConnectTransportError):
        # Our own connect failed: a silence that used the whole wait, or a close before it.
        if took >= budget * 0.9:
            probe.fail(
                Stage.HANDSHAKE,
                "handshake_timeout",
                f"[{action}] got no answer within {took:.1f}s",
                f"no handshake answer after {took * 1000:.0f} ms",
            )
        else:
            probe.fail(
                Stage.HANDSHAKE,
                "handshake_closed",
                f"the remote closed the connection during [{action}]",
                f"closed after {took * 1000:.0f} ms: {exc.reason}",
            )
        return
    failure = RemoteFailure(
        exc.es_type,
        exc.reason,
        str(exc.extra.get("additional_unsuccessful_credentials", "")),
        _causes(exc),
    )
    said = f"[{action}] answered [{failure.es_type}] {failure.reason}" + (
        f" ({failure.unsuccessful})" if failure.unsuccessful else ""
    )
    diagnosis = classify(failure, api_key_model=api)
    if diagnosis.stage is Stage.AUTHENTICATION:
        probe.passed(
            Stage.HANDSHAKE,
            f"the remote answered [{action}] (an authentication error, so the handshake "
            "reached its handler)",
        )
    if diagnosis.cause is None:
        probe.undecided(
            diagnosis.stage,
            f"the remote refused the handshake: {said}",
            diagnosis.candidates,
            ("the remote's log lines for this connection",),
            said,
        )
        return
    probe.fail(diagnosis.stage, diagnosis.cause, said, said, confidence=diagnosis.confidence)


def _causes(exc: IsthmusError) -> tuple[str, ...]:
    out: list[str] = []
    cause = exc.caused_by
    while cause is not None and len(out) < 8:
        out.append(cause.reason)
        cause = cause.caused_by
    return tuple(out)


def key_id(credential: object) -> str:
    """The id of an encoded cross-cluster key (never its secret), or ``?``."""
    from isthmus.settings.secret import Secret

    if not isinstance(credential, Secret):
        return "?"
    try:
        decoded = base64.b64decode(credential.reveal(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "?"
    return decoded.partition(":")[0] or "?"
