"""The doctor's active probe: one address of one alias, checked stage by stage.

:func:`probe_remote` does what a connection does, one stage at a time, and stops at the first
stage that fails: DNS (every A/AAAA record) → TCP (refused, black-holed, reset or closed at once,
told apart by errno and timing) → protocol (what answers: TLS or plaintext, Elasticsearch
transport, the remote cluster server, HTTP, something else, nothing; and whether the alias's
model can use it) → TLS (the chain verified by the doctor itself, the client certificate) →
handshake (the transport handshake, or the API-key model's remote cluster handshake) →
authentication (what the remote said of the credential). Each stage is a
:class:`~isthmus.doctor.model.StageResult` with its evidence; the first failed stage carries the
finding, later ones are not reached. In sniff mode the handshake's node list gives the addresses
the gateways advertise, where the local nodes connect after the seed: each is connected to (TCP),
and one that cannot be reached fails the TCP stage (``advertised_address_unreachable``) although
the seed's own connection worked. The whole probe is bounded by ``target.timeout``.

The DNS and TCP stages live in :mod:`~isthmus.doctor.probe_network`; the protocol, TLS,
handshake and authentication stages in :mod:`~isthmus.doctor.probe_protocol`,
:mod:`~isthmus.doctor.probe_tls` and :mod:`~isthmus.doctor.probe_handshake`; what
the bytes, the certificates and the errors mean is decided by the pure modules
(:mod:`~isthmus.doctor.port_identity`, :mod:`~isthmus.doctor.tls_check`,
:mod:`~isthmus.doctor.handshake_errors`). Nothing a probe reports carries a secret.

What it cannot tell, and says so rather than guess:

* against Elasticsearch, the port (transport, TLS or not, HTTP, ...) and TLS are fully checked
  and ES's TCP handshake gives the node's version, but the handshake and authentication stages
  are *not checked*: they speak Isthmus's framing; the profile of an ES port (transport vs remote
  cluster server) is not read either (a port that demands a client certificate is said to look
  like a transport port);
* a server that sends its leaf certificate without the issuer, to a client that does not trust
  that issuer, is an untrusted CA *or* a missing intermediate until a candidate CA file shows
  the issuer (the TLS stage is then undecided);
* the probe sees this machine's clock; the clusters' clocks only when the caller passes their
  offsets;
* a connection that works now and breaks later (idle cuts, flapping) looks healthy to a probe.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isthmus.doctor.causes import cause as cause_of
from isthmus.doctor.model import (
    Confidence,
    Evidence,
    Finding,
    Outcome,
    Side,
    Stage,
    StageResult,
)
from isthmus.doctor.port_identity import PortIdentity
from isthmus.doctor.probe_connection import ProbeConnection
from isthmus.remote.security_model import SecurityModel
from isthmus.settings.secret import REDACTED, Secret

if TYPE_CHECKING:
    from cryptography import x509


@dataclass(frozen=True)
class ProbeTarget:
    """One address of one alias, and what the local side would use to connect to it."""

    alias: str
    host: str
    port: int
    server_name: str | None = None
    model: SecurityModel = SecurityModel.CERTIFICATE
    client_ssl: ssl.SSLContext | None = None  # None: the client speaks plaintext
    candidate_cas: tuple[Path, ...] = ()  # CA files from either side's configuration
    credential: Secret | None = None  # the API-key model's cross-cluster key
    local_cluster_name: str = "isthmus-doctor"
    timeout: float = 5.0
    # How far each cluster's clock is ahead of this machine's, in seconds, when the caller knows
    # it (the Date header of each side's REST answers): certificate dates are then checked by
    # the local cluster's clock and compared with the remote's.
    local_clock_offset: float | None = None
    remote_clock_offset: float | None = None
    # What the fixes name when the caller knows it: the alias's mode, the remote's own
    # addresses for the alias's security model (its _nodes), the index searched.
    mode: str | None = None
    remote_addresses: tuple[str, ...] = ()
    index: str | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class ProbeReport:
    """The stages of one probe, in order, and the remote it reached."""

    alias: str
    address: str
    stages: tuple[StageResult, ...]
    remote_cluster_name: str | None = None
    remote_cluster_uuid: str | None = None
    remote_version: str | None = None
    remote_node: str | None = None
    elapsed: float = 0.0
    # The remote's nodes as node discovery lists them ("name@publish_address"): the addresses
    # the local nodes must reach in sniff mode (empty when not asked or refused).
    remote_nodes: tuple[str, ...] = ()

    @property
    def failed(self) -> StageResult | None:
        return next(
            (r for r in self.stages if r.outcome in (Outcome.FAILED, Outcome.UNDECIDED)), None
        )

    def stage(self, stage: Stage) -> StageResult:
        return next(r for r in self.stages if r.stage is stage)

    def to_json(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "address": self.address,
            "stages": [r.to_json() for r in self.stages],
            "remote": {
                "cluster_name": self.remote_cluster_name,
                "cluster_uuid": self.remote_cluster_uuid,
                "version": self.remote_version,
                "node": self.remote_node,
                "nodes": list(self.remote_nodes),
            },
            "elapsed_seconds": round(self.elapsed, 3),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ProbeReport:
        """The report :meth:`to_json` wrote (a bundle keeps probes this way)."""
        remote = raw.get("remote") or {}
        return cls(
            alias=str(raw["alias"]),
            address=str(raw["address"]),
            stages=tuple(StageResult.from_json(r) for r in raw["stages"]),
            remote_cluster_name=remote.get("cluster_name"),
            remote_cluster_uuid=remote.get("cluster_uuid"),
            remote_version=remote.get("version"),
            remote_node=remote.get("node"),
            elapsed=float(raw.get("elapsed_seconds", 0.0)),
            remote_nodes=tuple(remote.get("nodes") or ()),
        )


class Budget:
    """The probe's deadline: every wait takes at most what is left."""

    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def left(self) -> float:
        return max(self._deadline - time.monotonic(), 0.0)

    def share(self, cap: float, parts: int = 1) -> float:
        return max(min(cap, self.left() / parts), 0.0)


