"""Run ``isthmus doctor`` on a lab at every evidence level at once, and compare with a scenario's
declared :class:`~isthmus.lab.scenarios.DoctorVerdict` (shared by the doctor's lab tests).

Each level is a CLI process as a user runs it (``--json``, as the lab user); the four run in
threads, so one fault is diagnosed at every level in about the time of the slowest level.
:func:`fix_then_verify` then applies the all-evidence run's first fix as printed
(:func:`isthmus.lab.apply_fix.apply_fix`) and checks that ``doctor --verify`` turns green and the
alias searches; :func:`restore` puts a shared pair back to its base after it.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from isthmus.doctor.causes import cause
from isthmus.doctor.model import Side
from isthmus.lab.apply_fix import FixNotRunnable, apply_fix
from isthmus.lab.faults import transition
from isthmus.lab.scenarios import ADDRESS, LEVELS, DoctorVerdict, EvidenceLevel
from isthmus.lab.topology import (
    ALIAS,
    ELASTIC_PASSWORD,
    INDEX,
    USER,
    USER_PASSWORD,
    Lab,
    LabSpec,
    _call,
)

L = EvidenceLevel
TIMEOUT = 4.0  # seconds per request and probe (the doctor's default is for real networks)


@dataclass(frozen=True)
class Run:
    level: EvidenceLevel
    code: int
    report: dict[str, Any]
    output: str

    @property
    def alias(self) -> dict[str, Any]:
        aliases: dict[str, Any] = self.report.get("aliases", {})
        alias: dict[str, Any] = aliases.get(ALIAS, {})
        return alias

    def summary(self) -> str:
        findings = self.alias.get("findings") or []
        if not findings:
            return f"exit {self.code}, {self.alias.get('status')}, no finding"
        f = findings[0]
        said = f"{f['stage']}/{f['cause']} ({f['side']}, {', '.join(f['nodes'])})"
        if f.get("candidates"):
            said += f" candidates {sorted(f['candidates'])}"
        return f"exit {self.code}: {said}"


def level_args(lab: Lab, level: EvidenceLevel, since: datetime | None) -> list[str]:
    """The doctor's options for ``level`` (each level adds to the ones below it)."""
    assert lab.local is not None and lab.remote is not None
    args = ["--local", lab.local.url, "--local-user", USER, "--local-password", USER_PASSWORD]
    # The lab's connect timeout is 2 s: a probe or request waiting longer learns nothing more.
    args += ["--timeout", str(TIMEOUT)]
    if level.order < L.PROBE.order:
        args.append("--no-probe")
    if level.order >= L.LOCAL_FILES.order:
        args += ["--local-config", str(lab.local.config_dir)]
        args += ["--local-logs", str(lab.local.log_file.parent)]
        if since is not None:
            args += ["--since", since.strftime("%Y-%m-%dT%H:%M:%S")]
    if level.order >= L.REMOTE.order:
        args += ["--remote", lab.remote.url, "--remote-user", "elastic"]
        args += ["--remote-password", ELASTIC_PASSWORD]
        args += ["--remote-config", str(lab.remote.config_dir)]
        args += ["--remote-logs", str(lab.remote.log_file.parent)]
    return args


def run_level(lab: Lab, level: EvidenceLevel, since: datetime | None, index: str = INDEX) -> Run:
    args = [sys.executable, "-m", "isthmus", "doctor", "--json", "--alias", ALIAS]
    args += ["--index", index, *level_args(lab, level, since)]
    env = {**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, "TERM": "dumb"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, check=False)
    report = orjson.loads(done.stdout) if done.stdout.startswith("{") else {}
    return Run(level, done.returncode, report, done.stdout + done.stderr)


def run_levels(
    lab: Lab, since: datetime | None, levels: Sequence[EvidenceLevel] = LEVELS
) -> dict[EvidenceLevel, Run]:
    """Every level at once, on the lab as it is now."""
    with ThreadPoolExecutor(len(levels)) as pool:
        runs = list(pool.map(lambda level: run_level(lab, level, since), levels))
    return {run.level: run for run in runs}


# The kind of command a fix step is, by how it starts (ES's commands; the doctor prints
# Isthmus's equivalent in a trailing comment). A network fix has no steps.
_STEP_KINDS = (
    ("look-up", r"GET /?_"),
    ("settings", r"PUT /?_cluster/settings "),
    ("keystore", r"bin/elasticsearch-keystore add "),
    ("reload", r"POST /?_nodes/reload_secure_settings"),
    ("role", r"PUT /?_security/role/"),
    ("api_key", r"(POST|PUT) /?_security/cross_cluster/api_key"),
    ("certificate", r"bin/elasticsearch-certutil |certutil "),
    ("file", r"(copy|cp) "),
    ("yml", r"(elasticsearch\.yml: )?[a-z_]+(\.[a-z_]+)+: "),  # a node setting
)


