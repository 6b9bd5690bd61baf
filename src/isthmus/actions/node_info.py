"""``GET /_nodes[/<filter>][/<metrics>]`` and the node listing every nodes API starts from.

Which nodes: ES's node filters over the node's view of the cluster (:mod:`isthmus.cluster.nodes`);
which sections: ES's nodes-info metrics. The path's one segment after ``_nodes`` is read as ES's
``RestNodesInfoAction`` reads it: metrics if every comma-separated part is a metric name
(``/_nodes/os,process``), node filters otherwise (``/_nodes/_local``); unknown metric names are
ignored, as ES ignores them.

Every node describes itself in full (settings, OS, process, listeners: :func:`local_info`); the
REST API asks each named node for its own entry over the transport
(:mod:`isthmus.actions.nodes_fanout`). :func:`member_info` describes another node from what the
view holds about it (ids, host, roles, attributes, versions, published addresses), for the
listings that need no node's own facts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from isthmus import __version__
from isthmus.cluster.nodes import INDEX_VERSION, DiscoveryNode
from isthmus.settings.node import NodeSettings
from isthmus.settings.registry import nest

BUILD_HASH = "isthmus"

# ES's NodesInfoMetrics.Metric names.
INFO_METRICS = frozenset(
    (
        "settings",
        "os",
        "process",
        "jvm",
        "thread_pool",
        "transport",
        "http",
        "remote_cluster_server",
        "plugins",
        "ingest",
        "aggregations",
        "indices",
    )
)


@dataclass(frozen=True)
class InfoRequest:
    """Which nodes (filters, ES's syntax) and which sections (None: all)."""

    filters: tuple[str, ...] = ()
    metrics: frozenset[str] | None = None

    @classmethod
    def from_path(cls, node_id: str | None, metrics: str | None) -> InfoRequest:
        def parts(text: str) -> list[str]:
            return [p.strip() for p in text.split(",") if p.strip()]

        if node_id is not None and metrics is None:
            named = parts(node_id)
            if named and all(p in INFO_METRICS for p in named):
                return cls((), frozenset(named))
            return cls(tuple(named), None)
        wanted = parts(metrics or "_all")
        chosen = None if wanted == ["_all"] else frozenset(p for p in wanted if p in INFO_METRICS)
        return cls(tuple(parts(node_id or "_all")), chosen)

    def wants(self, metric: str) -> bool:
        return self.metrics is None or metric in self.metrics


@dataclass(frozen=True)
class LocalFacts:
    """What only this node knows about itself: its settings and the addresses its listeners are
    bound to (the view holds the published ones)."""

    settings: NodeSettings
    transport_bound: str | None
    remote_cluster_bound: str | None


def nodes_header(cluster_name: str, answered: int) -> dict[str, Any]:
    return {
        "_nodes": {"total": answered, "successful": answered, "failed": 0},
        "cluster_name": cluster_name,
    }


def _base(node: DiscoveryNode) -> dict[str, Any]:
    info = node.base_json()
    attributes = info.pop("attributes")
    roles = info.pop("roles")
    info.update(
        {
            "version": node.version,
            "transport_version": node.transport_version,
            "index_version": INDEX_VERSION,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": BUILD_HASH,
            "total_indexing_buffer": 0,
            "roles": roles,
            "attributes": attributes,
        }
    )
    return info


def _listeners(
    node: DiscoveryNode, request: InfoRequest, facts: LocalFacts | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if request.wants("http") and node.http_address is not None:
        out["http"] = {
            "bound_address": [node.http_address],
            "publish_address": node.http_address,
            **(
                {"max_content_length_in_bytes": facts.settings.max_content_length}
                if facts is not None
                else {}
            ),
        }
    if request.wants("transport"):
        bound = facts.transport_bound if facts is not None else None
        out["transport"] = {
            "bound_address": [bound or node.transport_address],
            "publish_address": node.transport_address,
            "profiles": {},
        }
    if request.wants("remote_cluster_server") and node.remote_cluster_address is not None:
        bound = facts.remote_cluster_bound if facts is not None else None
        out["remote_cluster_server"] = {
            "bound_address": [bound or node.remote_cluster_address],
            "publish_address": node.remote_cluster_address,
        }
    return out


def local_info(
    node: DiscoveryNode, facts: LocalFacts, request: InfoRequest, flat: bool
) -> dict[str, Any]:
    """This node, every section it has."""
    s = facts.settings
    info = _base(node)
    render: Callable[[Mapping[str, Any]], dict[str, Any]] = (
        (lambda v: dict(sorted(v.items()))) if flat else nest
    )
    if request.wants("settings"):
        info["settings"] = render(
            {
                **{k: str(v) for k, v in s.raw.items()},
                "cluster.name": s.cluster_name,
                "node.name": s.node_name,
                "path.data": str(s.path_data),
                "path.logs": str(s.path_logs),
            }
        )
    if request.wants("os"):
        uname = os.uname()
        info["os"] = {
            "refresh_interval_in_millis": 1000,
            "name": uname.sysname,
            "arch": uname.machine,
            "version": uname.release,
            "available_processors": os.cpu_count() or 1,
            "allocated_processors": os.cpu_count() or 1,
        }
    if request.wants("process"):
        info["process"] = {"refresh_interval_in_millis": 1000, "id": os.getpid(), "mlockall": False}
    info.update(_listeners(node, request, facts))
    if request.wants("plugins"):
        info["modules"] = []
        info["plugins"] = []
    info["isthmus"] = {"version": __version__}
    return info


def member_info(node: DiscoveryNode, request: InfoRequest) -> dict[str, Any]:
    """Another node of the cluster, from what the view holds about it."""
    return {**_base(node), **_listeners(node, request, None)}


def nodes_info(
    nodes: Iterable[DiscoveryNode],
    local_id: str,
    facts: LocalFacts,
    request: InfoRequest,
    flat: bool,
) -> dict[str, Any]:
    """The ``_nodes`` answer for the nodes ``request`` names (already resolved)."""
    out = {
        n.id: local_info(n, facts, request, flat) if n.id == local_id else member_info(n, request)
        for n in nodes
    }
    return {**nodes_header(facts.settings.cluster_name, len(out)), "nodes": out}


__all__ = [
    "BUILD_HASH",
    "INFO_METRICS",
    "InfoRequest",
    "LocalFacts",
    "local_info",
    "member_info",
    "nodes_header",
    "nodes_info",
]
