"""Cross-cluster search with ``ccs_minimize_roundtrips`` (one request per remote cluster).

Coordinating side: split the index expression by cluster, search the local part here and send
each remote its part as one ``indices:data/read/search`` transport request (the caller's identity
attached). Every cluster answers with its top ``from + size`` hits already rendered, its total,
and its aggregations in their mergeable form; this module merges them as one search over the
union would, prefixes remote hits' ``_index`` with ``<alias>:``, and writes ES's ``_clusters``
section. ``skip_unavailable`` decides whether a failing remote is skipped or fails the search.

Remote side: the same action answers another cluster's request, authorized against this
cluster's roles of the caller's role names (certificate model).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from isthmus.actions.cross_cluster import CrossClusterActions, local_names
from isthmus.actions.search import PartialSearch, SearchActions
from isthmus.actions.search_shard import ShardResult
from isthmus.cluster.remote_expressions import LOCAL_CLUSTER, LOCAL_DISPLAY
from isthmus.errors import IllegalArgumentError, IsthmusError, ParsingError, SecurityError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.rawjson import RawJson
from isthmus.search.aggs_core import AggResult
from isthmus.search.request import SearchRequest
from isthmus.search.response import compare_keys, hits_section
from isthmus.security.field_level import IndexRestriction, IndexRestrictions
from isthmus.security.ownership import Owner
from isthmus.settings.values import parse_time
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.transport.channel import TransportChannel
from isthmus.wire.names import QUERY_PHASE_ACTION, SEARCH_ACTION, SEARCH_SHARDS_ACTION

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.security.index_authorization import IndexAuthorization

# URL parameters a remote needs to run its part exactly as the coordinator would.
_FORWARDED_PARAMS = (
    "q",
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
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "ignore_throttled",
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

RestrictionsFor = Callable[["Subject | None", list[str]], IndexRestrictions | None]


@dataclass
class ClusterPart:
    """One cluster's outcome in a cross-cluster search."""

    key: str  # "" for local, else the alias
    indices: str
    skip_unavailable: bool
    status: str = "running"
    took: int | None = None
    timed_out: bool = False
    shards: dict[str, Any] | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    error: IsthmusError | None = None
    hits: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    max_score: float | None = None
    aggs: dict[str, AggResult] | None = None
    local: PartialSearch | None = None  # the local cluster's own result (its mappings)
    mapping: IndexMapping | None = None  # a remote's merged mapping (for typed_keys)

    @property
    def display(self) -> str:
        return LOCAL_DISPLAY if self.key == LOCAL_CLUSTER else self.key

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "indices": self.indices}
        if self.took is not None:
            out["took"] = self.took
        out["timed_out"] = self.timed_out
        if self.shards is not None:
            out["_shards"] = {k: v for k, v in self.shards.items() if k != "failures"}
        if self.failures:
            out["failures"] = self.failures
        return out


