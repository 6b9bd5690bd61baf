"""What a node of a multi-node cluster shares with the others through etcd, besides formation:
its security state (:mod:`isthmus.security.replication`) and the dynamic cluster settings
(:mod:`isthmus.cluster.settings_replication`). A cluster of one never comes here.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from isthmus.cluster.settings_replication import SettingsReplication

if TYPE_CHECKING:
    from isthmus.actions.cluster import ClusterActions
    from isthmus.discovery.formation import ClusterFormation
    from isthmus.security.store import SecurityStore


def cluster_wide_state(
    formation: ClusterFormation,
    cluster_actions: ClusterActions,
    security_store: SecurityStore | None,
) -> list[Coroutine[Any, Any, None]]:
    """Hook the security store and the settings API to etcd; returns the loops to run in the
    node's task group (each waits for formation's client of the store)."""
    view = formation.view
    settings = SettingsReplication(
        formation.settings.cluster_name,
        cluster_actions.apply_cluster_layers,
        lambda: cluster_actions.cluster.state.persistent,
        node_id=view.local.id,
        live_nodes=lambda: [n.id for n in view.nodes],
    )
    cluster_actions.replication = settings
    loops = [settings.run(formation.joined_store)]
    if security_store is not None:
        from isthmus.security.replication import SecurityReplication

        security = SecurityReplication(
            security_store,
            formation.settings.cluster_name,
            view.local.id,
            live_nodes=lambda: [n.id for n in view.nodes],
        )
        loops.append(security.run(formation.joined_store))
    return loops
