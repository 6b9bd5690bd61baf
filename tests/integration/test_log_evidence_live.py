"""The doctor's log evidence on logs written just now by two real clusters (the lab).

The unit tests read logs the lab recorded once (``tests/fixtures/doctor/logs``); this reads the
log directories of running nodes, so a change in what Isthmus logs (wording, format, time zone
of the plain file) that the doctor no longer understands fails here, not in a user's hands.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from isthmus.doctor.logs import log_findings, read_log_dir
from isthmus.lab.scenarios import scenarios
from isthmus.lab.topology import ELASTIC_PASSWORD, USER_PASSWORD, Lab
from isthmus.lab.verify import apply_fault, wait_for_symptom
from tests.unit.doctor.log_cases import LAB

# One per family: TLS trust decided by the remote's profile, a client certificate refused on
# the transport port, a key only the remote's authenticator can name.
CASES = ["untrusted-ca-proxy", "transport-port-shared-ca-proxy", "invalidated-key-proxy"]


@pytest.mark.parametrize("case", CASES)
def test_live_logs(case: str, tmp_path: Path, record_secret: Callable[[str], None]) -> None:
    name, mode = case.rsplit("-", 1)
    alone, both = next((a, b) for c, a, b in LAB if c == case)
    scenario = scenarios(mode)[name]
    with Lab(tmp_path, scenario.spec) as lab:
        lab.start()
        secrets = [ELASTIC_PASSWORD, USER_PASSWORD, lab.credential or ""]
        if lab.key is not None:
            secrets += [str(lab.key["api_key"]), str(lab.key["encoded"])]
        for secret in secrets:
            if secret:
                record_secret(secret)
        apply_fault(lab, scenario)
        _, problems = wait_for_symptom(lab, scenario)
        assert problems == []
        assert lab.local is not None and lab.remote is not None
        local = read_log_dir(lab.local.home / "logs")  # the machine's zone, as the node wrote it
        remote = read_log_dir(lab.remote.home / "logs")
    results = log_findings(local, remote, "my")
    (finding,) = [f for r in results for f in r.findings]
    result = results[0]
    assert (result.stage.value, result.outcome.value, finding.cause) == both[:3]
    assert finding.nodes[0] == "local-node" and "remote-node" in finding.nodes
    alone_results = log_findings(local, None, "my")
    assert [(r.stage.value, r.outcome.value, r.findings[0].cause) for r in alone_results] == [
        alone[:3]
    ]
    text = orjson.dumps([r.to_json() for r in results + alone_results]).decode()
    assert not [s[:3] for s in secrets if s and s in text]
