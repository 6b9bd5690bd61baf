"""The transport handshake (``internal:transport/handshake``): payloads and negotiation.

This module owns the handshake request/response values, their payload form, protocol-version
negotiation and the checks a caller applies to a peer's answer (version, cluster name). It does
not send anything, time anything out, or decide what to do after a failure: the transport layer
runs the exchange through a :class:`~isthmus.wire.connection.Connection` and asks this module.

Each side sends its current protocol version and the oldest version it can still talk to. Two
sides are compatible when each one's current version is at least the other's minimum; they then
speak ``min(local current, remote current)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from isthmus.errors import HandshakeError
from isthmus.wire.frames import RemoteProtocolError

# Isthmus's own protocol versions, ES-style ids (major * 1_000_000 + minor * 10_000 + ...).
CURRENT_VERSION = 1_000_099
MIN_COMPATIBLE_VERSION = 1_000_099


@dataclass(frozen=True)
class NodeIdentity:
    """Who a node is, as the handshake and ``_remote/info`` show it."""

    id: str
    name: str
    publish_address: str  # "host:port"
    version: str  # the release, e.g. "9.0.0"
    roles: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """ES's DiscoveryNode form: ``{name}{id}{address}``."""
        return f"{{{self.name}}}{{{self.id}}}{{{self.publish_address}}}"

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "publish_address": self.publish_address,
            "version": self.version,
            "roles": list(self.roles),
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_payload(cls, value: Any) -> NodeIdentity:
        body = _map(value, "node")
        roles = body.get("roles")
        attributes = body.get("attributes")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise RemoteProtocolError("handshake [node.roles] is not a list of strings")
        if not isinstance(attributes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
        ):
            raise RemoteProtocolError("handshake [node.attributes] is not a map of strings")
        return cls(
            id=_str(body, "id"),
            name=_str(body, "name"),
            publish_address=_str(body, "publish_address"),
            version=_str(body, "version"),
            roles=tuple(roles),
            attributes=attributes,
        )


@dataclass(frozen=True)
class HandshakeRequest:
    """What the connecting side says about itself."""

    version: int
    min_compatible_version: int
    cluster_name: str
    cluster_uuid: str
    node: NodeIdentity

    def to_payload(self) -> dict[str, Any]:
        return _message_payload(self)

    @classmethod
    def from_payload(cls, value: Any) -> HandshakeRequest:
        return cls(**_message_fields(value))


@dataclass(frozen=True)
class HandshakeResponse:
    """What the accepting side answers: the same facts about itself."""

    version: int
    min_compatible_version: int
    cluster_name: str
    cluster_uuid: str
    node: NodeIdentity

    def to_payload(self) -> dict[str, Any]:
        return _message_payload(self)

    @classmethod
    def from_payload(cls, value: Any) -> HandshakeResponse:
        return cls(**_message_fields(value))


def negotiate_version(
    local_version: int,
    local_min: int,
    remote_version: int,
    remote_min: int,
    *,
    remote_node: str,
    local_release: str,
    remote_release: str,
) -> int:
    """The version both sides speak, or :class:`HandshakeError` when they share none."""
    if remote_version < local_min or local_version < remote_min:
        raise HandshakeError(
            f"handshake with [{remote_node}] failed: remote node version [{remote_release}] "
            f"is incompatible with local node version [{local_release}]"
        )
    return min(local_version, remote_version)


def accept_request(local: HandshakeResponse, request: HandshakeRequest) -> int:
    """Server side: the negotiated version for ``request``, checked against our own answer."""
    return negotiate_version(
        local.version,
        local.min_compatible_version,
        request.version,
        request.min_compatible_version,
        remote_node=request.node.describe(),
        local_release=local.node.version,
        remote_release=request.node.version,
    )


def check_response(
    local: HandshakeRequest,
    response: HandshakeResponse,
    *,
    expected_cluster_name: str | None = None,
) -> int:
    """Client side: validate the peer's answer and return the negotiated version.

    ``expected_cluster_name`` is the name recorded from the first successful handshake with this
    remote (None the first time, when any name is accepted).
    """
    node = response.node.describe()
    if expected_cluster_name is not None and response.cluster_name != expected_cluster_name:
        raise HandshakeError(
            f"handshake with [{node}] failed: remote cluster name [{response.cluster_name}] "
            f"does not match expected remote cluster name [{expected_cluster_name}]"
        )
    return negotiate_version(
        local.version,
        local.min_compatible_version,
        response.version,
        response.min_compatible_version,
        remote_node=node,
        local_release=local.node.version,
        remote_release=response.node.version,
    )


# --- payload helpers ----------------------------------------------------------------------------


def _message_payload(msg: HandshakeRequest | HandshakeResponse) -> dict[str, Any]:
    return {
        "version": msg.version,
        "min_compatible_version": msg.min_compatible_version,
        "cluster_name": msg.cluster_name,
        "cluster_uuid": msg.cluster_uuid,
        "node": msg.node.to_payload(),
    }


def _message_fields(value: Any) -> dict[str, Any]:
    body = _map(value, "handshake")
    return {
        "version": _int(body, "version"),
        "min_compatible_version": _int(body, "min_compatible_version"),
        "cluster_name": _str(body, "cluster_name"),
        "cluster_uuid": _str(body, "cluster_uuid"),
        "node": NodeIdentity.from_payload(body.get("node")),
    }


def _map(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RemoteProtocolError(f"{what} payload is not a map")
    return value


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise RemoteProtocolError(f"handshake field [{key}] is not a string")
    return value


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RemoteProtocolError(f"handshake field [{key}] is not an integer")
    return value
