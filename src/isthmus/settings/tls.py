"""The TLS settings of each profile, declared: ``xpack.security.<profile>.ssl.*``.  [no I/O]

Four profiles, each with ES's keys and defaults: ``http``, ``transport``, ``remote_cluster_server``
and ``remote_cluster_client``. Declared here once, as data (:data:`TLS_SETTINGS`, gathered by
:mod:`isthmus.settings.catalog`); :mod:`isthmus.security.tls` parses a profile's values into its
``SslConfig`` and builds the ``ssl`` contexts. The keystore passwords of these profiles are secure
settings (:mod:`isthmus.settings.secure`).
"""

from __future__ import annotations

from collections.abc import Callable

from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting

PROFILES = ("http", "transport", "remote_cluster_server", "remote_cluster_client")
SERVER_PROFILES = ("http", "transport", "remote_cluster_server")  # the listeners
CLIENT_AUTH_DEFAULT = {
    "http": "none",
    "transport": "required",
    "remote_cluster_server": "none",
    "remote_cluster_client": "none",
}
ENABLED_DEFAULT = {
    "http": False,
    "transport": False,
    "remote_cluster_server": True,
    "remote_cluster_client": True,
}
SUPPORTED_PROTOCOLS_DEFAULT = ("TLSv1.3", "TLSv1.2")
# Isthmus: how long an accepted connection may take to finish its TLS handshake (ES relies on
# Netty's SslHandler default, 10 s). Outgoing connections are bounded by their connect timeout
# (transport.connect_timeout), which includes the TLS handshake.
HANDSHAKE_TIMEOUT = v.TimeValue(10_000, "10s")


def prefix(profile: str) -> str:
    return f"xpack.security.{profile}.ssl"


def _choice(*allowed: str) -> Callable[[object], str]:
    def parse(raw: object) -> str:
        text = str(raw).lower()
        if text not in allowed:
            raise ValueError(
                f"unknown value [{raw}] for setting [{{key}}], expected one of {list(allowed)}"
            )
        return text

    return parse


def _profile_settings(profile: str) -> tuple[Setting, ...]:
    p = prefix(profile)
    declared = (
        Setting(f"{p}.enabled", v.parse_bool, ENABLED_DEFAULT[profile], Scope.NODE),
        Setting(f"{p}.key", v.parse_str, None, Scope.NODE),
        Setting(f"{p}.certificate", v.parse_str, None, Scope.NODE),
        Setting(f"{p}.certificate_authorities", v.parse_str_list, (), Scope.NODE),
        Setting(f"{p}.keystore.path", v.parse_str, None, Scope.NODE),
        Setting(f"{p}.keystore.type", v.parse_str, None, Scope.NODE),
        Setting(f"{p}.truststore.path", v.parse_str, None, Scope.NODE),
        Setting(f"{p}.truststore.type", v.parse_str, None, Scope.NODE),
        Setting(
            f"{p}.verification_mode", _choice("full", "certificate", "none"), "full", Scope.NODE
        ),
        Setting(
            f"{p}.client_authentication",
            _choice("none", "optional", "required"),
            CLIENT_AUTH_DEFAULT[profile],
            Scope.NODE,
        ),
        Setting(
            f"{p}.supported_protocols", v.parse_str_list, SUPPORTED_PROTOCOLS_DEFAULT, Scope.NODE
        ),
        Setting(f"{p}.cipher_suites", v.parse_str_list, (), Scope.NODE),
    )
    if profile not in SERVER_PROFILES:
        return declared
    return (
        *declared,
        Setting(f"{p}.handshake_timeout", v.parse_time, HANDSHAKE_TIMEOUT, Scope.NODE),
    )


# ES's resource watcher: how often certificate, key and CA files are checked for changes.
RELOAD_SETTINGS: tuple[Setting, ...] = (
    Setting("resource.reload.enabled", v.parse_bool, True, Scope.NODE),
    Setting("resource.reload.interval.high", v.parse_time, v.TimeValue(5_000, "5s"), Scope.NODE),
)

TLS_SETTINGS: tuple[Setting, ...] = (
    *(s for p in PROFILES for s in _profile_settings(p)),
    *RELOAD_SETTINGS,
)
_BY_KEY = {s.key: s for s in TLS_SETTINGS}


def tls_setting(key: str) -> Setting:
    """The declaration of one TLS key (``KeyError`` for a key that is not a TLS setting)."""
    return _BY_KEY[key]
