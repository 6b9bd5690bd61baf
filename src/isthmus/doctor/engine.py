"""The doctor's engine: evidence in, one verdict per alias out.  [no I/O]

For each alias, every source of evidence gives stage results — the REST rules
(:mod:`rules_config`, :mod:`rules_connect`, :mod:`rules_security`), the active probes and the
log analysis (computed by the caller, passed in as ``extra``) — and :func:`merge` keeps, per
stage, the strongest statement: a failure over an undecided finding, a certain failure over a
likely one, the earlier source on a tie. An undecided finding is dropped when another source
saw that stage pass or a failure at that stage (a probe that connected beats "connected:
false" at that stage), but never all of them: when the local cluster's own answers show the
alias failing, the verdict is not green (:func:`still_failing`). :meth:`AliasVerdict.from_stages`
then marks everything after the first failing stage as not reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from isthmus.doctor.advertised import applies
from isthmus.doctor.evidence import SideEvidence
from isthmus.doctor.model import (
    STAGES,
    AliasVerdict,
    Confidence,
    Evidence,
    Finding,
    Outcome,
    Report,
    Side,
    Stage,
    StageResult,
)
from isthmus.doctor.rules_config import check_configuration
from isthmus.doctor.rules_connect import check_connection
from isthmus.doctor.rules_context import AliasContext
from isthmus.doctor.rules_health import HealthFacts, check_health
from isthmus.doctor.rules_privileges import filtered_by
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
            hidden = tuple(filtered_by(ctx))
            results.append(
                StageResult(Stage.AUTHORIZATION, Outcome.PASSED, evidence=(*data.evidence, *hidden))
            )
        results.append(data)
    return results, warnings


# Undecided findings about the port and the model: settled only by evidence that rules the other
# candidates out (the remote's _nodes, a log line naming the profile), never by a probe that
# merely failed or passed a stage both candidates share.
PORT_QUESTIONS = frozenset(
    {"transport_port_with_credentials", "remote_cluster_port_without_credentials", "http_port"}
)


# Where a probe that went through outweighs a log line read as a failure: it saw the name
# resolve and the TCP connection open. (A protocol or TLS "pass" of the probe says less.)
OBSERVED = frozenset({Stage.DNS, Stage.TCP})
PROBE_STAGES = {s: 1 for s in (Stage.DNS, Stage.TCP, Stage.PROTOCOL, Stage.TLS)}


def merge(
    sources: Sequence[Sequence[StageResult]], prefer: Mapping[Stage, int] | None = None
) -> list[StageResult]:
    """One result per stage from several sources (earlier sources win ties).

    Per stage: a failure beats an undecided finding and a pass; among failures the strongest
    confidence wins, and the same cause from several sources is one finding with their
    evidence joined and the best confidence. An undecided finding stays only where nothing
    decided its stage, except an open port question (``PORT_QUESTIONS``), which stays until a
    finding rules its candidates out. ``prefer`` names, per stage, the source that wins ties
    (the probe, which observes the connection stages instead of reading about them).
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
    for index, source in enumerate(sources):
        for result in source:
            bucket = by_stage[result.stage]
            if (prefer or {}).get(result.stage) == index:
                bucket.insert(0, result)
            else:
                bucket.append(result)
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
        observer = (prefer or {}).get(stage)
        if observer is not None and observer < len(sources) and stage in OBSERVED:
            seen = [r for r in sources[observer] if r.stage is stage]
            told = {id(r) for r in sources[0]} if sources else set()
            if any(r.outcome is Outcome.PASSED for r in seen):
                # The probe went through this stage: a log line read as its failure (ES's
                # connect_timeout covers the handshake too) does not outweigh that; the local
                # node's own error texts (the REST rules) still do.
                fails = [r for r in fails if id(r) in told]
        if stage.order == stop:  # the open port question is this stage's verdict
            out.append(next(r for r in sticky if r.stage is stage))
            continue
        if fails:
            out.append(_joined(fails, {id(r) for r in sources[0]} if sources else set()))
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


