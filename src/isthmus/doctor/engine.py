"""The doctor's engine: evidence in, one verdict per alias out.  [no I/O]

For each alias, every source of evidence gives stage results — the REST rules
(:mod:`rules_config`, :mod:`rules_connect`, :mod:`rules_security`), the active probes and the
log analysis (computed by the caller, passed in as ``extra``) — and :func:`merge` keeps, per
stage, the strongest statement: a failure over an undecided finding, a certain failure over a
likely one, the earlier source on a tie. An undecided finding is dropped when another source
saw that stage pass or a failure at that stage (a probe that connected beats "connected:
false"). :meth:`AliasVerdict.from_stages` then marks everything after the first failing stage
as not reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from isthmus.doctor.evidence import SideEvidence
from isthmus.doctor.model import (
    STAGES,
    AliasVerdict,
    Confidence,
    Evidence,
    Finding,
    Outcome,
    Report,
    Stage,
    StageResult,
)
from isthmus.doctor.rules_config import check_configuration
from isthmus.doctor.rules_connect import check_connection
from isthmus.doctor.rules_context import AliasContext
from isthmus.doctor.rules_security import check_authentication, check_authorization, check_data
from isthmus.doctor.rules_versions import version_notes

_RANK = {Confidence.CERTAIN: 0, Confidence.LIKELY: 1, Confidence.POSSIBLE: 2}


def rest_results(ctx: AliasContext) -> tuple[list[StageResult], list[Finding]]:
    """The REST rules for one alias, in stage order; later stages only when earlier ones did
    not fail (their evidence would be about a connection that does not exist)."""
    config, warnings = check_configuration(ctx)
    notes = version_notes(ctx)
    config = replace(config, evidence=(*config.evidence, *notes))
    results = [config]
    if config.outcome is Outcome.FAILED:
        return results, warnings
    connection = check_connection(ctx)
    results += connection
    if any(r.outcome in (Outcome.FAILED, Outcome.UNDECIDED) for r in connection):
        return results, warnings
    authn, more = check_authentication(ctx)
    warnings += more
    if authn is not None:
        return [*results, authn], warnings
    if connection:  # the connection worked: the remote accepted who we are
        results.append(
            StageResult(
                Stage.AUTHENTICATION,
                Outcome.PASSED,
                evidence=(
                    Evidence(
                        "local",
                        "cross-cluster API key accepted"
                        if ctx.has_credentials
                        else "certificate model: the transport identity was accepted",
                    ),
                ),
            )
        )
    authz = check_authorization(ctx)
    if authz is not None:
        return [*results, authz], warnings
    data = check_data(ctx)
    if data is not None:
        if data.outcome is Outcome.PASSED:
            results.append(StageResult(Stage.AUTHORIZATION, Outcome.PASSED, evidence=data.evidence))
        results.append(data)
    return results, warnings


# Undecided findings about the port and the model: settled only by evidence that rules the other
# candidates out (the remote's _nodes, a log line naming the profile), never by a probe that
# merely failed or passed a stage both candidates share.
PORT_QUESTIONS = frozenset(
    {"transport_port_with_credentials", "remote_cluster_port_without_credentials", "http_port"}
)


def merge(sources: Sequence[Sequence[StageResult]]) -> list[StageResult]:
    """One result per stage from several sources (earlier sources win ties).

    Per stage: a failure beats an undecided finding and a pass; among failures the strongest
    confidence wins, and the same cause from several sources is one finding with their
    evidence joined and the best confidence. An undecided finding stays only where nothing
    decided its stage, except an open port question (``PORT_QUESTIONS``), which stays until a
    finding rules its candidates out.
    """
    every = [r for source in sources for r in source]
    ruled = {c for r in every for f in r.findings for c in f.ruled_out}
    # A port cause a source states for certain (a probe that identified the port) answers it.
    ruled |= {
        f.cause
        for r in every
        if r.outcome is Outcome.FAILED
        for f in r.findings
        if f.cause in PORT_QUESTIONS and f.confidence is Confidence.CERTAIN
    }
    sticky = [
        r
        for r in every
        if r.outcome is Outcome.UNDECIDED
        and any(set(f.candidates) & PORT_QUESTIONS - ruled for f in r.findings)
    ]
    stop = min((r.stage.order for r in sticky), default=len(STAGES))
    by_stage: dict[Stage, list[StageResult]] = {s: [] for s in STAGES}
    for result in every:
        by_stage[result.stage].append(result)
    first_failure = min(
        (s.order for s, rs in by_stage.items() if any(r.outcome is Outcome.FAILED for r in rs)),
        default=len(STAGES),
    )
    out: list[StageResult] = []
    for stage in STAGES:
        if stage.order > stop:
            break
        results = by_stage[stage]
        fails = [r for r in results if r.outcome is Outcome.FAILED]
        if stage.order == stop:  # the open port question is this stage's verdict
            out.append(next(r for r in sticky if r.stage is stage))
            continue
        if fails:
            out.append(_joined(fails))
            continue
        passes = [r for r in results if r.outcome is Outcome.PASSED]
        open_ = [r for r in results if r.outcome is Outcome.UNDECIDED]
        if open_ and not passes and stage.order < first_failure:
            out.append(open_[0])
        elif passes:
            evidence = tuple(e for r in passes for e in r.evidence)
            out.append(StageResult(stage, Outcome.PASSED, (), evidence))
    return out


def _strength(result: StageResult) -> int:
    return min((_RANK[f.confidence] for f in result.findings), default=3)


def _joined(fails: list[StageResult]) -> StageResult:
    """The strongest failure; corroborated by the others naming the same cause."""
    best = min(fails, key=_strength)
    if not best.findings:
        return best
    code = best.findings[0].cause
    same = [r for r in fails if r.findings and r.findings[0].cause == code]
    first = same[0]  # the earliest source states the cause (its side, nodes and fix)
    finding = replace(
        first.findings[0],
        confidence=best.findings[0].confidence,
        evidence=tuple(dict.fromkeys(e for r in same for e in r.findings[0].evidence)),
    )
    return StageResult(first.stage, Outcome.FAILED, (finding, *first.findings[1:]), first.evidence)


def diagnose(
    local: SideEvidence,
    remote: SideEvidence | None,
    *,
    aliases: Sequence[str] = (),
    index: str = "*",
    now: datetime,
    extra: Mapping[str, Sequence[Sequence[StageResult]]] | None = None,
    evidence_level: Sequence[str] = ("local_rest",),
) -> Report:
    """The report for ``aliases`` (default: every alias the local cluster knows)."""
    verdicts = []
    for alias in aliases or local.aliases:
        ctx = AliasContext.build(alias, index, local, remote, now)
        rest, warnings = rest_results(ctx)
        stages = merge([rest, *((extra or {}).get(alias, ()))])
        verdicts.append(AliasVerdict.from_stages(alias, stages, warnings))
    return Report(
        tuple(verdicts),
        _describe(local),
        _describe(remote) if remote is not None else {},
        tuple(evidence_level),
    )


def _describe(side: SideEvidence) -> dict[str, object]:
    version = side.version
    return {
        "url": side.url,
        "cluster_name": side.cluster_name,
        "cluster_uuid": side.cluster_uuid,
        "version": ".".join(map(str, version)) if version else None,
    }
