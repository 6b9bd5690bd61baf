"""Every symptom of the troubleshooting guide's API-key sections, on two real clusters.

Each case builds the pair from nothing (``isthmus.lab``: certificates, keystores, processes, a
cross-cluster API key, the lab user), with one fault, then asserts what the guide says a user
sees: ``_remote/info``, the local cluster's log lines, the remote's log lines (or their
absence), and the answer of a cross-cluster search. The expectations are the lab's own
(``isthmus.lab.scenarios``), so ``isthmus lab up <name>`` shows exactly what is checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

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
CASES = [(name, "proxy") for name in scenarios("proxy")] + [(name, "sniff") for name in SNIFF]


@pytest.mark.parametrize(("name", "mode"), CASES, ids=[f"{m}-{n}" for n, m in CASES])
def test_guide_symptom(
    name: str, mode: str, tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    scenario = scenarios(mode)[name]
    with Lab(tmp_path, scenario.spec) as lab:
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
