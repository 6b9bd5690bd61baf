"""Remote-cluster and transport-tuning settings: keys, typed configs, validation.  [no I/O]

Owns every raw key of the remote-cluster client (``cluster.remote.<alias>.*``, the
``cluster.remote.*`` globals) and of transport tuning (``transport.connect_timeout``,
``.ping_schedule``, ``.compress``, ``.compression_scheme``, ``network.tcp.*`` and its
``transport.tcp.*`` overrides): declares them (:data:`REMOTE_SETTINGS`, gathered by
:mod:`isthmus.settings.catalog`), parses the effective flat settings once into frozen records
(sniff and proxy apart) and decides :func:`must_rebuild`. Resolves no host names and opens
nothing: an unresolvable seed fails at connect time (``unknown host [h]``).

Where ES raises a settings error decides the REST error's shape, so validation has ES's three steps:

1. Each key alone (parse plus the key's own check, e.g. every seed's port): the registry's
   ``coerce``, for each key of ``isthmus.yml``/``-E`` and of a ``PUT _cluster/settings`` body.
2. One layer with its dependencies (mode restrictions, "remote cluster is not enabled"):
   :func:`validate_remote_settings` on the yml settings at startup and on each of the new
   persistent and transient maps (ES ``validate(settings, true)``). Top-level, like step 1.
3. Across layers, changed keys only: :func:`validate_remote_update` (ES ``validateUpdate``, the dry
   run of the update consumers): ``illegal value can't update [<key>] from [<old>] to [<new>]``
   with the step-2 error as ``caused_by``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any, TypeVar

from isthmus.errors import IllegalArgumentError, NumberFormatError, SettingsError
from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting

PREFIX = "cluster.remote."
DEFAULT_SKIP_UNAVAILABLE = True  # ES >= 8.15
DEFAULT_PROXY_SOCKET_CONNECTIONS = 18
DEFAULT_CONNECTIONS = 3  # cluster.remote.connections_per_cluster
# Isthmus deviation: ES never pings (-1). We ping every second to notice dead peers quickly.
DEFAULT_PING_SCHEDULE = v.TimeValue(1000, "1s")

# ES AffixKey: the alias is one segment of ``[-\w]`` (Java's ASCII ``\w``), never empty or dotted.
_ALIAS = re.compile(r"[-A-Za-z0-9_]*")
_JAVA_INT = re.compile(r"[+-]?[0-9]+")
T = TypeVar("T")


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


# --- value parsers: (key, raw) -> value, raising ES's message -------------------------------------


def _via(parser: Callable[[object], T]) -> Callable[[str, object], T]:
    """A ``values`` parser whose message gets the concrete key."""

    def parse(key: str, raw: object) -> T:
        try:
            return parser(raw)
        except ValueError as exc:
            raise SettingsError(str(exc).replace("{key}", key)) from None

    return parse


_text = _via(v.parse_str)
_bool = _via(v.parse_bool)
_time = _via(v.parse_time)


def _java_int(text: str) -> int | None:
    """``Integer.parseInt``: ASCII digits with an optional sign, 32-bit; None where Java throws."""
    if _JAVA_INT.fullmatch(text) is None:
        return None
    n = int(text)
    return n if -(2**31) <= n < 2**31 else None


def _int(key: str, raw: object, lo: int, hi: int | None = None) -> int:
    text = _text(key, raw)
    n = _java_int(text)
    if n is None:
        raise SettingsError(
            f"Failed to parse value [{text}] for setting [{key}]",
            caused_by=NumberFormatError(f'For input string: "{text}"'),
        )
    if n < lo:
        raise SettingsError(f"Failed to parse value [{text}] for setting [{key}] must be >= {lo}")
    if hi is not None and n > hi:
        raise SettingsError(f"Failed to parse value [{text}] for setting [{key}] must be <= {hi}")
    return n


def _keep_count(key: str, raw: object) -> int:
    n = _int(key, raw, -1)
    if n == 0:  # Isthmus: ES accepts 0, which every kernel then refuses for TCP_KEEPCNT
        raise SettingsError(f"Failed to parse value [0] for setting [{key}] must be -1 or >= 1")
    return n


def _positive_time(key: str, raw: object) -> v.TimeValue:
    value = _time(key, raw)
    if value.millis >= 0:
        return value
    raise SettingsError(
        f"failed to parse value [{value.text}] for setting [{key}], must be >= [0ms]"
    )


def _enum(java_class: str, names: tuple[str, ...]) -> Callable[[str, object], str]:
    """ES ``enumSetting``: ``valueOf(value.toUpperCase())``; we keep the lower-case name."""

    def parse(key: str, raw: object) -> str:
        name = _text(key, raw).upper()
        if name not in names:
            raise SettingsError(f"No enum constant {java_class}.{name}")
        return name.lower()

    return parse


_compress = _enum(
    "org.elasticsearch.transport.Compression.Enabled", ("TRUE", "INDEXING_DATA", "FALSE")
)
_scheme = _enum("org.elasticsearch.transport.Compression.Scheme", ("LZ4", "DEFLATE"))


_mode_name = _enum(
    "org.elasticsearch.transport.RemoteConnectionStrategy.ConnectionStrategy", ("SNIFF", "PROXY")
)


def _mode(key: str, raw: object) -> Mode:
    return Mode(_mode_name(key, raw))


def parse_address(text: str) -> SeedAddress:
    """``host:port`` as ES reads seeds and proxy addresses: the port follows the LAST ``:``.

    As in ES, the port need only be a positive Java int here; above 65535 fails at connect time.
    """
    sep = text.rfind(":")
    if sep == -1:
        raise SettingsError(
            f"remote hosts need to be configured as [host:port], found [{text}] instead"
        )
    port_text = text[sep + 1 :]
    port = _java_int(port_text)
    if port is None:
        raise SettingsError(
            "failed to parse port", caused_by=NumberFormatError(f'For input string: "{port_text}"')
        )
    if port <= 0:
        raise SettingsError(f"port number must be > 0 but was: [{port}]")
    host = text[:sep]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return SeedAddress(text, host, port)


def _seed_items(key: str, raw: object) -> list[str]:
    """The list as ES's ``getAsList`` sees it: a list, or a comma-separated string."""
    if isinstance(raw, list | tuple):
        return [_text(key, item) for item in raw]
    text = _text(key, raw)
    items = text.split(",") if text else []
    while items and items[-1] == "":  # Java's split drops trailing empty strings, then ES trims
        items.pop()
    return [item.strip() for item in items]


