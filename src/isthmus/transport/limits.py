"""What an unauthenticated or hostile peer may cost the transport listeners, and the breaker
that bounds the bytes of frames being received across all connections.

Owns what these settings mean (declared in :mod:`isthmus.settings.listener_limits`, read once
into :class:`TransportLimits`):

* ``network.breaker.inflight_requests.limit`` / ``.overhead`` (ES's names; ES's default limit
  is 100% of the JVM heap, which Python does not have: Isthmus defaults to ``512mb`` and reads a
  percentage as a share of physical memory; static here, dynamic in ES). The declared length of every frame being received
  on an accepted connection is reserved (times the overhead) when its header arrives and
  released when it is complete; a frame that would pass the limit is answered with ES's
  ``circuit_breaking_exception`` (429) and its bytes are skipped, never buffered.
* ``transport.handshake_timeout`` (Isthmus; ES has no server-side deadline): an accepted
  connection that has not completed the transport handshake (TLS included) within it is closed.
  It bounds silent peers and peers that trickle one byte a second alike.
* ``transport.max_unauthenticated_connections`` (Isthmus): accepted connections still before
  their handshake, per listener; one more is closed at once (and said so in a rate-limited WARN),
  so that hostile peers cannot use up the node's file descriptors.

Before its handshake a connection may not announce a frame over :data:`HANDSHAKE_FRAME_BYTES`
(a handshake is a few hundred bytes): an anonymous peer cannot make us buffer 64 MiB.
:class:`InFlightBreaker` does no I/O.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.errors import CircuitBreakingError
from isthmus.logs import LogThrottle
from isthmus.settings import values as v
from isthmus.settings.listener_limits import (
    HANDSHAKE_TIMEOUT_KEY,
    LIMIT_KEY,
    MAX_UNAUTHENTICATED_KEY,
    OVERHEAD_KEY,
    memory_size,
    non_negative_int,
    overhead,
)
from isthmus.wire.frames import format_bytes

# The largest frame a peer may announce before its transport handshake is complete.
HANDSHAKE_FRAME_BYTES = 64 * 1024

BREAKER_NAME = "in_flight_requests"


def resolve_memory_size(text: str) -> int:
    """Bytes of a ``memory_size`` value; a percentage is a share of physical memory."""
    if text.endswith("%"):
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):  # pragma: no cover - no sysconf on this platform
            total = 1024**3
        return int(total * float(text[:-1]) / 100)
    return v.parse_bytes(text)


@dataclass(frozen=True)
class TransportLimits:
    """The transport listeners' limits, parsed once from the node settings."""

    inflight_limit: int = 512 * 1024 * 1024
    inflight_overhead: float = 2.0
    handshake_timeout: float | None = 10.0  # seconds; None: no deadline
    max_unauthenticated: int = 1000  # per listener; 0: no cap

    @classmethod
    def from_settings(cls, flat: Mapping[str, Any]) -> TransportLimits:
        def get(key: str, parse: Any, default: Any) -> Any:
            raw = flat.get(key)
            return default if raw is None else parse(raw)

        timeout: v.TimeValue = get(HANDSHAKE_TIMEOUT_KEY, v.parse_time, v.TimeValue(10_000, "10s"))
        return cls(
            inflight_limit=resolve_memory_size(get(LIMIT_KEY, memory_size, "512mb")),
            inflight_overhead=get(OVERHEAD_KEY, overhead, 2.0),
            handshake_timeout=timeout.seconds if timeout.millis > 0 else None,
            max_unauthenticated=get(MAX_UNAUTHENTICATED_KEY, non_negative_int, 1000),
        )


class InFlightBreaker:
    """ES's ``in_flight_requests`` breaker: bytes of messages being received, node-wide.

    :meth:`reserve` adds ``bytes * overhead`` and returns that cost, or raises
    :class:`CircuitBreakingError` with ES's text and changes nothing; :meth:`release` gives a
    cost back."""

    def __init__(self, limit: int, overhead: float = 2.0) -> None:
        self.limit = limit
        self.overhead = overhead
        self.used = 0
        self.tripped = 0
        self.peak = 0

    def _cost(self, size: int) -> int:
        return int(size * self.overhead)

    def reserve(self, size: int, label: str = "<transport_request>") -> int:
        cost = self._cost(size)
        wanted = self.used + cost
        if self.limit >= 0 and cost > 0 and wanted > self.limit:
            self.tripped += 1
            raise CircuitBreakingError(
                f"[{BREAKER_NAME}] Data too large, data for [{label}] would be "
                f"[{wanted}/{format_bytes(wanted)}], which is larger than the limit of "
                f"[{self.limit}/{format_bytes(self.limit)}]",
                bytes_wanted=wanted,
                bytes_limit=self.limit,
            )
        self.used = wanted
        self.peak = max(self.peak, wanted)
        return cost

    def release(self, cost: int) -> None:
        self.used = max(0, self.used - cost)

    def stats(self) -> dict[str, Any]:
        """ES's ``_nodes/stats`` ``breakers.in_flight_requests`` record."""
        return {
            "limit_size_in_bytes": self.limit,
            "limit_size": format_bytes(self.limit),
            "estimated_size_in_bytes": self.used,
            "estimated_size": format_bytes(self.used),
            "overhead": self.overhead,
            "tripped": self.tripped,
        }

    def __repr__(self) -> str:
        return f"<InFlightBreaker used={self.used} limit={self.limit} tripped={self.tripped}>"


@dataclass(frozen=True)
class InboundGuard:
    """What an accepted channel enforces against its peer (outbound channels have none): the
    node's breaker, the listener's log throttle, and the deadlines in seconds (None: none)."""

    breaker: InFlightBreaker | None = None
    throttle: LogThrottle | None = None
    handshake_timeout: float | None = None  # TCP accept -> transport handshake done
    tls_handshake_timeout: float | None = None  # TCP accept -> TLS handshake done
    handshake_frame_bytes: int = HANDSHAKE_FRAME_BYTES
