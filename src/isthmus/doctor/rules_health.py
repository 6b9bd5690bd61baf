"""What the local node's live health and the remote's key record add to a verdict.  [no I/O]

Two facts the REST rules cannot see at the moment of the check:

* **The link over time.** Isthmus's ``GET /_isthmus/remote/health`` (never required: on
  Elasticsearch the call fails and these rules say nothing) is what the answering node saw of
  each alias since it started: connections lost and reopened (flaps), the last error with its
  stage and cause code. A connection that a path cuts when idle works whenever the doctor looks;
  its flaps say otherwise: a *warning* (yellow, ``connection_unreliable``) while the alias is
  connected. For an alias that is not connected, the node's last error is a stage result of its
  own: the node classified it from typed facts (errno, X.509 verify code, the phase reached) from
  its own network position, where the connection really fails, which no probe from the doctor's
  machine can claim. It is decided where the node decided it (certain), undecided with the
  node's candidates otherwise; the engine lets the probe and the REST texts, which can name a
  cause more finely (an HTTP proxy rather than "not TLS"), win ties.
* **The key's expiry.** The node never learns when its cross-cluster API key expires (ES's
  protocol does not carry it); the doctor can: the key id is in the credential of a
  ``--local-config`` keystore (read there by the collector, never the secret) and the remote's
  ``GET /_security/api_key?id=<id>`` gives its ``expiration``. A key expiring within 7 days is a
  warning (``api_key_expiring``); otherwise the expiry (or why it is unknown) is evidence of the
  authentication stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from isthmus.doctor.advertised import advertised_failure, advertised_finding, norm
from isthmus.doctor.causes import cause
from isthmus.doctor.commands import RELOAD, keystore_add
from isthmus.doctor.evidence import API_KEYS, ISTHMUS_HEALTH, api_key_key
from isthmus.doctor.log_fixes import FixFacts, fix_for
from isthmus.doctor.model import Confidence, Evidence, Finding, Fix, Side, Stage, StageResult
from isthmus.doctor.rules_context import (
    AliasContext,
    current_health_error,
    failed,
    finding,
    health_time,
    passed,
    undecided,
)
from isthmus.doctor.rules_security import remote_key

FLAPS_UNRELIABLE = 2  # losses of the link in the node's window that make it unreliable
EXPIRY_WARNING = timedelta(days=7)
# Causes the node names from a lost connection, not from a failed attempt: what closed it (the
# remote restarting, a middlebox) is not among the node's facts.
_LOST = frozenset({"connection_unreliable"})


@dataclass(frozen=True)
class HealthFacts:
    """Everything the rules here add for one alias."""

    stages: tuple[StageResult, ...] = ()  # a source for the engine's merge
    warnings: tuple[Finding, ...] = ()  # not blocking now: status yellow
    authentication: tuple[Evidence, ...] = ()  # for a passed authentication stage


def check_health(ctx: AliasContext, since: datetime | None = None) -> HealthFacts:
    """``since``: flaps that all ended before it are not evidence (an earlier, healed fault, or
    the connections a reconfiguration closed)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    entry, node = _entry(ctx)
    stages: list[StageResult] = []
    warnings: list[Finding] = []
    if entry is not None:
        source = f"local {ISTHMUS_HEALTH} remotes.{ctx.alias} (node {node})"
        if entry.get("connected") is False:
            stages += _last_error(ctx, entry, source)
        elif entry.get("connected") is True:
            warnings += _flapping(ctx, entry, source, since)
    expiring, notes = _key_expiry(ctx)
    return HealthFacts(tuple(stages), tuple(warnings + expiring), tuple(notes))


def _entry(ctx: AliasContext) -> tuple[Mapping[str, Any] | None, str]:
    body = ctx.local.body(ISTHMUS_HEALTH)
    if not isinstance(body, Mapping) or not isinstance(body.get("remotes"), Mapping):
        return None, ""
    entry = body["remotes"].get(ctx.alias)
    node: Mapping[str, Any] = body["node"] if isinstance(body.get("node"), Mapping) else {}
    name = str(node.get("name") or node.get("id") or "?")
    return (entry if isinstance(entry, Mapping) else None), name


def _fix(ctx: AliasContext, code: str, address: str | None) -> Fix | None:
    return fix_for(code, FixFacts(ctx.alias, ctx.mode, address or next(iter(ctx.addresses), None)))


