"""Reading shards that are on other nodes of this cluster (coordinating side).

In a cluster of several nodes a node holds only some copies of an index's shards. A search
coordinated here searches the shards it holds as on one node and sends every other node one
request carrying all the shards it is asked for (:mod:`isthmus.actions.node_shards_wire`); their
results merge with the local ones exactly as another cluster's shards do in a cross-cluster
search. When a node fails to answer, or answers a shard's failure, that shard is asked at its
next started copy (ES's shard failover); it counts as failed only when every copy failed, and
one with no copy at all fails with ``NoShardAvailableActionException``.

The requests travel as the system identity between nodes of one cluster: the coordinating node
authorized the caller and sends the caller's document- and field-level security with each shard;
the receiving node answers only requests naming its own cluster
(:mod:`isthmus.actions.node_shards_handlers`), over the channels the node keeps to its peers
(:class:`~isthmus.actions.peer_channels.PeerChannels`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from isthmus.actions.node_shards_plan import ShardTask
from isthmus.actions.node_shards_wire import (
    NodeShard,
    NodeShardsRequest,
    answer_entries,
    nearest_from_payload,
    stats_from_payload,
)
from isthmus.actions.peer_channels import PeerChannels
from isthmus.actions.search_shard import ShardResult
from isthmus.actions.shard_wire import decode_shard_result
from isthmus.cluster.nodes import NodesView
from isthmus.errors import (
    IsthmusError,
    NodeNotConnectedError,
    NoShardAvailableActionError,
)
from isthmus.search import knn
from isthmus.search.dfs import TermStats
from isthmus.search.request import SearchRequest
from isthmus.wire import RemoteProtocolError
from isthmus.wire.messages import WireError
from isthmus.wire.names import NODE_DFS_ACTION, NODE_QUERY_ACTION, NODE_REFRESH_ACTION

log = logging.getLogger("org.elasticsearch.action.search.SearchTransportService")


# What makes a copy's answer unusable: the node's error, a broken answer, a broken connection.
COPY_FAILURES = (IsthmusError, RemoteProtocolError, OSError)


def copy_failure(exc: BaseException) -> IsthmusError:
    """A copy's failure as the shard failure ES would report for it."""
    if isinstance(exc, IsthmusError):
        return exc
    if isinstance(exc, RemoteProtocolError):
        return IsthmusError(f"malformed answer: {exc.close_reason}")
    return NodeNotConnectedError(str(exc))


class ShardCopiesFailed(Exception):
    """Every copy of a shard failed: the last copy's error, and that copy's node."""

    def __init__(self, error: IsthmusError, node_id: str | None) -> None:
        super().__init__(error.reason)
        self.error = error
        self.node_id = node_id


class NodeChannels:
    """The nodes of this cluster by id, and the kept channels to them."""

    def __init__(self, cluster_name: str, view: NodesView, peers: PeerChannels) -> None:
        self.cluster_name = cluster_name
        self.view = view
        self.peers = peers

    async def request(self, node_id: str, action: str, payload: Any) -> Any:
        node = self.view.nodes.get(node_id)
        if node is None:
            raise NodeNotConnectedError(f"[{node_id}] Node not connected")
        # No timeout of its own: a search is bounded by its caller (ES's shard requests too).
        return await self.peers.request(node, action, payload, timeout=None)

    def __repr__(self) -> str:
        return f"<NodeChannels {self.peers!r}>"


@dataclass
class ReadSpec:
    """What every shard of one read shares (the request, before the per-node split)."""

    body: Mapping[str, Any]
    params: Mapping[str, str]
    now_ms: int
    from_: int = 0
    size: int = 10
    search_after: list[Any] | None = None
    collect_all: bool = False
    pre_filter: bool = False
    cluster_alias: str | None = None
    term_stats: TermStats | None = None
    knn: list[Any] | None = None
    gather_stats: bool = True
    # Per shard (index, shard number): its boost and the caller's restriction.
    shard_extras: dict[tuple[str, int], NodeShard] = field(default_factory=dict)


