"""Does a running multi-node lab show its scenario's symptom? The one-node checks of
:mod:`isthmus.lab.verify`, made on the local node the scenario names, plus the facts only a
cluster of several nodes has (how many remote gateways ``_remote/info`` counts)."""

from __future__ import annotations

import time
from dataclasses import replace

from isthmus.lab.multinode import MultiNodeLab
from isthmus.lab.multinode_scenarios import MultiNodeScenario
from isthmus.lab.topology import ALIAS, _call
from isthmus.lab.verify import Observation, mismatches, observe


def apply_fault(lab: MultiNodeLab, scenario: MultiNodeScenario, timeout: float = 20.0) -> None:
    """Kill the remote node the scenario names once the alias reaches every remote node."""
    if scenario.kill_remote is None:
        return
    wait_nodes_connected(lab, len(lab.remote_nodes), timeout)
    lab.remote_nodes[scenario.kill_remote - 1].kill()


def wait_nodes_connected(lab: MultiNodeLab, count: int, timeout: float = 20.0) -> int:
    """Until ``_remote/info`` on the first local node counts ``count`` nodes (searches make the
    alias connect, as a user's would); the last count."""
    deadline = time.monotonic() + timeout
    seen = -1
    while True:
        try:
            _call(lab.user_url, "GET", f"/{ALIAS}:logs/_search?size=0")
        except Exception:  # the symptom may be a failing search; _remote/info says the rest
            pass
        seen = int(lab.remote_info().get(ALIAS, {}).get("num_nodes_connected", 0))
        if seen == count or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def observe_on(lab: MultiNodeLab, scenario: MultiNodeScenario) -> Observation:
    with lab.as_local(lab.local_nodes[scenario.observed_on - 1]):
        return observe(lab)


def multinode_mismatches(
    scenario: MultiNodeScenario, seen: Observation, lab: MultiNodeLab
) -> list[str]:
    problems = mismatches(replace(scenario, spec=scenario.check_spec()), seen, lab)
    if scenario.nodes_connected is not None:
        count = seen.remote_info.get("num_nodes_connected")
        if count != scenario.nodes_connected:
            problems.append(
                f"_remote/info num_nodes_connected is {count!r}, expected "
                f"{scenario.nodes_connected}"
            )
    return problems


def wait_for_symptom(
    lab: MultiNodeLab, scenario: MultiNodeScenario, timeout: float = 20.0
) -> tuple[Observation, list[str]]:
    deadline = time.monotonic() + timeout
    while True:
        with lab.as_local(lab.local_nodes[scenario.observed_on - 1]):
            seen = observe(lab)
            problems = multinode_mismatches(scenario, seen, lab)
        if not problems or time.monotonic() > deadline:
            return seen, problems
        time.sleep(0.3)


__all__ = [
    "apply_fault",
    "multinode_mismatches",
    "observe_on",
    "wait_for_symptom",
    "wait_nodes_connected",
]