def _seeds(key: str, raw: object) -> tuple[str, ...]:
    items = _seed_items(key, raw)
    for item in items:  # ES checks every seed while parsing the list
        parse_address(item)
    return tuple(items)


def _address_check(key: str, value: str) -> None:
    if value:
        parse_address(value)


# --- per-alias settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Suffix:
    parse: Callable[[str, object], Any]
    mode: Mode | None = None  # the only mode it may be used with (ES StrategyValidator)
    enabled_only: bool = False  # refused unless the remote is enabled (ES RemoteConnectionEnabled)
    check: Callable[[str, Any], None] | None = None  # the key's own check after parsing
    fallback: str | None = None  # the global setting it defaults to
    raw_default: str = ""  # ES's text for the (fallback's) default, in update errors


_positive_int = partial(_int, lo=1)
# In the order of ES's update consumers: one group consumer, then skip_unavailable's own.
# compression_scheme has none: ES never re-checks it on update (nor reconnects for it alone).
_SUFFIXES: dict[str, _Suffix] = {
    "transport.compress": _Suffix(
        _compress, enabled_only=True, fallback="transport.compress", raw_default="INDEXING_DATA"
    ),
    "transport.ping_schedule": _Suffix(
        _time,
        enabled_only=True,
        fallback="transport.ping_schedule",
        raw_default=DEFAULT_PING_SCHEDULE.text,
    ),
    "mode": _Suffix(_mode, raw_default="SNIFF"),
    "proxy": _Suffix(_text, Mode.SNIFF, check=_address_check),
    "seeds": _Suffix(_seeds, Mode.SNIFF, raw_default="[]"),
    "node_connections": _Suffix(
        _positive_int,
        Mode.SNIFF,
        fallback="cluster.remote.connections_per_cluster",
        raw_default="3",
    ),
    "proxy_address": _Suffix(_text, Mode.PROXY, check=_address_check),
    "proxy_socket_connections": _Suffix(_positive_int, Mode.PROXY, raw_default="18"),
    "server_name": _Suffix(_text, Mode.PROXY),
    "skip_unavailable": _Suffix(_bool, enabled_only=True, raw_default="true"),
    "transport.compression_scheme": _Suffix(
        _scheme, enabled_only=True, fallback="transport.compression_scheme", raw_default="LZ4"
    ),
}
_UPDATE_ORDER = [x for x in _SUFFIXES if x != "transport.compression_scheme"]
_BY_LENGTH = sorted(_SUFFIXES, key=len, reverse=True)