def _last_error(ctx: AliasContext, entry: Mapping[str, Any], source: str) -> list[StageResult]:
    """The node's own classification of why the alias is not connected."""
    last = current_health_error(entry)
    if last is None:
        return []
    try:
        stage = Stage(str(last["stage"]))
    except ValueError:
        return []
    address = last.get("address") if isinstance(last.get("address"), str) else None
    failures = entry.get("consecutive_failures")
    what = "lost an open connection" if last.get("lost_connection") is True else "failed"
    detail = (
        f"the node's last error ({what}, stage [{stage}], cause [{last.get('cause')}]) at "
        f"{last.get('time')}{f' on [{address}]' if address else ''}: {last.get('message')}; "
        f"{failures} failure(s) in a row, not connected"
    )
    evidence = (Evidence(source, detail),)
    if last.get("lost_connection") is True:
        # An open connection ended and nothing was tried since: whatever the node read into
        # how it ended (closed, silent past the liveness deadline), the link opened and was lost.
        stage, last = Stage.TCP, {**last, "cause": "connection_unreliable"}
    # The attempt got that far: name resolution, and the TCP connect when it failed later. That
    # rules out the candidates a generic "connect failed" leaves open there (refused, timed out).
    # What TCP carried (TLS or not, which server) is not proved by a connect that failed later.
    before = [
        passed(s, Evidence(source, f"the node's last attempt got past it (failed at [{stage}])"))
        for s in (Stage.DNS, Stage.TCP)
        if s.order < stage.order
    ]
    return before + _classified(ctx, last, stage, address, evidence)


def _classified(
    ctx: AliasContext,
    last: Mapping[str, Any],
    stage: Stage,
    address: str | None,
    evidence: tuple[Evidence, ...],
) -> list[StageResult]:
    code = last.get("cause")
    candidates = tuple(str(c) for c in last.get("candidates") or ())
    advertised = advertised_failure(ctx) if stage is Stage.TCP else None
    if advertised is not None and address is not None and norm(address) == norm(advertised.address):
        # The node's own classification of the attempt (refused, timed out) is about an address
        # the remote advertised, not the seed: the seed answered.
        f = advertised_finding(ctx, advertised)
        return [failed(replace(f, evidence=tuple(dict.fromkeys((*evidence, *f.evidence)))))]
    if isinstance(code, str):
        try:
            f = finding(
                code,
                f"the local node cannot connect to [{ctx.alias}]: {last.get('message')}",
                evidence=evidence,
                fix=_fix(ctx, code, address),
                # A lost connection says the remote or the path closed it, not which.
                confidence=Confidence.LIKELY if code in _LOST else Confidence.CERTAIN,
            )
        except KeyError:  # a cause this doctor does not know (a newer node)
            return []
        return [failed(f)] if f.stage is stage else []
    if not candidates:
        return []
    try:
        # The side is known only when every candidate has the same one.
        sides = {cause(c).side for c in candidates}
        f = finding(
            candidates[0],
            f"the local node cannot connect to [{ctx.alias}]; its facts fit several causes",
            side=sides.pop() if len(sides) == 1 else Side.UNKNOWN,
            evidence=evidence,
            confidence=Confidence.POSSIBLE,
            candidates=candidates,
            would_decide=(
                "an active probe from a host with the local nodes' network position",
                "the local log (--local-logs DIR) and the remote side (--remote URL)",
            ),
        )
    except KeyError:
        return []
    return [undecided(stage, replace(f, stage=stage))]


def _flapping(
    ctx: AliasContext, entry: Mapping[str, Any], source: str, since: datetime | None
) -> list[Finding]:
    """Connected now, but the node kept losing the link: a fault that comes and goes."""
    flaps = entry.get("flaps")
    if not isinstance(flaps, Mapping):
        return []
    count = flaps.get("count")
    if not isinstance(count, int) or count < FLAPS_UNRELIABLE:
        return []
    first, last_loss = health_time(flaps.get("first")), health_time(flaps.get("last"))
    if since is not None and last_loss is not None and last_loss < since:
        return []  # all before --since
    # The node counts over its whole window: with --since inside it, some may be older.
    older = (
        f" (the node's window began before --since {since.isoformat()})"
        if since is not None and first is not None and first < since
        else ""
    )
    window = flaps.get("window_seconds")
    lost = flaps.get("connections_lost")
    span = (
        f" between {flaps['first']} and {flaps['last']}"
        if flaps.get("first") and flaps.get("last")
        else ""
    )
    connections = entry.get("connections") or {}
    last: Mapping[str, Any] = (
        entry["last_error"] if isinstance(entry.get("last_error"), Mapping) else {}
    )
    evidence = [
        Evidence(
            source,
            f"the link was lost {count} times in the last {window} s"
            f"{f' ({lost} connections closed)' if isinstance(lost, int) else ''}{span}; "
            f"connected now with {connections.get('open')} of {connections.get('wanted')} "
            "connections" + older,
        )
    ]
    if last.get("cause") == "connection_unreliable":
        evidence.append(Evidence(source, f"last loss at {last.get('time')}: {last.get('message')}"))
    address = last.get("address") if isinstance(last.get("address"), str) else None
    return [
        finding(
            "connection_unreliable",
            f"connections to [{ctx.alias}] work when opened but keep being closed: the link is "
            "lost again and again (a path that cuts idle connections, a middlebox, a remote "
            "that restarts); requests on a connection being cut fail or wait for a reconnect",
            evidence=evidence,
            fix=_fix(ctx, "connection_unreliable", address),
            confidence=Confidence.LIKELY,
            would_decide=(
                "the remote's log (--remote-logs DIR): a restart in that window explains the "
                "closures; none points at the network",
            ),
        )
    ]


