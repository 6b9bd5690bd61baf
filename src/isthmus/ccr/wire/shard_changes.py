"""The payloads of a follower's reads from its leader shard: ``shard_changes`` (the history as
:class:`ReplicatedOp`, with the leader shard's checkpoints) and the retention leases that keep
that history, with ES's defaults for the reads.  [no I/O]

The package docstring (:mod:`isthmus.ccr.wire`) lists every action and its payloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

from isthmus.ccr.wire.fields import _field, _int, _is_int, _map, _str
from isthmus.errors import IllegalArgumentError

OpType = Literal["index", "delete", "noop"]
OP_TYPES: Final = ("index", "delete", "noop")
RETENTION_LEASE_SOURCE: Final = "ccr"  # ES's CcrRetentionLeases source
ACKNOWLEDGED: Final[dict[str, Any]] = {"acknowledged": True}
# ES's defaults for a follower's reads (TransportResumeFollowAction).
DEFAULT_MAX_READ_REQUEST_OPERATION_COUNT: Final = 5120
DEFAULT_MAX_READ_REQUEST_SIZE: Final = 32 * 1024 * 1024
DEFAULT_READ_POLL_TIMEOUT_MS: Final = 60_000


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
