"""Diagnose: the doctor's verdict on one alias, run inside the node for the console.

The doctor's own pieces, unchanged (:func:`isthmus.doctor.collect.collect_local` and
``collect_alias_calls``, the CLI's probes, :func:`isthmus.doctor.engine.diagnose`); only how
it reaches the local cluster differs: its REST calls go to this node's own REST app in process
(an ASGI transport, no socket, no subprocess) carrying the caller's ``Authorization`` header, so
the doctor sees exactly what the signed-in user may see, as ``isthmus doctor --local`` run by
that user would. The probes run from this node, which is where the connections start.

Secrets: the evidence is pruned and redacted by the doctor itself; on top of that the answer is
scrubbed of every form of the caller's credentials and of every value in the node's keystore
(a cross-cluster key must never reach a page).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from isthmus.console.words import STAGE_WORDS, cause_words
from isthmus.doctor.model import Report, Stage
from isthmus.settings.secret import Secret

DIAGNOSE_TIMEOUT = 5.0  # seconds per REST call and probe (the page waits for one round)


def credential_forms(authorization: str | None) -> list[str]:
    """Every form in which the caller's credentials could show: the header, its token, and
    for basic authentication the decoded ``user:password`` and the password."""
    if not authorization:
        return []
    out = [authorization]
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    out.append(token)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(token, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            decoded = ""
        if decoded:
            out += [decoded, decoded.partition(":")[2]]
    return [s for s in out if s]


async def run_doctor(
    app: Any,
    base_url: str,
    authorization: str | None,
    alias: str,
    *,
    index: str = "*",
    timeout: float = DIAGNOSE_TIMEOUT,
) -> Report:
    """The doctor's report on ``alias`` from this node's REST app (``app``, an ASGI callable)
    as the caller, with the probes of the alias's addresses when its connection fails."""
    from isthmus.cli.doctor_probes import keep_failing, probe_all
    from isthmus.doctor.bundle import Bundle
    from isthmus.doctor.collect import ClusterAccess, collect_alias_calls, collect_local
    from isthmus.doctor.engine import diagnose
    from isthmus.doctor.evidence import SideEvidence

    access = ClusterAccess(
        base_url,
        timeout=timeout,
        authorization=Secret(authorization) if authorization else None,
        transport=httpx.ASGITransport(app=app),
    )
    aliases = (alias,)
    local = await collect_local(access, aliases, index, alias_calls=False)
    general = Bundle(datetime.now(UTC), index, aliases, local, None, {})
    calls, probes = await asyncio.gather(
        collect_alias_calls(access, aliases, index, local.version),
        probe_all(general, {"timeout": timeout}),
    )
    local = SideEvidence(local.url, {**local.calls, **calls}, local.configs)
    bundle = Bundle(general.collected_at, index, aliases, local, None, {})
    kept = keep_failing(bundle, probes)
    level = ["local_rest"] + (["probe"] if any(kept.values()) else [])
    return diagnose(
        local,
        None,
        aliases=aliases,
        index=index,
        now=datetime.now(UTC),
        extra={alias: [list(kept.get(alias, ())), []]},
        evidence_level=level,
    )


def verdict_view(report: Report, alias: str, secrets: Iterable[str]) -> dict[str, Any]:
    """The Diagnose view's data: the stage ladder with each rung's words, the verdict, the
    evidence and the fix, scrubbed of ``secrets``."""
    from isthmus.doctor.bundle import scrub

    verdict = next(v for v in report.aliases if v.alias == alias)
    body = verdict.to_json()
    stage_findings = []
    for stage in body["stages"]:
        stage["words"] = STAGE_WORDS[Stage(stage["stage"])]
        stage_findings += stage["findings"]
    for finding in (*body["findings"], *body["warnings"], *stage_findings):
        finding["cause_words"] = cause_words(finding["cause"])
    failed = verdict.failed_stage
    body["failed_stage"] = failed.stage.value if failed is not None else None
    body["decided"] = verdict.decided
    body["evidence_level"] = list(report.evidence_level)
    body["local"] = dict(report.local)
    body["as_of"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    text = scrub(orjson.dumps(body).decode(), secrets)
    out: dict[str, Any] = orjson.loads(text)
    return out