def _split(key: str) -> tuple[str, str] | None:
    """``cluster.remote.<alias>.<suffix>`` → (alias, suffix); the alias may be "" (refused later)."""
    if not key.startswith(PREFIX):
        return None
    rest = key[len(PREFIX) :]
    for suffix in _BY_LENGTH:
        if rest.endswith("." + suffix):
            alias = rest[: -len(suffix) - 1]
            return (alias, suffix) if _ALIAS.fullmatch(alias) else None
    return None


def _alias_keys(flat: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(key, alias, suffix) of every set per-alias key, in key order."""
    return [(k, *p) for k in sorted(flat) if flat[k] is not None and (p := _split(k))]


@dataclass(frozen=True)
class _AliasSetting(Setting):
    """``cluster.remote.<alias>.<suffix>``: ES takes a one-segment alias (the registry's ``*``
    would also take an empty or dotted one) and names the concrete key in its messages."""

    suffix: str = ""

    def matches(self, key: str) -> bool:
        parts = _split(key)
        return parts is not None and parts[0] != "" and parts[1] == self.suffix

    def coerce(self, key: str, raw: object) -> Any:
        spec = _SUFFIXES[self.suffix]
        value = spec.parse(key, raw)
        if spec.check is not None:
            spec.check(key, value)
        return value


# --- node-scope settings ----------------------------------------------------------------------------


def _node(key: str, parse: Callable[[str, object], Any], default: Any) -> Setting:
    return Setting(key, partial(parse, key), default, Scope.NODE)


_TCP: dict[str, tuple[Callable[[str, object], Any], Any]] = {
    "keep_alive": (_bool, True),
    "keep_idle": (partial(_int, lo=-1, hi=300), 1),  # Isthmus default 1 s (ES: -1)
    "keep_interval": (partial(_int, lo=-1, hi=300), 1),  # Isthmus default 1 s (ES: -1)
    "keep_count": (_keep_count, 3),  # Isthmus default 3 (ES: -1)
    "no_delay": (_bool, True),
    "reuse_address": (_bool, True),
    "user_timeout": (_time, v.TimeValue(3000, "3s")),  # Isthmus extension
}
_30S = v.TimeValue(30_000, "30s")
NODE_SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in (
        _node("cluster.remote.initial_connect_timeout", _positive_time, _30S),
        _node("cluster.remote.connections_per_cluster", _positive_int, DEFAULT_CONNECTIONS),
        _node("cluster.remote.node.attr", _text, None),
        _node("transport.connect_timeout", _time, _30S),
        _node("transport.ping_schedule", _time, DEFAULT_PING_SCHEDULE),
        _node("transport.compress", _compress, "indexing_data"),
        _node("transport.compression_scheme", _scheme, "lz4"),
        *(_node(f"network.tcp.{n}", p, d) for n, (p, d) in _TCP.items()),
        # transport.tcp.* falls back to network.tcp.*; the defaults are the same.
        *(_node(f"transport.tcp.{n}", p, d) for n, (p, d) in _TCP.items()),
    )
}


# Every remote-cluster and transport-tuning setting, declared once: the per-alias keys (dynamic
# cluster settings) and the node-scope ones.
REMOTE_SETTINGS: tuple[Setting, ...] = (
    *(
        _AliasSetting(key, partial(spec.parse, key), None, Scope.CLUSTER, True, suffix=suffix)
        for suffix, spec in _SUFFIXES.items()
        for key in (f"{PREFIX}*.{suffix}",)
    ),
    *NODE_SETTINGS.values(),
)


# --- parsing into records ------------------------------------------------------------------------


def _get(flat: Mapping[str, Any], key: str) -> Any:
    setting = NODE_SETTINGS[key]
    raw = flat.get(key)
    return setting.default if raw is None else setting.coerce(key, raw)


def _alias_value(flat: Mapping[str, Any], alias: str, suffix: str, default: Any) -> Any:
    key = f"{PREFIX}{alias}.{suffix}"
    raw = flat.get(key)
    return default if raw is None else _SUFFIXES[suffix].parse(key, raw)


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


# --- validation ------------------------------------------------------------------------------------


def _check_key(key: str, alias: str, suffix: str, flat: Mapping[str, Any]) -> None:
    """ES ``Setting.get(settings)`` for one per-alias key, dependencies included.

    Same order as ES: parse the value, read the settings it depends on, run the key's own check,
    then the cross-setting rules (which apply only to a key that is present).
    """
    spec = _SUFFIXES[suffix]
    raw = flat.get(key)
    value = None if raw is None else spec.parse(key, raw)
    mode: Mode = _alias_value(flat, alias, "mode", Mode.SNIFF)
    enablement = "seeds" if mode is Mode.SNIFF else "proxy_address"
    enabled = not spec.enabled_only or bool(_alias_value(flat, alias, enablement, ""))
    if raw is None:
        return
    if spec.check is not None:
        spec.check(key, value)
    if spec.mode is not None and mode is not spec.mode:
        raise SettingsError(
            f'Setting "{key}" cannot be used with the configured "{PREFIX}{alias}.mode" '
            f"[required={spec.mode.name}, configured={mode.name}]"
        )
    if not enabled:
        raise SettingsError(f"Cannot configure setting [{key}] if remote cluster is not enabled.")


def validate_remote_settings(flat: Mapping[str, Any]) -> None:
    """Check one settings layer the way ES validates it (step 2 in the module docstring).

    Keys are checked in sorted order and the first failure is raised, top-level. (ES collects one
    error per key and adds the others as ``suppressed``; Isthmus reports the first only.)
    """
    for key, alias, suffix in _alias_keys(flat):
        if alias == "":
            raise SettingsError("remote clusters must not have the empty string as its key")
        _check_key(key, alias, suffix, flat)


def _raw(flat: Mapping[str, Any], key: str, suffix: str) -> str:
    """The text ES prints for a setting's value (``Setting.getRaw``), default included."""
    spec = _SUFFIXES[suffix]
    value = flat.get(key)
    if value is None and spec.fallback is not None:
        key, value = spec.fallback, flat.get(spec.fallback)
    if value is None:
        return spec.raw_default
    if suffix == "seeds" or isinstance(value, list | tuple):  # a list prints as a JSON array
        items = _seed_items(key, value)
        return json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    return _text(key, value)


def validate_remote_update(previous: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """ES's dry run of its remote-cluster update consumers (step 3 in the module docstring).

    ``previous``: yml settings overlaid by the persistent and transient settings last applied;
    ``current``: yml settings overlaid by the new persistent and transient settings. Only keys whose
    printed value changed are checked, against ``current``.
    """
    for suffix in _UPDATE_ORDER:
        keys = {
            k: a for flat in (current, previous) for k, a, x in _alias_keys(flat) if x == suffix
        }
        for key, alias in keys.items():
            before, after = _raw(previous, key, suffix), _raw(current, key, suffix)
            if not alias or before == after:
                continue
            try:
                _check_key(key, alias, suffix, current)
            except IllegalArgumentError as exc:
                raise SettingsError(
                    f"illegal value can't update [{key}] from [{before}] to [{after}]",
                    caused_by=exc,
                ) from None


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


# --- what the node does with cluster.remote.* -------------------------------------------------------


def enabled_remotes(flat: Mapping[str, Any]) -> dict[str, RemoteClusterConfig]:
    """The enabled remotes of a full settings map, with its transport tuning and globals."""
    return remote_configs(flat, transport_tuning(flat), remote_globals(flat))


def validate_remote_change(
    previous: Mapping[str, Any], current: Mapping[str, Any], layers: Sequence[Mapping[str, Any]]
) -> None:
    """A ``cluster.remote.*`` update in ES's order: each layer with its dependencies (transient
    first), then the update as a whole."""
    for layer in layers:
        validate_remote_settings(layer)
    validate_remote_update(previous, current)
