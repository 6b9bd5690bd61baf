"""The TLS of one node's listeners and outbound connections, built once at startup.

ES has four SSL contexts per node, each under ``xpack.security.<profile>.ssl.*``: ``http``,
``transport`` (server side and the client side of certificate-model remotes),
``remote_cluster_server`` (the API-key model's listener, only when
``remote_cluster_server.enabled``) and ``remote_cluster_client`` (enabled by default: what an
API-key remote's server must be trusted by). :class:`NodeTls` reads them from the node's settings
and secrets, builds their contexts, and fails the start with ES's wording when one is broken or
when security is on without transport TLS on a reachable address (ES's bootstrap check).

With security off every context is None: every listener and connection is plaintext.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from isthmus.errors import NodeStartupError
from isthmus.security.tls import ContextHolder, SslConfig, build_context, ssl_config

if TYPE_CHECKING:
    from isthmus.security.trust_diagnostics import TrustInfo
    from isthmus.settings.node import NodeSettings
    from isthmus.settings.secret import Secret

log = logging.getLogger("org.elasticsearch.node.Node")
reload_log = logging.getLogger("org.elasticsearch.xpack.core.ssl.SSLConfigurationReloader")


@dataclass
class NodeTls:
    """The node's SSL configurations and contexts (all None with security off)."""

    http: ContextHolder | None = None
    transport: SslConfig | None = None  # None: transport TLS off
    transport_server: ssl.SSLContext | None = None
    remote_cluster_server: SslConfig | None = None
    remote_cluster_client: SslConfig | None = None
    # Every configuration read, for GET /_ssl/certificates.
    configs: list[SslConfig] = field(default_factory=list)

    @classmethod
    def from_settings(
        cls,
        settings: NodeSettings,
        secrets: Mapping[str, Secret],
        *,
        remote_cluster_server: bool,
    ) -> NodeTls:
        """Read and build every context the node needs; a broken one stops the start."""
        s = settings
        if not s.security_enabled:
            return cls()

        def config(profile: str) -> SslConfig:
            return ssl_config(profile, s.raw, s.config_dir, dict(secrets))

        http = config("http")
        transport = config("transport")
        out = cls(configs=[http, transport])
        if transport.enabled:
            out.transport = transport
            out.transport_server = build_context(transport, server=True)
        elif not is_loopback(s.transport_bind_host):
            raise NodeStartupError(
                "Transport SSL must be enabled if security is enabled. Please set "
                "[xpack.security.transport.ssl.enabled] to [true] or disable security by "
                "setting [xpack.security.enabled] to [false]"
            )
        else:
            log.warning(
                "Transport SSL is not enabled while security is; this is allowed only because "
                "the transport binds a loopback address [%s]",
                s.transport_bind_host,
            )
        if http.enabled:
            out.http = ContextHolder(http)
        client = config("remote_cluster_client")
        if client.enabled:
            out.remote_cluster_client = client
        if remote_cluster_server:
            server_cfg = config("remote_cluster_server")
            out.configs.append(server_cfg)
            if server_cfg.enabled:
                out.remote_cluster_server = server_cfg
        return out

    def transport_client(self) -> ssl.SSLContext | None:
        """The client context of certificate-model remotes (the transport's own TLS)."""
        return build_context(self.transport, server=False) if self.transport else None

    def transport_trust(self) -> TrustInfo | None:
        return _trust(self.transport)

    def remote_cluster_server_context(self) -> ssl.SSLContext | None:
        if self.remote_cluster_server is None:
            return None
        return build_context(self.remote_cluster_server, server=True)

    def remote_cluster_server_trust(self) -> TrustInfo | None:
        return _trust(self.remote_cluster_server)

    def remote_cluster_client_context(self) -> ssl.SSLContext | None:
        """The API-key model's client context; a broken configuration stops the start."""
        if self.remote_cluster_client is None:
            return None
        try:
            return build_context(self.remote_cluster_client, server=False)
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise NodeStartupError(
                f"invalid SSL configuration for xpack.security.remote_cluster_client.ssl: {exc}"
            ) from exc

    def remote_cluster_client_trust(self) -> TrustInfo | None:
        return _trust(self.remote_cluster_client)

    def __repr__(self) -> str:
        on = [c.profile for c in self.configs if c.enabled]
        return f"<NodeTls enabled={on}>"


def _trust(cfg: SslConfig | None) -> TrustInfo | None:
    if cfg is None:
        return None
    from isthmus.security.trust_diagnostics import TrustInfo

    return TrustInfo.from_config(cfg)


async def watch_certificates(holder: ContextHolder, every_s: float = 5.0) -> None:
    """Reload certificate and key files that change on disk, as ES does; a broken new file
    keeps the old context and is logged."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if await asyncio.to_thread(holder.reload_if_changed):
                reload_log.info("reloaded ssl context for [%s]", holder.cfg.prefix)
        except (OSError, ValueError, ssl.SSLError) as exc:
            reload_log.warning(
                "failed to reload ssl context for [%s], keeping the old one: %s",
                holder.cfg.prefix,
                exc,
            )


def is_loopback(host: str) -> bool:
    if host in ("localhost", "_local_"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
