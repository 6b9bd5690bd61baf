"""Diagnose: the doctor's verdict on one alias, run inside the node for the console.

The doctor's own pieces, unchanged (:func:`isthmus.doctor.collect.collect_local` and
``collect_alias_calls``, the CLI's probes and log analysis, :func:`isthmus.doctor.engine.
diagnose`), given what ``isthmus doctor`` run on this node would be given: the local REST
APIs, this node's configuration directory (settings and keystore entry *names*) and the tail
of its logs, and the probes. Only how it reaches the local cluster differs: its REST calls go to this node's own REST app in process
(an ASGI transport, no socket, no subprocess) carrying the caller's ``Authorization`` header, so
the doctor sees exactly what the signed-in user may see, as ``isthmus doctor --local`` run by
that user would. The probes run from this node, which is where the connections start.

Secrets: the evidence is pruned and redacted by the doctor itself; on top of that the answer is
scrubbed of every form of the caller's credentials and of every value in the node's keystore
(a cross-cluster key must never reach a page).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from isthmus.console.redaction import scrubbed
from isthmus.console.words import STAGE_WORDS, cause_words
from isthmus.doctor.model import Report, Stage
from isthmus.settings.secret import Secret

DIAGNOSE_TIMEOUT = 5.0  # seconds per REST call and probe (the page waits for one round)
LOG_TAIL_BYTES = 2 << 20  # per log file: the recent past, bounded whatever the file's size
# Log lines and flaps older than this are not evidence unless the page asks from earlier (a
# healed fault of yesterday must not fail today's verdict); "verify again" asks from the last
# verdict's time.
DEFAULT_WINDOW = timedelta(minutes=15)


def log_tail(directory: Path, limit: int = LOG_TAIL_BYTES) -> dict[str, list[str]]:
    """The last ``limit`` bytes of each of the node's log files, as lines (a long-running
    node's logs can be large: only the recent past explains a failure)."""
    out: dict[str, list[str]] = {}
    if not directory.is_dir():
        return out
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.suffix not in (".log", ".json"):
            continue
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - limit))
            data = f.read()
        lines = data.decode("utf-8", "replace").splitlines()
        out[path.name] = lines[1:] if len(data) >= limit else lines  # the first may be cut
    return out


async def run_doctor(
    app: Any,
    base_url: str,
    authorization: str | None,
    alias: str,
    *,
    index: str = "*",
    timeout: float = DIAGNOSE_TIMEOUT,
    config_dir: Path | None = None,
    logs_dir: Path | None = None,
    since: datetime | None = None,
) -> Report:
    """The doctor's report on ``alias`` from this node's REST app (``app``, an ASGI callable)
    as the caller, with the probes of the alias's addresses when its connection fails, and
    this node's own configuration and log lines from ``since`` on (``isthmus doctor
    --local-config --local-logs --since`` run on this node)."""
    from isthmus.cli.doctor import log_results
    from isthmus.cli.doctor_probes import keep_failing, probe_all
    from isthmus.doctor.bundle import Bundle
    from isthmus.doctor.collect import (
        ClusterAccess,
        collect_alias_calls,
        collect_local,
        read_config,
    )
    from isthmus.doctor.engine import diagnose
    from isthmus.doctor.evidence import SideEvidence

    access = ClusterAccess(
        base_url,
        timeout=timeout,
        authorization=Secret(authorization) if authorization else None,
        transport=httpx.ASGITransport(app=app),
    )
    aliases = (alias,)
    # Files are read in a thread, never on the node's event loop: reading the keystore's entry
    # names decrypts it (its key derivation takes a tenth of a second), logs can be megabytes.
    local, configs, tails = await asyncio.gather(
        collect_local(access, aliases, index, alias_calls=False),
        asyncio.to_thread(lambda: (read_config(config_dir),) if config_dir is not None else ()),
        asyncio.to_thread(lambda: log_tail(logs_dir) if logs_dir is not None else None),
    )
    local = SideEvidence(local.url, local.calls, configs)
    logs = {"local": tails} if tails is not None else {}
    general = Bundle(datetime.now(UTC), index, aliases, local, None, logs)
    calls, probes = await asyncio.gather(
        collect_alias_calls(access, aliases, index, local.version),
        probe_all(general, {"timeout": timeout}),
    )
    local = SideEvidence(local.url, {**local.calls, **calls}, local.configs)
    bundle = Bundle(general.collected_at, index, aliases, local, None, logs)
    kept = keep_failing(bundle, probes)
    level = ["local_rest"]
    if configs or logs:
        level.append("local_files")
    if any(kept.values()):
        level.append("probe")
    logged = await asyncio.to_thread(log_results, bundle, alias, since)
    return diagnose(
        local,
        None,
        aliases=aliases,
        index=index,
        now=datetime.now(UTC),
        extra={alias: [list(kept.get(alias, ())), logged]},
        evidence_level=level,
        since=since,
    )


def verdict_view(report: Report, alias: str, secrets: Iterable[str]) -> dict[str, Any]:
    """The Diagnose view's data: the stage ladder with each rung's words, the verdict, the
    evidence and the fix, scrubbed of ``secrets``."""
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
    out: dict[str, Any] = scrubbed(body, secrets)
    return out
