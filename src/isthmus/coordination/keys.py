"""Where each piece of coordination lives in etcd: every key of one cluster is under
``/isthmus/<cluster_name>/``.  [no I/O]

    /isthmus/<cluster>/master               the elected master (on its election lease)
    /isthmus/<cluster>/nodes/<node_id>      one node's description (on its node lease)
    /isthmus/<cluster>/state/meta           the published cluster state without the indices
    /isthmus/<cluster>/state/index/<uuid>   one index of the published cluster state

Several clusters may share one etcd: their prefixes never overlap because a cluster name holds
no ``/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from isthmus.errors import CoordinationError


@dataclass(frozen=True, slots=True)
class ClusterKeys:
    cluster_name: str

    def __post_init__(self) -> None:
        if not self.cluster_name or "/" in self.cluster_name:
            raise CoordinationError(
                f"invalid cluster name [{self.cluster_name}] for the coordination store: "
                "it must be non-empty and contain no '/'"
            )

    @property
    def root(self) -> bytes:
        return f"/isthmus/{self.cluster_name}/".encode()

    @property
    def master(self) -> bytes:
        return self.root + b"master"

    @property
    def nodes(self) -> bytes:
        return self.root + b"nodes/"

    def node(self, node_id: str) -> bytes:
        return self.nodes + node_id.encode()

    @property
    def state(self) -> bytes:
        return self.root + b"state/"

    @property
    def state_meta(self) -> bytes:
        return self.state + b"meta"

    @property
    def state_indices(self) -> bytes:
        return self.state + b"index/"

    def state_index(self, uuid: str) -> bytes:
        return self.state_indices + uuid.encode()

    def index_uuid(self, key: bytes) -> str | None:
        """The index uuid of a ``state/index/<uuid>`` key, None for any other key."""
        if key.startswith(self.state_indices):
            return key[len(self.state_indices) :].decode()
        return None
