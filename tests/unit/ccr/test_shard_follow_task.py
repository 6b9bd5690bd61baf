"""A shard follow task between two real shard engines, the leader reached through a flaky
in-memory stand-in for the transport: random index/update/delete sequences converge document by
document with the leader's ``_seq_no``, ``_primary_term`` and ``_version``; retryable failures
are retried (``read_exceptions``), non-retryable ones stop the task (``fatal_exception``)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.ccr.params import DEFAULTS, ByteSize
from isthmus.ccr.shard_task import MetadataVersions, ShardFollowSpec, ShardFollowTask
from isthmus.ccr.wire import (
    LeaderIndexMetadataResponse,
    ReplicatedOp,
    RetentionLeaseRequest,
    ShardChangesRequest,
    ShardChangesResponse,
)
from isthmus.cluster.routing import ShardId
from isthmus.errors import IndexNotFoundError, NodeDisconnectedError
from isthmus.index.engine import DeleteOp, IndexOp, ShardEngine
from isthmus.index.mapping import Mapping
from isthmus.settings.values import TimeValue

MAPPING = Mapping({"properties": {"n": {"type": "long"}, "tag": {"type": "keyword"}}})


class FlakyLeader:
    """A leader shard served as ``shard_changes`` would serve it: history by ``_seq_no`` up to
    the checkpoint, a bounded long-poll when caught up, and a failure now and then."""

    def __init__(self, engine: ShardEngine, rng: random.Random, fail_rate: float) -> None:
        self.engine = engine
        self.rng = rng
        self.fail_rate = fail_rate
        self.fatal: Exception | None = None
        self.calls = 0
        self.leases: list[RetentionLeaseRequest] = []

    async def shard_changes(self, request: ShardChangesRequest) -> ShardChangesResponse:
        self.calls += 1
        await asyncio.sleep(0)
        if self.fatal is not None:
            raise self.fatal
        if self.rng.random() < self.fail_rate:
            raise NodeDisconnectedError(
                "[leader][127.0.0.1:1][indices:data/read/xpack/ccr/shard_changes] disconnected"
            )
        deadline = asyncio.get_running_loop().time() + request.poll_timeout_ms / 1000
        while self.engine.local_checkpoint < request.from_seq_no:
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.002)
        checkpoint = self.engine.local_checkpoint
        history = self.engine.history(
            request.from_seq_no, checkpoint, min(request.max_operation_count, 7)
        )
        ops = tuple(
            ReplicatedOp(h.op, h.id, h.seq_no, h.primary_term, h.version, h.source)  # type: ignore[arg-type]
            for h in history
        )
        return ShardChangesResponse(ops, checkpoint, self.engine.max_seq_no, -1, 1, 1, 1, 0)

    async def index_metadata(self, index: str) -> LeaderIndexMetadataResponse:
        return LeaderIndexMetadataResponse(
            index, "uuid", "open", 1, MAPPING.to_json(), {}, {}, 2, 1, 1, ("h",)
        )

    async def add_lease(self, request: RetentionLeaseRequest) -> None:
        self.leases.append(request)

    async def renew_lease(self, request: RetentionLeaseRequest) -> None:
        self.leases.append(request)


def spec(**overrides: object) -> ShardFollowSpec:
    params = DEFAULTS
    params = type(params)(
        **{
            **params.__dict__,
            "max_retry_delay": TimeValue(2, "2ms"),
            "read_poll_timeout": TimeValue(30, "30ms"),
            "max_outstanding_read_requests": 3,
            "max_read_request_operation_count": 16,
            "max_write_request_operation_count": 5,
            "max_write_buffer_count": 40,
            "max_write_request_size": ByteSize(2000, "2000b"),
            **overrides,
        }
    )
    return ShardFollowSpec(
        follower=ShardId("fuuid", 0, "follower"),
        remote_cluster="leader",
        leader_index="logs",
        leader_index_uuid="uuid",
        history_uuid="h",
        lease_id="lease",
        parameters=params,
        renew_interval_s=0.02,
    )


def make_task(leader: FlakyLeader, follower: ShardEngine, **overrides: object) -> ShardFollowTask:
    async def apply(ops: Sequence[ReplicatedOp]) -> int:
        return (await asyncio.to_thread(follower.apply_replicated, ops, MAPPING)).local_checkpoint

    async def sync(seen: MetadataVersions) -> MetadataVersions:
        return seen

    return ShardFollowTask(
        spec(**overrides),
        leader,
        apply,
        sync,
        checkpoint=follower.local_checkpoint,
        rng=random.Random(7),
    )


Step = tuple[str, str, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(["index", "index", "delete"]),
        st.sampled_from("abcdefgh"),
        st.integers(0, 99),
    ),
    min_size=1,
    max_size=60,
)


def write(engine: ShardEngine, batch: list[Step]) -> None:
    for kind, doc_id, n in batch:
        if kind == "index":
            source = orjson.dumps({"n": n, "tag": f"t{n % 3}"})
            values = MAPPING.parse_document(orjson.loads(source), doc_id).values
            engine.write([IndexOp(doc_id, source, values)], MAPPING)
        else:
            engine.write([DeleteOp(doc_id)], MAPPING)


def assert_same(leader: ShardEngine, follower: ShardEngine) -> None:
    assert follower.local_checkpoint == leader.local_checkpoint == leader.max_seq_no
    for doc_id in "abcdefgh":
        mine, theirs = leader.get(doc_id), follower.get(doc_id)
        assert (theirs is None) == (mine is None), doc_id
        if mine is not None and theirs is not None:
            assert (theirs.seq_no, theirs.primary_term, theirs.version, theirs.source) == (
                mine.seq_no, mine.primary_term, mine.version, mine.source,
            )  # fmt: skip
    top = leader.max_seq_no
    assert [(h.seq_no, h.op, h.id, h.version) for h in follower.history(0, top, top + 1)] == [
        (h.seq_no, h.op, h.id, h.version) for h in leader.history(0, top, top + 1)
    ]


async def until(predicate: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=st.lists(steps, min_size=1, max_size=3), seed=st.integers(0, 1000))
def test_follower_converges_document_by_document(
    tmp_path_factory: pytest.TempPathFactory, rounds: list[list[Step]], seed: int
) -> None:
    base = tmp_path_factory.mktemp("follow")
    leader_engine = ShardEngine(base / "leader", MAPPING)
    follower_engine = ShardEngine(base / "follower", MAPPING)

    async def scenario() -> None:
        leader = FlakyLeader(leader_engine, random.Random(seed), fail_rate=0.2)
        task = make_task(leader, follower_engine)
        runner = asyncio.create_task(task.run())
        try:
            for batch in rounds:
                await asyncio.to_thread(write, leader_engine, batch)
                await until(
                    lambda: task.status.follower_global_checkpoint == leader_engine.local_checkpoint
                )
            assert task.status.fatal_exception is None
            assert task.status.operations_written == leader_engine.max_seq_no + 1
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    try:
        asyncio.run(scenario())
        assert_same(leader_engine, follower_engine)
    finally:
        leader_engine.close()
        follower_engine.close()


def test_restart_resumes_from_the_follower_checkpoint(tmp_path: Path) -> None:
    leader_engine = ShardEngine(tmp_path / "leader", MAPPING)
    follower_engine = ShardEngine(tmp_path / "follower", MAPPING)
    write(leader_engine, [("index", c, i) for i, c in enumerate("abcdef")])

    async def follow_until_caught_up() -> ShardFollowTask:
        leader = FlakyLeader(leader_engine, random.Random(1), fail_rate=0.0)
        task = make_task(leader, follower_engine)
        runner = asyncio.create_task(task.run())
        await until(
            lambda: task.status.follower_global_checkpoint == leader_engine.local_checkpoint
        )
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        return task

    asyncio.run(follow_until_caught_up())
    write(leader_engine, [("delete", "a", 0), ("index", "b", 42)])
    second = asyncio.run(follow_until_caught_up())
    # The second task started at the follower's checkpoint: it read only the two new operations.
    assert second.status.operations_written == 2
    assert_same(leader_engine, follower_engine)
    leader_engine.close()
    follower_engine.close()


class CountingLeader(FlakyLeader):
    """Counts how many times each ``_seq_no`` was served. While answering each of the first
    ``bursts`` ranged reads, 5 more operations are written (as on a leader under load): the
    answer's checkpoint is ahead of what the follower asked for."""

    def __init__(self, engine: ShardEngine, bursts: int) -> None:
        super().__init__(engine, random.Random(0), fail_rate=0.0)
        self.served: dict[int, int] = {}
        self.bursts = bursts

    async def shard_changes(self, request: ShardChangesRequest) -> ShardChangesResponse:
        if request.poll_timeout_ms == 0 and self.bursts > 0:
            self.bursts -= 1
            top = self.engine.max_seq_no
            write(self.engine, [("index", f"d{top + i}", i) for i in range(1, 6)])
        response = await super().shard_changes(request)
        for op in response.operations:
            self.served[op.seq_no] = self.served.get(op.seq_no, 0) + 1
        if request.poll_timeout_ms:
            # A woken long poll's answer comes late (its read queues behind the leader's
            # writes): meanwhile the follower plans its next reads.
            await asyncio.sleep(0.02)
        return response


