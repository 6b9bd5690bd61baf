"""Data streams: a name over hidden backing indices, written to append-only.  [no I/O]

ES's model (``DataStream``, ``MetadataCreateDataStreamService``): a data stream is created by
the first write to a name that a composable template with ``data_stream: {}`` matches (or by
``PUT /_data_stream/<name>``); its documents live in backing indices named
``.ds-<name>-<yyyy.MM.dd>-<generation, 6 digits>``, hidden, the last of which takes every write.
A rollover adds a backing index of the next generation. Reads of the name reach every backing
index; writes accept only ``op_type=create`` and need ``@timestamp``.

The streams live in the cluster metadata's customs (persisted with it). This module owns their
values, names, and the rules a write meets; the APIs are in :mod:`isthmus.actions.data_streams`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from isthmus.cluster.metadata import ClusterMetadata, validate_index_name
from isthmus.errors import (
    DataStreamAlreadyExistsError,
    DocumentParsingError,
    IllegalArgumentError,
    InvalidIndexNameError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
)

CUSTOM_KEY = "data_stream"
BACKING_PREFIX = ".ds-"
TIMESTAMP_FIELD = "@timestamp"
ONLY_CREATE = "only write ops with an op_type of create are allowed in data streams"


@dataclass(frozen=True)
class DataStream:
    name: str
    indices: tuple[str, ...]  # backing index names, oldest first; the last is the write index
    generation: int = 1
    hidden: bool = False
    allow_custom_routing: bool = False
    meta: dict[str, Any] | None = None
    system: bool = False
    replicated: bool = False
    created: int = field(default=0, compare=False)

    @property
    def write_index(self) -> str:
        return self.indices[-1]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "indices": list(self.indices),
            "generation": self.generation,
            "hidden": self.hidden,
            "allow_custom_routing": self.allow_custom_routing,
            "system": self.system,
            "replicated": self.replicated,
            "created": self.created,
        }
        if self.meta is not None:
            out["_meta"] = self.meta
        return out

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> DataStream:
        return cls(
            name=body["name"],
            indices=tuple(body["indices"]),
            generation=int(body.get("generation", 1)),
            hidden=bool(body.get("hidden", False)),
            allow_custom_routing=bool(body.get("allow_custom_routing", False)),
            meta=body.get("_meta"),
            system=bool(body.get("system", False)),
            replicated=bool(body.get("replicated", False)),
            created=int(body.get("created", 0)),
        )


# The last customs section parsed and its values: every search resolves its expression and every
# write to a backing index looks for its stream, while the section changes only with the
# metadata (a new dict each time, never mutated in place), so one remembered pair saves
# re-parsing it per request. Read-only callers share the values (frozen).
_parsed: tuple[object, dict[str, DataStream]] = (None, {})


def streams(meta: ClusterMetadata) -> dict[str, DataStream]:
    global _parsed
    raw = meta.customs.get(CUSTOM_KEY) or {}
    last_raw, last = _parsed
    if raw is last_raw:
        return dict(last)
    found = {n: DataStream.from_json(b) for n, b in raw.items()}
    _parsed = (raw, found)
    return dict(found)


def with_streams(meta: ClusterMetadata, found: Mapping[str, DataStream]) -> ClusterMetadata:
    customs = {k: v for k, v in meta.customs.items() if k != CUSTOM_KEY}
    if found:
        customs[CUSTOM_KEY] = {n: s.to_json() for n, s in sorted(found.items())}
    return replace(meta, customs=customs)


def stream(meta: ClusterMetadata, name: str) -> DataStream | None:
    raw = (meta.customs.get(CUSTOM_KEY) or {}).get(name)
    return None if raw is None else DataStream.from_json(raw)


# Backing index → stream name, for the same customs section as :data:`_parsed` (a write asks
# for every document it writes to a backing index).
_owners: tuple[object, dict[str, str]] = (None, {})


def parent_of(meta: ClusterMetadata, index: str) -> DataStream | None:
    """The data stream ``index`` backs, if any. Any name may: a follower of a leader's backing
    index may be named freely (ES 8.4+), and ES's shrunk or restored backing indices too."""
    global _owners
    raw = meta.customs.get(CUSTOM_KEY)
    if not raw:
        return None
    last_raw, owners = _owners
    if raw is not last_raw:
        owners = {i: name for name, body in raw.items() for i in body["indices"]}
        _owners = (raw, owners)
    owner = owners.get(index)
    return None if owner is None else stream(meta, owner)