def _joined(fails: list[StageResult], rest: set[int]) -> StageResult:
    """The strongest failure; corroborated by the others naming the same cause."""
    best = min(fails, key=_strength)
    if not best.findings:
        return best
    code = best.findings[0].cause
    same = [r for r in fails if r.findings and r.findings[0].cause == code]
    # The REST rules' statement of a cause, when they made it, gives the side, nodes and fix:
    # they know the configuration around it (which addresses the remote publishes, which
    # trust setting applies); the other sources corroborate.
    first = next((r for r in same if id(r) in rest), same[0])
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
    since: datetime | None = None,
) -> Report:
    """The report for ``aliases`` (default: every alias the local cluster knows); ``since``:
    what happened before it is not evidence (the user's ``--since``)."""
    verdicts = []
    for alias in aliases or local.aliases:
        ctx = AliasContext.build(alias, index, local, remote, now)
        rest, warnings = rest_results(ctx)
        health = check_health(ctx, since)
        # The probe (the first extra source) observes the connection stages directly; the
        # node's own health comes last: the others name a cause more finely on a tie.
        sources = [rest, *((extra or {}).get(alias, ())), list(health.stages)]
        stages = merge(sources, PROBE_STAGES)
        stages = still_failing(ctx, rest, stages)
        stages = [_with_nodes(ctx, _with_authentication(r, health)) for r in stages]
        noted = _warnings(warnings, health, stages)
        named = [f for w in noted for f in _with_nodes(ctx, _holder(w)).findings]
        verdicts.append(AliasVerdict.from_stages(alias, stages, named))
    return Report(
        tuple(verdicts),
        _describe(local),
        _describe(remote) if remote is not None else {},
        tuple(evidence_level),
    )


def still_failing(
    ctx: AliasContext, rest: Sequence[StageResult], stages: list[StageResult]
) -> list[StageResult]:
    """The invariant: when the local cluster's own answers show the alias failing, the verdict
    is never green. The other sources may decide the cause, never undo the failure: a probe
    from the doctor's machine that gets through says only that *this machine* reaches the
    address (the seed, in sniff mode); the local nodes still do not. So when no stage is left
    failing, the REST rules' own failing stage comes back, undecided, with what the probe saw
    and what would decide (the local nodes' network position, the addresses the remote
    advertises in sniff mode)."""
    if any(r.outcome in (Outcome.FAILED, Outcome.UNDECIDED) for r in stages):
        return stages
    failing = next((r for r in rest if r.outcome in (Outcome.FAILED, Outcome.UNDECIDED)), None)
    if failing is None or not failing.findings:
        return stages
    first, *more = failing.findings
    seen = [e for r in stages if r.stage is failing.stage for e in r.evidence]
    sniff = applies(ctx)
    candidates = tuple(
        dict.fromkeys(
            (
                *(first.candidates or (first.cause,)),
                *(("advertised_address_unreachable",) if sniff else ()),
                "tcp_timeout",
            )
        )
    )
    note = Evidence(
        "doctor",
        f"the doctor's own checks got through [{failing.stage}] from this machine, but the "
        f"local cluster's connections for [{ctx.alias}] fail: what differs is the path from the "
        "local nodes (their network position, a firewall on their side"
        + (", or in sniff mode the addresses the remote advertises" if sniff else "")
        + ")",
    )
    finding = replace(
        first,
        side=Side.UNKNOWN if first.candidates or sniff else first.side,
        evidence=tuple(dict.fromkeys((*first.evidence, *seen, note))),
        confidence=Confidence.POSSIBLE,
        candidates=candidates,
        would_decide=tuple(
            dict.fromkeys(
                (
                    *first.would_decide,
                    "the doctor run on a local node (the local nodes' network position)",
                    "the local cluster's log (--local-logs DIR): the address each attempt dialled",
                )
            )
        ),
    )
    kept = StageResult(failing.stage, Outcome.UNDECIDED, (finding, *more), failing.evidence)
    return [r for r in stages if r.stage.order < failing.stage.order] + [kept]


