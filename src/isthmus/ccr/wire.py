"""The payloads of cross-cluster replication on the transport, typed.  [no I/O]

What a follower cluster and a leader cluster exchange (ES's action names, in
:mod:`isthmus.wire.names`):

* ``indices:data/read/xpack/ccr/shard_changes``: :class:`ShardChangesRequest` out (a leader
  shard, a ``_seq_no`` to read from, bounds in operations and bytes, how long to wait when there
  is nothing new, the leader shard's history uuid the follower expects), and
  :class:`ShardChangesResponse` back (the operations as :class:`ReplicatedOp`, the leader shard's
  checkpoints and its index's mapping/settings/aliases versions);
* ``indices:admin/seq_no/{add,renew,remove}_retention_lease``: :class:`RetentionLeaseRequest`
  (a leader shard, the lease id, the ``_seq_no`` it retains from, its source ``ccr``), answered
  by :data:`ACKNOWLEDGED`;
* ``indices:internal/admin/ccr/restore/{session/put,file_chunk/get,session/clear}``: a
  follower's bootstrap from a copy of the leader shard's store: :class:`RestoreSessionRequest`
  (answered by :class:`RestoreSessionResponse` at put, :data:`ACKNOWLEDGED` at clear) and
  :class:`FileChunkRequest` / :class:`FileChunkResponse`;
* ``cluster:monitor/state`` asked for one index's metadata (as ES's follower asks a remote
  cluster's state): :class:`LeaderIndexMetadataRequest` out, :class:`LeaderIndexMetadataResponse`
  back (what a follower index needs to create itself, with each shard's history uuid); or for
  the indices matching patterns (auto-follow): :class:`LeaderIndicesRequest` out,
  :class:`LeaderIndicesResponse` back.

Each value has its payload form (``to_payload``, the msgpack map sent) and reads one back
(``from_payload``) validating every field: a malformed payload is refused with ES's
``illegal_argument_exception`` (ES's validation messages where ES has one), so a bad request
never reaches a shard as a crash. Operation sources travel as bytes, as stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, TypeGuard

from isthmus.errors import IllegalArgumentError

OpType = Literal["index", "delete", "noop"]
OP_TYPES: Final = ("index", "delete", "noop")
RETENTION_LEASE_SOURCE: Final = "ccr"  # ES's CcrRetentionLeases source
ACKNOWLEDGED: Final[dict[str, Any]] = {"acknowledged": True}

# ES's defaults for a follower's reads (TransportResumeFollowAction).
DEFAULT_MAX_READ_REQUEST_OPERATION_COUNT: Final = 5120
DEFAULT_MAX_READ_REQUEST_SIZE: Final = 32 * 1024 * 1024
DEFAULT_READ_POLL_TIMEOUT_MS: Final = 60_000
_LONG_MAX: Final = 2**63 - 1


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int


def _field(value: dict[str, Any], key: str, what: str) -> Any:
    if key not in value:
        raise IllegalArgumentError(f"{what} is missing [{key}]")
    return value[key]


def _int(value: dict[str, Any], key: str, what: str, *, low: int | None = None) -> int:
    number = _field(value, key, what)
    if not _is_int(number) or not -(2**63) <= number <= _LONG_MAX:
        raise IllegalArgumentError(f"{what} field [{key}] must be an integer")
    if low is not None and number < low:
        raise IllegalArgumentError(f"{what} field [{key}] must be at least [{low}]")
    return number


def _str(value: dict[str, Any], key: str, what: str, *, optional: bool = False) -> Any:
    text = value.get(key) if optional else _field(value, key, what)
    if text is None and optional:
        return None
    if not isinstance(text, str):
        raise IllegalArgumentError(f"{what} field [{key}] must be a string")
    return text


def _map(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise IllegalArgumentError(f"{what} payload must be a map")
    return value


class ReplicatedOp(NamedTuple):
    """One operation of a leader shard's history, carrying the leader's ``_seq_no``,
    ``_primary_term`` and ``_version`` (ES's ``Translog.Operation``). ``source`` is the document's
    bytes for ``index``, None for ``delete`` and ``noop``; ``id`` is empty for ``noop``.

    A named tuple, not a frozen dataclass: a batch builds thousands of these on each side
    (a frozen dataclass's ``__init__`` cost ~1.4 us per operation, a named tuple's ~0.3), and its
    fields are in payload order."""

    op: OpType
    id: str
    seq_no: int
    primary_term: int
    version: int
    source: bytes | None = None
    routing: str | None = None

    def size_in_bytes(self) -> int:
        """What the op counts against a batch's byte bound (ES's ``estimateSize``: source plus a
        fixed overhead for the header fields)."""
        return len(self.source or b"") + len(self.id) * 2 + 64

    def to_payload(self) -> list[Any]:
        # A list, not a map: a batch holds thousands of these.
        return list(self)

    @classmethod
    def from_payload(cls, value: Any) -> ReplicatedOp:
        what = "replicated operation"
        if not isinstance(value, list | tuple) or len(value) != 7:
            raise IllegalArgumentError(f"{what} must be a list of 7 fields")
        op, doc_id, seq_no, term, version, source, routing = value
        if op not in OP_TYPES:
            raise IllegalArgumentError(f"{what} has unknown type [{op}]")
        if not isinstance(doc_id, str) or (op != "noop" and not doc_id):
            raise IllegalArgumentError(f"{what} needs an [id]")
        if not (_is_int(seq_no) and _is_int(term) and _is_int(version)) or seq_no < 0 or term < 1:
            raise IllegalArgumentError(f"{what} needs a [seq_no] >= 0 and a [primary_term] >= 1")
        if op == "index" and type(source) is not bytes:
            raise IllegalArgumentError(f"{what} [{seq_no}] of type [index] needs a [source]")
        if op != "index" and source is not None:
            raise IllegalArgumentError(f"{what} [{seq_no}] of type [{op}] has no [source]")
        if routing is not None and not isinstance(routing, str):
            raise IllegalArgumentError(f"{what} field [routing] must be a string")
        return cls(op, doc_id, seq_no, term, version, source, routing)


@dataclass(frozen=True, slots=True)
class ShardChangesRequest:
    """Read a leader shard's history from ``from_seq_no`` (ES's ``ShardChangesAction.Request``).

    ``leader_index_uuid`` None: whichever index has the name (ES always names the uuid; a
    follower that knows it sends it, so a recreated leader is never read by mistake)."""

    leader_index: str
    shard: int
    from_seq_no: int
    max_operation_count: int
    expected_history_uuid: str
    max_batch_size: int = DEFAULT_MAX_READ_REQUEST_SIZE
    poll_timeout_ms: int = DEFAULT_READ_POLL_TIMEOUT_MS
    leader_index_uuid: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "index": self.leader_index,
            "index_uuid": self.leader_index_uuid,
            "shard": self.shard,
            "from_seq_no": self.from_seq_no,
            "max_operation_count": self.max_operation_count,
            "max_batch_size": self.max_batch_size,
            "poll_timeout": self.poll_timeout_ms,
            "expected_history_uuid": self.expected_history_uuid,
        }

    @classmethod
    def from_payload(cls, value: Any) -> ShardChangesRequest:
        what = "shard changes request"
        body = _map(value, what)
        request = cls(
            leader_index=_str(body, "index", what),
            shard=_int(body, "shard", what, low=0),
            from_seq_no=_int(body, "from_seq_no", what),
            max_operation_count=_int(body, "max_operation_count", what),
            expected_history_uuid=_str(body, "expected_history_uuid", what),
            max_batch_size=_int(body, "max_batch_size", what),
            poll_timeout_ms=_int(body, "poll_timeout", what, low=0),
            leader_index_uuid=_str(body, "index_uuid", what, optional=True),
        )
        request.validate()
        return request

    def validate(self) -> None:
        """ES's request validation, with its messages."""
        errors = []
        if self.from_seq_no < 0:
            errors.append(f"fromSeqNo [{self.from_seq_no}] cannot be lower than 0")
        if self.max_operation_count < 0:
            errors.append(f"maxOperationCount [{self.max_operation_count}] cannot be lower than 0")
        if self.max_batch_size <= 0:
            errors.append(f"maxBatchSize [{self.max_batch_size}b] must be larger than 0")
        if errors:
            numbered = "".join(f"{n}: {e};" for n, e in enumerate(errors, 1))
            raise IllegalArgumentError(f"Validation Failed: {numbered}")


