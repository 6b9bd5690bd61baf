"""Settings of the remote cluster server (the API-key model's fulfilling side).  [no I/O]

``remote_cluster_server.enabled`` (default false) turns on a second transport listener, profile
``_remote_cluster``, on ``remote_cluster.port`` (default 9443) with its own TLS
(``xpack.security.remote_cluster_server.ssl.*``, declared with the other TLS profiles). Its
host settings fall back to the transport's and its ``remote_cluster.tcp.*`` options to
``transport.tcp.*``. ES refuses the old way of configuring it, a ``_remote_cluster`` transport
profile, with the message below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from isthmus.errors import SettingsError
from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting
from isthmus.settings.remote import NODE_SETTINGS as REMOTE_NODE_SETTINGS
from isthmus.settings.remote import TcpOptions
from isthmus.wire.names import REMOTE_CLUSTER_PROFILE

DEFAULT_PORT = 9443


def _port(raw: object) -> int:
    value = v.parse_int(raw)
    if not 0 <= value <= 65535:
        raise ValueError(
            f"Failed to parse value [{value}] for setting [{{key}}] must be "
            + ("<= 65535" if value > 65535 else ">= 0")
        )
    return value


_SERVER_SETTINGS: tuple[Setting, ...] = (
    Setting("remote_cluster_server.enabled", v.parse_bool, False, Scope.NODE),
    Setting("remote_cluster.host", v.parse_str, None, Scope.NODE),
    Setting("remote_cluster.bind_host", v.parse_str, None, Scope.NODE),
    Setting("remote_cluster.publish_host", v.parse_str, None, Scope.NODE),
    Setting("remote_cluster.port", _port, DEFAULT_PORT, Scope.NODE),
    Setting("remote_cluster.publish_port", v.parse_int, -1, Scope.NODE),
    # Transport profiles exist only so that ES's refusal below can be given; Isthmus serves the
    # default profile (and, when enabled, the remote cluster server) only.
    Setting("transport.profiles.*.port", v.parse_str, None, Scope.NODE),
    Setting("transport.profiles.*.host", v.parse_str, None, Scope.NODE),
    Setting("transport.profiles.*.bind_host", v.parse_str, None, Scope.NODE),
    Setting("transport.profiles.*.publish_host", v.parse_str, None, Scope.NODE),
    Setting("transport.profiles.*.publish_port", v.parse_str, None, Scope.NODE),
)
# remote_cluster.tcp.<option> for each transport.tcp.<option> Isthmus has (ES also has the two
# buffer sizes, which Isthmus does not set): parsed as its fallback, with the fallback's key in
# errors; unset, the transport.tcp value applies.
_TCP_OPTIONS = ("keep_alive", "keep_idle", "keep_interval", "keep_count", "no_delay",
                "reuse_address", "user_timeout", "send_buffer_size", "receive_buffer_size")  # fmt: skip
_TCP_SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f"remote_cluster.tcp.{name}", fallback.parse, None, Scope.NODE)
    for name in _TCP_OPTIONS
    if (fallback := REMOTE_NODE_SETTINGS.get(f"transport.tcp.{name}")) is not None
)
# Declared once (gathered by isthmus.settings.catalog).
REMOTE_SERVER_SETTINGS: tuple[Setting, ...] = (*_SERVER_SETTINGS, *_TCP_SETTINGS)
_BY_KEY = {s.key: s for s in REMOTE_SERVER_SETTINGS}


@dataclass(frozen=True)
class RemoteServerSettings:
    enabled: bool
    bind_host: str
    publish_host: str | None
    port: int
    publish_port: int | None


def remote_server_settings(
    flat: Mapping[str, Any], transport_bind_host: str
) -> RemoteServerSettings:
    """The server's settings; raises ES's error for a ``_remote_cluster`` transport profile."""

    def get(key: str) -> Any:
        setting = _BY_KEY[key]
        raw = flat.get(key)
        return setting.default if raw is None else setting.coerce(key, raw)

    enabled = bool(get("remote_cluster_server.enabled"))
    if enabled and any(k.startswith(f"transport.profiles.{REMOTE_CLUSTER_PROFILE}.") for k in flat):
        raise SettingsError(
            f"Remote Access settings should not be configured using the [{REMOTE_CLUSTER_PROFILE}] "
            "profile. Use the [remote_cluster.] settings instead."
        )
    host = get("remote_cluster.host")
    bind = get("remote_cluster.bind_host") or host or transport_bind_host
    publish = get("remote_cluster.publish_host") or host
    publish_port = int(get("remote_cluster.publish_port"))
    return RemoteServerSettings(
        enabled=enabled,
        bind_host=str(bind),
        publish_host=None if publish is None else str(publish),
        port=int(get("remote_cluster.port")),
        publish_port=publish_port if publish_port > 0 else None,
    )


def remote_server_tcp(flat: Mapping[str, Any], base: TcpOptions) -> TcpOptions:
    """The remote cluster server's TCP options: ``base`` (the transport's) with every
    ``remote_cluster.tcp.*`` that is set in its place."""
    values: dict[str, Any] = {}
    for key, raw in flat.items():
        if key.startswith("remote_cluster.tcp.") and raw is not None:
            setting = _BY_KEY.get(key)
            if setting is not None:
                values[key[len("remote_cluster.tcp.") :]] = setting.coerce(key, raw)
    overrides = {
        name: value
        for name, value in values.items()
        if name
        in ("keep_alive", "keep_idle", "keep_interval", "keep_count", "no_delay", "reuse_address")
    }
    if "user_timeout" in values:
        overrides["user_timeout_ms"] = values["user_timeout"].millis
    return replace(base, **overrides)
