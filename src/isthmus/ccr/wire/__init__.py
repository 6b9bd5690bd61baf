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

The payloads live by conversation: :mod:`~isthmus.ccr.wire.shard_changes` (reads and retention
leases), :mod:`~isthmus.ccr.wire.leader_metadata` (the leader's metadata),
:mod:`~isthmus.ccr.wire.restore` (restore sessions and file chunks); the fields of all of them are
read by :mod:`~isthmus.ccr.wire.fields`. Every name is importable from this package (callers
import it from here).
"""

from __future__ import annotations

from isthmus.ccr.wire.leader_metadata import (
    LeaderIndexMetadataRequest,
    LeaderIndexMetadataResponse,
    LeaderIndexSummary,
    LeaderIndicesRequest,
    LeaderIndicesResponse,
)
from isthmus.ccr.wire.restore import (
    FileChunkRequest,
    FileChunkResponse,
    RestoreSessionRequest,
    RestoreSessionResponse,
    RestoreShard,
    StoreFile,
)
from isthmus.ccr.wire.shard_changes import (
    ACKNOWLEDGED,
    DEFAULT_MAX_READ_REQUEST_OPERATION_COUNT,
    DEFAULT_MAX_READ_REQUEST_SIZE,
    DEFAULT_READ_POLL_TIMEOUT_MS,
    OP_TYPES,
    RETENTION_LEASE_SOURCE,
    OpType,
    ReplicatedOp,
    RetentionLeaseRequest,
    ShardChangesRequest,
    ShardChangesResponse,
    retention_lease_id,
)

__all__ = [
    "ACKNOWLEDGED",
    "DEFAULT_MAX_READ_REQUEST_OPERATION_COUNT",
    "DEFAULT_MAX_READ_REQUEST_SIZE",
    "DEFAULT_READ_POLL_TIMEOUT_MS",
    "OP_TYPES",
    "RETENTION_LEASE_SOURCE",
    "FileChunkRequest",
    "FileChunkResponse",
    "LeaderIndexMetadataRequest",
    "LeaderIndexMetadataResponse",
    "LeaderIndexSummary",
    "LeaderIndicesRequest",
    "LeaderIndicesResponse",
    "OpType",
    "ReplicatedOp",
    "RestoreSessionRequest",
    "RestoreSessionResponse",
    "RestoreShard",
    "RetentionLeaseRequest",
    "ShardChangesRequest",
    "ShardChangesResponse",
    "StoreFile",
    "retention_lease_id",
]
