"""Search, count and scroll: ``indices:data/read/search`` and friends (coordinating side).

Resolves the index expression, runs each shard's query phase in the search pool
(:mod:`isthmus.actions.search_shard`), merges shard hits in request order, runs aggregations
over the matching documents, and renders Elasticsearch's response body. Shard failures become
ES's ``_shards.failures`` (partial results) or, when every shard failed,
``search_phase_execution_exception``.

Document- and field-level security arrive as an explicit :class:`IndexRestrictions` (None:
security off). The shards apply DLS and FLS to queries; here FLS filters every ``_source`` the
response shows or aggregates (hits, highlight, scroll pages, aggregation documents).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import heapq
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import orjson

from isthmus.actions.scrolls import (
    MAX_KEEP_ALIVE_SETTING,
    MAX_OPEN_SETTING,
    ScrollContext,
    ScrollStore,
    check_keep_alive,
)
from isthmus.actions.search_can_match import can_match
from isthmus.actions.search_collapse import collapse_hits, inner_hits_request, sort_members
from isthmus.actions.search_shard import (
    ShardHit,
    ShardResult,
    build_query,
    count_shard,
    query_shard,
)
from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.resolve import IndicesOptions, Resolved, is_remote_expression, resolve
from isthmus.cluster.routing import ShardId, index_shard
from isthmus.cluster.service import ClusterService
from isthmus.errors import (
    IllegalArgumentError,
    IndexNotFoundError,
    IsthmusError,
    ParsingError,
    QueryShardError,
    SearchContextError,
    SearchPhaseExecutionError,
    XContentParseError,
)
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.index.service import IndicesService
from isthmus.rawjson import RawJson
from isthmus.search import dsl, nested
from isthmus.search.aggs_core import AggResult
from isthmus.search.collapse import InnerHits
from isthmus.search.completion import ShardView
from isthmus.search.fetch_fields import docvalue_fields, fetch_fields
from isthmus.search.highlight import highlight
from isthmus.search.index_field import qualified_index
from isthmus.search.matched_queries import MatchedQueries
from isthmus.search.request import SearchRequest, SortField, parse_search
from isthmus.search.response import (
    compare_keys,
    final_aggregations,
    hits_section,
    terminated_section,
)
from isthmus.search.source_filter import filter_source
from isthmus.search.suggest import SuggestShard, suggest_section
from isthmus.search.term_patterns import DEFAULT_MAX_REGEX_LENGTH, MAX_REGEX_LENGTH
from isthmus.security.authz import Subject
from isthmus.security.field_level import IndexRestriction, IndexRestrictions
from isthmus.security.ownership import Owner
from isthmus.settings.values import parse_time

# Search bodies up to this size (as JSON) are parsed on the event loop; larger ones in a thread.
INLINE_PARSE_BYTES = 64 * 1024
SEARCH_OPTIONS = IndicesOptions(ignore_unavailable=False, allow_no_indices=True)


@dataclass
class _ShardFailure:
    index: str
    shard: int
    error: IsthmusError


class RemoteShards(Protocol):
    """Other clusters' shards taking part in a search as if they were local ones."""

    mappings: dict[str, IndexMapping]  # by the hits' index name ("alias:index")

    def jobs(
        self, req: SearchRequest, now_ms: int, collect_all: bool, local_shards: int
    ) -> list[tuple[str, int, Awaitable[ShardResult]]]:
        """The remote shards' queries; with ``local_shards`` beside them the search may have
        more shards than ``pre_filter_shard_size``: then each remote shard pre-filters itself
        and answers a skipped, empty result when the query cannot match there."""
        ...


@dataclass
class PartialSearch:
    """One cluster's share of a search, before rendering (see ``search_partial``)."""

    hits: list[ShardHit]
    total: int
    max_score: float | None
    total_shards: int
    failures: list[_ShardFailure]
    mappings: dict[str, IndexMapping]
    combined_mapping: IndexMapping
    index_names: str
    aggs: dict[str, AggResult] | None = None
    terminated_early: bool | None = None  # with terminate_after: did any shard stop early
    skipped_shards: int = 0  # shards the can-match pre-filter skipped (in total_shards)
    # The alias of the coordinator this cluster searched for (None: its own search).
    cluster_alias: str | None = None


