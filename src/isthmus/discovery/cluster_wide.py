"""What a node of a multi-node cluster shares with the others through etcd, besides formation:
the cluster metadata (:mod:`isthmus.cluster.state_replication`: indices, templates, the routing
table), its security state (:mod:`isthmus.security.replication`) and the dynamic cluster settings
(:mod:`isthmus.cluster.settings_replication`). A cluster of one never comes here.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from isthmus.actions.peer_channels import PeerChannels
from isthmus.cluster.allocation_service import AllocationService
from isthmus.cluster.settings_replication import SettingsReplication
from isthmus.cluster.state_replication import StateReplication
from isthmus.discovery.follower_checks import FollowerChecks, follower_check_handler
from isthmus.errors import IllegalArgumentError
from isthmus.settings.discovery import (
    FOLLOWER_CHECK_INTERVAL,
    FOLLOWER_CHECK_RETRY_COUNT,
    FOLLOWER_CHECK_TIMEOUT,
)
from isthmus.wire.names import FOLLOWER_CHECK_ACTION, PUBLISH_CHANGE_ACTION

if TYPE_CHECKING:
    from isthmus.actions.cluster import ClusterActions
    from isthmus.cluster.nodes import DiscoveryNode
    from isthmus.discovery.formation import ClusterFormation
    from isthmus.security.store import SecurityStore
    from isthmus.settings.node import NodeSettings
    from isthmus.transport.actions import ActionRegistry


def cluster_wide_state(
    formation: ClusterFormation,
    cluster_actions: ClusterActions,
    security_store: SecurityStore | None,
    *,
    registry: ActionRegistry[Any],
    peers: PeerChannels,
    on_fatal: Callable[[str], None],
    node_settings: NodeSettings,
) -> list[Coroutine[Any, Any, None]]:
    """Hook the cluster service, the security store and the settings API to etcd; returns the
    loops to run in the node's task group (each waits for formation's client of the store)."""
    view = formation.view
    cluster_name = formation.settings.cluster_name

    def term() -> int | None:
        election = formation.election
        return election.term if election is not None and election.is_master else None

    async def forward(master: DiscoveryNode, body: dict[str, Any]) -> dict[str, Any]:
        answer = await peers.request(
            master, PUBLISH_CHANGE_ACTION, {**body, "cluster_name": cluster_name}
        )
        if not isinstance(answer, dict):
            raise IllegalArgumentError(f"[{PUBLISH_CHANGE_ACTION}] answered with no object")
        return answer

    state = StateReplication(
        cluster_actions.cluster,
        cluster_name,
        view,
        term=term,
        forward=forward,
        on_fatal=on_fatal,
    )

    async def publish_change(payload: Any, ctx: Any) -> Any:
        if not isinstance(payload, dict) or payload.get("cluster_name") != cluster_name:
            raise IllegalArgumentError(
                f"[{PUBLISH_CHANGE_ACTION}] is only answered to nodes of cluster [{cluster_name}]"
            )
        return await state.publish_here(payload)

    registry.register(PUBLISH_CHANGE_ACTION, publish_change)
    cluster_actions.cluster.replicate_through(state)
    settings = SettingsReplication(
        cluster_name,
        cluster_actions.apply_cluster_layers,
        lambda: cluster_actions.cluster.state.persistent,
        node_id=view.local.id,
        live_nodes=lambda: [n.id for n in view.nodes],
    )
    cluster_actions.replication = settings
    # The elected master allocates shards; every proposed change is allocated before it is
    # published (isthmus.cluster.allocation_service).
    # The master's follower checks: a node it cannot reach is allocated to as if it had left.
    registry.register(FOLLOWER_CHECK_ACTION, follower_check_handler(cluster_name))

    async def ask(node: DiscoveryNode, action: str, body: dict[str, Any], timeout: float) -> Any:
        return await peers.request(node, action, body, timeout=timeout)

    wake: list[Callable[[], None]] = []

    def changed() -> None:
        for each in wake:
            each()

    checks = FollowerChecks(
        cluster_name,
        view,
        ask,
        interval_s=node_settings.get(FOLLOWER_CHECK_INTERVAL).millis / 1000,
        timeout_s=node_settings.get(FOLLOWER_CHECK_TIMEOUT).millis / 1000,
        retry_count=node_settings.get(FOLLOWER_CHECK_RETRY_COUNT),
        on_change=changed,
    )
    allocation = AllocationService(cluster_actions.cluster, view, unreachable=checks.removed)
    wake.append(allocation.wake)
    cluster_actions.cluster.post_change = allocation.initial_allocation
    loops = [
        state.run(formation.joined_store),
        settings.run(formation.joined_store),
        allocation.run(),
        checks.run(),
    ]
    if security_store is not None:
        from isthmus.security.replication import SecurityReplication

        security = SecurityReplication(
            security_store,
            cluster_name,
            view.local.id,
            live_nodes=lambda: [n.id for n in view.nodes],
        )
        loops.append(security.run(formation.joined_store))
    return loops
