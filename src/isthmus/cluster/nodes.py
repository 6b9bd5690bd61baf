"""The nodes of the cluster: who each one is, which one is master, and this node's live view.

``DiscoveryNode`` is one node as ES's ``DiscoveryNode`` describes it (name, persistent id, the id
of this run, host, the addresses it publishes, roles, attributes, versions); ``DiscoveryNodes``
is the set with the local and the elected master's ids, and ES's node filters (what
``/_nodes/<filter>`` and ``_tasks?nodes=`` take). ``NodesView`` holds the current set and tells
subscribers when it changes: a single-node cluster builds it from its own identity; a multi-node
cluster replaces it from the coordination store's membership. Every API that lists nodes
(``_nodes``, ``_cat/nodes``, ``_cluster/state``, the transport answers sniff mode reads) reads
the view, so a second node shows up everywhere at once.  [no I/O]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from isthmus import ES_COMPAT_VERSION
from isthmus.cluster.metadata import new_uuid
from isthmus.cluster.patterns import simple_match
from isthmus.errors import IllegalArgumentError
from isthmus.wire.handshake import NodeIdentity

# ES's transport version id for ES_COMPAT_VERSION, as ``_nodes`` reports it.
TRANSPORT_VERSION = "9112003"
INDEX_VERSION = "9033000"

# ES's DiscoveryNodeRole abbreviations (``_cat/nodes`` node.role, DiscoveryNode's toString).
ROLE_LETTERS: Mapping[str, str] = MappingProxyType(
    {
        "data_cold": "c",
        "data": "d",
        "data_frozen": "f",
        "data_hot": "h",
        "ingest": "i",
        "ml": "l",
        "master": "m",
        "remote_cluster_client": "r",
        "data_content": "s",
        "transform": "t",
        "voting_only": "v",
        "data_warm": "w",
    }
)
DATA_ROLES = frozenset(r for r in ROLE_LETTERS if r == "data" or r.startswith("data_"))


@dataclass(frozen=True)
class DiscoveryNode:
    """One node of the cluster as every other node sees it. Addresses are ``host:port``
    strings as published (``transport_address`` is what other nodes and sniffing clusters
    dial); ``remote_cluster_address`` is set when the node runs the remote cluster server."""

    name: str
    id: str
    ephemeral_id: str
    host_name: str
    host_address: str
    transport_address: str
    http_address: str | None = None
    remote_cluster_address: str | None = None
    roles: tuple[str, ...] = ()  # sorted by name, as ES lists them
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)
    version: str = ES_COMPAT_VERSION
    transport_version: str = TRANSPORT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", tuple(sorted(set(self.roles))))
        object.__setattr__(self, "attributes", dict(self.attributes))

    # --- roles (ES's DiscoveryNode predicates) --------------------------------------------------

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def is_master_eligible(self) -> bool:
        return "master" in self.roles

    @property
    def can_contain_data(self) -> bool:
        """ES's canContainData: ``data`` or any of its tiers."""
        return any(r in DATA_ROLES for r in self.roles)

    @property
    def is_ingest(self) -> bool:
        return "ingest" in self.roles

    @property
    def is_remote_cluster_client(self) -> bool:
        return "remote_cluster_client" in self.roles

    def role_letters(self) -> str:
        """``_cat/nodes``'s node.role: each role's letter, sorted; ``-`` for none."""
        return "".join(sorted(ROLE_LETTERS.get(r, "") for r in self.roles)) or "-"

    def describe(self) -> str:
        """ES's DiscoveryNode form used in log lines and messages."""
        return f"{{{self.name}}}{{{self.id}}}{{{self.transport_address}}}"

    # --- other shapes of the same node ----------------------------------------------------------

    def identity(self) -> NodeIdentity:
        """The handshake form, at the transport publish address."""
        return NodeIdentity(
            self.id,
            self.name,
            self.transport_address,
            self.version,
            self.roles,
            dict(self.attributes),
        )

    def remote_cluster_identity(self) -> NodeIdentity | None:
        """The handshake form at the remote cluster server's address (what the API-key model's
        ``cluster:internal/remote_cluster/nodes`` lists), or None without that server."""
        if self.remote_cluster_address is None:
            return None
        return replace(self.identity(), publish_address=self.remote_cluster_address)

    def state_json(self) -> dict[str, Any]:
        """The node in ``_cluster/state``'s ``nodes`` section."""
        return {
            "name": self.name,
            "ephemeral_id": self.ephemeral_id,
            "transport_address": self.transport_address,
            "external_id": self.name,
            "attributes": dict(self.attributes),
            "roles": list(self.roles),
            "version": self.version,
            "min_index_version": 8000099,
            "max_index_version": int(INDEX_VERSION),
        }

    def base_json(self) -> dict[str, Any]:
        """The fields every ``_nodes`` answer starts a node with."""
        return {
            "name": self.name,
            "transport_address": self.transport_address,
            "host": self.host_name,
            "ip": self.host_address,
            "roles": list(self.roles),
            "attributes": dict(self.attributes),
        }

    def to_json(self) -> dict[str, Any]:
        """The node as the coordination store keeps it (``from_json`` reads it back)."""
        return {
            "name": self.name,
            "id": self.id,
            "ephemeral_id": self.ephemeral_id,
            "host_name": self.host_name,
            "host_address": self.host_address,
            "transport_address": self.transport_address,
            "http_address": self.http_address,
            "remote_cluster_address": self.remote_cluster_address,
            "roles": list(self.roles),
            "attributes": dict(self.attributes),
            "version": self.version,
            "transport_version": self.transport_version,
        }

    @classmethod
    def from_json(cls, value: Any) -> DiscoveryNode:
        """Read ``to_json``'s form; a malformed entry is a ValueError naming the field."""
        if not isinstance(value, dict):
            raise ValueError("node entry is not an object")

        def text(key: str, optional: bool = False) -> Any:
            got = value.get(key)
            if got is None and optional:
                return None
            if not isinstance(got, str):
                raise ValueError(f"node entry [{key}] is not a string")
            return got

        roles = value.get("roles", [])
        attributes = value.get("attributes", {})
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ValueError("node entry [roles] is not a list of strings")
        if not isinstance(attributes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
        ):
            raise ValueError("node entry [attributes] is not a map of strings")
        return cls(
            name=text("name"),
            id=text("id"),
            ephemeral_id=text("ephemeral_id"),
            host_name=text("host_name"),
            host_address=text("host_address"),
            transport_address=text("transport_address"),
            http_address=text("http_address", True),
            remote_cluster_address=text("remote_cluster_address", True),
            roles=tuple(roles),
            attributes=attributes,
            version=text("version", True) or ES_COMPAT_VERSION,
            transport_version=text("transport_version", True) or TRANSPORT_VERSION,
        )


