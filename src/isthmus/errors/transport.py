"""Transport and remote-cluster errors. ES models the connection failures as
``ConnectTransportException`` subclasses (plus the receive timeout); remote-cluster code
decides retries by these types, never by message text.
"""

from __future__ import annotations

from isthmus.errors.base import IsthmusError
from isthmus.errors.requests import IllegalArgumentError, IllegalStateError


class ConnectTransportError(IsthmusError):
    """A connection could not be opened or handshaken: ``[node][host:port] reason``."""

    es_type = "connect_transport_exception"
    status = 500
    java_class = "org.elasticsearch.transport.ConnectTransportException"


class NodeDisconnectedError(ConnectTransportError):
    """An open channel ended (closed locally or broken) while a request awaited its answer."""

    es_type = "node_disconnected_exception"
    java_class = "org.elasticsearch.transport.NodeDisconnectedException"


class NodeNotConnectedError(ConnectTransportError):
    """A request was attempted on a channel that is no longer open."""

    es_type = "node_not_connected_exception"
    java_class = "org.elasticsearch.transport.NodeNotConnectedException"


class OsConnectError(IsthmusError):
    """The operating system's reason a connect failed (Java's ``ConnectException``), kept as the
    cause of a :class:`ConnectTransportError`."""

    es_type = "connect_exception"
    is_es = False
    java_class = "java.net.ConnectException"


class HandshakeError(IllegalStateError):
    """The peer answered the handshake but cannot be used (ES raises IllegalStateException)."""


class ReceiveTimeoutTransportError(IsthmusError):
    """A request got no answer within its timeout; the channel itself stays open."""

    es_type = "receive_timeout_transport_exception"
    status = 500
    java_class = "org.elasticsearch.transport.ReceiveTimeoutTransportException"


class ActionNotFoundTransportError(IsthmusError):
    """The receiving node has no handler registered for the requested action."""

    es_type = "action_not_found_transport_exception"
    status = 500

    def __init__(self, action: str) -> None:
        super().__init__(f"No handler for action [{action}]")
        self.action = action


# --- remote clusters ----------------------------------------------------------------------------


class NoSeedNodeLeftError(IsthmusError):
    """Every seed (sniff) or every proxy attempt (proxy) of a remote cluster failed."""

    es_type = "no_seed_node_left_exception"
    status = 500
    java_class = "org.elasticsearch.transport.NoSeedNodeLeftException"

    @property
    def http_status(self) -> int:
        # The status of what made the last attempt fail: a refused key stays a 401.
        if self.caused_by is not None:
            return self.caused_by.http_status
        return super().http_status


class NoSuchRemoteClusterError(IsthmusError):
    """A request named a remote cluster alias that is not configured."""

    es_type = "no_such_remote_cluster_exception"
    status = 404
    java_class = "org.elasticsearch.transport.NoSuchRemoteClusterException"

    def __init__(self, alias: str) -> None:
        super().__init__(f"no such remote cluster: [{alias}]")
        self.alias = alias


class RemoteClusterClientRoleError(IllegalArgumentError):
    """A request that needs a remote cluster (CCR, a remote connection) reached a node without
    the ``remote_cluster_client`` role (ES's ``RemoteClusterService.ensureClientIsEnabled``)."""

    def __init__(self, node_name: str) -> None:
        super().__init__(f"node [{node_name}] does not have the [remote_cluster_client] role")


class ConnectQueueFullError(IsthmusError):
    """Too many callers wait for one remote cluster's connect round (ES's bounded queue)."""

    es_type = "es_rejected_execution_exception"
    status = 429
    java_class = "org.elasticsearch.common.util.concurrent.EsRejectedExecutionException"


class AlreadyClosedError(IsthmusError):
    """The remote cluster connection was closed while the caller waited for it."""

    es_type = "already_closed_exception"
    java_class = "org.apache.lucene.store.AlreadyClosedException"
