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
import contextlib
import ipaddress
import logging
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from isthmus.errors import NodeStartupError, SettingsError
from isthmus.security.tls import ContextHolder, SslConfig, ssl_config

if TYPE_CHECKING:
    from isthmus.security.trust_diagnostics import TrustInfo
    from isthmus.settings.node import NodeSettings
    from isthmus.settings.secret import Secret

log = logging.getLogger("org.elasticsearch.node.Node")
reload_log = logging.getLogger("org.elasticsearch.xpack.core.ssl.SSLConfigurationReloader")


@dataclass
class NodeTls:
    """The node's SSL configurations and contexts (all None with security off), every one built
    when the node starts, before anything else is set up."""

    http: ContextHolder | None = None
    transport: SslConfig | None = None  # None: transport TLS off
    transport_server: ssl.SSLContext | None = None
    # The client side of certificate-model remotes: the transport's own TLS.
    transport_client: ssl.SSLContext | None = None
    transport_trust: TrustInfo | None = None
    remote_cluster_server: ssl.SSLContext | None = None
    remote_cluster_server_trust: TrustInfo | None = None
    # The API-key model's client context, and its configuration (its trust facts are read on
    # first use, for diagnostics only).
    remote_cluster_client: ssl.SSLContext | None = None
    remote_cluster_client_config: SslConfig | None = None
    # Every configuration read, for GET /_ssl/certificates.
    configs: list[SslConfig] = field(default_factory=list)
    # Every context built, each watched for changed files (see watch_certificates).
    holders: list[ContextHolder] = field(default_factory=list)

    @classmethod
    def from_settings(
        cls,
        settings: NodeSettings,
        secrets: Mapping[str, Secret],
        *,
        remote_cluster_server: bool,
    ) -> NodeTls:
        """Read and build every context the node needs; a broken one stops the start (78)."""
        s = settings
        if not s.security_enabled:
            return cls()

        def config(profile: str) -> SslConfig:
            try:
                return ssl_config(profile, s.raw, s.config_dir, dict(secrets))
            except SettingsError as exc:
                raise NodeStartupError.configuration(exc.reason) from None

        http = config("http")
        transport = config("transport")
        out = cls(configs=[http, transport])
        if transport.enabled:
            out.transport = transport
            out.transport_server = out._hold(transport, server=True)
            out.transport_client = out._hold(transport, server=False)
            out.transport_trust = _trust(transport)
        elif not is_loopback(s.transport_bind_host):
            raise NodeStartupError.configuration(
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
            with _loading(http):
                out.http = ContextHolder(http)
            out.holders.append(out.http)
        if remote_cluster_server:
            server_cfg = config("remote_cluster_server")
            out.configs.append(server_cfg)
            if server_cfg.enabled:
                out.remote_cluster_server = out._hold(server_cfg, server=True)
                out.remote_cluster_server_trust = _trust(server_cfg)
        client = config("remote_cluster_client")
        if client.enabled:
            out.remote_cluster_client_config = client
            out.remote_cluster_client = out._hold(client, server=False)
        return out

    def _hold(self, cfg: SslConfig, *, server: bool) -> ssl.SSLContext:
        with _loading(cfg):
            holder = ContextHolder(cfg, server=server)
        self.holders.append(holder)
        return holder.context

    def remote_cluster_client_trust(self) -> TrustInfo | None:
        """What the API-key model's client context trusts (read on first use)."""
        if self.remote_cluster_client_config is None:
            return None
        from isthmus.security.trust_diagnostics import TrustInfo

        return TrustInfo.from_config(self.remote_cluster_client_config)

    def __repr__(self) -> str:
        on = [c.profile for c in self.configs if c.enabled]
        return f"<NodeTls enabled={on}>"


@contextlib.contextmanager
def _loading(cfg: SslConfig) -> Iterator[None]:
    """A context that cannot be built stops the start with ES's wording (exit 78)."""
    try:
        yield
    except SettingsError as exc:
        raise NodeStartupError.configuration(exc.reason) from None
    except (OSError, ValueError, ssl.SSLError) as exc:
        missing = [p for p in cfg.files() if not p.exists()]
        if missing:
            reason = f"cannot read configured file [{missing[0]}] because the file does not exist"
        elif isinstance(exc, OSError) and exc.strerror and not isinstance(exc, ssl.SSLError):
            reason = exc.strerror
        else:
            reason = str(exc)
        raise NodeStartupError.configuration(
            f"failed to load SSL configuration [{cfg.prefix}] - {reason}"
        ) from None


def _trust(cfg: SslConfig | None) -> TrustInfo | None:
    if cfg is None:
        return None
    from isthmus.security.trust_diagnostics import TrustInfo

    with _loading(cfg):
        return TrustInfo.from_config(cfg)


async def watch_certificates(holders: list[ContextHolder], every_s: float = 5.0) -> None:
    """Reload the certificate, key and CA files of every context (HTTP, transport, remote
    cluster server and client) when they change on disk, as ES does. The new material goes into
    the live context, so new connections use it and open ones keep theirs. A broken new file
    keeps the old material and is logged. A CA added to a trust file is trusted at once; one
    removed from it stays trusted until the node restarts (OpenSSL's trust store only grows)."""
    while True:
        await asyncio.sleep(every_s)
        for holder in holders:
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
