"""The pure rules of shard copies on a node: which copies a node opens, closes, recovers or
reopens (plan_copies), the primary's global checkpoint (ReplicationTracker), the engine's
primary term and global checkpoint, and the shard operations' wire forms."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from isthmus.actions.peer_recovery import fill_gaps
from isthmus.actions.shard_ops_wire import (
    decode_history,
    decode_op,
    decode_result,
    encode_history,
    encode_op,
    encode_result,
    replica_ops,
)
from isthmus.actions.shard_replication import request_description
from isthmus.cluster.routing import ShardId
from isthmus.cluster.shard_routing import (
    INITIALIZING,
    STARTED,
    IndexRouting,
    ShardRouting,
    ShardTable,
)
from isthmus.errors import MissingHistoryOperationsError, VersionConflictError
from isthmus.index.engine import DeleteOp, HistoryOp, IndexOp, OpResult, ShardEngine
from isthmus.index.replication import (
    CLOSE,
    FOLLOW,
    OPEN_EMPTY_PRIMARY,
    RECOVER_REPLICA,
    REOPEN_PRIMARY,
    REOPEN_STARTED,
    OpenCopy,
    ReplicationTracker,
    plan_copies,
)
from isthmus.wire import RemoteProtocolError
from isthmus.wire.messages import pack_payload, unpack_payload
from tests.unit.index.test_engine import MAPPING, index_op

UUID = "u1"
SID = ShardId(UUID, 0, "logs")


def copy(primary: bool, node: str | None, aid: str | None, state: str = STARTED) -> ShardRouting:
    return ShardRouting(0, primary, state if node else "UNASSIGNED", node, aid)


def routing(
    *copies: ShardRouting, in_sync: tuple[str, ...] = (), term: int = 1
) -> dict[str, IndexRouting]:
    return {UUID: IndexRouting(UUID, (ShardTable(0, copies, term, frozenset(in_sync)),))}


INDICES = {UUID: ("logs", True)}


def kinds(steps: list) -> list[tuple[str, bool]]:
    return [(s.kind, s.delete_files) for s in steps]


# --- plan_copies ------------------------------------------------------------------------------


def test_a_new_primary_opens_empty_and_a_copy_elsewhere_is_not_opened() -> None:
    table = routing(copy(True, "a", "pa", INITIALIZING), copy(False, None, None))
    assert kinds(plan_copies("a", {}, INDICES, table)) == [(OPEN_EMPTY_PRIMARY, False)]
    assert plan_copies("b", {}, INDICES, table) == []


def test_an_existing_primary_reopens_and_a_replica_recovers() -> None:
    table = routing(
        copy(True, "a", "pa2", INITIALIZING), copy(False, "b", "rb", INITIALIZING), in_sync=("pa",)
    )
    assert kinds(plan_copies("a", {}, INDICES, table)) == [(REOPEN_PRIMARY, False)]
    assert kinds(plan_copies("b", {}, INDICES, table)) == [(RECOVER_REPLICA, False)]


def test_a_started_copy_not_open_reopens_as_it_is() -> None:
    table = routing(copy(True, "a", "pa"), in_sync=("pa",))
    assert kinds(plan_copies("a", {}, INDICES, table)) == [(REOPEN_STARTED, False)]


def test_an_open_copy_follows_and_a_promoted_replica_keeps_its_allocation() -> None:
    open_b = {SID: OpenCopy(SID, "rb")}
    promoted = routing(copy(True, "b", "rb"), copy(False, None, None), in_sync=("rb",), term=2)
    (step,) = plan_copies("b", open_b, INDICES, promoted)
    assert step.kind == FOLLOW and step.routing is not None and step.routing.primary
    assert step.table is not None and step.table.primary_term == 2


def test_a_copy_that_left_the_node_is_closed_and_its_files_deleted() -> None:
    open_b = {SID: OpenCopy(SID, "rb")}
    gone = routing(copy(True, "a", "pa"), copy(False, None, None), in_sync=("pa",))
    assert kinds(plan_copies("b", open_b, INDICES, gone)) == [(CLOSE, True)]
    # Allocated to this node again: a new allocation id, the old copy closed first.
    again = routing(copy(True, "a", "pa"), copy(False, "b", "rb2", INITIALIZING), in_sync=("pa",))
    assert kinds(plan_copies("b", open_b, INDICES, again)) == [
        (CLOSE, True),
        (RECOVER_REPLICA, False),
    ]


def test_an_in_sync_copy_that_left_keeps_its_files_and_reopens_with_its_id() -> None:
    """A primary whose node left with no other copy: unassigned, waiting for its in-sync
    copy; the node's files are its acknowledged writes. The master reopens it with its id."""
    open_a = {SID: OpenCopy(SID, "pa")}
    waiting = routing(copy(True, None, None), in_sync=("pa",))
    assert kinds(plan_copies("a", open_a, INDICES, waiting)) == [(CLOSE, False)]
    reopened = routing(copy(True, "a", "pa", INITIALIZING), in_sync=("pa",))
    assert kinds(plan_copies("a", {}, INDICES, reopened)) == [(REOPEN_PRIMARY, False)]
    (step,) = plan_copies("a", open_a, INDICES, reopened)  # still open: it follows
    assert step.kind == FOLLOW and step.routing is not None
    assert step.routing.state == INITIALIZING


def test_a_closed_or_deleted_index_closes_its_copies_without_deleting_here() -> None:
    open_a = {SID: OpenCopy(SID, "pa")}
    table = routing(copy(True, "a", "pa"), in_sync=("pa",))
    assert kinds(plan_copies("a", open_a, {UUID: ("logs", False)}, table)) == [(CLOSE, False)]
    assert kinds(plan_copies("a", open_a, {}, {})) == [(CLOSE, False)]


