"""Cluster formation settings: ES's discovery and bootstrap keys with ES's messages, the node
roles' rules, and the coordination store's settings; which nodes form a cluster of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from isthmus.errors import SettingsError
from isthmus.settings.discovery import forms_cluster_alone
from isthmus.settings.loader import load_raw
from isthmus.settings.node import NodeSettings

ETCD = "isthmus.coordination.etcd."


def refused(tmp_path: Path, overrides: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as err:
        load_raw(tmp_path, overrides, env={})
    return err.value.reason


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"discovery.type": "zen"}, "Unknown discovery type [zen]"),
        (
            {"discovery.type": "single-node", "cluster.initial_master_nodes": "[n1]"},
            "setting [cluster.initial_master_nodes] is not allowed when [discovery.type] is set "
            "to [single-node]",
        ),
        (
            {"discovery.type": "single-node", "node.roles": "[data, ingest]"},
            "node with [discovery.type] set to [single-node] must be master-eligible",
        ),
        (
            {"cluster.initial_master_nodes": "[a, b, a]"},
            "setting [cluster.initial_master_nodes] contains duplicates: [a, b, a]",
        ),
        ({"discovery.seed_providers": "[settings, ec2]"}, "Unknown seed providers [ec2]"),
        ({"node.roles": "[master, gateway]"}, "unknown role [gateway]"),
        (
            {"transport.publish_port": "-2"},
            "Failed to parse value [-2] for setting [transport.publish_port] must be >= -1",
        ),
        ({"node.roles": "[data, voting_only]"}, "voting-only node must be master-eligible"),
        (
            {ETCD + "endpoints": "[http://h:2379, ftp://h]"},
            f"Failed to parse value [ftp://h] for setting [{ETCD}endpoints]: expected "
            "http(s)://host:port or unix://path",
        ),
        (
            {ETCD + "client_port": "70000"},
            f"Failed to parse value [70000] for setting [{ETCD}client_port] must be <= 65535",
        ),
        (
            {ETCD + "lease_ttl": "500ms"},
            f"failed to parse value [500ms] for setting [{ETCD}lease_ttl], must be >= [1s]",
        ),
        (
            {ETCD + "heartbeat_interval": "100ms", ETCD + "election_timeout": "300ms"},
            f"setting [{ETCD}election_timeout] must be at least five times "
            f"[{ETCD}heartbeat_interval], got [300ms] and [100ms]",
        ),
    ],
)
def test_refused_with_es_messages(tmp_path: Path, overrides: dict[str, str], message: str) -> None:
    assert refused(tmp_path, overrides) == message


def test_accepted_and_read_typed(tmp_path: Path) -> None:
    flat = load_raw(
        tmp_path,
        {
            "discovery.type": "multi-node",
            "discovery.seed_hosts": "[10.0.0.1:9300, host-b]",
            "discovery.seed_providers": "[settings, file]",
            "cluster.initial_master_nodes": "[n1, n2, n3]",
            "node.roles": "[master, voting_only]",
            ETCD + "binary": "/usr/bin/etcd",
            ETCD + "endpoints": "[https://e1:2379, unix:///run/etcd.sock]",
            ETCD + "client_port": "12379",
            ETCD + "lease_ttl": "2s",
            ETCD + "heartbeat_interval": "25ms",
            ETCD + "election_timeout": "250ms",
        },
        env={},
    )
    s = NodeSettings.from_flat(flat, tmp_path)
    assert s.get("discovery.seed_hosts") == ("10.0.0.1:9300", "host-b")
    assert s.get("cluster.initial_master_nodes") == ("n1", "n2", "n3")
    assert s.get(ETCD + "endpoints") == ("https://e1:2379", "unix:///run/etcd.sock")
    assert (s.get(ETCD + "client_port"), s.get(ETCD + "peer_port")) == (12379, 2380)
    assert s.get(ETCD + "lease_ttl").millis == 2000
    assert s.get(ETCD + "election_timeout").millis == 250
    defaults = NodeSettings.from_flat({}, tmp_path)
    assert defaults.get("discovery.type") == "single-node"
    assert defaults.get(ETCD + "lease_ttl").millis == 5000
    assert defaults.get(ETCD + "heartbeat_interval").millis == 100


@pytest.mark.parametrize(
    ("flat", "alone"),
    [
        ({}, True),  # the quick start, the lab, the demo and the tests
        ({"discovery.type": "multi-node"}, True),  # nothing to join: a cluster of one
        ({"discovery.seed_hosts": ["h:9300"]}, False),
        ({"cluster.initial_master_nodes": ["n1"]}, False),
        ({ETCD + "endpoints": ["http://e:2379"]}, False),
        ({"discovery.type": "single-node", "discovery.seed_hosts": ["h:9300"]}, True),
    ],
)
def test_which_nodes_form_a_cluster_alone(flat: dict[str, Any], alone: bool) -> None:
    assert forms_cluster_alone(flat) is alone


@pytest.mark.parametrize(
    ("flat", "published"),
    [
        ({}, "127.0.0.1"),
        ({"network.host": "10.0.0.1"}, "10.0.0.1"),
        ({"network.host": "0.0.0.0", "network.publish_host": "10.0.0.2"}, "10.0.0.2"),
        ({"network.publish_host": "10.0.0.2", "transport.host": "10.0.0.3"}, "10.0.0.3"),
        ({"transport.host": "10.0.0.3", "transport.publish_host": "10.0.0.4"}, "10.0.0.4"),
        ({"transport.bind_host": "10.0.0.5"}, "127.0.0.1"),  # binding is not publishing
        ({"network.publish_host": "_local_"}, "127.0.0.1"),
    ],
)
def test_the_transport_publish_host_follows_es_fallbacks(
    tmp_path: Path, flat: dict[str, str], published: str
) -> None:
    assert NodeSettings.from_flat(flat, tmp_path).transport_publish_host == published
