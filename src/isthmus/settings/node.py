"""The frozen settings of one node, parsed once at startup.  [no I/O]"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isthmus.settings.catalog import find
from isthmus.settings.registry import Scope


def _get(flat: Mapping[str, Any], key: str) -> Any:
    setting = find(key, (Scope.NODE, Scope.CLUSTER))
    assert setting is not None, key
    if key in flat:
        return setting.coerce(key, flat[key])
    return setting.default


@dataclass(frozen=True)
class NodeSettings:
    cluster_name: str
    node_name: str
    roles: tuple[str, ...]
    attributes: dict[str, str]
    home: Path
    config_dir: Path
    path_data: Path
    path_logs: Path
    http_bind_host: str
    http_publish_host: str
    http_ports: tuple[int, int]
    transport_bind_host: str
    transport_ports: tuple[int, int]
    max_content_length: int
    security_enabled: bool
    raw: dict[str, Any] = field(default_factory=dict)
    # ES's chain for the address other nodes dial: transport.publish_host, transport.host,
    # network.publish_host, network.host (the bind host has a chain of its own).
    transport_publish_host: str | None = None

    def get(self, key: str) -> Any:
        """A registered setting's value parsed by its registry entry, or its default: the one
        way to read a setting that has no field here (no raw reads with ad-hoc defaults)."""
        return _get(self.raw, key)

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any], config_dir: Path) -> NodeSettings:
        home = config_dir.resolve().parent

        def path(key: str) -> Path:
            p = Path(str(_get(flat, key)))
            return p if p.is_absolute() else home / p

        network = str(_get(flat, "network.host"))
        http_bind = (
            _get(flat, "http.bind_host")
            or _get(flat, "http.host")
            or _get(flat, "network.bind_host")
            or network
        )
        http_publish = (
            _get(flat, "http.publish_host")
            or _get(flat, "http.host")
            or _get(flat, "network.publish_host")
            or network
        )
        transport_bind = (
            _get(flat, "transport.bind_host")
            or _get(flat, "transport.host")
            or _get(flat, "network.bind_host")
            or network
        )
        attrs = {
            k[len("node.attr.") :]: str(v) for k, v in flat.items() if k.startswith("node.attr.")
        }
        return cls(
            cluster_name=str(_get(flat, "cluster.name")),
            # platform.node() is gethostname(2); the socket module stays out of this module.
            node_name=str(_get(flat, "node.name") or platform.node()),
            roles=tuple(_get(flat, "node.roles")),
            attributes=attrs,
            home=home,
            config_dir=config_dir.resolve(),
            path_data=path("path.data"),
            path_logs=path("path.logs"),
            http_bind_host=_resolve_special(str(http_bind)),
            http_publish_host=_resolve_special(str(http_publish)),
            http_ports=_get(flat, "http.port"),
            transport_bind_host=_resolve_special(str(transport_bind)),
            transport_ports=_get(flat, "transport.port"),
            max_content_length=int(_get(flat, "http.max_content_length")),
            security_enabled=bool(_get(flat, "xpack.security.enabled")),
            raw=dict(flat),
            transport_publish_host=_resolve_special(
                str(
                    _get(flat, "transport.publish_host")
                    or _get(flat, "transport.host")
                    or _get(flat, "network.publish_host")
                    or network
                )
            ),
        )


def _resolve_special(host: str) -> str:
    """ES's special network values: ``_local_`` → loopback, ``_site_``/``_global_`` → any."""
    special = {"_local_": "127.0.0.1", "_site_": "0.0.0.0", "_global_": "0.0.0.0"}
    return special.get(host, host)
