"""The query phase of a search (coordinating side): parse the request, run each shard's
query in the search pool (:mod:`isthmus.actions.search_shard`), merge shard hits in request
order, collapse, and collect aggregations over the matching documents.

:meth:`SearchQueryPhase.search_partial` is one cluster's share of a search, before rendering;
``_search`` renders it, cross-cluster search merges several.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import orjson

from isthmus.actions.node_shards import NodeShardJobs, ReadSpec, ShardCopiesFailed
from isthmus.actions.node_shards_plan import ShardPlan
from isthmus.actions.node_shards_wire import NodeShard
from isthmus.actions.search_collapse import collapse_hits
from isthmus.actions.search_dfs import DfsShard, dfs_phase, needs_dfs
from isthmus.actions.search_shard import ShardHit, ShardResult, query_shard
from isthmus.actions.search_targets import (
    PartialSearch,
    RemoteShards,
    SearchTargets,
    _combined_mappings,
    _index_int,
    _max_regex_length,
    _max_rescore_window,
    _restriction,
    _ShardFailure,
)
from isthmus.cluster.resolve import Resolved
from isthmus.errors import (
    IllegalArgumentError,
    IllegalStateError,
    IsthmusError,
    ParsingError,
    QueryShardError,
    SearchContextError,
    SearchPhaseExecutionError,
    XContentParseError,
)
from isthmus.search.aggs_core import AggResult
from isthmus.search.index_field import qualified_index
from isthmus.search.request import SearchRequest, parse_search
from isthmus.search.response import compare_keys, final_aggregations
from isthmus.search.term_patterns import DEFAULT_MAX_REGEX_LENGTH
from isthmus.security.field_level import IndexRestrictions

# Search bodies up to this size (as JSON) are parsed on the event loop; larger ones in a thread.
INLINE_PARSE_BYTES = 64 * 1024


class SearchQueryPhase(SearchTargets):
    """Parsing, the shards' query phase, merging and aggregating."""

    async def parse_off_loop(
        self, expression: str | None, body: Mapping[str, Any] | None, params: Mapping[str, str]
    ) -> SearchRequest:
        """:meth:`parse`, in a worker thread when the body is large: a request of a million
        clauses must not hold the event loop (pings, every other request) while it is read."""
        try:
            large = bool(body) and len(orjson.dumps(body)) > INLINE_PARSE_BYTES
        except TypeError:  # not plain JSON values: parse reports what is wrong with it
            large = False
        if large:
            return await asyncio.to_thread(self.parse, expression, body, params)
        return self.parse(expression, body, params)

    def parse(
        self, expression: str | None, body: Mapping[str, Any] | None, params: Mapping[str, str]
    ) -> SearchRequest:
        """The parsed request; a query ES would reject on the shards fails as it does there."""
        try:
            return parse_search(body, params)
        except (QueryShardError, SearchContextError) as exc:
            # ES builds these queries on the shards: every shard fails with the same cause.
            first = next(iter(self._targets(expression, params)), None)
            if first is not None:
                exc.extra.update({"index_uuid": first.index.uuid, "index": first.index.name})
            failed = [
                _ShardFailure(t.index.name, n, exc)
                for t in self._targets(expression, params)
                for n in range(t.index.number_of_shards)
            ]
            if not failed:
                raise
            raise self._phase_error(failed) from None

    async def _run_shards(
        self,
        targets: list[Resolved],
        req: SearchRequest,
        now_ms: int,
        collect_all: bool,
        restrictions: IndexRestrictions | None,
        remote: RemoteShards | None = None,
        params: Mapping[str, str] | None = None,
        cluster_alias: str | None = None,
    ) -> tuple[list[ShardResult], list[_ShardFailure], int, int]:
        """The shards' results and failures, how many shards the search had and how many of
        them the can-match pre-filter skipped. ``cluster_alias``: the search runs for that
        cluster's coordinator (see ``search_partial``)."""
        jobs: list[Awaitable[ShardResult]] = []
        keys: list[tuple[str, int]] = []
        boosts = self._index_boosts(req, params)
        local, plan = self.plan_shards(targets, params)
        elsewhere = None
        if plan is not None and (plan.remote or plan.unavailable):
            elsewhere = self._node_jobs(req, plan, now_ms, restrictions, boosts, cluster_alias)
        peers = 0 if elsewhere is None else elsewhere.count
        if remote is not None:
            for index, shard_no, job in remote.jobs(req, now_ms, collect_all, len(local) + peers):
                jobs.append(job)
                keys.append((index, shard_no))
        skipped: set[int] = set()
        limit = req.pre_filter_shard_size
        pre_filter = limit is not None and len(local) + len(keys) + peers > limit
        if pre_filter:
            skipped = await self.indices.run_search(
                self._cannot_match, req, local, now_ms, cluster_alias
            )
            if len(skipped) == len(local) and not keys and not peers:
                skipped.discard(0)  # ES searches one shard anyway, for the response's shape
        views = {p: shard.engine.view() for p, (_t, shard) in enumerate(local) if p not in skipped}
        term_stats = None
        if needs_dfs(req):
            dfs_shards = [
                DfsShard(
                    qualified_index(cluster_alias, target.index.name),
                    views[position][0],
                    views[position][1],
                    target.index.mapping,
                    list(target.filters) if target.filters else None,
                    _restriction(restrictions, target.index.name),
                    now_ms,
                )
                for position, (target, _shard) in enumerate(local)
                if position in views
            ]
            req, term_stats = await dfs_phase(
                self.indices.run_search,
                req,
                dfs_shards,
                None if elsewhere is None else elsewhere.dfs,
                0 if elsewhere is None else len(elsewhere.tasks()),
            )
            if elsewhere is not None:
                elsewhere.chosen(req, term_stats)
        if elsewhere is not None:  # after the DFS phase: they carry its global statistics
            for index, shard_no, job in elsewhere.jobs(now_ms, collect_all, pre_filter):
                jobs.append(job)
                keys.append((index, shard_no))
        for position, (target, shard) in enumerate(local):
            if position in skipped:
                continue
            meta = target.index
            window = int(meta.setting("index.max_result_window", "10000"))
            schema, searcher = views[position]
            fn = functools.partial(
                query_shard,
                index=meta.name,
                shard=shard.shard_id.shard,
                schema=schema,
                searcher=searcher,
                mapping=meta.mapping,
                req=req,
                filters=list(target.filters) if target.filters else None,
                now_ms=now_ms,
                collect_all=collect_all,
                max_window=window,
                restriction=_restriction(restrictions, meta.name),
                max_regex_length=_max_regex_length(meta),
                index_boost=boosts.get(meta.name, 1.0),
                max_rescore_window=_max_rescore_window(meta),
                cluster_alias=cluster_alias,
                max_docvalue_fields=_index_int(meta, "index.max_docvalue_fields_search", 100),
                term_stats=term_stats,
            )
            jobs.append(self.indices.run_search(fn))
            keys.append((meta.name, shard.shard_id.shard))
        outcomes: list[Any]
        if len(jobs) == 1:  # one shard (the common case): no task or gather needed
            try:
                outcomes = [await jobs[0]]
            except Exception as exc:  # as gather(return_exceptions=True) would report it
                outcomes = [exc]
        else:
            outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        results: list[ShardResult] = []
        failures: list[_ShardFailure] = []
        for (index, shard_no), outcome in zip(keys, outcomes, strict=True):
            if isinstance(outcome, IsthmusError):
                failures.append(_ShardFailure(index, shard_no, outcome))
            elif isinstance(outcome, ShardCopiesFailed):
                failures.append(_ShardFailure(index, shard_no, outcome.error, outcome.node_id))
            elif isinstance(outcome, BaseException):
                if isinstance(outcome, ValueError):
                    failures.append(
                        _ShardFailure(index, shard_no, IllegalArgumentError(str(outcome)))
                    )
                else:
                    raise outcome
            else:
                results.append(outcome)
        if plan is not None:
            # In the order of the shards, wherever they were searched: ties between shards
            # rank the same whichever node coordinates (other clusters' shards first, as ever).
            rank = {(t.index, t.shard): i for i, t in enumerate(plan.order)}
            results.sort(key=lambda r: rank.get((r.index, r.shard), -1))
        # When no shard at all could match, ES still searches one: its (empty) answer is the
        # one a skipped remote shard gave, so one of them counts as searched.
        remote_skipped = sum(1 for r in results if r.skipped)
        if remote_skipped and remote_skipped + len(skipped) == len(keys) + len(skipped):
            remote_skipped -= 1
        return results, failures, len(keys) + len(skipped), len(skipped) + remote_skipped

    def _node_jobs(
        self,
        req: SearchRequest,
        plan: ShardPlan,
        now_ms: int,
        restrictions: IndexRestrictions | None,
        boosts: Mapping[str, float],
        cluster_alias: str | None,
    ) -> NodeShardJobs:
        """The plan's shards on other nodes of this cluster, as jobs of this search."""
        assert self.node_shards is not None
        if req.wire is None:
            raise IllegalStateError("a search without its source cannot reach other nodes")
        body, params = req.wire
        spec = ReadSpec(
            body=body,
            params=params,
            now_ms=now_ms,
            from_=req.from_,
            size=req.size,
            search_after=None if req.search_after is None else list(req.search_after),
            cluster_alias=cluster_alias,
        )
        for tasks in plan.remote.values():
            for task in tasks:
                spec.shard_extras[(task.index, task.shard)] = NodeShard(
                    task.index,
                    task.shard,
                    boost=boosts.get(task.index, 1.0),
                    restriction=_restriction(restrictions, task.index),
                )
        return NodeShardJobs(self.node_shards, spec, plan.remote, plan.unavailable)

    async def search_partial(
        self,
        expression: str | None,
        req: SearchRequest,
        params: Mapping[str, str],
        restrictions: IndexRestrictions | None = None,
        *,
        collect_all: bool = False,
        remote: RemoteShards | None = None,
        include_local: bool = True,
        cluster_alias: str | None = None,
    ) -> PartialSearch:
        """This cluster's part of a search: ranked hits (every match when ``collect_all``, else
        the first ``from + size``), the total, and the aggregations in their mergeable form.

        Cross-cluster search merges several of these (one per cluster) into one response.
        ``cluster_alias`` is the alias another cluster's coordinator knows this one by, when the
        search runs for it: then ``_index`` is ``<alias>:<index>`` in queries, sorts and
        aggregations (hits keep the plain name: the coordinator prefixes them).
        """
        now_ms = int(self.clock() * 1000)
        targets = self._targets(expression, params) if include_local else []
        # Collapsing groups every match: the shards hand them all over.
        results, failures, total_shards, skipped = await self._run_shards(
            targets,
            req,
            now_ms,
            collect_all=collect_all or req.collapse is not None,
            restrictions=restrictions,
            remote=remote,
            params=params,
            cluster_alias=cluster_alias,
        )
        if failures and not results:
            raise self._phase_error(failures)
        merged = self._merge(results, req)
        mappings = {t.index.name: t.index.mapping for t in targets}
        all_mappings = [t.index.mapping for t in targets]
        if remote is not None:
            mappings.update(remote.mappings)
            all_mappings += list(remote.mappings.values())
        if req.collapse is not None:
            try:
                merged = collapse_hits(req.collapse, merged, mappings)
            except IsthmusError as exc:
                raise self._phase_error(
                    [_ShardFailure(r.index, r.shard, exc) for r in results]
                ) from None
        if not collect_all:
            merged = merged[: req.from_ + req.size]
        partial = PartialSearch(
            hits=merged,
            total=sum(r.total for r in results),
            max_score=max((r.max_score for r in results if r.max_score is not None), default=None),
            total_shards=total_shards,
            skipped_shards=skipped,
            cluster_alias=cluster_alias,
            failures=failures,
            mappings=mappings,
            combined_mapping=_combined_mappings(all_mappings),
            index_names=",".join(mappings),
            terminated_early=_terminated_early(results),
        )
        if req.aggs:
            try:
                # Aggregations run in the search pool, never on the event loop: a request with
                # 20,000 filters must not hold pings, health checks and other users' searches
                # (the thread yields the interpreter every few milliseconds).
                partial.aggs = await self.indices.run_search(
                    self._aggregate,
                    req,
                    results,
                    partial,
                    now_ms,
                    restrictions,
                    targets,
                    cluster_alias,
                )
            except (ParsingError, XContentParseError, SearchPhaseExecutionError):
                raise  # the request's own parse errors (ES parses aggregations before any shard)
            except IsthmusError as exc:
                # ES meets these (fielddata, unmapped types) on the shards: report them so.
                failed = [_ShardFailure(r.index, r.shard, exc) for r in results]
                raise self._phase_error(failed) from None
        return partial

    def _merge(self, results: list[ShardResult], req: SearchRequest) -> list[ShardHit]:
        if len(results) == 1:
            return results[0].hits
        if req.sort and not req.sorts_by_score_only:
            sorts = req.sort

            def cmp(a: ShardHit, b: ShardHit) -> int:
                by_keys = compare_keys(a.sort or [], b.sort or [], sorts)
                return by_keys or (a.shard - b.shard) or (a.order - b.order)

            key = functools.cmp_to_key(cmp)
            return sorted((h for r in results for h in r.hits), key=key)
        streams = [
            [(-(h.score or 0.0), i, h.order, h) for h in r.hits] for i, r in enumerate(results)
        ]
        return [item[3] for item in heapq.merge(*streams, key=lambda t: t[:3])]

    def aggregations_json(
        self, req: SearchRequest, partials: list[dict[str, AggResult]], partial: PartialSearch
    ) -> dict[str, Any]:
        """The final ``aggregations`` from the mergeable results of one or more shards."""
        return final_aggregations(req, partials, partial.combined_mapping)

    def _aggregate(
        self,
        req: SearchRequest,
        results: list[ShardResult],
        partial: PartialSearch,
        now_ms: int,
        restrictions: IndexRestrictions | None = None,
        targets: Sequence[Resolved] = (),
        cluster_alias: str | None = None,
    ) -> dict[str, AggResult]:
        """The mergeable aggregation results (runs in the search pool: see search_partial)."""
        from isthmus.search.aggs import AggDoc, AggLimits, collect_aggs, parse_aggs

        assert req.aggs is not None
        spec = parse_aggs(req.aggs)
        docs = []
        for r in results:
            restriction = _restriction(restrictions, r.index)
            doc_index = qualified_index(cluster_alias, r.index)
            for doc_id, score, src in r.agg_sources:
                source = orjson.loads(src)
                if restriction is not None:
                    source = restriction.source(source)
                docs.append(AggDoc(index=doc_index, id=doc_id, score=score, source=source))
        limits = AggLimits(
            max_buckets=self._max_buckets(),
            max_regex_length=min(
                (_max_regex_length(t.index) for t in targets), default=DEFAULT_MAX_REGEX_LENGTH
            ),
        )
        return collect_aggs(
            spec,
            docs,
            partial.combined_mapping,
            now_ms=now_ms,
            index=partial.index_names,
            limits=limits,
        )

    def _max_buckets(self) -> int:
        return int(self.cluster.state.typed_setting("search.max_buckets"))


def _terminated_early(results: Sequence[ShardResult]) -> bool | None:
    """ES's reduce: true when any shard stopped early, false when all ran to the end under
    ``terminate_after``, absent (None) without it."""
    flags = [r.terminated_early for r in results if r.terminated_early is not None]
    return any(flags) if flags else None
