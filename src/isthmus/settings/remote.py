"""Remote-cluster and transport-tuning settings: keys, typed configs, validation.  [no I/O]

Owns every raw key of the remote-cluster client (``cluster.remote.<alias>.*``, the
``cluster.remote.*`` globals) and of transport tuning (``transport.connect_timeout``,
``.ping_schedule``, ``.compress``, ``.compression_scheme``, ``network.tcp.*`` and its
``transport.tcp.*`` overrides): declares them (:data:`REMOTE_SETTINGS`, gathered by
:mod:`isthmus.settings.catalog`), parses the effective flat settings once into frozen records
(sniff and proxy apart) and decides :func:`must_rebuild`. Resolves no host names and opens
nothing: an unresolvable seed fails at connect time (``unknown host [h]``).

The rooms: typed records and :func:`must_rebuild` are :mod:`~isthmus.settings.remote_records`;
the keys' value parsers and declarations :mod:`~isthmus.settings.remote_keys`; validation
:mod:`~isthmus.settings.remote_validation`. This module parses a settings map into records;
every public name of those rooms stays importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from isthmus.settings.remote_keys import (
    DEFAULT_CONNECTIONS,
    DEFAULT_PING_SCHEDULE,
    DEFAULT_PROXY_SOCKET_CONNECTIONS,
    DEFAULT_SKIP_UNAVAILABLE,
    NODE_SETTINGS,
    PREFIX,
    REMOTE_SETTINGS,
    _alias_keys,
    _alias_value,
    _get,
    parse_address,
)
from isthmus.settings.remote_records import (
    Mode,
    ProxyConfig,
    RemoteClusterConfig,
    RemoteClusterGlobals,
    SeedAddress,
    SniffConfig,
    TcpOptions,
    TransportTuning,
    must_rebuild,
)
from isthmus.settings.remote_validation import (
    validate_remote_change,
    validate_remote_settings,
    validate_remote_update,
)

# --- parsing into records ------------------------------------------------------------------------


def remote_globals(flat: Mapping[str, Any]) -> RemoteClusterGlobals:
    """The ``cluster.remote.*`` settings shared by every alias."""
    return RemoteClusterGlobals(
        initial_connect_timeout=_get(flat, "cluster.remote.initial_connect_timeout"),
        connections_per_cluster=_get(flat, "cluster.remote.connections_per_cluster"),
        node_attr=_get(flat, "cluster.remote.node.attr"),
    )


def transport_tuning(flat: Mapping[str, Any]) -> TransportTuning:
    """Transport timeouts, pings, compression and TCP options (``transport.tcp.*`` wins)."""

    def tcp(name: str) -> Any:
        key = f"transport.tcp.{name}"
        return _get(flat, key if flat.get(key) is not None else f"network.tcp.{name}")

    return TransportTuning(
        connect_timeout=_get(flat, "transport.connect_timeout"),
        ping_schedule=_get(flat, "transport.ping_schedule"),
        compress=_get(flat, "transport.compress"),
        compression_scheme=_get(flat, "transport.compression_scheme"),
        tcp=TcpOptions(
            keep_alive=tcp("keep_alive"),
            keep_idle=tcp("keep_idle"),
            keep_interval=tcp("keep_interval"),
            keep_count=tcp("keep_count"),
            no_delay=tcp("no_delay"),
            user_timeout_ms=tcp("user_timeout").millis,
            reuse_address=tcp("reuse_address"),
        ),
    )


def remote_aliases(flat: Mapping[str, Any]) -> tuple[str, ...]:
    """Every alias that any set ``cluster.remote.<alias>.*`` key mentions, sorted."""
    return tuple(sorted({alias for _, alias, _ in _alias_keys(flat) if alias}))


def remote_configs(
    flat: Mapping[str, Any], tuning: TransportTuning, globals_: RemoteClusterGlobals
) -> dict[str, RemoteClusterConfig]:
    """The enabled remotes (sniff: seeds set; proxy: proxy_address set), by alias.

    Reads, like ES, only the settings of the configured mode; cross-setting rules are
    :func:`validate_remote_settings`'s job.
    """
    out: dict[str, RemoteClusterConfig] = {}
    for alias in remote_aliases(flat):
        get = partial(_alias_value, flat, alias)
        mode: Mode = get("mode", Mode.SNIFF)
        strategy: SniffConfig | ProxyConfig
        if mode is Mode.SNIFF:
            strategy = SniffConfig(
                seeds=get("seeds", ()),
                node_connections=get("node_connections", globals_.connections_per_cluster),
                proxy=get("proxy", ""),
            )
            enabled = bool(strategy.seeds)
        else:
            strategy = ProxyConfig(
                proxy_address=get("proxy_address", ""),
                proxy_socket_connections=get(
                    "proxy_socket_connections", DEFAULT_PROXY_SOCKET_CONNECTIONS
                ),
                server_name=get("server_name", ""),
            )
            enabled = bool(strategy.proxy_address)
        if enabled:
            out[alias] = RemoteClusterConfig(
                alias=alias,
                mode=mode,
                strategy=strategy,
                skip_unavailable=get("skip_unavailable", DEFAULT_SKIP_UNAVAILABLE),
                ping_schedule=get("transport.ping_schedule", tuning.ping_schedule),
                compress=get("transport.compress", tuning.compress),
                compression_scheme=get("transport.compression_scheme", tuning.compression_scheme),
            )
    return out


# --- what the node does with cluster.remote.* -------------------------------------------------------


def enabled_remotes(flat: Mapping[str, Any]) -> dict[str, RemoteClusterConfig]:
    """The enabled remotes of a full settings map, with its transport tuning and globals."""
    return remote_configs(flat, transport_tuning(flat), remote_globals(flat))


__all__ = [
    "DEFAULT_CONNECTIONS",
    "DEFAULT_PING_SCHEDULE",
    "DEFAULT_PROXY_SOCKET_CONNECTIONS",
    "DEFAULT_SKIP_UNAVAILABLE",
    "NODE_SETTINGS",
    "PREFIX",
    "REMOTE_SETTINGS",
    "Mode",
    "ProxyConfig",
    "RemoteClusterConfig",
    "RemoteClusterGlobals",
    "SeedAddress",
    "SniffConfig",
    "TcpOptions",
    "TransportTuning",
    "enabled_remotes",
    "must_rebuild",
    "parse_address",
    "remote_aliases",
    "remote_configs",
    "remote_globals",
    "transport_tuning",
    "validate_remote_change",
    "validate_remote_settings",
    "validate_remote_update",
]
