"""What this cluster answers when another cluster's coordinator searches it shard by shard:
the shards an expression reaches (``indices:admin/search/search_shards``) and one shard's
query and fetch.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from isthmus.actions.node_shards import ReadSpec, ShardCopiesFailed
from isthmus.actions.node_shards_plan import ShardTask
from isthmus.actions.node_shards_wire import NodeShard
from isthmus.actions.search_shard import ShardResult, query_shard
from isthmus.actions.search_targets import (
    SearchTargets,
    _index_int,
    _max_regex_length,
    _max_rescore_window,
)
from isthmus.actions.shard_wire import decode_shard_result
from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.resolve import Resolved
from isthmus.cluster.routing import ShardId
from isthmus.errors import (
    IllegalArgumentError,
    IllegalStateError,
    IndexNotFoundError,
    NoShardAvailableActionError,
    ShardNotFoundError,
)
from isthmus.search.dfs import TermStats
from isthmus.search.request import SearchRequest
from isthmus.security.field_level import IndexRestriction
from isthmus.wire.names import NODE_QUERY_ACTION


class SearchForRemote(SearchTargets):
    """Searching for another cluster's coordinator."""

    def search_shards(self, expression: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """The shards an expression searches, with each index's mapping and alias filters
        (``indices:admin/search/search_shards``, asked by other clusters)."""
        out = []
        for target in self._targets(expression, params):
            meta = target.index
            # Every shard of the index, wherever its copies are (this node forwards the
            # queries of the shards it does not hold: see query_one_shard).
            numbers = (
                self.routed_numbers(meta, params)
                if self.distributed
                else [s.shard_id.shard for s in self.routed_shards(meta, params)]
            )
            for number in numbers:
                out.append(
                    {
                        "index": meta.name,
                        "shard": number,
                        "mapping": meta.mapping.to_json(),
                        "filters": list(target.filters) if target.filters else None,
                    }
                )
        return out

    async def query_one_shard(
        self,
        index: str,
        shard_no: int,
        req: SearchRequest,
        *,
        now_ms: int,
        collect_all: bool,
        filters: list[dict[str, Any]] | None,
        restriction: IndexRestriction | None,
        cluster_alias: str | None = None,
        pre_filter: bool = False,
        index_boost: float | None = None,
        term_stats: TermStats | None = None,
        forward: bool = True,
    ) -> ShardResult:
        """One shard's query and fetch for another cluster's coordinator (which knows this
        cluster as ``cluster_alias``, when it said so). With ``pre_filter`` the shard first
        checks whether the query can match at all, and answers skipped when it cannot.

        In a cluster of several nodes a shard this node does not hold is asked at a node that
        does (``forward``; a node asked by another node of its cluster answers for its own
        shards only). ``index_boost`` and ``term_stats`` come from the coordinating node of
        this cluster (None: the request's own ``indices_boost``; no DFS statistics)."""
        meta = self.cluster.state.indices.get(index)
        if meta is None:
            raise IndexNotFoundError(index)
        here = self.indices.shard(ShardId(meta.uuid, shard_no, meta.name))
        if here is None and self.distributed:
            if not forward:
                raise ShardNotFoundError(meta.name, meta.uuid, shard_no)
            return await self._forward(
                meta,
                shard_no,
                req,
                now_ms,
                collect_all,
                filters,
                restriction,
                cluster_alias,
                pre_filter,
            )
        if pre_filter:
            targets = [
                (Resolved(meta, None), shard)
                for shard in self.indices.shards_of(meta)
                if shard.shard_id.shard == shard_no
            ]
            cannot = await self.indices.run_search(
                self._cannot_match, req, targets, now_ms, cluster_alias
            )
            if cannot:
                return ShardResult(meta.name, shard_no, 0, None, [], skipped=True)
        boost = (
            self._index_boosts(req, None).get(meta.name, 1.0)
            if index_boost is None
            else index_boost
        )
        for shard in self.indices.shards_of(meta):
            if shard.shard_id.shard != shard_no:
                continue
            schema, searcher = shard.engine.view()
            result: ShardResult = await self.indices.run_search(
                functools.partial(
                    query_shard,
                    index=meta.name,
                    shard=shard_no,
                    schema=schema,
                    searcher=searcher,
                    mapping=meta.mapping,
                    req=req,
                    filters=filters,
                    now_ms=now_ms,
                    collect_all=collect_all,
                    max_window=int(meta.setting("index.max_result_window", "10000")),
                    restriction=restriction,
                    max_regex_length=_max_regex_length(meta),
                    index_boost=boost,
                    max_rescore_window=_max_rescore_window(meta),
                    cluster_alias=cluster_alias,
                    max_docvalue_fields=_index_int(meta, "index.max_docvalue_fields_search", 100),
                    term_stats=term_stats,
                )
            )
            return result
        raise IllegalArgumentError(f"no shard [{shard_no}] in index [{index}]")

    async def _forward(
        self,
        meta: IndexMetadata,
        shard_no: int,
        req: SearchRequest,
        now_ms: int,
        collect_all: bool,
        filters: list[dict[str, Any]] | None,
        restriction: IndexRestriction | None,
        cluster_alias: str | None,
        pre_filter: bool,
    ) -> ShardResult:
        """Another cluster's query of a shard held by other nodes of this one: asked at its
        copies in turn (the last copy's failure is the shard's)."""
        assert self.node_shards is not None and self.copies is not None
        if req.wire is None:
            raise IllegalStateError("a search without its source cannot reach other nodes")
        readable = self.copies.readable(ShardId(meta.uuid, shard_no, meta.name))
        copies = tuple(c for c in readable if c.node_id != self.copies.local_node_id)
        task = ShardTask(meta.name, meta.uuid, shard_no, copies, None)
        if not copies:
            raise NoShardAvailableActionError(meta.name, meta.uuid, shard_no)
        body, params = req.wire
        spec = ReadSpec(
            body=body,
            params=params,
            now_ms=now_ms,
            from_=req.from_,
            size=req.size,
            search_after=None if req.search_after is None else list(req.search_after),
            collect_all=collect_all,
            pre_filter=pre_filter,
            cluster_alias=cluster_alias,
        )
        spec.shard_extras[(meta.name, shard_no)] = NodeShard(
            meta.name, shard_no, filters, restriction=restriction
        )
        ((_task, job),) = self.node_shards.jobs(
            NODE_QUERY_ACTION, spec, {copies[0].node_id: [task]}, decode_shard_result
        )
        try:
            result: ShardResult = await job
        except ShardCopiesFailed as exc:
            raise exc.error from None
        return result
