"""The composition root: builds a node's components, starts them, and owns their lifetimes.

Nothing here parses, routes or searches; it wires. Lifetimes nest: the data-path lock outlives
the stores, the stores outlive the shards, the shards outlive the HTTP server. Shutdown runs in
reverse: stop accepting, let in-flight requests finish, stop background loops, flush and close
shards, close stores, release the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from isthmus import ES_COMPAT_VERSION, logs
from isthmus.actions.async_search import AsyncSearchActions
from isthmus.actions.ccs_search import CrossClusterSearch
from isthmus.actions.cluster import ClusterActions, NodeIdentity
from isthmus.actions.cross_cluster import CrossClusterActions
from isthmus.actions.documents import DocumentActions
from isthmus.actions.field_caps import FieldCapsActions
from isthmus.actions.indices import IndicesActions
from isthmus.actions.remote_nodes import register_remote_cluster_server, register_transport_nodes
from isthmus.actions.search import SearchActions
from isthmus.cluster.disk_monitor import DiskThresholdMonitor
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.service import ClusterService
from isthmus.cluster.store import ClusterStore
from isthmus.environment import NodeEnvironment
from isthmus.errors import IsthmusError, NodeStartupError
from isthmus.http.app import RestApp
from isthmus.http.guard import Guard
from isthmus.http.handlers import (
    CatApiDeps,
    ClusterApiDeps,
    DocumentsApiDeps,
    IndicesApiDeps,
    SearchApiDeps,
    all_routes,
)
from isthmus.http.router import Router
from isthmus.http.server import HttpConfig, HttpLimits, HttpServer
from isthmus.index.service import IndicesService
from isthmus.listeners import bind_first_free
from isthmus.security.authz import Authorizer, Subject
from isthmus.security.secure_settings import SecureSettingsHolder
from isthmus.security.tls import (
    ContextHolder,
    SslConfig,
    build_context,
    handshake_timeout,
    ssl_config,
)
from isthmus.settings.node import NodeSettings
from isthmus.settings.secret import Secret
from isthmus.tasks import TaskManager
from isthmus.transport.limits import InFlightBreaker, TransportLimits

if TYPE_CHECKING:  # security's heavier libraries load only when security is on
    from isthmus.remote.service import RemoteClusterService
    from isthmus.security.keystore_format import KeystoreContents
    from isthmus.security.service import SecurityService
    from isthmus.security.store import SecurityStore
    from isthmus.transport.server import TransportServer

log = logging.getLogger("org.elasticsearch.node.Node")
http_log = logging.getLogger("org.elasticsearch.http.AbstractHttpServerTransport")


class Node:
    def __init__(
        self,
        settings: NodeSettings,
        *,
        ports_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.ports_file = ports_file
        self.clock = clock
        self._stop = asyncio.Event()
        self._async_search: AsyncSearchActions | None = None
        self._security_store: SecurityStore | None = None
        self.secure: KeystoreContents | None = None
        self._transport_ssl: ssl.SSLContext | None = None
        self._transport_cfg: SslConfig | None = None
        self.keystore_password: Secret | None = None  # typed at the start prompt, if any
        self.ssl_configs: list[SslConfig] = []
        # ES's in_flight_requests breaker: one per node, shared by every listener.
        limits = TransportLimits.from_settings(settings.raw)
        self.inflight = InFlightBreaker(limits.inflight_limit, limits.inflight_overhead)

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        s = self.settings
        started = time.monotonic()
        env = NodeEnvironment(s.path_data)
        try:
            self.secure = self.load_keystore()
        except IsthmusError as exc:
            env.close()
            raise NodeStartupError(f"cannot read the keystore: {exc.reason}") from None
        log.info(
            "version[%s], pid[%s], build[isthmus], OS[%s], Python[%s]",
            ES_COMPAT_VERSION,
            os.getpid(),
            os.uname().sysname,
            ".".join(map(str, sys.version_info[:3])),
        )
        log.info(
            "node name [%s], node ID [%s], cluster name [%s], roles %s",
            s.node_name,
            env.node_id,
            s.cluster_name,
            sorted(s.roles),
        )
        store = ClusterStore(env.state_dir)
        indices = IndicesService(
            env.indices_dir, search_threads=int(s.raw.get("thread_pool.search.size", 2))
        )
        transport: TransportServer[Subject] | None = None
        remote: RemoteClusterService | None = None
        remote_server: TransportServer[Subject] | None = None
        try:
            cluster = ClusterService(store)
            cluster.add_applier(indices.apply)
            await indices.apply(
                ClusterMetadata(cluster_uuid=cluster.state.cluster_uuid), cluster.state
            )
            sock = bind_first_free(s.http_bind_host, s.http_ports)
            host, port = sock.getsockname()[:2]
            http_address = f"{host}:{port}"
            security, guard = self._security(env, cluster)
            tls = self._http_tls()
            transport = await self._start_transport(env, cluster, security)
            remote_server = await self._start_remote_cluster_server(transport, security)
            secure_settings = SecureSettingsHolder(self.load_keystore, self.secure)
            remote = self._remote_service(transport, secure_settings)
            task_manager = TaskManager(env.node_id, self.clock)
            transport.tasks = task_manager
            if remote_server is not None:
                remote_server.tasks = task_manager
            cross_cluster = CrossClusterActions(cluster, remote, s.node_name)
            cross_cluster.register(transport.registry)
            search_actions = SearchActions(cluster, indices, env.node_id, self.clock)
            authz = guard.indices if guard is not None else None
            ccs = CrossClusterSearch(
                search_actions,
                cross_cluster,
                authz=authz,
                restrictions_for=_restrictions_for(guard, cluster),
            )
            ccs.register(transport.registry)
            async_search = AsyncSearchActions(ccs, self.clock)
            field_caps = FieldCapsActions(cross_cluster, authz)
            field_caps.register(transport.registry)
            identity = NodeIdentity(
                env.node_id,
                s,
                http_address,
                self.clock(),
                transport.publish_address,
                transport.bound_address,
                remote_server.publish_address if remote_server is not None else None,
                remote_server.bound_address if remote_server is not None else None,
            )
            inflight = self.inflight
            cluster_actions = ClusterActions(
                cluster,
                indices,
                identity,
                breakers=lambda: {"in_flight_requests": inflight.stats()},
            )
            cluster_actions.add_consumer(
                "logger.",
                lambda k, v: logs.set_level(k[len("logger.") :], None if v is None else str(v)),
            )
            cluster_actions.apply_all()
            cluster_actions.add_group(
                "cluster.remote.", _validate_remote, lambda flat: _apply_remote(remote, flat)
            )
            disk_monitor = _disk_monitor(cluster, cluster_actions, indices, env, s)
            indices_actions = IndicesActions(cluster, indices)
            routes = all_routes(
                cluster_api=ClusterApiDeps(
                    identity,
                    cluster,
                    cluster_actions,
                    cross_cluster,
                    remote,
                    task_manager,
                    secure_settings,
                    tuple(self.ssl_configs),
                ),
                indices_api=IndicesApiDeps(indices_actions, cluster_actions, indices, authz),
                documents_api=DocumentsApiDeps(
                    cluster, DocumentActions(cluster, indices, indices_actions), authz
                ),
                search_api=SearchApiDeps(
                    cluster, search_actions, ccs, async_search, field_caps, authz
                ),
                cat_api=CatApiDeps(
                    identity,
                    cluster,
                    indices,
                    cluster_actions,
                    indices_actions,
                    search_actions,
                    authz,
                ),
                security_service=security,
            )
            self._async_search = async_search
            app = RestApp(Router(routes), s.max_content_length, guard)
            app.tasks = task_manager
            app.breaker = self.inflight
            config = HttpConfig(
                app,
                ssl_context=tls.context if tls is not None else None,
                limits=HttpLimits.from_settings(s.raw, handshake_timeout("http", s.raw)),
                loop="none",
                http="httptools",
                lifespan="off",
                log_config=None,
                access_log=False,
                server_header=False,
                date_header=False,
                timeout_graceful_shutdown=30,
            )
            server = HttpServer(config)
            http_log.info("publish_address {%s}, bound_addresses {%s}", http_address, http_address)
            self._write_ports(http_address)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.request_stop)
            async with asyncio.TaskGroup() as group:
                serving = group.create_task(server.serve(sockets=[sock]))
                refresher = group.create_task(indices.refresh_loop())
                disk = group.create_task(disk_monitor.run(), name="disk threshold monitor")
                watcher = group.create_task(self._watch_tls(tls)) if tls is not None else None
                # Remotes from isthmus.yml and persisted settings connect in the background:
                # unlike ES, startup does not wait up to initial_connect_timeout for them.
                connecting = group.create_task(
                    remote.initialize(_remote_configs(cluster_actions.effective())),
                    name="initial remote cluster connections",
                )
                await asyncio.sleep(0)
                log.info(
                    "started {%s}{%s} in %.0fms",
                    s.node_name,
                    env.node_id,
                    (time.monotonic() - started) * 1000,
                )
                await self._stop.wait()
                log.info("stopping ...")
                server.should_exit = True
                await serving
                refresher.cancel()
                disk.cancel()
                connecting.cancel()
                if watcher is not None:
                    watcher.cancel()
        finally:
            if self._async_search is not None:
                await self._async_search.close()
            if remote_server is not None:
                await remote_server.close()
            if remote is not None:
                await remote.close()
            if transport is not None:
                await transport.close()
            await indices.close()
            store.close()
            if self._security_store is not None:
                self._security_store.close()
            env.close()
            if self.ports_file is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.ports_file.unlink()
            log.info("closed")

    def _security(
        self, env: NodeEnvironment, cluster: ClusterService
    ) -> tuple[SecurityService | None, Guard | None]:
        """The security service and REST guard, or ``(None, None)`` when security is off."""
        s = self.settings
        if not s.security_enabled:
            log.warning(
                "security is disabled (xpack.security.enabled: false): every request runs "
                "without authentication"
            )
            return None, None
        from isthmus.security.service import AnonymousConfig, SecurityService
        from isthmus.security.store import SecurityStore

        roles = tuple(_get_list(s.raw.get("xpack.security.authc.anonymous.roles")))
        anonymous = None
        if roles:
            anonymous = AnonymousConfig(
                str(s.raw.get("xpack.security.authc.anonymous.username", "_anonymous")), roles
            )
        self._security_store = SecurityStore(env.state_dir)
        service = SecurityService(self._security_store, anonymous=anonymous, clock=self.clock)
        generated = service.ensure_elastic(self._bootstrap_password())
        if generated is not None:
            # Shown once, as ES's auto-configuration does; never logged again.
            print(
                f"\nIsthmus security: password for the [elastic] user (shown only once): "
                f"{generated}\nReset it with: isthmus reset-password -u elastic\n",
                file=sys.stderr,
                flush=True,
            )
            log.info("generated a password for the [elastic] user (printed on the console once)")
        return service, Guard(service, cluster, Authorizer())

    def _bootstrap_password(self) -> str | None:
        """``bootstrap.password`` from the keystore, when there is one."""
        secret = self.secure.get("bootstrap.password") if self.secure is not None else None
        return secret.reveal() if secret is not None else None

    def load_keystore(self, password: Secret | None = None) -> KeystoreContents | None:
        """Read and validate the keystore (startup and ``reload_secure_settings``)."""
        from isthmus.security.keystore import (
            keystore_exists,
            keystore_password_from_env,
            load_keystore,
        )
        from isthmus.settings.secure import validate_known

        conf = self.settings.config_dir
        if not keystore_exists(conf):
            return None
        contents = load_keystore(
            conf, password or keystore_password_from_env() or self.keystore_password
        )
        validate_known(contents.names())
        return contents

    def _secrets(self) -> dict[str, Secret]:
        if self.secure is None:
            return {}
        out = {}
        for name in self.secure.names():
            value = self.secure.get(name)
            if value is not None:
                out[name] = value
        return out

    def _http_tls(self) -> ContextHolder | None:
        s = self.settings
        if not s.security_enabled:
            return None
        cfg = ssl_config("http", s.raw, s.config_dir, self._secrets())
        transport = ssl_config("transport", s.raw, s.config_dir, self._secrets())
        self.ssl_configs = [cfg, transport]
        if transport.enabled:
            self._transport_cfg = transport
            # A broken transport configuration fails startup here.
            self._transport_ssl = build_context(transport, server=True)
        elif not _is_loopback(s.transport_bind_host):
            # ES's bootstrap check: security on a reachable transport needs TLS.
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
        return ContextHolder(cfg) if cfg.enabled else None

    async def _start_transport(
        self, env: NodeEnvironment, cluster: ClusterService, security: SecurityService | None
    ) -> TransportServer[Subject]:
        """Bind the transport server (``transport.host``/``transport.port``), answer the
        transport handshake and register this node's transport actions."""
        from isthmus.settings.remote import transport_tuning
        from isthmus.transport.actions import ActionRegistry
        from isthmus.transport.local import LocalNode
        from isthmus.transport.server import TransportServer
        from isthmus.wire.handshake import NodeIdentity as WireIdentity

        s = self.settings
        wire_node = WireIdentity(
            env.node_id,
            s.node_name,
            "",
            ES_COMPAT_VERSION,
            tuple(sorted(s.roles)),
            dict(s.attributes),
        )
        local = LocalNode(s.cluster_name, cluster.state.cluster_uuid, wire_node)
        registry: ActionRegistry[Subject] = ActionRegistry()
        request_filter = None
        if security is not None:
            from isthmus.security.authz import Authorizer
            from isthmus.security.transport_filter import TransportFilter

            request_filter = TransportFilter(security, Authorizer()).check
        server = TransportServer(
            s.transport_bind_host,
            s.transport_ports,
            registry,
            identity=local,
            ssl_context=self._transport_ssl,
            publish_host=s.raw.get("transport.publish_host") or None,
            publish_port=int(s.raw.get("transport.publish_port") or 0) or None,
            trust=self._trust_info(),
            tcp=transport_tuning(s.raw).tcp,
            request_filter=request_filter,
            limits=TransportLimits.from_settings(s.raw),
            breaker=self.inflight,
            tls_handshake_timeout=handshake_timeout("transport", s.raw),
        )

        register_transport_nodes(
            registry,
            cluster_name=s.cluster_name,
            cluster_uuid=lambda: cluster.state.cluster_uuid,
            node=lambda: server.identity.node,
        )
        try:
            await server.start()
        except OSError as exc:
            raise NodeStartupError(f"Failed to bind transport: {exc}") from exc
        published = server.publish_address or ""
        server.identity = replace(local, node=replace(wire_node, publish_address=published))
        logging.getLogger("org.elasticsearch.transport.TransportService").info(
            "publish_address {%s}, bound_addresses {%s}", published, server.bound_address
        )
        return server

    async def _start_remote_cluster_server(
        self, transport: TransportServer[Subject], security: SecurityService | None
    ) -> TransportServer[Subject] | None:
        """The remote cluster server (profile ``_remote_cluster``, default port 9443), only when
        ``remote_cluster_server.enabled``: otherwise nothing listens there."""
        from isthmus.errors import SettingsError
        from isthmus.settings.remote import transport_tuning
        from isthmus.settings.remote_server import remote_server_settings, remote_server_tcp
        from isthmus.transport.server import TransportServer
        from isthmus.wire.names import REMOTE_CLUSTER_PROFILE

        s = self.settings
        try:
            rs = remote_server_settings(s.raw, s.transport_bind_host)
        except SettingsError as exc:
            raise NodeStartupError(exc.reason) from None
        if not rs.enabled:
            return None
        ssl_context = None
        trust = None
        if s.security_enabled:
            cfg = ssl_config("remote_cluster_server", s.raw, s.config_dir, self._secrets())
            self.ssl_configs.append(cfg)
            if cfg.enabled:
                ssl_context = build_context(cfg, server=True)
                from isthmus.security.trust_diagnostics import TrustInfo

                trust = TrustInfo.from_config(cfg)
        tcp = replace(transport_tuning(s.raw).tcp, **_tcp_fields(remote_server_tcp(s.raw)))
        request_filter = transport.request_filter
        if security is not None:
            from isthmus.security.authz import Authorizer
            from isthmus.security.cross_cluster_access import CrossClusterAccessFilter

            request_filter = CrossClusterAccessFilter(security, Authorizer()).check
        server = TransportServer(
            rs.bind_host,
            (rs.port, rs.port),
            transport.registry,
            identity=transport.identity,
            ssl_context=ssl_context,
            publish_host=rs.publish_host,
            publish_port=rs.publish_port,
            profile=REMOTE_CLUSTER_PROFILE,
            trust=trust,
            tcp=tcp,
            request_filter=request_filter,
            limits=TransportLimits.from_settings(s.raw),
            breaker=self.inflight,
            tls_handshake_timeout=handshake_timeout("remote_cluster_server", s.raw),
        )
        try:
            await server.start()
        except OSError as exc:
            raise NodeStartupError(f"Failed to bind the remote cluster server: {exc}") from exc
        published = server.publish_address or ""
        # Its handshake names this node at the remote cluster server's address.
        server.identity = replace(
            transport.identity, node=replace(transport.identity.node, publish_address=published)
        )

        register_remote_cluster_server(
            transport.registry,
            cluster_name=s.cluster_name,
            cluster_uuid=lambda: transport.identity.cluster_uuid,
            node=lambda: server.identity.node,
        )
        logging.getLogger("org.elasticsearch.transport.RemoteClusterPortSettings").info(
            "remote cluster server publish_address {%s}, bound_addresses {%s}",
            published,
            server.bound_address,
        )
        return server

    def _trust_info(self) -> Any:
        if self._transport_cfg is None:
            return None
        from isthmus.security.trust_diagnostics import TrustInfo

        return TrustInfo.from_config(self._transport_cfg)

    def _remote_service(
        self, transport: TransportServer[Subject], secure: SecureSettingsHolder
    ) -> RemoteClusterService:
        """The client side of remote clusters; each alias's security model (and so its
        connector) comes from :class:`RemoteSecurity`. A reload that adds or removes a
        credential rebuilds that alias's connections."""
        from isthmus.remote.security_model import ClientTls, RemoteSecurity
        from isthmus.remote.service import RemoteClusterService
        from isthmus.settings.remote import remote_globals, transport_tuning

        s = self.settings
        transport_trust = transport.trust  # the transport's CAs, read once at its start
        # The API-key model's client TLS is built now, so a broken configuration stops the
        # start as ES's does; its trust facts (for diagnostics) are read on first use.
        security = RemoteSecurity(
            identity=lambda: transport.identity,
            tuning=transport_tuning(s.raw),
            transport_tls=ClientTls.of(
                build_context(self._transport_cfg, server=False)
                if self._transport_cfg is not None
                else None,
                lambda: transport_trust,
            ),
            remote_cluster_client_tls=ClientTls.of(
                self._remote_cluster_client_context(), self._remote_cluster_client_trust
            ),
            credential=secure.get,
        )
        service = RemoteClusterService(
            security, remote_globals(s.raw), enabled="remote_cluster_client" in s.roles
        )

        async def on_reload(contents: Any) -> None:
            # The API answers once the rebuilt connections were tried.
            await service.rebuild_changed_models()

        secure.add_hook(on_reload)
        return service

    def _remote_cluster_client_config(self) -> SslConfig:
        s = self.settings
        return ssl_config("remote_cluster_client", s.raw, s.config_dir, self._secrets())

    def _remote_cluster_client_context(self) -> ssl.SSLContext | None:
        """``xpack.security.remote_cluster_client.ssl.*`` (enabled by default): the context that
        trusts remote cluster servers (None when disabled or security is off)."""
        if not self.settings.security_enabled:
            return None
        cfg = self._remote_cluster_client_config()
        if not cfg.enabled:
            return None
        try:
            return build_context(cfg, server=False)
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise NodeStartupError(
                f"invalid SSL configuration for xpack.security.remote_cluster_client.ssl: {exc}"
            ) from exc

    def _remote_cluster_client_trust(self) -> Any:
        from isthmus.security.trust_diagnostics import TrustInfo

        return TrustInfo.from_config(self._remote_cluster_client_config())

    async def _watch_tls(self, holder: ContextHolder, every_s: float = 5.0) -> None:
        """Reload certificate and key files that change on disk, as ES does."""
        tls_log = logging.getLogger("org.elasticsearch.xpack.core.ssl.SSLConfigurationReloader")
        while True:
            await asyncio.sleep(every_s)
            try:
                if await asyncio.to_thread(holder.reload_if_changed):
                    tls_log.info("reloaded ssl context for [%s]", holder.cfg.prefix)
            except (OSError, ValueError, ssl.SSLError) as exc:
                tls_log.warning(
                    "failed to reload ssl context for [%s], keeping the old one: %s",
                    holder.cfg.prefix,
                    exc,
                )

    def _write_ports(self, http_address: str) -> None:
        if self.ports_file is None:
            return
        info: dict[str, Any] = {"http": http_address, "pid": os.getpid()}
        tmp = self.ports_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(info))
        os.replace(tmp, self.ports_file)


