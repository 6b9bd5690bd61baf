"""The troubleshooting guide's failures as lab scenarios: how each is built, and what it shows.

Each :class:`Scenario` is a :class:`~isthmus.lab.topology.LabSpec` with one fault, plus the
symptom the guide describes: the lines the local and the remote cluster log (or must not log),
whether ``_remote/info`` says connected, and how a cross-cluster search as the lab user ends.
The integration tests assert exactly these expectations, and ``isthmus lab up`` builds the same
specs, so what a learner sees is what CI checked.

Each scenario also says what ``isthmus doctor`` should conclude (:class:`DoctorVerdict`) at each
evidence level (:class:`EvidenceLevel`: local REST only, + local logs and config, + the probe,
+ the remote side): ``scenario.verdict.levels()``. The doctor's tests iterate over them
(``tests/integration/test_doctor_lab_verdicts.py``). The faults beyond the guide (the path, proxies,
certificates, a forgotten reload) are in :mod:`isthmus.lab.fault_scenarios`; :func:`scenarios`
lists both.

The rooms: the model (:class:`Scenario`, :class:`Expected`, :class:`DoctorVerdict`,
:class:`EvidenceLevel`) in :mod:`isthmus.lab.scenario_model`, re-exported here; the guide's
scenarios in :mod:`isthmus.lab.guide_scenarios` and their verdicts in
:mod:`isthmus.lab.guide_verdicts`.
"""

from __future__ import annotations

from dataclasses import replace

from isthmus.lab.guide_scenarios import guide_scenarios
from isthmus.lab.guide_verdicts import GUIDE_VERDICTS
from isthmus.lab.scenario_model import (
    ADDRESS,
    KEY_ID,
    LEVELS,
    DoctorVerdict,
    EvidenceLevel,
    Expected,
    Scenario,
)


def scenarios(mode: str = "proxy") -> dict[str, Scenario]:
    """Every scenario, for remote ``mode`` ("proxy" or "sniff"): the guide's, then
    :mod:`isthmus.lab.fault_scenarios`' (some of which exist in proxy mode only)."""
    from isthmus.lab.fault_scenarios import fault_scenarios

    guide = [replace(s, verdict=GUIDE_VERDICTS.get(s.name)) for s in guide_scenarios(mode)]
    return {s.name: s for s in guide + fault_scenarios(mode)}


def lab_scenarios(mode: str = "proxy") -> dict[str, Scenario]:
    """What ``isthmus lab`` offers: :func:`scenarios` (the remote connection's faults, which the
    doctor diagnoses), the replication failures of :mod:`isthmus.lab.ccr_scenarios` and the
    faults that need clusters of several nodes (:mod:`isthmus.lab.multinode_scenarios`)."""
    from isthmus.lab.ccr_scenarios import ccr_scenarios
    from isthmus.lab.multinode_scenarios import multinode_scenarios

    return {
        **scenarios(mode),
        **{s.name: s for s in ccr_scenarios(mode)},
        **{s.name: s for s in multinode_scenarios(mode)},
    }


__all__ = [
    "ADDRESS",
    "KEY_ID",
    "LEVELS",
    "DoctorVerdict",
    "EvidenceLevel",
    "Expected",
    "Scenario",
    "lab_scenarios",
    "scenarios",
]
