"""Cross-cluster search, coordinating side: one ``_search`` or ``_count`` over several clusters.

Split the index expression by cluster, search the local part here and send each remote its part:
with ``ccs_minimize_roundtrips`` (the default) as one ``indices:data/read/search`` request per
remote (the caller's identity attached), each answering with its top ``from + size`` hits
rendered, its total and its mergeable aggregations; without it (and for scroll) by asking each
remote for its shards and querying them one by one beside the local shards.
``skip_unavailable`` decides whether a failing remote is skipped or fails the search.

This module only gathers: the merge of the clusters' answers (ranking, totals, aggregations,
``_clusters``) is :mod:`isthmus.search.ccs_merge`, the payloads are
:mod:`isthmus.search.ccs_wire`, and the actions other clusters call here are
:mod:`isthmus.actions.ccs_handlers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from isthmus.actions.cross_cluster import CrossClusterActions
from isthmus.actions.search import PartialSearch, SearchActions
from isthmus.actions.search_shard import ShardResult
from isthmus.cluster.remote_expressions import LOCAL_CLUSTER
from isthmus.errors import IsthmusError, ParsingError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search import ccs_merge
from isthmus.search.ccs_merge import ClusterPart, ClusterStatus
from isthmus.search.ccs_wire import (
    QueryPhaseRequest,
    RemoteSearchRequest,
    RemoteSearchResponse,
    SearchShardsRequest,
    SearchShardsResponse,
    ShardTarget,
)
from isthmus.search.request import SearchRequest
from isthmus.search.suggest import merge_sections
from isthmus.security.field_level import IndexRestrictions
from isthmus.security.ownership import Owner
from isthmus.settings.values import parse_time
from isthmus.transport.channel import TransportChannel
from isthmus.wire.names import QUERY_PHASE_ACTION, SEARCH_ACTION, SEARCH_SHARDS_ACTION

if TYPE_CHECKING:
    from isthmus.security.authz import Subject

# URL parameters that change what a remote's part of a search matches and renders (also a
# point in time's remote part: see actions/pit_search.py).
SEARCH_RENDER_PARAMS = (
    "q",
    "terminate_after",
    "stored_fields",
    "docvalue_fields",
    "df",
    "default_operator",
    "analyzer",
    "analyze_wildcard",
    "lenient",
    "sort",
    "_source",
    "_source_includes",
    "_source_excludes",
    "track_scores",
    "version",
    "seq_no_primary_term",
    "include_named_queries_score",
)
# URL parameters a remote needs to run its part exactly as the coordinator would.
_FORWARDED_PARAMS = (
    *SEARCH_RENDER_PARAMS,
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "ignore_throttled",
    # Each cluster pre-filters its own shards (its skipped ones add up in `_shards.skipped`).
    "pre_filter_shard_size",
)

_COUNT_PARAMS = (
    "q",
    "df",
    "default_operator",
    "analyzer",
    "analyze_wildcard",
    "lenient",
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "ccs_minimize_roundtrips",
)

# Stateless, so one instance serves every request.
_NO_TIMEOUT: contextlib.nullcontext[None] = contextlib.nullcontext()


class CrossClusterSearch:
    """``_search`` and ``_count`` across clusters, gathered here and merged by
    :mod:`isthmus.search.ccs_merge`."""

    def __init__(self, search: SearchActions, cross: CrossClusterActions) -> None:
        self.search = search
        self.cross = cross

    async def run(
        self,
        expression: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        subject: Subject | None,
        local_restrictions: IndexRestrictions | None,
        progress: list[ClusterPart] | None = None,
    ) -> dict[str, Any]:
        """``_search``, crossing clusters when the expression names remote indices.

        ``progress`` receives the per-cluster records as soon as they exist; they are updated in
        place as each cluster answers (async search shows them while the search runs).
        """
        grouped = self.cross.group(expression)
        if not grouped.is_cross_cluster:
            # Exclusions may have removed every remote: search what is left, locally.
            local_only = ",".join(grouped.local or ()) or None if grouped.local else expression
            return await self.search.search(
                local_only, body, params, local_restrictions, owner=Owner.of(subject)
            )
        started = time.perf_counter()
        local_expr = ",".join(grouped.local) if grouped.local is not None else None
        # Scroll needs every shard's hits at the coordinator: as ES, it never minimizes.
        if params.get("ccs_minimize_roundtrips") == "false" or "scroll" in params:
            return await self._shard_by_shard(
                grouped.remote,
                local_expr,
                body,
                params,
                subject,
                local_restrictions,
                started,
                progress,
            )
        req = self.search.parse(local_expr, body, params)
        parts: list[ClusterPart] = []
        jobs = []
        if grouped.local is not None:
            part = ClusterPart(LOCAL_CLUSTER, local_expr or "", skip_unavailable=False)
            parts.append(part)
            jobs.append(self._local(part, local_expr, req, params, local_restrictions))
        remote_body = dict(body or {})
        remote_body["from"] = 0
        remote_body["size"] = req.from_ + req.size
        remote_params = {k: params[k] for k in _FORWARDED_PARAMS if k in params}
        for alias, names in grouped.remote.items():
            remote = self.cross.remote.get(alias) if self.cross.remote is not None else None
            part = ClusterPart(
                alias, ",".join(names), skip_unavailable=bool(remote and remote.skip_unavailable)
            )
            parts.append(part)
            jobs.append(
                self._remote(
                    part,
                    list(names),
                    boosts_for_cluster(remote_body, alias),
                    remote_params,
                    subject,
                    _timeout(params, body),
                )
            )
        if progress is not None:
            progress.extend(parts)
        if len(jobs) == 1:
            await jobs[0]  # one cluster: no task or gather needed
        else:
            await asyncio.gather(*jobs)
        for part in parts:
            if part.error is not None and (part.key == LOCAL_CLUSTER or not part.skip_unavailable):
                raise part.error
        # Ranking every cluster's hits and reducing their aggregations is CPU work that grows
        # with the request: a large one runs in the search pool so the loop keeps serving
        # pings; a page of hits without aggregations costs less than the hop (~0.2 ms).
        hits = sum(len(p.hits) for p in parts)

        def took() -> int:
            return int((time.perf_counter() - started) * 1000)

        if any(p.aggs is not None for p in parts) or hits > INLINE_MERGE_HITS:
            merged: dict[str, Any] = await self.search.indices.run_search(
                ccs_merge.merge, req, parts, took
            )
            return merged
        return ccs_merge.merge(req, parts, took)

    async def count(
        self,
        expression: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        subject: Subject | None,
        local_restrictions: IndexRestrictions | None,
    ) -> dict[str, Any]:
        """``_count``: across clusters it is a search for the total only (as ES runs it)."""
        grouped = self.cross.group(expression)
        if not grouped.is_cross_cluster:
            local_only = ",".join(grouped.local or ()) or None if grouped.local else expression
            return await self.search.count(local_only, body, params, local_restrictions)
        body = dict(body or {})
        for key in body:
            if key != "query":
                raise ParsingError(f"request does not support [{key}]")
        search_body = {**body, "size": 0, "track_total_hits": True}
        search_params = {k: v for k, v in params.items() if k in _COUNT_PARAMS}
        out = await self.run(expression, search_body, search_params, subject, local_restrictions)
        return {"count": out["hits"]["total"]["value"], "_shards": out["_shards"]}

    async def _local(
        self,
        part: ClusterPart,
        expression: str | None,
        req: SearchRequest,
        params: Mapping[str, str],
        restrictions: IndexRestrictions | None,
    ) -> None:
        started = time.perf_counter()
        try:
            partial = await self.search.search_partial(expression, req, params, restrictions)
        except IsthmusError as exc:
            part.error = exc
            part.status = ClusterStatus.FAILED
            return
        part.hits = self.search.render_hits(req, partial, partial.hits, restrictions)
        self._fill(part, partial, int((time.perf_counter() - started) * 1000))
        part.aggs = partial.aggs
        part.mapping = partial.combined_mapping
        part.terminated_early = partial.terminated_early
        if req.suggest:
            part.suggest = await self.search.suggest(expression, params, req, restrictions)

    def _fill(self, part: ClusterPart, partial: PartialSearch, took: int) -> None:
        part.total = partial.total
        part.max_score = partial.max_score
        part.took = took
        part.shards = self.search.shards_section(partial)
        part.failures = list(part.shards.get("failures", []))
        part.status = ClusterStatus.PARTIAL if partial.failures else ClusterStatus.SUCCESSFUL

    async def _remote(
        self,
        part: ClusterPart,
        names: list[str],
        body: dict[str, Any],
        params: dict[str, str],
        subject: Subject | None,
        timeout: float | None = None,
    ) -> None:
        assert self.cross.remote is not None
        started = time.perf_counter()
        try:
            # No timer to arm in the common case (no `timeout`): a null context instead.
            async with _NO_TIMEOUT if timeout is None else asyncio.timeout(timeout):
                channel = await self.cross.remote.channel_for_request(part.key)
                answer = await channel.request(
                    SEARCH_ACTION,
                    RemoteSearchRequest(tuple(names), body, params, part.key).to_payload(),
                    self.cross.remote.headers(part.key, subject, SEARCH_ACTION),
                    timeout=None,
                )
            part.accept(RemoteSearchResponse.from_payload(answer, cluster=part.key))
        except TimeoutError:
            # The search's `timeout` ran out before this cluster answered (its work is
            # cancelled).
            part.time_out(int((time.perf_counter() - started) * 1000))
        except IsthmusError as exc:
            part.fail(exc)

    async def _shard_by_shard(
        self,
        remote_groups: Mapping[str, tuple[str, ...]],
        local_expr: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        subject: Subject | None,
        local_restrictions: IndexRestrictions | None,
        started: float,
        progress: list[ClusterPart] | None = None,
    ) -> dict[str, Any]:
        """``ccs_minimize_roundtrips=false``: ask each remote for its shards, then query them one
        by one beside the local shards, and merge everything as one search."""
        forwarded = {k: params[k] for k in _FORWARDED_PARAMS if k in params}
        service = self.cross.remote

        def headers(alias: str, action: str) -> dict[str, str]:
            assert service is not None
            return service.headers(alias, subject, action)

        shard_set = _RemoteShardSet(body, forwarded, headers)
        parts: list[ClusterPart] = []
        if local_expr is not None:
            parts.append(ClusterPart(LOCAL_CLUSTER, local_expr, skip_unavailable=False))

        async def shards_of(part: ClusterPart, names: tuple[str, ...]) -> None:
            assert self.cross.remote is not None
            try:
                channel = await self.cross.remote.channel_for_request(part.key)
                answer = await channel.request(
                    SEARCH_SHARDS_ACTION,
                    SearchShardsRequest(names, forwarded).to_payload(),
                    self.cross.remote.headers(part.key, subject, SEARCH_SHARDS_ACTION),
                    timeout=None,
                )
                shard_set.add(
                    part.key, channel, SearchShardsResponse.from_payload(answer, cluster=part.key)
                )
            except IsthmusError as exc:
                part.fail(exc)

        jobs = []
        for alias, names in remote_groups.items():
            remote = self.cross.remote.get(alias) if self.cross.remote is not None else None
            part = ClusterPart(
                alias, ",".join(names), skip_unavailable=bool(remote and remote.skip_unavailable)
            )
            parts.append(part)
            jobs.append(shards_of(part, names))
        if progress is not None:
            progress.extend(parts)
        await asyncio.gather(*jobs)
        for part in parts:
            if part.error is not None and not part.skip_unavailable:
                raise part.error
        out = await self.search.search(
            local_expr,
            body,
            params,
            local_restrictions,
            remote=shard_set,
            include_local=local_expr is not None,
            owner=Owner.of(subject),
        )
        if (body or {}).get("suggest") is not None:
            out = await self._remote_suggestions(out, parts, body or {}, params, subject)
        took = int((time.perf_counter() - started) * 1000)
        return ccs_merge.with_cluster_details(out, parts, shard_set.counts, took, shard_set.skipped)

    async def _remote_suggestions(
        self,
        out: dict[str, Any],
        parts: list[ClusterPart],
        body: Mapping[str, Any],
        params: Mapping[str, str],
        subject: Subject | None,
    ) -> dict[str, Any]:
        """``out`` with the remote clusters' suggestions merged in: a search that queries remote
        shards one by one reads their hits, not their terms, so each remote answers its own
        ``suggest`` section (a search of nothing else) and the sections merge as with minimized
        round trips."""
        assert self.cross.remote is not None
        req = self.search.parse(None, body, params)
        local = out.get("suggest") or {}
        if req.typed_keys:  # merged by their plain names, typed again after
            local = {key.split("#", 1)[-1]: value for key, value in local.items()}
        sections = [local]
        ask = {"size": 0, "track_total_hits": False, "suggest": body["suggest"]}
        for part in parts:
            if part.is_local or part.error is not None:
                continue
            try:
                channel = await self.cross.remote.channel_for_request(part.key)
                answer = await channel.request(
                    SEARCH_ACTION,
                    RemoteSearchRequest(tuple(part.indices.split(",")), ask, {}).to_payload(),
                    self.cross.remote.headers(part.key, subject, SEARCH_ACTION),
                    timeout=None,
                )
            except IsthmusError:
                if not part.skip_unavailable:
                    raise
                continue
            seen = ClusterPart(part.key, part.indices, part.skip_unavailable)
            seen.accept(RemoteSearchResponse.from_payload(answer, cluster=part.key))
            if seen.suggest is not None:
                sections.append(seen.suggest)
        return {**out, "suggest": merge_sections(req.suggest, sections, req.typed_keys)}


class _RemoteShardSet:
    """Remote shards for a search that queries them one by one (see ``_shard_by_shard``)."""

    def __init__(
        self,
        body: Mapping[str, Any] | None,
        params: dict[str, str],
        headers: Callable[[str, str], dict[str, str]],
    ) -> None:
        self.body = dict(body or {})
        self.params = params
        self.headers = headers
        self.mappings: dict[str, IndexMapping] = {}
        self.counts: dict[str, int] = {}
        self.skipped: dict[str, int] = {}  # by alias: shards the pre-filter skipped there
        self._shards: list[tuple[str, TransportChannel, ShardTarget]] = []

    def add(self, alias: str, channel: TransportChannel, answer: SearchShardsResponse) -> None:
        self.counts[alias] = len(answer.shards)
        for target in answer.shards:
            self.mappings[f"{alias}:{target.index}"] = IndexMapping(target.mapping)
            self._shards.append((alias, channel, target))

    def jobs(
        self, req: SearchRequest, now_ms: int, collect_all: bool, local_shards: int
    ) -> list[tuple[str, int, Awaitable[ShardResult]]]:
        # As ES's can-match phase, over every shard of the search, local ones included.
        limit = req.pre_filter_shard_size
        pre_filter = limit is not None and local_shards + len(self._shards) > limit
        return [
            (
                f"{alias}:{target.index}",
                target.shard,
                self._query(alias, channel, target, now_ms, collect_all, pre_filter),
            )
            for alias, channel, target in self._shards
        ]

    async def _query(
        self,
        alias: str,
        channel: TransportChannel,
        target: ShardTarget,
        now_ms: int,
        collect_all: bool,
        pre_filter: bool,
    ) -> ShardResult:
        from isthmus.actions.shard_wire import decode_shard_result

        request = QueryPhaseRequest(
            index=target.index,
            shard=target.shard,
            body=boosts_for_cluster(self.body, alias),
            params=self.params,
            now_ms=now_ms,
            collect_all=collect_all,
            filters=target.filters,
            cluster_alias=alias,
            pre_filter=pre_filter,
        )
        answer = await channel.request(
            QUERY_PHASE_ACTION,
            request.to_payload(),
            self.headers(alias, QUERY_PHASE_ACTION),
            timeout=None,
        )
        result = decode_shard_result(answer, index_prefix=f"{alias}:")
        if result.skipped:
            self.skipped[alias] = self.skipped.get(alias, 0) + 1
        return result


# Clusters' hits merged on the event loop up to this many (without aggregations).
INLINE_MERGE_HITS = 1000


def boosts_for_cluster(body: dict[str, Any], alias: str) -> dict[str, Any]:
    """The body a remote cluster runs: of ``indices_boost`` only its own entries
    (``alias:index``), named as it knows them; entries for this or other clusters dropped."""
    entries = body.get("indices_boost")
    if not isinstance(entries, list) or not entries:
        return body
    prefix = alias + ":"
    own = [
        {name[len(prefix) :]: boost}
        for entry in entries
        if isinstance(entry, dict)
        for name, boost in entry.items()
        if name.startswith(prefix)
    ]
    return {**body, "indices_boost": own}


def _timeout(params: Mapping[str, str], body: Mapping[str, Any] | None) -> float | None:
    """The search's ``timeout`` (URL parameter or body field) in seconds (None: no limit)."""
    raw = params.get("timeout") or (body or {}).get("timeout")
    if raw is None:
        return None
    value = parse_time(raw)
    return None if value.millis < 0 else value.seconds


__all__ = ["INLINE_MERGE_HITS", "CrossClusterSearch"]
