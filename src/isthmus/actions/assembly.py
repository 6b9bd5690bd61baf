"""How a node builds its actions: what each API does, for REST and transport callers alike.

:func:`node_actions` builds the index, document, search and cross-cluster actions and registers
the transport handlers other clusters call; :func:`node_cluster_actions` builds the cluster-level
actions with the settings the node itself follows (``logger.*``) for the node that
:func:`node_identity` describes. The composition root
(:mod:`isthmus.node`) owns their lifetimes (:meth:`NodeActions.close`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from isthmus import logs
from isthmus.actions.async_search import AsyncSearchActions
from isthmus.actions.ccs_handlers import CrossClusterSearchHandlers
from isthmus.actions.ccs_search import CrossClusterSearch
from isthmus.actions.cluster import ClusterActions, NodeIdentity
from isthmus.actions.cross_cluster import CrossClusterActions
from isthmus.actions.documents import DocumentActions
from isthmus.actions.field_caps import FieldCapsActions
from isthmus.actions.indices import IndicesActions
from isthmus.actions.node_shard_stats import CopyStatsGather
from isthmus.actions.node_shards import CopiesRefresh, NodeChannels, NodeShardsClient
from isthmus.actions.node_shards_handlers import NodeShardsHandlers
from isthmus.actions.peer_channels import PeerChannels
from isthmus.actions.peer_recovery import replication_for
from isthmus.actions.pit import PointInTimeActions
from isthmus.actions.pit_handlers import PointInTimeHandlers
from isthmus.actions.pit_node_handlers import PitNodeHandlers
from isthmus.actions.search import SearchActions
from isthmus.cluster.nodes import NodesView, local_discovery_node
from isthmus.cluster.shard_copies import ShardCopies

if TYPE_CHECKING:
    from isthmus.cluster.service import ClusterService
    from isthmus.index.service import IndicesService
    from isthmus.remote.service import RemoteClusterService
    from isthmus.security.authz import Subject
    from isthmus.security.index_authorization import IndexAuthorization
    from isthmus.settings.node import NodeSettings
    from isthmus.transport.actions import ActionRegistry
    from isthmus.transport.limits import InFlightBreaker
    from isthmus.transport.server import TransportServer


@dataclass(frozen=True)
class ClusterShards:
    """What the actions need in a cluster of several nodes: where each shard's copies are, the
    cluster's nodes, and the kept channels to them."""

    cluster_name: str
    copies: ShardCopies
    view: NodesView
    peers: PeerChannels


@dataclass(frozen=True)
class NodeActions:
    """The node's index, document and search actions, local and across clusters."""

    indices: IndicesActions
    documents: DocumentActions
    cross_cluster: CrossClusterActions  # index expressions split by cluster, ``_resolve``
    search: SearchActions  # this cluster's share of a search, scrolls
    ccs: CrossClusterSearch  # ``_search``, ``_count``, ``_msearch``, local or cross-cluster
    async_search: AsyncSearchActions
    field_caps: FieldCapsActions
    pit: PointInTimeActions | None = None  # ``_pit`` and searches with ``pit``

    async def close(self) -> None:
        """Running async searches are cancelled and stored ones dropped (the node stops)."""
        await self.async_search.close()


