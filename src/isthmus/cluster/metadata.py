"""Cluster metadata values and the rules on their names.  [no I/O]"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field, replace
from typing import Any

from isthmus.cluster.shard_routing import IndexRouting
from isthmus.errors import InvalidAliasNameError, InvalidIndexNameError
from isthmus.index.mapping import Mapping

_FORBIDDEN = ' "*\\<|,>/?'


def new_uuid() -> str:
    """A 22-character URL-safe id, the shape of ES's index and node UUIDs."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def validate_index_name(name: str, *, alias: bool = False) -> None:
    """ES's index-name rules, with its messages (aliases skip the lowercase rule)."""
    size = len(name.encode())
    if size > 255:
        raise InvalidIndexNameError(name, f"index name is too long, ({size} > 255)")
    if not name:
        raise InvalidIndexNameError(name, "must not be empty")
    if any(c in name for c in _FORBIDDEN):
        raise InvalidIndexNameError(
            name, 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]'
        )
    if "#" in name:
        raise InvalidIndexNameError(name, "must not contain '#'")
    if ":" in name:
        raise InvalidIndexNameError(name, "must not contain ':'")
    if name[0] in "_-+":
        raise InvalidIndexNameError(name, "must not start with '_', '-', or '+'")
    if name != name.lower() and not alias:
        raise InvalidIndexNameError(name, "must be lowercase")
    if name in (".", ".."):
        raise InvalidIndexNameError(name, "must not be '.' or '..'")


def validate_alias_name(alias: str, index: str | None = None) -> None:
    try:
        validate_index_name(alias, alias=True)
    except InvalidIndexNameError as exc:
        why = exc.reason.split("], ", 1)[1]
        raise InvalidAliasNameError(f"Invalid alias name [{alias}]: {why}") from None


@dataclass(frozen=True)
class AliasMetadata:
    name: str
    filter: dict[str, Any] | None = None
    index_routing: str | None = None
    search_routing: str | None = None
    is_write_index: bool | None = None
    is_hidden: bool | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.filter is not None:
            out["filter"] = self.filter
        if self.index_routing is not None:
            out["index_routing"] = self.index_routing
        if self.search_routing is not None:
            out["search_routing"] = self.search_routing
        if self.is_write_index is not None:
            out["is_write_index"] = self.is_write_index
        if self.is_hidden is not None:
            out["is_hidden"] = self.is_hidden
        return out

    @classmethod
    def from_json(cls, name: str, body: AbcMapping[str, Any]) -> AliasMetadata:
        routing = body.get("routing")
        return cls(
            name=name,
            filter=body.get("filter"),
            index_routing=body.get("index_routing", routing),
            search_routing=body.get("search_routing", routing),
            is_write_index=body.get("is_write_index"),
            is_hidden=body.get("is_hidden"),
        )


@dataclass(frozen=True)
class IndexMetadata:
    name: str
    uuid: str
    settings: dict[str, str]  # flat "index.*" keys, values as ES renders them (strings)
    mapping: Mapping
    aliases: dict[str, AliasMetadata] = field(default_factory=dict)
    state: str = "open"
    creation_date: int = 0
    version: int = 1
    mapping_version: int = 1
    settings_version: int = 1
    aliases_version: int = 1
    # ES's custom index metadata: a map of string maps by key (cross-cluster replication keeps
    # the leader's identity under "ccr"; see isthmus.ccr.follower_index).
    custom: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def number_of_shards(self) -> int:
        return int(self.settings.get("index.number_of_shards", "1"))

    @property
    def number_of_replicas(self) -> int:
        return int(self.settings.get("index.number_of_replicas", "1"))

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    @property
    def hidden(self) -> bool:
        return self.settings.get("index.hidden") == "true"

    def setting(self, key: str, default: str) -> str:
        return self.settings.get(key, default)

    def with_mapping(self, mapping: Mapping) -> IndexMetadata:
        return replace(
            self,
            mapping=mapping,
            version=self.version + 1,
            mapping_version=self.mapping_version + 1,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uuid": self.uuid,
            "settings": self.settings,
            "mappings": self.mapping.to_json(),
            "aliases": {k: a.to_json() for k, a in self.aliases.items()},
            "state": self.state,
            "creation_date": self.creation_date,
            "version": self.version,
            "mapping_version": self.mapping_version,
            "settings_version": self.settings_version,
            "aliases_version": self.aliases_version,
            **({"custom": self.custom} if self.custom else {}),
        }

    @classmethod
    def from_json(cls, body: AbcMapping[str, Any]) -> IndexMetadata:
        return cls(
            name=body["name"],
            uuid=body["uuid"],
            settings=dict(body["settings"]),
            mapping=Mapping(body.get("mappings") or {}, stored=True),
            aliases={k: AliasMetadata.from_json(k, v) for k, v in body.get("aliases", {}).items()},
            state=body.get("state", "open"),
            creation_date=int(body.get("creation_date", 0)),
            version=int(body.get("version", 1)),
            mapping_version=int(body.get("mapping_version", 1)),
            settings_version=int(body.get("settings_version", 1)),
            aliases_version=int(body.get("aliases_version", 1)),
            custom={k: dict(v) for k, v in (body.get("custom") or {}).items()},
        )