def test_a_steadily_written_leader_serves_each_operation_once(tmp_path: Path) -> None:
    """Reads are counted outstanding when planned: counted when their tasks first ran, a long
    poll was planned beside ranged reads and waited where the next ranged read later started,
    and both read the same operations (a cost the leader paid for nothing)."""
    leader_engine = ShardEngine(tmp_path / "leader", MAPPING)
    follower_engine = ShardEngine(tmp_path / "follower", MAPPING)
    write(leader_engine, [("index", f"a{i}", i) for i in range(10)])

    async def scenario() -> None:
        leader = CountingLeader(leader_engine, bursts=6)
        task = make_task(leader, follower_engine)
        runner = asyncio.create_task(task.run())
        try:
            await until(
                lambda: (
                    leader.bursts == 0
                    and task.status.follower_global_checkpoint == leader_engine.local_checkpoint
                )
            )
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        twice = sorted(seq for seq, times in leader.served.items() if times > 1)
        assert twice == [], f"served more than once: {twice}"
        assert len(leader.served) == leader_engine.max_seq_no + 1 == 40
        assert task.status.outstanding_read_requests == 0

    try:
        asyncio.run(scenario())
        assert_same(leader_engine, follower_engine)
    finally:
        leader_engine.close()
        follower_engine.close()