class NodeShardsClient:
    """Asks other nodes of this cluster for their shards' results, with failover."""

    def __init__(self, channels: NodeChannels) -> None:
        self.channels = channels

    async def ask(
        self, node_id: str, action: str, spec: ReadSpec, tasks: Sequence[ShardTask]
    ) -> list[Any]:
        """One node's entries for ``tasks`` (raw results or :class:`IsthmusError`); the node's
        own failure (unreachable, left) raises."""
        shards = tuple(
            replace(
                spec.shard_extras.get((t.index, t.shard), NodeShard(t.index, t.shard)),
                filters=list(t.filters) if t.filters else None,
            )
            for t in tasks
        )
        request = NodeShardsRequest(
            cluster_name=self.channels.cluster_name,
            body=spec.body,
            params=spec.params,
            shards=shards,
            now_ms=spec.now_ms,
            from_=spec.from_,
            size=spec.size,
            search_after=spec.search_after,
            collect_all=spec.collect_all,
            pre_filter=spec.pre_filter,
            cluster_alias=spec.cluster_alias,
            term_stats=spec.term_stats,
            knn=spec.knn,
            gather_stats=spec.gather_stats,
        )
        answer = await self.channels.request(node_id, action, request.to_payload())
        return answer_entries(answer, len(tasks))

    def jobs(
        self,
        action: str,
        spec: ReadSpec,
        remote: Mapping[str, list[ShardTask]],
        decode: Callable[[Any], Any],
    ) -> list[tuple[ShardTask, Awaitable[Any]]]:
        """One awaitable per shard: its decoded result, or :class:`ShardCopiesFailed` once every
        copy failed. Shards of one node share one request."""
        out: list[tuple[ShardTask, Awaitable[Any]]] = []
        for node_id, tasks in remote.items():
            batch = SharedRequest(functools.partial(self.ask, node_id, action, spec, tasks))
            for position, task in enumerate(tasks):
                out.append((task, self._one(action, spec, task, batch, position, decode)))
        return out

    async def _one(
        self,
        action: str,
        spec: ReadSpec,
        task: ShardTask,
        batch: SharedRequest,
        position: int,
        decode: Callable[[Any], Any],
    ) -> Any:
        node_id = task.first_node
        assert node_id is not None
        error: IsthmusError
        try:
            entry = (await batch.result())[position]
            if not isinstance(entry, IsthmusError):
                return decode(entry)
            error = entry
        except COPY_FAILURES as exc:
            error = copy_failure(exc)
        while True:
            log.debug("[%s][%d] failed on node [%s]: %s", task.index, task.shard, node_id, error)
            task = task.after(node_id)
            next_node = task.first_node
            if next_node is None:
                raise ShardCopiesFailed(error, node_id)
            node_id = next_node
            try:
                (entry,) = await self.ask(node_id, action, spec, [task])
                if not isinstance(entry, IsthmusError):
                    return decode(entry)
                error = entry
            except COPY_FAILURES as exc:
                error = copy_failure(exc)

    def __repr__(self) -> str:
        return f"<NodeShardsClient {self.channels!r}>"


class SharedRequest:
    """One node's request, sent once for all its shards' jobs (the first job to ask sends it)."""

    def __init__(self, send: Callable[[], Awaitable[list[Any]]]) -> None:
        self._send = send
        self._future: asyncio.Future[list[Any]] | None = None

    async def result(self) -> list[Any]:
        if self._future is not None:
            return await asyncio.shield(self._future)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._future = future
        try:
            value = await self._send()
        except COPY_FAILURES as exc:
            error = copy_failure(exc)
            future.set_exception(error)
            future.exception()  # read here: the other jobs may all have failed over already
            raise error from None
        except BaseException:
            future.cancel()
            raise
        future.set_result(value)
        return value


class NodeShardJobs:
    """A search's shards on other nodes, taking part in it as cross-cluster search's remote
    shards do (the ``RemoteShards`` of :mod:`isthmus.actions.search_targets`)."""

    def __init__(
        self,
        client: NodeShardsClient,
        spec: ReadSpec,
        remote: dict[str, list[ShardTask]],
        unavailable: list[ShardTask],
    ) -> None:
        self.client = client
        self.spec = spec
        self.remote = remote
        self.unavailable = unavailable
        self.mappings: dict[str, Any] = {}  # the hits' indices are local names: known here

    @property
    def count(self) -> int:
        return sum(len(t) for t in self.remote.values()) + len(self.unavailable)

    def tasks(self) -> list[ShardTask]:
        return [t for tasks in self.remote.values() for t in tasks]

    def jobs(
        self, now_ms: int, collect_all: bool, pre_filter: bool
    ) -> list[tuple[str, int, Awaitable[ShardResult]]]:
        spec = replace(self.spec, now_ms=now_ms, collect_all=collect_all, pre_filter=pre_filter)
        out: list[tuple[str, int, Awaitable[ShardResult]]] = [
            (task.index, task.shard, job)
            for task, job in self.client.jobs(
                NODE_QUERY_ACTION, spec, self.remote, decode_shard_result
            )
        ]
        for task in self.unavailable:
            out.append((task.index, task.shard, _unavailable(task)))
        return out

    def dfs(self, gather_stats: bool) -> list[Awaitable[Any]]:
        """The DFS phase of the shards on other nodes: each its (nearest, term statistics)."""
        spec = replace(self.spec, gather_stats=gather_stats)
        jobs = self.client.jobs(NODE_DFS_ACTION, spec, self.remote, decode_dfs)
        return [job for _task, job in jobs]

    def chosen(self, req: SearchRequest, term_stats: TermStats | None) -> None:
        """What the DFS phase decided for every shard: the global statistics and nearest."""
        clauses = knn.top_level_clauses(req.query)
        self.spec.term_stats = term_stats
        self.spec.knn = [c.chosen or () for c in clauses] if clauses else None