def backing_index_name(name: str, generation: int, epoch_millis: int | None = None) -> str:
    """ES's ``DataStream.getDefaultBackingIndexName``: the date is the day the index is made."""
    when = time.gmtime((epoch_millis if epoch_millis is not None else time.time() * 1000) / 1000)
    return f"{BACKING_PREFIX}{name}-{time.strftime('%Y.%m.%d', when)}-{generation:06d}"


def validate_stream_name(name: str) -> None:
    """ES's ``MetadataCreateDataStreamService.validateDataStreamName`` with its messages."""
    if name != name.lower():
        raise IllegalArgumentError(f"data_stream [{name}] must be lowercase")
    if name.startswith(BACKING_PREFIX):
        raise IllegalArgumentError(f"data_stream [{name}] must not start with '{BACKING_PREFIX}'")
    try:
        validate_index_name(name)
    except InvalidIndexNameError as exc:
        why = exc.reason.split("], ", 1)[1]
        raise IllegalArgumentError(f"data_stream [{name}] {why}") from None


def check_name_free(meta: ClusterMetadata, name: str) -> None:
    """A data stream's name may not be an index's or an alias's (ES's messages)."""
    if stream(meta, name) is not None:
        raise DataStreamAlreadyExistsError(name)
    index = meta.indices.get(name)
    if index is not None:
        raise ResourceAlreadyExistsError(name, index.uuid)
    if name in meta.aliases():
        raise IllegalArgumentError(f"data stream [{name}] conflicts with existing alias [{name}]")


# --- what a write to a stream must be -----------------------------------------------------------


def check_write(
    meta: ClusterMetadata, target: str, action: str, *, if_seq_no: int | None = None
) -> None:
    """ES's rules for a document write naming ``target``: a data stream takes ``create`` only
    (index, update and delete by id are refused); a backing index named directly takes an
    overwrite only as an optimistic-concurrency write (``if_seq_no``)."""
    if action == "create":
        return
    if stream(meta, target) is not None:
        raise IllegalArgumentError(ONLY_CREATE)
    parent = parent_of(meta, target)
    if parent is not None and action == "index" and if_seq_no is None:
        raise IllegalArgumentError(
            "index request with op_type=index and no if_primary_term and if_seq_no set "
            "targeting backing indices is disallowed, target corresponding data stream "
            f"[{parent.name}] instead"
        )


def check_timestamp(source: Mapping[str, Any], raw: bytes | None = None) -> None:
    """A document written to a data stream needs one ``@timestamp`` value. ES finds out after
    parsing the whole document, so its ``[line:col]`` is where the document ends."""
    value = source.get(TIMESTAMP_FIELD)
    if value is None or value == []:
        reason = f"data stream timestamp field [{TIMESTAMP_FIELD}] is missing"
    elif isinstance(value, list) and len(value) > 1:
        reason = f"data stream timestamp field [{TIMESTAMP_FIELD}] encountered multiple values"
    else:
        return
    where = ""
    if raw is not None:
        end = raw.rstrip().rfind(b"}")
        if end >= 0:
            line = raw.count(b"\n", 0, end) + 1
            column = end - (raw.rfind(b"\n", 0, end) + 1) + 1
            where = f"[{line}:{column}] "
    raise DocumentParsingError(
        f"{where}failed to parse: {reason}", caused_by=IllegalArgumentError(reason)
    )


def timestamp_mapping(mappings: dict[str, Any] | None) -> dict[str, Any]:
    """A backing index's mapping: ``@timestamp`` as ``date`` unless the template maps it as a
    date already; any other type is ES's 400."""
    out = dict(mappings or {})
    props = dict(out.get("properties") or {})
    spec = props.get(TIMESTAMP_FIELD)
    if spec is None:
        props[TIMESTAMP_FIELD] = {"type": "date"}
    else:
        kind = spec.get("type", "object") if isinstance(spec, Mapping) else "object"
        if kind not in ("date", "date_nanos"):
            raise IllegalArgumentError(
                f"data stream timestamp field [{TIMESTAMP_FIELD}] is of type [{kind}], but "
                "[date,date_nanos] is expected"
            )
    out["properties"] = props
    return out


def without_backing(state: ClusterMetadata, deleted: set[str]) -> ClusterMetadata:
    """``state`` after deleting indices ``deleted``: a stream's write index may not go (ES's
    400); another backing index leaves its stream with it."""
    found = streams(state)
    changed: dict[str, DataStream] = {}
    for name, ds in found.items():
        if not deleted & set(ds.indices):
            continue
        if ds.write_index in deleted:
            raise IllegalArgumentError(
                f"index [{ds.write_index}] is the write index for data stream [{name}] and "
                "cannot be deleted"
            )
        changed[name] = replace(ds, indices=tuple(i for i in ds.indices if i not in deleted))
    return with_streams(state, {**found, **changed}) if changed else state


