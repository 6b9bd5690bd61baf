"""The node's services, as handed to the REST layer (and later the transport layer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from isthmus.actions.async_search import AsyncSearchActions
from isthmus.actions.ccs_search import CrossClusterSearch
from isthmus.actions.cluster import ClusterActions, NodeIdentity
from isthmus.actions.cross_cluster import CrossClusterActions
from isthmus.actions.documents import DocumentActions
from isthmus.actions.field_caps import FieldCapsActions
from isthmus.actions.indices import IndicesActions
from isthmus.actions.search import SearchActions
from isthmus.cluster.service import ClusterService
from isthmus.index.service import IndicesService

if TYPE_CHECKING:
    from isthmus.http.guard import Guard
    from isthmus.remote.service import RemoteClusterService
    from isthmus.security.secure_settings import SecureSettingsHolder
    from isthmus.security.service import SecurityService
    from isthmus.security.tls import SslConfig
    from isthmus.tasks import TaskManager


@dataclass(frozen=True)
class Services:
    node: NodeIdentity
    cluster: ClusterService
    indices: IndicesService
    cluster_actions: ClusterActions
    indices_actions: IndicesActions
    documents: DocumentActions
    search: SearchActions
    cross_cluster: CrossClusterActions
    ccs: CrossClusterSearch
    async_search: AsyncSearchActions
    field_caps: FieldCapsActions
    security: SecurityService | None = None
    guard: Guard | None = None
    secure_settings: SecureSettingsHolder | None = None
    ssl_configs: tuple[SslConfig, ...] = ()
    remote: RemoteClusterService | None = None
    tasks: TaskManager | None = None
