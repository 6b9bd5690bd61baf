"""The two sides' log symptoms joined into the doctor's findings for one alias.  [no I/O]

Steps, each a plain function over values:

1. keep the lines in the window; read each side's symptoms (``log_symptoms``);
2. keep the local symptoms of this alias: lines that name it, and lines that name no alias
   but the address it dials (the trust and transport-layer lines name only the peer); drop
   failures older than the alias's last successful connection (that fault was fixed since);
3. join each local symptom to the remote lines that answer it: within ``JOIN_SLACK`` of each
   other, on the same socket (the remote's listening port is the dialled port; its peer is
   our end) and the same API key id when both name one. The remote's line decides what the
   local one cannot: its channel profile tells the transport port (``default``) from the
   remote cluster server (``_remote_cluster``), its ApiKeyAuthenticator reason tells an
   invalidated key from an expired or unknown one (``log_decide``). Agreement raises
   confidence; a remote that is expected to log nothing (the guide: "This does not show up in
   the logs of the remote cluster") is said to be silent, as expected;
4. the remote's own symptoms that no local line explains count when they can be tied to the
   alias (its port, its key id) or when the local side has nothing to say;
5. findings per cause, with the exact lines (redacted) as evidence, the nodes, the fix; a
   symptom whose lines fit several causes stays undecided with the evidence that would decide.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from isthmus.doctor.causes import cause as cause_info
from isthmus.doctor.log_decide import (
    JOIN_SLACK,
    Decision,
    decide,
    near,
    partners,
    remote_only,
    split_address,
)
from isthmus.doctor.log_fixes import FixFacts, fix_for
from isthmus.doctor.log_lines import LogLine
from isthmus.doctor.log_symptoms import Symptom, recognise
from isthmus.doctor.model import (
    Confidence,
    Evidence,
    Finding,
    Outcome,
    Side,
    Stage,
    StageResult,
)

MAX_LINES = 3  # evidence lines kept per side and finding
REDACTED = "::es_redacted::"


# --- secrets ------------------------------------------------------------------------------------

_SECRET_PATTERNS = (
    re.compile(r"(?i)\b(ApiKey|Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{8,}"),
    re.compile(r'(?i)("(?:api_key|encoded|password|secret|credentials)"\s*:\s*")[^"]*(")'),
    re.compile(r"(?i)\b((?:[\w.]*password|[\w.]*secret|[\w.]*credentials)\s*[=:]\s*)[^\s,;\]}]+"),
)
_BASE64 = re.compile(r"\b[A-Za-z0-9+/]{40,}={0,2}")


def _encoded_key(token: str) -> bool:
    """A cross-cluster credential: base64 of ``<id>:<22-char secret>``."""
    try:
        plain = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    key_id, sep, secret = plain.partition(":")
    return bool(sep and key_id and secret and secret.isprintable())


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``::es_redacted::`` (ES's own redaction marker)."""
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m[1]} {REDACTED}", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m[1]}{REDACTED}{m[2]}", text)
    text = _SECRET_PATTERNS[2].sub(lambda m: f"{m[1]}{REDACTED}", text)
    return _BASE64.sub(lambda m: REDACTED if _encoded_key(m[0]) else m[0], text)


def _in_window(lines: Sequence[LogLine], window: tuple[datetime, datetime] | None) -> list[LogLine]:
    if window is None:
        return list(lines)
    start, end = window
    return [x for x in lines if x.time is None or start <= x.time <= end]


# --- 2. the alias's local symptoms ---------------------------------------------------------------