@dataclass(frozen=True, slots=True)
class ShardChangesResponse:
    """A batch of a leader shard's history with the shard's checkpoints (ES's
    ``ShardChangesAction.Response``). Empty operations after a poll timed out."""

    operations: tuple[ReplicatedOp, ...]
    global_checkpoint: int
    max_seq_no: int
    max_seq_no_of_updates_or_deletes: int
    mapping_version: int
    settings_version: int
    aliases_version: int
    took_in_millis: int

    def to_payload(self) -> dict[str, Any]:
        return {
            "operations": [op.to_payload() for op in self.operations],
            "global_checkpoint": self.global_checkpoint,
            "max_seq_no": self.max_seq_no,
            "max_seq_no_of_updates_or_deletes": self.max_seq_no_of_updates_or_deletes,
            "mapping_version": self.mapping_version,
            "settings_version": self.settings_version,
            "aliases_version": self.aliases_version,
            "took_in_millis": self.took_in_millis,
        }

    @classmethod
    def from_payload(cls, value: Any) -> ShardChangesResponse:
        what = "shard changes response"
        body = _map(value, what)
        ops = _field(body, "operations", what)
        if not isinstance(ops, list):
            raise IllegalArgumentError(f"{what} field [operations] must be a list")
        return cls(
            operations=tuple(ReplicatedOp.from_payload(op) for op in ops),
            global_checkpoint=_int(body, "global_checkpoint", what, low=-1),
            max_seq_no=_int(body, "max_seq_no", what, low=-1),
            max_seq_no_of_updates_or_deletes=_int(
                body, "max_seq_no_of_updates_or_deletes", what, low=-1
            ),
            mapping_version=_int(body, "mapping_version", what, low=0),
            settings_version=_int(body, "settings_version", what, low=0),
            aliases_version=_int(body, "aliases_version", what, low=0),
            took_in_millis=_int(body, "took_in_millis", what, low=0),
        )


