"""Sniff mode: find the remote cluster's nodes through a seed, connect to the gateway nodes.

One round (ES's ``SniffConnectionStrategy``): walk the seeds in configured order, resolving each
at this attempt. The connection to a seed is transient: it serves the handshake (the first remote
cluster name seen is pinned; a later seed of another cluster is refused) and the node list
(``cluster:monitor/state``, nodes only, as the system) and is then closed. The managed
connections go to the addresses the remote *advertises*: the seed's own (when it is a gateway) to
the publish address its handshake named, before the node list is asked for; the other gateways to
the publish addresses the node list gives, until ``node_connections`` are open. So a gateway that
advertises an address this cluster cannot reach fails here even though its seed address works,
as in ES. A failure to connect to the seed, or to its advertised address, moves on to the next
seed; the last failure is logged as ES logs it and raised. A discovered node that cannot be
reached is skipped (logged at debug), and a round that opened nothing fails with ES's
"Unable to open any connections". Clusters may have any number of nodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from isthmus.errors import IllegalStateError, IsthmusError, NoSeedNodeLeftError
from isthmus.remote.connector import Connector
from isthmus.remote.health import AliasHealth
from isthmus.remote.strategy import RemoteStrategy
from isthmus.transport.channel import TransportChannel
from isthmus.wire import NodeIdentity, RemoteProtocolError

if TYPE_CHECKING:
    from isthmus.settings.remote import RemoteClusterConfig, SniffConfig

_DATA_ROLES = ("data", "data_content", "data_hot", "data_warm", "data_cold", "data_frozen")
# ES's Version.isCompatible for this release line (9.x): nodes of 8.19 (the last minor of the
# previous major) up to this major.
_MIN_COMPATIBLE = (8, 19, 0)
_MAX_MAJOR = 9


def version_compatible(version: str) -> bool:
    """Whether a node of ``version`` (``9.1.0``, ``8.19.2-SNAPSHOT``) may be a gateway."""
    try:
        parts = tuple(int(p) for p in version.split("-", 1)[0].split(".")[:3])
    except ValueError:
        return False
    return len(parts) == 3 and parts >= _MIN_COMPATIBLE and parts[0] <= _MAX_MAJOR


def is_gateway(node: NodeIdentity, node_attr: str | None) -> bool:
    """ES's sniff node predicate: a compatible version, not a dedicated master (a master-eligible
    node is a gateway only if it can hold data or is an ingest node), and, with
    ``cluster.remote.node.attr`` set, ``node.attr.<attr>`` is ``true`` (missing counts as
    ``false``; ES parses it strictly, so any other value is not a gateway here)."""
    if not version_compatible(node.version):
        return False
    roles = set(node.roles)
    if "master" in roles and not (roles & set(_DATA_ROLES) or "ingest" in roles):
        return False
    if node_attr is not None:
        return node.attributes.get(node_attr, "false") == "true"
    return True


def parse_nodes(payload: Any) -> list[NodeIdentity]:
    """The node list of a ``cluster:monitor/state`` (nodes only) answer."""
    if not isinstance(payload, dict) or not isinstance(payload.get("nodes"), list):
        raise RemoteProtocolError("cluster state answer has no [nodes] list")
    return [NodeIdentity.from_payload(node) for node in payload["nodes"]]


class SniffStrategy(RemoteStrategy):
    logger_name = "org.elasticsearch.transport.SniffConnectionStrategy"

    def __init__(
        self,
        config: RemoteClusterConfig,
        connector: Connector,
        *,
        node_attr: str | None = None,
        health: AliasHealth | None = None,
    ) -> None:
        super().__init__(config, connector, health=health)
        self.node_attr = node_attr

    @property
    def sniff(self) -> SniffConfig:
        return self.config.strategy  # type: ignore[return-value]

    def max_connections(self) -> int:
        return self.sniff.node_connections

    def mode_info(self) -> dict[str, Any]:
        return {
            "seeds": list(self.sniff.seeds),
            "num_nodes_connected": self.manager.node_count(),
            "max_connections_per_cluster": self.sniff.node_connections,
        }

    async def _round(self) -> None:
        from isthmus.settings.remote import parse_address

        seeds = self.sniff.seeds
        for index, seed in enumerate(seeds):
            last = index == len(seeds) - 1
            channel: TransportChannel | None = None
            try:
                address = parse_address(self.sniff.proxy or seed)
                self.log.debug(
                    "[%s] opening transient connection to seed node: [%s]", self.alias, seed
                )
                channel = await self._open(
                    address.host,
                    address.port,
                    server_name=address.host if self.sniff.proxy else None,
                )
                # The seed, when it is a gateway, gets its managed connection at the address its
                # handshake advertised; failing that is this seed's failure, as in ES.
                await self._connect_seed_node(channel)
            except IsthmusError as exc:  # connect, TLS, handshake, or the remote's refusal
                if channel is not None:
                    channel.close()
                if not last:
                    self.log.debug(
                        "fetching nodes from external cluster [%s] failed moving to next seed "
                        "node\n%s",
                        self.alias,
                        exc.log_lines(),
                    )
                    continue
                self.log.warning(
                    "fetching nodes from external cluster [%s] failed\n%s",
                    self.alias,
                    exc.log_lines(),
                )
                raise
            if self.remote_cluster_name is None:
                self.remote_cluster_name = channel.remote_cluster_name
            if await self._connect_through(channel):
                return
        raise NoSeedNodeLeftError(f"no seed node left for cluster: [{self.alias}]")

    async def _connect_seed_node(self, seed: TransportChannel) -> None:
        """The seed's managed connection, to the node its handshake named (ES's "opening managed
        connection to seed node"), when that node is a gateway and more connections are wanted."""
        node = seed.remote_node
        if node is None or node.id in self.manager or not is_gateway(node, self.node_attr):
            return
        if self.manager.size() >= self.max_connections():
            return
        try:
            channel = await self._open_advertised(node, "seed node")
        except IsthmusError as exc:
            self.log.debug(
                "[%s] failed to open managed connection to seed node: [%s]\n%s",
                self.alias,
                node.describe(),
                exc.log_lines(),
            )
            raise
        self.manager.add(node.id, node, channel, node.describe())

    async def _connect_through(self, seed: TransportChannel) -> bool:
        """Ask ``seed`` for the nodes and connect to them; True when the round is done. The seed
        connection is closed either way: it never carries requests."""
        try:
            try:
                payload = await seed.request(
                    self.connector.nodes_action,
                    {"nodes": True},
                    self.connector.system_headers,
                    timeout=self.connector.connect_timeout,
                )
                nodes = parse_nodes(payload)
            except IsthmusError as exc:
                self.log.warning(
                    "fetching nodes from external cluster %s failed\n%s",
                    self.alias,
                    exc.log_lines(),
                )
                return False
            for node in nodes:
                if self.manager.size() >= self.max_connections():
                    break
                if node.id in self.manager or not is_gateway(node, self.node_attr):
                    continue
                await self._open_managed(node)
            if self.manager.size() == 0:
                raise IllegalStateError(
                    f"Unable to open any connections to remote cluster [{self.alias}]"
                )
            return True
        finally:
            seed.close()

    async def _open_advertised(self, node: NodeIdentity, what: str) -> TransportChannel:
        """A connection to ``node`` at the address it advertises (or through ``proxy``)."""
        from isthmus.settings.remote import parse_address

        address = parse_address(self.sniff.proxy or node.publish_address)
        self.log.debug(
            "[%s] opening managed connection to %s: [%s] proxy address: [%s]",
            self.alias,
            what,
            node.describe(),
            self.sniff.proxy,
        )
        return await self._open(
            address.host,
            address.port,
            server_name=address.host if self.sniff.proxy else None,
            node_name=node.name,
        )

    async def _open_managed(self, node: NodeIdentity) -> None:
        try:
            channel = await self._open_advertised(node, "node")
        except IsthmusError as exc:  # this node refused or is unreachable: try the next
            self.log.debug(
                "[%s] failed to open managed connection to node [%s]\n%s",
                self.alias,
                node.describe(),
                exc.log_lines(),
            )
            return
        self.manager.add(node.id, node, channel, node.describe())