def alias_symptoms(symptoms: list[Symptom], alias: str) -> list[Symptom]:
    """The symptoms about ``alias``: its own lines, and lines naming no alias whose peer is an
    address the alias dials (or any, when no other alias shows up either)."""
    named = [s for s in symptoms if s.alias == alias]
    addresses = {s.peer for s in named if s.peer and split_address(s.peer)[1] is not None}
    hosts = {split_address(a)[0] for a in addresses}
    others = {s.alias for s in symptoms if s.alias and s.alias != alias}
    out: list[Symptom] = []
    for s in symptoms:
        if s.alias is not None and s.alias != alias:
            continue
        if s.alias is None:
            host, port = split_address(s.peer)
            if addresses:
                if not (
                    (port is not None and s.peer in addresses) or (port is None and host in hosts)
                ):
                    continue
            elif others:
                continue  # other aliases fail too and nothing ties this line to ours
            if port is None and host in hosts:  # take the port from this alias's lines
                close = [
                    n
                    for n in named
                    if n.peer
                    and split_address(n.peer)[0] == host
                    and near(n.line.time, s.line.time, JOIN_SLACK)
                ]
                if close:
                    s = replace(s, peer=close[0].peer, alias=alias)
        out.append(s)
    return out


def current_failures(symptoms: list[Symptom]) -> list[Symptom]:
    """The failures not fixed since: a node's failure counts unless that node (any node, for
    a line that names none) connected the alias after it."""
    last_ok: dict[str, datetime] = {}
    for s in symptoms:
        if s.kind == "connected" and s.line.time is not None:
            node = s.line.node
            last_ok[node] = max(s.line.time, last_ok.get(node, s.line.time))
    anyone = max(last_ok.values(), default=None)
    out = []
    for s in symptoms:
        if s.kind == "connected":
            continue
        ok = last_ok.get(s.line.node) if s.line.node else anyone
        if ok is None or s.line.time is None or s.line.time > ok:
            out.append(s)
    return out


def connected_nodes(symptoms: list[Symptom]) -> set[str]:
    return {s.line.node for s in symptoms if s.kind == "connected" and s.line.node}


def on_some_nodes(decisions: list[Decision], connected: set[str]) -> None:
    """Credentials missing on the nodes that fail while other nodes connect: the keystore of
    some nodes lacks the credential (or they were not reloaded), not the whole cluster."""
    missing = [d for d in decisions if d.cause == "credentials_missing" and d.symptom.line.node]
    failing = {d.symptom.line.node for d in missing}
    if not missing or not connected - failing:
        return
    names = ", ".join(f"[{n}]" for n in sorted(failing))
    fine = ", ".join(f"[{n}]" for n in sorted(connected - failing))
    for d in missing:
        d.cause = "credentials_missing_on_nodes"
        d.detail = (
            f"{names} sent no cross-cluster API key while {fine} connected: the credential is "
            "missing from some nodes' keystores (or they were not reloaded)"
        )


def advertised(decisions: list[Decision]) -> None:
    """Sniff mode: a connect failure to a *named* remote node is one to the address that node
    advertised (ES names a seed's node ``[]``: only its address is known before the handshake);
    the other lines about the same address (RemoteClusterService's) say the same."""
    addresses = {
        d.symptom.peer
        for d in decisions
        if d.symptom.kind == "connect_failure"
        and d.symptom.mode == "sniff"
        and d.symptom.remote_node
        and d.symptom.peer
    }
    for d in decisions:
        s = d.symptom
        if d.restart or s.kind != "connect_failure" or s.peer not in addresses:
            continue
        how = d.cause.removeprefix("tcp_") if d.cause else "connect_exception"
        d.detail = (
            f"sniff mode: remote node [{s.remote_node or '?'}] advertises {s.peer}, which the "
            f"local node cannot reach ({how}); the seed answered (a seed's node has no name yet)"
        )
        d.cause, d.candidates, d.confidence = (
            "advertised_address_unreachable",
            (),
            Confidence.CERTAIN,
        )
        d.would_decide = []


# --- 5. findings --------------------------------------------------------------------------------


def _evidence(side: str, lines: list[LogLine]) -> list[Evidence]:
    seen: set[str] = set()
    out = []
    for line in lines:
        key = line.message + "|" + "|".join(line.type_names())
        if key in seen:
            continue
        seen.add(key)
        where = f"{side} log" + (f" {line.source}" if line.source else "")
        out.append(Evidence(where, redact(line.raw or line.text)))
        if len(out) >= MAX_LINES:
            break
    return out


