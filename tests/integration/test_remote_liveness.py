"""Dead-remote detection with real processes (performance metric #4, as a test).

A local node connected to a remote cluster pings it every ``transport.ping_schedule`` (1 s by
default) and aborts a connection that has heard nothing for twice that. Two ways a remote dies
without closing anything:

- **frozen**: the remote process is stopped with SIGSTOP. Its kernel still acknowledges every
  byte, so only the application pings can notice.
- **black-holed**: every packet to and from the remote's transport port is dropped. Both nodes
  run in a private network namespace made by the test (``ip netns``), whose loopback gets an
  ``htb`` root qdisc with ``u32`` filters sending that one port to a class whose leaf becomes a
  ``blackhole`` qdisc at the start of the measurement; HTTP keeps working, so ``_remote/info`` is
  polled as for the frozen remote. The test process reaches the nodes' HTTP inside the namespace
  through sockets created by a short-lived thread that joined it (``setns``).

Either must show ``connected: false`` within 3 s (asserted at 3.5 s to leave CI some slack); the
measured figure is printed.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from isthmus.testing.netns import Netns, NetnsHTTPConnection, NetnsUnavailable
from isthmus.testing.process import NodeProcess, start_side_by_side

TARGET_S = 3.0  # performance.md #4 (a)
LIMIT_S = 3.5  # what the test asserts: the target plus slack for a loaded CI machine
POLL_S = 0.01
# A fresh namespace has every port free, so the black-holed one can be fixed.
REMOTE_TRANSPORT_PORT = 9300
LOCAL_TRANSPORT_PORT = 9301


# --- network namespaces -----------------------------------------------------------------------


# --- HTTP to a node ---------------------------------------------------------------------------


class Http:
    """JSON over one keep-alive connection to a node, optionally inside a namespace."""

    def __init__(self, address: str, netns: Netns | None = None, timeout: float = 15.0) -> None:
        host, port = address.rsplit(":", 1)
        self.conn = NetnsHTTPConnection(host, int(port), timeout, netns)

    def json(self, method: str, path: str, body: Any = None) -> Any:
        payload = None if body is None else orjson.dumps(body)
        headers = {} if payload is None else {"Content-Type": "application/json"}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()  # the node closed an idle keep-alive connection: once more
                if attempt == 2:
                    raise
        assert resp.status < 300, f"{method} {path} -> {resp.status}: {data[:500]!r}"
        return orjson.loads(data)

    def connected(self, alias: str) -> bool:
        return bool(self.json("GET", "/_remote/info")[alias]["connected"])

    def close(self) -> None:
        self.conn.close()


# --- helpers ------------------------------------------------------------------------------------


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


def seconds_until_disconnected(http: Http, alias: str, started: float, cap: float = 10.0) -> float:
    """Poll ``_remote/info`` every 10 ms; seconds from ``started`` to ``connected: false``."""
    while time.monotonic() - started < cap:
        if not http.connected(alias):
            return time.monotonic() - started
        time.sleep(POLL_S)
    raise AssertionError(f"[{alias}] still connected {cap}s after the remote went dark")


def closed_by_remote(log: str, port: int) -> re.Match[str] | None:
    return re.search(
        r"\[INFO \]\[o\.e\.t\.ClusterConnectionManager\] \[local-node\] transport connection "
        rf"to \[\{{remote-node\}}\{{[^}}]+\}}\{{127\.0\.0\.1:{port}\}}\] closed by remote",
        log,
    )


def declared_dead(log: str, alias: str, port: int) -> re.Match[str] | None:
    return re.search(
        rf"\[WARN \]\[o\.e\.t\.TransportKeepAlive\s*\] \[local-node\] remote cluster \[{alias}\]: no data "
        rf"from \[127\.0\.0\.1:{port}\] for \[\d+\.\ds\] \(pings every \[1s\]\); closing the "
        r"connection as dead",
        log,
    )


def node_pair(
    tmp_path: Path, *, wrap: list[str] | None = None, remote_port: int = 0, local_port: int = 0
) -> tuple[NodeProcess, NodeProcess]:
    remote = NodeProcess(
        tmp_path / "remote",
        {"cluster.name": "remote", "node.name": "remote-node", "transport.port": remote_port},
        wrap=wrap,
    )
    local = NodeProcess(
        tmp_path / "local",
        {"cluster.name": "local", "node.name": "local-node", "transport.port": local_port},
        wrap=wrap,
    )
    return local, remote


@pytest.fixture
def netns() -> Iterator[Netns]:
    try:
        ns = Netns.create("isthmus-test")
    except NetnsUnavailable as exc:
        pytest.skip(f"cannot create a network namespace: {exc}")
    try:
        yield ns
    finally:
        ns.delete()


# --- the tests ----------------------------------------------------------------------------------


def test_frozen_remote_is_detected_by_pings(tmp_path: Path) -> None:
    local, remote = node_pair(tmp_path)
    try:
        start_side_by_side(remote, local)  # local names no remote at start
        seed = remote.transport_address()
        port = int(seed.rsplit(":", 1)[1])
        http = Http(str(local.http_address))
        http.json("PUT", "/_cluster/settings", {"persistent": {"cluster.remote.far.seeds": [seed]}})
        assert http.connected("far")
        # A healthy idle connection outlives the 2 s silence deadline: the remote echoes pings.
        time.sleep(2.6)
        assert http.connected("far")
        assert closed_by_remote(local.log_text(), port) is None

        assert remote.proc is not None
        os.kill(remote.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            elapsed = seconds_until_disconnected(http, "far", started)
            print(f"\nfrozen (SIGSTOP) remote: connected:false after {elapsed:.3f} s")
            assert elapsed <= LIMIT_S, f"{elapsed:.3f}s > {LIMIT_S}s (target {TARGET_S}s)"
            log = local.log_text()
            assert closed_by_remote(log, port), log[-3000:]
            assert declared_dead(log, "far", port), log[-3000:]
        finally:
            os.kill(remote.proc.pid, signal.SIGCONT)

        # Back to life: a settings change that rebuilds the connection connects again at once.
        http.json(
            "PUT", "/_cluster/settings", {"persistent": {"cluster.remote.far.node_connections": 2}}
        )
        assert http.json("GET", "/_remote/info")["far"]["connected"] is True
        http.close()
    finally:
        if remote.proc is not None:
            os.kill(remote.proc.pid, signal.SIGCONT)  # never leave a stopped process behind
        local.kill()
        remote.kill()


def test_black_holed_remote_is_detected_by_pings(tmp_path: Path, netns: Netns) -> None:
    local, remote = node_pair(
        tmp_path,
        wrap=netns.wrap,
        remote_port=REMOTE_TRANSPORT_PORT,
        local_port=LOCAL_TRANSPORT_PORT,
    )
    seed = f"127.0.0.1:{REMOTE_TRANSPORT_PORT}"
    local.settings["cluster.remote.far.seeds"] = [seed]  # connected at startup
    local.settings["transport.connect_timeout"] = "3s"  # bounds the reconnect attempt below
    try:
        netns.prepare_blackhole([REMOTE_TRANSPORT_PORT])
        remote.start()
        local.start()
        http = Http(str(local.http_address), netns)
        remote_http = Http(str(remote.http_address), netns)
        wait_for(lambda: http.connected("far"))
        time.sleep(1.3)  # a few pings echoed, black-holed between two of them
        assert http.connected("far")

        started = time.monotonic()
        netns.blackhole_on()
        elapsed = seconds_until_disconnected(http, "far", started)
        print(f"\nblack-holed remote transport port: connected:false after {elapsed:.3f} s")
        assert elapsed <= LIMIT_S, f"{elapsed:.3f}s > {LIMIT_S}s (target {TARGET_S}s)"
        log = local.log_text()
        assert closed_by_remote(log, REMOTE_TRANSPORT_PORT), log[-3000:]
        assert declared_dead(log, "far", REMOTE_TRANSPORT_PORT), log[-3000:]
        # Only the transport port was black-holed: the remote itself is up and answering HTTP,
        # and the local node does not find its way back while the port stays dark.
        assert remote_http.json("GET", "/_cluster/health")["cluster_name"] == "remote"
        time.sleep(1.0)
        assert not http.connected("far")
        # A cross-cluster search now skips the dark remote at once (skip_unavailable: true)...
        http.json("PUT", "/logs/_doc/1?refresh=true", {"n": 1})
        started = time.monotonic()
        found = http.json("GET", "/logs,far:logs/_search")
        assert time.monotonic() - started < 3.5
        assert found["_clusters"]["details"]["far"]["status"] == "skipped"
        assert found["hits"]["total"]["value"] == 1
        # ... and fails once the remote may not be skipped (the reconnect cannot succeed).
        # (ES validates each settings layer with its dependencies: the seeds come along.)
        http.json(
            "PUT",
            "/_cluster/settings",
            {
                "persistent": {
                    "cluster.remote.far.seeds": [seed],
                    "cluster.remote.far.skip_unavailable": False,
                }
            },
        )
        with pytest.raises(AssertionError, match="connect_transport_exception"):
            http.json("GET", "/logs,far:logs/_search")
        http.close()
        remote_http.close()
    finally:
        local.kill()
        remote.kill()


def test_frozen_remote_not_skippable_is_bounded_by_the_search_timeout_and_connect_timeout(
    tmp_path: Path,
) -> None:
    """skip_unavailable: false towards a frozen remote: a search with ``timeout`` answers when
    it runs out (the remote reported partial, timed out); without one, the first search fails
    when pings declare the connection dead and the next ones when the reconnect attempt's
    handshake waits ``transport.connect_timeout`` in vain (a frozen process accepts TCP but never
    handshakes: ES's ``handshake_timeout[3s]``)."""
    local, remote = node_pair(tmp_path)
    local.settings["transport.connect_timeout"] = "3s"
    try:
        start_side_by_side(remote, local)  # local names no remote at start
        http = Http(str(local.http_address), timeout=60)
        Http(str(remote.http_address)).json("PUT", "/logs/_doc/1?refresh=true", {"n": 1})
        http.json("PUT", "/logs/_doc/1?refresh=true", {"n": 1})
        seed = remote.transport_address()
        http.json(
            "PUT",
            "/_cluster/settings",
            {
                "persistent": {
                    "cluster.remote.far.seeds": [seed],
                    "cluster.remote.far.skip_unavailable": False,
                }
            },
        )
        assert http.json("GET", "/logs,far:logs/_search")["hits"]["total"]["value"] == 2
        assert remote.proc is not None
        os.kill(remote.proc.pid, signal.SIGSTOP)

        def timed(path: str) -> tuple[float, Any]:
            started = time.monotonic()
            try:
                answer: Any = http.json("GET", path)
            except AssertionError as exc:
                answer = str(exc)
            return time.monotonic() - started, answer

        elapsed, answer = timed("/logs,far:logs/_search?timeout=1s")
        assert 0.9 <= elapsed < 1.8, elapsed
        assert answer["_clusters"]["details"]["far"]["timed_out"] is True
        assert answer["hits"]["total"]["value"] == 1
        elapsed, answer = timed("/logs,far:logs/_search")  # dead by pings, then reconnect
        assert elapsed < 3.5 + 3.5, elapsed
        elapsed, answer = timed("/logs,far:logs/_search")
        assert elapsed < 3.8, elapsed
        assert "handshake_timeout[3s]" in answer or "disconnected" in answer, answer
        elapsed, answer = timed("/logs,far:logs/_search?timeout=1s")
        assert elapsed < 1.8, elapsed
    finally:
        if remote.proc is not None:
            os.kill(remote.proc.pid, signal.SIGCONT)
        local.kill()
        remote.kill()
