"""Shard errors: storage failures, shard history and retention leases (the leader side of
cross-cluster replication) and the follower side's.
"""

from __future__ import annotations

from typing import Any

from isthmus.errors.base import IsthmusError
from isthmus.errors.cluster import ResourceNotFoundError
from isthmus.errors.indices import ResourceAlreadyExistsError
from isthmus.errors.requests import IllegalStateError


class StorageIOError(IsthmusError):
    """Writing to ``path.data`` failed: ES's ``java.io.IOException`` from Lucene or the translog
    (the write was not acknowledged)."""

    es_type = "i_o_exception"
    status = 500
    is_es = False
    java_class = "java.io.IOException"


class StorageFullError(StorageIOError):
    """The disk under ``path.data`` is full ("No space left on device"). The flood-stage block
    normally refuses writes with a 429 long before this is reached."""


class UnavailableShardsError(IsthmusError):
    """A write found no active primary for its shard within the request's ``timeout`` (ES's
    ``UnavailableShardsException``, 503)."""

    es_type = "unavailable_shards_exception"
    status = 503
    java_class = "org.elasticsearch.action.UnavailableShardsException"


# --- shard history and retention leases (cross-cluster replication's leader side) ---------------


class ShardNotFoundError(ResourceNotFoundError):
    es_type = "shard_not_found_exception"
    java_class = "org.elasticsearch.index.shard.ShardNotFoundException"

    def __init__(self, index: str, index_uuid: str, shard: int) -> None:
        super().__init__(
            "no such shard", extra={"index_uuid": index_uuid, "shard": str(shard), "index": index}
        )


class MissingHistoryOperationsError(IllegalStateError):
    """The shard's history no longer holds operations someone asked for (ES raises it as a
    plain ``IllegalStateException`` subclass)."""

    es_type = "missing_history_operations_exception"
    is_es = False
    java_class = "org.elasticsearch.index.engine.MissingHistoryOperationsException"


class RetentionLeaseAlreadyExistsError(IsthmusError):
    es_type = "retention_lease_already_exists_exception"
    status = 400
    java_class = "org.elasticsearch.index.seqno.RetentionLeaseAlreadyExistsException"


class RetentionLeaseNotFoundError(ResourceNotFoundError):
    es_type = "retention_lease_not_found_exception"
    java_class = "org.elasticsearch.index.seqno.RetentionLeaseNotFoundException"


class RetentionLeaseInvalidRetainingSeqNoError(IsthmusError):
    es_type = "retention_lease_invalid_retaining_seq_no_exception"
    status = 500
    java_class = "org.elasticsearch.index.seqno.RetentionLeaseInvalidRetainingSeqNoException"


# --- cross-cluster replication (follower side) --------------------------------------------------


class StatusError(IsthmusError):
    """ES's ``ElasticsearchStatusException``: a reason with the HTTP status ES chose for it
    (a follower index refusing a client write: 403)."""

    es_type = "status_exception"
    status = 500
    java_class = "org.elasticsearch.ElasticsearchStatusException"


class TaskAlreadyExistsError(ResourceAlreadyExistsError):
    """A persistent task that already exists (a follower's shard follow task on resume)."""

    def __init__(self, task_id: str) -> None:
        IsthmusError.__init__(self, f"task with id {{{task_id}}} already exist")


# --- shard allocation (the master's routing table) -------------------------------------------


class NoLongerPrimaryShardError(IsthmusError):
    """A primary asked the master to fail a copy under a primary term that is no longer the
    shard's (a replica was promoted since): ES's ShardStateAction.NoLongerPrimaryShardException.
    The asking copy is stale and must stop acting as primary."""

    es_type = "no_longer_primary_shard_exception"
    status = 500
    java_class = (
        "org.elasticsearch.cluster.action.shard.ShardStateAction$NoLongerPrimaryShardException"
    )

    def __init__(self, index: str, index_uuid: str, shard: int, reason: str) -> None:
        super().__init__(
            reason, extra={"shard": str(shard), "index_uuid": index_uuid, "index": index}
        )


# --- reads across the nodes of a cluster --------------------------------------------------------


class NoShardAvailableActionError(IsthmusError):
    """No copy of a shard could answer a read (ES's NoShardAvailableActionException, 503): it
    has no started copy, or none the request's ``preference`` allows. ES raises it without a
    message for a search's shard: its ``reason`` is then null in ``_shards.failures``."""

    es_type = "no_shard_available_action_exception"
    status = 503
    java_class = "org.elasticsearch.action.NoShardAvailableActionException"

    def __init__(self, index: str, index_uuid: str, shard: int, reason: str | None = None) -> None:
        super().__init__(
            reason or "", extra={"index_uuid": index_uuid, "shard": str(shard), "index": index}
        )
        self.without_message = reason is None

    def to_cause(self) -> dict[str, Any]:
        body = super().to_cause()
        if getattr(self, "without_message", False):
            body["reason"] = None
        return body
