"""What a transport channel reports about itself: its state and a snapshot record.  [no I/O]

Kept apart from :mod:`isthmus.transport.channel` so that handlers, ``_nodes/stats`` and tests can
read a channel's :class:`ChannelInfo` without the protocol machinery.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from isthmus.security.tls_failures import TlsFailure
    from isthmus.wire import NodeIdentity


class ChannelState(enum.Enum):
    CONNECTING = "connecting"  # TCP up, TLS handshake running
    OPEN = "open"
    CLOSED = "closed"  # we closed it
    BROKEN = "broken"  # it ended on us


ENDED = (ChannelState.CLOSED, ChannelState.BROKEN)


@dataclass(frozen=True)
class ChannelInfo:
    """A snapshot of one channel, for handlers, ``_nodes/stats`` and tests."""

    state: ChannelState
    server_side: bool
    profile: str
    local_address: str
    remote_address: str
    tls_version: str | None
    peer_certificate: str | None
    remote_node: NodeIdentity | None
    remote_cluster_name: str | None
    remote_cluster_uuid: str | None
    version: int
    outbound_pending: int
    inbound_pending: int
    requests_sent: int
    requests_received: int
    pings_received: int
    broken_reason: str | None
    tls_failure: TlsFailure | None


__all__ = ["ENDED", "ChannelInfo", "ChannelState"]
