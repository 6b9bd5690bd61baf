"""``GET /``, ``_cluster/health``, ``_cluster/settings``, ``_cluster/state``, ``_nodes``,
``_remote/info``, ``_resolve``, ``_tasks``, secure settings reload, ``_ssl/certificates``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus import ES_COMPAT_VERSION
from isthmus.actions.cluster import BUILD_HASH, flat_settings, version_block
from isthmus.actions.node_info import InfoRequest
from isthmus.cluster.data_streams import state_section as data_stream_section
from isthmus.cluster.routing_rows import index_state_extras, state_sections
from isthmus.cluster.templates import state_sections as template_sections
from isthmus.http.handlers.common import (
    COMMON_INDICES_PARAMS,
    MASTER_PARAMS,
    bool_param,
    json_object,
)
from isthmus.http.router import Request, Response, Route, route
from isthmus.settings.registry import flatten, nest
from isthmus.settings.values import parse_time

if TYPE_CHECKING:
    from isthmus.actions.cluster import ClusterActions, NodeIdentity
    from isthmus.actions.cross_cluster import CrossClusterActions
    from isthmus.actions.nodes_fanout import NodesApis
    from isthmus.cluster.metadata import ClusterMetadata
    from isthmus.cluster.service import ClusterService
    from isthmus.remote.service import RemoteClusterService
    from isthmus.security.secure_settings import SecureSettingsHolder
    from isthmus.security.tls import SslConfig
    from isthmus.tasks import TaskManager


@dataclass(frozen=True)
class ClusterApiDeps:
    """What the cluster-level handlers use. Every node has all of them, security on or off
    (the keystore, the task manager and the remote cluster service do not depend on it);
    ``ssl_configs`` is empty when no TLS is configured."""

    node: NodeIdentity
    cluster: ClusterService
    cluster_actions: ClusterActions
    cross_cluster: CrossClusterActions
    remote: RemoteClusterService
    tasks: TaskManager
    secure_settings: SecureSettingsHolder
    ssl_configs: tuple[SslConfig, ...]
    nodes_apis: NodesApis


# ES's ClusterState.Metric names (unknown ones are ignored, as ES's REST layer ignores them).
STATE_METRICS = frozenset(
    ("version", "master_node", "blocks", "nodes", "metadata", "routing_table", "routing_nodes",
     "customs")
)  # fmt: skip


def state_metrics(text: str | None) -> frozenset[str]:
    """The sections ``GET /_cluster/state/<metrics>`` asks for (all without a path metric)."""
    asked = [m.strip() for m in (text or "_all").split(",") if m.strip()]
    if "_all" in asked:
        return STATE_METRICS
    return frozenset(asked) & STATE_METRICS


def _timeout_s(text: str | None) -> float | None:
    """A ``timeout`` URL parameter in seconds (None when unset or -1); a malformed one is ES's
    400."""
    if text is None:
        return None
    value = parse_time(text, "timeout")
    return None if value.millis < 0 else value.millis / 1000


def routes(s: ClusterApiDeps) -> list[Route]:
    async def root(req: Request) -> dict[str, Any]:
        return {
            "name": s.node.settings.node_name,
            "cluster_name": s.node.settings.cluster_name,
            "cluster_uuid": s.cluster.state.cluster_uuid,
            "version": version_block(),
            "tagline": "You Know, for Search",
        }

    async def health(req: Request) -> Response:
        status, body = await s.cluster_actions.health(req.path_params.get("index"), req.params)
        return Response(status, body)

    async def get_settings(req: Request) -> dict[str, Any]:
        return s.cluster_actions.get_settings(req.params)

    async def put_settings(req: Request) -> Response:
        body = json_object(req, required=True)
        flat = flat_settings(req.params)  # checked before anything changes
        result = await s.cluster_actions.put_settings(body)
        if flat:
            for section in ("persistent", "transient"):
                result[section] = dict(sorted(flatten(result[section]).items()))
        headers: dict[str, str | list[str]] = {}
        if body and body.get("transient"):
            headers["Warning"] = (
                f'299 Elasticsearch-{ES_COMPAT_VERSION}-{BUILD_HASH} "[transient settings removal] '
                "Updating cluster settings through transientSettings is deprecated. Use persistent "
                'settings instead."'
            )
        return Response(200, result, headers=headers)

    async def nodes(req: Request) -> dict[str, Any]:
        flat = flat_settings(req.params)
        request = InfoRequest.from_path(
            req.path_params.get("node_id"), req.path_params.get("metric")
        )
        return await s.nodes_apis.info.info(request, flat, _timeout_s(req.params.get("timeout")))

    async def nodes_stats(req: Request) -> dict[str, Any]:
        return await s.nodes_apis.stats.stats(
            req.path_params.get("node_id"), _timeout_s(req.params.get("timeout"))
        )

    async def state(req: Request) -> dict[str, Any]:
        metrics = state_metrics(req.path_params.get("metric"))
        return state_body(s.cluster.state, metrics, flat_settings(req.params))

    def state_body(meta: ClusterMetadata, metrics: frozenset[str], flat: bool) -> dict[str, Any]:
        nodes = s.node.view.nodes
        # ES's ClusterState.toXContent: the name and uuid always, each section when asked for.
        body: dict[str, Any] = {
            "cluster_name": s.node.settings.cluster_name,
            "cluster_uuid": meta.cluster_uuid,
        }
        if "version" in metrics:
            body["version"] = meta.version
            body["state_uuid"] = meta.cluster_uuid
        if "master_node" in metrics:
            body["master_node"] = nodes.master_node_id
        if "nodes" in metrics:
            body["nodes"] = {n.id: n.state_json() for n in nodes}
            # Isthmus has no system index mappings and no node features to report.
            body["nodes_versions"] = [
                {"node_id": n.id, "transport_version": n.transport_version, "mappings_versions": {}}
                for n in nodes
            ]
            body["nodes_features"] = [{"node_id": n.id, "features": []} for n in nodes]
        if "metadata" in metrics:
            body["metadata"] = {
                "cluster_uuid": meta.cluster_uuid,
                "indices": {
                    m.name: {
                        "state": m.state,
                        "settings": dict(sorted(m.settings.items())) if flat else nest(m.settings),
                        "mappings": {"_doc": m.mapping.to_json()},
                        "aliases": sorted(m.aliases),
                        **index_state_extras(meta, m),
                    }
                    for m in meta.indices.values()
                },
                **template_sections(meta.customs),
                **data_stream_section(meta),
            }
        if meta.routing:  # a cluster of several nodes: its routing table
            sections = state_sections(meta, int(time.time() * 1000))
            body.update({k: v for k, v in sections.items() if k in metrics})
        return body

    async def reload_secure_settings(req: Request) -> dict[str, Any]:
        # Every node the filter names re-reads its own keystore (actions.nodes_fanout).
        body = json_object(req) or {}
        password = body.get("secure_settings_password")
        return await s.nodes_apis.reload.reload(
            req.path_params.get("node_id"),
            password if isinstance(password, str) else None,
            _timeout_s(req.params.get("timeout")),
        )

    async def ssl_certificates(req: Request) -> list[dict[str, Any]]:
        from isthmus.security.tls import describe_certificates

        return await asyncio.to_thread(describe_certificates, list(s.ssl_configs))

    async def cluster_reroute(req: Request) -> dict[str, Any]:
        # ES's _cluster/reroute: allocation commands and retry_failed, on the master's state.
        from isthmus.cluster.allocation_commands import parse_request, retry_failed, run_commands
        from isthmus.cluster.allocation_explain import single_node_routing
        from isthmus.cluster.metadata import new_uuid

        # ES reads the parameters first, then the body: a body's dry_run wins.
        dry_run = bool_param(req, "dry_run")
        request = parse_request(json_object(req))
        commands = request.commands
        if request.dry_run is not None:
            dry_run = request.dry_run
        explain = bool_param(req, "explain")
        retry = bool_param(req, "retry_failed")
        nodes = s.node.view.nodes
        explanations: list[dict[str, Any]] = []

        def change(current: ClusterMetadata) -> ClusterMetadata:
            base = retry_failed(current) if retry else current
            outcome = run_commands(
                base, nodes, commands, int(time.time() * 1000), explain=explain, new_id=new_uuid
            )
            explanations[:] = outcome.explanations
            return outcome.state

        if s.cluster.replicated and not dry_run:
            after = await s.cluster.submit("cluster_reroute (api)", change)
        elif s.cluster.replicated:
            after = change(s.cluster.state)
        else:
            # A cluster of one: commands meet the routing it implies; nothing is ever moved.
            indices = s.cluster_actions.indices
            implied = single_node_routing(
                s.cluster.state,
                s.node.node_id,
                lambda m: (x.shard_id.shard for x in indices.shards_of(m)),
            )
            change(implied)
            after = s.cluster.state
        wanted = req.params.get("metric")
        metrics = state_metrics(wanted) if wanted else STATE_METRICS - {"metadata"}
        out: dict[str, Any] = {"acknowledged": True, "state": state_body(after, metrics, False)}
        if explain:
            out["explanations"] = explanations
        return out

    async def allocation_explain(req: Request) -> dict[str, Any]:
        from isthmus.cluster.allocation_explain import explain, single_node_routing

        body = json_object(req)
        state = s.cluster.state
        if not state.routing:
            node_id = s.node.node_id
            indices = s.cluster_actions.indices
            state = single_node_routing(
                state, node_id, lambda m: (x.shard_id.shard for x in indices.shards_of(m))
            )
        return explain(
            state,
            s.node.view.nodes,
            body,
            int(time.time() * 1000),
            include_yes=bool_param(req, "include_yes_decisions"),
        )

    health_params = (
        "wait_for_status",
        "timeout",
        "level",
        "local",
        "master_timeout",
        "wait_for_nodes",
        "wait_for_active_shards",
        "wait_for_events",
        "wait_for_no_relocating_shards",
        "wait_for_no_initializing_shards",
        *COMMON_INDICES_PARAMS,
    )

    async def remote_info(req: Request) -> dict[str, Any]:
        return s.remote.info()

    async def resolve_cluster_all(req: Request) -> dict[str, Any]:
        return await s.cross_cluster.resolve_cluster(None, req.params, req.subject)

    async def resolve_cluster(req: Request) -> dict[str, Any]:
        return await s.cross_cluster.resolve_cluster(
            req.path_params.get("index"), req.params, req.subject
        )

    resolve_params = ("timeout", *COMMON_INDICES_PARAMS)

    def tasks_by_node(records: list[Any], detailed: bool) -> dict[str, Any]:
        base = s.cluster_actions.node_base()
        node = {
            "name": base["name"],
            "transport_address": base["transport_address"],
            "host": base["host"],
            "ip": base["ip"],
            "roles": base["roles"],
        }
        node["tasks"] = {r.task_id: r.to_json(detailed) for r in records}
        return {"nodes": {s.node.node_id: node} if records else {}}

    def on_this_node(req: Request) -> bool:
        """Whether the ``nodes`` parameter (ES's node filters) names this node: its tasks are
        the only ones known here."""
        named = s.node.view.nodes.resolve(req.params.get("nodes"))
        return s.node.node_id in {n.id for n in named}

    async def list_tasks(req: Request) -> dict[str, Any]:
        records = s.tasks.list(req.params.get("actions"), req.params.get("parent_task_id"))
        if not on_this_node(req):
            records = []
        return tasks_by_node(records, req.params.get("detailed") == "true")

    async def get_task(req: Request) -> dict[str, Any]:
        record = s.tasks.get(req.path_params["task_id"])
        return {"completed": False, "task": record.to_json(True)}

    async def cancel_tasks(req: Request) -> dict[str, Any]:
        task_id = req.path_params.get("task_id")
        if task_id is not None:
            records = [s.tasks.cancel(task_id)]
        elif not on_this_node(req):
            records = []
        else:
            records = [
                s.tasks.cancel(r.task_id)
                for r in s.tasks.list(req.params.get("actions"), req.params.get("parent_task_id"))
                if r.action != "cluster:admin/tasks/cancel"
            ]
        return tasks_by_node(records, False)

    task_params = (
        "actions",
        "detailed",
        "parent_task_id",
        "nodes",
        "group_by",
        "wait_for_completion",
        "timeout",
    )

    async def resolve_index(req: Request) -> dict[str, Any]:
        return await s.cross_cluster.resolve_index(
            req.path_params.get("name"), req.params, req.subject
        )

    settings_params = ("flat_settings", "include_defaults", *MASTER_PARAMS, "local")
    return [
        route("GET", "/_remote/info", remote_info, action="cluster:monitor/remote/info"),
        route(
            "GET", "/_tasks", list_tasks, params=task_params, action="cluster:monitor/tasks/lists"
        ),
        route(
            "GET",
            "/_tasks/{task_id:_}",
            get_task,
            params=("wait_for_completion", "timeout"),
            action="cluster:monitor/task/get",
        ),
        route(
            "POST",
            "/_tasks/_cancel",
            cancel_tasks,
            params=("actions", "nodes", "parent_task_id", "wait_for_completion"),
            action="cluster:admin/tasks/cancel",
        ),
        route(
            "POST",
            "/_tasks/{task_id:_}/_cancel",
            cancel_tasks,
            params=("actions", "nodes", "parent_task_id", "wait_for_completion"),
            action="cluster:admin/tasks/cancel",
        ),
        route(
            ("GET", "POST"),
            "/_resolve/index/{name}",
            resolve_index,
            params=("expand_wildcards", "ignore_unavailable", "allow_no_indices", "mode"),
            action="",
            body=False,
        ),
        route(
            "GET",
            "/_resolve/cluster",
            resolve_cluster_all,
            params=resolve_params,
            action="indices:admin/resolve/cluster",
        ),
        route(
            "GET",
            "/_resolve/cluster/{index}",
            resolve_cluster,
            params=resolve_params,
            action="indices:admin/resolve/cluster",
        ),
        route(("GET", "HEAD"), "/", root, action="cluster:monitor/main"),
        route(
            "POST",
            "/_cluster/reroute",
            cluster_reroute,
            params=("dry_run", "explain", "retry_failed", "metric", *MASTER_PARAMS),
            action="cluster:admin/reroute",
        ),
        route(
            ("GET", "POST"),
            "/_cluster/allocation/explain",
            allocation_explain,
            params=("include_yes_decisions", "include_disk_info", "master_timeout"),
            action="cluster:monitor/allocation/explain",
        ),
        route(
            "GET", "/_cluster/health", health, params=health_params, action="cluster:monitor/health"
        ),
        route(
            "GET",
            "/_cluster/health/{index}",
            health,
            params=health_params,
            action="cluster:monitor/health",
        ),
        route(
            "GET",
            "/_cluster/settings",
            get_settings,
            params=settings_params,
            action="cluster:monitor/settings",
        ),
        route(
            "PUT",
            "/_cluster/settings",
            put_settings,
            params=settings_params,
            action="cluster:admin/settings/update",
        ),
        route(
            "GET",
            "/_cluster/state",
            state,
            params=(
                "local",
                "master_timeout",
                "flat_settings",
                "wait_for_metadata_version",
                "wait_for_timeout",
                *COMMON_INDICES_PARAMS,
            ),
            action="cluster:monitor/state",
        ),
        route(
            "GET",
            "/_cluster/state/{metric:_}",
            state,
            params=("local", "master_timeout", "flat_settings", *COMMON_INDICES_PARAMS),
            action="cluster:monitor/state",
        ),
        route(
            "GET",
            "/_nodes",
            nodes,
            params=("flat_settings", "timeout"),
            action="cluster:monitor/nodes/info",
        ),
        route(
            "GET",
            "/_nodes/{node_id:_}",
            nodes,
            params=("flat_settings", "timeout"),
            action="cluster:monitor/nodes/info",
        ),
        route(
            "GET",
            "/_nodes/{node_id:_}/{metric:_}",
            nodes,
            params=("flat_settings", "timeout"),
            action="cluster:monitor/nodes/info",
        ),
        route(
            "GET",
            "/_nodes/{node_id:_}/info/{metric:_}",
            nodes,
            params=("flat_settings", "timeout"),
            action="cluster:monitor/nodes/info",
        ),
        route(
            "GET",
            "/_nodes/stats",
            nodes_stats,
            params=(
                "timeout",
                "level",
                "types",
                "groups",
                "fields",
                "completion_fields",
                "fielddata_fields",
                "include_segment_file_sizes",
                "include_unloaded_segments",
            ),
            action="cluster:monitor/nodes/stats",
        ),
        route(
            "POST",
            "/_nodes/reload_secure_settings",
            reload_secure_settings,
            params=("timeout",),
            action="cluster:admin/nodes/reload_secure_settings",
        ),
        route(
            "POST",
            "/_nodes/{node_id:_}/reload_secure_settings",
            reload_secure_settings,
            params=("timeout",),
            action="cluster:admin/nodes/reload_secure_settings",
        ),
        route(
            "GET",
            "/_ssl/certificates",
            ssl_certificates,
            action="cluster:monitor/xpack/ssl/certificates/get",
        ),
        route(
            "GET",
            "/_nodes/{node_id:_}/stats",
            nodes_stats,
            params=("timeout", "level"),
            action="cluster:monitor/nodes/stats",
        ),
        # With stats metrics: the sections are not narrowed yet (every one is given).
        route(
            "GET",
            "/_nodes/stats/{metric:_}",
            nodes_stats,
            params=("timeout", "level"),
            action="cluster:monitor/nodes/stats",
        ),
        route(
            "GET",
            "/_nodes/{node_id:_}/stats/{metric:_}",
            nodes_stats,
            params=("timeout", "level"),
            action="cluster:monitor/nodes/stats",
        ),
    ]
