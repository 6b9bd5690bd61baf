"""``GET /_health_report[/{feature}]`` (ES's health API) and ``GET /_isthmus/remote/health``.

``/_isthmus/remote/health[/{alias}]`` is Isthmus's own: the live health of each remote alias as
this node sees it (see :mod:`isthmus.remote.health`). Its path is under ``/_isthmus/``, which no
Elasticsearch API uses, so it can never shadow or be shadowed by one; it takes the ``monitor``
cluster privilege (its action is under ``cluster:monitor/``), like ``_remote/info``. It carries
no secret: errors are typed stages, cause codes and the messages of connection errors, and
credentials appear only as "present".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus.cluster.blocks import READ_ONLY_ALLOW_DELETE
from isthmus.cluster.health_report import (
    IndexShards,
    disk,
    health_report,
    master_is_stable,
    parse_size,
    remote_clusters,
    routed_index_shards,
    shards_availability,
)
from isthmus.errors import IllegalArgumentError, NoSuchRemoteClusterError
from isthmus.http.router import Request, Route, route
from isthmus.settings.values import parse_time

if TYPE_CHECKING:
    from isthmus.actions.cluster import ClusterActions, NodeIdentity
    from isthmus.cluster.disk_monitor import DiskThresholdMonitor
    from isthmus.remote.service import RemoteClusterService
    from isthmus.settings.remote_health import HealthProbeSettings

REMOTE_HEALTH_ACTION = "cluster:monitor/isthmus/remote/health"
HEALTH_REPORT_ACTION = "cluster:monitor/health_api"


@dataclass(frozen=True)
class HealthApiDeps:
    """What the health handlers read: the node, its shards (through the cluster actions), the
    disk monitor, the remote cluster service with its live health, and the probe settings."""

    node: NodeIdentity
    cluster_actions: ClusterActions
    disk: DiskThresholdMonitor
    remote: RemoteClusterService
    probe_settings: Callable[[], HealthProbeSettings]


def remote_health(s: HealthApiDeps, alias: str | None = None) -> dict[str, Any]:
    """Every alias's live health (or one alias's), joined with its live connections."""
    names = s.remote.aliases() if alias is None else (alias,)
    probes = s.probe_settings()
    remotes: dict[str, Any] = {}
    for name in names:
        connection = s.remote.get(name)  # raises for an unknown alias or a node without the role
        strategy = connection.strategy
        remotes[name] = strategy.health.report(strategy, stuck_after=probes.timeout)
    return {
        "cluster_name": s.node.settings.cluster_name,
        "node": {"id": s.node.node_id, "name": s.node.settings.node_name},
        "probe": {
            "interval_seconds": probes.interval,
            "timeout_seconds": probes.timeout,
        },
        "remotes": remotes,
    }


def _shards(actions: ClusterActions) -> list[IndexShards]:
    state = actions.cluster.state
    if state.routing:  # a cluster of several nodes: what its routing table says
        return [
            routed_index_shards(meta, table)
            for meta in state.indices.values()
            if (table := state.routing.get(meta.uuid)) is not None
        ]
    return [
        IndexShards(
            meta.name,
            meta.number_of_shards,
            meta.number_of_replicas,
            len(actions.indices.shards_of(meta)) if meta.is_open else 0,
            meta.is_open,
        )
        for meta in actions.cluster.state.indices.values()
    ]


def _verbose(raw: str | None) -> bool:
    if raw is None or raw == "" or raw == "true":
        return True
    if raw == "false":
        return False
    raise IllegalArgumentError(
        f"Failed to parse value [{raw}] as only [true] or [false] are allowed."
    )


def routes(s: HealthApiDeps) -> list[Route]:
    async def remote_all(req: Request) -> dict[str, Any]:
        return remote_health(s)

    async def remote_one(req: Request) -> dict[str, Any]:
        alias = req.path_params["alias"]
        if not s.remote.enabled or alias in s.remote.aliases():
            return remote_health(s, alias)
        raise NoSuchRemoteClusterError(alias)

    async def report(req: Request) -> dict[str, Any]:
        verbose = _verbose(req.params.get("verbose"))
        size = parse_size(req.params.get("size"))
        if (timeout := req.params.get("timeout")) is not None:
            parse_time(timeout, "timeout")  # ES refuses a malformed one (400)
        node = s.node
        state = s.cluster_actions.cluster.state
        blocked = sorted(
            name
            for name, meta in state.indices.items()
            if meta.settings.get(READ_ONLY_ALLOW_DELETE) == "true"
        )
        stage = int(s.disk.stage) if s.disk.last_usage is not None else None
        remotes = remote_health(s)["remotes"]
        indicators = [
            master_is_stable(node.node_id, node.settings.node_name),
            shards_availability(_shards(s.cluster_actions)),
            disk(stage, blocked, node.node_id, node.settings.node_name),
            remote_clusters(remotes, client_role=s.remote.enabled),
        ]
        return health_report(
            node.settings.cluster_name,
            indicators,
            feature=req.path_params.get("feature"),
            verbose=verbose,
            size=size,
        )

    report_params = ("verbose", "size", "timeout")
    return [
        route("GET", "/_isthmus/remote/health", remote_all, action=REMOTE_HEALTH_ACTION),
        route("GET", "/_isthmus/remote/health/{alias}", remote_one, action=REMOTE_HEALTH_ACTION),
        route("GET", "/_health_report", report, params=report_params, action=HEALTH_REPORT_ACTION),
        route(
            "GET",
            "/_health_report/{feature}",
            report,
            params=report_params,
            action=HEALTH_REPORT_ACTION,
        ),
    ]