class SearchActions:
    def __init__(
        self,
        cluster: ClusterService,
        indices: IndicesService,
        node_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cluster = cluster
        self.indices = indices
        self.node_id = node_id
        self.clock = clock
        self.scrolls = ScrollStore(clock)

    # --- helpers ------------------------------------------------------------------------------

    def _targets(self, expression: str | None, params: Mapping[str, str]) -> list[Resolved]:
        options = IndicesOptions.from_params(params, default=SEARCH_OPTIONS)
        return resolve(self.cluster.state, expression, options)

    def routed_shards(self, meta: IndexMetadata, params: Mapping[str, str] | None) -> list[Any]:
        """The index's shards a search with ``routing`` (comma-separated values) reaches: the
        ones its values route to, as ES's OperationRouting picks them; all without routing."""
        shards = self.indices.shards_of(meta)
        routing = [r for r in ((params or {}).get("routing") or "").split(",") if r]
        if not routing:
            return list(shards)
        wanted = {index_shard(r, meta.settings) for r in routing}
        return [s for s in shards if s.shard_id.shard in wanted]

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
        local = [(t, shard) for t in targets for shard in self.routed_shards(t.index, params)]
        if remote is not None:
            for index, shard_no, job in remote.jobs(req, now_ms, collect_all, len(local)):
                jobs.append(job)
                keys.append((index, shard_no))
        skipped: set[int] = set()
        limit = req.pre_filter_shard_size
        if limit is not None and len(local) + len(keys) > limit:
            skipped = await self.indices.run_search(
                self._cannot_match, req, local, now_ms, cluster_alias
            )
            if len(skipped) == len(local) and not keys:
                skipped.discard(0)  # ES searches one shard anyway, for the response's shape
        for position, (target, shard) in enumerate(local):
            if position in skipped:
                continue
            meta = target.index
            window = int(meta.setting("index.max_result_window", "10000"))
            schema, searcher = shard.engine.view()
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
            elif isinstance(outcome, BaseException):
                if isinstance(outcome, ValueError):
                    failures.append(
                        _ShardFailure(index, shard_no, IllegalArgumentError(str(outcome)))
                    )
                else:
                    raise outcome
            else:
                results.append(outcome)
        # When no shard at all could match, ES still searches one: its (empty) answer is the
        # one a skipped remote shard gave, so one of them counts as searched.
        remote_skipped = sum(1 for r in results if r.skipped)
        if remote_skipped and remote_skipped + len(skipped) == len(keys) + len(skipped):
            remote_skipped -= 1
        return results, failures, len(keys) + len(skipped), len(skipped) + remote_skipped

    def _cannot_match(
        self,
        req: SearchRequest,
        local: list[tuple[Resolved, Any]],
        now_ms: int,
        cluster_alias: str | None = None,
    ) -> set[int]:
        """Positions of the shards the query cannot match (the can-match pre-filter; runs in
        the search pool)."""
        out = set()
        for position, (target, shard) in enumerate(local):
            schema, searcher = shard.engine.view()
            try:
                matches = can_match(
                    req.query,
                    index=qualified_index(cluster_alias, target.index.name),
                    schema=schema,
                    searcher=searcher,
                    mapping=target.index.mapping,
                    now_ms=now_ms,
                )
            except IsthmusError:
                matches = True  # the query phase reports the fault
            if not matches:
                out.add(position)
        return out

    def _index_boosts(
        self, req: SearchRequest, params: Mapping[str, str] | None
    ) -> dict[str, float]:
        """``indices_boost`` by concrete local index: each entry (an index, alias or pattern)
        resolved as the search's indices are; the first entry naming an index wins. Entries
        of other clusters (``alias:index``) were handed to their clusters."""
        boosts: dict[str, float] = {}
        options = IndicesOptions.from_params(params or {}, default=SEARCH_OPTIONS)
        for name, boost in req.indices_boost:
            if is_remote_expression(name):
                continue
            for target in resolve(self.cluster.state, name, options):
                boosts.setdefault(target.index.name, boost)
        return boosts

    def _phase_error(self, failures: list[_ShardFailure]) -> SearchPhaseExecutionError:
        first = failures[0].error
        seen: set[tuple[str, str]] = set()
        failed_shards = []
        for f in failures:
            key = (f.index, f.error.reason)
            if key in seen:
                continue
            seen.add(key)
            failed_shards.append(
                {
                    "shard": f.shard,
                    "index": f.index,
                    "node": self.node_id,
                    "reason": f.error.to_cause(),
                }
            )
        status = first.http_status
        return SearchPhaseExecutionError(
            "all shards failed",
            caused_by=first,
            status=status,
            extra={"phase": "query", "grouped": True, "failed_shards": failed_shards},
        )

    @staticmethod
    def _shards_section(
        total: int, failures: list[_ShardFailure], node_id: str, skipped: int = 0
    ) -> dict[str, Any]:
        # Skipped shards count as successful, as in ES.
        section: dict[str, Any] = {
            "total": total,
            "successful": total - len(failures),
            "skipped": skipped,
            "failed": len(failures),
        }
        if failures:
            section["failures"] = [
                {"shard": f.shard, "index": f.index, "node": node_id, "reason": f.error.to_cause()}
                for f in failures
            ]
        return section

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
                # Beyond the first page, local hits are kept without their source (see scrolls).
                [
                    (h if ":" in h.index else replace(h, source=b""), partial.mappings[h.index])
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

    def shards_section(self, partial: PartialSearch) -> dict[str, Any]:
        return self._shards_section(
            partial.total_shards, partial.failures, self.node_id, partial.skipped_shards
        )

    def render_hits(
        self,
        req: SearchRequest,
        partial: PartialSearch,
        hits: list[ShardHit],
        restrictions: IndexRestrictions | None = None,
    ) -> list[dict[str, Any]]:
        """Hits as the response shows them (source filtering, FLS, highlight, sort values)."""
        named = self._named(req)
        return [
            self._render_hit(
                req,
                h,
                partial.mappings[h.index],
                _restriction(restrictions, h.index),
                named,
                partial.cluster_alias,
            )
            for h in hits
        ]

    def _named(self, req: SearchRequest) -> MatchedQueries | None:
        named = MatchedQueries(req.query, req.post_filter, int(self.clock() * 1000))
        return named if named else None

    def aggregations_json(
        self, req: SearchRequest, partials: list[dict[str, AggResult]], partial: PartialSearch
    ) -> dict[str, Any]:
        """The final ``aggregations`` from the mergeable results of one or more shards."""
        return final_aggregations(req, partials, partial.combined_mapping)

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

    def _hits_section(
        self,
        req: SearchRequest,
        page: list[ShardHit],
        total: int,
        max_score: float | None,
        mappings: Mapping[str, IndexMapping],
        restrictions: IndexRestrictions | None = None,
    ) -> dict[str, Any]:
        named = self._named(req)
        rendered = [
            self._render_hit(req, h, mappings[h.index], _restriction(restrictions, h.index), named)
            for h in page
        ]
        return hits_section(req, rendered, total, max_score)

    def _render_hit(
        self,
        req: SearchRequest,
        hit: ShardHit,
        mapping: IndexMapping,
        restriction: IndexRestriction | None = None,
        named: MatchedQueries | None = None,
        cluster_alias: str | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if req.explain:  # ES names the shard and node that scored an explained hit first
            # ES writes the shard id, whose index name is the one its cluster knows (no alias).
            out["_shard"] = f"[{hit.index.rpartition(':')[2]}][{hit.shard}]"
            out["_node"] = self.node_id
        out["_index"] = hit.index
        if not req.stored_fields_none:  # `_none_` drops the metadata fields, _id included
            out["_id"] = hit.doc_id
        if req.version:
            out["_version"] = hit.version
        if req.seq_no_primary_term:
            out["_seq_no"] = hit.seq_no
            out["_primary_term"] = hit.primary_term
        out["_score"] = hit.score
        if hit.routing is not None:  # ES's SearchHit: metadata fields after the score
            out["_routing"] = hit.routing
        source: Mapping[str, Any] | None = None
        wants_fields = bool(req.fields or req.docvalue_fields)
        needs_source = wants_fields or named is not None
        if (
            req.source.enabled
            and restriction is None
            and req.highlight is None
            and not needs_source
            and not req.source.includes
            and not req.source.excludes
        ):
            # The document as stored, never re-encoded (another cluster's bytes are checked).
            out["_source"] = (
                RawJson.checked(hit.source) if ":" in hit.index else RawJson(hit.source)
            )
        elif req.source.enabled or req.highlight is not None or needs_source:
            source = orjson.loads(hit.source)
            if restriction is not None:
                source = restriction.source(source)
        if req.source.enabled and source is not None:
            if req.source.includes or req.source.excludes:
                out["_source"] = filter_source(source, req.source.includes, req.source.excludes)
            else:
                out["_source"] = source
        if wants_fields and source is not None:
            values = fetch_fields(source, mapping, req.fields)
            for name, found in docvalue_fields(source, mapping, req.docvalue_fields).items():
                values.setdefault(name, found)
            if values:
                out["fields"] = values
        if req.highlight is not None and source is not None:
            marked = highlight(source, mapping, req.query, req.highlight)
            if marked:
                out["highlight"] = marked
        if hit.sort is not None:
            out["sort"] = hit.sort
        if req.include_named_scores:
            # ES shows each matched name with its score (an object, not a list).
            if hit.named_scores:
                out["matched_queries"] = hit.named_scores
        elif named is not None and source is not None:
            matched = named.of(
                hit.doc_id, source, mapping, qualified_index(cluster_alias, hit.index)
            )
            if matched:
                out["matched_queries"] = matched
        if req.explain and hit.explanation is not None:
            out["_explanation"] = hit.explanation
        if req.collapse is not None:
            # The collapse value is a field of the hit (after any the request fetched).
            fields = dict(out.pop("fields", {}))
            fields[req.collapse.field] = [hit.collapse_key]
            _insert_after(out, "_source" if "_source" in out else "_score", "fields", fields)
            if req.collapse.inner_hits and hit.group is not None:
                out["inner_hits"] = {
                    spec.name: self._inner_hits(req, spec, hit.group, mapping, restriction)
                    for spec in req.collapse.inner_hits
                }
        if nested.asks_inner_hits(req.query):
            # A nested query's inner_hits: the hit's matching objects, as the caller sees them.
            visible = orjson.loads(hit.source)
            query = req.query
            if restriction is not None:
                visible, query = restriction.source(visible), restriction.query(query, mapping)
            now_ms = int(self.clock() * 1000)
            objects = nested.inner_hits(query, hit.index, hit.doc_id, visible, mapping, now_ms)
            out.setdefault("inner_hits", {}).update(objects)
        return out

    def _inner_hits(
        self,
        req: SearchRequest,
        spec: InnerHits,
        group: list[ShardHit],
        mapping: IndexMapping,
        restriction: IndexRestriction | None,
    ) -> dict[str, Any]:
        """One ``inner_hits`` entry of a collapsed hit: its group's hits in the entry's order."""
        inner_req = inner_hits_request(req, spec)
        members = sort_members(group, inner_req.sort, mapping)
        page = members[spec.from_ : spec.from_ + spec.size]
        scores = [h.score for h in group if h.score is not None]
        rendered = [self._render_hit(inner_req, h, mapping, restriction) for h in page]
        return {
            "hits": {
                "total": {"value": len(group), "relation": "eq"},
                "max_score": max(scores) if scores and not inner_req.sort else None,
                "hits": rendered,
            }
        }

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

    # --- scroll -------------------------------------------------------------------------------

    def _max_open_scrolls(self) -> int:
        return int(self.cluster.state.typed_setting(MAX_OPEN_SETTING))

    def _max_keep_alive_ms(self) -> int:
        return int(self.cluster.state.typed_setting(MAX_KEEP_ALIVE_SETTING).millis)

    async def _with_sources(
        self, page: list[tuple[ShardHit, IndexMapping]]
    ) -> list[tuple[ShardHit, IndexMapping]]:
        """A scroll page with each local hit's source read back as of the hit's ``_seq_no``:
        one read per shard of the page, in a worker thread."""
        state = self.cluster.state
        wanted: dict[ShardId, list[int]] = {}
        for hit, _ in page:
            meta = state.indices.get(hit.index)
            if not hit.source and ":" not in hit.index and meta is not None:
                key = ShardId(meta.uuid, hit.shard, meta.name)
                wanted.setdefault(key, []).append(hit.seq_no)

        def read() -> dict[ShardId, dict[int, bytes]]:
            found = {}
            for key, seq_nos in wanted.items():
                shard = self.indices.shard(key)
                if shard is not None:  # else the index is gone: its hits went with it
                    found[key] = shard.engine.sources_at(seq_nos)
            return found

        sources = await asyncio.to_thread(read) if wanted else {}
        out = []
        for hit, mapping in page:
            if hit.source or ":" in hit.index:
                out.append((hit, mapping))
                continue
            index = state.indices.get(hit.index)
            shard_sources = (
                sources.get(ShardId(index.uuid, hit.shard, index.name), {}) if index else {}
            )
            source = shard_sources.get(hit.seq_no)
            if source is not None:  # else that version's history was trimmed
                out.append((replace(hit, source=source), mapping))
        return out

    async def scroll(
        self,
        scroll_id: str | None,
        keep_alive: str | None,
        rest_total_hits_as_int: bool = False,
        subject: Subject | None = None,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        if not scroll_id:
            raise IllegalArgumentError("Validation Failed: 1: scrollId is missing;")
        ctx = self.scrolls.find(scroll_id, subject)
        if keep_alive is not None:
            keep = parse_time(keep_alive).millis
            check_keep_alive(keep, self._max_keep_alive_ms())
            ctx.keep_alive_ms = keep
        ctx.expires_at = self.clock() + ctx.keep_alive_ms / 1000
        served = ctx.hits[ctx.position : ctx.position + ctx.request.size]
        ctx.position += len(served)
        page = await self._with_sources(served)
        mappings = {h.index: m for h, m in page}
        req = ctx.request
        if rest_total_hits_as_int and not req.rest_total_hits_as_int:
            req = replace(req, rest_total_hits_as_int=True)
        return {
            "_scroll_id": scroll_id,
            "took": int((time.perf_counter() - started) * 1000),
            "timed_out": False,
            "_shards": self._shards_section(ctx.shards, [], self.node_id),
            "hits": self._hits_section(
                req,
                [h for h, _ in page],
                ctx.total,
                max((h.score for h, _ in page if h.score is not None), default=None),
                mappings,
                ctx.restrictions,
            ),
        }

    def clear_scroll(self, ids: list[str], subject: Subject | None = None) -> dict[str, Any]:
        freed = self.scrolls.clear(ids, subject)
        return {"succeeded": True, "num_freed": freed}

    @property
    def open_scrolls(self) -> int:
        return len(self.scrolls)

    # --- count --------------------------------------------------------------------------------

    async def count(
        self,
        expression: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        restrictions: IndexRestrictions | None = None,
    ) -> dict[str, Any]:
        """``_count``; ``restrictions`` as for :meth:`search`."""
        body = dict(body or {})
        for key in body:
            if key != "query":
                raise ParsingError(f"request does not support [{key}]")
        query: dsl.Query = dsl.parse_query(body["query"]) if "query" in body else dsl.MatchAll()
        if "q" in params:
            qs: dict[str, Any] = {"query": params["q"]}
            if "df" in params:
                qs["default_field"] = params["df"]
            if "default_operator" in params:
                qs["default_operator"] = params["default_operator"]
            query = dsl.parse_query({"query_string": qs})
        now_ms = int(self.clock() * 1000)
        targets = self._targets(expression, params)
        jobs = []
        for target in targets:
            for shard in self.routed_shards(target.index, params):
                schema, searcher = shard.engine.view()
                jobs.append(
                    self.indices.run_search(
                        functools.partial(
                            count_shard,
                            schema=schema,
                            searcher=searcher,
                            mapping=target.index.mapping,
                            query=query,
                            filters=list(target.filters) if target.filters else None,
                            now_ms=now_ms,
                            restriction=_restriction(restrictions, target.index.name),
                            index=target.index.name,
                        )
                    )
                )
        counts = await asyncio.gather(*jobs, return_exceptions=True)
        limit = count_terminate_after(params)
        if limit is not None:
            # Each shard stops counting at terminate_after, as its collector would.
            stopped = any(isinstance(c, int) and c > limit for c in counts)
            counts = [min(c, limit) if isinstance(c, int) else c for c in counts]
        failures = [c for c in counts if isinstance(c, BaseException)]
        for failure in failures:
            if not isinstance(failure, IsthmusError):
                raise failure
        if failures and len(failures) == len(counts):
            first = failures[0]
            assert isinstance(first, IsthmusError)
            raise SearchPhaseExecutionError(
                "all shards failed",
                caused_by=first,
                status=first.http_status,
                extra={"phase": "query", "grouped": True},
            )
        return {
            "count": sum(c for c in counts if isinstance(c, int)),
            **({} if limit is None else {"terminated_early": stopped}),
            "_shards": {
                "total": len(counts),
                "successful": len(counts) - len(failures),
                "skipped": 0,
                "failed": len(failures),
            },
        }


def count_terminate_after(params: Mapping[str, str]) -> int | None:
    """``_count``'s ``terminate_after`` parameter (0: none; negative: ES's error)."""
    raw = params.get("terminate_after")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise IllegalArgumentError(
            f"Failed to parse int parameter [terminate_after] with value [{raw}]"
        ) from None
    if value < 0:
        raise IllegalArgumentError("terminateAfter must be > 0")
    return value or None


def _max_rescore_window(meta: IndexMetadata) -> int:
    """``index.max_rescore_window`` (ES's default 10000)."""
    return _index_int(meta, "index.max_rescore_window", 10000)


def _index_int(meta: IndexMetadata, key: str, default: int) -> int:
    """An integer index setting (validated when set; ``default`` when absent)."""
    try:
        return int(meta.setting(key, str(default)))
    except ValueError:
        return default


def _insert_after(out: dict[str, Any], anchor: str, key: str, value: Any) -> None:
    """Put ``key`` right after ``anchor`` (ES writes a hit's sections in a fixed order)."""
    items = list(out.items())
    out.clear()
    for k, v in items:
        out[k] = v
        if k == anchor:
            out[key] = value
    out.setdefault(key, value)


def _terminated_early(results: Sequence[ShardResult]) -> bool | None:
    """ES's reduce: true when any shard stopped early, false when all ran to the end under
    ``terminate_after``, absent (None) without it."""
    flags = [r.terminated_early for r in results if r.terminated_early is not None]
    return any(flags) if flags else None


def _max_regex_length(meta: IndexMetadata) -> int:
    """``index.max_regex_length`` (registered by term_patterns; ES's default 1000)."""
    try:
        return int(meta.setting(MAX_REGEX_LENGTH.key, str(DEFAULT_MAX_REGEX_LENGTH)))
    except ValueError:
        return DEFAULT_MAX_REGEX_LENGTH


def _restriction(restrictions: IndexRestrictions | None, index: str) -> IndexRestriction | None:
    # A remote cluster's documents ("alias:index"; local names never hold a colon) were
    # restricted by that cluster before they left it; the local subject's restrictions name
    # local indices only.
    if restrictions is None or ":" in index:
        return None
    return restrictions.of(index)


def _combined_mapping(indices: list[IndexMetadata]) -> IndexMapping:
    return _combined_mappings([meta.mapping for meta in indices])


def _combined_mappings(mappings: list[IndexMapping]) -> IndexMapping:
    if not mappings:
        return IndexMapping()
    mapping = mappings[0]
    for other in mappings[1:]:
        try:
            mapping = mapping.merge(other.to_json())
        except IsthmusError:
            continue
    return mapping


__all__ = ["SearchActions", "SortField"]
