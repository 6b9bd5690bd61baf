"""Where a follower shard's task runs, in-process (no sockets): on the node of the shard's
started primary only, moved when the primary moves; a cluster of one runs every shard here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from isthmus.ccr.follower_index import CCR_CUSTOM_KEY, CcrMetadata, FollowTaskRecord, with_task
from isthmus.ccr.follower_tasks import FollowerTasks
from isthmus.ccr.params import FollowParameters
from isthmus.ccr.placement import CcrPlacement
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.routing import ShardId
from isthmus.cluster.shard_copies import CopyTarget
from isthmus.errors import NodeNotConnectedError
from isthmus.index.mapping import Mapping
from isthmus.index.service import IndicesService

CCR = CcrMetadata("L-uuid", "lead", "leader", ("h0", "h1"))
FOLLOWER = with_task(
    IndexMetadata(
        "copy",
        "F-uuid",
        {"index.number_of_shards": "2", "index.xpack.ccr.following_index": "true"},
        Mapping({}),
        custom={CCR_CUSTOM_KEY: CCR.to_custom()},
    ),
    FollowTaskRecord(FollowParameters()),
)


@dataclass
class Copies:
    """Shard n's primary on ``primaries[n]``."""

    primaries: dict[int, str]
    local_node_id: str = "here"
    distributed: bool = True

    def primary(self, shard_id: ShardId) -> CopyTarget | None:
        node = self.primaries.get(shard_id.shard)
        return None if node is None else CopyTarget(node, f"a{shard_id.shard}", True, True)

    def replicas(self, shard_id: ShardId) -> list[CopyTarget]:
        return []

    def readable(self, shard_id: ShardId) -> list[CopyTarget]:
        return []

    def primary_term(self, shard_id: ShardId) -> int:
        return 1

    async def fail_copy(
        self, shard_id: ShardId, aid: str, term: int, reason: str, *, unreachable: bool = False
    ) -> None:
        return None


class Remote:
    """A leader never reached: the tasks retry in the background, which is all they do here."""

    async def channel_for_request(self, alias: str, policy: str) -> Any:
        raise NodeNotConnectedError(f"[{alias}] Node not connected")

    def headers(self, alias: str, subject: Any, action: str) -> dict[str, str]:
        return {}


class Cluster:
    def __init__(self) -> None:
        self.state = ClusterMetadata("c", {"copy": FOLLOWER})


@pytest.fixture
async def tasks(tmp_path: Path) -> AsyncIterator[tuple[FollowerTasks, Copies]]:
    cluster = Cluster()
    indices = IndicesService(tmp_path)
    await indices.apply(ClusterMetadata("c"), cluster.state)  # both shards open here
    tasks = FollowerTasks(cast(Any, cluster), indices, cast(Any, Remote()), cluster_name="f")
    yield tasks, Copies({0: "here", 1: "there"})
    await tasks.close()
    await indices.close()


def running(tasks: FollowerTasks) -> list[int]:
    run = tasks.run_of("F-uuid")
    return [] if run is None else sorted(n for n, t in run.runs.items() if not t.done())


async def test_a_shard_task_runs_on_its_primarys_node_and_moves_with_it(
    tasks: tuple[FollowerTasks, Copies],
) -> None:
    follower, copies = tasks

    async def unused(*_: Any) -> Any:
        raise AssertionError("not asked")

    follower.distribute(CcrPlacement(copies, "f", unused), None)
    state = ClusterMetadata("c", {"copy": FOLLOWER})
    await follower.apply(ClusterMetadata("c"), state)
    assert running(follower) == [0]
    # Shard 1's replica here is promoted, shard 0's primary goes to another node.
    copies.primaries.update({0: "there", 1: "here"})
    await follower.apply(state, state)
    assert running(follower) == [1]
    # No active primary anywhere: no task.
    del copies.primaries[1]
    await follower.apply(state, state)
    assert running(follower) == []


async def test_a_cluster_of_one_runs_every_shard(tasks: tuple[FollowerTasks, Copies]) -> None:
    follower, _ = tasks
    state = ClusterMetadata("c", {"copy": FOLLOWER})
    await follower.apply(ClusterMetadata("c"), state)
    assert running(follower) == [0, 1]
    paused = ClusterMetadata("c", {"copy": with_task(FOLLOWER, None)})
    await follower.apply(state, paused)
    assert follower.run_of("F-uuid") is None
