"""One configured remote cluster alias: its config, its strategy, and its ``_remote/info`` entry.

A :class:`RemoteClusterConnection` is what the service keeps per alias. Settings that need no
reconnect (``skip_unavailable``) are swapped in place by :meth:`update_in_place`; anything else
replaces the whole connection (the service decides with ``must_rebuild``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from isthmus.remote.connector import Connector
from isthmus.remote.health import AliasHealth
from isthmus.remote.proxy import ProxyStrategy
from isthmus.remote.security_model import SecurityModel
from isthmus.remote.sniff import SniffStrategy
from isthmus.remote.strategy import RemoteStrategy
from isthmus.transport.channel import TransportChannel

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.settings.remote import RemoteClusterConfig


class RemoteClusterConnection:
    """The live connection state of one remote cluster alias."""

    def __init__(
        self,
        config: RemoteClusterConfig,
        connector: Connector,
        *,
        model: SecurityModel = SecurityModel.CERTIFICATE,
        initial_connect_timeout: str,
        node_attr: str | None = None,
        health: AliasHealth | None = None,
    ) -> None:
        from isthmus.settings.remote import Mode

        self.alias = config.alias
        self.config = config
        self.initial_connect_timeout = initial_connect_timeout
        self.connector = connector
        self.model = model  # decided when the connection was built; a change rebuilds it
        self.strategy: RemoteStrategy
        if config.mode is Mode.SNIFF:
            self.strategy = SniffStrategy(config, connector, node_attr=node_attr, health=health)
        else:
            self.strategy = ProxyStrategy(config, connector, health=health)

    @property
    def skip_unavailable(self) -> bool:
        return self.config.skip_unavailable

    def update_in_place(self, config: RemoteClusterConfig) -> None:
        """Take settings that need no reconnect (``skip_unavailable``)."""
        self.config = config
        self.strategy.config = replace(
            self.strategy.config, skip_unavailable=config.skip_unavailable
        )

    def is_connected(self) -> bool:
        return self.strategy.is_connected()

    async def ensure_connected(self) -> None:
        await self.strategy.ensure_connected()

    def channel(self) -> TransportChannel:
        return self.strategy.any_channel()

    def headers(self, subject: Subject | None, action: str) -> dict[str, str]:
        """What a request for ``subject`` carries to this cluster (by security model)."""
        return self.connector.headers(subject, action)

    def info(self) -> dict[str, Any]:
        """This alias's ``_remote/info`` entry, fields in ES's order."""
        body: dict[str, Any] = {
            "connected": self.is_connected(),
            "mode": self.config.mode.value,
        }
        body.update(self.strategy.mode_info())
        body["initial_connect_timeout"] = self.initial_connect_timeout
        body["skip_unavailable"] = self.config.skip_unavailable
        if self.model is SecurityModel.API_KEY:
            body["cluster_credentials"] = "::es_redacted::"
        return body

    async def close(self) -> None:
        await self.strategy.close()

    def __repr__(self) -> str:
        return (
            f"<RemoteClusterConnection [{self.alias}] {self.config.mode.value} {self.strategy!r}>"
        )
