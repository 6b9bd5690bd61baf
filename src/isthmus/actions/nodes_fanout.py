"""The ``_nodes`` APIs that ask every node they name: secure settings reload, node info and
node stats.

ES runs these as a ``TransportNodesAction``: the node that took the REST request resolves the
node filter (``/_nodes/<filter>/...``), sends ``<action>[n]`` to each chosen node over the
transport, answers for itself directly, and merges: ``_nodes: {total, successful, failed,
failures?}`` then one entry per node that answered. A node that cannot be reached or fails the
request is a ``failed_node_exception`` in ``failures``; a node that answered with its own trouble
(a keystore it cannot decrypt) is a successful answer carrying it (``reload_exception``).

The node-level requests travel as the system identity between nodes of the same cluster (the
coordinating node authorized the REST caller); each handler answers only a request naming its
own cluster. ``secure_settings_password`` travels in the node request's payload, never in a log
line or a repr, and only over TLS (ES refuses a cluster-wide reload with a password otherwise).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from isthmus.actions.node_info import INFO_METRICS, InfoRequest
from isthmus.cluster.nodes import DiscoveryNode, NodesView
from isthmus.errors import IllegalArgumentError, IsthmusError
from isthmus.remote.connector import Connector
from isthmus.security.node_tls import NodeTls
from isthmus.security.secure_settings import SecureSettingsHolder
from isthmus.security.transport_filter import SYSTEM
from isthmus.settings.secret import Secret
from isthmus.transport.actions import ActionRegistry
from isthmus.transport.channel import TransportChannel
from isthmus.transport.server import TransportServer
from isthmus.wire.names import (
    NODES_INFO_NODE_ACTION,
    NODES_STATS_NODE_ACTION,
    RELOAD_SECURE_SETTINGS_NODE_ACTION,
)

log = logging.getLogger("org.elasticsearch.action.support.nodes.TransportNodesAction")

# How long one node may take to answer when the request names no ``timeout`` (ES waits without
# a bound; a node that hangs must not hold the REST call forever here).
NODE_TIMEOUT_S = 30.0

# ES's message when a password would cross the network in clear text.
CLEAR_TEXT_PASSWORD = (
    "Secure settings cannot be updated cluster wide when TLS for the transport layer is not "
    "enabled. Enable TLS or use the API with a `_local` filter on each node."
)

Connect = Callable[[DiscoveryNode], Awaitable[TransportChannel]]
LocalAnswer = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class NodeAnswer:
    """One chosen node's answer: its body, or the error that kept it from answering."""

    node: DiscoveryNode
    body: dict[str, Any] | None = None
    error: IsthmusError | None = None

    def failure(self) -> dict[str, Any]:
        """ES's FailedNodeException as ``_nodes.failures`` lists it."""
        assert self.error is not None
        return {
            "type": "failed_node_exception",
            "reason": f"Failed node [{self.node.id}]",
            "node_id": self.node.id,
            "caused_by": self.error.to_cause(),
        }


def merged(cluster_name: str, answers: Sequence[NodeAnswer]) -> dict[str, Any]:
    """ES's nodes response: the header (RestActions.buildNodesHeader), then each answer."""
    failed = [a for a in answers if a.error is not None]
    header: dict[str, Any] = {
        "total": len(answers),
        "successful": len(answers) - len(failed),
        "failed": len(failed),
    }
    if failed:
        header["failures"] = [a.failure() for a in failed]
    nodes = {a.node.id: a.body for a in answers if a.body is not None}
    return {"_nodes": header, "cluster_name": cluster_name, "nodes": nodes}


