"""Remote-cluster settings as typed, frozen records, and when a change needs a reconnect.  [no I/O]

The records :mod:`isthmus.settings.remote` parses ``cluster.remote.*`` and transport tuning
into (sniff and proxy apart), and :func:`must_rebuild`, which compares two of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from isthmus.settings import values as v


class Mode(Enum):
    SNIFF = "sniff"
    PROXY = "proxy"


# --- typed records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedAddress:
    text: str  # as configured
    host: str  # IPv6 without its brackets
    port: int


@dataclass(frozen=True)
class SniffConfig:
    seeds: tuple[str, ...]  # as typed, in order
    node_connections: int
    proxy: str  # ES's undocumented rewrite of every sniffed address; "" when unset


@dataclass(frozen=True)
class ProxyConfig:
    proxy_address: str
    proxy_socket_connections: int
    server_name: str  # "" when unset


@dataclass(frozen=True)
class RemoteClusterConfig:
    alias: str
    mode: Mode
    strategy: SniffConfig | ProxyConfig
    skip_unavailable: bool
    ping_schedule: v.TimeValue
    compress: str  # "true" | "indexing_data" | "false"
    compression_scheme: str  # "deflate" | "lz4"

    def __repr__(self) -> str:
        target = " ".join(f"{k}={val!r}" for k, val in vars(self.strategy).items())
        return (
            f"<RemoteClusterConfig {self.alias!r} {self.mode.value} {target} "
            f"skip_unavailable={self.skip_unavailable} ping={self.ping_schedule} "
            f"compress={self.compress}/{self.compression_scheme}>"
        )


@dataclass(frozen=True)
class RemoteClusterGlobals:
    initial_connect_timeout: v.TimeValue
    connections_per_cluster: int
    node_attr: str | None  # None when unset; set (even to "") means "filter on this attribute"


@dataclass(frozen=True)
class TcpOptions:
    keep_alive: bool
    keep_idle: int  # seconds, -1 = OS default
    keep_interval: int  # seconds, -1 = OS default
    keep_count: int  # -1 = OS default
    no_delay: bool
    user_timeout_ms: int  # Isthmus extension (TCP_USER_TIMEOUT); -1 = OS default
    reuse_address: bool = True


@dataclass(frozen=True)
class TransportTuning:
    connect_timeout: v.TimeValue  # also the handshake timeout of remote connections
    ping_schedule: v.TimeValue
    compress: str
    compression_scheme: str
    tcp: TcpOptions


# --- rebuild decision ------------------------------------------------------------------------------


def must_rebuild(old: RemoteClusterConfig, new: RemoteClusterConfig) -> bool:
    """Whether going from ``old`` to ``new`` needs the connection closed and opened again.

    As ES (``RemoteConnectionStrategy.shouldRebuildConnection``): a new mode; a new ping interval
    (compared as durations: ``60s`` == ``1m``), compression or compression scheme; sniff: new
    ``node_connections``, seed set or ``proxy``; proxy: new socket count, address or
    ``server_name`` (ES rebuilds for ``server_name`` since 7.6.2, elastic/elasticsearch#54107).
    ``skip_unavailable`` changes in place and never rebuilds.
    """
    if old.mode is not new.mode:
        return True
    if (
        old.ping_schedule.millis != new.ping_schedule.millis
        or old.compress != new.compress
        or old.compression_scheme != new.compression_scheme
    ):
        return True
    a, b = old.strategy, new.strategy
    if isinstance(a, SniffConfig) and isinstance(b, SniffConfig):
        return (
            a.node_connections != b.node_connections
            or len(a.seeds) != len(b.seeds)  # ES: a new count or a new set; never the order
            or set(a.seeds) != set(b.seeds)
            or a.proxy != b.proxy
        )
    return a != b  # proxy: its three fields, socket count, address and server_name
