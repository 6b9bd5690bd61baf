"""The lab's clusters with several nodes each (issue 20): ``isthmus lab up --nodes N`` and the
scenarios that need several nodes (:mod:`isthmus.lab.multinode_scenarios`).

A :class:`NodesLayout` says how many nodes each cluster has and what differs between them (the
credential in some local keystores only, the local nodes' roles, a remote node that publishes an
address the local cluster cannot reach). :class:`MultiNodeLab` builds the :class:`Lab`'s pair and
then repeats each cluster's node with the formation :class:`isthmus.testing.cluster.NodeCluster`
uses: every node master-eligible, etcd members on unix sockets in the lab folder
(``<root>/etcd-<cluster>``), lease TTL 2 s. The first node of each cluster keeps the one-node
lab's name and folder (``local-node`` in ``<root>/local``), the others are ``local-node-2`` ... in
``<root>/local-2`` ..., so a one-node scenario run with ``--nodes N`` shows the same lines.

Indices, users, roles, API keys and cluster settings are cluster-wide (through etcd): the sample
index is created once, through the remote's first node; keystores are per node as in ES: the credential goes into the keystores the layout names, then one
``POST _nodes/reload_secure_settings`` reaches every local node. The lab user and the alias are
put on every local node all the same (idempotent; what a one-node-per-cluster state would need).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isthmus.lab.topology import (
    ALIAS,
    ELASTIC_PASSWORD,
    INDEX,
    USER,
    USER_PASSWORD,
    USER_ROLE,
    Lab,
    LabSpec,
    StepReporter,
    _call,
    _keystore,
    _quiet_step,
    _with_user,
)
from isthmus.testing.process import NodeProcess

# The formation's timings of isthmus.testing.cluster (a lab forms in about a second).
FORMATION = {
    "discovery.type": "multi-node",
    "isthmus.coordination.etcd.lease_ttl": "2s",
    "isthmus.coordination.etcd.heartbeat_interval": "25ms",
    "isthmus.coordination.etcd.election_timeout": "250ms",
}
# What a node that "advertises an address the local cluster cannot reach" publishes: a loopback
# address nothing is bound to (the nodes bind 127.0.0.1), so a dial is refused at once.
UNREACHABLE_HOST = "127.0.0.2"
START_TIMEOUT_S = 60.0
MAX_SOCKET_PATH = 107
SNIFF_DEBUG = {
    "persistent": {"logger.org.elasticsearch.transport.SniffConnectionStrategy": "debug"}
}


@dataclass(frozen=True)
class NodesLayout:
    """How many nodes each cluster has, and what differs between them (nodes are numbered from
    1, the first being the one-node lab's node)."""

    local_nodes: int = 1
    remote_nodes: int = 1
    # The local nodes whose keystore holds the alias's credential (None: every local node).
    credential_on: tuple[int, ...] | None = None
    # node.roles of every local node (None: the default roles, remote_cluster_client included).
    local_roles: tuple[str, ...] | None = None
    # The remote node whose transport.publish_host the local cluster cannot reach.
    unreachable_publish_on: int | None = None
    # The local nodes log the sniff strategy at DEBUG (ES logs a gateway it cannot reach, among
    # others it can, at that level only: what its docs say to turn on when troubleshooting).
    sniff_debug: bool = False

    def __post_init__(self) -> None:
        if self.local_nodes < 1 or self.remote_nodes < 1:
            raise ValueError("a cluster has at least one node")
        for i in self.credential_on or ():
            if not 1 <= i <= self.local_nodes:
                raise ValueError(f"no local node {i} among {self.local_nodes}")

    @property
    def multi(self) -> bool:
        return self.local_nodes > 1 or self.remote_nodes > 1


def node_name(cluster: str, i: int) -> str:
    return f"{cluster}-node" if i == 1 else f"{cluster}-node-{i}"


class MultiNodeLab(Lab):
    """The pair of ``spec`` with the nodes ``layout`` says (see the module docstring)."""

    def __init__(
        self, root: Path, spec: LabSpec, layout: NodesLayout, *, detached: bool = False
    ) -> None:
        super().__init__(root, spec, detached=detached)
        if spec.relay is not None:
            raise ValueError("the relay stands in front of a one-node remote only")
        self.layout = layout
        self.local_nodes: list[NodeProcess] = []
        self.remote_nodes: list[NodeProcess] = []

    # --- building -----------------------------------------------------------------------------

    def build(self) -> MultiNodeLab:
        super().build()
        assert self.local is not None and self.remote is not None
        lay = self.layout
        self.local_nodes = self._repeat(self.local, "local", lay.local_nodes, lay.local_roles)
        self.remote_nodes = self._repeat(self.remote, "remote", lay.remote_nodes, None)
        if lay.unreachable_publish_on is not None:
            # The address sniff mode dials: the remote cluster server's in the API-key model,
            # the transport's in the certificate model.
            node = self.remote_nodes[lay.unreachable_publish_on - 1]
            profile = "transport" if self.spec.credential is None else "remote_cluster"
            node.settings[f"{profile}.publish_host"] = UNREACHABLE_HOST
        self.local, self.remote = self.local_nodes[0], self.remote_nodes[0]
        return self

    def _repeat(
        self, first: NodeProcess, cluster: str, count: int, roles: tuple[str, ...] | None
    ) -> list[NodeProcess]:
        if count == 1 and roles is None:
            return [first]
        names = [node_name(cluster, i) for i in range(1, count + 1)]
        sockets = self.root / f"etcd-{cluster}"
        # A unix socket's path is at most 107 bytes (sun_path); the nodes dial their members
        # at <folder>/<name>.client:1.
        longest = len(os.fsencode(sockets / f"{names[-1]}.client:1"))
        if longest > MAX_SOCKET_PATH:
            raise ValueError(
                f"the lab folder [{self.root}] is too deep for etcd's unix sockets ({longest} "
                f"bytes, at most {MAX_SOCKET_PATH}): choose a shorter --dir"
            )
        sockets.mkdir(parents=True, exist_ok=True)
        nodes = []
        for i, name in enumerate(names, 1):
            settings = {
                **first.settings,
                **FORMATION,
                "node.name": name,
                "cluster.initial_master_nodes": names,
                "isthmus.coordination.etcd.socket_dir": str(sockets),
            }
            if roles is not None:
                settings["node.roles"] = list(roles)
            if i == 1:
                first.settings = settings
                nodes.append(first)
                continue
            node = NodeProcess(self.root / f"{cluster}-{i}", settings, detached=self.detached)
            _keystore(node.config_dir, {"bootstrap.password": ELASTIC_PASSWORD})
            nodes.append(node)
        return nodes

    # --- starting -----------------------------------------------------------------------------

    def start(self, *, register: bool = True, step: StepReporter | None = None) -> MultiNodeLab:
        run = step or _quiet_step
        if not self.local_nodes:
            with run("create CAs, certificates and keystores", None):
                self.build()
        everyone = [*self.remote_nodes, *self.local_nodes]
        with run("start the remote and the local cluster", self.remote):
            for node in everyone:
                node.launch()
            for node in everyone:  # several Python processes starting at once on a small box
                node.wait_started(START_TIMEOUT_S)
            for nodes in (self.remote_nodes, self.local_nodes):
                wait_formed(nodes)
        # Indices, users and roles are the cluster's: created once, through its first node.
        first = self.remote_nodes[0]
        with run(f"create the [{INDEX}] index", first), self.as_remote(first):
            if self.spec.sample_index:
                self.load_documents(INDEX, _sample())
            if self.spec.credential is None:
                self._remote_role()
        if self.spec.credential is not None:
            with run("create a cross-cluster API key on remote", self.remote):
                self.create_key()
        for node in self.local_nodes:
            what = f"create the local user on {node.settings['node.name']}"
            with run(what, node), self.as_local(node):
                self.create_user()
        if self.credential is not None:
            with run("store the key in local keystores, reload secure settings", self.local):
                self.set_credential(self.credential, reload=self.spec.reload_credential)
        if register:
            for node in self.local_nodes:
                what = f"register [{ALIAS}] on {node.settings['node.name']}"
                with run(what, node), self.as_local(node):
                    if self.layout.sniff_debug:
                        _call(self.local_url, "PUT", "/_cluster/settings", SNIFF_DEBUG)
                    self.register()
        return self

    def _remote_role(self) -> None:
        """The certificate model: the remote authorizes the local user by its own role of the
        same name."""
        role = {"indices": [{"names": [INDEX], "privileges": ["read", "view_index_metadata"]}]}
        _call(self.remote_url, "PUT", f"/_security/role/{USER_ROLE}", role)

    def set_credential(self, value: str | None, *, reload: bool = True) -> dict[str, Any]:
        """The credential in the keystores of the nodes ``credential_on`` names, then one
        ``POST _nodes/reload_secure_settings`` (it reaches every local node)."""
        chosen = self.layout.credential_on or range(1, len(self.local_nodes) + 1)
        name = f"cluster.remote.{ALIAS}.credentials"
        for i in chosen:
            node = self.local_nodes[i - 1]
            if value is not None:
                _keystore(node.config_dir, {name: value})
        self.credential = value
        if not reload:
            return {}
        return _call(self.local_url, "POST", "/_nodes/reload_secure_settings", {})

    @contextmanager
    def as_local(self, node: NodeProcess) -> Iterator[None]:
        """The base lab's one-node steps, done on ``node``."""
        first, self.local = self.local, node
        try:
            yield
        finally:
            self.local = first

    @contextmanager
    def as_remote(self, node: NodeProcess) -> Iterator[None]:
        first, self.remote = self.remote, node
        try:
            yield
        finally:
            self.remote = first

    # --- addresses ----------------------------------------------------------------------------

    def target_address(self) -> str:
        if self.spec.target == "transport":
            (node,) = _call(self.remote_url, "GET", "/_nodes/_local")["nodes"].values()
            return str(node["transport_address"])
        return super().target_address()

    def remote_cluster_address(self) -> str:
        (node,) = _call(self.remote_url, "GET", "/_nodes/_local")["nodes"].values()
        server = node["remote_cluster_server"]
        return str(server["publish_address"])

    def node_url(self, node: NodeProcess, *, user: bool = False) -> str:
        if user:
            return _with_user(node.url, USER, USER_PASSWORD)
        return _with_user(node.url, "elastic", ELASTIC_PASSWORD)

    def where(self) -> list[str]:
        lines = []
        for cluster, nodes in (("local", self.local_nodes), ("remote", self.remote_nodes)):
            for node in nodes:
                name = node.settings["node.name"]
                lines.append(f"{cluster:6} {name}: {node.url}   log: {node.log_file}")
        return [
            *lines,
            f"user [elastic] password [{ELASTIC_PASSWORD}] (every node, superuser)",
            f"user [{USER}] password [{USER_PASSWORD}] (every local node; remote_indices on "
            f"[{ALIAS}])",
        ]

    def nodes(self) -> list[NodeProcess]:
        return [*self.local_nodes, *self.remote_nodes]

    def stop(self) -> None:
        nodes = [n for n in (*self.local_nodes, *self.remote_nodes) if n.proc is not None]
        for node in nodes:
            node.request_stop()
        for node in nodes:
            node.stop()


def _sample() -> list[dict[str, Any]]:
    from isthmus.lab.topology import SAMPLE

    return list(SAMPLE)


def wait_formed(nodes: list[NodeProcess], timeout: float = 30.0) -> None:
    """Until every node lists them all and one master."""
    if len(nodes) == 1:
        return
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = [
                _call(
                    _with_user(n.url, "elastic", ELASTIC_PASSWORD),
                    "GET",
                    "/_cat/nodes?format=json&h=name,master",
                )
                for n in nodes
            ]
        except Exception as exc:  # a node still starting its HTTP side
            last = exc
            time.sleep(0.05)
            continue
        rows = [r for view in last for r in _rows(view)]
        masters = {r["name"] for r in rows if r.get("master") == "*"}
        if all(len(_rows(view)) == len(nodes) for view in last) and len(masters) == 1:
            return
        time.sleep(0.05)
    raise TimeoutError(f"the cluster did not form with {len(nodes)} nodes: {last}")


def _rows(view: Any) -> list[dict[str, Any]]:
    # ``_cat`` with format=json answers a list (``_call`` returns the parsed body as is).
    return list(view) if isinstance(view, list) else []


__all__ = [
    "FORMATION",
    "UNREACHABLE_HOST",
    "MultiNodeLab",
    "NodesLayout",
    "node_name",
    "wait_formed",
]