# --- the key's expiry ------------------------------------------------------------------------


def _key_id(ctx: AliasContext) -> str | None:
    for config in ctx.local.configs:
        key_id = config.credential_key_ids.get(ctx.alias)
        if key_id:
            return key_id
    return None


def _key_record(ctx: AliasContext, key_id: str) -> Mapping[str, Any] | None:
    """The remote's record of the key: from ``?id=<id>``, else from the full key list."""
    if ctx.remote is None:
        return None
    body = ctx.remote.body(api_key_key(key_id))
    if isinstance(body, Mapping):
        for key in body.get("api_keys", []):
            if isinstance(key, Mapping) and key.get("id") == key_id:
                return key
    found = remote_key(ctx, key_id)
    return found if isinstance(found, Mapping) else None


def _key_expiry(ctx: AliasContext) -> tuple[list[Finding], list[Evidence]]:
    """A warning for a key that expires within 7 days; else what is known of its expiry."""
    uses_key = ctx.has_credentials or any(
        ctx.credential_setting in (c.keystore_names or ()) for c in ctx.local.configs
    )
    if not uses_key:
        return [], []
    key_id = _key_id(ctx)
    source = "credential expiry"
    if key_id is None:
        why = (
            "the key id is in the local keystore's credential: give a local config directory "
            "(--local-config DIR)"
            if not any(c.keystore_names for c in ctx.local.configs)
            else "the local keystore's credential is not readable as a cross-cluster key"
        )
        return [], [Evidence(source, f"unknown: {why}")]
    if ctx.remote is None:
        return [], [
            Evidence(source, f"key [{key_id}]: unknown without the remote cluster (--remote URL)")
        ]
    key = _key_record(ctx, key_id)
    if key is None:
        return [], [Evidence(source, f"key [{key_id}]: not in the remote's {API_KEYS} answer")]
    value = key.get("expiration")
    if not isinstance(value, int | float):
        return [], [Evidence(f"remote {API_KEYS}?id={key_id}", "the key has no expiration")]
    expiry = datetime.fromtimestamp(value / 1000, UTC)
    left = expiry - ctx.now
    evidence = Evidence(
        f"remote {API_KEYS}?id={key_id}",
        f"key [{key_id}] ({key.get('name')}) expires at {expiry.isoformat()} "
        f"({_days(left)} from now)",
    )
    if left <= timedelta(0) or left > EXPIRY_WARNING:
        return [], [evidence]  # expired: a failure of its own, which the REST rules report
    warning = finding(
        "api_key_expiring",
        f"the cross-cluster API key of [{ctx.alias}] ([{key_id}], {key.get('name')}) expires at "
        f"{expiry.isoformat()}, in {_days(left)}: every cross-cluster request fails after that",
        nodes=tuple(str(n.get("name")) for n in ctx.remote.nodes.values()),
        evidence=(evidence,),
        fix=_new_key(ctx, key),
    )
    return [warning], []


def _days(left: timedelta) -> str:
    hours = left.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def _new_key(ctx: AliasContext, key: Mapping[str, Any]) -> Fix:
    access = key.get("access") or {"search": [{"names": [ctx.index]}]}
    body = orjson.dumps({"name": f"{ctx.alias}-key", "access": access}).decode()
    return Fix(
        "create a new cross-cluster API key with the same access before this one expires, put it "
        "in every local node's keystore and reload; then invalidate the old key",
        (
            f"POST /_security/cross_cluster/api_key {body}   # on the remote; copy `encoded`",
            keystore_add(
                ctx.credential_setting, force=True, note="on every local node; paste `encoded`"
            ),
            "on the local cluster: " + RELOAD,
            f'DELETE /_security/api_key {{"ids": ["{key.get("id")}"]}}   # on the remote, once '
            "GET /_remote/info shows the alias connected",
        ),
        Side.BOTH,
    )


__all__ = ["HealthFacts", "check_health"]