def _host(address: str) -> str:
    host, _, _port = address.rpartition(":")
    return host.strip("[]") if host else address


def local_discovery_node(
    node_id: str,
    name: str,
    roles: Iterable[str],
    attributes: Mapping[str, str],
    *,
    transport_address: str,
    http_address: str | None = None,
    remote_cluster_address: str | None = None,
    ephemeral_id: str | None = None,
) -> DiscoveryNode:
    """This node from its settings and the addresses its listeners published. The ephemeral id
    is new for every run of the process, as ES's is."""
    host = _host(transport_address)
    return DiscoveryNode(
        name=name,
        id=node_id,
        ephemeral_id=ephemeral_id or new_uuid(),
        host_name=host,
        host_address=host,
        transport_address=transport_address,
        http_address=http_address,
        remote_cluster_address=remote_cluster_address,
        roles=tuple(roles),
        attributes=dict(attributes),
    )


def _parse_filter_bool(value: str) -> bool:
    # ES's Booleans.parseBoolean(value, true): empty means true, otherwise strictly true/false.
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    raise IllegalArgumentError(
        f"Failed to parse value [{value}] as only [true] or [false] are allowed."
    )


@dataclass(frozen=True)
class DiscoveryNodes:
    """The cluster's nodes in a stable order, with the local node's id and the elected master's
    (None while there is none)."""

    nodes: tuple[DiscoveryNode, ...]
    local_node_id: str
    master_node_id: str | None = None

    def __post_init__(self) -> None:
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate node ids in {ids}")

    @classmethod
    def single(cls, node: DiscoveryNode) -> DiscoveryNodes:
        """A one-node cluster: the node is local and master."""
        return cls((node,), node.id, node.id)

    def __iter__(self) -> Iterator[DiscoveryNode]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, node_id: str) -> DiscoveryNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def by_name(self, name: str) -> DiscoveryNode | None:
        return next((n for n in self.nodes if n.name == name), None)

    @property
    def local_node(self) -> DiscoveryNode:
        node = self.get(self.local_node_id)
        assert node is not None, "the local node is always in its own view"
        return node

    @property
    def master_node(self) -> DiscoveryNode | None:
        return None if self.master_node_id is None else self.get(self.master_node_id)

    def is_local_master(self) -> bool:
        return self.master_node_id == self.local_node_id

    def master_eligible(self) -> list[DiscoveryNode]:
        return [n for n in self.nodes if n.is_master_eligible]

    def data_nodes(self) -> list[DiscoveryNode]:
        return [n for n in self.nodes if n.can_contain_data]

    def with_role(self, role: str) -> list[DiscoveryNode]:
        return [n for n in self.nodes if n.has_role(role)]

    def with_local(self, node: DiscoveryNode) -> DiscoveryNodes:
        """The same set with the local node replaced (its addresses became known)."""
        rest = tuple(node if n.id == self.local_node_id else n for n in self.nodes)
        master = node.id if self.master_node_id == self.local_node_id else self.master_node_id
        return DiscoveryNodes(rest, node.id, master)

    # --- ES's node filters (DiscoveryNodes.resolveNodes) ----------------------------------------

    def resolve(self, filters: Sequence[str] | str | None) -> list[DiscoveryNode]:
        """The nodes a list of node filters names, in cluster order. Empty or ``_all``: every
        node. Each filter adds (or, ``role:false``, removes) nodes, in order: ``_local``,
        ``_master``, an exact node id, a name / host / ip pattern (``*`` wildcards),
        ``master:``/``data:``/``ingest:``/``coordinating_only:``/``<role>:`` ``true|false``,
        and ``<attribute pattern>:<value pattern>``."""
        if isinstance(filters, str):
            filters = [f for f in filters.split(",") if f]
        if not filters or (len(filters) == 1 and filters[0] == "_all"):
            return list(self.nodes)
        chosen: set[str] = set()
        for spec in filters:
            if spec == "_local":
                chosen.add(self.local_node_id)
            elif spec == "_master":
                if self.master_node_id is not None:
                    chosen.add(self.master_node_id)
            elif self.get(spec) is not None:
                chosen.add(spec)
            else:
                for n in self.nodes:
                    if spec == "_all" or any(
                        simple_match(value, spec) for value in (n.name, n.host_address, n.host_name)
                    ):
                        chosen.add(n.id)
                if ":" in spec:
                    self._resolve_pair(spec, chosen)
        return [n for n in self.nodes if n.id in chosen]

    def _resolve_pair(self, spec: str, chosen: set[str]) -> None:
        key, _, value = spec.partition(":")
        test: Callable[[DiscoveryNode], bool] | None = None
        # ``data`` matches any node that can hold data; a tier (``data_hot``) its own role or
        # the generic ``data``; any other known role exactly; ``coordinating_only`` no role.
        if key == "data":
            test = lambda n: n.can_contain_data  # noqa: E731
        elif key in DATA_ROLES:
            test = lambda n: n.has_role(key) or n.has_role("data")  # noqa: E731
        elif key in ROLE_LETTERS:
            test = lambda n: n.has_role(key)  # noqa: E731
        elif key == "coordinating_only":
            test = lambda n: not n.roles  # noqa: E731
        if test is not None:
            matched = {n.id for n in self.nodes if test(n)}
            if _parse_filter_bool(value):
                chosen |= matched
            else:
                chosen -= matched
            return
        for n in self.nodes:
            if any(
                simple_match(attr, key) and simple_match(attr_value, value)
                for attr, attr_value in n.attributes.items()
            ):
                chosen.add(n.id)