def _holder(warning: Finding) -> StageResult:
    """A warning as a stage result, so that the same node naming applies to it."""
    return StageResult(warning.stage, Outcome.PASSED, (warning,))


def _with_authentication(result: StageResult, health: HealthFacts) -> StageResult:
    """What is known of the key's expiry, on an authentication stage that passed."""
    if result.stage is not Stage.AUTHENTICATION or result.outcome is not Outcome.PASSED:
        return result
    return replace(result, evidence=(*result.evidence, *health.authentication))


def _warnings(
    warnings: Sequence[Finding], health: HealthFacts, stages: list[StageResult]
) -> list[Finding]:
    """The REST rules' warnings and the health's. A health warning whose cause a stage already
    states (the logs showed the closures the node counted) joins that finding's evidence."""
    out = list(warnings)
    for warning in health.warnings:
        at = next(
            (i for i, r in enumerate(stages) for f in r.findings if f.cause == warning.cause), None
        )
        if at is None:
            out.append(warning)
            continue
        first, *rest = stages[at].findings
        joined = tuple(dict.fromkeys((*first.evidence, *warning.evidence)))
        stages[at] = replace(stages[at], findings=(replace(first, evidence=joined), *rest))
    return out


def _with_nodes(ctx: AliasContext, result: StageResult) -> StageResult:
    """Name the nodes where the fix goes when a source named none (or only addresses): the
    remote's nodes behind the alias's address for a remote-side fault (all of them when the
    address is none of theirs; the address itself without the remote's evidence), else the
    local nodes that open remote connections (those with ``remote_cluster_client``)."""
    if not result.findings:
        return result
    findings = []
    for f in result.findings:
        names = tuple(n for n in f.nodes if not _is_address(n))
        if names:  # node names given: keep them (addresses stay in the message and evidence)
            findings.append(replace(f, nodes=names))
            continue
        if f.side in (Side.REMOTE, Side.BOTH):  # BOTH: the remote holds what is shown
            kind = ctx.address_kind()
            remote = kind[1] if kind is not None and kind[1] else _remote_names(ctx)
            nodes = tuple(remote) or f.nodes or ctx.addresses
        else:
            nodes = tuple(_client_nodes(ctx)) or f.nodes
        findings.append(replace(f, nodes=tuple(nodes)))
    return replace(result, findings=tuple(findings))


def _is_address(text: str) -> bool:
    host, _, port = text.rpartition(":")
    return bool(host) and port.isdigit()


def _remote_names(ctx: AliasContext) -> list[str]:
    if ctx.remote is None:
        return []
    return sorted(str(n.get("name")) for n in ctx.remote.nodes.values())


def _client_nodes(ctx: AliasContext) -> list[str]:
    """The local nodes with remote_cluster_client; without _nodes (a user who may not read it),
    the node names of the configuration directories given, else the node that answered GET /."""
    names = sorted(
        str(n.get("name"))
        for n in ctx.local.nodes.values()
        if "remote_cluster_client" in n.get("roles", [])
    )
    if names:
        return names
    names = sorted(
        {str(c.settings["node.name"]) for c in ctx.local.configs if c.settings.get("node.name")}
    )
    if names:
        return names
    root = ctx.local.body("GET /")
    return [str(root["name"])] if isinstance(root, Mapping) and root.get("name") else []


def _describe(side: SideEvidence) -> dict[str, object]:
    version = side.version
    return {
        "url": side.url,
        "cluster_name": side.cluster_name,
        "cluster_uuid": side.cluster_uuid,
        "version": ".".join(map(str, version)) if version else None,
    }