@dataclass
class Probe:
    """The state of one probe run: what each stage found and what later stages need."""

    target: ProbeTarget
    budget: Budget
    results: dict[Stage, StageResult] = field(default_factory=dict)
    addresses: tuple[str, ...] = ()
    conn: ProbeConnection | None = None
    port: PortIdentity | None = None
    chain: tuple[x509.Certificate, ...] = ()  # what the remote sent, unverified
    no_certificate_alert: str | None = None  # how it refused a client without a certificate
    remote: dict[str, str | None] = field(default_factory=dict)
    gateways: tuple[str, ...] = ()

    def source(self, stage: Stage) -> str:
        return f"probe {stage.value} {self.target.address}"

    def evidence(self, stage: Stage, *details: str) -> tuple[Evidence, ...]:
        return tuple(Evidence(self.source(stage), self.redact(d)) for d in details)

    def redact(self, text: str) -> str:
        """``text`` without the credential or its secret, whatever a remote echoed back (no
        remote is known to, but no output of the doctor may carry a secret)."""
        secret = self.target.credential
        if secret is None:
            return text
        for value in _secret_forms(secret.reveal()):
            text = text.replace(value, REDACTED)
        return text

    def passed(self, stage: Stage, *details: str) -> None:
        self.results[stage] = StageResult(stage, Outcome.PASSED, (), self.evidence(stage, *details))

    def not_checked(self, stage: Stage, *details: str) -> None:
        self.results[stage] = StageResult(
            stage, Outcome.NOT_CHECKED, (), self.evidence(stage, *details)
        )

    def fail(
        self,
        stage: Stage,
        code: str,
        message: str,
        *details: str,
        confidence: Confidence = Confidence.CERTAIN,
        ruled_out: tuple[str, ...] = (),
        nodes: tuple[str, ...] = (),
        seed: str | None = None,
    ) -> None:
        """``nodes``: the remote nodes at fault when known (else the probed address);
        ``seed``: for an advertised address, the seed that answered (the fix dials it)."""
        from isthmus.doctor.probe_fixes import fix_for

        known = cause_of(code)
        evidence = self.evidence(stage, *details)
        fix = fix_for(code, self.target)
        if code == "advertised_address_unreachable":
            from isthmus.doctor.advertised import advertised_fix

            api_key = self.target.model is SecurityModel.API_KEY
            node = nodes[0] if nodes else None
            fix = advertised_fix(self.target.alias, api_key=api_key, seed=seed, node=node)
        finding = Finding(
            stage=stage,
            cause=code,
            side=known.side,
            message=self.redact(f"[{self.target.alias}] {self.target.address}: {message}"),
            nodes=nodes or (self.target.address,),
            fix=fix,
            evidence=evidence,
            confidence=confidence,
            ruled_out=ruled_out,
        )
        self.results[stage] = StageResult(stage, Outcome.FAILED, (finding,), evidence)

    def undecided(
        self,
        stage: Stage,
        message: str,
        candidates: tuple[str, ...],
        would_decide: tuple[str, ...],
        *details: str,
    ) -> None:
        evidence = self.evidence(stage, *details)
        finding = Finding(
            stage=stage,
            cause=candidates[0] if candidates else "undecided",
            side=cause_of(candidates[0]).side if candidates else Side.UNKNOWN,
            message=self.redact(f"[{self.target.alias}] {self.target.address}: {message}"),
            nodes=(self.target.address,),
            evidence=evidence,
            confidence=Confidence.POSSIBLE,
            candidates=candidates,
            would_decide=would_decide,
        )
        self.results[stage] = StageResult(stage, Outcome.UNDECIDED, (finding,), evidence)

    @property
    def stopped(self) -> bool:
        return any(r.outcome in (Outcome.FAILED, Outcome.UNDECIDED) for r in self.results.values())