NodesListener = Callable[[DiscoveryNodes, DiscoveryNodes], None]


class NodesView:
    """The node's current picture of the cluster's nodes: the one source every API reads.

    A one-node cluster builds it with :meth:`single` and only ever updates its own entry (when
    its listeners bind); a multi-node cluster replaces the whole set from the coordination
    store's membership with :meth:`update`. Subscribers are called with ``(previous, current)``
    after each change, on the caller's thread."""

    def __init__(self, nodes: DiscoveryNodes) -> None:
        self._nodes = nodes
        self._listeners: list[NodesListener] = []

    @classmethod
    def single(cls, node: DiscoveryNode) -> NodesView:
        return cls(DiscoveryNodes.single(node))

    @property
    def nodes(self) -> DiscoveryNodes:
        return self._nodes

    @property
    def local(self) -> DiscoveryNode:
        return self._nodes.local_node

    def update(self, nodes: DiscoveryNodes) -> None:
        if nodes.local_node_id != self._nodes.local_node_id:
            raise ValueError("a view's local node never changes")
        previous, self._nodes = self._nodes, nodes
        if previous != nodes:
            for listener in list(self._listeners):
                listener(previous, nodes)

    def set_members(self, members: Iterable[DiscoveryNode], master_node_id: str | None) -> None:
        """Replace the cluster's nodes with ``members`` (a coordination store's membership, in
        its order) and the elected master (None: no master now). This node's own entry is the
        one the view holds, whatever the store says of it, and stays listed while its key is
        not (yet) in the store: a node always sees itself."""
        local = self.local
        nodes = [local if m.id == local.id else m for m in members]
        if all(n.id != local.id for n in nodes):
            nodes.insert(0, local)
        self.update(DiscoveryNodes(tuple(nodes), local.id, master_node_id))

    def update_local(self, **changes: Any) -> None:
        """Change this node's own entry (for example the addresses once bound)."""
        self.update(self._nodes.with_local(replace(self.local, **changes)))

    def subscribe(self, listener: NodesListener) -> Callable[[], None]:
        """Call ``listener`` after every change; returns the function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def __repr__(self) -> str:
        n = self._nodes
        return (
            f"<NodesView nodes={[x.name for x in n]} local={n.local_node.name} "
            f"master={n.master_node.name if n.master_node else None}>"
        )


__all__ = [
    "DATA_ROLES",
    "ROLE_LETTERS",
    "DiscoveryNode",
    "DiscoveryNodes",
    "NodesView",
    "local_discovery_node",
]