@dataclass(frozen=True, slots=True)
class RetentionLeaseRequest:
    """Add, renew or remove one retention lease on a leader shard (ES's
    ``RetentionLeaseActions``). ``retaining_seq_no`` is ignored by remove."""

    leader_index: str
    shard: int
    lease_id: str
    retaining_seq_no: int = -1
    source: str = RETENTION_LEASE_SOURCE
    leader_index_uuid: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "index": self.leader_index,
            "index_uuid": self.leader_index_uuid,
            "shard": self.shard,
            "id": self.lease_id,
            "retaining_sequence_number": self.retaining_seq_no,
            "source": self.source,
        }

    @classmethod
    def from_payload(cls, value: Any) -> RetentionLeaseRequest:
        what = "retention lease request"
        body = _map(value, what)
        lease_id = _str(body, "id", what)
        if not lease_id:
            raise IllegalArgumentError("id must not be empty")  # ES's RetentionLease check
        source = _str(body, "source", what)
        if not source:
            raise IllegalArgumentError("source must not be empty")
        return cls(
            leader_index=_str(body, "index", what),
            shard=_int(body, "shard", what, low=0),
            lease_id=lease_id,
            retaining_seq_no=_int(body, "retaining_sequence_number", what, low=-1),
            source=source,
            leader_index_uuid=_str(body, "index_uuid", what, optional=True),
        )


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


@dataclass(frozen=True, slots=True)
class RestoreShard:
    """The leader shard a restore session copies (ES's ``ShardId``: name, uuid, number)."""

    index: str
    index_uuid: str
    shard: int

    def to_payload(self) -> dict[str, Any]:
        return {"index": self.index, "index_uuid": self.index_uuid, "shard": self.shard}

    @classmethod
    def from_payload(cls, body: dict[str, Any], what: str) -> RestoreShard:
        return cls(
            _str(body, "index", what),
            _str(body, "index_uuid", what),
            _int(body, "shard", what, low=0),
        )

    def __str__(self) -> str:
        return f"[{self.index}][{self.shard}]"


