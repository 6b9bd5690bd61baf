"""Every symptom of the troubleshooting guide's API-key sections, on two real clusters.

Each case builds the pair from nothing (``isthmus.lab``: certificates, keystores, processes, a
cross-cluster API key, the lab user), with one fault, then asserts what the guide says a user
sees: ``_remote/info``, the local cluster's log lines, the remote's log lines (or their
absence), and the answer of a cross-cluster search. The expectations are the lab's own
(``isthmus.lab.scenarios``), so ``isthmus lab up <name>`` shows exactly what is checked here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from isthmus.lab.relay_config import RelayMode
from isthmus.lab.scenarios import scenarios
from isthmus.lab.topology import ELASTIC_PASSWORD, USER_PASSWORD, Lab
from isthmus.lab.verify import apply_fault, wait_for_symptom

# Sniff mode differs only in the strategy's log line: its own wording is checked on the
# scenarios whose failure happens at connect time, and on the working ones.
SNIFF = (
    "working",
    "server-disabled",
    "wrong-port",
    "untrusted-ca",
    "transport-port-client-cert",
    "rest-key",
    "invalid-key",
    "insufficient-privileges",
    "no-remote-indices",
)

# A relay that never answers (black-holed, or TCP accepted then silence) makes every connect attempt
# run into transport.connect_timeout: such a case spends most of its time asleep (three attempts
# when the alias is registered, three more for the search). Those cases start in the background
# with the module's first test and run while the others do; their own tests come last and wait
# for the outcome.
SILENT = {RelayMode.BLACKHOLE, RelayMode.DROP}


def _waits_for_timeouts(name: str, mode: str) -> bool:
    return scenarios(mode)[name].spec.relay in SILENT


ALL = [(name, "proxy") for name in scenarios("proxy")] + [(name, "sniff") for name in SNIFF]
CASES = sorted(ALL, key=lambda case: _waits_for_timeouts(*case))  # stable: the waiting ones last


def _check(
    name: str,
    mode: str,
    root: Path,
    record_secret: Callable[[str], None],
    stopping: list[Lab],
) -> None:
    """Build scenario ``name`` from nothing under ``root`` and assert its symptom."""
    scenario = scenarios(mode)[name]
    lab = Lab(root, scenario.spec)
    try:
        lab.start()
        for secret in (ELASTIC_PASSWORD, USER_PASSWORD, lab.credential):
            if secret:
                record_secret(secret)
        if lab.key is not None:
            record_secret(str(lab.key["api_key"]))
            record_secret(str(lab.key["encoded"]))
        apply_fault(lab, scenario)
        seen, problems = wait_for_symptom(lab, scenario)
        assert problems == [], (
            f"{scenario.title}: {problems}\n--- local log ---\n{seen.local_log[-3000:]}"
            f"\n--- remote log ---\n{seen.remote_log[-2000:]}"
        )
    finally:
        for node in (lab.local, lab.remote):
            if node is not None:
                node.request_stop()
        stopping.append(lab)


@pytest.fixture(scope="module")
def stopping() -> Iterator[list[Lab]]:
    """Pairs told to stop (SIGTERM) and not waited for: their nodes take ~0.5 s to exit, mostly
    waiting, while the next case builds its own pair; the module waits for them all at its end."""
    labs: list[Lab] = []
    yield labs
    for lab in labs:
        lab.stop()


@pytest.fixture(scope="module", autouse=True)
def in_background(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    record_secret: Callable[[str], None],
    stopping: list[Lab],
) -> Iterator[dict[tuple[str, str], Future[None]]]:
    """The selected cases that wait for timeouts, started now, each in a thread of its own."""
    selected = [
        (item.callspec.params["name"], item.callspec.params["mode"])
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is request.module
    ]
    slow = [case for case in selected if _waits_for_timeouts(*case)]
    with ThreadPoolExecutor(max(1, len(slow)), thread_name_prefix="guide-scenario") as pool:
        yield {
            (name, mode): pool.submit(
                _check,
                name,
                mode,
                tmp_path_factory.mktemp(f"{mode}-{name}"),
                record_secret,
                stopping,
            )
            for name, mode in slow
        }


@pytest.mark.parametrize(("name", "mode"), CASES, ids=[f"{m}-{n}" for n, m in CASES])
def test_guide_symptom(
    name: str,
    mode: str,
    tmp_path: Path,
    record_secret: Callable[[str], None],
    in_background: dict[tuple[str, str], Future[None]],
    stopping: list[Lab],
) -> None:
    running = in_background.get((name, mode))
    if running is not None:
        running.result()  # the case's own assertion, raised here if it failed
    else:
        _check(name, mode, tmp_path, record_secret, stopping)
