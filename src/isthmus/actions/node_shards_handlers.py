"""What a node answers when another node of its cluster asks it to read some of its shards
(the receiving side of :mod:`isthmus.actions.node_shards`).

* ``indices:data/read/search[query][n]``: each named shard's query and fetch, as the
  coordinating node would run it locally (same parse, page, boosts, global DFS statistics and
  knn nearest, the caller's document- and field-level security);
* ``indices:data/read/search[phase/dfs][n]``: each named shard's DFS phase (its nearest per
  top-level knn clause, its term statistics);
* ``indices:data/read/search[suggest][n]``: each named shard's ``suggest`` section;
* ``indices:admin/refresh[s]``: refresh the copies this node holds of the named indices.

The coordinating node authorized its caller: these travel as the system identity, and are
answered only for a request naming this node's cluster. Each shard's failure is its own entry of
the answer (a shard this node does not hold is ``shard_not_found_exception``), so the
coordinator can ask that shard's next copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from isthmus.actions.node_shards_wire import (
    NodeShardsRequest,
    answer_entry,
    nearest_to_payload,
    stats_to_payload,
)
from isthmus.actions.search import suggest_view
from isthmus.actions.search_dfs import DfsShard, shard_dfs
from isthmus.actions.shard_wire import encode_shard_result
from isthmus.cluster.routing import ShardId
from isthmus.errors import (
    IllegalArgumentError,
    IndexNotFoundError,
    IsthmusError,
    ShardNotFoundError,
)
from isthmus.search import knn
from isthmus.search.index_field import qualified_index
from isthmus.search.request import SearchRequest
from isthmus.search.suggest import suggest_section
from isthmus.wire.names import (
    NODE_DFS_ACTION,
    NODE_QUERY_ACTION,
    NODE_REFRESH_ACTION,
    NODE_SUGGEST_ACTION,
)

if TYPE_CHECKING:
    from isthmus.actions.search import SearchActions
    from isthmus.transport.actions import ActionRegistry, TransportRequestContext


class NodeShardsHandlers:
    """Answers the shard reads of the other nodes of ``cluster_name`` with ``search``."""

    def __init__(self, search: SearchActions, cluster_name: str) -> None:
        self.search = search
        self.cluster_name = cluster_name

    def register(self, registry: ActionRegistry[Any]) -> None:
        registry.register(NODE_QUERY_ACTION, self._on_query)
        registry.register(NODE_DFS_ACTION, self._on_dfs)
        registry.register(NODE_REFRESH_ACTION, self._on_refresh)
        registry.register(NODE_SUGGEST_ACTION, self._on_suggest)

    def _own(self, payload: Any, action: str) -> Any:
        if not isinstance(payload, Mapping) or payload.get("cluster_name") != self.cluster_name:
            raise IllegalArgumentError(
                f"[{action}] is only answered to nodes of cluster [{self.cluster_name}]"
            )
        return payload

    def _parsed(self, request: NodeShardsRequest) -> SearchRequest:
        """The request as the coordinating node runs it on its own shards."""
        names = ",".join(sorted({s.index for s in request.shards}))
        req = self.search.parse(names, request.body, request.params)
        req = replace(
            req,
            from_=request.from_,
            size=request.size,
            search_after=None if request.search_after is None else tuple(request.search_after),
        )
        if request.knn is not None and knn.top_level_clauses(req.query):
            req = replace(req, query=knn.with_chosen(req.query, request.knn))
        return req

    async def _on_query(self, payload: Any, ctx: TransportRequestContext[Any]) -> Any:
        request = NodeShardsRequest.from_payload(self._own(payload, NODE_QUERY_ACTION))
        req = self._parsed(request)
        outcomes = await asyncio.gather(
            *(
                self.search.query_one_shard(
                    shard.index,
                    shard.shard,
                    req,
                    now_ms=request.now_ms,
                    collect_all=request.collect_all,
                    filters=shard.filters,
                    restriction=shard.restriction,
                    cluster_alias=request.cluster_alias,
                    pre_filter=request.pre_filter,
                    index_boost=shard.boost,
                    term_stats=request.term_stats,
                    forward=False,
                )
                for shard in request.shards
            ),
            return_exceptions=True,
        )
        return {"results": [answer_entry(_as_error(o), encode_shard_result) for o in outcomes]}

    async def _on_dfs(self, payload: Any, ctx: TransportRequestContext[Any]) -> Any:
        request = NodeShardsRequest.from_payload(self._own(payload, NODE_DFS_ACTION))
        req = self._parsed(request)
        state = self.search.cluster.state

        async def one(index: str, number: int, shard_payload: Any) -> dict[str, Any]:
            meta = state.indices.get(index)
            if meta is None:
                raise IndexNotFoundError(index)
            shard = self.search.indices.shard(ShardId(meta.uuid, number, meta.name))
            if shard is None:
                raise ShardNotFoundError(meta.name, meta.uuid, number)
            schema, searcher = shard.engine.view()
            view = DfsShard(
                qualified_index(request.cluster_alias, meta.name),
                schema,
                searcher,
                meta.mapping,
                shard_payload.filters,
                shard_payload.restriction,
                request.now_ms,
            )
            nearest, stats = await self.search.indices.run_search(
                shard_dfs, view, req, request.gather_stats
            )
            return {
                "nearest": nearest_to_payload(nearest),
                "stats": None if stats is None else stats_to_payload(stats),
            }

        outcomes = await asyncio.gather(
            *(one(s.index, s.shard, s) for s in request.shards), return_exceptions=True
        )
        return {"results": [answer_entry(_as_error(o), lambda v: v) for o in outcomes]}

    async def _on_suggest(self, payload: Any, ctx: TransportRequestContext[Any]) -> Any:
        request = NodeShardsRequest.from_payload(self._own(payload, NODE_SUGGEST_ACTION))
        req = self._parsed(request)
        state = self.search.cluster.state

        def one(index: str, number: int, restriction: Any, filters: Any) -> dict[str, Any]:
            meta = state.indices.get(index)
            if meta is None:
                raise IndexNotFoundError(index)
            shard = self.search.indices.shard(ShardId(meta.uuid, number, meta.name))
            if shard is None:
                raise ShardNotFoundError(meta.name, meta.uuid, number)
            view = suggest_view(meta, shard, filters, restriction, request.now_ms)
            return suggest_section(req.suggest, [view], False)

        outcomes = await asyncio.gather(
            *(
                self.search.indices.run_search(one, s.index, s.shard, s.restriction, s.filters)
                for s in request.shards
            ),
            return_exceptions=True,
        )
        return {"results": [answer_entry(_as_error(o), lambda v: v) for o in outcomes]}

    async def _on_refresh(self, payload: Any, ctx: TransportRequestContext[Any]) -> Any:
        return await self.refresh_here(self._own(payload, NODE_REFRESH_ACTION))

    async def refresh_here(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Refresh every copy this node holds of the named index uuids: how many were
        refreshed and the failures (``{"index", "shard", "error"}``)."""
        uuids = payload.get("index_uuids")
        if not isinstance(uuids, list):
            raise IllegalArgumentError("[index_uuids] must be a list")
        wanted = {u for u in uuids if isinstance(u, str)}
        shards = [
            s for sid, s in list(self.search.indices.shards.items()) if sid.index_uuid in wanted
        ]
        outcomes = await asyncio.gather(*(s.refresh() for s in shards), return_exceptions=True)
        failures = []
        for shard, outcome in zip(shards, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                error = _as_error(outcome)
                if not isinstance(error, IsthmusError):
                    raise outcome
                failures.append(
                    {
                        "index": shard.shard_id.index_name,
                        "shard": shard.shard_id.shard,
                        **answer_entry(error, lambda v: v),
                    }
                )
        return {"done": len(shards) - len(failures), "failures": failures}


def _as_error(outcome: Any) -> Any:
    """A shard's outcome as an answer entry takes it: a Python ValueError from a shard's query
    is ES's illegal_argument_exception (as on the coordinating node); other exceptions
    propagate (they are bugs, not shard failures)."""
    if isinstance(outcome, IsthmusError):
        return outcome
    if isinstance(outcome, ValueError):
        return IllegalArgumentError(str(outcome))
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


__all__ = ["NodeShardsHandlers"]