class CrossClusterSearch:
    def __init__(
        self,
        search: SearchActions,
        cross: CrossClusterActions,
        *,
        authz: IndexAuthorization | None = None,
        restrictions_for: RestrictionsFor | None = None,
    ) -> None:
        self.search = search
        self.cross = cross
        self.authz = authz
        self.restrictions_for = restrictions_for

    # --- coordinating side ----------------------------------------------------------------------

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
                    part, list(names), remote_body, remote_params, subject, _timeout(params, body)
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
        if any(p.aggs is not None for p in parts) or hits > INLINE_MERGE_HITS:
            merged: dict[str, Any] = await self.search.indices.run_search(
                self._merge, req, parts, started
            )
            return merged
        return self._merge(req, parts, started)

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
            part.status = "failed"
            return
        part.hits = self.search.render_hits(req, partial, partial.hits, restrictions)
        self._fill(part, partial, int((time.perf_counter() - started) * 1000))
        part.aggs = partial.aggs
        part.local = partial

    def _fill(self, part: ClusterPart, partial: PartialSearch, took: int) -> None:
        part.total = partial.total
        part.max_score = partial.max_score
        part.took = took
        part.shards = self.search.shards_section(partial)
        part.failures = list(part.shards.get("failures", []))
        part.status = "partial" if partial.failures else "successful"

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
                    {"indices": names, "body": body, "params": params},
                    self.cross.remote.headers(part.key, subject, SEARCH_ACTION),
                    timeout=None,
                )
            self._accept(part, answer)
        except TimeoutError:
            # The search's `timeout` ran out before this cluster answered (its work is
            # cancelled): reported as a partial, timed-out cluster, as ES does.
            part.timed_out = True
            part.status = "partial"
            part.took = int((time.perf_counter() - started) * 1000)
        except IsthmusError as exc:
            part.error = exc
            part.status = "skipped" if part.skip_unavailable else "failed"
            part.failures = [{"shard": -1, "index": None, "reason": exc.to_cause()}]

    def _accept(self, part: ClusterPart, answer: Any) -> None:
        try:
            self._accept_answer(part, answer)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise IllegalArgumentError(
                f"malformed search answer from remote cluster [{part.key}]"
            ) from None

    def _accept_answer(self, part: ClusterPart, answer: Any) -> None:
        if not isinstance(answer, dict) or not isinstance(answer.get("hits"), list):
            raise IllegalArgumentError(f"malformed search answer from remote cluster [{part.key}]")
        part.hits = answer["hits"]
        for hit in part.hits:
            hit["_index"] = f"{part.key}:{hit['_index']}"
            source = hit.get("_source")
            if type(source) is bytes:  # a document as stored there (see _on_search)
                hit["_source"] = RawJson.checked(source)
        part.total = int(answer.get("total", 0))
        part.max_score = answer.get("max_score")
        part.took = answer.get("took")
        part.timed_out = bool(answer.get("timed_out"))
        part.shards = answer.get("_shards")
        part.failures = list((part.shards or {}).get("failures", []))
        part.status = "partial" if part.failures else "successful"
        if isinstance(answer.get("mapping"), dict):
            part.mapping = IndexMapping(answer["mapping"])
        if answer.get("aggs") is not None:
            from isthmus.search.aggs_wire import decode_results

            part.aggs = decode_results(answer["aggs"])

    def _merge(
        self, req: SearchRequest, parts: list[ClusterPart], started: float
    ) -> dict[str, Any]:
        ok = [p for p in parts if p.error is None]
        page = self._page(req, ok)
        total = sum(p.total for p in ok)
        scores = [p.max_score for p in ok if p.max_score is not None]
        shards = {"total": 0, "successful": 0, "skipped": 0, "failed": 0}
        failures: list[dict[str, Any]] = []
        for p in ok:
            for key in shards:
                shards[key] += int((p.shards or {}).get(key, 0))
            for failure in p.failures:
                prefixed = dict(failure)
                if p.key != LOCAL_CLUSTER and failure.get("index"):
                    prefixed["index"] = f"{p.key}:{failure['index']}"
                failures.append(prefixed)
        shards_out: dict[str, Any] = dict(shards)
        if failures:
            shards_out["failures"] = failures
        body: dict[str, Any] = {
            "took": int((time.perf_counter() - started) * 1000),
            "timed_out": any(p.timed_out for p in ok),
            "_shards": shards_out,
            "_clusters": clusters_section(parts),
            "hits": hits_section(req, page, total, max(scores) if scores else None),
        }
        partials = [p.aggs for p in ok if p.aggs is not None]
        if req.aggs and partials:
            # typed_keys names come from the field types: every cluster's mappings merged.
            local = next((p.local for p in ok if p.local is not None), None) or _mapping_only()
            if req.typed_keys:
                local = _with_mappings(local, [p.mapping for p in ok if p.mapping is not None])
            try:
                body["aggregations"] = self.search.aggregations_json(req, partials, local)
            except (KeyError, IndexError, TypeError):
                # Partials that do not line up (a field mapped differently per cluster).
                raise IllegalArgumentError(
                    "Merging/Reducing the aggregations failed because a field you gave in the "
                    "aggregation query existed as two different types in two different clusters"
                ) from None
        return body

    @staticmethod
    def _page(req: SearchRequest, ok: list[ClusterPart]) -> list[dict[str, Any]]:
        """The requested page of every cluster's ranked hits, ranked together (ties: cluster
        order, then each cluster's own order)."""
        if len(ok) == 1 and (not req.sort or req.sorts_by_score_only):
            # One cluster's hits come ranked by score already. (Field sorts are re-ranked on
            # their rendered values, as with several clusters, so both agree.)
            return ok[0].hits[req.from_ : req.from_ + req.size]
        ranked: list[tuple[int, int, dict[str, Any]]] = [
            (ci, pos, hit) for ci, p in enumerate(ok) for pos, hit in enumerate(p.hits)
        ]
        if req.sort and not req.sorts_by_score_only:
            sorts = req.sort

            def cmp(a: tuple[int, int, dict[str, Any]], b: tuple[int, int, dict[str, Any]]) -> int:
                by = compare_keys(a[2].get("sort") or [], b[2].get("sort") or [], sorts)
                return by or (a[0] - b[0]) or (a[1] - b[1])

            ranked.sort(key=functools.cmp_to_key(cmp))
        else:
            ranked.sort(key=lambda t: (-(t[2].get("_score") or 0.0), t[0], t[1]))
        return [hit for _, _, hit in ranked[req.from_ : req.from_ + req.size]]

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
                    {"indices": list(names), "params": forwarded},
                    self.cross.remote.headers(part.key, subject, SEARCH_SHARDS_ACTION),
                    timeout=None,
                )
                shard_set.add(part.key, channel, answer)
            except IsthmusError as exc:
                part.error = exc
                part.status = "skipped" if part.skip_unavailable else "failed"
                part.failures = [{"shard": -1, "index": None, "reason": exc.to_cause()}]

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
        failures = out["_shards"].get("failures", [])
        remote_total = 0
        for part in parts:
            if part.error is not None:
                continue
            if part.key == LOCAL_CLUSTER:
                continue
            total = shard_set.counts.get(part.key, 0)
            remote_total += total
            failed = [f for f in failures if str(f.get("index", "")).startswith(f"{part.key}:")]
            self._shard_outcome(part, total, failed, out)
        for part in parts:
            if part.key == LOCAL_CLUSTER:
                failed = [f for f in failures if ":" not in str(f.get("index", ""))]
                self._shard_outcome(part, out["_shards"]["total"] - remote_total, failed, out)
        ordered: dict[str, Any] = {}
        for key, value in out.items():
            ordered[key] = value
            if key == "_shards":
                ordered["_clusters"] = clusters_section(parts)
        ordered["took"] = int((time.perf_counter() - started) * 1000)
        return ordered

    @staticmethod
    def _shard_outcome(
        part: ClusterPart, total: int, failed: list[dict[str, Any]], out: Mapping[str, Any]
    ) -> None:
        part.took = out.get("took")
        part.shards = {
            "total": total,
            "successful": total - len(failed),
            "skipped": 0,
            "failed": len(failed),
        }
        part.failures = failed
        part.status = "partial" if failed else "successful"

    # --- remote side ----------------------------------------------------------------------------

    def register(self, registry: ActionRegistry[Subject]) -> None:
        registry.register(SEARCH_ACTION, self._on_search)
        registry.register(SEARCH_SHARDS_ACTION, self._on_search_shards)
        registry.register(QUERY_PHASE_ACTION, self._on_query_phase)

    def _authorized(
        self,
        subject: Subject | None,
        action: str,
        expression: str,
        params: Mapping[str, str] | None = None,
    ) -> tuple[str, Subject | None]:
        """The expression narrowed to what ``subject`` may use for ``action`` here."""
        if self.authz is None:
            return expression, subject
        if subject is None:
            raise SecurityError(f"action [{action}] is unauthorized for user [_system]")
        return self.authz.narrow(subject, action, expression, params), subject

    async def _on_search_shards(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        names = payload.get("indices") if isinstance(payload, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise IllegalArgumentError("search shards request needs a list of [indices]")
        names = local_names(names)
        params = {str(k): str(v) for k, v in (payload.get("params") or {}).items()}
        # read_cross_cluster grants this action: ES's certificate model requires it remotely.
        expression, subject = self._authorized(
            ctx.caller, SEARCH_SHARDS_ACTION, ",".join(names), params
        )
        shards = self.search.search_shards(expression, params)
        if self.authz is not None and self.restrictions_for is not None and shards:
            restrictions = self.restrictions_for(subject, sorted({s["index"] for s in shards}))
            if restrictions is not None:
                for shard in shards:
                    shard["mapping"] = _filtered(shard["mapping"], restrictions.of(shard["index"]))
        return {"shards": shards}

    async def _on_query_phase(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        from isthmus.actions.shard_wire import encode_shard_result

        if not isinstance(payload, dict) or not isinstance(payload.get("index"), str):
            raise IllegalArgumentError("query phase request needs an [index]")
        (index,) = local_names([payload["index"]])
        _, subject = self._authorized(ctx.caller, SEARCH_ACTION, index)
        params = {str(k): str(v) for k, v in (payload.get("params") or {}).items()}
        req = self.search.parse(index, payload.get("body"), params)
        restriction = None
        if self.authz is not None and self.restrictions_for is not None:
            restrictions = self.restrictions_for(subject, [index])
            restriction = None if restrictions is None else restrictions.of(index)
        result = await self.search.query_one_shard(
            index,
            int(payload.get("shard", 0)),
            req,
            now_ms=int(payload.get("now_ms", 0)),
            collect_all=bool(payload.get("collect_all")),
            filters=payload.get("filters"),
            restriction=restriction,
        )
        if restriction is not None:
            # Field-level security is applied here: the coordinator never sees hidden fields.
            for hit in result.hits:
                hit.source = orjson.dumps(restriction.source(orjson.loads(hit.source)))
            result.agg_sources = [
                (doc_id, score, orjson.dumps(restriction.source(orjson.loads(src))))
                for doc_id, score, src in result.agg_sources
            ]
        return encode_shard_result(result)

    async def _on_search(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        started = time.perf_counter()
        if not isinstance(payload, dict):
            raise IllegalArgumentError("search request payload must be a map")
        names = payload.get("indices")
        body = payload.get("body")
        params = payload.get("params") or {}
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise IllegalArgumentError("search request needs a list of [indices]")
        if body is not None and not isinstance(body, dict):
            raise IllegalArgumentError("search request [body] must be a map")
        expression = ",".join(local_names(names))
        subject = ctx.caller
        restrictions = None
        if self.authz is not None:
            if subject is None:
                raise SecurityError(f"action [{SEARCH_ACTION}] is unauthorized for user [_system]")
            params = {str(k): str(v) for k, v in params.items()}
            expression = self.authz.narrow(subject, SEARCH_ACTION, expression, params)
            if self.restrictions_for is not None:
                restrictions = self.restrictions_for(subject, expression.split(","))
        params = {str(k): str(v) for k, v in params.items()}
        req = await self.search.parse_off_loop(expression, body, params)
        partial = await self.search.search_partial(expression, req, params, restrictions)
        aggs = None
        if partial.aggs is not None:
            from isthmus.search.aggs_wire import encode_results

            # As large as the aggregation tree (20,000 filters, 65,536 buckets): off the loop.
            aggs = await self.search.indices.run_search(encode_results, partial.aggs)
        hits = self.search.render_hits(req, partial, partial.hits, restrictions)
        for hit in hits:
            source = hit.get("_source")
            if type(source) is RawJson:
                hit["_source"] = source.raw  # travels as bytes, as stored
        return {
            "hits": hits,
            "total": partial.total,
            "max_score": partial.max_score,
            "took": int((time.perf_counter() - started) * 1000),
            "timed_out": False,
            "_shards": self.search.shards_section(partial),
            "aggs": aggs,
            # typed_keys prefixes depend on field types the coordinator may not know
            "mapping": self._visible_mapping(partial, restrictions) if aggs is not None else None,
        }

    @staticmethod
    def _visible_mapping(
        partial: PartialSearch, restrictions: IndexRestrictions | None
    ) -> dict[str, Any]:
        """The searched indices' mapping as the caller may see it: field-level security hides
        fields from mappings that leave this cluster too."""
        if restrictions is None:
            return partial.combined_mapping.to_json()
        merged = IndexMapping()
        for index, mapping in partial.mappings.items():
            body = _filtered(mapping.to_json(), restrictions.of(index))
            try:
                merged = merged.merge(body)
            except IsthmusError:
                continue
        return merged.to_json()


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
        self._shards: list[tuple[str, TransportChannel, str, int, Any]] = []

    def add(self, alias: str, channel: TransportChannel, answer: Any) -> None:
        shards = answer.get("shards") if isinstance(answer, dict) else None
        if not isinstance(shards, list):
            raise IllegalArgumentError(f"malformed search shards answer from [{alias}]")
        self.counts[alias] = len(shards)
        for entry in shards:
            index, shard = entry.get("index"), entry.get("shard")
            if not isinstance(index, str) or not isinstance(shard, int):
                raise IllegalArgumentError(f"malformed search shards answer from [{alias}]")
            self.mappings[f"{alias}:{index}"] = IndexMapping(entry.get("mapping") or {})
            self._shards.append((alias, channel, index, shard, entry.get("filters")))

    def jobs(
        self, req: SearchRequest, now_ms: int, collect_all: bool
    ) -> list[tuple[str, int, Awaitable[ShardResult]]]:
        return [
            (
                f"{alias}:{index}",
                shard,
                self._query(alias, channel, index, shard, filters, now_ms, collect_all),
            )
            for alias, channel, index, shard, filters in self._shards
        ]

    async def _query(
        self,
        alias: str,
        channel: TransportChannel,
        index: str,
        shard: int,
        filters: Any,
        now_ms: int,
        collect_all: bool,
    ) -> ShardResult:
        from isthmus.actions.shard_wire import decode_shard_result

        answer = await channel.request(
            QUERY_PHASE_ACTION,
            {
                "index": index,
                "shard": shard,
                "body": self.body,
                "params": self.params,
                "now_ms": now_ms,
                "collect_all": collect_all,
                "filters": filters,
            },
            self.headers(alias, QUERY_PHASE_ACTION),
            timeout=None,
        )
        return decode_shard_result(answer, index_prefix=f"{alias}:")


def _filtered(mapping: dict[str, Any], restriction: IndexRestriction) -> dict[str, Any]:
    """``mapping`` without the fields ``restriction``'s field-level security hides."""
    fields = restriction.fields
    if fields is None:
        return mapping
    from isthmus.security.field_level import filter_mapping

    return filter_mapping(mapping, fields)


# Clusters' hits merged on the event loop up to this many (without aggregations).
INLINE_MERGE_HITS = 1000


def _timeout(params: Mapping[str, str], body: Mapping[str, Any] | None) -> float | None:
    """The search's ``timeout`` (URL parameter or body field) in seconds (None: no limit)."""
    raw = params.get("timeout") or (body or {}).get("timeout")
    if raw is None:
        return None
    value = parse_time(raw)
    return None if value.millis < 0 else value.seconds


def clusters_section(parts: list[ClusterPart]) -> dict[str, Any]:
    """ES's ``_clusters``: counts recomputed from the per-cluster details."""
    counts = {status: 0 for status in ("successful", "skipped", "running", "partial", "failed")}
    for part in parts:
        counts[part.status] += 1
    return {
        "total": len(parts),
        **counts,
        "details": {part.display: part.details() for part in parts},
    }


def _with_mappings(base: PartialSearch, others: list[IndexMapping]) -> PartialSearch:
    from dataclasses import replace

    mapping = base.combined_mapping
    for other in others:
        try:
            mapping = mapping.merge(other.to_json())
        except IsthmusError:
            continue
    return replace(base, combined_mapping=mapping)


def _mapping_only() -> PartialSearch:
    return PartialSearch(
        hits=[],
        total=0,
        max_score=None,
        total_shards=0,
        failures=[],
        mappings={},
        combined_mapping=IndexMapping(),
        index_names="",
    )