@dataclass(frozen=True)
class ClusterMetadata:
    cluster_uuid: str
    indices: dict[str, IndexMetadata] = field(default_factory=dict)
    persistent: dict[str, Any] = field(default_factory=dict)
    transient: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    # ES's cluster-level custom metadata by type (cross-cluster replication keeps its auto-follow
    # patterns here; see isthmus.ccr.auto_follow). Persisted.
    customs: dict[str, Any] = field(default_factory=dict)
    # The routing table by index uuid (a cluster of several nodes only; empty on one node, where
    # every primary is the node's: see isthmus.cluster.shard_routing).
    routing: dict[str, IndexRouting] = field(default_factory=dict)
    # The node's own settings (isthmus.yml and -E): the layer under persistent and transient
    # that a dynamic cluster setting falls back to, as ES's ClusterSettings do. Not persisted
    # (it is read from the node's configuration at every start) and not part of equality.
    node_settings: AbcMapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def index(self, name: str) -> IndexMetadata | None:
        return self.indices.get(name)

    def by_uuid(self, index_uuid: str) -> IndexMetadata | None:
        return next((m for m in self.indices.values() if m.uuid == index_uuid), None)

    def aliases(self) -> dict[str, list[IndexMetadata]]:
        """Alias name → the indices it points to."""
        out: dict[str, list[IndexMetadata]] = {}
        for meta in self.indices.values():
            for alias in meta.aliases:
                out.setdefault(alias, []).append(meta)
        return out

    def setting(self, key: str) -> Any:
        """Effective dynamic setting: transient over persistent over the node's yml/-E (None
        when unset)."""
        if key in self.transient:
            return self.transient[key]
        if key in self.persistent:
            return self.persistent[key]
        return self.node_settings.get(key)

    def typed_setting(self, key: str) -> Any:
        """A registered dynamic cluster setting's effective value, parsed by its registry entry
        (its registered default when unset): callers never repeat a default or a parser."""
        from isthmus.settings.catalog import find
        from isthmus.settings.registry import Scope

        entry = find(key, (Scope.CLUSTER,))
        assert entry is not None, key
        raw = self.setting(key)
        return entry.default if raw is None else entry.coerce(key, raw)

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster_uuid": self.cluster_uuid,
            "indices": [m.to_json() for m in self.indices.values()],
            "persistent": self.persistent,
            "version": self.version,
            **({"customs": self.customs} if self.customs else {}),
            **({"routing": [r.to_json() for r in self.routing.values()]} if self.routing else {}),
        }

    @classmethod
    def from_json(cls, body: AbcMapping[str, Any]) -> ClusterMetadata:
        indices = [IndexMetadata.from_json(m) for m in body.get("indices", [])]
        return cls(
            cluster_uuid=body["cluster_uuid"],
            indices={m.name: m for m in indices},
            persistent=dict(body.get("persistent", {})),
            version=int(body.get("version", 0)),
            customs=dict(body.get("customs") or {}),
            routing={
                r.index_uuid: r
                for r in (IndexRouting.from_json(x) for x in body.get("routing") or [])
            },
        )