def _secret_forms(encoded: str) -> tuple[str, ...]:
    """The encoded credential and the secret inside it (``base64(id:secret)``)."""
    import base64
    import binascii

    forms = [encoded]
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return tuple(forms)
    forms.append(decoded)
    secret = decoded.partition(":")[2]
    if len(secret) >= 8:  # a short fragment could match innocent text; real secrets are 22
        forms.append(secret)
    return tuple(f for f in forms if f)


def _stages(target: ProbeTarget) -> tuple[Stage, ...]:
    stages: tuple[Stage, ...] = (Stage.DNS, Stage.TCP, Stage.PROTOCOL, Stage.TLS, Stage.HANDSHAKE)
    if target.credential is not None or target.model is SecurityModel.API_KEY:
        stages += (Stage.AUTHENTICATION,)
    return stages


async def probe_remote(target: ProbeTarget) -> ProbeReport:
    """Probe ``target`` stage by stage within ``target.timeout`` seconds (see the module doc)."""
    from isthmus.doctor.probe_handshake import handshake
    from isthmus.doctor.probe_network import advertised, dns, tcp
    from isthmus.doctor.probe_protocol import protocol
    from isthmus.doctor.probe_tls import tls

    started = time.monotonic()
    probe = Probe(target, Budget(target.timeout))
    steps = (
        (Stage.DNS, dns),
        (Stage.TCP, tcp),
        (Stage.PROTOCOL, protocol),
        (Stage.TLS, tls),
        (Stage.HANDSHAKE, handshake),
    )
    try:
        # A safety net only: every wait inside takes its share of the budget.
        async with asyncio.timeout(target.timeout + 0.5):
            for stage, step in steps:
                if probe.stopped:
                    break
                await step(probe)
                if stage not in probe.results:  # pragma: no cover - every step records itself
                    probe.not_checked(stage, "not probed")
            if not probe.stopped:  # sniff mode: the gateways' advertised addresses
                await advertised(probe)
    except TimeoutError:
        probe.undecided(
            _current(probe),
            f"the probe ran out of its {target.timeout:g}s at this stage",
            (),
            ("a probe with a longer timeout",),
        )
    except OSError as exc:
        # A later connection of the same probe failed where the first one had worked.
        name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        probe.undecided(
            _current(probe),
            f"a further connection to the address failed ({name}) after the first had worked",
            ("connection_unreliable",),
            ("the same probe again, and the remote's log for this time",),
            f"a connection of this stage failed with {name}",
        )
    finally:
        if probe.conn is not None:
            probe.conn.abort()
    return _report(probe, time.monotonic() - started)


def _current(probe: Probe) -> Stage:
    """The stage that was running: the first of the probe's stages without a result."""
    return next((s for s in _stages(probe.target) if s not in probe.results), Stage.HANDSHAKE)


def _report(probe: Probe, elapsed: float) -> ProbeReport:
    out: list[StageResult] = []
    stopped = False
    for stage in _stages(probe.target):
        result = probe.results.get(stage)
        if stopped:
            result = StageResult(stage, Outcome.NOT_REACHED)
        elif result is None:
            result = StageResult(stage, Outcome.NOT_CHECKED)
        elif result.outcome in (Outcome.FAILED, Outcome.UNDECIDED):
            stopped = True
        out.append(result)
    return ProbeReport(
        alias=probe.target.alias,
        address=probe.target.address,
        stages=tuple(out),
        remote_cluster_name=probe.remote.get("cluster_name"),
        remote_cluster_uuid=probe.remote.get("cluster_uuid"),
        remote_version=probe.remote.get("version"),
        remote_node=probe.remote.get("node"),
        elapsed=elapsed,
        remote_nodes=probe.gateways,
    )
