"""What one write batch changes in a shard, decided before anything is stored.

Two kinds of batch, one result shape (:class:`BatchPlan`: the ``ops`` and ``docs`` rows to store,
the tantivy changes to apply after the commit, the new max ``_seq_no`` and max ``_seq_no`` of
updates and deletes):

* :func:`plan_primary`: a primary's client writes. Each operation meets ES's versioning rules
  against the document's current state (a conflict fails that operation only) and gets the next
  ``_seq_no``; its ``_version`` follows the document's (or the client's, external versioning).
* :func:`plan_replicated`: operations that keep another copy's ``_seq_no``, ``_primary_term``
  and ``_version`` (a CCR follower, later a replica). Every one enters the history; a document
  changes only when the operation is newer than what it holds (a late, older operation never
  wins; a delete leaves a tombstone that older index operations do not revive).

:class:`~isthmus.index.engine.ShardEngine` loads the current states, stores a plan in one
transaction and applies its tantivy changes. Nothing here touches the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import tantivy

from isthmus.index.operations import (
    Current,
    IndexOp,
    Op,
    OpResult,
    ReplicaOp,
    version_conflict,
)
from isthmus.index.schema import IndexSchema

# A tantivy change: ("index" | "add" | "delete", _id, document or None). "add" skips the
# delete-by-id (a generated id cannot be there yet).
SearchChange = tuple[str, str, tantivy.Document | None]


@dataclass
class BatchPlan:
    max_seq_no: int
    max_seq_no_of_updates_or_deletes: int
    op_rows: list[tuple[Any, ...]] = field(default_factory=list)
    doc_rows: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    changes: list[SearchChange] = field(default_factory=list)
    results: list[OpResult] = field(default_factory=list)

    @property
    def seq_nos(self) -> list[int]:
        return [row[0] for row in self.op_rows]


def plan_primary(
    ops: Sequence[Op],
    current: dict[str, Current],
    *,
    max_seq_no: int,
    term: int,
    msu: int,
    now_ms: int,
    schema: IndexSchema,
) -> BatchPlan:
    """A primary's batch: ``_seq_no`` assigned in order after ``max_seq_no``."""
    plan = BatchPlan(max_seq_no, msu)
    seq = max_seq_no
    for op in ops:
        fresh = isinstance(op, IndexOp) and op.auto_id
        cur = None if fresh else current.get(op.id)
        error = version_conflict(op, cur)
        if error is not None:
            plan.results.append(OpResult(op.id, None, error=error))
            continue
        seq += 1
        if op.version_type != "internal" and op.version is not None:
            version = op.version
        else:
            version = cur.version + 1 if cur is not None else 1
        live = cur is not None and not cur.deleted
        if cur is not None or not isinstance(op, IndexOp):
            plan.max_seq_no_of_updates_or_deletes = seq  # an update or a delete
        if isinstance(op, IndexOp):
            result = "updated" if live else "created"
            plan.op_rows.append((seq, term, version, "index", op.id, op.source, now_ms, op.routing))
            plan.doc_rows[op.id] = (op.id, seq, term, version, 0)
            doc = schema.document(op.id, op.source, op.values, seq, version, term, op.routing)
            plan.changes.append(("add" if fresh else "index", op.id, doc))
        else:
            result = "deleted" if live else "not_found"
            plan.op_rows.append((seq, term, version, "delete", op.id, None, now_ms, None))
            plan.doc_rows[op.id] = (op.id, seq, term, version, 1)
            plan.changes.append(("delete", op.id, None))
        current[op.id] = Current(seq, term, version, not isinstance(op, IndexOp))
        plan.results.append(OpResult(op.id, result, seq, term, version))
    plan.max_seq_no = seq
    return plan


def plan_replicated(
    ordered: Sequence[ReplicaOp],
    current: dict[str, Current],
    values: Mapping[int, dict[str, list[Any]]],
    *,
    max_seq_no: int,
    msu: int,
    now_ms: int,
    schema: IndexSchema,
) -> BatchPlan:
    """A batch of operations that keep their ``_seq_no`` (in ``_seq_no`` order, none seen
    before); ``values`` holds each ``index`` operation's parsed fields by ``_seq_no``."""
    plan = BatchPlan(max(max_seq_no, ordered[-1].seq_no if ordered else -1), msu)
    for op in ordered:
        seq, term, version = op.seq_no, op.primary_term, op.version
        source = op.source if op.op == "index" else None
        routing = op.routing if op.op == "index" else None
        plan.op_rows.append((seq, term, version, op.op, op.id, source, now_ms, routing))
        if op.op == "noop":
            continue
        cur = current.get(op.id)
        if cur is not None and cur.seq_no > seq:
            continue  # stale here: recorded in the history only
        deleted = op.op == "delete"
        if cur is not None or deleted:
            plan.max_seq_no_of_updates_or_deletes = max(plan.max_seq_no_of_updates_or_deletes, seq)
        plan.doc_rows[op.id] = (op.id, seq, term, version, int(deleted))
        current[op.id] = Current(seq, term, version, deleted)
        if deleted:
            plan.changes.append(("delete", op.id, None))
        else:
            assert source is not None
            doc = schema.document(op.id, source, values[seq], seq, version, term, routing)
            plan.changes.append(("index", op.id, doc))
    return plan
