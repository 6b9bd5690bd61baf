"""The lab's faults beyond the guide (``isthmus.lab.fault_scenarios``) on two real clusters.

One pair per remote mode runs every scenario in turn: the pair is moved into the scenario
(``faults.transition``: the relay's mode, the alias's settings, the remote's certificate, the
keystore), its symptom is asserted from what a user sees (``_remote/info``, a cross-cluster
search, both clusters' log lines written since the move), and the fault is healed by moving
back to the working base, which must then search again. The proxy scenarios that mostly wait
(connect timeouts, the relay's idle cut) do the same on a second proxy pair, in a thread, while
the others run. ``isthmus lab up <name>`` builds the same specs from nothing. The guide's
scenarios that a running pair can take (``faults.on_pair``: the key, the user, the alias's
target) run on the proxy pair the same way; ``test_guide_scenarios.py`` builds each of them from
nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest

from isthmus.lab import session
from isthmus.lab.fault_scenarios import base_spec, fault_scenarios
from isthmus.lab.faults import on_pair, transition
from isthmus.lab.relay_config import RelayMode
from isthmus.lab.scenarios import Expected, Scenario, scenarios
from isthmus.lab.topology import (
    ALIAS,
    ELASTIC_PASSWORD,
    INDEX,
    USER,
    USER_PASSWORD,
    Lab,
    LabError,
    _call,
    _with_user,
)
from isthmus.lab.verify import apply_fault, log_marks, wait_for_symptom

# In sniff mode the certificate faults show the same TLS failure; two of them run there too, for
# the sniffed connection path (the dialled address is the remote's publish address) and the
# keystore, and the proxy mode runs them all.
SNIFF = ("certificate-without-address", "credential-not-reloaded")


def _waits(scenario: Scenario) -> bool:
    """A scenario that spends its time waiting: for connect timeouts (a relay that never
    answers, black-holed or silent after accepting) or for the relay's idle cut."""
    spec = scenario.spec
    return spec.relay in (RelayMode.BLACKHOLE, RelayMode.DROP) or spec.relay_idle_cut is not None


# The proxy scenarios that wait run on a second proxy pair of their own, in turn, in a thread
# started with the module's first test; their cases come last, by when they are (nearly) done.
WAITING = [s.name for s in fault_scenarios("proxy") if _waits(s)]
CASES = (
    [(s.name, "proxy") for s in fault_scenarios("proxy") if not _waits(s)]
    + [(n, "sniff") for n in SNIFF]
    + [(n, "proxy") for n in WAITING]
)
# The guide's scenarios that a running pair can take (key, user, alias target): the doctor's
# tests run them on one pair too, so the lab must show the same symptoms there.
GUIDE = [
    name
    for name, s in scenarios("proxy").items()
    if name not in {f.name for f in fault_scenarios("proxy")}
    and on_pair(s.spec, base_spec("proxy")) is not None
]


def _start(lab: Lab, record_secret: Callable[[str], None]) -> Lab:
    lab.start()
    for secret in (ELASTIC_PASSWORD, USER_PASSWORD, lab.credential):
        if secret:
            record_secret(secret)
    if lab.key is not None:
        record_secret(str(lab.key["api_key"]))
        record_secret(str(lab.key["encoded"]))
    return lab