def _stage_and_side(d: Decision) -> tuple[Stage, Side]:
    if d.cause is not None:
        info = cause_info(d.cause)
        return info.stage, info.side
    infos = [cause_info(c) for c in d.candidates]
    sides = {i.side for i in infos}
    return min((i.stage for i in infos), key=lambda st: st.order), sides.pop() if len(
        sides
    ) == 1 else Side.UNKNOWN


def _nodes(group: list[Decision]) -> tuple[str, ...]:
    local = [
        d.symptom.line.node
        for d in group
        if not d.symptom.own_address or d.symptom.kind not in _REMOTE_KINDS
    ]
    remote: list[str] = []
    for d in group:
        remote += [p.line.node for p in d.partners]
        remote += [p.own_address for p in d.partners if p.own_address]
        if d.symptom.kind in _REMOTE_KINDS:
            remote.append(d.symptom.line.node)
        if d.symptom.remote_node:
            remote.append(d.symptom.remote_node)
        if split_address(d.symptom.peer)[0] and d.symptom.kind not in _REMOTE_KINDS:
            remote.append(d.symptom.peer or "")
    names = list(dict.fromkeys(n for n in (*local, *remote) if n))
    with_port = {split_address(n)[0] for n in names if split_address(n)[1] is not None}
    # A bare host says less than the same host with its port.
    return tuple(n for n in names if split_address(n)[1] is not None or n not in with_port)


_REMOTE_KINDS = frozenset(
    {
        "client_did_not_trust",
        "empty_client_chain",
        "plaintext_traffic",
        "tls_on_plaintext",
        "apikey_failed",
        "closed_during_handshake",
        "lifecycle",
    }
)


def _address(group: list[Decision]) -> str | None:
    """The dialled ``host:port``: from a local line, else from the remote's listening end."""
    for d in group:
        if d.symptom.kind not in _REMOTE_KINDS and split_address(d.symptom.peer)[1]:
            return d.symptom.peer
    for d in group:
        for p in (*d.partners, d.symptom):
            if p.kind in _REMOTE_KINDS and split_address(p.own_address)[1]:
                return p.own_address
    return group[0].symptom.peer


def finding(alias: str, group: list[Decision]) -> Finding:
    first = group[0]
    stage, side = _stage_and_side(first)
    order = [Confidence.POSSIBLE, Confidence.LIKELY, Confidence.CERTAIN]
    confidence = max((d.confidence for d in group), key=order.index)
    s = first.symptom
    local_lines = [d.symptom.line for d in group if d.symptom.kind not in _REMOTE_KINDS]
    remote_lines = [p.line for d in group for p in d.partners] + [
        d.symptom.line for d in group if d.symptom.kind in _REMOTE_KINDS
    ]
    notes = list(dict.fromkeys(n for d in group for n in d.notes))
    if first.cause == "connection_unreliable":
        # One close may be a restart or a one-off; the same close again and again is a pattern.
        times = sorted(
            {d.symptom.line.time.replace(microsecond=0) for d in group if d.symptom.line.time}
        )
        if len(times) >= 2 and confidence is Confidence.POSSIBLE:
            confidence = Confidence.LIKELY
            notes.append(f"closed {len(times)} times between [{times[0]}] and [{times[-1]}]")
    facts = FixFacts(
        alias,
        next((d.symptom.mode for d in group if d.symptom.mode), None),
        _address(group),
        s.trust.context if s.trust else None,
        s.trust.issuer if s.trust else None,
        split_address(s.peer)[0] if s.trust is None else s.trust.peer_host,
        s.trust.sans if s.trust else (),
        next((d.symptom.key_id for d in group if d.symptom.key_id), None),
    )
    return Finding(
        stage=stage,
        # An undecided finding names its first candidate as its cause (as every doctor source
        # does); ``candidates`` and the stage's UNDECIDED outcome say it is not decided.
        cause=first.cause or first.candidates[0],
        side=side,
        message=f"remote cluster [{alias}]: {first.detail}",
        nodes=_nodes(group),
        fix=fix_for(first.cause, facts) if first.cause else None,
        evidence=tuple(
            _evidence("local", local_lines)
            + _evidence("remote", remote_lines)
            + [Evidence("log join", n) for n in notes]
        ),
        confidence=confidence,
        candidates=first.candidates if first.cause is None else (),
        would_decide=tuple(dict.fromkeys(w for d in group for w in d.would_decide))
        if first.cause is None or confidence is not Confidence.CERTAIN
        else (),
        ruled_out=tuple(dict.fromkeys(r for d in group for r in d.ruled_out)),
    )