def state_section(meta: ClusterMetadata) -> dict[str, Any]:
    """The data streams' section of ``_cluster/state``'s ``metadata``, in ES's shape."""
    found = streams(meta)
    if not found:
        return {}
    rendered = {}
    for name, ds in found.items():
        rendered[name] = {
            "name": name,
            "timestamp_field": {"name": TIMESTAMP_FIELD},
            "indices": [
                {"index_name": i, "index_uuid": m.uuid if (m := meta.indices.get(i)) else "_na_"}
                for i in ds.indices
            ],
            "generation": ds.generation,
            **({"_meta": ds.meta} if ds.meta is not None else {}),
            "hidden": ds.hidden,
            "replicated": ds.replicated,
            "system": ds.system,
            "allow_custom_routing": ds.allow_custom_routing,
        }
    return {"data_stream": {"data_stream": rendered, "data_stream_aliases": {}}}


# --- replicated data streams (cross-cluster replication) ----------------------------------------


def check_not_replicated(ds: DataStream) -> None:
    """ES's rule: a stream that CCR replicates rolls over only on its leader (a local rollover
    would make a write index whose name the leader's next generation needs)."""
    if ds.replicated:
        raise IllegalArgumentError(
            f"data stream [{ds.name}] cannot be rolled over, because it is a replicated data stream"
        )


def _backing_order(local_name: str) -> Callable[[str], tuple[int, str]]:
    """ES's order of a replicated stream's backing indices: names that do not hold
    ``.ds-<stream>`` (shrunk, restored, renamed) first, the rest by the name from ``.ds-`` on,
    so that the newest generation ends last and stays the write index."""
    base = BACKING_PREFIX + local_name

    def key(index: str) -> tuple[int, str]:
        at = index.find(BACKING_PREFIX)
        return (1 if base in index else 0, index[at:] if at >= 0 else index)

    return key


def follow_backing_index(
    state: ClusterMetadata,
    local_name: str,
    follower_index: str,
    remote: DataStream,
    *,
    now_ms: int,
) -> ClusterMetadata:
    """``state`` with ``follower_index`` (a follower of one of ``remote``'s backing indices)
    in the local stream ``local_name``: ES's ``TransportPutFollowAction.updateLocalDataStream``.
    A new local stream copies the remote's and is marked ``replicated``; an existing one must
    still be replicated (a promoted stream follows nothing more) and takes the index in
    generation order, with the remote's generation and ``_meta``."""
    found = streams(state)
    local = found.get(local_name)
    if local is None:
        validate_stream_name(local_name)  # a data_stream_name given to put follow
        index = state.indices.get(local_name)
        if index is not None:
            raise ResourceAlreadyExistsError(local_name, index.uuid)
        if local_name in state.aliases():
            raise IllegalArgumentError(
                f"data stream [{local_name}] conflicts with existing alias [{local_name}]"
            )
        updated = replace(
            remote, name=local_name, indices=(follower_index,), replicated=True, created=now_ms
        )
    else:
        if not local.replicated:
            raise IllegalArgumentError(
                f"cannot follow backing index [{follower_index}], because local data stream "
                f"[{local_name}] is no longer marked as replicated"
            )
        indices = local.indices
        if follower_index not in indices:
            indices = tuple(sorted((*indices, follower_index), key=_backing_order(local_name)))
        updated = replace(local, indices=indices, generation=remote.generation, meta=remote.meta)
    return with_streams(state, {**found, local_name: updated})


def promoted(state: ClusterMetadata, name: str) -> ClusterMetadata:
    """``POST /_data_stream/_promote/<name>``: the stream is no longer replicated (ES's
    ``DataStream.promoteDataStream``; its backing indices stay as they are, followers too)."""
    ds = stream(state, name)
    if ds is None:
        raise ResourceNotFoundError(f"data stream [{name}] does not exist")
    return with_streams(state, {**streams(state), name: replace(ds, replicated=False)})


def check_close(state: ClusterMetadata, names: set[str]) -> None:
    """ES's 400 for closing a stream's write index (the stream would take no writes)."""
    writers = sorted(s.write_index for s in streams(state).values() if s.write_index in names)
    if writers:
        raise IllegalArgumentError(
            f"cannot close the following data stream write indices [{','.join(writers)}]"
        )