def node_actions(
    cluster: ClusterService,
    indices: IndicesService,
    remote: RemoteClusterService,
    registry: ActionRegistry[Subject],
    *,
    node_id: str,
    node_name: str,
    clock: Callable[[], float],
    authz: IndexAuthorization | None,
    shards: ClusterShards | None = None,
) -> NodeActions:
    """The actions, with the transport handlers of resolve, search and field caps registered
    in ``registry``. ``authz`` None: security is off, nothing is narrowed or filtered.
    ``shards``: in a cluster of several nodes, where the shards' copies are and how to reach
    the nodes holding them (None: a cluster of one, every shard is here)."""
    cross_cluster = CrossClusterActions(cluster, remote, node_name)
    cross_cluster.register(registry)
    node_shards = None
    if shards is not None:
        channels = NodeChannels(shards.cluster_name, shards.view, shards.peers)
        node_shards = NodeShardsClient(channels)
    search = SearchActions(
        cluster,
        indices,
        node_id,
        clock,
        copies=None if shards is None else shards.copies,
        node_shards=node_shards,
    )
    if shards is not None:
        # What the other nodes' searches ask of the shards held here.
        NodeShardsHandlers(search, shards.cluster_name).register(registry)
        search.register_routed(registry, shards.cluster_name)
    ccs = CrossClusterSearch(search, cross_cluster)
    # What other clusters' searches call here, with their DLS/FLS applied.
    CrossClusterSearchHandlers(
        search,
        authz=authz,
        restrictions_for=authz.search_restrictions if authz is not None else None,
    ).register(registry)
    pit = PointInTimeActions(search, cross_cluster, authz=authz)
    PointInTimeHandlers(pit).register(registry)  # what other clusters' PITs call here
    if shards is not None:  # ... and what the other nodes' PITs call here
        PitNodeHandlers(pit).register(registry, shards.cluster_name)
    async_search = AsyncSearchActions(ccs, clock, pit)
    field_caps = FieldCapsActions(cross_cluster, authz)
    field_caps.register(registry)
    indices_actions = IndicesActions(cluster, indices)
    if shards is not None and node_shards is not None:
        copies = shards.copies
        indices_actions.copies_refresh = CopiesRefresh(
            node_shards.channels, lambda: copies.local_node_id
        )
        indices_actions.copy_stats = CopyStatsGather(
            node_shards.channels, indices, lambda: copies.local_node_id
        )
        indices_actions.copy_stats.register(registry)
    documents = DocumentActions(cluster, indices, indices_actions)
    if shards is not None:  # writes through primaries and replicas, this node's copies
        replication_for(cluster, documents, shards.copies, shards.peers, shards.view, registry)
    return NodeActions(
        indices=indices_actions,
        documents=documents,
        cross_cluster=cross_cluster,
        search=search,
        ccs=ccs,
        async_search=async_search,
        field_caps=field_caps,
        pit=pit,
    )


def nodes_view(
    transport: TransportServer[Subject],
    remote_server: TransportServer[Subject] | None,
    http_address: str,
) -> NodesView:
    """The node's view of the cluster's nodes, holding only itself until a coordination store
    replaces it: the node its transport handshakes describe (id, name, roles, attributes), at the
    addresses its listeners published."""
    ident = transport.identity.node  # its publish address is set once the server is bound
    local = local_discovery_node(
        ident.id,
        ident.name,
        ident.roles,
        ident.attributes,
        transport_address=ident.publish_address,
        http_address=http_address,
        remote_cluster_address=(
            remote_server.publish_address if remote_server is not None else None
        ),
    )
    return NodesView.single(local)


def node_identity(
    view: NodesView,
    settings: NodeSettings,
    started_at: float,
    transport: TransportServer[Subject],
    remote_server: TransportServer[Subject] | None,
) -> NodeIdentity:
    """The node as its APIs describe it (``/``, ``_nodes``, ``_cat/nodes``): the view (its own
    entry and the cluster's other nodes), its settings, start time and bound addresses."""
    return NodeIdentity(
        view,
        settings,
        started_at,
        transport.bound_address,
        remote_server.bound_address if remote_server is not None else None,
    )


def node_cluster_actions(
    cluster: ClusterService,
    indices: IndicesService,
    identity: NodeIdentity,
    breaker: InFlightBreaker,
) -> ClusterActions:
    """The cluster-level actions: ``_nodes/stats`` shows the node's in-flight breaker, and the
    ``logger.*`` settings set the log levels, replayed now from the effective settings."""
    actions = ClusterActions(
        cluster,
        indices,
        identity,
        breakers=lambda: {"in_flight_requests": breaker.stats()},
    )
    actions.add_consumer(
        "logger.",
        lambda k, v: logs.set_level(k[len("logger.") :], None if v is None else str(v)),
    )
    actions.apply_all()
    return actions
