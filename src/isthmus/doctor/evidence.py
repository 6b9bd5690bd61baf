"""What the doctor collected, as plain values: REST answers, config files, per side.  [no I/O]

:mod:`isthmus.doctor.collect` fills these from live clusters and :mod:`isthmus.doctor.bundle`
from a bundle file; the rules read them only through the accessors below, so a rule never
knows whether it runs live or offline. Every API answer is kept as ES returned it (an
:class:`ApiResult` keyed by ``"GET /path"``), pruned of what the doctor does not need, with
secrets already redacted by the collector.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REDACTED = "::es_redacted::"

# The calls the doctor makes, by name (the same keys in a bundle). Index and alias parts are
# filled per alias: see ``search_key`` and ``resolve_key``.
ROOT = "GET /"
REMOTE_INFO = "GET /_remote/info"
CLUSTER_SETTINGS = "GET /_cluster/settings"
NODES = "GET /_nodes"
AUTHENTICATE = "GET /_security/_authenticate"
PRIVILEGES = "GET /_security/user/_privileges"
ROLES = "GET /_security/role"
API_KEYS = "GET /_security/api_key"
SSL_CERTIFICATES = "GET /_ssl/certificates"
ISTHMUS_HEALTH = "GET /_isthmus/remote/health"


def node_remote_info_key(node_name: str) -> str:
    """``_remote/info`` asked of one node of a cluster of several (each node has its own
    connections and its own keystore: ES answers for the node asked)."""
    return f"{REMOTE_INFO} on [{node_name}]"


def resolve_key(alias: str, index: str) -> str:
    return f"GET /_resolve/cluster/{alias}:{index}"


def search_key(alias: str, index: str) -> str:
    return f"POST /{alias}:{index}/_search"


def resolve_index_key(index: str) -> str:
    return f"GET /_resolve/index/{index}"


def api_key_key(key_id: str) -> str:
    return f"{API_KEYS}?id={key_id}"


@dataclass(frozen=True)
class ApiResult:
    """One API answer: the HTTP status and JSON body, or why there was no answer."""

    status: int | None  # None: no HTTP answer at all (refused, TLS, timeout)
    body: Any = None
    error: str | None = None  # the client-side failure when there was no answer

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body, "error": self.error}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ApiResult:
        status = raw.get("status")
        return cls(int(status) if status is not None else None, raw.get("body"), raw.get("error"))


@dataclass(frozen=True)
class ConfigEvidence:
    """One node's configuration directory: yml settings, keystore entry names (never values)."""

    directory: str
    settings: Mapping[str, Any] = field(default_factory=dict)  # flat keys
    keystore_names: tuple[str, ...] | None = None  # None: no readable keystore
    keystore_note: str | None = None  # why the names could not be read
    # alias -> the id of the cross-cluster API key its keystore credential holds (the id only:
    # ES logs and lists it; the secret is never read into the evidence)
    credential_key_ids: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "settings": dict(self.settings),
            "keystore_names": list(self.keystore_names)
            if self.keystore_names is not None
            else None,
            "keystore_note": self.keystore_note,
            "credential_key_ids": dict(self.credential_key_ids),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ConfigEvidence:
        names = raw.get("keystore_names")
        return cls(
            str(raw.get("directory", "")),
            dict(raw.get("settings") or {}),
            tuple(names) if names is not None else None,
            raw.get("keystore_note"),
            {str(k): str(v) for k, v in (raw.get("credential_key_ids") or {}).items()},
        )


