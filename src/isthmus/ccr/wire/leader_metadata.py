"""The payloads of a follower asking for its leader's metadata on ``cluster:monitor/state``: one
index's (what a follower index needs to create itself) or the indices matching patterns
(auto-follow).  [no I/O]

The package docstring (:mod:`isthmus.ccr.wire`) lists every action and its payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from isthmus.ccr.wire.fields import _int, _is_int, _map, _str
from isthmus.errors import IllegalArgumentError


@dataclass(frozen=True, slots=True)
class LeaderIndexMetadataRequest:
    """One leader index's metadata, asked as ES's follower asks the remote cluster state
    (``cluster:monitor/state`` with ``metadata`` and one index)."""

    index: str

    def to_payload(self) -> dict[str, Any]:
        return {"metadata": True, "indices": [self.index]}

    @staticmethod
    def is_one(value: Any) -> bool:
        """Whether a ``cluster:monitor/state`` payload asks for index metadata, one index's or
        a listing (the same action without it asks for the nodes, as a sniffing remote does)."""
        return isinstance(value, dict) and value.get("metadata") is True

    @classmethod
    def from_payload(cls, value: Any) -> LeaderIndexMetadataRequest:
        what = "cluster state request"
        body = _map(value, what)
        indices = body.get("indices")
        if not isinstance(indices, list) or len(indices) != 1 or not isinstance(indices[0], str):
            raise IllegalArgumentError(f"{what} needs exactly one index in [indices]")
        return cls(indices[0])


@dataclass(frozen=True, slots=True)
class LeaderIndexMetadataResponse:
    """What a follower needs to create itself from a leader index: its uuid and state, shard
    count, mapping (ES's JSON), settings (every ``index.*`` setting, flat, as strings: the
    follower chooses which to copy), aliases (name → ES's alias JSON), the three metadata
    versions, and each shard's history uuid (index = shard number). ``data_stream``: the data
    stream the index backs (ES's remote ``DataStream``, as the stream's stored JSON: name,
    generation, hidden, system, ``_meta``...), which a follower copies into its own."""

    index: str
    uuid: str
    state: str  # "open" | "close"
    number_of_shards: int
    mapping: dict[str, Any]
    settings: dict[str, str]
    aliases: dict[str, Any]
    mapping_version: int
    settings_version: int
    aliases_version: int
    shard_history_uuids: tuple[str, ...] = field(default=())
    data_stream: dict[str, Any] | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "data_stream": self.data_stream,
            "index": self.index,
            "uuid": self.uuid,
            "state": self.state,
            "number_of_shards": self.number_of_shards,
            "mapping": self.mapping,
            "settings": self.settings,
            "aliases": self.aliases,
            "mapping_version": self.mapping_version,
            "settings_version": self.settings_version,
            "aliases_version": self.aliases_version,
            "shard_history_uuids": list(self.shard_history_uuids),
        }

    @classmethod
    def from_payload(cls, value: Any) -> LeaderIndexMetadataResponse:
        what = "leader index metadata"
        body = _map(value, what)
        mapping, settings, aliases = body.get("mapping"), body.get("settings"), body.get("aliases")
        if not isinstance(mapping, dict) or not isinstance(aliases, dict):
            raise IllegalArgumentError(f"{what} needs [mapping] and [aliases] maps")
        if not isinstance(settings, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in settings.items()
        ):
            raise IllegalArgumentError(f"{what} field [settings] must map names to strings")
        uuids = body.get("shard_history_uuids")
        if not isinstance(uuids, list) or not all(isinstance(u, str) for u in uuids):
            raise IllegalArgumentError(f"{what} field [shard_history_uuids] must list strings")
        state = _str(body, "state", what)
        if state not in ("open", "close"):
            raise IllegalArgumentError(f"{what} has unknown state [{state}]")
        stream = body.get("data_stream")  # absent from a leader that predates data streams
        if stream is not None:
            stream = _map(stream, f"{what} field [data_stream]")
            _str(stream, "name", f"{what} data stream")
            _int(stream, "generation", f"{what} data stream", low=1)
        return cls(
            index=_str(body, "index", what),
            uuid=_str(body, "uuid", what),
            state=state,
            number_of_shards=_int(body, "number_of_shards", what, low=1),
            mapping=mapping,
            settings=settings,
            aliases=aliases,
            mapping_version=_int(body, "mapping_version", what, low=0),
            settings_version=_int(body, "settings_version", what, low=0),
            aliases_version=_int(body, "aliases_version", what, low=0),
            shard_history_uuids=tuple(uuids),
            data_stream=stream,
        )


@dataclass(frozen=True, slots=True)
class LeaderIndicesRequest:
    """The leader cluster's concrete indices matching ``patterns`` (``*`` wildcards; none: all),
    asked as ES's auto-follow coordinator reads the remote cluster state's metadata."""

    patterns: tuple[str, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        return {"metadata": True, "list": True, "indices": list(self.patterns)}

    @staticmethod
    def is_one(value: Any) -> bool:
        return (
            isinstance(value, dict) and value.get("metadata") is True and value.get("list") is True
        )

    @classmethod
    def from_payload(cls, value: Any) -> LeaderIndicesRequest:
        body = _map(value, "cluster state request")
        patterns = body.get("indices", [])
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise IllegalArgumentError("cluster state request field [indices] must list names")
        return cls(tuple(patterns))


@dataclass(frozen=True, slots=True)
class LeaderIndexSummary:
    """One leader index as auto-follow sees it; ``data_stream``: the stream it backs."""

    name: str
    uuid: str
    state: str  # "open" | "close"
    creation_date: int
    is_follower: bool  # itself a follower index (index.xpack.ccr.following_index)
    hidden: bool
    data_stream: str | None = None

    def to_payload(self) -> list[Any]:
        return [
            self.name,
            self.uuid,
            self.state,
            self.creation_date,
            self.is_follower,
            self.hidden,
            self.data_stream,
        ]

    @classmethod
    def from_payload(cls, value: Any) -> LeaderIndexSummary:
        what = "leader index summary"
        # 6 fields from a leader that predates data streams, 7 since.
        if not isinstance(value, list | tuple) or len(value) not in (6, 7):
            raise IllegalArgumentError(f"{what} must be a list of 6 or 7 fields")
        name, uuid, state, created, follower, hidden = value[:6]
        stream = value[6] if len(value) == 7 else None
        if not (isinstance(name, str) and isinstance(uuid, str) and state in ("open", "close")):
            raise IllegalArgumentError(f"{what} needs a name, a uuid and a state")
        if not _is_int(created) or type(follower) is not bool or type(hidden) is not bool:
            raise IllegalArgumentError(f"{what} has malformed fields")
        if stream is not None and not isinstance(stream, str):
            raise IllegalArgumentError(f"{what} has a malformed data stream name")
        return cls(name, uuid, state, created, follower, hidden, stream)


@dataclass(frozen=True, slots=True)
class LeaderIndicesResponse:
    indices: tuple[LeaderIndexSummary, ...]

    def to_payload(self) -> dict[str, Any]:
        return {"indices": [index.to_payload() for index in self.indices]}

    @classmethod
    def from_payload(cls, value: Any) -> LeaderIndicesResponse:
        indices = _map(value, "leader indices").get("indices")
        if not isinstance(indices, list):
            raise IllegalArgumentError("leader indices field [indices] must be a list")
        return cls(tuple(LeaderIndexSummary.from_payload(i) for i in indices))
