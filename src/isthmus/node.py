"""The composition root: builds a node's components, starts them, and owns their lifetimes.

Nothing here parses, routes or searches; it wires. Each component gets what it needs when it is
built, and its ``close`` is pushed on one exit stack right after it starts, so shutdown runs in
exact reverse: stop accepting HTTP and let in-flight requests finish, stop background loops,
close remote connections and the transport, flush and close shards, close stores, release the
data-path lock. Long-lived loops run in one task group.

Where things are built: TLS in :mod:`isthmus.security.node_tls`, security in
:mod:`isthmus.security.bootstrap`, the transport listeners in :mod:`isthmus.transport.node_servers`,
each remote alias's security model in :mod:`isthmus.remote.security_model`, the disk monitor in
:mod:`isthmus.cluster.disk_monitor`, the HTTP server in :mod:`isthmus.http.server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from isthmus import ES_COMPAT_VERSION, logs
from isthmus.actions.async_search import AsyncSearchActions
from isthmus.actions.ccs_handlers import CrossClusterSearchHandlers
from isthmus.actions.ccs_search import CrossClusterSearch
from isthmus.actions.cluster import ClusterActions, NodeIdentity
from isthmus.actions.cross_cluster import CrossClusterActions
from isthmus.actions.documents import DocumentActions
from isthmus.actions.field_caps import FieldCapsActions
from isthmus.actions.indices import IndicesActions
from isthmus.actions.remote_nodes import register_remote_cluster_server, register_transport_nodes
from isthmus.actions.search import SearchActions
from isthmus.ccr.leader import LeaderShards
from isthmus.ccr.leader_restore import RestoreSessions
from isthmus.cluster.disk_monitor import disk_monitor_for
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.service import ClusterService
from isthmus.cluster.store import ClusterStore
from isthmus.environment import NodeEnvironment
from isthmus.errors import IsthmusError, NodeStartupError, SettingsError
from isthmus.http.app import RestApp
from isthmus.http.guard import Guard
from isthmus.http.handlers import (
    CatApiDeps,
    CcrApiDeps,
    CcrLeaderApiDeps,
    ClusterApiDeps,
    DocumentsApiDeps,
    HealthApiDeps,
    IndicesApiDeps,
    SearchApiDeps,
    all_routes,
)
from isthmus.http.router import Router
from isthmus.http.server import HttpServer
from isthmus.index.service import IndicesService
from isthmus.listeners import bind_first_free
from isthmus.remote.health_probe import health_probes_for
from isthmus.security.authz import Authorizer, Subject
from isthmus.security.node_tls import NodeTls, watch_certificates
from isthmus.security.secure_settings import SecureSettingsHolder
from isthmus.security.tls import handshake_timeout
from isthmus.settings.ccr import MAX_LEASES_PER_SHARD, RENEW_INTERVAL
from isthmus.settings.node import NodeSettings
from isthmus.settings.remote import enabled_remotes, remote_globals, validate_remote_change
from isthmus.settings.remote_server import remote_server_settings
from isthmus.settings.secret import Secret
from isthmus.tasks import TaskManager
from isthmus.transport.actions import ActionRegistry
from isthmus.transport.limits import InFlightBreaker, TransportLimits
from isthmus.transport.node_servers import local_node, start_remote_cluster_server, start_transport
from isthmus.transport.server import TransportServer

if TYPE_CHECKING:  # security's heavier libraries load only when security is on
    from isthmus.ccr.auto_follower import AutoFollower
    from isthmus.ccr.service import CcrService
    from isthmus.remote.service import RemoteClusterService
    from isthmus.security.keystore_format import KeystoreContents

log = logging.getLogger("org.elasticsearch.node.Node")
http_log = logging.getLogger("org.elasticsearch.http.AbstractHttpServerTransport")
bootstrap_log = logging.getLogger("org.elasticsearch.bootstrap.Elasticsearch")


class Node:
    def __init__(
        self,
        settings: NodeSettings,
        *,
        ports_file: Path | None = None,
        clock: Callable[[], float] = time.time,
        keystore_password: Secret | None = None,
    ) -> None:
        self.settings = settings
        self.ports_file = ports_file
        self.clock = clock
        self.keystore_password = keystore_password  # typed at the start prompt, if any
        self._stop = asyncio.Event()
        # ES's in_flight_requests breaker: one per node, shared by every listener.
        limits = TransportLimits.from_settings(settings.raw)
        self.inflight = InFlightBreaker(limits.inflight_limit, limits.inflight_overhead)

    def request_stop(self) -> None:
        self._stop.set()

    def load_keystore(self, password: Secret | None = None) -> KeystoreContents | None:
        """Read and validate the keystore (startup and ``reload_secure_settings``)."""
        from isthmus.security.keystore import read_node_keystore

        return read_node_keystore(self.settings.config_dir, password, self.keystore_password)

    async def run(self) -> None:
        started = time.monotonic()
        async with contextlib.AsyncExitStack() as stack:
            try:
                await self._run(stack, started)
            except NodeStartupError as exc:
                # Logged before the components close, so the reason precedes "closed".
                bootstrap_log.error("%s", exc)
                raise

    async def _run(self, stack: contextlib.AsyncExitStack, started: float) -> None:
        """Build and start everything (each close pushed on ``stack``), serve until stopped."""
        s = self.settings
        # Unwound last: the ports file goes and "closed" is logged only once the data-path
        # lock is released, so whoever waits for either can start a node on the same path.
        stack.callback(log.info, "closed")
        stack.callback(self._remove_ports_file)
        env = NodeEnvironment(s.path_data)
        stack.callback(env.close)
        try:
            secure = SecureSettingsHolder(self.load_keystore, self.load_keystore())
        except IsthmusError as exc:
            raise NodeStartupError.configuration(
                f"cannot read the keystore: {exc.reason}"
            ) from None
        _log_start(s, env.node_id)
        store = ClusterStore(env.state_dir)
        stack.callback(store.close)
        indices = IndicesService(env.indices_dir, search_threads=s.get("thread_pool.search.size"))
        stack.push_async_callback(indices.close)
        cluster = ClusterService(store)
        cluster.add_applier(indices.apply)
        await indices.apply(ClusterMetadata(cluster_uuid=cluster.state.cluster_uuid), cluster.state)
        sock = bind_first_free(s.http_bind_host, s.http_ports)
        stack.callback(sock.close)  # the server closes it too; this covers a failed start
        http_address = "{}:{}".format(*sock.getsockname()[:2])
        # Configuration first: a broken TLS or listener setting stops the start before
        # anything is written (the elastic user's first password, say).
        try:
            listener = remote_server_settings(s.raw, s.transport_bind_host)
        except SettingsError as exc:
            raise NodeStartupError.configuration(exc.reason) from None
        tls = NodeTls.from_settings(s, secure.secrets(), remote_cluster_server=listener.enabled)
        security = None
        if s.security_enabled:
            from isthmus.security.bootstrap import start_security

            security = start_security(
                s, env.state_dir, self.clock, secure.get("bootstrap.password")
            )
            stack.callback(security.store.close)
        else:
            log.warning(
                "security is disabled (xpack.security.enabled: false): every request runs "
                "without authentication"
            )
        guard = Guard(security.service, cluster, Authorizer()) if security else None
        authz = guard.indices if guard is not None else None
        # What follower clusters ask of this one (CCR's leader side).
        leader = LeaderShards(
            lambda: cluster.state,
            indices,
            authz=authz,
            max_leases_per_shard=s.get(MAX_LEASES_PER_SHARD),
        )
        tasks = TaskManager(env.node_id, self.clock)
        registry: ActionRegistry[Subject] = ActionRegistry()
        transport = await start_transport(
            s,
            registry,
            local_node(s, env.node_id, cluster.state.cluster_uuid),
            ssl_context=tls.transport_server,
            trust=tls.transport_trust,
            request_filter=security.transport_filter if security is not None else None,
            breaker=self.inflight,
            tasks=tasks,
            tls_handshake_timeout=handshake_timeout("transport", s.raw),
        )
        stack.push_async_callback(transport.close)
        register_transport_nodes(
            registry,
            cluster_name=s.cluster_name,
            cluster_uuid=lambda: cluster.state.cluster_uuid,
            node=lambda: transport.identity.node,
            index_metadata=leader.index_metadata,
        )
        leader.register(transport.registry)
        restores = RestoreSessions(leader, lambda: env.node_id)
        restores.register(transport.registry)
        stack.push_async_callback(restores.close)
        remote_server: TransportServer[Subject] | None = None
        if listener.enabled:
            remote_server = rcs = await start_remote_cluster_server(
                s,
                listener,
                transport,
                ssl_context=tls.remote_cluster_server,
                trust=tls.remote_cluster_server_trust,
                request_filter=security.cross_cluster_filter if security is not None else None,
                breaker=self.inflight,
                tasks=tasks,
                tls_handshake_timeout=handshake_timeout("remote_cluster_server", s.raw),
            )
            stack.push_async_callback(remote_server.close)
            register_remote_cluster_server(
                transport.registry,
                cluster_name=s.cluster_name,
                cluster_uuid=lambda: transport.identity.cluster_uuid,
                node=lambda: rcs.identity.node,
            )
        remote = self._remote_service(transport, tls, secure)
        stack.push_async_callback(remote.close)

        cross_cluster = CrossClusterActions(cluster, remote, s.node_name)
        cross_cluster.register(transport.registry)
        search = SearchActions(cluster, indices, env.node_id, self.clock)
        ccs = CrossClusterSearch(search, cross_cluster)
        # What other clusters' searches call here, with their DLS/FLS applied.
        CrossClusterSearchHandlers(
            search,
            authz=authz,
            restrictions_for=authz.search_restrictions if authz is not None else None,
        ).register(transport.registry)
        async_search = AsyncSearchActions(ccs, self.clock)
        stack.push_async_callback(async_search.close)
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

        async def apply_remotes(flat: Any) -> None:
            await remote.apply(enabled_remotes(flat))

        cluster_actions.add_group("cluster.remote.", validate_remote_change, apply_remotes)
        disk = disk_monitor_for(cluster, cluster_actions, env.data_path, env.node_id, s.node_name)
        indices.on_storage_full = disk.storage_full
        probes = health_probes_for(remote, cluster_actions)
        indices_actions = IndicesActions(cluster, indices)
        ccr = self._ccr_service(cluster, indices, remote, security)
        stack.push_async_callback(ccr.close)
        cluster.add_applier(ccr.apply)
        auto_follow = self._auto_follower(ccr, security)
        routes = all_routes(
            cluster_api=ClusterApiDeps(
                identity,
                cluster,
                cluster_actions,
                cross_cluster,
                remote,
                tasks,
                secure,
                tuple(tls.configs),
            ),
            indices_api=IndicesApiDeps(indices_actions, cluster_actions, indices, authz),
            documents_api=DocumentsApiDeps(
                cluster, DocumentActions(cluster, indices, indices_actions), authz
            ),
            search_api=SearchApiDeps(cluster, search, ccs, async_search, field_caps, authz),
            cat_api=CatApiDeps(
                identity, cluster, indices, cluster_actions, indices_actions, search, authz
            ),
            health_api=HealthApiDeps(identity, cluster_actions, disk, remote, probes.settings),
            security_service=security.service if security is not None else None,
            ccr_api=CcrApiDeps(ccr, authz, auto_follow),
            ccr_leader_api=CcrLeaderApiDeps(leader),
        )
        app = RestApp(
            Router(routes), s.max_content_length, guard, tasks=tasks, breaker=self.inflight
        )
        server = HttpServer.for_node(
            app,
            s.raw,
            ssl_context=tls.http.context if tls.http is not None else None,
            tls_handshake_timeout=handshake_timeout("http", s.raw),
        )
        http_log.info("publish_address {%s}, bound_addresses {%s}", http_address, http_address)
        self._write_ports(http_address)
        self._handle_signals()
        async with asyncio.TaskGroup() as group:
            serving = group.create_task(server.serve(sockets=[sock]))
            loops = [
                group.create_task(indices.refresh_loop(), name="refresh"),
                group.create_task(disk.run(), name="disk threshold monitor"),
                group.create_task(probes.run(), name="remote health probes"),
                group.create_task(auto_follow.run(), name="ccr auto-follow"),
                # Remotes from isthmus.yml and persisted settings connect in the
                # background: unlike ES, the start does not wait for them.
                group.create_task(
                    remote.initialize(enabled_remotes(cluster_actions.effective())),
                    name="initial remote cluster connections",
                ),
            ]
            if tls.holders and s.get("resource.reload.enabled"):
                every = s.get("resource.reload.interval.high").seconds
                loops.append(group.create_task(watch_certificates(tls.holders, every)))
            await asyncio.sleep(0)
            # Followers recorded as following resume their tasks (they retry until the
            # remote connects).
            await ccr.apply(ClusterMetadata(cluster_uuid=cluster.state.cluster_uuid), cluster.state)
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
            for task in loops:
                task.cancel()

    def _remote_service(
        self, transport: TransportServer[Subject], tls: NodeTls, secure: SecureSettingsHolder
    ) -> RemoteClusterService:
        """The client side of remote clusters; each alias's security model (and so its
        connector) comes from :class:`RemoteSecurity`. A reload that adds or removes a
        credential rebuilds that alias's connections before the API answers."""
        from isthmus.remote.security_model import ClientTls, RemoteSecurity
        from isthmus.remote.service import RemoteClusterService
        from isthmus.settings.remote import transport_tuning

        s = self.settings
        security = RemoteSecurity(
            identity=lambda: transport.identity,
            tuning=transport_tuning(s.raw),
            # The transport's CAs (what its server trusts too), read once at the node's start.
            transport_tls=ClientTls.of(tls.transport_client, lambda: tls.transport_trust),
            # Its trust facts (for diagnostics) are read on first use.
            remote_cluster_client_tls=ClientTls.of(
                tls.remote_cluster_client, tls.remote_cluster_client_trust
            ),
            credential=secure.get,
        )
        service = RemoteClusterService(
            security, remote_globals(s.raw), enabled="remote_cluster_client" in s.roles
        )

        async def on_reload(contents: Any) -> None:
            await service.rebuild_changed_models()

        secure.add_hook(on_reload)
        return service

    def _ccr_service(
        self,
        cluster: ClusterService,
        indices: IndicesService,
        remote: RemoteClusterService,
        security: Any,
    ) -> CcrService:
        """The follower side of cross-cluster replication; a follow task after a restart reads
        as the user who started it (looked up by name) when security is on."""
        from isthmus.ccr.service import CcrService

        lookup = security.service.lookup_user if security is not None else None
        return CcrService(
            cluster,
            indices,
            remote,
            cluster_name=self.settings.cluster_name,
            renew_interval_s=self.settings.get(RENEW_INTERVAL).seconds,
            subject_lookup=lookup,
        )

    def _auto_follower(self, ccr: CcrService, security: Any) -> AutoFollower:
        """CCR's auto-follow coordinator; it follows as the user who created each pattern."""
        from isthmus.ccr.auto_follower import AutoFollower

        lookup = security.service.lookup_user if security is not None else None
        return AutoFollower(ccr, subject_lookup=lookup)

    def _handle_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)

    def _write_ports(self, http_address: str) -> None:
        if self.ports_file is None:
            return
        info: dict[str, Any] = {"http": http_address, "pid": os.getpid()}
        tmp = self.ports_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(info))
        os.replace(tmp, self.ports_file)

    def _remove_ports_file(self) -> None:
        if self.ports_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.ports_file.unlink()


def _log_start(s: NodeSettings, node_id: str) -> None:
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
        node_id,
        s.cluster_name,
        sorted(s.roles),
    )


def run_node(
    settings: NodeSettings, ports_file: Path | None = None, keystore_password: Secret | None = None
) -> None:
    """Run a node until SIGTERM/SIGINT, on uvloop when available."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    node = Node(settings, ports_file=ports_file, keystore_password=keystore_password)
    runner(node.run())
