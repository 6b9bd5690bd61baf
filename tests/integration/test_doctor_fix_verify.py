"""Applying the doctor's first fix, as printed, makes ``isthmus doctor --verify`` green: for every
lab scenario a running pair can take (the same set as test_doctor_lab_verdicts.py), on one
shared pair (proxy mode, the relay in front, ports pinned so that a restart comes back where the
alias and the relay point).

Each case moves the pair into the scenario (``faults.transition``), runs the doctor with all
the evidence, applies the first finding's fix with :func:`isthmus.lab.apply_fix.apply_fix` —
REST steps sent to the side they name, the Isthmus command of each shell step run in that
side's config directory, "restart" done as ``isthmus lab restart`` does, and for a fault of the
network the relay healed (the relay is the lab's network: healing it is the network's part of
the fix) — then runs ``doctor --verify`` with the same evidence and a log window starting after
the fix, and searches through the alias. A step the applier cannot run as printed fails the
case. The pair goes back to the base afterwards (settings files, restarted nodes, then
``transition``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from isthmus.cli.doctor import doctor_cli
from isthmus.lab.apply_fix import apply_fix
from isthmus.lab.fault_scenarios import base_spec, fault_scenarios
from isthmus.lab.faults import on_pair, transition
from isthmus.lab.lifecycle import pin_ports
from isthmus.lab.scenarios import scenarios
from isthmus.lab.topology import ALIAS, ELASTIC_PASSWORD, INDEX, USER, USER_PASSWORD, Lab, _call
from isthmus.lab.verify import apply_fault, log_marks, wait_for_symptom

FAULTS = {s.name: s for s in fault_scenarios("proxy")}
GUIDE = {
    name: replace(s, spec=spec)
    for name, s in scenarios("proxy").items()
    if name not in FAULTS and (spec := on_pair(s.spec, base_spec("proxy"))) is not None
}
# The healthy ones (working, sni-proxy) have no fix to apply: the verdict test checks them green.
CASES = {name: s for name, s in {**GUIDE, **FAULTS}.items() if s.verdict is not None}
SIDES = ("local", "remote")


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("doctor-fix-verify"), base_spec("proxy"))
    with lab:
        lab.start()
        pin_ports(lab)  # a fix's restart comes back on the same ports, as `lab up` makes it
        for secret in (ELASTIC_PASSWORD, USER_PASSWORD, lab.credential):
            if secret:
                record_secret(secret)
        yield lab


def _doctor(lab: Lab, since: datetime, *extra: str) -> tuple[int, dict[str, Any], str]:
    """``isthmus doctor --json`` as the lab user, with all the evidence (as the verdict test
    runs it). In this process (the command line as given, without an interpreter's start per
    run: 46 runs here)."""
    assert lab.local is not None and lab.remote is not None
    args = [
        "--json", "--index", INDEX, "--alias", ALIAS,
        "--local", lab.local.url, "--local-user", USER, "--local-password", USER_PASSWORD,
        "--remote", lab.remote.url, "--remote-user", "elastic", "--remote-password", ELASTIC_PASSWORD,
        "--local-config", str(lab.local.config_dir), "--remote-config", str(lab.remote.config_dir),
        "--local-logs", str(lab.local.log_file.parent), "--remote-logs", str(lab.remote.log_file.parent),
        "--since", since.strftime("%Y-%m-%dT%H:%M:%S"), "--timeout", "3", *extra,
    ]  # fmt: skip
    done = CliRunner().invoke(doctor_cli, args, catch_exceptions=False)
    report = orjson.loads(done.stdout) if done.stdout.startswith("{") else {}
    return done.exit_code, report, done.output


def _settle() -> datetime:
    """A log window that starts after what was just done (the closes and restarts it causes
    are logged a moment later): the next whole second at least 0.1 s away (--since has
    seconds)."""
    now = time.time()
    start = math.ceil(now + 0.1)
    time.sleep(start - now)
    return datetime.fromtimestamp(start)


def _files(lab: Lab) -> set[Path]:
    return {p for which in SIDES for p in getattr(lab, which).config_dir.iterdir()}


def _restore(lab: Lab, base: Any, saved: dict[str, dict[str, Any]], files: set[Path]) -> None:
    """Back to the base: the files the fix wrote in the config directories are removed and
    the settings files it edited put back (the nodes restarted with them; the remote is
    restarted by ``transition`` when its certificate changes back), then the spec, then the
    alias's settings (a fix may have changed any of them)."""
    for path in _files(lab) - files:
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


@pytest.mark.parametrize("name", sorted(CASES))
def test_first_fix_as_printed_makes_verify_green(
    name: str, pair: Lab, record_secret: Callable[[str], None]
) -> None:
    scenario = CASES[name]
    base = pair.spec
    saved = {which: dict(getattr(pair, which).settings) for which in SIDES}
    files = _files(pair)
    marks = log_marks(pair)
    try:
        transition(pair, scenario.spec)
        since = _settle()
        if scenario.expected.connected:
            # A fault that shows over time (connections cut while it works): its lines after
            # the move, not the closes of the move itself.
            marks = log_marks(pair)
        apply_fault(pair, scenario)
        wait_for_symptom(pair, scenario, since=marks)
        code, report, output = _doctor(pair, since)
        assert report and code == 1, output[-2000:]
        first = report["aliases"][ALIAS]["findings"][0]
        assert scenario.verdict is not None and first["cause"] == scenario.verdict.cause, first
        applied = apply_fix(pair, first, record_secret)
        since = _settle()
        code, report, output = _doctor(
            pair, since, "--verify", "--verify-rounds", "15", "--verify-interval", "0.3"
        )
        steps = "\n".join(map(str, applied))
        assert report, output[-2000:]
        verdict = report["aliases"][ALIAS]
        summary = [(f["stage"], f["cause"]) for f in verdict["findings"] + verdict["warnings"]]
        assert (code, verdict["status"], summary) == (0, "green", []), f"{steps}\n{output[-3000:]}"
        # The alias really works: a cross-cluster search as the lab user finds the documents.
        hits = _call(pair.user_url, "GET", f"/{ALIAS}:{INDEX}/_search")["hits"]["total"]["value"]
        assert hits > 0, steps
    finally:
        _restore(pair, base, saved, files)
