"""The coordinating side of reads on other nodes, on scripted nodes (no sockets): one request
per node for all its shards, the next copy when a node or a shard fails, the last copy's failure
when every copy failed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from isthmus.actions.node_shards import NodeShardsClient, ReadSpec, ShardCopiesFailed
from isthmus.actions.node_shards_plan import ShardTask
from isthmus.actions.node_shards_wire import NodeShardsRequest, answer_entry
from isthmus.cluster.shard_copies import CopyTarget
from isthmus.errors import IsthmusError, NodeDisconnectedError, ShardNotFoundError
from isthmus.wire.names import NODE_QUERY_ACTION


class ScriptedChannels:
    """Nodes answering from a script: per node, a shard's entry or the node's own failure."""

    cluster_name = "multi"

    def __init__(self, down: set[str], missing: set[tuple[str, int]]) -> None:
        self.down = down
        self.missing = missing  # (node, shard) pairs the node does not hold
        self.asked: list[tuple[str, list[int]]] = []

    async def request(self, node_id: str, action: str, payload: Any) -> Any:
        assert action == NODE_QUERY_ACTION
        request = NodeShardsRequest.from_payload(payload)
        self.asked.append((node_id, [s.shard for s in request.shards]))
        await asyncio.sleep(0)
        if node_id in self.down:
            raise NodeDisconnectedError(f"[{node_id}] disconnected")
        entries = []
        for shard in request.shards:
            if (node_id, shard.shard) in self.missing:
                outcome: Any = ShardNotFoundError(shard.index, "u", shard.shard)
            else:
                outcome = {"shard": shard.shard, "node": node_id}
            entries.append(answer_entry(outcome, lambda v: v))
        return {"results": entries}


def copy(node: str) -> CopyTarget:
    return CopyTarget(node, f"alloc-{node}", node == "a", True)


def tasks_by_node(*tasks: ShardTask) -> dict[str, list[ShardTask]]:
    out: dict[str, list[ShardTask]] = {}
    for t in tasks:
        assert t.first_node is not None
        out.setdefault(t.first_node, []).append(t)
    return out


async def run(channels: ScriptedChannels, *tasks: ShardTask) -> list[Any]:
    client = NodeShardsClient(channels)  # type: ignore[arg-type]
    spec = ReadSpec(body={}, params={}, now_ms=1)
    jobs = client.jobs(NODE_QUERY_ACTION, spec, tasks_by_node(*tasks), lambda v: v)
    return list(await asyncio.gather(*(j for _t, j in jobs), return_exceptions=True))


def test_one_request_per_node_carries_all_its_shards() -> None:
    channels = ScriptedChannels(set(), set())
    t0 = ShardTask("i", "u", 0, (copy("a"), copy("b")))
    t1 = ShardTask("i", "u", 1, (copy("a"),))
    t2 = ShardTask("i", "u", 2, (copy("b"),))
    results = asyncio.run(run(channels, t0, t1, t2))
    assert results == [
        {"shard": 0, "node": "a"},
        {"shard": 1, "node": "a"},
        {"shard": 2, "node": "b"},
    ]
    assert sorted(channels.asked) == [("a", [0, 1]), ("b", [2])]


def test_a_node_down_fails_over_each_shard_to_its_next_copy() -> None:
    channels = ScriptedChannels({"a"}, set())
    t0 = ShardTask("i", "u", 0, (copy("a"), copy("b")))
    t1 = ShardTask("i", "u", 1, (copy("a"), copy("c")))
    results = asyncio.run(run(channels, t0, t1))
    assert results == [{"shard": 0, "node": "b"}, {"shard": 1, "node": "c"}]
    assert channels.asked[0] == ("a", [0, 1])  # the node's one request, then one per shard
    assert sorted(channels.asked[1:]) == [("b", [0]), ("c", [1])]


def test_a_shard_failure_is_retried_on_the_next_copy_only_for_that_shard() -> None:
    channels = ScriptedChannels(set(), {("a", 1)})
    t0 = ShardTask("i", "u", 0, (copy("a"), copy("b")))
    t1 = ShardTask("i", "u", 1, (copy("a"), copy("b")))
    results = asyncio.run(run(channels, t0, t1))
    assert results == [{"shard": 0, "node": "a"}, {"shard": 1, "node": "b"}]
    assert channels.asked == [("a", [0, 1]), ("b", [1])]


def test_every_copy_failed_reports_the_last_copy_and_its_error() -> None:
    channels = ScriptedChannels({"a"}, {("b", 0)})
    t0 = ShardTask("i", "u", 0, (copy("a"), copy("b")))
    (outcome,) = asyncio.run(run(channels, t0))
    assert isinstance(outcome, ShardCopiesFailed)
    assert outcome.node_id == "b"
    assert isinstance(outcome.error, ShardNotFoundError)


def test_a_malformed_answer_fails_over_like_a_node_failure() -> None:
    class Garbled(ScriptedChannels):
        async def request(self, node_id: str, action: str, payload: Any) -> Any:
            if node_id == "a":
                self.asked.append((node_id, []))
                return {"results": "nonsense"}
            return await super().request(node_id, action, payload)

    channels = Garbled(set(), set())
    (outcome,) = asyncio.run(run(channels, ShardTask("i", "u", 0, (copy("a"), copy("b")))))
    assert outcome == {"shard": 0, "node": "b"}


@pytest.mark.parametrize("error", [OSError("connection refused"), ConnectionError("stopping")])
def test_a_socket_error_is_a_node_failure(error: OSError) -> None:
    class Refusing(ScriptedChannels):
        async def request(self, node_id: str, action: str, payload: Any) -> Any:
            if node_id == "a":
                raise error
            return await super().request(node_id, action, payload)

    channels = Refusing(set(), set())
    t0 = ShardTask("i", "u", 0, (copy("a"),))
    (outcome,) = asyncio.run(run(channels, t0))
    assert isinstance(outcome, ShardCopiesFailed)
    assert isinstance(outcome.error, IsthmusError)
    assert outcome.node_id == "a"


def test_failures_of_the_retried_copy_are_shard_failures_too() -> None:
    class Flaky(ScriptedChannels):
        async def request(self, node_id: str, action: str, payload: Any) -> Any:
            self.asked.append((node_id, []))
            if node_id == "a":
                raise NodeDisconnectedError("[a] disconnected")
            if node_id == "b":
                raise OSError("connection reset")
            return {"results": [{"result": 1}, {"bogus": 2}]}  # two entries for one shard

    channels = Flaky(set(), set())
    (outcome,) = asyncio.run(
        run(channels, ShardTask("i", "u", 0, (copy("a"), copy("b"), copy("c"))))
    )
    assert isinstance(outcome, ShardCopiesFailed)
    assert outcome.node_id == "c" and "malformed answer" in outcome.error.reason
    assert [n for n, _ in channels.asked] == ["a", "b", "c"]
