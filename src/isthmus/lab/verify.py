"""Does a running lab show its scenario's symptom? One check for the tests and ``isthmus lab``.

:func:`observe` reads what a user would look at (``_remote/info``, a cross-cluster search as the
lab user, both clusters' log files); :func:`mismatches` compares that with the scenario's
:class:`~isthmus.lab.scenarios.Expected` and lists every difference in words.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import orjson

from isthmus.lab.scenario_model import KEY_ID, Scenario
from isthmus.lab.topology import ALIAS, INDEX, Lab, LabError, _call


@dataclass(frozen=True)
class Observation:
    remote_info: dict[str, Any]
    search_status: int  # 200 when the search succeeded
    search_body: dict[str, Any]
    local_log: str
    remote_log: str


def log_marks(lab: Lab) -> tuple[int, int]:
    """Where both log files end now: observe only what is logged after (a lab that runs several
    scenarios one after the other)."""
    assert lab.local is not None and lab.remote is not None
    return len(lab.local.log_text()), len(lab.remote.log_text())


def observe(lab: Lab, since: tuple[int, int] = (0, 0)) -> Observation:
    """The search first: it (re)connects a remote that is not connected, as a user's would.
    The logs are read from the offsets ``since`` (see :func:`log_marks`)."""
    assert lab.local is not None and lab.remote is not None
    try:
        body = _call(lab.user_url, "GET", f"/{ALIAS}:{INDEX}/_search")
        status = 200
    except LabError as exc:
        status = exc.status
        body = orjson.loads(exc.body) if exc.body.startswith("{") else {"raw": exc.body}
    info = lab.remote_info().get(ALIAS, {})
    local_log, remote_log = lab.local.log_text(), lab.remote.log_text()
    return Observation(info, status, body, local_log[since[0] :], remote_log[since[1] :])


DEAD = "closing the connection as dead"


def apply_fault(lab: Lab, scenario: Scenario, timeout: float = 15.0) -> None:
    """Do the scenario's fault to the running pair (nothing for most scenarios)."""
    if scenario.fault is None:
        return
    if scenario.fault != "freeze":
        raise ValueError(f"unknown lab fault [{scenario.fault}]")
    assert lab.local is not None and lab.remote is not None and lab.remote.proc is not None
    lab.wait_connected()
    pid = lab.remote.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + timeout
        while DEAD not in lab.local.log_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        os.kill(pid, signal.SIGCONT)


def _fill(text: str, lab: Lab) -> str:
    return text.replace(KEY_ID, str((lab.key or {}).get("id", "")))


def mismatches(scenario: Scenario, seen: Observation, lab: Lab) -> list[str]:
    """Every way ``seen`` differs from what ``scenario`` should show (empty: it matches)."""
    exp = scenario.expected
    out: list[str] = []
    if bool(seen.remote_info.get("connected")) is not exp.connected:
        out.append(f"_remote/info connected is {seen.remote_info.get('connected')!r}")
    redacted = seen.remote_info.get("cluster_credentials") == "::es_redacted::"
    spec = scenario.spec  # the node holds a credential once it is created and reloaded
    if redacted is not (spec.credential is not None and spec.reload_credential):
        out.append(
            f"_remote/info cluster_credentials: {seen.remote_info.get('cluster_credentials')!r}"
        )
    for line in exp.local_log:
        if _fill(line, lab) not in seen.local_log:
            out.append(f"local log lacks: {_fill(line, lab)}")
    for line in exp.remote_log:
        if _fill(line, lab) not in seen.remote_log:
            out.append(f"remote log lacks: {_fill(line, lab)}")
    for line in exp.remote_log_absent:
        if _fill(line, lab) in seen.remote_log:
            out.append(f"remote log has (and should not): {_fill(line, lab)}")
    if exp.search_error is None:
        hits = seen.search_body.get("hits", {}).get("total", {}).get("value")
        if seen.search_status != 200 or not hits:
            out.append(f"search failed or found nothing: {seen.search_status} {seen.search_body}")
    else:
        status, es_type, reason = exp.search_error
        error = seen.search_body.get("error", {})
        types = {c.get("type") for c in error.get("root_cause", [])}
        cause: Any = error
        while isinstance(cause, dict):  # the whole caused_by chain
            types.add(cause.get("type"))
            cause = cause.get("caused_by")
        if seen.search_status != status:
            out.append(f"search status {seen.search_status}, expected {status}")
        if es_type not in types:
            out.append(f"search error types {sorted(map(str, types))}, expected {es_type}")
        if _fill(reason, lab) not in orjson.dumps(error).decode():
            out.append(f"search error lacks: {_fill(reason, lab)}")
    return out


def wait_for_symptom(
    lab: Lab, scenario: Scenario, timeout: float = 15.0, since: tuple[int, int] = (0, 0)
) -> tuple[Observation, list[str]]:
    """Observe until the scenario's symptom shows or ``timeout`` passes (logs come a moment after
    the attempt that writes them); the last observation and its mismatches."""
    deadline = time.monotonic() + timeout
    while True:
        seen = observe(lab, since)
        problems = mismatches(scenario, seen, lab)
        if not problems or time.monotonic() > deadline:
            return seen, problems
        time.sleep(0.3)