def step_kind(step: str) -> str:
    for kind, pattern in _STEP_KINDS:
        if re.match(pattern, step):
            return kind
    return "other"


# Where a step runs, when it says so ("on the remote cluster: PUT ...").
_SIDE_PREFIX = re.compile(
    r"^(?:on the (?:local|remote) cluster|(?:from|on) (?:each|every) (?:local|remote) node)\s*:\s*",
    re.IGNORECASE,
)


def first_action(steps: Sequence[str]) -> str:
    """The kind of the first step that changes something (look-ups before it are skipped)."""
    kinds = [step_kind(_SIDE_PREFIX.sub("", s)) for s in steps]
    return next((k for k in kinds if k != "look-up"), "no step")


# The command a cause's fix must start with (several kinds where the cause allows them): the
# setting, keystore, reload, role, key or certificate command that fixes it.
_TRUST = frozenset({"file", "yml"})
_NEW_KEY = frozenset({"api_key", "keystore"})
FIX_KINDS: dict[str, frozenset[str]] = {
    "remote_cluster_server_disabled": frozenset({"yml"}),
    "tcp_refused": frozenset({"settings", "yml"}),
    "tls_untrusted_ca": _TRUST,
    "tls_ca_regenerated": _TRUST,
    "tls_expired": frozenset({"certificate"}),
    "tls_not_yet_valid": frozenset({"certificate"}),
    "tls_hostname_mismatch": frozenset({"certificate", "settings"}),
    "transport_port_with_credentials": frozenset({"settings"}),
    "remote_cluster_port_without_credentials": _NEW_KEY,
    "credentials_not_reloaded": frozenset({"reload"}),
    "api_key_wrong_type": _NEW_KEY,
    "api_key_invalid": _NEW_KEY,
    "api_key_invalidated": _NEW_KEY,
    "api_key_expired": _NEW_KEY,
    "key_access_excludes": frozenset({"api_key"}),
    "user_lacks_remote_indices": frozenset({"role"}),
    "proxy_no_route": frozenset({"settings"}),
    "http_proxy": frozenset({"settings"}),
    "advertised_address_unreachable": frozenset({"settings"}),
}


def expected_at(
    verdict: DoctorVerdict | None, level: EvidenceLevel, address: str
) -> DoctorVerdict | None:
    if verdict is None:
        return None
    at = verdict.at(level)
    return replace(at, nodes=tuple(address if n == ADDRESS else n for n in at.nodes))


def mismatches(run: Run, expected: DoctorVerdict | None, *, lab_cuts: bool = False) -> list[str]:
    """How ``run`` differs from ``expected`` at its level (None: green, no finding).
    ``lab_cuts``: the lab itself cut the pair's connections a moment ago (moving a shared pair
    between scenarios cuts the relay), which the node's live health rightly counts: a healthy
    pair may then be yellow with a ``connection_unreliable`` warning, and nothing else."""
    alias = run.alias
    if not alias:
        return [f"{run.level.value}: no report: {run.output[-1500:]}"]
    findings = alias.get("findings") or []
    out = []
    if expected is None:
        warned = {w["cause"] for w in alias.get("warnings") or []}
        if lab_cuts and warned <= {"connection_unreliable"}:
            healthy = (
                run.code == 0 and findings == [] and alias.get("status") in ("green", "yellow")
            )
        else:
            healthy = (run.code, alias.get("status"), findings) == (0, "green", [])
        if not healthy:
            out.append(f"not green: {run.summary()}")
        return [f"{run.level.value}: {problem}" for problem in out]
    if run.code != expected.exit_code:
        out.append(f"exit {run.code}, expected {expected.exit_code}")
    listed = (alias.get("warnings") or []) if expected.warning else findings
    if expected.warning and findings:
        out.append(f"a finding where a warning was expected: {run.summary()}")
    if not listed:
        return [f"{run.level.value}: no finding (exit {run.code}, {alias.get('status')})"]
    f = listed[0]
    got = (f["stage"], f["cause"], f["side"], tuple(f["nodes"]))
    want = (expected.stage.value, expected.cause, expected.side.value, expected.nodes)
    if got != want:
        out.append(f"{got} != {want}")
    if tuple(sorted(f.get("candidates") or ())) != expected.candidates:
        out.append(f"candidates {sorted(f.get('candidates') or ())}")
    fix = f.get("fix") or {}
    if not expected.decided:  # no fix yet: what would decide instead
        if not f.get("would_decide"):
            out.append("undecided without what would decide")
    elif not fix.get("summary"):
        out.append("no fix summary")
    else:
        kinds = FIX_KINDS.get(f["cause"])
        kind = first_action(fix.get("steps") or [])
        if kinds is None and cause(f["cause"]).side is not Side.NETWORK:
            out.append(f"no fix kind declared for [{f['cause']}] (FIX_KINDS)")
        elif kinds is not None and kind not in kinds:
            out.append(f"the fix starts with {kind}, not {sorted(kinds)}: {fix.get('steps')}")
    return [f"{run.level.value}: {problem}" for problem in out]