@dataclass(frozen=True)
class SideEvidence:
    """Everything known about one cluster (``local`` or ``remote``)."""

    url: str  # without credentials
    calls: Mapping[str, ApiResult] = field(default_factory=dict)
    configs: tuple[ConfigEvidence, ...] = ()  # one per node configuration directory given

    def call(self, key: str) -> ApiResult | None:
        return self.calls.get(key)

    def body(self, key: str) -> Any:
        """The body of a successful call, or None."""
        result = self.calls.get(key)
        return result.body if result is not None and result.ok else None

    # --- typed views -----------------------------------------------------------------------

    @property
    def reachable(self) -> bool:
        root = self.calls.get(ROOT)
        return root is not None and root.ok

    @property
    def version(self) -> tuple[int, int, int] | None:
        root = self.body(ROOT)
        if not isinstance(root, Mapping):
            return None
        return parse_version(str(root.get("version", {}).get("number", "")))

    @property
    def cluster_name(self) -> str | None:
        root = self.body(ROOT)
        return str(root.get("cluster_name")) if isinstance(root, Mapping) else None

    @property
    def cluster_uuid(self) -> str | None:
        root = self.body(ROOT)
        return str(root.get("cluster_uuid")) if isinstance(root, Mapping) else None

    def remote_info_by_node(self, alias: str) -> dict[str, Mapping[str, Any] | None]:
        """Node name -> that node's ``_remote/info`` entry for ``alias`` (None: the node has
        none), for the nodes asked one by one (a cluster of several nodes); empty otherwise."""
        out: dict[str, Mapping[str, Any] | None] = {}
        for node in self.nodes.values():
            name = str(node.get("name"))
            info = self.body(node_remote_info_key(name))
            if isinstance(info, Mapping):
                entry = info.get(alias)
                out[name] = entry if isinstance(entry, Mapping) else None
        return out

    def remote_info(self, alias: str) -> Mapping[str, Any] | None:
        info = self.body(REMOTE_INFO)
        if isinstance(info, Mapping) and isinstance(info.get(alias), Mapping):
            out: Mapping[str, Any] = info[alias]
            return out
        return None

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every alias the cluster knows: from _remote/info and from its cluster settings."""
        names: set[str] = set()
        info = self.body(REMOTE_INFO)
        if isinstance(info, Mapping):
            names.update(str(a) for a in info)
        names.update(self.remote_settings())
        return tuple(sorted(names))

    def remote_settings(self) -> dict[str, dict[str, Any]]:
        """``cluster.remote.<alias>.*`` per alias, transient over persistent (as ES applies
        them), from _cluster/settings and then each config directory's yml."""
        out: dict[str, dict[str, Any]] = {}
        body = self.body(CLUSTER_SETTINGS)
        layers: list[Mapping[str, Any]] = [c.settings for c in self.configs]
        if isinstance(body, Mapping):
            layers += [flatten(body.get("persistent", {})), flatten(body.get("transient", {}))]
        for layer in layers:
            for key, value in layer.items():
                parts = key.split(".")
                if len(parts) >= 4 and parts[0] == "cluster" and parts[1] == "remote":
                    alias, name = parts[2], ".".join(parts[3:])
                    out.setdefault(alias, {})[name] = value
        return out

    @property
    def nodes(self) -> dict[str, Mapping[str, Any]]:
        """Node id -> node info (pruned _nodes)."""
        body = self.body(NODES)
        if isinstance(body, Mapping) and isinstance(body.get("nodes"), Mapping):
            return {str(k): v for k, v in body["nodes"].items() if isinstance(v, Mapping)}
        return {}

    def remote_cluster_server_addresses(self) -> dict[str, list[str]]:
        """Node name -> its remote cluster server publish and bound addresses (empty when the
        server is disabled on that node)."""
        out: dict[str, list[str]] = {}
        for node in self.nodes.values():
            server = node.get("remote_cluster_server") or {}
            addresses = [str(a) for a in server.get("bound_address", [])]
            if server.get("publish_address"):
                addresses.insert(0, str(server["publish_address"]))
            out[str(node.get("name"))] = addresses
        return out

    def transport_addresses(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for node in self.nodes.values():
            transport = node.get("transport") or {}
            addresses = [str(a) for a in transport.get("bound_address", [])]
            if node.get("transport_address"):
                addresses.insert(0, str(node["transport_address"]))
            out[str(node.get("name"))] = addresses
        return out

    def http_addresses(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for node in self.nodes.values():
            http = node.get("http") or {}
            addresses = [str(a) for a in http.get("bound_address", [])]
            if http.get("publish_address"):
                addresses.insert(0, str(http["publish_address"]))
            out[str(node.get("name"))] = addresses
        return out

    def keystore_names(self) -> list[tuple[str, tuple[str, ...] | None]]:
        return [(c.directory, c.keystore_names) for c in self.configs]

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "calls": {k: v.to_json() for k, v in self.calls.items()},
            "configs": [c.to_json() for c in self.configs],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SideEvidence:
        return cls(
            str(raw.get("url", "")),
            {str(k): ApiResult.from_json(v) for k, v in (raw.get("calls") or {}).items()},
            tuple(ConfigEvidence.from_json(c) for c in raw.get("configs") or ()),
        )


def parse_version(number: str) -> tuple[int, int, int] | None:
    """``"8.17.1"`` -> (8, 17, 1); suffixes such as ``-SNAPSHOT`` are ignored."""
    head = number.split("-", 1)[0].split(".")
    try:
        parts = [int(p) for p in head[:3]]
    except ValueError:
        return None
    if not parts:
        return None
    while len(parts) < 3:
        parts.append(0)
    return (parts[0], parts[1], parts[2])


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested settings map as flat dotted keys (lists are values, as ES keeps them)."""
    out: dict[str, Any] = {}
    if not isinstance(tree, Mapping):
        return {prefix: tree} if prefix else {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def truthy(value: Any) -> bool:
    """A setting's boolean as ES reads it (``true``/``"true"``; Isthmus shows ``"True"``)."""
    return str(value).strip().lower() == "true"
