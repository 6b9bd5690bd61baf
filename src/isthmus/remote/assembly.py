"""How a node builds the client side of remote clusters and ties it to its settings.

:func:`node_remote_service` builds the :class:`~isthmus.remote.service.RemoteClusterService`
from the node's settings, TLS and keystore; :func:`follow_remote_settings` makes a
``cluster.remote.*`` update reach it. The composition root (:mod:`isthmus.node`) owns the
service's lifetime and starts its first connections.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from isthmus.remote.security_model import ClientTls, RemoteSecurity
from isthmus.remote.service import RemoteClusterService
from isthmus.settings.remote import (
    enabled_remotes,
    remote_globals,
    transport_tuning,
    validate_remote_change,
)

if TYPE_CHECKING:
    from isthmus.remote.health_probe import SettingsGroups
    from isthmus.security.authz import Subject
    from isthmus.security.node_tls import NodeTls
    from isthmus.security.secure_settings import SecureSettingsHolder
    from isthmus.settings.node import NodeSettings
    from isthmus.transport.server import TransportServer


def node_remote_service(
    settings: NodeSettings,
    transport: TransportServer[Subject],
    tls: NodeTls,
    secure: SecureSettingsHolder,
) -> RemoteClusterService:
    """The client side of remote clusters; each alias's security model (and so its
    connector) comes from :class:`RemoteSecurity`. A reload that adds or removes a
    credential rebuilds that alias's connections before the API answers."""
    security = RemoteSecurity(
        identity=lambda: transport.identity,
        tuning=transport_tuning(settings.raw),
        # The transport's CAs (what its server trusts too), read once at the node's start.
        transport_tls=ClientTls.of(tls.transport_client, lambda: tls.transport_trust),
        # Its trust facts (for diagnostics) are read on first use.
        remote_cluster_client_tls=ClientTls.of(
            tls.remote_cluster_client, tls.remote_cluster_client_trust
        ),
        credential=secure.get,
    )
    service = RemoteClusterService(
        security,
        remote_globals(settings.raw),
        enabled="remote_cluster_client" in settings.roles,
        node_name=settings.node_name,
    )

    async def on_reload(contents: Any) -> None:
        await service.rebuild_changed_models()

    secure.add_hook(on_reload)
    return service


def follow_remote_settings(service: RemoteClusterService, settings: SettingsGroups) -> None:
    """A ``cluster.remote.*`` update is validated as a whole (ES's order) and applied to the
    service before it is acknowledged."""

    async def apply(flat: Mapping[str, Any]) -> None:
        await service.apply(enabled_remotes(flat))

    settings.add_group("cluster.remote.", validate_remote_change, apply)