def no_secret(text: str, secrets: Sequence[str]) -> list[str]:
    return [s[:4] + "…" for s in secrets if s and s in text]


# --- the first fix, as printed, then `doctor --verify` ------------------------------------------

SIDES = ("local", "remote")
# --verify's rounds: a fix's restart or reload shows within a few seconds in the lab.
VERIFY = ("--verify", "--verify-rounds", "15", "--verify-interval", "0.3")


def doctor_in_process(lab: Lab, since: datetime, *extra: str) -> tuple[int, dict[str, Any], str]:
    """``isthmus doctor --json`` with all the evidence, as the lab user, in this process (the
    command line as given, without an interpreter's start)."""
    from isthmus.cli.doctor import doctor_cli

    args = ["--json", "--index", INDEX, "--alias", ALIAS, *level_args(lab, L.REMOTE, since)]
    done = CliRunner().invoke(doctor_cli, [*args, *extra], catch_exceptions=False)
    report = orjson.loads(done.stdout) if done.stdout.startswith("{") else {}
    return done.exit_code, report, done.output


def settle() -> datetime:
    """A log window that starts after what was just done (the closes and restarts it causes
    are logged a moment later): the next whole second at least 0.1 s away (--since has
    seconds)."""
    now = time.time()
    start = math.ceil(now + 0.1)
    time.sleep(start - now)
    return datetime.fromtimestamp(start)


def fix_then_verify(
    lab: Lab, run: Run, expected: DoctorVerdict, on_secret: Callable[[str], None]
) -> list[str]:
    """Apply the first fix of ``run`` (the doctor with all the evidence) as printed, then
    ``doctor --verify`` must be green with no finding or warning, and a search through the
    alias must find the documents; what went wrong (nothing: [])."""
    findings = run.alias.get("findings") or []
    if run.code != 1 or not findings or findings[0]["cause"] != expected.cause:
        return [f"no [{expected.cause}] finding to fix: {run.summary()}"]
    try:
        applied = apply_fix(lab, findings[0], on_secret)
    except FixNotRunnable as exc:
        return [f"the fix cannot be run as printed: {exc}"]
    steps = "\n".join(f"  {step}" for step in applied)
    code, report, output = doctor_in_process(lab, settle(), *VERIFY)
    if not report:
        return [f"--verify gave no report:\n{output[-2000:]}\nthe fix:\n{steps}"]
    verdict = report["aliases"][ALIAS]
    listed = [(f["stage"], f["cause"]) for f in verdict["findings"] + verdict["warnings"]]
    if (code, verdict["status"], listed) != (0, "green", []):
        said = f"exit {code}, {verdict['status']}, {listed}"
        return [f"--verify after the fix: {said}\nthe fix:\n{steps}\n{output[-3000:]}"]
    leaked = no_secret(output, [ELASTIC_PASSWORD, USER_PASSWORD, lab.credential or ""])
    if leaked:
        return [f"--verify: secrets in the output: {leaked}"]
    # The alias really works: a cross-cluster search as the lab user finds the documents.
    hits = _call(lab.user_url, "GET", f"/{ALIAS}:{INDEX}/_search")["hits"]["total"]["value"]
    return [] if hits > 0 else [f"a search through the alias found nothing\nthe fix:\n{steps}"]


def config_files(lab: Lab) -> set[Path]:
    return {p for which in SIDES for p in getattr(lab, which).config_dir.iterdir()}


def node_settings(lab: Lab) -> dict[str, dict[str, Any]]:
    return {which: dict(getattr(lab, which).settings) for which in SIDES}


def restore(lab: Lab, base: LabSpec, saved: dict[str, dict[str, Any]], files: set[Path]) -> None:
    """Back to the base after a scenario and its fix: the files the fix wrote in the config
    directories are removed and the settings files it edited put back (the nodes restarted
    with them; the remote is restarted by ``transition`` when its certificate changes back),
    then the spec, then the alias's settings (a fix may have changed any of them)."""
    for path in config_files(lab) - files:
        path.unlink()
    for which in SIDES:
        node = getattr(lab, which)
        if node.settings == saved[which]:
            continue
        node.settings = saved[which]
        if which == "remote" and lab.spec.remote_certificate != base.remote_certificate:
            continue
        node.stop()
        node.start()
    transition(lab, base)
    lab.register()


__all__ = [
    "FIX_KINDS",
    "SIDES",
    "VERIFY",
    "Run",
    "config_files",
    "doctor_in_process",
    "expected_at",
    "fix_then_verify",
    "level_args",
    "mismatches",
    "no_secret",
    "node_settings",
    "restore",
    "run_level",
    "run_levels",
    "settle",
]