class NodesFanout:
    """Sends one node-level request to each node a filter names and gathers the answers."""

    def __init__(
        self,
        cluster_name: str,
        view: NodesView,
        connect: Connect,
        *,
        transport_tls: bool,
    ) -> None:
        self.cluster_name = cluster_name
        self.view = view
        self._connect = connect
        self.transport_tls = transport_tls
        self._local: dict[str, LocalAnswer] = {}

    def register(self, registry: ActionRegistry[Any], action: str, local: LocalAnswer) -> None:
        """Answer ``action`` (a ``[n]`` action) from other nodes of this cluster with ``local``,
        which also answers for this node when it coordinates."""
        self._local[action] = local

        async def handle(payload: Any, ctx: Any) -> Any:
            if not isinstance(payload, Mapping) or payload.get("cluster_name") != self.cluster_name:
                raise IllegalArgumentError(
                    f"[{action}] is only answered to nodes of cluster [{self.cluster_name}]"
                )
            return await local(payload)

        registry.register(action, handle)

    def resolve(self, filters: Sequence[str] | str | None) -> list[DiscoveryNode]:
        return self.view.nodes.resolve(filters)

    async def ask(
        self,
        nodes: Sequence[DiscoveryNode],
        action: str,
        payload: Mapping[str, Any],
        timeout: float | None = None,
    ) -> list[NodeAnswer]:
        """Every node's answer to ``action``, in the order of ``nodes``, asked concurrently."""
        local_id = self.view.local.id
        request = {**payload, "cluster_name": self.cluster_name}
        limit = timeout if timeout is not None else NODE_TIMEOUT_S

        async def one(node: DiscoveryNode) -> NodeAnswer:
            try:
                if node.id == local_id:
                    return NodeAnswer(node, await self._local[action](request))
                async with asyncio.timeout(limit):
                    channel = await self._connect(node)
                    try:
                        body = await channel.request(
                            action, request, SYSTEM.header(), timeout=limit
                        )
                    finally:
                        channel.close()
                if not isinstance(body, dict):
                    raise IsthmusError(f"node [{node.name}] answered [{action}] with no object")
                return NodeAnswer(node, body)
            except IsthmusError as exc:
                log.debug("node %s failed [%s]: %s", node.describe(), action, exc.reason)
                return NodeAnswer(node, error=exc)
            except (OSError, TimeoutError) as exc:
                log.debug("node %s failed [%s]: %r", node.describe(), action, exc)
                reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
                return NodeAnswer(node, error=IsthmusError(f"[{node.name}] {reason}"))

        return list(await asyncio.gather(*(one(n) for n in nodes)))

    def __repr__(self) -> str:
        return (
            f"<NodesFanout cluster={self.cluster_name} nodes={len(self.view.nodes)} "
            f"actions={sorted(self._local)} tls={self.transport_tls}>"
        )


