"""Several real node processes forming one cluster on this machine, for tests and benchmarks.

Every node is a :class:`NodeProcess` (HTTP and transport on port 0); their etcd members listen on
unix sockets in one shared folder (``isthmus.coordination.etcd.socket_dir``), so no port is ever
allocated and parallel runs cannot race. Timings are the tests' (lease TTL 2 s, heartbeat 25 ms,
election 250 ms): the cluster forms in about a second.
"""

from __future__ import annotations

import base64
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from isthmus.testing.process import NodeProcess, start_side_by_side


class NodeCluster:
    """``size`` nodes named ``<prefix>-1`` … under ``folder``; all master-eligible unless
    ``roles`` says otherwise for a node (``{"name": [...]}``)."""

    def __init__(
        self,
        folder: Path,
        size: int = 3,
        *,
        cluster_name: str = "multi",
        prefix: str = "node",
        settings: Mapping[str, Any] | None = None,
        roles: Mapping[str, list[str]] | None = None,
        attributes: Mapping[str, Mapping[str, str]] | None = None,
        lease_ttl: str = "2s",
        auth: tuple[str, str] | None = None,
    ) -> None:
        """``auth``: the user and password the cluster's own checks log in with (security on)."""
        self.folder = folder
        self.auth = auth
        self.cluster_name = cluster_name
        self.names = [f"{prefix}-{i}" for i in range(1, size + 1)]
        roles = dict(roles or {})
        masters = [n for n in self.names if "master" in roles.get(n, ["master"])]
        sockets = folder / "etcd"
        sockets.mkdir(parents=True, exist_ok=True)
        self.nodes: dict[str, NodeProcess] = {}
        for name in self.names:
            node_settings: dict[str, Any] = {
                "cluster.name": cluster_name,
                "node.name": name,
                "discovery.type": "multi-node",
                "cluster.initial_master_nodes": masters,
                "isthmus.coordination.etcd.socket_dir": str(sockets),
                "isthmus.coordination.etcd.lease_ttl": lease_ttl,
                "isthmus.coordination.etcd.heartbeat_interval": "25ms",
                "isthmus.coordination.etcd.election_timeout": "250ms",
                **dict(settings or {}),
            }
            if name in roles:
                node_settings["node.roles"] = roles[name]
            for key, value in (attributes or {}).get(name, {}).items():
                node_settings[f"node.attr.{key}"] = value
            self.nodes[name] = NodeProcess(folder / name, node_settings)

    def __getitem__(self, name: str) -> NodeProcess:
        return self.nodes[name]

    def start(self, timeout: float = 20.0) -> NodeCluster:
        start_side_by_side(*self.nodes.values(), timeout=timeout)
        self.wait_formed(len(self.nodes), timeout=timeout)
        return self

    def running(self) -> list[NodeProcess]:
        return [n for n in self.nodes.values() if n.proc is not None and n.proc.poll() is None]

    def cat_nodes(self, node: NodeProcess) -> list[dict[str, Any]]:
        assert node.http_address is not None
        request = urllib.request.Request(
            f"http://{node.http_address}/_cat/nodes?format=json&h=name,master,node.role"
        )
        if self.auth is not None:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=5) as resp:
            rows: list[dict[str, Any]] = orjson.loads(resp.read())
        return rows

    def master_seen_by(self, node: NodeProcess) -> str | None:
        masters = [r["name"] for r in self.cat_nodes(node) if r["master"] == "*"]
        return masters[0] if masters else None

    def wait_formed(self, size: int, *, timeout: float = 20.0, without: str | None = None) -> str:
        """Wait until every running node lists ``size`` nodes and the same master (not
        ``without``); returns the master's name."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                views = [self.cat_nodes(n) for n in self.running()]
            except OSError as exc:
                last = exc
                time.sleep(0.05)
                continue
            masters: set[str | None] = {
                next((str(r["name"]) for r in rows if r["master"] == "*"), None) for rows in views
            }
            last = views
            if all(len(rows) == size for rows in views) and len(masters) == 1:
                (master,) = masters
                if master is not None and master != without:
                    return master
            time.sleep(0.05)
        raise TimeoutError(f"the cluster did not form with {size} nodes: {last}")

    def stop(self) -> None:
        running = self.running()
        for node in running:
            node.request_stop()
        for node in self.nodes.values():
            node.stop()

    def __enter__(self) -> NodeCluster:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
