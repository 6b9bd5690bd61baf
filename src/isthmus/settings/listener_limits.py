"""What the HTTP and transport listeners allow a peer, declared.  [no I/O]

The limits that bound what a client or an unauthenticated peer may cost the node, as settings:

* HTTP (``http.*``): the request line and header sizes, the header and body deadlines and the
  connection cap, read by ``http/server.py`` into ``HttpLimits``;
* transport: the in-flight requests breaker (``network.breaker.inflight_requests.*``), the
  handshake deadline and the cap on connections still before their handshake, read by
  ``transport/limits.py`` into ``TransportLimits`` (whose docstring says what each one bounds).

Declared here once, as data, with their parsers; :mod:`isthmus.settings.catalog` gathers them.
"""

from __future__ import annotations

from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting

# --- HTTP ----------------------------------------------------------------------------------------


def positive_int(raw: object) -> int:
    value = v.parse_int(raw)
    if value < 1:
        raise ValueError(f"Failed to parse value [{raw}] for setting [{{key}}] must be >= 1")
    return value


HTTP_SETTINGS: tuple[Setting, ...] = (
    Setting("http.max_initial_line_length", v.parse_bytes, 4 * 1024, Scope.NODE),
    Setting("http.max_header_size", v.parse_bytes, 8 * 1024, Scope.NODE),
    Setting("http.header_timeout", v.parse_time, v.TimeValue(10_000, "10s"), Scope.NODE),
    Setting("http.body_timeout", v.parse_time, v.TimeValue(30_000, "30s"), Scope.NODE),
    Setting("http.max_connections", positive_int, None, Scope.NODE),
)

# --- transport -----------------------------------------------------------------------------------

LIMIT_KEY = "network.breaker.inflight_requests.limit"
OVERHEAD_KEY = "network.breaker.inflight_requests.overhead"
HANDSHAKE_TIMEOUT_KEY = "transport.handshake_timeout"
MAX_UNAUTHENTICATED_KEY = "transport.max_unauthenticated_connections"


def memory_size(raw: object) -> str:
    """A byte size, or a percentage of physical memory (checked here, resolved at use)."""
    text = str(raw).strip()
    if text.endswith("%"):
        try:
            share = float(text[:-1])
        except ValueError:
            share = -1.0
        if not 0.0 <= share <= 100.0:
            raise ValueError(
                f"failed to parse [{text}] as a percentage for setting [{{key}}]: "
                "percentage should be in [0-100]"
            )
        return text
    v.parse_bytes(text)
    return text


def overhead(raw: object) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        raise ValueError(f"Failed to parse value [{raw}] for setting [{{key}}]") from None
    if value < 0:
        raise ValueError(f"Failed to parse value [{raw}] for setting [{{key}}] must be >= 0.0")
    return value


def non_negative_int(raw: object) -> int:
    value = v.parse_int(raw)
    if value < 0:
        raise ValueError(f"Failed to parse value [{raw}] for setting [{{key}}] must be >= 0")
    return value


# Static here (ES: dynamic): read once at startup.
TRANSPORT_SETTINGS: tuple[Setting, ...] = (
    Setting(LIMIT_KEY, memory_size, "512mb", Scope.NODE),
    Setting(OVERHEAD_KEY, overhead, 2.0, Scope.NODE),
    Setting(HANDSHAKE_TIMEOUT_KEY, v.parse_time, v.TimeValue(10_000, "10s"), Scope.NODE),
    Setting(MAX_UNAUTHENTICATED_KEY, non_negative_int, 1000, Scope.NODE),
)
