"""Two clusters in separate processes: remote clusters in sniff and proxy mode, `_remote/info`,
settings updates and their errors, and the failures ES logs (certificate model, no TLS here)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import BadRequestError, Elasticsearch

from isthmus.testing.process import NodeProcess, start_side_by_side


def transport_address(client: Elasticsearch) -> str:
    info = client.nodes.info()
    (only,) = info["nodes"].values()
    return str(only["transport_address"])


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    remote = NodeProcess(
        tmp_path / "remote", {"cluster.name": "remote", "node.name": "remote-node"}
    )
    local = NodeProcess(tmp_path / "local", {"cluster.name": "local", "node.name": "local-node"})
    start_side_by_side(remote, local)  # local names no remote at start
    yield local, remote
    local.kill()
    remote.kill()


def test_sniff_remote_added_updated_and_removed(pair: tuple[NodeProcess, NodeProcess]) -> None:
    local, remote = pair
    lc, rc = Elasticsearch(local.url), Elasticsearch(remote.url)
    seed = transport_address(rc)
    assert lc.cluster.remote_info().body == {}
    resp = lc.cluster.put_settings(persistent={"cluster.remote.my.seeds": [seed]})
    assert resp.body == {
        "acknowledged": True,
        "persistent": {"cluster": {"remote": {"my": {"seeds": [seed]}}}},
        "transient": {},
    }
    info = lc.cluster.remote_info().body
    assert list(info) == ["my"]
    assert list(info["my"]) == [
        "connected",
        "mode",
        "seeds",
        "num_nodes_connected",
        "max_connections_per_cluster",
        "initial_connect_timeout",
        "skip_unavailable",
    ]
    assert info["my"] == {
        "connected": True,
        "mode": "sniff",
        "seeds": [seed],
        "num_nodes_connected": 1,
        "max_connections_per_cluster": 3,
        "initial_connect_timeout": "30s",
        "skip_unavailable": True,
    }
    assert "remote cluster connection [my] updated: CONNECTED" in local.log_text()

    lc.cluster.put_settings(persistent={"cluster.remote.my.skip_unavailable": False})
    assert lc.cluster.remote_info()["my"]["skip_unavailable"] is False
    assert lc.cluster.remote_info()["my"]["connected"] is True

    lc.cluster.put_settings(persistent={"cluster.remote.my.*": None})
    assert lc.cluster.remote_info().body == {}
    assert lc.cluster.get_settings()["persistent"] == {}
    assert "remote cluster connection [my] updated: DISCONNECTED" in local.log_text()


def test_proxy_remote_with_nested_settings(pair: tuple[NodeProcess, NodeProcess]) -> None:
    local, remote = pair
    lc, rc = Elasticsearch(local.url), Elasticsearch(remote.url)
    address = transport_address(rc)
    lc.cluster.put_settings(
        persistent={
            "cluster": {
                "remote": {
                    "px": {
                        "mode": "proxy",
                        "proxy_address": address,
                        "proxy_socket_connections": 4,
                    }
                }
            }
        }
    )
    info = lc.cluster.remote_info()["px"]
    assert list(info) == [
        "connected",
        "mode",
        "proxy_address",
        "server_name",
        "num_proxy_sockets_connected",
        "max_proxy_socket_connections",
        "initial_connect_timeout",
        "skip_unavailable",
    ]
    assert info == {
        "connected": True,
        "mode": "proxy",
        "proxy_address": address,
        "server_name": "",
        "num_proxy_sockets_connected": 4,
        "max_proxy_socket_connections": 4,
        "initial_connect_timeout": "30s",
        "skip_unavailable": True,
    }


def test_validation_messages(pair: tuple[NodeProcess, NodeProcess]) -> None:
    local, _ = pair
    lc = Elasticsearch(local.url)

    def error(settings: dict[str, Any]) -> dict[str, Any]:
        with pytest.raises(BadRequestError) as err:
            lc.cluster.put_settings(persistent=settings)
        body: dict[str, Any] = err.value.body["error"]
        assert body["type"] == "illegal_argument_exception"
        return body

    def reasons(body: dict[str, Any]) -> list[str]:
        out = []
        while body:
            out.append(body["reason"])
            body = body.get("caused_by") or {}
        return out

    assert any(
        "remote hosts need to be configured as [host:port], found [nope] instead" in r
        for r in reasons(error({"cluster.remote.bad.seeds": ["nope"]}))
    )
    assert any(
        r == 'Setting "cluster.remote.bad.proxy_address" cannot be used with the configured '
        '"cluster.remote.bad.mode" [required=PROXY, configured=SNIFF]'
        for r in reasons(error({"cluster.remote.bad.proxy_address": "127.0.0.1:9300"}))
    )
    assert any(
        r == "Cannot configure setting [cluster.remote.bad.skip_unavailable] if remote cluster "
        "is not enabled."
        for r in reasons(error({"cluster.remote.bad.skip_unavailable": True}))
    )
    assert any(
        "port number must be > 0 but was: [0]" in r
        for r in reasons(error({"cluster.remote.bad.seeds": ["127.0.0.1:0"]}))
    )
    assert lc.cluster.remote_info().body == {}
    assert lc.cluster.get_settings()["persistent"] == {}


def test_unreachable_remote_logs_connect_exception(pair: tuple[NodeProcess, NodeProcess]) -> None:
    local, _ = pair
    lc = Elasticsearch(local.url)
    dead = f"127.0.0.1:{free_port()}"
    lc.cluster.put_settings(persistent={"cluster.remote.my.seeds": [dead]})  # accepted anyway
    assert lc.cluster.remote_info()["my"]["connected"] is False
    log = local.log_text()
    assert re.search(
        r"\[WARN \]\[o\.e\.t\.SniffConnectionStrategy\] \[local-node\] fetching nodes from "
        r"external cluster \[my\] failed\n"
        rf"org\.elasticsearch\.transport\.ConnectTransportException: \[\]\[{re.escape(dead)}\] "
        r"connect_exception",
        log,
    ), log[-3000:]

    lc.cluster.put_settings(
        persistent={
            "cluster.remote.my.seeds": None,
            "cluster.remote.px.mode": "proxy",
            "cluster.remote.px.proxy_address": dead,
        }
    )
    log = local.log_text()
    assert re.search(
        r"\[WARN \]\[o\.e\.t\.ProxyConnectionStrategy\] \[local-node\] failed to open any proxy "
        r"connections to cluster \[px\]\n"
        rf"org\.elasticsearch\.transport\.ConnectTransportException: \[\]\[{re.escape(dead)}\] "
        r"connect_exception",
        log,
    ), log[-3000:]


def test_remote_restart_is_closed_by_remote(tmp_path: Path) -> None:
    port = free_port()
    remote = NodeProcess(
        tmp_path / "remote",
        {"cluster.name": "remote", "node.name": "remote-node", "transport.port": port},
    )
    local = NodeProcess(
        tmp_path / "local",
        {
            "cluster.name": "local",
            "node.name": "local-node",
            # configured in the yml: connected at startup
            "cluster.remote.my.seeds": [f"127.0.0.1:{port}"],
        },
    )
    try:
        remote.start()
        local.start()
        lc = Elasticsearch(local.url)
        wait_for(lambda: lc.cluster.remote_info()["my"]["connected"])
        remote.stop()
        wait_for(lambda: not lc.cluster.remote_info()["my"]["connected"])
        assert re.search(
            r"\[INFO \]\[o\.e\.t\.ClusterConnectionManager\] \[local-node\] transport connection "
            rf"to \[\{{remote-node\}}\{{[^}}]+\}}\{{127\.0\.0\.1:{port}\}}\] closed by remote",
            local.log_text(),
        ), local.log_text()[-3000:]
        down = lc.indices.resolve_cluster(name="my:*").body["my"]
        assert down["connected"] is False
        assert down["skip_unavailable"] is True
        assert "connect_exception" in down["error"]
        # The remote comes back on the same port: the next use reconnects.
        remote.start()
        Elasticsearch(remote.url).indices.create(index="logs-1")
        up = lc.indices.resolve_cluster(name="my:logs-*,local-*").body
        assert up == {
            "(local)": {
                "connected": True,
                "skip_unavailable": False,
                "matching_indices": False,
                "version": up["(local)"]["version"],
            },
            "my": {
                "connected": True,
                "skip_unavailable": True,
                "matching_indices": True,
                "version": up["my"]["version"],
            },
        }
        assert set(up["my"]["version"]) == {
            "number",
            "build_flavor",
            "minimum_wire_compatibility_version",
            "minimum_index_compatibility_version",
        }
        assert lc.cluster.remote_info()["my"]["connected"] is True
        assert (
            lc.indices.resolve_cluster(name="my:nothing*").body["my"]["matching_indices"] is False
        )
        everything = lc.indices.resolve_cluster().body
        assert list(everything) == ["my"] and "matching_indices" not in everything["my"]
    finally:
        local.kill()
        remote.kill()


def test_sniff_fails_when_the_remote_advertises_an_address_it_cannot_reach(
    tmp_path: Path,
) -> None:
    # The classic sniff fault: the seed answers, but the gateway's publish address (here a
    # transport.publish_port nothing listens on) is not reachable from the local cluster. ES
    # uses the seed connection for discovery only, so the alias never connects.
    bound, advertised = free_port(), free_port()
    remote = NodeProcess(
        tmp_path / "remote",
        {
            "cluster.name": "remote",
            "node.name": "remote-node",
            "transport.port": bound,
            "transport.publish_port": advertised,
        },
    )
    local = NodeProcess(tmp_path / "local", {"cluster.name": "local", "node.name": "local-node"})
    start_side_by_side(remote, local)
    try:
        lc = Elasticsearch(local.url)
        seed = f"127.0.0.1:{bound}"  # where it listens; _nodes shows where it says it does
        assert transport_address(Elasticsearch(remote.url)) == f"127.0.0.1:{advertised}"
        lc.cluster.put_settings(
            persistent={
                "cluster.remote.my.seeds": [seed],
                "cluster.remote.my.skip_unavailable": False,
            }
        )
        assert lc.cluster.remote_info()["my"]["connected"] is False
        log = local.log_text()
        assert re.search(
            r"\[WARN \]\[o\.e\.t\.SniffConnectionStrategy\] \[local-node\] fetching nodes from "
            r"external cluster \[my\] failed\n"
            r"org\.elasticsearch\.transport\.ConnectTransportException: "
            rf"\[remote-node\]\[127\.0\.0\.1:{advertised}\] connect_exception",
            log,
        ), log[-3000:]
        with pytest.raises(Exception) as err:
            lc.search(index="my:*")
        assert f"[remote-node][127.0.0.1:{advertised}] connect_exception" in str(err.value)
    finally:
        local.kill()
        remote.kill()