def decode_dfs(value: Any) -> tuple[list[list[tuple[float, str, str]]], TermStats | None]:
    """One shard's DFS entry: ``{"nearest": [...], "stats": {...} | None}``."""
    if not isinstance(value, dict):
        raise RemoteProtocolError("shard DFS result is not a map")
    stats = value.get("stats")
    return (
        nearest_from_payload(value.get("nearest", [])),
        None if stats is None else stats_from_payload(stats),
    )


async def _unavailable(task: ShardTask) -> ShardResult:
    raise ShardCopiesFailed(
        NoShardAvailableActionError(task.index, task.index_uuid, task.shard), None
    )


class CopiesRefresh:
    """``_refresh`` in a cluster of several nodes: the other nodes holding copies of the
    indices refresh theirs (ES broadcasts the refresh to every copy), so a search after it sees
    the documents whichever copy answers."""

    def __init__(self, channels: NodeChannels, local_node_id: Callable[[], str]) -> None:
        self.channels = channels
        self.local_node_id = local_node_id

    async def refresh(
        self, routing: Mapping[str, Any], index_uuids: Mapping[str, str]
    ) -> tuple[int, list[dict[str, Any]]]:
        """How many copies on other nodes refreshed, and ES's shard failures for the others
        (``routing``: the cluster metadata's routing table by index uuid; ``index_uuids``: the
        indices' names by uuid)."""
        local = self.local_node_id()
        nodes: set[str] = set()
        for uuid in index_uuids:
            table = routing.get(uuid)
            if table is None:
                continue
            for shard in table.shards:
                nodes.update(c.node_id for c in shard.copies if c.node_id and c.node_id != local)
        payload = {"cluster_name": self.channels.cluster_name, "index_uuids": list(index_uuids)}
        ordered = sorted(nodes)
        answers = await asyncio.gather(
            *(self.channels.request(n, NODE_REFRESH_ACTION, payload) for n in ordered),
            return_exceptions=True,
        )
        done = 0
        failures: list[dict[str, Any]] = []
        for node_id, answer in zip(ordered, answers, strict=True):
            if isinstance(answer, COPY_FAILURES):
                log.debug("refresh on node [%s] failed: %s", node_id, answer)
                failures.extend(_node_copy_failures(routing, index_uuids, node_id, answer))
                continue
            if isinstance(answer, BaseException):
                raise answer
            if not isinstance(answer, dict) or not isinstance(answer.get("done"), int):
                raise RemoteProtocolError("refresh answer is malformed")
            done += answer["done"]
            for failure in answer.get("failures") or []:
                error = WireError.from_payload(failure.get("error")).to_exception()
                failures.append(
                    {
                        "shard": failure.get("shard"),
                        "index": failure.get("index"),
                        "status": _status_name(error.http_status),
                        "reason": error.to_cause(),
                    }
                )
        return done, failures


def _node_copy_failures(
    routing: Mapping[str, Any], index_uuids: Mapping[str, str], node_id: str, error: BaseException
) -> list[dict[str, Any]]:
    """One failure per copy of an unreachable node (ES's DefaultShardOperationFailedException)."""
    cause = copy_failure(error)
    out = []
    for uuid in index_uuids:
        table = routing.get(uuid)
        if table is None:
            continue
        for shard in table.shards:
            for copy in shard.copies:
                if copy.node_id == node_id:
                    out.append(
                        {
                            "shard": shard.shard,
                            "index": index_uuids[uuid],
                            "status": _status_name(cause.http_status),
                            "reason": cause.to_cause(),
                        }
                    )
    return out


def _status_name(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).name
    except ValueError:
        return "INTERNAL_SERVER_ERROR"


__all__ = [
    "COPY_FAILURES",
    "CopiesRefresh",
    "NodeChannels",
    "NodeShardJobs",
    "NodeShardsClient",
    "ReadSpec",
    "ShardCopiesFailed",
    "SharedRequest",
    "copy_failure",
    "decode_dfs",
]
