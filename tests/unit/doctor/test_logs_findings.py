"""What the logs say about an alias: every symptom of the troubleshooting guide, from the guide's
own lines and from real lines Isthmus wrote in the lab (JSON and plain), with and without the
remote cluster's log, each to its stage, cause, side and nodes (tables in ``log_cases``)."""

from __future__ import annotations

from datetime import UTC

import pytest

from isthmus.doctor.logs import log_findings, read_log_dir
from isthmus.doctor.model import Outcome
from tests.unit.doctor.log_cases import (
    FIXTURES,
    GUIDE,
    LAB,
    F,
    Got,
    L,
    lab_port,
    load,
    run,
    summary,
)


@pytest.mark.parametrize(
    ("case", "remote", "expected"),
    GUIDE,
    ids=[f"{c}-{'both' if r else 'local'}" for c, r, _ in GUIDE],
)
def test_guide(case: str, remote: bool, expected: Got) -> None:
    assert summary(run(f"guide/{case}", remote=remote)) == [expected]


def test_guide_unreliable_connection_names_its_alias() -> None:
    """The guide's example names the remote ``my-remote`` in the node id ``{my-remote#...}``."""
    case = FIXTURES / "guide" / "connection-unreliable"
    local = load(case, "local") or []
    assert summary(log_findings(local, None, "my")) == []
    (got,) = summary(log_findings(local, None, "my-remote"))
    assert got == Got(
        "tcp",
        F,
        "connection_unreliable",
        "network",
        ("local-node", "192.168.0.42:9443"),
        "possible",
    )


@pytest.mark.parametrize(("case", "alone", "both"), LAB, ids=[c for c, _, _ in LAB])
def test_lab_scenario(case: str, alone: tuple[str, ...], both: tuple[str, ...]) -> None:
    address = f"{L}:{lab_port(case)}"
    (got,) = summary(run(case, remote=False))
    assert (got.stage, got.outcome, got.cause, got.side, got.confidence, got.candidates) == alone
    assert got.nodes[0] == "local-node" and got.nodes[-1] == address
    (got,) = summary(run(case, remote=True))
    assert (got.stage, got.outcome, got.cause, got.confidence, got.candidates) == both
    assert got.nodes[0] == "local-node" and got.nodes[-1] == address
    # The remote's node is named exactly when its log took part.
    remote_spoke = any(
        e.source.startswith("remote log")
        for r in run(case, remote=True)
        for f in r.findings
        for e in f.evidence
    )
    assert ("remote-node" in got.nodes) is (
        remote_spoke or "remote-node" in str(run(case, remote=False))
    )


@pytest.mark.parametrize(
    "case", ["working-proxy", "insufficient-privileges-proxy", "no-remote-indices-proxy"]
)
def test_lab_scenarios_the_logs_do_not_show(case: str) -> None:
    """A healthy pair, and the authorization faults the guide says show in no log."""
    assert run(case, remote=True) == [] and run(case, remote=False) == []


@pytest.mark.parametrize("case", [c for c, _, _ in LAB])
def test_lab_plain_file_says_what_the_json_says(case: str) -> None:
    path = FIXTURES / case
    plain_local = read_log_dir(next((path / "local").glob("*.log")), tz=UTC)
    plain_remote = read_log_dir(next((path / "remote").glob("*.log")), tz=UTC)
    from_plain = log_findings(plain_local, plain_remote, "my")
    assert summary(from_plain) == summary(run(case, remote=True))


@pytest.mark.parametrize("plain", [True, False], ids=["plain", "json"])
def test_lab_remote_restart_explains_its_closures_and_refusals(plain: bool) -> None:
    """A working pair whose remote node was restarted (``isthmus lab restart remote``): alone,
    the local log shows closed and refused connections; the remote's log shows its node
    stopping then, and back since: not a fault of the network or of the address."""
    path = FIXTURES / "working-restarted-remote-proxy"
    pattern = "*.log" if plain else "*.json"
    local = read_log_dir(next((path / "local").glob(pattern)), tz=UTC)
    remote = read_log_dir(next((path / "remote").glob(pattern)), tz=UTC)
    alone = summary(log_findings(local, None, "my"))
    assert sorted((g.cause, g.confidence) for g in alone) == [
        ("connection_unreliable", "possible"),
        ("tcp_refused", "certain"),
    ]
    (result,) = log_findings(local, remote, "my")
    assert (result.stage.value, result.outcome, result.findings) == ("tcp", Outcome.PASSED, ())
    details = [e.detail for e in result.evidence]
    assert any("stopping ..." in d for d in details)
    assert "were closed and refused because the remote node restarted" in details[-1]
