"""The doctor's verdict on every lab scenario that a running pair can take, with all the
evidence (both clusters' REST APIs, configuration directories and logs, and the probe): the
stage, cause, side and nodes each scenario declares (``Scenario.verdict``), green with zero
findings for the working base. One pair (proxy mode, the relay in front) takes the scenarios
in turn (``faults.transition``) and is healed after each, as test_lab_faults.py does; the
log window starts at each move, so an earlier scenario's lines are not evidence."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime

import orjson
import pytest

from isthmus.lab.fault_scenarios import base_spec, fault_scenarios
from isthmus.lab.faults import on_pair, transition
from isthmus.lab.scenarios import Scenario, scenarios
from isthmus.lab.topology import ALIAS, ELASTIC_PASSWORD, USER, USER_PASSWORD, Lab
from isthmus.lab.verify import apply_fault, log_marks, wait_for_symptom

FAULTS = {s.name: s for s in fault_scenarios("proxy")}
GUIDE = {
    name: replace(s, spec=spec)
    for name, s in scenarios("proxy").items()
    if name not in FAULTS and (spec := on_pair(s.spec, base_spec("proxy"))) is not None
}
ALL = {**GUIDE, **FAULTS}


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("doctor-verdicts"), base_spec("proxy"))
    with lab:
        lab.start()
        for secret in (ELASTIC_PASSWORD, USER_PASSWORD, lab.credential):
            if secret:
                record_secret(secret)
        yield lab


def _doctor(lab: Lab, since: datetime) -> tuple[int, dict[str, object], str]:
    assert lab.local is not None and lab.remote is not None
    args = [
        sys.executable, "-m", "isthmus", "doctor", "--json", "--index", "logs", "--alias", ALIAS,
        "--local", lab.local.url, "--local-user", USER, "--local-password", USER_PASSWORD,
        "--remote", lab.remote.url, "--remote-user", "elastic", "--remote-password", ELASTIC_PASSWORD,
        "--local-config", str(lab.local.config_dir), "--remote-config", str(lab.remote.config_dir),
        "--local-logs", str(lab.local.log_file.parent), "--remote-logs", str(lab.remote.log_file.parent),
        "--since", since.strftime("%Y-%m-%dT%H:%M:%S"),
    ]  # fmt: skip
    env = {**os.environ, "TERM": "dumb"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, check=False)
    report = orjson.loads(done.stdout) if done.stdout.startswith("{") else {}
    return done.returncode, report, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["working", *sorted(n for n in ALL if n != "working")])
def test_doctor_verdict_with_all_evidence(name: str, pair: Lab) -> None:
    scenario: Scenario = ALL.get(name) or replace(scenarios("proxy")["working"], spec=pair.spec)
    base = pair.spec
    marks = log_marks(pair)
    try:
        if scenario.spec != base:
            transition(pair, scenario.spec)
        # The move itself closes connections (a relay cut, a restart): those lines are the
        # lab's doing, not the fault's, so the doctor's log window starts after it.
        time.sleep(1.0)
        since = datetime.now().replace(microsecond=0)
        apply_fault(pair, scenario)
        wait_for_symptom(pair, scenario, since=marks)
        code, report, output = _doctor(pair, since)
    finally:
        transition(pair, base)
    assert report, output
    verdict = report["aliases"][ALIAS]  # type: ignore[index]
    expected = scenario.verdict
    if expected is None:
        summary = [(f["stage"], f["cause"]) for f in verdict["findings"]]
        assert (code, summary) == (0, []), output[-2000:]
        return
    assert verdict["findings"], f"no finding (exit {code})"
    found = verdict["findings"][0]
    got = (found["stage"], found["cause"], found["side"], tuple(found["nodes"]))
    want = (expected.stage.value, expected.cause, expected.side.value, expected.nodes)
    assert got == want, f"{got} != {want}: {found['message']}"
    assert code == 1
    assert found["fix"] and found["fix"]["summary"], "a fix (network fixes have no commands)"