# --- the global checkpoint --------------------------------------------------------------------


def test_the_global_checkpoint_is_the_lowest_in_sync_local_checkpoint() -> None:
    tracker = ReplicationTracker("pa")
    alone = ShardTable(0, (copy(True, "a", "pa"),), 1, frozenset({"pa"}))
    tracker.follow(alone)
    assert tracker.global_checkpoint(7) is None  # no other copy: the primary's own
    both = ShardTable(
        0, (copy(True, "a", "pa"), copy(False, "b", "rb", INITIALIZING)), 1, frozenset({"pa"})
    )
    tracker.follow(both)
    tracker.update("rb", 3)
    assert tracker.global_checkpoint(7) is None  # a recovering copy holds nothing back
    tracker.follow(ShardTable(0, both.copies, 1, frozenset({"pa", "rb"})))
    assert tracker.global_checkpoint(7) == 3
    tracker.update("rb", 2)  # never goes back
    tracker.update("rb", 9)
    assert tracker.global_checkpoint(7) == 7
    # The copy failed: out of the table, out of the computation.
    tracker.follow(alone)
    assert tracker.global_checkpoint(7) is None and tracker.copies == {}


def test_engine_primary_term_persists_and_global_checkpoint_is_bounded(tmp_path: Path) -> None:
    engine = ShardEngine(tmp_path / "s", MAPPING)
    engine.write([index_op("1", {"n": 1}), index_op("2", {"n": 2})], MAPPING)
    assert engine.global_checkpoint == 1
    engine.set_global_checkpoint(0)
    assert engine.global_checkpoint == 0 and engine.seq_no_stats().global_checkpoint == 0
    engine.set_global_checkpoint(50)  # never above this copy's own
    assert engine.global_checkpoint == 1
    engine.set_primary_term(3)
    engine.set_primary_term(2)  # a term never goes back
    (result,) = engine.write([index_op("3", {"n": 3})], MAPPING)
    assert result.primary_term == 3
    engine.close()
    reopened = ShardEngine(tmp_path / "s", MAPPING)
    assert reopened.primary_term == 3
    reopened.close()


# --- wire forms -------------------------------------------------------------------------------


def over_the_wire(value: object) -> object:
    return unpack_payload(pack_payload(value))


def test_client_operations_cross_without_their_parsed_values() -> None:
    ops = [
        index_op("1", {"title": "a"}, create=True, routing="r"),
        IndexOp("2", b'{"n":1}', {"n": [1]}, version=5, version_type="external", auto_id=True),
        DeleteOp("3", if_seq_no=4, if_primary_term=2),
    ]
    back = [decode_op(over_the_wire(encode_op(op))) for op in ops]
    assert back[0] == IndexOp("1", ops[0].source, {}, create=True, routing="r")
    assert back[1] == IndexOp("2", b'{"n":1}', {}, version=5, version_type="external", auto_id=True)
    assert back[2] == ops[2]
    with pytest.raises(RemoteProtocolError):
        decode_op({"op": "upsert", "id": "x"})
    with pytest.raises(RemoteProtocolError):
        decode_op({"op": "index", "id": "x", "source": "not bytes"})


def test_results_keep_their_error_type() -> None:
    conflict = VersionConflictError("[1]: version conflict", extra={"index": "logs"})
    results = [OpResult("1", "created", 0, 1, 1), OpResult("2", None, error=conflict)]
    back = [decode_result(over_the_wire(encode_result(r))) for r in results]
    assert back[0] == results[0]
    assert isinstance(back[1].error, VersionConflictError)
    assert back[1].error.reason == "[1]: version conflict" and back[1].error.http_status == 409


def test_replicated_operations_keep_seq_no_term_version_and_skip_failures() -> None:
    ops = [index_op("1", {"n": 1}, routing="r"), DeleteOp("2"), index_op("3", {"n": 3})]
    results = [
        OpResult("1", "created", 4, 2, 1),
        OpResult("2", "not_found", 5, 2, 1),
        OpResult("3", None, error=VersionConflictError("x")),
    ]
    stored = replica_ops(ops, results)
    assert [(o.seq_no, o.op, o.id, o.routing) for o in stored] == [
        (4, "index", "1", "r"),
        (5, "delete", "2", None),
    ]
    back = decode_history(over_the_wire(encode_history(stored)))
    assert back == stored
    assert orjson.loads(back[0].source or b"") == {"n": 1}


def test_a_trimmed_history_gap_is_a_noop_below_the_boundary_and_fails_above() -> None:
    page = [HistoryOp(0, 1, 1, "index", "a", b"{}", 0), HistoryOp(3, 1, 1, "index", "b", b"{}", 0)]
    # 4 is missing at or above the boundary: an operation the history should still hold.
    with pytest.raises(MissingHistoryOperationsError, match=r"operations \[4\.\.4\]"):
        fill_gaps(page, 0, 4, min_retained=3, term=2)
    filled = fill_gaps(page, 0, 3, min_retained=3, term=2)
    assert sorted((o.seq_no, o.op) for o in filled) == [
        (0, "index"),
        (1, "noop"),
        (2, "noop"),
        (3, "index"),
    ]


def test_unavailable_shards_request_text_is_es_bulk_shard_request() -> None:
    assert (
        request_description(SID, [index_op("1", {"n": 1}), DeleteOp("2")])
        == "BulkShardRequest [[logs][0]] containing [2] requests"
    )
    assert (
        request_description(SID, [index_op("7", {"n": 1})])
        == 'BulkShardRequest [[logs][0]] containing [index {[logs][7], source[{"n":1}]}]'
    )
