"""A running lab's life after ``lab up``: pinned ports, restarting one node, and its status.

The troubleshooting guide's fixes often end with "restart the node". In the lab that must keep
working as printed: ``lab up`` pins every node's ports in its ``isthmus.yml`` (a restart, by
``lab restart`` or by hand, comes back on the same ports, so the printed URLs and the local
alias's address stay right), ``lab restart local|remote`` restarts one node with the
``isthmus.yml`` as the user left it, and ``lab status`` says what runs where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from isthmus.lab import session
from isthmus.lab.topology import ELASTIC_PASSWORD, Lab, LabError, _call, _with_user
from isthmus.security.keystore import keystore_path
from isthmus.testing.process import NodeProcess


def pin_ports(lab: Lab) -> None:
    """Write each node's bound ports into its ``isthmus.yml`` (they were 0: any free port)."""
    for node in lab.nodes():
        assert node.http_address is not None
        info = _call(_with_user(node.url, "elastic", ELASTIC_PASSWORD), "GET", "/_nodes/_local")
        (facts,) = info["nodes"].values()
        node.settings["http.port"] = _port(node.http_address)
        node.settings["transport.port"] = _port(str(facts["transport_address"]))
        server = facts.get("remote_cluster_server")
        if isinstance(server, dict) and server.get("publish_address"):
            # The bound port: a node may advertise another one (remote_cluster.publish_port).
            bound = server.get("bound_address") or [server["publish_address"]]
            node.settings["remote_cluster.port"] = _port(str(bound[0]))
        node.write_config()


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def node_process(root: Path, which: str) -> NodeProcess:
    """The lab node ``which`` as its ``isthmus.yml`` on disk describes it."""
    home = root / which
    settings = yaml.safe_load((home / "config" / "isthmus.yml").read_text()) or {}
    return NodeProcess(home, settings, detached=True)


def restart(root: Path, which: str, timeout: float = 30.0) -> NodeProcess:
    """Stop node ``which`` (whoever started it) and start it again from its config directory,
    keeping ``isthmus.yml`` as it is; the lab's record gets the new pid."""
    root = root.resolve()
    session.terminate(session.node_pids(root, which), root)
    node = node_process(root, which)
    node.launch(write_config=False)
    node.wait_started(timeout)
    assert node.proc is not None
    state = session.read_state(root) or {}
    pids = [p for p in state.get("pids", []) if isinstance(p, int) and session.is_node(p, root)]
    state["pids"] = sorted({*pids, node.proc.pid})
    state[which] = node.url
    session.write_state(root, state)
    return node


def status(root: Path) -> dict[str, Any]:
    """What runs in the lab: per node its pids, config directory, keystore, URL and health, and
    the local cluster's ``_remote/info``."""
    root = root.resolve()
    state = session.read_state(root) or {}
    out: dict[str, Any] = {
        "dir": str(root),
        "scenario": state.get("scenario"),
        "mode": state.get("mode"),
        "nodes": {},
    }
    for which in session.node_dirs(root):
        node = node_process(root, which)
        entry: dict[str, Any] = {
            "pids": session.node_pids(root, which),
            "config": str(node.config_dir),
            "keystore": str(keystore_path(node.config_dir)),
            "ports": {
                key: node.settings.get(key)
                for key in ("http.port", "transport.port", "remote_cluster.port")
                if key in node.settings
            },
        }
        port = node.settings.get("http.port")
        if isinstance(port, int) and port > 0:
            node.http_address = f"127.0.0.1:{port}"
            url = node.url
            entry["url"] = url
            entry["health"] = _ask(url, "/_cluster/health", lambda r: r.get("status"))
            if which == "local":  # the first local node
                out["remote_info"] = _ask(url, "/_remote/info", lambda r: r)
        out["nodes"][which] = entry
    return out


def _ask(url: str, path: str, pick: Any) -> Any:
    try:
        return pick(_call(_with_user(url, "elastic", ELASTIC_PASSWORD), "GET", path))
    except (OSError, LabError) as exc:
        return f"not answering ({type(exc).__name__}: {exc})"
