"""The remote-cluster and transport-tuning keys: their value parsers and declarations.  [no I/O]

Each parser takes (key, raw) and raises ES's message for that key; :data:`REMOTE_SETTINGS`
declares every key once (gathered by :mod:`isthmus.settings.catalog`). Parsing whole settings
maps into records is :mod:`isthmus.settings.remote`; validation is
:mod:`isthmus.settings.remote_validation`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from isthmus.errors import NumberFormatError, SettingsError
from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting
from isthmus.settings.remote_records import Mode, SeedAddress

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


# --- reading one key of a settings map --------------------------------------------------------


def _get(flat: Mapping[str, Any], key: str) -> Any:
    setting = NODE_SETTINGS[key]
    raw = flat.get(key)
    return setting.default if raw is None else setting.coerce(key, raw)


def _alias_value(flat: Mapping[str, Any], alias: str, suffix: str, default: Any) -> Any:
    key = f"{PREFIX}{alias}.{suffix}"
    raw = flat.get(key)
    return default if raw is None else _SUFFIXES[suffix].parse(key, raw)
