"""What the lab's relay does, as values: its modes, their parameters and its counters.  [no I/O]

:class:`RelayConfig` is what a relay is switched to (in-process, or as JSON over the control
channel of :mod:`isthmus.lab.relay_control`); :class:`RelayStats` is what it counted. The relay
itself, which moves the bytes, is :mod:`isthmus.lab.relay`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

Address = tuple[str, int]


class RelayMode(enum.StrEnum):
    PASS = "pass"
    DROP = "drop"
    BLACKHOLE = "blackhole"
    HOLD = "hold"
    RESET = "reset"
    SNI = "sni"
    CONNECT = "connect"


@dataclass(frozen=True)
class RelayConfig:
    """What the relay does to connections (see the module docstring for each mode)."""

    mode: RelayMode = RelayMode.PASS
    backend: Address | None = None  # pass and hold
    routes: Mapping[str, Address] = field(default_factory=dict)  # sni: server_name -> backend
    hold: float = 0.0  # hold: seconds before forwarding
    idle_cut: float | None = None  # close a connection idle (both ways) for this many seconds
    # The local address connections to a backend are opened from (None: the kernel picks), as
    # the address of a proxy's outgoing side; on Linux any 127.x.y.z is a loopback address.
    source: str | None = None

    def __post_init__(self) -> None:
        if self.mode in (RelayMode.PASS, RelayMode.HOLD) and self.backend is None:
            raise ValueError(f"relay mode [{self.mode}] needs a backend")
        if self.mode is RelayMode.SNI and not self.routes:
            raise ValueError("relay mode [sni] needs at least one route")
        if self.hold < 0 or (self.idle_cut is not None and self.idle_cut <= 0):
            raise ValueError("hold must be >= 0 and idle_cut > 0")

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": str(self.mode),
            "backend": format_address(self.backend) if self.backend else None,
            "routes": {name: format_address(a) for name, a in self.routes.items()},
            "hold": self.hold,
            "idle_cut": self.idle_cut,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RelayConfig:
        """Read a config; anything malformed raises ``ValueError`` naming the field."""
        unknown = set(data) - {"mode", "backend", "routes", "hold", "idle_cut", "source"}
        if unknown:
            raise ValueError(f"unknown relay config fields {sorted(unknown)}")
        try:
            mode = RelayMode(data.get("mode", "pass"))
        except ValueError:
            raise ValueError(
                f"unknown relay mode [{data.get('mode')}], expected one of [{', '.join(RelayMode)}]"
            ) from None
        backend = data.get("backend")
        routes = data.get("routes") or {}
        if not isinstance(routes, Mapping):
            raise ValueError("routes must be an object of server_name -> host:port")
        idle = data.get("idle_cut")
        return cls(
            mode=mode,
            backend=parse_address(backend) if backend else None,
            routes={str(k): parse_address(v) for k, v in routes.items()},
            hold=float(data.get("hold") or 0.0),
            idle_cut=None if idle is None else float(idle),
            source=None if data.get("source") is None else str(data["source"]),
        )

    def with_mode(self, mode: RelayMode, **changes: Any) -> RelayConfig:
        return replace(self, mode=mode, **changes)


def parse_address(text: object) -> Address:
    """``host:port`` (``[v6]:port`` for IPv6) as a pair; ``ValueError`` otherwise. Port 0 is
    accepted (a listen address lets the kernel pick)."""
    if not isinstance(text, str) or ":" not in text:
        raise ValueError(f"[{text}] is not a host:port address")
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"[{text}] is not a host:port address")
    return host, int(port)


def format_address(address: Address) -> str:
    """``host:port``, ``[v6]:port`` for IPv6."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class RelayStats:
    mode: str
    accepted: int
    open: int
    bytes_up: int  # client -> backend
    bytes_down: int  # backend -> client
    discarded: int  # bytes swallowed while silent
    idle_cuts: int
    resets: int
    unrouted: int  # sni without a route, connect to a refused target
    backend_refused: int
    cut: int  # connections broken by cut()

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


__all__ = ["Address", "RelayConfig", "RelayMode", "RelayStats", "format_address", "parse_address"]