def _tcp_fields(values: dict[str, Any]) -> dict[str, Any]:
    """``remote_cluster.tcp.*`` overrides as ``TcpOptions`` fields."""
    out = {
        k: v
        for k, v in values.items()
        if k
        in ("keep_alive", "keep_idle", "keep_interval", "keep_count", "no_delay", "reuse_address")
    }
    if "user_timeout" in values:
        out["user_timeout_ms"] = values["user_timeout"].millis
    return out


def _restrictions_for(guard: Guard | None, cluster: ClusterService) -> Any:
    """DLS/FLS of a remote caller's search on this cluster (None without security)."""
    if guard is None:
        return None
    from isthmus.security.field_level import index_restrictions

    def restrictions(subject: Any, names: list[str]) -> Any:
        return index_restrictions(
            guard.authorizer, subject, "indices:data/read/search", names, cluster.state
        )

    return restrictions


def _remote_configs(flat: Any) -> Any:
    from isthmus.settings.remote import remote_configs, remote_globals, transport_tuning

    return remote_configs(flat, transport_tuning(flat), remote_globals(flat))


def _disk_monitor(
    cluster: ClusterService,
    cluster_actions: ClusterActions,
    indices: IndicesService,
    env: NodeEnvironment,
    s: NodeSettings,
) -> DiskThresholdMonitor:
    """The disk threshold monitor, told of every disk setting change, new index and full disk.
    Watermarks that contradict each other in isthmus.yml stop the start, as in ES."""
    from isthmus.cluster import disk_settings as disk
    from isthmus.errors import SettingsError

    try:
        disk.DiskThresholds.from_settings(cluster_actions.effective())
    except SettingsError as exc:
        raise NodeStartupError(exc.reason) from None
    monitor = DiskThresholdMonitor(
        cluster, env.data_path, env.node_id, s.node_name, cluster_actions.effective
    )
    cluster.add_applier(monitor.on_cluster_change)
    indices.on_storage_full = monitor.storage_full

    async def recheck(flat: Any) -> None:
        monitor.poke()

    for prefix in (disk.PREFIX, disk.UPDATE_INTERVAL):
        cluster_actions.add_group(
            prefix,
            lambda previous, current, layers: disk.validate_update(previous, current),
            recheck,
        )
    return monitor


def _validate_remote(previous: Any, current: Any, layers: Any) -> None:
    """ES's order: each layer with its dependencies (transient first), then the update."""
    from isthmus.settings.remote import validate_remote_settings, validate_remote_update

    for layer in layers:
        validate_remote_settings(layer)
    validate_remote_update(previous, current)


async def _apply_remote(remote: RemoteClusterService, flat: Any) -> None:
    await remote.apply(_remote_configs(flat))


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost", "_local_"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _get_list(raw: Any) -> list[str]:
    from isthmus.settings.values import parse_str_list

    return list(parse_str_list(raw)) if raw is not None else []


def run_node(
    settings: NodeSettings, ports_file: Path | None = None, keystore_password: Secret | None = None
) -> None:
    """Run a node until SIGTERM/SIGINT, on uvloop when available."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    node = Node(settings, ports_file=ports_file)
    node.keystore_password = keystore_password
    runner(node.run())
