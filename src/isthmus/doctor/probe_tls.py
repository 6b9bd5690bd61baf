"""The probe's TLS stage: the remote's chain verified by the doctor, then the client's own TLS.

The chain the remote sent (read without verification in the protocol stage) is verified by
:mod:`isthmus.doctor.tls_check` against what the client's context trusts and against each
candidate CA file of either side; then a real handshake with the client's own context (its
certificate, its checks) shows whether the remote requires a client certificate and accepts the
client's, told apart by the alert the remote sends with and without one. A port that only
opened once the client's certificate was sent is identified here, as the protocol stage would
have.
"""

from __future__ import annotations

import datetime as dt
import ssl

from cryptography import x509

from isthmus.doctor.model import Confidence, Stage
from isthmus.doctor.port_identity import (
    PING,
    PortIdentity,
    PortKind,
    Reply,
    classify_reply,
    port_verdict,
)
from isthmus.doctor.probe import Probe, ProbeTarget
from isthmus.doctor.probe_connection import ProbeConnection
from isthmus.doctor.probe_protocol import CERTIFICATE_ALERTS, read_profile
from isthmus.doctor.tls_check import TrustSource, verify_chain
from isthmus.errors import IsthmusError
from isthmus.remote.security_model import SecurityModel

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
        now = dt.datetime.now(dt.UTC)
        verdict = verify_chain(
            probe.chain,
            _trusted(ctx),
            host=t.host,
            server_name=t.server_name,
            check_hostname=ctx.check_hostname,
            now=now + dt.timedelta(seconds=t.local_clock_offset or 0.0),
            clock="this machine's clock"
            if t.local_clock_offset is None
            else "the local cluster's clock",
            remote_now=None
            if t.remote_clock_offset is None
            else now + dt.timedelta(seconds=t.remote_clock_offset),
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
    elif alert in CERTIFICATE_ALERTS:
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
    profile = await read_profile(probe, conn, echoed[len(PING) :], details)
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
