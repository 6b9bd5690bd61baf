"""Who this node is on the transport: the facts it puts in both handshake directions."""

from __future__ import annotations

from dataclasses import dataclass

from isthmus.wire.handshake import (
    CURRENT_VERSION,
    MIN_COMPATIBLE_VERSION,
    HandshakeRequest,
    HandshakeResponse,
    NodeIdentity,
)


@dataclass(frozen=True)
class LocalNode:
    """This node's cluster and identity, and the protocol versions it speaks."""

    cluster_name: str
    cluster_uuid: str
    node: NodeIdentity
    version: int = CURRENT_VERSION
    min_compatible_version: int = MIN_COMPATIBLE_VERSION

    def handshake_request(self) -> HandshakeRequest:
        return HandshakeRequest(
            self.version,
            self.min_compatible_version,
            self.cluster_name,
            self.cluster_uuid,
            self.node,
        )

    def handshake_response(self) -> HandshakeResponse:
        return HandshakeResponse(
            self.version,
            self.min_compatible_version,
            self.cluster_name,
            self.cluster_uuid,
            self.node,
        )
