"""``isthmus lab up --nodes N`` and the multi-node scenarios: which pair is built (nothing is
started here), and the layouts a scenario cannot take."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from isthmus.cli.lab import _lab_for, lab_cli
from isthmus.lab.multinode import MultiNodeLab, NodesLayout
from isthmus.lab.multinode_scenarios import multinode_scenarios
from isthmus.lab.scenarios import lab_scenarios, scenarios
from isthmus.lab.topology import Lab


def test_one_node_by_default_and_n_local_nodes_with_the_option(tmp_path: Path) -> None:
    working = scenarios("proxy")["working"]
    assert type(_lab_for(tmp_path, working, "proxy", None)) is Lab
    lab = _lab_for(tmp_path, working, "proxy", 3)
    assert isinstance(lab, MultiNodeLab)
    assert lab.layout == NodesLayout(local_nodes=3)
    built = lab.build()
    assert [n.settings["node.name"] for n in built.local_nodes] == [
        "local-node",
        "local-node-2",
        "local-node-3",
    ]
    assert {str(n.settings["isthmus.coordination.etcd.socket_dir"]) for n in built.local_nodes} == {
        str(tmp_path / "etcd-local")
    }
    assert built.remote_nodes == [built.remote]  # the remote keeps its one node
    both = _lab_for(tmp_path / "both", working, "sniff", None, 3).build()
    assert [n.settings["node.name"] for n in both.remote_nodes] == [
        "remote-node",
        "remote-node-2",
        "remote-node-3",
    ]
    assert both.local_nodes == [both.local]


def test_a_scenario_s_own_layout_and_what_it_refuses(tmp_path: Path) -> None:
    by_name = {s.name: s for s in multinode_scenarios("sniff")}
    gateway = _lab_for(tmp_path, by_name["sniff-gateway-down"], "sniff", None)
    assert isinstance(gateway, MultiNodeLab) and gateway.layout.remote_nodes == 3
    with pytest.raises(ValueError, match="at least 2 local nodes"):
        _lab_for(tmp_path, by_name["credential-on-one-node"], "sniff", 1)
    ccr = next(s for n, s in lab_scenarios("sniff").items() if n.startswith("ccr-"))
    with pytest.raises(ValueError, match="replication scenarios run on one node"):
        _lab_for(tmp_path, ccr, "sniff", 2)
    relayed = next(s for s in scenarios("proxy").values() if s.spec.relay is not None)
    with pytest.raises(ValueError, match="relay"):
        _lab_for(tmp_path, relayed, "proxy", 2)


def test_the_lab_offers_them_and_the_doctor_s_lists_do_not_change() -> None:
    for mode in ("proxy", "sniff"):
        offered = lab_scenarios(mode)
        for s in multinode_scenarios(mode):
            assert offered[s.name] == s
            assert s.name not in scenarios(mode)  # the one-node pair's tests iterate those
    assert "sniff-gateway-down" not in lab_scenarios("proxy")


def test_nodes_is_checked() -> None:
    done = CliRunner().invoke(lab_cli, ["up", "working", "--nodes", "0"])
    assert done.exit_code == 2
    assert "--nodes" in done.output


def test_the_node_folders_of_a_lab(tmp_path: Path) -> None:
    from isthmus.lab.session import node_dirs

    for name in ("remote-3", "local-2", "remote", "local", "local-10", "certs", "etcd-local"):
        (tmp_path / name / "config").mkdir(parents=True)
        if name not in ("certs", "etcd-local"):
            (tmp_path / name / "config" / "isthmus.yml").write_text("{}")
    assert node_dirs(tmp_path) == ["local", "local-2", "local-10", "remote", "remote-3"]