class SecureSettingsReload:
    """``POST /_nodes[/<filter>]/reload_secure_settings`` across the cluster."""

    def __init__(self, fanout: NodesFanout, holder: SecureSettingsHolder, node_name: str) -> None:
        self.fanout = fanout
        self.holder = holder
        self.node_name = node_name

    async def reload_here(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """This node's part: re-read its keystore; its trouble is its ``reload_exception``."""
        password = payload.get("secure_settings_password")
        out: dict[str, Any] = {"name": self.node_name}
        try:
            await self.holder.reload(Secret(password) if isinstance(password, str) else None)
        except IsthmusError as exc:
            out["reload_exception"] = {"type": exc.es_type, "reason": exc.reason}
        return out

    async def reload(
        self, filters: str | None, password: str | None, timeout: float | None = None
    ) -> dict[str, Any]:
        nodes = self.fanout.resolve(filters)
        local_only = len(nodes) == 1 and nodes[0].id == self.fanout.view.local.id
        if password is not None and not local_only and not self.fanout.transport_tls:
            raise IsthmusError(CLEAR_TEXT_PASSWORD)
        payload: dict[str, Any] = {}
        if password is not None:
            payload["secure_settings_password"] = password
        answers = await self.fanout.ask(nodes, RELOAD_SECURE_SETTINGS_NODE_ACTION, payload, timeout)
        return merged(self.fanout.cluster_name, answers)

    def __repr__(self) -> str:
        return f"<SecureSettingsReload node={self.node_name} {self.holder!r}>"


class NodesStats:
    """``GET /_nodes[/<filter>]/stats``: each named node's own statistics."""

    def __init__(self, fanout: NodesFanout, local: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self.fanout = fanout
        self._local = local

    async def stats_here(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return await self._local()

    async def stats(self, filters: str | None, timeout: float | None = None) -> dict[str, Any]:
        nodes = self.fanout.resolve(filters)
        answers = await self.fanout.ask(nodes, NODES_STATS_NODE_ACTION, {}, timeout)
        return merged(self.fanout.cluster_name, answers)


class NodesInfo:
    """``GET /_nodes[/<filter>][/<metrics>]``: each named node describes itself in full
    (settings, OS, process, listeners), as ES's nodes-info action asks every node."""

    def __init__(
        self, fanout: NodesFanout, local: Callable[[InfoRequest, bool], dict[str, Any]]
    ) -> None:
        self.fanout = fanout
        self._local = local

    async def info_here(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        metrics = payload.get("metrics")
        chosen = (
            frozenset(m for m in metrics if isinstance(m, str) and m in INFO_METRICS)
            if isinstance(metrics, list)
            else None
        )
        return self._local(InfoRequest((), chosen), payload.get("flat_settings") is True)

    async def info(
        self, request: InfoRequest, flat: bool, timeout: float | None = None
    ) -> dict[str, Any]:
        nodes = self.fanout.resolve(request.filters)
        payload = {
            "metrics": None if request.metrics is None else sorted(request.metrics),
            "flat_settings": flat,
        }
        answers = await self.fanout.ask(nodes, NODES_INFO_NODE_ACTION, payload, timeout)
        return merged(self.fanout.cluster_name, answers)


@dataclass(frozen=True)
class NodesApis:
    reload: SecureSettingsReload
    stats: NodesStats
    info: NodesInfo


def peer_connector(transport: TransportServer[Any], tls: NodeTls) -> Connector:
    """How a node dials the other nodes of its own cluster: its transport identity and its
    transport's client TLS (the fan-out here, and cluster formation's seed hosts)."""
    return Connector(
        identity=lambda: transport.identity,
        ssl_context=tls.transport_client,
        trust=tls.transport_trust,
        connect_timeout=5.0,
    )


def nodes_apis(
    cluster_name: str,
    node_name: str,
    transport: TransportServer[Any],
    view: NodesView,
    tls: NodeTls,
    holder: SecureSettingsHolder,
    local_stats: Callable[[], Awaitable[dict[str, Any]]],
    local_info: Callable[[InfoRequest, bool], dict[str, Any]],
) -> NodesApis:
    """The fan-out APIs of a node, their node-level actions registered on its transport. The
    other nodes are dialled at their published transport address with the node's own TLS."""
    connector = peer_connector(transport, tls)

    async def connect(node: DiscoveryNode) -> TransportChannel:
        host, _, port = node.transport_address.rpartition(":")
        return await connector.open(
            host.strip("[]"),
            int(port),
            expected_cluster_name=cluster_name,
            node_name=node.name,
        )

    fanout = NodesFanout(
        cluster_name, view, connect, transport_tls=tls.transport_client is not None
    )
    reload = SecureSettingsReload(fanout, holder, node_name)
    stats = NodesStats(fanout, local_stats)
    fanout.register(transport.registry, RELOAD_SECURE_SETTINGS_NODE_ACTION, reload.reload_here)
    info = NodesInfo(fanout, local_info)
    fanout.register(transport.registry, NODES_STATS_NODE_ACTION, stats.stats_here)
    fanout.register(transport.registry, NODES_INFO_NODE_ACTION, info.info_here)
    return NodesApis(reload, stats, info)


__all__ = [
    "CLEAR_TEXT_PASSWORD",
    "NodeAnswer",
    "NodesApis",
    "NodesFanout",
    "NodesInfo",
    "NodesStats",
    "SecureSettingsReload",
    "merged",
    "nodes_apis",
    "peer_connector",
]
