"""The composition root: builds a node's components, starts them, and owns their lifetimes.

Nothing here parses, routes or searches; it wires. Each component gets what it needs when it is
built, and its ``close`` is pushed on one exit stack right after it starts, so shutdown runs in
exact reverse: stop accepting HTTP and let in-flight requests finish, stop background loops,
close remote connections and the transport, flush and close shards, close stores, release the
data-path lock. Long-lived loops run in one task group.

Where things are built: TLS in :mod:`isthmus.security.node_tls`, security in
:mod:`isthmus.security.bootstrap`, the transport listeners in :mod:`isthmus.transport.node_servers`,
the remote cluster service in :mod:`isthmus.remote.assembly`, the actions in
:mod:`isthmus.actions.assembly`, cross-cluster replication's two sides in
:mod:`isthmus.ccr.assembly`, the disk monitor in :mod:`isthmus.cluster.disk_monitor`, the live
health probes in :mod:`isthmus.remote.health_probe`, the REST handlers' dependency records and
the HTTP server in :mod:`isthmus.http.assembly`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from isthmus import ES_COMPAT_VERSION
from isthmus.actions.assembly import node_actions, node_cluster_actions, node_identity, nodes_view
from isthmus.actions.nodes_fanout import nodes_apis, peer_connector
from isthmus.actions.peer_channels import PeerChannels
from isthmus.actions.remote_nodes import (
    register_remote_cluster_server,
    register_transport_nodes,
    remote_cluster_identities,
    transport_identities,
)
from isthmus.actions.search_context_reaper import context_reaper
from isthmus.ccr.assembly import ccr_follower, ccr_leader, distribute_ccr
from isthmus.ccr.placement import peer_requester
from isthmus.ccr.replica_writes import replica_writer
from isthmus.cluster.disk_monitor import disk_monitor_for
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.service import ClusterService
from isthmus.cluster.store import ClusterStore
from isthmus.discovery.assembly import check_transport_security, node_formation
from isthmus.discovery.cluster_wide import cluster_wide_state
from isthmus.environment import NodeEnvironment
from isthmus.errors import IsthmusError, NodeStartupError, SettingsError
from isthmus.http.assembly import ExtraRoutes, RestComponents, node_http_server
from isthmus.http.guard import Guard
from isthmus.index.service import IndicesService
from isthmus.listeners import bind_first_free
from isthmus.remote.assembly import follow_remote_settings, node_remote_service
from isthmus.remote.health_probe import health_probes_for
from isthmus.security.authz import Authorizer, Subject
from isthmus.security.node_tls import NodeTls, watch_certificates
from isthmus.security.secure_settings import SecureSettingsHolder
from isthmus.security.tls import handshake_timeout
from isthmus.settings.ccr import MAX_LEASES_PER_SHARD
from isthmus.settings.discovery import forms_cluster_alone
from isthmus.settings.node import NodeSettings
from isthmus.settings.remote import enabled_remotes
from isthmus.settings.remote_server import remote_server_settings
from isthmus.settings.secret import Secret
from isthmus.tasks import TaskManager
from isthmus.transport.actions import ActionRegistry
from isthmus.transport.limits import InFlightBreaker, TransportLimits
from isthmus.transport.node_servers import local_node, start_remote_cluster_server, start_transport
from isthmus.transport.server import TransportServer

if TYPE_CHECKING:  # security's heavier libraries load only when security is on
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
        extra_routes: ExtraRoutes | None = None,
    ) -> None:
        self.settings = settings
        self.extra_routes = extra_routes  # REST routes of a tool (the web console)
        self.ports_file = ports_file
        self.clock = clock
        self.keystore_password = keystore_password  # typed at the start prompt, if any
        self._stop = asyncio.Event()
        self._fatal_reason: str | None = None  # why the node stopped itself, if it did
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
        if self._fatal_reason is not None:  # logged when it happened; the exit status says it
            raise NodeStartupError(self._fatal_reason)

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
        cluster = ClusterService(store, s.raw)
        cluster.add_applier(indices.apply)
        incarnation = [""]  # this process's ephemeral id, once the node's view exists
        if not forms_cluster_alone(s.raw):
            # A node of several opens only the copies the routing table gives it, from the
            # first state on (a state it kept from its last run included).
            indices.local_node_id = lambda: env.node_id
            indices.local_incarnation = lambda: incarnation[0]
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
        check_transport_security(s, tls)
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
        leader = ccr_leader(
            cluster,
            indices,
            lambda: env.node_id,
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
        leader.register(transport.registry)
        stack.push_async_callback(leader.close)
        remote_server: TransportServer[Subject] | None = None
        if listener.enabled:
            remote_server = await start_remote_cluster_server(
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
        # The cluster's nodes as this node sees them: every API that lists nodes reads it.
        view = nodes_view(transport, remote_server, http_address)
        incarnation[0] = view.local.ephemeral_id
        # A cluster of several nodes: this node's etcd member, membership and candidacy.
        formation = node_formation(
            s, transport, view, tls, on_fatal=self._fatal, version=lambda: cluster.state.version
        )
        if formation is not None:
            stack.push_async_callback(formation.close)
            await formation.start()
        register_transport_nodes(
            registry,
            cluster_name=s.cluster_name,
            cluster_uuid=lambda: cluster.state.cluster_uuid,
            nodes=lambda: transport_identities(view.nodes),
            index_metadata=leader.shards.index_metadata,
        )
        if remote_server is not None:
            register_remote_cluster_server(
                transport.registry,
                cluster_name=s.cluster_name,
                cluster_uuid=lambda: transport.identity.cluster_uuid,
                nodes=lambda: remote_cluster_identities(view.nodes),
            )
        remote = node_remote_service(s, transport, tls, secure)
        stack.push_async_callback(remote.close)

        # A cluster of several nodes: where each shard's copies are (the routing table) and the
        # kept channels to the nodes holding them (document, search and recovery requests).
        cluster_shards = None
        if formation is not None:
            from isthmus.actions.assembly import ClusterShards
            from isthmus.cluster.routed_copies import RoutedCopies as ShardsOfRouting

            peers = PeerChannels(s.cluster_name, peer_connector(transport, tls))
            stack.push_async_callback(peers.close)
            copies = ShardsOfRouting(cluster, view)
            cluster_shards = ClusterShards(s.cluster_name, copies, view, peers)
        actions = node_actions(
            cluster,
            indices,
            remote,
            transport.registry,
            node_id=env.node_id,
            node_name=s.node_name,
            clock=self.clock,
            authz=authz,
            shards=cluster_shards,
        )
        stack.push_async_callback(actions.close)
        identity = node_identity(view, s, self.clock(), transport, remote_server)
        cluster_actions = node_cluster_actions(cluster, indices, identity, self.inflight)
        # The _nodes APIs that ask every node they name (this node answers the others, too).
        nodes = nodes_apis(
            s.cluster_name,
            s.node_name,
            transport,
            view,
            tls,
            secure,
            cluster_actions.local_node_stats,
            cluster_actions.local_node_info,
        )
        follow_remote_settings(remote, cluster_actions)
        # A multi-node cluster shares its security state and cluster settings through etcd.
        shared = []
        if formation is not None:
            shared = cluster_wide_state(
                formation,
                cluster_actions,
                security.store if security else None,
                registry=transport.registry,
                peers=peers,
                on_fatal=self._fatal,
                node_settings=s,
            )
        disk = disk_monitor_for(cluster, cluster_actions, env.data_path, env.node_id, s.node_name)
        indices.on_storage_full = disk.storage_full
        probes = health_probes_for(remote, cluster_actions)
        reaper = context_reaper(actions, s, cluster_actions)
        ccr = ccr_follower(
            s,
            cluster,
            indices,
            remote,
            subject_lookup=security.service.lookup_user if security is not None else None,
        )
        stack.push_async_callback(ccr.close)
        cluster.add_applier(ccr.apply)
        if cluster_shards is not None:  # CCR's shard work on the primaries' nodes
            writes = actions.documents.shard_writes
            distribute_ccr(
                leader,
                ccr,
                transport.registry,
                cluster_name=s.cluster_name,
                copies=cluster_shards.copies,
                request=peer_requester(cluster_shards.peers, cluster_shards.view),
                replicate=replica_writer(writes) if writes is not None else None,
                master=lambda: view.nodes.master_node_id,
            )
        rest = RestComponents(
            node=identity,
            cluster=cluster,
            indices=indices,
            cluster_actions=cluster_actions,
            actions=actions,
            remote=remote,
            probe_settings=probes.settings,
            disk=disk,
            tasks=tasks,
            secure_settings=secure,
            nodes_apis=nodes,
            tls=tls,
            ccr=ccr,
            ccr_leader=leader,
            authz=authz,
            security=security.service if security is not None else None,
        )
        server = node_http_server(
            s, rest, guard=guard, breaker=self.inflight, extra_routes=self.extra_routes
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
                group.create_task(ccr.auto_follow.run(), name="ccr auto-follow"),
                group.create_task(reaper.run(), name="search context reaper"),
                # Remotes from isthmus.yml and persisted settings connect in the
                # background: unlike ES, the start does not wait for them.
                group.create_task(
                    remote.initialize(enabled_remotes(cluster_actions.effective())),
                    name="initial remote cluster connections",
                ),
            ]
            if formation is not None:
                loops.append(group.create_task(formation.run(), name="cluster formation"))
                for replicated in shared:
                    loops.append(group.create_task(replicated, name="cluster-wide state"))
            if tls.holders and s.get("resource.reload.enabled"):
                every = s.get("resource.reload.interval.high").seconds
                loops.append(group.create_task(watch_certificates(tls.holders, every)))
            await asyncio.sleep(0)
            await ccr.resume(cluster.state)  # followers recorded as following resume
            # What the start built lives as long as the node: out of the collector's sight, a
            # full collection no longer walks it (measured: 4-5 ms of every 1,000 docs indexed).
            gc.freeze()
            log.info(
                "started {%s}{%s} in %.0fms",
                s.node_name,
                env.node_id,
                (time.monotonic() - started) * 1000,
            )
            await self._stop.wait()
            log.info("stopping ...")
            if formation is not None:
                await formation.leave()
            server.should_exit = True
            await serving
            for task in loops:
                task.cancel()

    def _fatal(self, reason: str) -> None:
        """A part the node cannot run without has failed: log it and stop."""
        log.error("stopping: %s", reason)
        self._fatal_reason = self._fatal_reason or reason
        self.request_stop()

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
    settings: NodeSettings,
    ports_file: Path | None = None,
    keystore_password: Secret | None = None,
    extra_routes: ExtraRoutes | None = None,
) -> None:
    """Run a node until SIGTERM/SIGINT, on uvloop when available."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    node = Node(
        settings,
        ports_file=ports_file,
        keystore_password=keystore_password,
        extra_routes=extra_routes,
    )
    runner(node.run())
