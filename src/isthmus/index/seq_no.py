"""Sequence-number bookkeeping of one shard copy: checkpoints and retention leases.  [no I/O]

ES's rules, as values and pure functions (:class:`~isthmus.index.engine.ShardEngine` stores
them; replicas, recovery and cross-cluster replication share them):

* The **local checkpoint** is the highest ``_seq_no`` at and below which every operation has
  been processed. A primary assigns ``_seq_no`` in order, so its checkpoint follows its writes;
  a copy that applies someone else's operations (a follower, a replica) may receive them out of
  order, and :class:`LocalCheckpointTracker` advances only over contiguous ``_seq_no``.
* A **retention lease** (id, retaining ``_seq_no``, timestamp, source) asks the shard to keep
  every operation at or above its retaining ``_seq_no``. A lease not renewed within
  ``index.soft_deletes.retention_lease.period`` expires. A renewal may not go back.
* The **history uuid** names one shard history: a recreated index has a new one, so a follower
  notices that the leader it reads is no longer the one it copied.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from dataclasses import dataclass

from isthmus.errors import (
    RetentionLeaseAlreadyExistsError,
    RetentionLeaseInvalidRetainingSeqNoError,
    RetentionLeaseNotFoundError,
)

NO_OPS_PERFORMED = -1


def new_history_uuid() -> str:
    """A fresh history uuid in ES's form (``UUIDs.randomBase64UUID``: 22 url-safe characters)."""
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class SeqNoStats:
    """ES's ``SeqNoStats`` of a shard copy. On a single-node cluster every copy is the only
    in-sync copy, so the global checkpoint is the local checkpoint."""

    max_seq_no: int
    local_checkpoint: int
    global_checkpoint: int


class LocalCheckpointTracker:
    """The highest contiguous processed ``_seq_no``, with the processed ones above it."""

    def __init__(self, checkpoint: int, processed_above: Iterable[int] = ()) -> None:
        self.checkpoint = checkpoint
        self._pending: set[int] = {s for s in processed_above if s > checkpoint}
        self._advance()

    def has_processed(self, seq_no: int) -> bool:
        return seq_no <= self.checkpoint or seq_no in self._pending

    def mark_processed(self, seq_no: int) -> None:
        if seq_no == self.checkpoint + 1 and not self._pending:
            self.checkpoint = seq_no  # the in-order case: nothing to remember
        elif seq_no > self.checkpoint:
            self._pending.add(seq_no)
            self._advance()

    def checkpoint_with(self, seq_nos: Iterable[int]) -> int:
        """The checkpoint once ``seq_nos`` are processed too (nothing changes: a store records
        it in the transaction that stores them, and marks them after the commit)."""
        extra = set(seq_nos)
        checkpoint = self.checkpoint
        while checkpoint + 1 in self._pending or checkpoint + 1 in extra:
            checkpoint += 1
        return checkpoint

    @property
    def gaps(self) -> int:
        """How many processed operations wait above a missing one."""
        return len(self._pending)

    def _advance(self) -> None:
        while self.checkpoint + 1 in self._pending:
            self.checkpoint += 1
            self._pending.discard(self.checkpoint)

    def __repr__(self) -> str:
        return f"<LocalCheckpointTracker checkpoint={self.checkpoint} pending={len(self._pending)}>"


@dataclass(frozen=True, slots=True)
class RetentionLease:
    id: str
    retaining_seq_no: int
    timestamp_ms: int
    source: str

    def expired(self, now_ms: int, period_ms: int) -> bool:
        return now_ms - self.timestamp_ms > period_ms

    def to_json(self) -> dict[str, object]:
        """As ES's ``_stats?level=shards`` shows a lease."""
        return {
            "id": self.id,
            "retaining_seq_no": self.retaining_seq_no,
            "timestamp": self.timestamp_ms,
            "source": self.source,
        }

    def __str__(self) -> str:
        # ES's RetentionLease.toString, which its "operations are no longer available" names.
        return (
            f"RetentionLease{{id='{self.id}', retainingSequenceNumber={self.retaining_seq_no}, "
            f"timestamp={self.timestamp_ms}, source='{self.source}'}}"
        )


def describe_leases(leases: Iterable[RetentionLease]) -> str:
    """A collection of leases as Java prints it (``[a, b]``)."""
    return "[" + ", ".join(str(lease) for lease in leases) + "]"


def check_add(existing: RetentionLease | None, lease_id: str) -> None:
    if existing is not None:
        raise RetentionLeaseAlreadyExistsError(
            f"retention lease with ID [{lease_id}] already exists"
        )


def check_renew(
    existing: RetentionLease | None, lease_id: str, retaining_seq_no: int, source: str
) -> None:
    if existing is None:
        raise RetentionLeaseNotFoundError(f"retention lease with ID [{lease_id}] not found")
    if retaining_seq_no < existing.retaining_seq_no:
        raise RetentionLeaseInvalidRetainingSeqNoError(
            f"the current retention lease with [{lease_id}] is retaining a higher sequence number "
            f"[{existing.retaining_seq_no}] than the new retaining sequence number "
            f"[{retaining_seq_no}] from [{source}]"
        )


def check_remove(existing: RetentionLease | None, lease_id: str) -> None:
    if existing is None:
        raise RetentionLeaseNotFoundError(f"retention lease with ID [{lease_id}] not found")


def retained_from(leases: Iterable[RetentionLease]) -> int | None:
    """The lowest ``_seq_no`` the (unexpired) leases retain, or None when there are none."""
    return min((lease.retaining_seq_no for lease in leases), default=None)
