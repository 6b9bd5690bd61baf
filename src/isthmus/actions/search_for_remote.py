"""What this cluster answers when another cluster's coordinator searches it shard by shard:
the shards an expression reaches (``indices:admin/search/search_shards``) and one shard's
query and fetch.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from isthmus.actions.search_shard import ShardResult, query_shard
from isthmus.actions.search_targets import (
    SearchTargets,
    _index_int,
    _max_regex_length,
    _max_rescore_window,
)
from isthmus.cluster.resolve import Resolved
from isthmus.errors import IllegalArgumentError, IndexNotFoundError
from isthmus.search.request import SearchRequest
from isthmus.security.field_level import IndexRestriction


class SearchForRemote(SearchTargets):
    """Searching for another cluster's coordinator."""

    def search_shards(self, expression: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """The shards an expression searches, with each index's mapping and alias filters
        (``indices:admin/search/search_shards``, asked by other clusters)."""
        out = []
        for target in self._targets(expression, params):
            meta = target.index
            for shard in self.routed_shards(meta, params):
                out.append(
                    {
                        "index": meta.name,
                        "shard": shard.shard_id.shard,
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
    ) -> ShardResult:
        """One shard's query and fetch for another cluster's coordinator (which knows this
        cluster as ``cluster_alias``, when it said so). With ``pre_filter`` the shard first
        checks whether the query can match at all, and answers skipped when it cannot."""
        meta = self.cluster.state.indices.get(index)
        if meta is None:
            raise IndexNotFoundError(index)
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
        boost = self._index_boosts(req, None).get(meta.name, 1.0)
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
                )
            )
            return result
        raise IllegalArgumentError(f"no shard [{shard_no}] in index [{index}]")
