"""What the doctor concludes, as values: stages, findings, verdicts, reports.  [no I/O]

The doctor checks a remote alias stage by stage, in the order a connection is made:
configuration → DNS → TCP → protocol → TLS → handshake → authentication → authorization → data.
The first stage that fails is the verdict; later stages are "not reached". A stage whose evidence
cannot decide between causes is *undecided*: its finding lists the candidate causes and the
evidence that would tell them apart, and never picks one.

Everything here is plain data with ``to_json``/``from_json`` so that a report can be printed,
written as ``--json``, kept in a bundle and compared in tests. Cause codes are documented (with
their fix) in ``docs/doctor.md`` and listed in :mod:`isthmus.doctor.causes`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Stage(enum.StrEnum):
    CONFIGURATION = "configuration"
    DNS = "dns"
    TCP = "tcp"
    PROTOCOL = "protocol"
    TLS = "tls"
    HANDSHAKE = "handshake"
    AUTHENTICATION = "authentication"
    AUTHORIZATION = "authorization"
    DATA = "data"

    @property
    def order(self) -> int:
        return STAGES.index(self)


STAGES: tuple[Stage, ...] = tuple(Stage)


class Side(enum.StrEnum):
    """Where the fault is (and so where the fix goes)."""

    LOCAL = "local"  # the querying cluster
    REMOTE = "remote"  # the cluster the alias points at
    BOTH = "both"
    NETWORK = "network"  # between them: DNS, routes, firewalls, proxies
    UNKNOWN = "unknown"


class Confidence(enum.StrEnum):
    CERTAIN = "certain"  # the evidence names the cause (an error type, a TLS alert, a probe)
    LIKELY = "likely"  # the evidence fits this cause and the alternatives were ruled out
    POSSIBLE = "possible"  # one of several candidates; see ``candidates``


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    UNDECIDED = "undecided"  # evidence points at this stage but cannot name the cause
    NOT_REACHED = "not_reached"  # an earlier stage failed
    NOT_CHECKED = "not_checked"  # no evidence for this stage at this evidence level


class Status(enum.StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Evidence:
    """One fact the doctor used: where it came from and what it said (secrets redacted)."""

    source: str  # e.g. "local GET /_remote/info", "probe tcp 127.0.0.1:9443", "remote log"
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "detail": self.detail}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Evidence:
        return cls(str(raw["source"]), str(raw["detail"]))


@dataclass(frozen=True)
class Fix:
    """What to do: a sentence, and copyable steps (settings JSON, keystore commands, the reload
    call, certificate commands), in the order to run them."""

    summary: str
    steps: tuple[str, ...] = ()
    side: Side = Side.UNKNOWN  # where to run the steps

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary, "steps": list(self.steps), "side": self.side.value}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Fix:
        return cls(
            str(raw["summary"]), tuple(raw.get("steps", ())), Side(raw.get("side", "unknown"))
        )


@dataclass(frozen=True)
class Finding:
    """One diagnosed fault (or, with ``candidates``, a stage the evidence cannot decide)."""

    stage: Stage
    cause: str  # a code from isthmus.doctor.causes
    side: Side
    message: str  # the cause in plain words, naming the alias, address and node
    nodes: tuple[str, ...] = ()  # the nodes at fault (local node names, remote addresses)
    fix: Fix | None = None
    evidence: tuple[Evidence, ...] = ()
    confidence: Confidence = Confidence.CERTAIN
    # When undecided: the possible causes, and what evidence would decide between them.
    candidates: tuple[str, ...] = ()
    would_decide: tuple[str, ...] = ()
    ruled_out: tuple[str, ...] = ()  # causes the evidence excluded

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage.value,
            "cause": self.cause,
            "side": self.side.value,
            "message": self.message,
            "nodes": list(self.nodes),
            "fix": self.fix.to_json() if self.fix is not None else None,
            "evidence": [e.to_json() for e in self.evidence],
            "confidence": self.confidence.value,
            "candidates": list(self.candidates),
            "would_decide": list(self.would_decide),
            "ruled_out": list(self.ruled_out),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Finding:
        fix = raw.get("fix")
        return cls(
            stage=Stage(raw["stage"]),
            cause=str(raw["cause"]),
            side=Side(raw["side"]),
            message=str(raw["message"]),
            nodes=tuple(raw.get("nodes", ())),
            fix=Fix.from_json(fix) if fix else None,
            evidence=tuple(Evidence.from_json(e) for e in raw.get("evidence", ())),
            confidence=Confidence(raw.get("confidence", "certain")),
            candidates=tuple(raw.get("candidates", ())),
            would_decide=tuple(raw.get("would_decide", ())),
            ruled_out=tuple(raw.get("ruled_out", ())),
        )


@dataclass(frozen=True)
class StageResult:
    stage: Stage
    outcome: Outcome
    findings: tuple[Finding, ...] = ()
    evidence: tuple[Evidence, ...] = ()  # what showed the stage passed (or was looked at)

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage.value,
            "outcome": self.outcome.value,
            "findings": [f.to_json() for f in self.findings],
            "evidence": [e.to_json() for e in self.evidence],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> StageResult:
        return cls(
            Stage(raw["stage"]),
            Outcome(raw["outcome"]),
            tuple(Finding.from_json(f) for f in raw.get("findings", ())),
            tuple(Evidence.from_json(e) for e in raw.get("evidence", ())),
        )


@dataclass(frozen=True)
class AliasVerdict:
    """The doctor's verdict on one remote alias: every stage's outcome, in order."""

    alias: str
    stages: tuple[StageResult, ...]
    warnings: tuple[Finding, ...] = ()  # not blocking now (a key expiring soon, say)

    @classmethod
    def from_stages(
        cls, alias: str, results: Iterable[StageResult], warnings: Iterable[Finding] = ()
    ) -> AliasVerdict:
        """Stages in order; everything after the first failed or undecided stage is marked not
        reached, whatever its checker said."""
        by_stage = {r.stage: r for r in results}
        out: list[StageResult] = []
        stopped = False
        for stage in STAGES:
            result = by_stage.get(stage, StageResult(stage, Outcome.NOT_CHECKED))
            if stopped:
                result = StageResult(stage, Outcome.NOT_REACHED)
            elif result.outcome in (Outcome.FAILED, Outcome.UNDECIDED):
                stopped = True
            out.append(result)
        return cls(alias, tuple(out), tuple(warnings))

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for r in self.stages for f in r.findings)

    @property
    def failed_stage(self) -> StageResult | None:
        for result in self.stages:
            if result.outcome in (Outcome.FAILED, Outcome.UNDECIDED):
                return result
        return None

    @property
    def status(self) -> Status:
        failed = self.failed_stage
        if failed is not None:
            return Status.RED
        if self.warnings:
            return Status.YELLOW
        if all(r.outcome is Outcome.NOT_CHECKED for r in self.stages):
            return Status.UNKNOWN
        return Status.GREEN

    @property
    def decided(self) -> bool:
        failed = self.failed_stage
        return failed is None or failed.outcome is Outcome.FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "status": self.status.value,
            "findings": [f.to_json() for f in self.findings],
            "warnings": [f.to_json() for f in self.warnings],
            "stages": [r.to_json() for r in self.stages],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AliasVerdict:
        return cls(
            str(raw["alias"]),
            tuple(StageResult.from_json(r) for r in raw["stages"]),
            tuple(Finding.from_json(f) for f in raw.get("warnings", ())),
        )


@dataclass(frozen=True)
class Report:
    """The doctor's report: one verdict per alias, and what it knew about each side."""

    aliases: tuple[AliasVerdict, ...]
    local: Mapping[str, Any] = field(default_factory=dict)  # cluster name, uuid, version, url
    remote: Mapping[str, Any] = field(default_factory=dict)
    evidence_level: tuple[str, ...] = ()  # "local_rest", "local_files", "probe", "remote"

    @property
    def exit_code(self) -> int:
        """0 healthy, 1 a fault was found, 2 the doctor could not decide."""
        if any(not v.decided for v in self.aliases):
            return 2
        if any(v.status is Status.RED for v in self.aliases):
            return 1
        return 0

    def to_json(self) -> dict[str, Any]:
        return {
            "local": dict(self.local),
            "remote": dict(self.remote),
            "evidence_level": list(self.evidence_level),
            "exit_code": self.exit_code,
            "aliases": {v.alias: v.to_json() for v in self.aliases},
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Report:
        return cls(
            tuple(AliasVerdict.from_json(v) for v in raw["aliases"].values()),
            raw.get("local", {}),
            raw.get("remote", {}),
            tuple(raw.get("evidence_level", ())),
        )
