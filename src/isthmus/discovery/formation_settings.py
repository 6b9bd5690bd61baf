"""What cluster formation reads of a node's settings, and the two forms of a node it converts
between: ES's ``DiscoveryNode`` (the nodes view) and the coordination store's description."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from isthmus.cluster.nodes import DiscoveryNode
from isthmus.coordination.membership import NodeDescription
from isthmus.settings import discovery as d
from isthmus.settings.node import NodeSettings


@dataclass(frozen=True)
class FormationSettings:
    """What formation reads of the node's settings."""

    cluster_name: str
    node_name: str
    master_eligible: bool
    initial_master_nodes: tuple[str, ...]
    seed_hosts: tuple[str, ...]
    endpoints: tuple[str, ...]  # an external etcd cluster: no member of our own
    socket_dir: Path | None
    publish_host: str
    client_port: int
    peer_port: int
    lease_ttl_s: int
    heartbeat_ms: int
    election_ms: int
    binary: str | None
    member_dir: Path
    log_file: Path
    tls: bool = False  # TCP members speak TLS with client certificates (etcd_tls)

    @classmethod
    def from_node(cls, s: NodeSettings, publish_host: str, *, tls: bool) -> FormationSettings:
        """``publish_host``: the host the transport published (the member's URLs use it);
        ``tls``: the transport has TLS (TCP members then use it)."""
        socket_dir = s.get(d.ETCD_SOCKET_DIR)
        return cls(
            cluster_name=s.cluster_name,
            node_name=s.node_name,
            master_eligible="master" in s.roles,
            initial_master_nodes=tuple(s.get(d.INITIAL_MASTER_NODES)),
            seed_hosts=tuple(s.get(d.SEED_HOSTS)),
            endpoints=tuple(s.get(d.ETCD_ENDPOINTS)),
            socket_dir=Path(socket_dir).resolve() if socket_dir else None,
            publish_host=publish_host,
            client_port=s.get(d.ETCD_CLIENT_PORT),
            peer_port=s.get(d.ETCD_PEER_PORT),
            lease_ttl_s=max(1, round(s.get(d.ETCD_LEASE_TTL).millis / 1000)),
            heartbeat_ms=s.get(d.ETCD_HEARTBEAT).millis,
            election_ms=s.get(d.ETCD_ELECTION).millis,
            binary=s.get(d.ETCD_BINARY),
            member_dir=s.path_data / "_etcd",
            log_file=s.path_logs / "etcd.log",
            tls=tls and socket_dir is None,
        )

    def own_urls(self) -> tuple[str, str]:
        """This node's member's (client URL, peer URL)."""
        if self.socket_dir is not None:
            return socket_urls(self.node_name)
        host = f"[{self.publish_host}]" if ":" in self.publish_host else self.publish_host
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.client_port}", f"{scheme}://{host}:{self.peer_port}"


def socket_urls(node_name: str) -> tuple[str, str]:
    """A member's client and peer URLs in a shared socket folder (etcd's ``unix://`` form is
    relative to the member's working directory, which is that folder)."""
    return f"unix://{node_name}.client:1", f"unix://{node_name}.peer:1"


def description_of(node: DiscoveryNode) -> NodeDescription:
    return NodeDescription(
        node_id=node.id,
        name=node.name,
        ephemeral_id=node.ephemeral_id,
        roles=node.roles,
        transport_address=node.transport_address,
        version=node.version,
        attributes=dict(node.attributes),
        remote_cluster_address=node.remote_cluster_address,
        http_address=node.http_address,
    )


def node_of(description: NodeDescription) -> DiscoveryNode:
    host = description.transport_address.rpartition(":")[0].strip("[]")
    return DiscoveryNode(
        name=description.name,
        id=description.node_id,
        ephemeral_id=description.ephemeral_id,
        host_name=host,
        host_address=host,
        transport_address=description.transport_address,
        http_address=description.http_address,
        remote_cluster_address=description.remote_cluster_address,
        roles=description.roles,
        attributes=dict(description.attributes),
        version=description.version,
    )