@pytest.fixture(scope="module")
def labs(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[dict[str, Lab]]:
    """The working base pair of each mode, started on first use and shared by the module."""
    started: dict[str, Lab] = {}

    class Pairs(dict[str, Lab]):
        def __missing__(self, mode: str) -> Lab:
            lab = Lab(tmp_path_factory.mktemp(f"faults-{mode}"), base_spec(mode))
            started[mode] = lab
            self[mode] = _start(lab, record_secret)
            return lab

    yield Pairs()
    for lab in started.values():
        lab.stop()


@pytest.fixture(scope="module", autouse=True)
def waiting(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    record_secret: Callable[[str], None],
) -> Iterator[dict[str, Future[None]]]:
    """The selected proxy scenarios of ``WAITING``, run in turn on a proxy pair of their own in
    a background thread; each case's outcome (its assertion error, if any) in a future."""
    selected = [
        item.callspec.params["name"]
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.module is request.module
        and item.originalname == "test_fault_symptom_then_heal"
        and item.callspec.params["mode"] == "proxy"
        and item.callspec.params["name"] in WAITING
    ]
    outcomes: dict[str, Future[None]] = {name: Future() for name in selected}
    root = tmp_path_factory.mktemp("faults-proxy-waiting")

    def run() -> None:
        lab = Lab(root, base_spec("proxy"))
        try:
            _start(lab, record_secret)
            for name in selected:
                try:
                    _symptom_then_heal(
                        next(s for s in fault_scenarios("proxy") if s.name == name), lab
                    )
                except BaseException as exc:  # reported by the case's own test
                    outcomes[name].set_exception(exc)
                else:
                    outcomes[name].set_result(None)
        except BaseException as exc:  # the pair did not start: every case fails with it
            for outcome in outcomes.values():
                if not outcome.done():
                    outcome.set_exception(exc)
        finally:
            lab.stop()

    thread = threading.Thread(target=run, name="lab faults that wait")
    if selected:
        thread.start()
    yield outcomes
    if selected:
        thread.join()


def test_every_scenario_names_a_doctor_verdict() -> None:
    """The doctor's tests iterate over these: a declared cause at its stage, a side, the nodes;
    only the working setups have none (the doctor reports them green)."""
    from isthmus.lab.scenarios import scenarios

    for mode in ("proxy", "sniff"):
        for scenario in scenarios(mode).values():
            if scenario.name in ("working", "sni-proxy"):
                assert scenario.verdict is None
                continue
            assert scenario.verdict is not None, scenario.name
            assert scenario.verdict.nodes, scenario.name
    assert set(SNIFF) <= set(scenarios("sniff"))


def _report(scenario: Scenario, problems: list[str], seen: object) -> str:
    local = getattr(seen, "local_log", "")[-3000:]
    remote = getattr(seen, "remote_log", "")[-1500:]
    return f"{scenario.title}: {problems}\n--- local log ---\n{local}\n--- remote log ---\n{remote}"


@pytest.mark.parametrize(("name", "mode"), CASES, ids=[f"{m}-{n}" for n, m in CASES])
def test_fault_symptom_then_heal(
    name: str, mode: str, labs: dict[str, Lab], waiting: dict[str, Future[None]]
) -> None:
    if mode == "proxy" and name in waiting:
        waiting[name].result()  # run on the waiting pair; its assertion error is raised here
        return
    _symptom_then_heal(next(s for s in fault_scenarios(mode) if s.name == name), labs[mode])


@pytest.mark.parametrize("name", GUIDE)
def test_guide_symptom_on_a_shared_pair(name: str, labs: dict[str, Lab]) -> None:
    scenario = scenarios("proxy")[name]
    spec = on_pair(scenario.spec, base_spec("proxy"))
    assert spec is not None
    _symptom_then_heal(replace(scenario, spec=spec), labs["proxy"])


def _symptom_then_heal(scenario: Scenario, lab: Lab) -> None:
    mode = scenario.spec.mode
    base = lab.spec
    assert base == base_spec(mode), "a previous scenario was not healed"
    since = log_marks(lab)
    try:
        transition(lab, scenario.spec)
        apply_fault(lab, scenario)
        seen, problems = wait_for_symptom(lab, scenario, since=since)
        assert problems == [], _report(scenario, problems, seen)
    finally:
        transition(lab, base)
    healthy = Scenario("healed", "the working base again", base, Expected(connected=True),
                       "-", "-", "-")  # fmt: skip
    seen, problems = wait_for_symptom(lab, healthy, since=log_marks(lab))
    assert problems == [], _report(healthy, problems, seen)


def _isthmus(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-m", "isthmus", *args],
        cwd=cwd, text=True, capture_output=True, timeout=180, check=False, env=env,
    )  # fmt: skip


def test_lab_up_a_relay_scenario_and_down(tmp_path: Path) -> None:
    """``isthmus lab up`` builds a relay scenario from nothing: the relay outlives the command
    like the nodes, the symptom is verified; ``lab path`` heals and breaks the path by hand;
    ``lab down`` stops all three processes."""
    root = tmp_path / "lab"
    sniff = _isthmus("lab", "up", "reset", "--mode", "sniff", "--dir", str(root), cwd=tmp_path)
    assert sniff.returncode == 2 and "exists in proxy mode only" in sniff.stdout
    listed = _isthmus("lab", "list", cwd=tmp_path)
    assert (
        "sni-proxy-no-server-name" in listed.stdout and "credential-not-reloaded" in listed.stdout
    )

    up = _isthmus(
        "lab", "up", "sni-proxy-no-server-name", "--dir", str(root), "--reveal", cwd=tmp_path
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert "symptom verified" in up.stdout and "relay (sni)" in up.stdout
    pids = session.running_pids(root.resolve())
    assert len(pids) == 3  # remote, local, relay

    # Heal the path by hand: the proxy no longer routes by SNI, the alias connects.
    healed = _isthmus("lab", "path", "pass", "--dir", str(root), cwd=tmp_path)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert "mode [pass]" in healed.stdout
    state = session.read_state(root.resolve())
    assert state is not None
    user_url = _with_user(str(state["local"]), USER, USER_PASSWORD)
    hits = _call(user_url, "GET", f"/{ALIAS}:{INDEX}/_search")["hits"]["total"]["value"]
    assert hits == 3
    broken = _isthmus("lab", "path", "reset", "--dir", str(root), cwd=tmp_path)
    assert broken.returncode == 0 and "mode [reset]" in broken.stdout
    with pytest.raises(LabError) as refused:
        _call(user_url, "GET", f"/{ALIAS}:{INDEX}/_search")
    assert "Connection reset by peer" in refused.value.body
    bad = _isthmus("lab", "path", "teleport", "--dir", str(root), cwd=tmp_path)
    assert bad.returncode == 2 and "unknown relay mode [teleport]" in bad.stdout

    down = _isthmus("lab", "down", "--dir", str(root), cwd=tmp_path)
    assert down.returncode == 0 and "stopped 3 node(s)" in down.stdout
    assert not any(session.is_node(p, root.resolve()) for p in pids)
