"""Who sent a transport request, and may they run its action (the certificate-based model).

In the certificate model the calling cluster is trusted because its node presented a certificate
from a CA this node's transport trusts (mutual TLS); the request then carries the caller's
identity in the ``_xpack_security_authentication`` header: a user name, the names of its roles,
and the realm. This node authorizes it against **its own** roles of the same names, as ES does.
Internal traffic (handshakes, node discovery) travels as ES's ``_system`` user, which may only
run internal and cluster-monitoring actions.

A request with no identity at all is answered as ES's ``ServerTransportFilter`` answers it: by
the anonymous user if one is configured, otherwise ``missing authentication credentials``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from isthmus.errors import SecurityError
from isthmus.security.authz import Authorizer, Subject
from isthmus.security.service import SecurityService
from isthmus.transport.channel import ChannelInfo
from isthmus.wire.names import (
    ADD_RETENTION_LEASE_ACTION,
    CCR_INTRA_CLUSTER_ACTIONS,
    CLUSTER_STATE_ACTION,
    HAS_PRIVILEGES_ACTION,
    INTERNAL_RESTORE_ACTIONS,
    INTRA_CLUSTER_ACTIONS,
    NODE_READ_ACTIONS,
    NODES_INFO_NODE_ACTION,
    NODES_STATS_NODE_ACTION,
    PEER_INFO_ACTION,
    RELOAD_SECURE_SETTINGS_NODE_ACTION,
    REMOVE_RETENTION_LEASE_ACTION,
    RENEW_RETENTION_LEASE_ACTION,
    SHARD_COPY_ACTIONS,
)

AUTHENTICATION_HEADER = "_xpack_security_authentication"
SYSTEM_USER = "_system"

# What the system identity may do here: node discovery and cluster formation (handshakes and cancellations are
# answered by the transport itself, before any filter), and a CCR follower's restore session and
# retention leases (ES's system user runs internal:* actions and the three lease actions, which a
# follower sends "under the system context"; a peer reaches here only with a trusted certificate).
# The node-level parts of the ``_nodes`` APIs come from the coordinating node of the same cluster,
# which authorized the REST caller; their handlers answer nodes of this cluster only.
_SYSTEM_ACTIONS = frozenset(
    {
        CLUSTER_STATE_ACTION,
        PEER_INFO_ACTION,
        RELOAD_SECURE_SETTINGS_NODE_ACTION,
        NODES_INFO_NODE_ACTION,
        NODES_STATS_NODE_ACTION,
        *INTERNAL_RESTORE_ACTIONS,
        ADD_RETENTION_LEASE_ACTION,
        RENEW_RETENTION_LEASE_ACTION,
        REMOVE_RETENTION_LEASE_ACTION,
        *INTRA_CLUSTER_ACTIONS,
        *CCR_INTRA_CLUSTER_ACTIONS,
        *NODE_READ_ACTIONS,
        *SHARD_COPY_ACTIONS,
    }
)

# What only the nodes of this cluster send each other, as the system: a shard's copies, the
# shards of a search held on another node, a change proposed to the master, CCR's work handed to
# a primary's node. Their handlers trust the request (the coordinating node authorized the
# user and sends the user's DLS/FLS along): any other identity is refused before them.
_NODES_ONLY_ACTIONS = frozenset(
    {*INTRA_CLUSTER_ACTIONS, *CCR_INTRA_CLUSTER_ACTIONS, *NODE_READ_ACTIONS, *SHARD_COPY_ACTIONS}
)


@dataclass(frozen=True)
class TransportIdentity:
    """The caller's identity as it travels in the authentication header."""

    username: str
    roles: tuple[str, ...]
    realm: str = "native"

    def encode(self) -> str:
        return _encoded(self.username, tuple(self.roles), self.realm)

    @classmethod
    def decode(cls, text: str) -> TransportIdentity:
        try:
            body = orjson.loads(text)
            roles = body["roles"]
            if not isinstance(body["username"], str) or not all(isinstance(r, str) for r in roles):
                raise TypeError
            return cls(body["username"], tuple(roles), str(body.get("realm", "native")))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise SecurityError("invalid transport authentication header") from None

    def header(self) -> dict[str, str]:
        return {AUTHENTICATION_HEADER: self.encode()}


@functools.lru_cache(maxsize=256)
def _encoded(username: str, roles: tuple[str, ...], realm: str) -> str:
    """The identity header's text (remembered: a request carries it on every hop)."""
    return orjson.dumps({"username": username, "roles": list(roles), "realm": realm}).decode()


SYSTEM = TransportIdentity(SYSTEM_USER, (), "__attach")


class TransportFilter:
    """Authenticates and authorizes inbound transport requests on this node."""

    def __init__(self, security: SecurityService, authorizer: Authorizer) -> None:
        self.security = security
        self.authorizer = authorizer

    def check(
        self, action: str, headers: Mapping[str, str], channel: ChannelInfo
    ) -> Subject | None:
        """The server's request filter: ``subject`` for a request on ``channel``.

        The identity header is believed only from a peer that proved itself with a client
        certificate this node verified (mutual TLS): anyone else is treated as sending none.
        """
        if channel.peer_certificate is None and AUTHENTICATION_HEADER in headers:
            headers = {k: v for k, v in headers.items() if k != AUTHENTICATION_HEADER}
        return self.subject(action, headers)

    def subject(self, action: str, headers: Mapping[str, str]) -> Subject | None:
        """The subject the request runs as (None for the system identity); raises on denial
        of authentication or of a cluster-level action."""
        raw = headers.get(AUTHENTICATION_HEADER)
        identity = TransportIdentity.decode(raw) if raw is not None else None
        if action in _NODES_ONLY_ACTIONS and (identity is None or identity.username != SYSTEM_USER):
            who = identity.username if identity is not None else "anonymous"
            raise SecurityError(f"action [{action}] is unauthorized for user [{who}]")
        if identity is None:
            subject = self.security.authenticate(None, f"action [{action}]")
            self.authorizer.check_cluster(subject, action)
            return subject
        if identity.username == SYSTEM_USER:
            if action not in _SYSTEM_ACTIONS:
                raise SecurityError(f"action [{action}] is unauthorized for user [{SYSTEM_USER}]")
            return None
        subject = Subject(
            identity.username,
            identity.roles,
            self.security.resolve_roles(identity.roles),
            realm=identity.realm,
        )
        # has_privileges answers about the caller itself, which ES lets any user ask.
        if not action.startswith("indices:") and action != HAS_PRIVILEGES_ACTION:
            self.authorizer.check_cluster(subject, action)
        return subject
