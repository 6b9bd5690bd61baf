"""The probe's handshake and authentication stages, through the project's transport client.

:func:`isthmus.transport.client.connect` runs the real handshake of the alias's model: the
transport handshake (certificate model) or the remote cluster handshake with the credential
headers (API-key model). A success names the remote's cluster, uuid, node and version; an error
answer is classified by :mod:`isthmus.doctor.handshake_errors` (an authentication error means
the handshake reached its handler, so the handshake stage passed and authentication failed);
our own connect failing is a timeout or a close, told apart by how long it took. The credential
is sent, never reported: only the key's id appears in the evidence.

The handshake speaks Isthmus's transport framing: against an Elasticsearch port (recognised by
the protocol stage) these stages are not checked and the verdict is left to REST and log evidence.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import TYPE_CHECKING

from isthmus.doctor.handshake_errors import RemoteFailure, classify
from isthmus.doctor.model import Stage
from isthmus.doctor.port_identity import PortKind
from isthmus.doctor.probe import Probe
from isthmus.doctor.probe_protocol import probe_identity
from isthmus.errors import ConnectTransportError, IsthmusError
from isthmus.remote.security_model import SecurityModel
from isthmus.wire import RemoteProtocolError
from isthmus.wire.names import (
    CLUSTER_STATE_ACTION,
    DEFAULT_PROFILE,
    HANDSHAKE_ACTION,
    REMOTE_CLUSTER_HANDSHAKE_ACTION,
    REMOTE_CLUSTER_NODES_ACTION,
    REMOTE_CLUSTER_PROFILE,
)

if TYPE_CHECKING:
    from isthmus.transport.channel import TransportChannel

# --- handshake and authentication ----------------------------------------------------------------


async def handshake(probe: Probe) -> None:
    from isthmus.security.cross_cluster_access import SYSTEM_SUBJECT_INFO, outbound_headers
    from isthmus.transport.client import connect

    t = probe.target
    port = probe.port
    if port is None or not port.isthmus:
        what = (
            "the port speaks Elasticsearch's transport"
            if port is not None and port.kind is PortKind.TRANSPORT
            else "the service behind the port did not show itself as Isthmus's transport"
        )
        seen = await _elasticsearch_handshake(probe)
        probe.not_checked(
            Stage.HANDSHAKE,
            f"{what}; the probe's transport and remote cluster handshakes speak Isthmus's "
            "framing only, so this stage is left to the REST and log evidence",
            *seen,
        )
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
            identity=probe_identity(t),
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
    answered = (
        f"[{action}] answered by node [{probe.remote.get('node')}] of cluster "
        f"[{probe.remote.get('cluster_name')}] (uuid [{probe.remote.get('cluster_uuid')}], "
        f"version [{probe.remote.get('version')}]) in {(time.monotonic() - started) * 1000:.0f} ms"
    )
    try:
        nodes = await _gateways(probe, channel, headers)
    finally:
        channel.close()
    probe.passed(Stage.HANDSHAKE, answered, nodes)
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


async def _gateways(probe: Probe, channel: TransportChannel, headers: dict[str, str] | None) -> str:
    """The remote's nodes as the alias's sniff mode would learn them (their addresses are the
    ones the local nodes must reach), asked on the handshaken channel as the system; the
    evidence line says what came back. A refusal is not this stage's failure."""
    from isthmus.remote.security_model import certificate_headers
    from isthmus.remote.sniff import parse_nodes

    api = probe.target.model is SecurityModel.API_KEY
    action = REMOTE_CLUSTER_NODES_ACTION if api else CLUSTER_STATE_ACTION
    sent = headers if api else certificate_headers(None, action)
    try:
        payload = await channel.request(
            action, {"nodes": True}, sent, timeout=probe.budget.share(1.0)
        )
        nodes = parse_nodes(payload)
    except (IsthmusError, RemoteProtocolError) as exc:
        return f"[{action}] did not list the remote's nodes: {exc}"
    probe.gateways = tuple(f"{n.name}@{n.publish_address}" for n in nodes)
    return f"[{action}] lists the remote's nodes {list(probe.gateways)}"


async def _elasticsearch_handshake(probe: Probe) -> tuple[str, ...]:
    """Elasticsearch's TCP handshake (see :mod:`isthmus.doctor.es_handshake`): the newer
    format first, the one every 8.x node answers next; what the node said, as evidence."""
    from isthmus.doctor import es_handshake
    from isthmus.doctor.probe_connection import ProbeConnection

    t = probe.target
    port = probe.port
    seen: list[str] = []
    for version in (es_handshake.V8800000, es_handshake.V7):
        if probe.budget.left() <= 0:
            break
        conn = await ProbeConnection.open(probe.addresses[0], t.port, probe.budget.share(1.0))
        try:
            if port is not None and port.tls and t.client_ssl is not None:
                hello = await conn.start_tls(
                    t.client_ssl, t.server_name or t.host, probe.budget.share(1.0)
                )
                if not hello.done:
                    return (
                        *seen,
                        f"the TLS handshake for Elasticsearch's handshake failed ({hello.alert})",
                    )
            got = await conn.exchange(es_handshake.request(version), probe.budget.share(1.0))
        finally:
            conn.abort()
        answer = es_handshake.parse_response(got.data or b"")
        if answer is None:
            seen.append(f"Elasticsearch's TCP handshake (format {version}) got no readable answer")
            continue
        seen.append(answer.describe())
        if not answer.error:
            probe.remote["version"] = answer.release or f"transport {answer.transport_version}"
        break
    return tuple(seen)
