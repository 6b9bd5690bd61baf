"""The lab's scenarios that need clusters of several nodes (isthmus.lab.multinode_scenarios),
each built from nothing with real processes and checked as the one-node scenarios are: the
symptom on the local node the scenario names (``_remote/info``, a search as the lab user, the
log lines), the number of remote gateways connected, and for the local faults the doctor's
verdict naming the node at fault, then the fix.

The four labs are built two at a time (threads) by one module fixture; each takes 4-7 s alone
(a busy machine starting 14 nodes at once slows every start past its timeout).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from isthmus.cli.main import cli
from isthmus.lab.multinode import MultiNodeLab
from isthmus.lab.multinode_scenarios import MultiNodeScenario, multinode_scenarios
from isthmus.lab.multinode_verify import apply_fault, wait_for_symptom
from isthmus.lab.topology import (
    ALIAS,
    ELASTIC_PASSWORD,
    INDEX,
    USER,
    USER_PASSWORD,
    _call,
    _keystore,
)

CASES = [
    ("credential-on-one-node", "proxy"),
    ("no-remote-cluster-client-role", "proxy"),
    ("sniff-gateway-down", "sniff"),
    ("sniff-gateway-unreachable-publish-address", "sniff"),
]


def scenario(name: str, mode: str) -> MultiNodeScenario:
    return {s.name: s for s in multinode_scenarios(mode)}[name]


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, MultiNodeLab]]:
    root = tmp_path_factory.mktemp("multilab")
    built: dict[str, MultiNodeLab] = {}

    def build(case: tuple[str, str]) -> MultiNodeLab:
        s = scenario(*case)
        # A short folder: etcd's unix socket paths are at most 107 bytes.
        lab = MultiNodeLab(root / str(CASES.index(case)), s.spec, s.layout)
        built[s.name] = lab
        lab.start()
        apply_fault(lab, s)
        return lab

    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(build, CASES))
        yield built
    finally:
        with ThreadPoolExecutor(len(CASES)) as pool:
            list(pool.map(MultiNodeLab.stop, built.values()))


def doctor(lab: MultiNodeLab) -> dict[str, Any]:
    """``isthmus doctor`` from the local cluster's REST APIs alone, as the lab user."""
    assert lab.local is not None
    args = ["doctor", "--local", lab.local.url, "--local-user", USER]
    args += ["--local-password", USER_PASSWORD, "--no-probe", "--timeout", "4", "--json"]
    result = CliRunner().invoke(cli, args)
    report: dict[str, Any] = orjson.loads(result.output)
    alias: dict[str, Any] = report["aliases"][ALIAS]
    return alias


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_the_scenario_shows_its_symptom(
    labs: dict[str, MultiNodeLab], name: str, mode: str, record_secret: Callable[[str], None]
) -> None:
    for secret in (ELASTIC_PASSWORD, USER_PASSWORD):
        record_secret(secret)
    s = scenario(name, mode)
    lab = labs[name]
    if lab.credential is not None:
        record_secret(lab.credential)
    seen, problems = wait_for_symptom(lab, s, timeout=15)
    assert problems == [], (problems, seen.remote_info)
    if s.verdict is not None:
        alias = doctor(lab)
        finding = alias["findings"][0]
        assert (finding["stage"], finding["cause"]) == (s.verdict.stage.value, s.verdict.cause)
        assert finding["nodes"] == list(s.verdict.nodes)


def test_credential_on_every_node_heals_the_other_node(labs: dict[str, MultiNodeLab]) -> None:
    lab = labs["credential-on-one-node"]
    assert lab.credential is not None
    second = lab.local_nodes[1]
    # The guide's fix: the key in the keystore of every local node, then one reload, which
    # the node asked passes on to every node.
    _keystore(second.config_dir, {f"cluster.remote.{ALIAS}.credentials": lab.credential})
    reloaded = _call(lab.local_url, "POST", "/_nodes/reload_secure_settings", {})
    assert reloaded["_nodes"] == {"total": 2, "successful": 2, "failed": 0}
    assert sorted(n["name"] for n in reloaded["nodes"].values()) == ["local-node", "local-node-2"]
    found = _call(lab.node_url(second, user=True), "GET", f"/{ALIAS}:{INDEX}/_search")
    assert found["hits"]["total"]["value"] == 3
    info = _call(lab.node_url(second), "GET", "/_remote/info")[ALIAS]
    assert info["cluster_credentials"] == "::es_redacted::"
    assert doctor(lab)["status"] == "green"


def test_lab_nodes_live_in_the_lab_folder(labs: dict[str, MultiNodeLab]) -> None:
    lab = labs["sniff-gateway-down"]
    names = [Path(n.home).name for n in lab.remote_nodes]
    assert names == ["remote", "remote-2", "remote-3"]
    assert (lab.root / "etcd-remote").is_dir()
    with pytest.raises(ValueError, match="too deep for etcd's unix sockets"):
        MultiNodeLab(lab.root / ("x" * 80), lab.spec, lab.layout).build()