def prune(decisions: list[Decision]) -> list[Decision]:
    """Drop what a better-decided line already covers: an undecided reading whose candidates
    include a decided cause, and the connection round's summary when its cause is known."""
    decided = {d.cause for d in decisions if d.cause is not None}
    out = []
    for d in decisions:
        if d.restart:
            continue
        if d.cause is None and (decided & set(d.candidates)):
            continue
        if (
            d.symptom.kind == "connect_summary"
            and len(decisions) > 1
            and any(x.symptom.kind != "connect_summary" for x in decisions)
        ):
            continue
        out.append(d)
    return out


def stage_results(alias: str, decisions: list[Decision]) -> list[StageResult]:
    """One finding per cause (or per set of candidates), grouped by stage: FAILED when a
    finding there is decided, UNDECIDED when all are not."""
    groups: dict[tuple[str | None, tuple[str, ...]], list[Decision]] = {}
    for d in decisions:
        groups.setdefault((d.cause, d.candidates if d.cause is None else ()), []).append(d)
    by_stage: dict[Stage, list[tuple[Finding, bool]]] = {}
    for (code, _), group in groups.items():
        f = finding(alias, group)
        by_stage.setdefault(f.stage, []).append((f, code is not None))
    out = []
    for stage in sorted(by_stage, key=lambda st: st.order):
        found = by_stage[stage]
        outcome = Outcome.FAILED if any(decided for _, decided in found) else Outcome.UNDECIDED
        out.append(StageResult(stage, outcome, tuple(f for f, _ in found)))
    return out


def restarts(alias: str, decisions: list[Decision]) -> list[StageResult]:
    """A "closed by remote" (or a refused connection) explained by a remote restart: the TCP
    stage is fine, and says why."""
    lines = [p.line for d in decisions if d.restart for p in d.partners]
    if not lines:
        return []
    what = sorted(
        {
            "refused" if d.symptom.kind == "connect_failure" else "closed"
            for d in decisions
            if d.restart
        }
    )
    why = Evidence(
        "log join",
        f"connections of [{alias}] were {' and '.join(what)} because the remote node restarted, "
        "not by the network",
    )
    return [StageResult(Stage.TCP, Outcome.PASSED, evidence=(*_evidence("remote", lines), why))]


def analyse(
    local: Sequence[LogLine],
    remote: Sequence[LogLine] | None,
    alias: str,
    window: tuple[datetime, datetime] | None = None,
) -> list[StageResult]:
    local_symptoms = [s for x in _in_window(local, window) for s in recognise(x, remote=False)]
    named = alias_symptoms(local_symptoms, alias)
    mine = current_failures(named)
    remote_symptoms = (
        []
        if remote is None
        else [s for x in _in_window(remote, window) for s in recognise(x, remote=True)]
    )
    decisions: list[Decision] = []
    used: set[int] = set()
    for s in mine:
        answers = partners(s, remote_symptoms)
        used.update(id(a) for a in answers)
        decisions.append(decide(s, answers, remote is not None))
    ports = {split_address(s.peer)[1] for s in mine if s.peer} - {None}
    keys = {s.key_id for s in mine if s.key_id}
    for r in remote_symptoms:
        if id(r) in used or r.kind == "lifecycle":
            continue
        tie = (
            "key"
            if r.key_id and r.key_id in keys
            else "port"
            if split_address(r.own_address)[1] in ports
            else None
        )
        if tie is not None or not mine:
            decisions.append(remote_only(r, tie))
    on_some_nodes(decisions, connected_nodes(named))
    advertised(decisions)
    return stage_results(alias, prune(decisions)) + restarts(alias, decisions)
