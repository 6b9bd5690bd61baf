"""Proxy mode: open ``proxy_socket_connections`` sockets to one address, no node discovery.

One round (ES's ``ProxyConnectionStrategy``): resolve ``proxy_address`` now (DNS changes are
picked up at each round), then up to three attempts, each opening the missing sockets in
parallel. Every socket is handshaken; the first remote cluster name seen is pinned and a socket
that reaches another cluster is refused. ``server_name`` is sent as TLS SNI. No socket at all
after three attempts is logged and raised as ES does (``failed to open any proxy connections``).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

from isthmus.errors import (
    ConnectTransportError,
    HandshakeError,
    IllegalArgumentError,
    IsthmusError,
    NoSeedNodeLeftError,
)
from isthmus.remote.connector import Connector
from isthmus.remote.health import AliasHealth
from isthmus.remote.strategy import RemoteStrategy
from isthmus.wire import NodeIdentity

if TYPE_CHECKING:
    from isthmus.settings.remote import ProxyConfig, RemoteClusterConfig

MAX_CONNECT_ATTEMPTS_PER_ROUND = 3


class ProxyStrategy(RemoteStrategy):
    logger_name = "org.elasticsearch.transport.ProxyConnectionStrategy"

    def __init__(
        self,
        config: RemoteClusterConfig,
        connector: Connector,
        *,
        health: AliasHealth | None = None,
    ) -> None:
        super().__init__(config, connector, health=health)
        self._socket_ids = itertools.count(1)

    @property
    def proxy(self) -> ProxyConfig:
        return self.config.strategy  # type: ignore[return-value]

    def max_connections(self) -> int:
        return self.proxy.proxy_socket_connections

    def connected_count(self) -> int:
        return self.manager.size()

    def mode_info(self) -> dict[str, Any]:
        return {
            "proxy_address": self.proxy.proxy_address,
            "server_name": self.proxy.server_name,
            "num_proxy_sockets_connected": self.manager.size(),
            "max_proxy_socket_connections": self.proxy.proxy_socket_connections,
        }

    async def _round(self) -> None:
        from isthmus.settings.remote import parse_address

        target = self.proxy.proxy_address
        address = parse_address(target)
        last_error: IsthmusError | None = None
        for _ in range(MAX_CONNECT_ATTEMPTS_PER_ROUND):
            missing = self.max_connections() - self.manager.size()
            if missing <= 0:
                break
            results = await asyncio.gather(
                *(self._open_one(address.host, address.port) for _ in range(missing)),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, IsthmusError):
                    last_error = result
                elif isinstance(result, BaseException):
                    raise result
        opened = self.manager.size()
        if opened == 0:
            assert last_error is not None
            self.log.warning(
                "failed to open any proxy connections to cluster [%s]\n%s",
                self.alias,
                last_error.log_lines(),
            )
            raise NoSeedNodeLeftError(
                f"Unable to open any proxy connections to cluster [{self.alias}] at address "
                f"[{target}]",
                caused_by=last_error,
            )
        if opened < self.max_connections():
            self.log.debug(
                "unable to open maximum number of connections [remote cluster: %s, opened: %s, "
                "maximum: %s]",
                self.alias,
                opened,
                self.max_connections(),
            )

    async def _open_one(self, host: str, port: int) -> None:
        address = f"{host}:{port}"
        try:
            channel = await self._open(host, port, server_name=self.proxy.server_name or None)
        except (ConnectTransportError, HandshakeError, IllegalArgumentError) as exc:
            self.log.debug(
                "failed to open remote connection [remote cluster: %s, address: %s]\n%s",
                self.alias,
                address,
                exc.log_lines(),
            )
            raise
        if self.remote_cluster_name is None:
            self.remote_cluster_name = channel.remote_cluster_name
        elif channel.remote_cluster_name != self.remote_cluster_name:
            channel.close()
            raise ConnectTransportError(
                f"[{self.alias}#{address}][{address}] handshake failed. unexpected remote "
                f"cluster name {channel.remote_cluster_name}"
            )
        # Every proxy socket is its own "node" for the manager (ES gives each a fresh
        # ephemeral id); the log name is ES's fake node, {<alias>#<address>}.
        fake = NodeIdentity(
            id=f"{self.alias}#{address}",
            name="",
            publish_address=address,
            version="",
            attributes={"server_name": self.proxy.server_name} if self.proxy.server_name else {},
        )
        description = f"{{{self.alias}#{address}}}{{{host}}}{{{address}}}"
        self.manager.add(f"{fake.id}#{next(self._socket_ids)}", fake, channel, description)
