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

import asyncio
import base64
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from isthmus.actions.node_shards import ReadSpec, ShardCopiesFailed
from isthmus.actions.node_shards_wire import NodeShard
from isthmus.actions.scrolls import ScrollContext, check_keep_alive
from isthmus.actions.search_count import SearchCount
from isthmus.actions.search_for_remote import SearchForRemote
from isthmus.actions.search_query_phase import SearchQueryPhase
from isthmus.actions.search_routed import SearchRouted
from isthmus.actions.search_scroll import SearchScroll
from isthmus.actions.search_shard import ShardHit, build_query
from isthmus.actions.search_targets import PartialSearch, RemoteShards, _restriction
from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.routing import ShardId
from isthmus.errors import IsthmusError
from isthmus.search import dsl
from isthmus.search.completion import ShardView
from isthmus.search.request import SearchRequest, SortField
from isthmus.search.response import terminated_section
from isthmus.search.suggest import SuggestShard, merge_sections, suggest_section
from isthmus.security.field_level import IndexRestriction, IndexRestrictions
from isthmus.security.ownership import Owner
from isthmus.settings.values import parse_time
from isthmus.wire import RemoteProtocolError
from isthmus.wire.names import NODE_SUGGEST_ACTION


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
        the clusters' sections by their plain names. In a cluster of several nodes each shard
        held elsewhere answers its own section there, and the sections merge as ES reduces its
        shards' suggestions."""
        if self.distributed and self.node_shards is not None:
            local, plan = self.plan_shards(self._targets(expression, params), params)
            if plan is not None and plan.remote and req.wire is not None:
                held = {(t.index.name, shard.shard_id.shard) for t, shard in local}
                mine = self.indices.run_search(
                    self._suggest, expression, params, req, restrictions, False, held
                )
                body, raw_params = req.wire
                spec = ReadSpec(body=body, params=raw_params, now_ms=int(self.clock() * 1000))
                for tasks in plan.remote.values():
                    for task in tasks:
                        spec.shard_extras[(task.index, task.shard)] = NodeShard(
                            task.index,
                            task.shard,
                            restriction=_restriction(restrictions, task.index),
                        )
                jobs = self.node_shards.jobs(NODE_SUGGEST_ACTION, spec, plan.remote, _section)
                outcomes = await asyncio.gather(
                    mine, *(j for _t, j in jobs), return_exceptions=True
                )
                sections = []
                for outcome in outcomes:
                    if isinstance(outcome, ShardCopiesFailed | IsthmusError):
                        continue  # as a failed shard's suggestions: left out
                    if isinstance(outcome, BaseException):
                        raise outcome
                    sections.append(outcome)
                return merge_sections(req.suggest, sections, typed_keys)
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
        only: set[tuple[str, int]] | None = None,
    ) -> dict[str, Any]:
        """The ``suggest`` section, from the documents of each shard the caller may see (of
        the shards held here, those in ``only`` when given)."""
        now_ms = int(self.clock() * 1000)
        views = []
        for target in self._targets(expression, params):
            restriction = _restriction(restrictions, target.index.name)
            for shard in self.indices.shards_of(target.index):
                if only is not None and (target.index.name, shard.shard_id.shard) not in only:
                    continue
                views.append(suggest_view(target.index, shard, target.filters, restriction, now_ms))
        return suggest_section(req.suggest, views, typed_keys)


def suggest_view(
    meta: IndexMetadata,
    shard: Any,
    filters: Sequence[dict[str, Any]] | None,
    restriction: IndexRestriction | None,
    now_ms: int,
) -> SuggestShard:
    """One shard as suggesters read it: the documents its alias filters and the caller's
    document-level security let through."""
    schema, searcher = shard.engine.view()
    allowed = build_query(
        dsl.MatchAll(),
        schema,
        meta.mapping,
        now_ms,
        list(filters) if filters else None,
        restriction,
    )
    view = ShardView(meta.name, meta.mapping, searcher, allowed, restriction)
    return SuggestShard(view, schema)


def _section(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RemoteProtocolError("suggest section is not a map")
    return value


__all__ = ["PartialSearch", "RemoteShards", "SearchActions", "SortField", "suggest_view"]