def test_retryable_failures_show_in_read_exceptions_and_fatal_ones_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    leader_engine = ShardEngine(tmp_path / "leader", MAPPING)
    follower_engine = ShardEngine(tmp_path / "follower", MAPPING)
    write(leader_engine, [("index", "a", 1)])

    async def scenario() -> ShardFollowTask:
        leader = FlakyLeader(leader_engine, random.Random(3), fail_rate=1.0)
        task = make_task(leader, follower_engine, max_retry_delay=TimeValue(1, "1ms"))
        runner = asyncio.create_task(task.run())
        await until(lambda: task.status.failed_read_requests >= 3)
        body = task.to_json()
        (entry,) = body["read_exceptions"]
        assert entry["from_seq_no"] == 0
        assert entry["retries"] >= 3
        assert entry["exception"]["type"] == "node_disconnected_exception"
        leader.fail_rate = 0.0
        await until(lambda: task.status.follower_global_checkpoint == 0)
        await until(lambda: not task.to_json()["read_exceptions"])
        leader.fatal = IndexNotFoundError("logs")
        write(leader_engine, [("index", "b", 2)])
        await asyncio.wait_for(runner, 10)  # a fatal error ends the task on its own
        return task

    with caplog.at_level(logging.DEBUG, "org.elasticsearch.xpack.ccr.action.ShardFollowNodeTask"):
        task = asyncio.run(scenario())
    body = task.to_json()
    assert body["fatal_exception"]["type"] == "index_not_found_exception"
    assert body["fatal_exception"]["reason"] == "no such index [logs]"
    messages = [r.getMessage() for r in caplog.records]
    assert any(m == "[follower][0] error during follow shard task, retrying [1]" for m in messages)
    assert any("shard follow task encounter non-retryable error" in m for m in messages)
    assert set(body) >= {
        "remote_cluster", "leader_index", "follower_index", "shard_id",
        "leader_global_checkpoint", "leader_max_seq_no", "follower_global_checkpoint",
        "follower_max_seq_no", "last_requested_seq_no", "outstanding_read_requests",
        "outstanding_write_requests", "write_buffer_operation_count",
        "write_buffer_size_in_bytes", "follower_mapping_version", "follower_settings_version",
        "follower_aliases_version", "total_read_time_millis",
        "total_read_remote_exec_time_millis", "successful_read_requests",
        "failed_read_requests", "operations_read", "bytes_read", "total_write_time_millis",
        "successful_write_requests", "failed_write_requests", "operations_written",
        "read_exceptions", "time_since_last_read_millis",
    }  # fmt: skip
    leader_engine.close()
    follower_engine.close()


def test_retry_delay_is_jittered_exponential_and_capped() -> None:
    from isthmus.ccr.retry import retry_delay_ms

    rng = random.Random(5)
    assert {retry_delay_ms(1, 10_000, rng) for _ in range(200)} == {0, 50}
    assert max(retry_delay_ms(4, 10_000, rng) for _ in range(500)) == 400
    assert max(retry_delay_ms(60, 500, rng) for _ in range(50)) == 500


def test_retry_classification_follows_es() -> None:
    from isthmus import errors as e
    from isthmus.ccr.retry import should_retry

    retried = [
        e.NodeDisconnectedError("gone"),
        e.NoSuchRemoteClusterError("leader"),
        e.IndexClosedError("logs", "u"),
        e.SecurityError("denied"),
        e.ShardNotFoundError("logs", "u", 0),
        ConnectionResetError(),
    ]
    fatal = [
        e.IndexNotFoundError("logs"),
        e.IllegalStateError("unexpected history uuid, expected [a], actual [b]"),
        e.ResourceNotFoundError("Operations are no longer available for replicating."),
        e.DocumentParsingError("bad"),
    ]
    assert all(should_retry(exc) for exc in retried)
    assert not any(should_retry(exc) for exc in fatal)