@dataclass(frozen=True, slots=True)
class RestoreSessionRequest:
    """Open (``session/put``) or close (``session/clear``) a restore session; the follower
    names the session (ES's follower picks the uuid)."""

    session_uuid: str
    shard: RestoreShard

    def to_payload(self) -> dict[str, Any]:
        return {"session_uuid": self.session_uuid, **self.shard.to_payload()}

    @classmethod
    def from_payload(cls, value: Any) -> RestoreSessionRequest:
        what = "restore session request"
        body = _map(value, what)
        session = _str(body, "session_uuid", what)
        if not session:
            raise IllegalArgumentError(f"{what} needs a [session_uuid]")
        return cls(session, RestoreShard.from_payload(body, what))


@dataclass(frozen=True, slots=True)
class StoreFile:
    name: str
    length: int
    checksum: str  # CRC32 of the whole file, hex (the follower checks what it received)

    def to_payload(self) -> list[Any]:
        return [self.name, self.length, self.checksum]


@dataclass(frozen=True, slots=True)
class RestoreSessionResponse:
    """An opened session: the node serving it, the store files to fetch, and the mapping
    version the copy was taken at (ES's ``PutCcrRestoreSessionResponse``)."""

    node_id: str
    files: tuple[StoreFile, ...]
    mapping_version: int

    def to_payload(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "files": [f.to_payload() for f in self.files],
            "mapping_version": self.mapping_version,
        }

    @classmethod
    def from_payload(cls, value: Any) -> RestoreSessionResponse:
        what = "restore session response"
        body = _map(value, what)
        files = body.get("files")
        if not isinstance(files, list):
            raise IllegalArgumentError(f"{what} field [files] must be a list")
        out = []
        for entry in files:
            if (
                not isinstance(entry, list)
                or len(entry) != 3
                or not isinstance(entry[0], str)
                or not _is_int(entry[1])
                or not isinstance(entry[2], str)
            ):
                raise IllegalArgumentError(f"{what} has a malformed file entry")
            out.append(StoreFile(entry[0], entry[1], entry[2]))
        return cls(_str(body, "node", what), tuple(out), _int(body, "mapping_version", what, low=0))


@dataclass(frozen=True, slots=True)
class FileChunkRequest:
    """The next ``size`` bytes of one file of a session (ES reads each file sequentially)."""

    session_uuid: str
    file_name: str
    size: int
    shard: RestoreShard

    def to_payload(self) -> dict[str, Any]:
        return {
            "session_uuid": self.session_uuid,
            "file_name": self.file_name,
            "size": self.size,
            **self.shard.to_payload(),
        }

    @classmethod
    def from_payload(cls, value: Any) -> FileChunkRequest:
        what = "file chunk request"
        body = _map(value, what)
        return cls(
            _str(body, "session_uuid", what),
            _str(body, "file_name", what),
            _int(body, "size", what, low=1),
            RestoreShard.from_payload(body, what),
        )


@dataclass(frozen=True, slots=True)
class FileChunkResponse:
    """``chunk`` read at ``offset`` of the file (ES's ``GetCcrRestoreFileChunkResponse``)."""

    offset: int
    chunk: bytes

    def to_payload(self) -> dict[str, Any]:
        return {"offset": self.offset, "chunk": self.chunk}

    @classmethod
    def from_payload(cls, value: Any) -> FileChunkResponse:
        body = _map(value, "file chunk response")
        chunk = body.get("chunk")
        if type(chunk) is not bytes:
            raise IllegalArgumentError("file chunk response field [chunk] must be bytes")
        return cls(_int(body, "offset", "file chunk response", low=0), chunk)


def retention_lease_id(
    local_cluster: str,
    follower_index: str,
    follower_index_uuid: str,
    remote_cluster: str,
    leader_index: str,
    leader_index_uuid: str,
) -> str:
    """ES's id of the lease a follower shard holds on its leader shard
    (``CcrRetentionLeases.retentionLeaseId``)."""
    return (
        f"{local_cluster}/{follower_index}/{follower_index_uuid}-following-"
        f"{remote_cluster}/{leader_index}/{leader_index_uuid}"
    )
