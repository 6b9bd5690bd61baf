"""Search, count and scroll: ``indices:data/read/search`` and friends (coordinating side).

Resolves the index expression, runs each shard's query phase in the search pool
(:mod:`isthmus.actions.search_shard`), merges shard hits in request order, runs aggregations
over the matching documents, and renders Elasticsearch's response body. Shard failures become
ES's ``_shards.failures`` (partial results) or, when every shard failed,
``search_phase_execution_exception``.

Document- and field-level security arrive as an explicit :class:`IndexRestrictions` (None:
security off). The shards apply DLS and FLS to queries; here FLS filters every ``_source`` the
response shows or aggregates (hits, highlight, scroll pages, aggregation documents).

The phases live in their own modules, each a base of :class:`SearchActions`:
:mod:`~isthmus.actions.search_targets` (shards, pre-filter, failures),
:mod:`~isthmus.actions.search_query_phase` (parse, query phase, merge, aggregations),
:mod:`~isthmus.actions.search_hits` (rendering hits), :mod:`~isthmus.actions.search_scroll`,
:mod:`~isthmus.actions.search_count` and :mod:`~isthmus.actions.search_for_remote` (shards
searched for another cluster's coordinator). Here: ``_search`` itself and its ``suggest``.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from isthmus.actions.scrolls import ScrollContext, check_keep_alive
from isthmus.actions.search_count import SearchCount
from isthmus.actions.search_for_remote import SearchForRemote
from isthmus.actions.search_query_phase import SearchQueryPhase
from isthmus.actions.search_routed import SearchRouted
from isthmus.actions.search_scroll import SearchScroll
from isthmus.actions.search_shard import ShardHit, build_query
from isthmus.actions.search_targets import PartialSearch, RemoteShards, _restriction
from isthmus.cluster.routing import ShardId
from isthmus.search import dsl
from isthmus.search.completion import ShardView
from isthmus.search.request import SearchRequest, SortField
from isthmus.search.response import terminated_section
from isthmus.search.suggest import SuggestShard, suggest_section
from isthmus.security.field_level import IndexRestrictions
from isthmus.security.ownership import Owner
from isthmus.settings.values import parse_time


class SearchActions(SearchCount, SearchQueryPhase, SearchScroll, SearchForRemote, SearchRouted):
    # --- search -------------------------------------------------------------------------------

    async def search(
        self,
        expression: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        restrictions: IndexRestrictions | None = None,
        *,
        remote: RemoteShards | None = None,
        include_local: bool = True,
        owner: Owner | None = None,
    ) -> dict[str, Any]:
        """``_search``; ``restrictions`` carries the subject's DLS/FLS per index (None: none);
        ``owner`` is whom a scroll context opened by this search belongs to.

        ``remote`` adds other clusters' shards, searched shard by shard like local ones
        (cross-cluster search without minimized round trips); ``include_local=False`` searches
        only those.
        """
        started = time.perf_counter()
        req = await self.parse_off_loop(expression, body, params)
        scroll = params.get("scroll")
        if scroll is not None:
            keep = parse_time(scroll).millis
            check_keep_alive(keep, self._max_keep_alive_ms())
        partial = await self.search_partial(
            expression,
            req,
            params,
            restrictions,
            collect_all=scroll is not None,
            remote=remote,
            include_local=include_local,
        )
        body_out: dict[str, Any] = {}
        merged = partial.hits
        if scroll is not None:
            scroll_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            ctx = ScrollContext(
                req,
                # Beyond the first page, hits of shards held here are kept without their source
                # (see scrolls); other clusters' and other nodes' hits keep theirs.
                [
                    (
                        h if self._read_elsewhere(h) else replace(h, source=b""),
                        partial.mappings[h.index],
                    )
                    for h in merged
                ],
                req.size,
                self.clock() + keep / 1000,
                keep,
                partial.total,
                partial.total_shards,
                owner,
                restrictions,
            )
            self.scrolls.open(scroll_id, ctx, self._max_open_scrolls())
            body_out["_scroll_id"] = scroll_id
            page = merged[: req.size]
        else:
            page = merged[req.from_ : req.from_ + req.size]
        body_out.update(
            {
                "took": int((time.perf_counter() - started) * 1000),
                "timed_out": False,
                **terminated_section(partial.terminated_early),
                "_shards": self.shards_section(partial),
                "hits": self._hits_section(
                    req, page, partial.total, partial.max_score, partial.mappings, restrictions
                ),
            }
        )
        if partial.aggs is not None:
            # Reducing and rendering can be as heavy as collecting: off the event loop too.
            body_out["aggregations"] = await self.indices.run_search(
                self.aggregations_json, req, [partial.aggs], partial
            )
        if req.suggest:
            body_out["suggest"] = await self.suggest(
                expression, params, req, restrictions, typed_keys=req.typed_keys
            )
        return body_out

    def _read_elsewhere(self, hit: ShardHit) -> bool:
        """Whether a hit's shard is not this node's to read again (another cluster's, or in a
        cluster of several nodes one with no copy open here)."""
        if ":" in hit.index:
            return True
        if not self.distributed:
            return False
        meta = self.cluster.state.indices.get(hit.index)
        return meta is None or self.indices.shard(ShardId(meta.uuid, hit.shard, meta.name)) is None

    async def suggest(
        self,
        expression: str | None,
        params: Mapping[str, str],
        req: SearchRequest,
        restrictions: IndexRestrictions | None,
        *,
        typed_keys: bool = False,
    ) -> dict[str, Any]:
        """This cluster's ``suggest`` section (in the search pool); cross-cluster search merges
        the clusters' sections by their plain names."""
        section: dict[str, Any] = await self.indices.run_search(
            self._suggest, expression, params, req, restrictions, typed_keys
        )
        return section

    def _suggest(
        self,
        expression: str | None,
        params: Mapping[str, str],
        req: SearchRequest,
        restrictions: IndexRestrictions | None,
        typed_keys: bool,
    ) -> dict[str, Any]:
        """The ``suggest`` section, from the documents of each shard the caller may see."""
        now_ms = int(self.clock() * 1000)
        views = []
        for target in self._targets(expression, params):
            restriction = _restriction(restrictions, target.index.name)
            filters = list(target.filters) if target.filters else None
            for shard in self.indices.shards_of(target.index):
                schema, searcher = shard.engine.view()
                allowed = build_query(
                    dsl.MatchAll(), schema, target.index.mapping, now_ms, filters, restriction
                )
                meta = target.index
                view = ShardView(meta.name, meta.mapping, searcher, allowed, restriction)
                views.append(SuggestShard(view, schema))
        return suggest_section(req.suggest, views, typed_keys)


__all__ = ["PartialSearch", "RemoteShards", "SearchActions", "SortField"]
