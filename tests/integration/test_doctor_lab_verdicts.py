"""The doctor's verdict on every lab scenario that a running pair can take, at each evidence
level (``EvidenceLevel``: local REST only; + local logs and config; + the active probe; + the
remote side): exit code, stage, cause, side, nodes, and the first fix (a summary; a first
action of the right kind for the cause) or, undecided, the candidates and what would decide, as
each scenario declares (``Scenario.verdict.at(level)``); green with zero findings for the
working base. Then the first fix, as printed, makes ``isthmus doctor --verify`` green.

One pair (proxy mode, the relay in front, ports pinned so that a fix's restart comes back where
the alias and the relay point) takes the scenarios in turn (``faults.transition``); each fault
is applied once and the four levels run at once; the log window starts at each move, so an
earlier scenario's lines are not evidence. No password or key appears in any output.

The fix: the all-evidence run's first finding is applied with
:func:`isthmus.lab.apply_fix.apply_fix` (REST steps sent to the side they name, the Isthmus
command of each shell step run in that side's config directory, "restart" done as ``isthmus
lab restart`` does, and for a fault of the network the relay healed: the relay is the lab's
network); then ``doctor --verify`` with the same evidence and a log window starting after the
fix must be green with no finding or warning, and a search through the alias must find the
documents. A step the applier cannot run as printed fails the case. The pair goes back to the
base afterwards (settings files, restarted nodes, then ``transition``). A failure says whether
the verdict or the fix failed (both, when both did).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime

import pytest

from isthmus.lab.fault_scenarios import base_spec, fault_scenarios
from isthmus.lab.faults import on_pair, transition
from isthmus.lab.lifecycle import pin_ports
from isthmus.lab.scenarios import EvidenceLevel, Scenario, scenarios
from isthmus.lab.topology import ALIAS, ELASTIC_PASSWORD, USER_PASSWORD, Lab
from isthmus.lab.verify import apply_fault, log_marks, wait_for_symptom

from .doctor_levels import (
    config_files,
    expected_at,
    fix_then_verify,
    mismatches,
    no_secret,
    node_settings,
    restore,
    run_levels,
)

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
        pin_ports(lab)  # a fix's restart comes back on the same ports, as `lab up` makes it
        for secret in (ELASTIC_PASSWORD, USER_PASSWORD, lab.credential):
            if secret:
                record_secret(secret)
        yield lab


@pytest.mark.parametrize("name", ["working", *sorted(n for n in ALL if n != "working")])
def test_doctor_verdict_at_every_evidence_level_then_the_fix_verifies(
    name: str, pair: Lab, record_secret: Callable[[str], None]
) -> None:
    scenario: Scenario = ALL.get(name) or replace(scenarios("proxy")["working"], spec=pair.spec)
    base = pair.spec
    saved, files = node_settings(pair), config_files(pair)
    marks = log_marks(pair)
    secrets = [ELASTIC_PASSWORD, USER_PASSWORD, pair.credential or ""]
    problems: list[str] = []
    fixed: list[str] = []
    try:
        if scenario.spec != base:
            transition(pair, scenario.spec)
        # The move itself closes connections (a relay cut, a restart): those lines are the
        # lab's doing, not the fault's, so the doctor's log window starts after it.
        # --since has whole seconds: the window starts at the next one (what a 1 s wait and
        # a time truncated to the second gave, without the rest of the wait).
        moved = time.time()
        time.sleep(math.floor(moved) + 1 - moved)
        since = datetime.fromtimestamp(math.floor(moved) + 1)
        apply_fault(pair, scenario)
        wait_for_symptom(pair, scenario, since=marks)
        runs = run_levels(pair, since)
        address = str(pair.remote_info().get(ALIAS, {}).get("proxy_address"))
        for level, run in runs.items():
            expected = expected_at(scenario.verdict, level, address)
            problems += mismatches(run, expected, lab_cuts=name != "working")
            leaked = no_secret(run.output, secrets)
            if leaked:
                problems.append(f"{level.value}: secrets in the output: {leaked}")
        if scenario.verdict is not None:  # a healthy scenario has no fix to apply
            fixed = fix_then_verify(
                pair, runs[EvidenceLevel.REMOTE], scenario.verdict, record_secret
            )
    finally:
        restore(pair, base, saved, files)
    said = "\n".join(f"  {level.value}: {run.summary()}" for level, run in runs.items())
    failed = [f"the verdict: {p}" for p in problems] + [f"the fix: {p}" for p in fixed]
    assert not failed, "\n".join(failed) + "\n" + said
