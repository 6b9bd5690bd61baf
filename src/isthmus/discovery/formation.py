"""Cluster formation: how a node of a multi-node cluster joins the others, through etcd.

Owns, for one node: its etcd member (a master-eligible node runs one, unless the settings name
an external etcd cluster), its client of the store, its membership key (ES's DiscoveryNode, on a
lease), the watch on everyone's keys, its candidacy for master and the watch on who the master
is, and turning those into the node's :class:`~isthmus.cluster.nodes.NodesView`, with ES's
``ClusterApplierService`` log lines when the master or the set of nodes changes.

Rules:

- A one-node cluster never comes here (``settings.discovery.forms_cluster_alone``).
- The members of the first election are ``cluster.initial_master_nodes``: their peer URLs are
  the folder's unix sockets named after them (``isthmus.coordination.etcd.socket_dir``), or
  what each of them answers over the transport at ``discovery.seed_hosts``
  (:mod:`isthmus.discovery.peers`). A node that is not master-eligible runs no member and uses
  the members' client URLs found the same way.
- The node serves before the cluster has formed (as ES's nodes answer
  ``master_not_discovered_exception`` meanwhile): :meth:`run` waits for the store, registers,
  and campaigns in the background, retrying what fails, and logs ES's "master not discovered
  yet" warning every 10 s until a master is known.
- A lost node lease (the node was silent for the TTL) is registered again at once; a lost
  master lease ends the reign at once (the election module fences publications).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import replace

from isthmus.cluster.nodes import DiscoveryNode, DiscoveryNodes, NodesView
from isthmus.coordination.election import Election, MasterInfo, MasterObserver
from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.etcd_member import EtcdMember, EtcdMemberConfig, find_binary
from isthmus.coordination.keys import ClusterKeys
from isthmus.coordination.membership import (
    MembershipEvent,
    MembershipView,
    NodeRegistration,
)
from isthmus.discovery.etcd_tls import write_member_tls
from isthmus.discovery.formation_settings import (
    FormationSettings,
    description_of,
    node_of,
    socket_urls,
)
from isthmus.discovery.peers import PeerInfo, PeerLocator
from isthmus.errors import CoordinationError, IsthmusError, NodeStartupError
from isthmus.security.tls import SslConfig
from isthmus.settings import discovery as d
from isthmus.supervision import TaskSet

log = logging.getLogger("org.elasticsearch.cluster.coordination.ClusterFormationFailureHelper")
applier_log = logging.getLogger("org.elasticsearch.cluster.service.ClusterApplierService")
formation_log = logging.getLogger("isthmus.discovery.formation")

NOT_DISCOVERED_EVERY_S = 10.0
# A watch silent this long counts as broken and resumes on another member: members send a
# progress message every 5 s (etcd_member), so a frozen member is left within 15 s.
WATCH_IDLE_S = 15.0
LEAVE_TIMEOUT_S = 1.0
MEMBER_STOP_TIMEOUT_S = 2.0


class ClusterFormation:
    """One node's part in a multi-node cluster: ``start`` (the member process), ``run`` (in
    the node's task group: store, membership, election), ``close``."""

    def __init__(
        self,
        settings: FormationSettings,
        view: NodesView,
        peers: PeerLocator,
        *,
        on_fatal: Callable[[str], None],
        version: Callable[[], int] = lambda: 0,
        transport_tls: SslConfig | None = None,
        client_context: ssl.SSLContext | None = None,
    ) -> None:
        """``transport_tls``/``client_context``: the transport's TLS configuration and client
        context, which TCP members and this node's client of them use (``settings.tls``)."""
        self.settings = settings
        self._transport_tls = transport_tls
        self._client_context = client_context
        self.view = view
        self._peers = peers
        self._on_fatal = on_fatal
        self._version = version  # the cluster state version, for the log lines
        self.keys = ClusterKeys(settings.cluster_name)
        self.member: EtcdMember | None = None
        self.client: EtcdClient | None = None
        self.registration: NodeRegistration | None = None
        self.membership: MembershipView | None = None
        self.election: Election | None = None
        self.observer: MasterObserver | None = None
        self._master: MasterInfo | None = None
        self._tasks = TaskSet(f"cluster formation [{settings.node_name}]", formation_log)
        self._registered = asyncio.Event()
        self._client_ready = asyncio.Event()
        self._closing = False
        # Until an election says otherwise there is no master (a one-node view names itself).
        view.set_members([], None)
        self._unsubscribe = view.subscribe(self.view_changed)

    def __repr__(self) -> str:
        master = self._master.node_id if self._master else None
        return f"<ClusterFormation {self.settings.node_name} master={master}>"

    @property
    def peer_info(self) -> PeerInfo:
        """What this node answers to a peer asking how to reach its member."""
        s = self.settings
        own = self.runs_member
        client, peer = s.own_urls() if own else ("", "")
        return PeerInfo(
            node_name=s.node_name,
            node_id=self.view.local.id,
            master_eligible=s.master_eligible,
            client_urls=(client,) if own else tuple(self._client_urls_known()),
            peer_urls=(peer,) if own else (),
        )

    def _client_urls_known(self) -> list[str]:
        return list(self.client.endpoints) if self.client is not None else []

    @property
    def runs_member(self) -> bool:
        """A master-eligible node runs an etcd member, unless the store is external."""
        return self.settings.master_eligible and not self.settings.endpoints

    async def start(self) -> None:
        """What can be refused at startup: settings that cannot form a cluster, no etcd binary.
        The member itself starts in :meth:`run`, once the other members are known."""
        s = self.settings
        if not self.runs_member:
            return
        if not s.initial_master_nodes and not (s.member_dir / "member").exists():
            raise NodeStartupError.configuration(
                f"this node is master-eligible and has no etcd data yet: set "
                f"[{d.INITIAL_MASTER_NODES}] to the names of the master-eligible nodes of the "
                f"first election, or [{d.ETCD_ENDPOINTS}] to an etcd cluster"
            )
        if s.initial_master_nodes and s.node_name not in s.initial_master_nodes:
            raise NodeStartupError.configuration(
                f"this master-eligible node [{s.node_name}] is not named in "
                f"[{d.INITIAL_MASTER_NODES}] {list(s.initial_master_nodes)}: Isthmus does not "
                "add members to a formed etcd cluster yet; name every master-eligible node there"
            )
        find_binary(s.binary)

    async def _start_member(self) -> EtcdMember:
        s = self.settings
        initial = await self._initial_cluster()
        client_url, peer_url = s.own_urls()
        # One client listener, at the published address, with the member's TLS: a second plain
        # listener (on loopback, say) would take no client certificate from anyone.
        listen_client: tuple[str, ...] = (client_url,)
        config = EtcdMemberConfig(
            name=s.node_name,
            data_dir=s.member_dir,
            log_file=s.log_file,
            client_urls=listen_client,
            peer_urls=(peer_url,),
            initial_cluster=initial,
            cluster_token=f"isthmus-{s.cluster_name}",
            heartbeat_ms=s.heartbeat_ms,
            election_ms=s.election_ms,
            working_dir=s.socket_dir,
            binary=s.binary,
        )
        if s.tls and self._transport_tls is not None:
            config = replace(
                config, tls=write_member_tls(self._transport_tls, s.member_dir.parent / "_etcd_tls")
            )
        elif s.socket_dir is None:
            formation_log.warning(
                "the etcd member listens without TLS on [%s] and [%s] (the transport has no "
                "TLS): anyone who reaches these ports can change the cluster's coordination "
                "state",
                client_url,
                peer_url,
            )
        member = EtcdMember(config, on_exit=self._member_exited)
        await member.start()
        return member

    async def _initial_cluster(self) -> dict[str, str]:
        """Member name → peer URL of the first election's members."""
        s = self.settings
        if s.socket_dir is not None:
            return {name: socket_urls(name)[1] for name in s.initial_master_nodes}
        if (s.member_dir / "member").exists():  # etcd ignores it once it has data
            return {s.node_name: s.own_urls()[1]}
        found = await self._peers.wait_for_masters(set(s.initial_master_nodes) - {s.node_name})
        out = {s.node_name: s.own_urls()[1]}
        for info in found.values():
            out[info.node_name] = info.peer_urls[0]
        return out

    async def _client_endpoints(self) -> tuple[str, ...]:
        s = self.settings
        if s.endpoints:
            return s.endpoints
        if self.member is not None:
            return tuple(e.url for e in self.member.endpoints())
        if s.socket_dir is not None:
            return tuple(str(s.socket_dir / f"{name}.client:1") for name in s.initial_master_nodes)
        found = await self._peers.wait_for_any_member()
        return tuple(url for info in found for url in info.client_urls)

    def _member_exited(self, code: int) -> None:
        if not self._closing:
            self._on_fatal(f"the etcd member of this node exited with status [{code}]")

    async def run(self) -> None:
        """Join: the store, this node's key, the watches, the candidacy. Runs until cancelled;
        a failure it cannot retry stops the node (a node that cannot join is of no use)."""
        try:
            await self._join()
        except (IsthmusError, OSError) as exc:
            self._on_fatal(f"cluster formation failed: {exc}")

    async def _join(self) -> None:
        s = self.settings
        self._tasks.spawn(self._warn_until_master(), name="master not discovered yet")
        if self.runs_member:
            self.member = await self._start_member()
            while True:
                try:
                    await self.member.wait_ready(
                        timeout=30.0, ssl_context=self._client_context if s.tls else None
                    )
                    break
                except NodeStartupError as exc:
                    if not self.member.running:
                        return  # _member_exited already stops the node
                    formation_log.info("waiting for the etcd cluster: %s", exc)
        endpoints = await self._client_endpoints()
        self.client = EtcdClient(
            [self._endpoint(u) for u in endpoints],
            ssl_context=self._client_context if s.tls else None,
            base_dir=str(s.socket_dir) if s.socket_dir else None,
        )
        self._client_ready.set()
        self.membership = MembershipView(
            self.client,
            self.keys,
            on_event=self._membership_event,
            watch_idle_timeout=WATCH_IDLE_S,
        )
        await self._retrying("watch the nodes", self.membership.start)
        self.registration = NodeRegistration(
            self.client,
            self.keys,
            description_of(self.view.local),
            ttl=s.lease_ttl_s,
            on_lost=self._node_lease_lost,
        )
        await self._retrying("register this node", self.registration.register)
        self._registered.set()
        if s.master_eligible:
            self.election = Election(
                self.client,
                self.keys,
                self.view.local.id,
                description={"name": s.node_name},
                ttl=s.lease_ttl_s,
                on_lost=self._mastership_lost,
                watch_idle_timeout=WATCH_IDLE_S,
            )
            self.election.observer.add_listener(self._master_changed)
            self._tasks.spawn(self._campaign(self.election), name="campaign")
        else:
            self.observer = MasterObserver(
                self.client,
                self.keys,
                on_change=self._master_changed,
                watch_idle_timeout=WATCH_IDLE_S,
            )
            await self._retrying("watch the master", self.observer.start)
        await asyncio.Event().wait()

    async def joined_store(self) -> EtcdClient:
        """This node's client of the store, once it has one (what replicates cluster-wide state
        waits for it)."""
        await self._client_ready.wait()
        assert self.client is not None
        return self.client

    def _endpoint(self, url: str) -> str:
        # Socket paths found in the folder are absolute: the client reads them as unix URLs.
        return url if "://" in url else f"unix://{url}"

    async def _retrying(self, what: str, call: Callable[[], object]) -> None:
        while True:
            try:
                result = call()
                if asyncio.iscoroutine(result):
                    await result
                return
            except CoordinationError as exc:
                formation_log.warning("could not %s yet: %s; retrying", what, exc.reason)
                await asyncio.sleep(0.5)

    async def _campaign(self, election: Election) -> None:
        while not self._closing:
            try:
                await election.campaign()
            except CoordinationError as exc:
                formation_log.warning("campaign for master failed: %s; retrying", exc.reason)
                await asyncio.sleep(0.5)
                continue
            # Elected: wait for the reign to end, then stand again.
            while election.is_master and not self._closing:
                await asyncio.sleep(0.05)

    def _mastership_lost(self, reason: str) -> None:
        formation_log.warning("this node is no longer the master: %s", reason)

    def _node_lease_lost(self, reason: str) -> None:
        if self._closing or self.registration is None:
            return
        formation_log.warning(
            "this node's membership lease was lost (%s); registering again", reason
        )
        self._tasks.spawn(
            self._retrying("register this node", self.registration.register), name="rejoin"
        )

    async def _warn_until_master(self) -> None:
        s = self.settings
        while self._master is None:
            await asyncio.sleep(NOT_DISCOVERED_EVERY_S)
            if self._master is not None:
                return
            known = [n.describe() for n in self.view.nodes]
            # ES's ClusterFormationFailureHelper, shortened to what Isthmus knows.
            log.warning(
                "master not discovered yet, this node has not previously joined a bootstrapped "
                "cluster, and this node must discover master-eligible nodes %s to bootstrap a "
                "cluster: have discovered %s; discovery will continue using %s from hosts "
                "providers",
                list(s.initial_master_nodes),
                "[" + ", ".join(known) + "]",
                list(s.seed_hosts),
            )

    # --- the view ------------------------------------------------------------------------------

    def _members(self) -> list[DiscoveryNode]:
        if self.membership is None:
            return []
        return [node_of(n) for n in self.membership.nodes.values()]

    def _refresh_view(self) -> None:
        master = self._master.node_id if self._master is not None else None
        known = {n.id for n in self._members()} | {self.view.local.id}
        self.view.set_members(self._members(), master if master in known else None)

    def _membership_event(self, event: MembershipEvent) -> None:
        self._refresh_view()

    def _master_changed(self, info: MasterInfo | None) -> None:
        self._master = info
        self._refresh_view()

    def _term(self) -> int:
        return self._master.term if self._master is not None else 0

    def view_changed(self, previous: DiscoveryNodes, current: DiscoveryNodes) -> None:
        """ES's applier line for what changed: the master, the nodes added and removed."""
        parts = []
        if previous.master_node_id != current.master_node_id:
            before, after = previous.master_node, current.master_node
            was = before.describe() if before else ""
            now = after.describe() if after else ""
            parts.append(f"master node changed {{previous [{was}], current [{now}]}}")
        before_ids = {n.id for n in previous}
        after_ids = {n.id for n in current}
        added = [n.describe() for n in current if n.id not in before_ids]
        removed = [n.describe() for n in previous if n.id not in after_ids]
        if added:
            parts.append("added {" + ", ".join(added) + "}")
        if removed:
            parts.append("removed {" + ", ".join(removed) + "}")
        if parts:
            applier_log.info(
                "%s, term: %d, version: %d", ", ".join(parts), self._term(), self._version()
            )

    # --- shutdown ------------------------------------------------------------------------------

    async def leave(self) -> None:
        """The first step of stopping: give mastership up and take this node's key away now,
        so the others elect a successor and see this node leave while it is still closing its
        other parts."""
        self._closing = True
        with contextlib.suppress(CoordinationError, TimeoutError):
            async with asyncio.timeout(LEAVE_TIMEOUT_S):
                if self.election is not None and self.election.is_master:
                    await self.election.resign()
                if self.registration is not None and self.registration.registered:
                    await self.registration.deregister()

    async def close(self) -> None:
        """Leave gracefully: give up mastership (a successor is elected at once), remove this
        node's key, stop watching, stop the member."""
        self._closing = True
        self._unsubscribe()
        await self._tasks.close()
        # Bounded: when the rest of the cluster is already gone there is no quorum to answer,
        # and the leases then simply expire.
        with contextlib.suppress(CoordinationError, TimeoutError):
            if self.election is not None:
                async with asyncio.timeout(LEAVE_TIMEOUT_S):
                    await self.election.close(resign=True)
        with contextlib.suppress(CoordinationError, TimeoutError):
            if self.registration is not None:
                async with asyncio.timeout(LEAVE_TIMEOUT_S):
                    await self.registration.deregister()
                await self.registration.close()
        if self.observer is not None:
            await self.observer.close()
        if self.membership is not None:
            await self.membership.close()
        if self.client is not None:
            await self.client.close()
        if self.member is not None:
            # A member that led the etcd cluster may try to hand leadership over before it
            # exits; with no peers left that would take seconds.
            await self.member.stop(timeout=MEMBER_STOP_TIMEOUT_S)
