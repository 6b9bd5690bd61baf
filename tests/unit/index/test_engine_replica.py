"""A shard copy applying someone else's operations (a CCR follower): ``apply_replicated``, the
local checkpoint over contiguous ``_seq_no``, the history uuid, and the max ``_seq_no`` of
updates and deletes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from isthmus.ccr.wire import ReplicatedOp
from isthmus.errors import DocumentParsingError
from isthmus.index.engine import DeleteOp, HistoryOp, ShardEngine
from isthmus.index.mapping import Mapping
from isthmus.index.seq_no import LocalCheckpointTracker
from tests.unit.index.test_engine import MAPPING, Clock, crash, index_op, matches, searchable


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def leader(tmp_path: Path, clock: Clock) -> Iterator[ShardEngine]:
    eng = ShardEngine(tmp_path / "leader", MAPPING, clock=clock)
    yield eng
    eng.close()


@pytest.fixture
def follower(tmp_path: Path, clock: Clock) -> Iterator[ShardEngine]:
    eng = ShardEngine(tmp_path / "follower", MAPPING, clock=clock)
    yield eng
    eng.close()


def idx(seq: int, doc_id: str, n: int, *, version: int = 1, term: int = 1) -> ReplicatedOp:
    return ReplicatedOp("index", doc_id, seq, term, version, orjson.dumps({"n": n}))


def dele(seq: int, doc_id: str, *, version: int = 2) -> ReplicatedOp:
    return ReplicatedOp("delete", doc_id, seq, 1, version)


def state(engine: ShardEngine) -> dict[str, tuple[int, int, object]]:
    """Every live document with its _seq_no, _version and source."""
    out = {}
    for doc in engine._iter_live_docs():
        out[doc.id] = (doc.seq_no, doc.version, orjson.loads(doc.source))
    return out


def test_apply_keeps_the_leaders_seq_no_term_and_version(follower: ShardEngine) -> None:
    stats = follower.apply_replicated([idx(0, "a", 1, term=3), idx(1, "b", 2, version=7)], MAPPING)
    assert (stats.max_seq_no, stats.local_checkpoint, stats.global_checkpoint) == (1, 1, 1)
    doc = follower.get("b")
    assert doc is not None and (doc.seq_no, doc.primary_term, doc.version) == (1, 1, 7)
    a = follower.get("a")
    assert a is not None and a.primary_term == 3
    follower.refresh()
    assert searchable(follower, "a") == 1 and matches(follower, "n", 2) == 1


def test_apply_is_idempotent(follower: ShardEngine) -> None:
    ops = [idx(0, "a", 1), idx(1, "a", 2, version=2), dele(2, "b")]
    follower.apply_replicated(ops, MAPPING)
    before = (state(follower), follower.history(0, 10), follower.max_seq_no_of_updates_or_deletes)
    again = follower.apply_replicated(ops + ops, MAPPING)
    assert again.local_checkpoint == 2
    assert (
        state(follower),
        follower.history(0, 10),
        follower.max_seq_no_of_updates_or_deletes,
    ) == before
    follower.refresh()
    assert searchable(follower, "a") == 1


def test_out_of_order_never_lets_an_older_op_win(follower: ShardEngine) -> None:
    # the newer index of "a" (seq 2) arrives before the older one (seq 0)
    stats = follower.apply_replicated([idx(2, "a", 20, version=2)], MAPPING)
    assert stats.local_checkpoint == -1 and stats.max_seq_no == 2
    follower.apply_replicated([idx(0, "a", 10)], MAPPING)
    assert follower.local_checkpoint == 0
    follower.apply_replicated([idx(1, "b", 1)], MAPPING)
    assert follower.local_checkpoint == 2
    assert state(follower) == {"a": (2, 2, {"n": 20}), "b": (1, 1, {"n": 1})}
    # the stale op is in the history all the same (a follower of this follower needs it)
    assert [o.seq_no for o in follower.history(0, 10)] == [0, 1, 2]
    follower.refresh()
    assert matches(follower, "n", 20) == 1 and matches(follower, "n", 10) == 0


def test_a_delete_keeps_its_tombstone_against_an_older_index(follower: ShardEngine) -> None:
    follower.apply_replicated([dele(5, "a", version=3)], MAPPING)
    follower.apply_replicated([idx(4, "a", 1, version=2)], MAPPING)
    assert follower.get("a") is None
    assert follower.stats().deleted_docs == 1
    follower.refresh()
    assert searchable(follower, "a") == 0
    assert follower.local_checkpoint == -1  # 0..3 still missing


def test_noops_fill_the_checkpoint(follower: ShardEngine) -> None:
    follower.apply_replicated([idx(0, "a", 1), ReplicatedOp("noop", "", 1, 1, 1)], MAPPING)
    assert follower.local_checkpoint == 1
    assert [o.op for o in follower.history(0, 5)] == ["index", "noop"]
    follower.refresh()
    assert searchable(follower, "a") == 1


def test_checkpoint_and_gaps_survive_a_restart(tmp_path: Path, clock: Clock) -> None:
    eng = ShardEngine(tmp_path / "f", MAPPING, clock=clock)
    eng.apply_replicated([idx(0, "a", 1), idx(2, "c", 3), idx(3, "d", 4)], MAPPING)
    assert eng.local_checkpoint == 0
    crash(eng)  # nothing refreshed: the search index must be replayed
    eng = ShardEngine(tmp_path / "f", MAPPING, clock=clock)
    assert (eng.local_checkpoint, eng.max_seq_no) == (0, 3)
    eng.apply_replicated([idx(1, "b", 2)], MAPPING)
    assert eng.local_checkpoint == 3
    eng.refresh()
    assert all(searchable(eng, d) == 1 for d in "abcd")
    eng.close()


def test_an_unrefreshed_late_op_is_replayed_after_a_crash(tmp_path: Path, clock: Clock) -> None:
    eng = ShardEngine(tmp_path / "f", MAPPING, clock=clock)
    eng.apply_replicated([idx(0, "a", 1), idx(2, "c", 3)], MAPPING)
    eng.refresh()
    eng.apply_replicated([idx(1, "b", 2)], MAPPING)  # below the highest refreshed seq_no
    crash(eng)
    eng = ShardEngine(tmp_path / "f", MAPPING, clock=clock)
    eng.refresh()
    assert searchable(eng, "b") == 1
    eng.close()


def test_following_a_leaders_history_reproduces_it(
    leader: ShardEngine, follower: ShardEngine
) -> None:
    rng = random.Random(17)
    for _ in range(30):
        ops: list[DeleteOp | object] = []
        for _ in range(rng.randint(1, 6)):
            doc_id = str(rng.randint(0, 9))
            ops.append(
                DeleteOp(doc_id) if rng.random() < 0.3 else index_op(doc_id, {"n": rng.random()})
            )
        leader.write(ops, MAPPING)  # type: ignore[arg-type]
    history = leader.history(0, leader.max_seq_no, limit=10_000)
    batches = [history[i : i + 7] for i in range(0, len(history), 7)]
    rng.shuffle(batches)
    for batch in batches:
        follower.apply_replicated(list(reversed(batch)), MAPPING)
    assert follower.local_checkpoint == leader.local_checkpoint == leader.max_seq_no
    assert state(follower) == state(leader)
    assert follower.max_seq_no_of_updates_or_deletes == leader.max_seq_no_of_updates_or_deletes


def test_history_ops_apply_directly(leader: ShardEngine, follower: ShardEngine) -> None:
    leader.write([index_op("a", {"n": 1}), DeleteOp("a")], MAPPING)
    ops: list[HistoryOp] = leader.history(0, 10)
    follower.apply_replicated(ops, MAPPING)
    assert follower.get("a") is None and follower.local_checkpoint == 1


def test_a_document_the_mapping_refuses_fails_the_batch_unwritten(follower: ShardEngine) -> None:
    strict = Mapping({"dynamic": "strict", "properties": {"n": {"type": "long"}}})
    bad = ReplicatedOp("index", "x", 1, 1, 1, orjson.dumps({"n": "not a number"}))
    with pytest.raises(DocumentParsingError):
        follower.apply_replicated([idx(0, "a", 1), bad], strict)
    assert follower.max_seq_no == -1 and follower.get("a") is None


def test_max_seq_no_of_updates_or_deletes_on_the_primary(leader: ShardEngine) -> None:
    assert leader.max_seq_no_of_updates_or_deletes == -1
    leader.write([index_op("a", {}), index_op("b", {})], MAPPING)
    assert leader.max_seq_no_of_updates_or_deletes == -1  # appends only
    leader.write([index_op("a", {}), index_op("c", {})], MAPPING)
    assert leader.max_seq_no_of_updates_or_deletes == 2
    leader.write([DeleteOp("zz")], MAPPING)  # a delete counts even when nothing was there
    assert leader.max_seq_no_of_updates_or_deletes == 4


def test_history_uuid_is_stored_and_new_per_shard(tmp_path: Path, clock: Clock) -> None:
    one = ShardEngine(tmp_path / "one", MAPPING, clock=clock)
    uuid = one.history_uuid
    assert len(uuid) == 22
    one.close()
    reopened = ShardEngine(tmp_path / "one", MAPPING, clock=clock)
    assert reopened.history_uuid == uuid
    reopened.close()
    other = ShardEngine(tmp_path / "two", MAPPING, clock=clock)
    assert other.history_uuid != uuid
    other.close()


def test_tracker_advances_over_contiguous_seq_nos_only() -> None:
    tracker = LocalCheckpointTracker(-1)
    for seq in (1, 3, 4):
        tracker.mark_processed(seq)
    assert tracker.checkpoint == -1 and tracker.gaps == 3
    assert tracker.checkpoint_with([0]) == 1 and tracker.checkpoint == -1
    tracker.mark_processed(0)
    assert tracker.checkpoint == 1 and tracker.has_processed(3) and not tracker.has_processed(2)
    tracker.mark_processed(2)
    assert tracker.checkpoint == 4 and tracker.gaps == 0
    assert LocalCheckpointTracker(5, [3, 6, 8]).checkpoint == 6


# --- retention leases and trimming -------------------------------------------------------------

HOUR_MS = 3_600_000


def churn(engine: ShardEngine, times: int) -> None:
    """``times`` updates of one document: every op but the last is history only."""
    for n in range(times):
        engine.write([index_op("a", {"n": n})], MAPPING)
    engine.refresh()


def test_trimming_never_drops_what_an_unexpired_lease_retains(
    leader: ShardEngine, clock: Clock
) -> None:
    churn(leader, 6)  # seq 0..5
    clock.now += 2 * 3600  # every op is older than the period ...
    leader.add_retention_lease("f/1", 3, "ccr", HOUR_MS)  # ... but this lease is fresh
    assert leader.trim_history(retain_ms=HOUR_MS, retain_ops=0) == 3
    assert [o.seq_no for o in leader.history(0, 10)] == [3, 4, 5]
    assert leader.min_retained_seq_no() == 3
    # renewed further on, the lease lets the older ones go
    leader.renew_retention_lease("f/1", 5, "ccr", HOUR_MS)
    assert leader.trim_history(retain_ms=HOUR_MS, retain_ops=0) == 2
    assert [o.seq_no for o in leader.history(0, 10)] == [5]


def test_the_lowest_of_several_leases_wins(leader: ShardEngine, clock: Clock) -> None:
    churn(leader, 6)
    clock.now += 2 * 3600
    leader.add_retention_lease("f/1", 4, "ccr", HOUR_MS)
    leader.add_retention_lease("f/2", 1, "ccr", HOUR_MS)
    leader.trim_history(retain_ms=HOUR_MS, retain_ops=0)
    assert [o.seq_no for o in leader.history(0, 10)] == [1, 2, 3, 4, 5]


def test_an_expired_lease_retains_nothing_and_is_removed(leader: ShardEngine, clock: Clock) -> None:
    churn(leader, 4)
    leader.add_retention_lease("f/1", 0, "ccr", HOUR_MS)
    clock.now += 2 * 3600  # not renewed for two hours, period one hour
    assert leader.trim_history(retain_ms=HOUR_MS, retain_ops=0) == 3
    assert leader.retention_leases(HOUR_MS) == []


def test_leases_survive_a_restart(tmp_path: Path, clock: Clock) -> None:
    eng = ShardEngine(tmp_path / "l", MAPPING, clock=clock)
    added = eng.add_retention_lease("f/1", 7, "ccr", HOUR_MS)
    eng.close()
    eng = ShardEngine(tmp_path / "l", MAPPING, clock=clock)
    assert eng.retention_leases_with_version(HOUR_MS) == (1, [added])
    eng.renew_retention_lease("f/1", 8, "ccr", HOUR_MS)
    assert eng.retention_leases_with_version(HOUR_MS)[0] == 2
    assert added.timestamp_ms == 1_000_000 and added.retaining_seq_no == 7
    eng.close()


def test_lease_errors_are_es_errors(leader: ShardEngine, clock: Clock) -> None:
    from isthmus.errors import (
        RetentionLeaseAlreadyExistsError,
        RetentionLeaseInvalidRetainingSeqNoError,
        RetentionLeaseNotFoundError,
    )

    leader.add_retention_lease("f/1", 5, "ccr", HOUR_MS)
    with pytest.raises(RetentionLeaseAlreadyExistsError) as exists:
        leader.add_retention_lease("f/1", 5, "ccr", HOUR_MS)
    assert exists.value.reason == "retention lease with ID [f/1] already exists"
    with pytest.raises(RetentionLeaseInvalidRetainingSeqNoError) as back:
        leader.renew_retention_lease("f/1", 4, "ccr", HOUR_MS)
    assert back.value.reason == (
        "the current retention lease with [f/1] is retaining a higher sequence number [5] than "
        "the new retaining sequence number [4] from [ccr]"
    )
    leader.remove_retention_lease("f/1", HOUR_MS)
    for call in (
        lambda: leader.remove_retention_lease("f/1", HOUR_MS),
        lambda: leader.renew_retention_lease("f/1", 6, "ccr", HOUR_MS),
    ):
        with pytest.raises(RetentionLeaseNotFoundError) as missing:
            call()
        assert missing.value.reason == "retention lease with ID [f/1] not found"
        assert missing.value.http_status == 404


def test_changes_are_bounded_and_report_trimmed_history(leader: ShardEngine, clock: Clock) -> None:
    from isthmus.errors import MissingHistoryOperationsError

    churn(leader, 6)
    assert [o.seq_no for o in leader.changes(0, 5, max_bytes=10**9)] == [0, 1, 2, 3, 4, 5]
    # the op that crosses the byte bound is the last one in (at least one always comes back)
    assert [o.seq_no for o in leader.changes(0, 5, max_bytes=1)] == [0]
    clock.now += 120
    leader.trim_history(retain_ms=60_000, retain_ops=0)
    with pytest.raises(MissingHistoryOperationsError) as gone:
        leader.changes(2, 5, max_bytes=10**9)
    assert gone.value.reason == (
        "Not all operations between from_seqno [2] and to_seqno [5] found; expected seqno [2]; "
        "found []"
    )
    assert [o.seq_no for o in leader.changes(5, 5, max_bytes=10**9)] == [5]


def test_trimming_keeps_operations_above_the_local_checkpoint(
    follower: ShardEngine, clock: Clock
) -> None:
    follower.apply_replicated([idx(0, "a", 1), idx(1, "a", 2, version=2)], MAPPING)
    follower.apply_replicated([idx(3, "b", 1), idx(4, "b", 2, version=2)], MAPPING)  # 2 missing
    follower.refresh()
    clock.now += 120
    follower.trim_history(retain_ms=0, retain_ops=0)
    # 0 went (superseded, at or below the checkpoint); 3 is superseded too but above it
    assert [o.seq_no for o in follower.history(0, 10)] == [1, 3, 4]


def test_a_gap_filled_after_a_replay_is_replayed_after_another_crash(
    tmp_path: Path, clock: Clock
) -> None:
    eng = ShardEngine(tmp_path / "f", MAPPING, clock=clock)
    eng.apply_replicated([idx(0, "a", 1), idx(2, "c", 3)], MAPPING)
    crash(eng)
    eng = ShardEngine(tmp_path / "f", MAPPING, clock=clock)  # replays 0 and 2; 1 is missing
    eng.apply_replicated([idx(1, "b", 2)], MAPPING)
    crash(eng)
    eng = ShardEngine(tmp_path / "f", MAPPING, clock=clock)
    eng.refresh()
    assert [searchable(eng, d) for d in "abc"] == [1, 1, 1]
    eng.close()


def test_a_store_snapshot_becomes_a_follower_shard(
    leader: ShardEngine, tmp_path: Path, clock: Clock
) -> None:
    from isthmus.index.store_snapshot import install_snapshot

    leader.write([index_op("a", {"n": 1}), index_op("b", {"n": 2}), DeleteOp("a")], MAPPING)
    leader.add_retention_lease("f/1", 0, "ccr", HOUR_MS)
    stats = leader.snapshot_store(tmp_path / "snap.sqlite")
    assert (stats.max_seq_no, stats.local_checkpoint) == (2, 2)
    leader.write([index_op("c", {"n": 3})], MAPPING)  # after the snapshot: not in it
    install_snapshot(tmp_path / "snap.sqlite", tmp_path / "copy")
    copy = ShardEngine(tmp_path / "copy", MAPPING, clock=clock)
    try:
        assert (copy.max_seq_no, copy.local_checkpoint) == (2, 2)
        assert copy.history_uuid != leader.history_uuid
        assert copy.retention_leases(HOUR_MS) == []
        assert copy.get("a") is None and copy.get("c") is None
        b = copy.get("b")
        assert b is not None and (b.seq_no, b.version) == (1, 1)
        copy.refresh()
        assert searchable(copy, "b") == 1 and searchable(copy, "a") == 0
        # and it follows on from the snapshot's checkpoint
        copy.apply_replicated(leader.history(3, 3), MAPPING)
        assert copy.local_checkpoint == 3 and copy.get("c") is not None
    finally:
        copy.close()
