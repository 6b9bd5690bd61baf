"""The operations a shard applies, their results, and ES's versioning rules.  [no I/O]

:class:`ShardEngine` (``index/engine.py``) stores these; the conflict a write meets is decided
here by :func:`version_conflict`, a pure function of the operation and the document's current
state, with ES's messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from isthmus.errors import IsthmusError, VersionConflictError


@dataclass(frozen=True, slots=True)
class IndexOp:
    """Index (or create) one document whose source is already parsed against the mapping."""

    id: str
    source: bytes
    values: dict[str, list[Any]]
    create: bool = False
    if_seq_no: int | None = None
    if_primary_term: int | None = None
    auto_id: bool = False  # a generated id cannot exist yet: skip the lookup (ES's append-only)
    version: int | None = None  # with external versioning: the version the client assigns
    version_type: str = "internal"  # internal | external | external_gte
    routing: str | None = None  # stored with the document (ES's ``_routing``)


@dataclass(frozen=True, slots=True)
class DeleteOp:
    id: str
    if_seq_no: int | None = None
    if_primary_term: int | None = None
    version: int | None = None
    version_type: str = "internal"


Op = IndexOp | DeleteOp


@dataclass(frozen=True, slots=True)
class OpResult:
    id: str
    result: str | None  # created | updated | deleted | not_found; None when it failed
    seq_no: int = -2
    primary_term: int = 0
    version: int = -1
    error: IsthmusError | None = None


@dataclass(frozen=True, slots=True)
class StoredDoc:
    id: str
    seq_no: int
    primary_term: int
    version: int
    source: bytes
    routing: str | None = None


class HistoryOp(NamedTuple):
    """One row of a shard's history (a named tuple in the ``ops`` table's column order: a
    replication read builds one per operation, ~5x cheaper than a frozen dataclass)."""

    seq_no: int
    primary_term: int
    version: int
    op: str  # "index" | "delete" | "noop"
    id: str
    source: bytes | None
    timestamp_ms: int
    # The document's ``_routing`` (an ``index`` written with one; the column came later: a
    # store from before has none).
    routing: str | None = None


class ReplicaOp(Protocol):
    """An operation that already has its ``_seq_no``, ``_primary_term`` and ``_version`` (from
    a leader's or a primary's history): :class:`HistoryOp` and CCR's ``ReplicatedOp`` are both
    one. ``op`` is ``index``, ``delete`` or ``noop``; ``source`` is None except for ``index``."""

    @property
    def seq_no(self) -> int: ...
    @property
    def primary_term(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def op(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def source(self) -> bytes | None: ...
    @property
    def routing(self) -> str | None: ...


@dataclass(frozen=True)
class EngineStats:
    docs: int
    deleted_docs: int
    max_seq_no: int
    indexed_checkpoint: int
    searchable_checkpoint: int
    history_ops: int
    store_bytes: int
    generation: int
    refreshes: int


@dataclass
class Current:
    """The latest state of one document id (tombstones included)."""

    seq_no: int
    primary_term: int
    version: int
    deleted: bool


def version_conflict(op: Op, cur: Current | None) -> IsthmusError | None:
    """The conflict ``op`` meets given the document's current state (ES's versioning rules),
    or None."""
    live = cur is not None and not cur.deleted
    if op.version_type != "internal" and op.version is not None and cur is not None:
        gte = op.version_type == "external_gte"
        if cur.version > op.version or (cur.version == op.version and not gte):
            relation = "higher than" if gte else "higher or equal to"
            return VersionConflictError(
                f"[{op.id}]: version conflict, current version [{cur.version}] is "
                f"{relation} the one provided [{op.version}]",
                extra={"index_uuid": "", "shard": "", "index": ""},
            )
    if isinstance(op, IndexOp) and op.create and live:
        assert cur is not None
        return VersionConflictError(
            f"[{op.id}]: version conflict, document already exists (current version [{cur.version}])",
            extra={"index_uuid": "", "shard": "", "index": ""},
        )
    if op.if_seq_no is not None:
        term = op.if_primary_term if op.if_primary_term is not None else 0
        if not live:
            return VersionConflictError(
                f"[{op.id}]: version conflict, required seqNo [{op.if_seq_no}], primary term "
                f"[{term}]. but no document was found",
                extra={"index_uuid": "", "shard": "", "index": ""},
            )
        assert cur is not None
        if cur.seq_no != op.if_seq_no or cur.primary_term != term:
            return VersionConflictError(
                f"[{op.id}]: version conflict, required seqNo [{op.if_seq_no}], primary term "
                f"[{term}]. current document has seqNo [{cur.seq_no}] and primary term "
                f"[{cur.primary_term}]",
                extra={"index_uuid": "", "shard": "", "index": ""},
            )
    return None
