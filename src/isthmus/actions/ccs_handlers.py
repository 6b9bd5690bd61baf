"""The search actions another cluster calls on this one (the remote side of cross-cluster search).

* ``indices:data/read/search``: search this cluster's part of the expression and answer with the
  top ``from + size`` hits rendered, the total, the shard counts and the aggregations in their
  mergeable form (``ccs_minimize_roundtrips``, the default);
* ``indices:admin/search/search_shards``: the shards the expression searches, each with its
  index's mapping and alias filters (``ccs_minimize_roundtrips=false``);
* ``indices:data/read/search[phase/query]``: one shard's query and fetch for such a search.

The caller comes with the request (the transport's request filter decided it): with security on,
each action is authorized against this cluster's roles for that caller and narrowed to what it
may read; document- and field-level security apply here, so hidden documents, fields and mapping
entries never leave the cluster. Payloads are the typed values of :mod:`isthmus.search.ccs_wire`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from isthmus.actions.cross_cluster import local_names
from isthmus.actions.search import PartialSearch, SearchActions
from isthmus.errors import IsthmusError, SecurityError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search.ccs_wire import (
    QueryPhaseRequest,
    RemoteSearchRequest,
    RemoteSearchResponse,
    SearchShardsRequest,
    SearchShardsResponse,
    ShardTarget,
)
from isthmus.security.field_level import IndexRestriction, IndexRestrictions
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.wire.names import QUERY_PHASE_ACTION, SEARCH_ACTION, SEARCH_SHARDS_ACTION

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.security.index_authorization import IndexAuthorization

# The document- and field-level security of a caller on the named local indices (None: none).
RestrictionsFor = Callable[["Subject | None", list[str]], IndexRestrictions | None]


class CrossClusterSearchHandlers:
    """Answers other clusters' searches with this cluster's :class:`SearchActions`.

    ``authz`` and ``restrictions_for`` are None when security is off: then every caller may
    search everything, as ES without security.
    """

    def __init__(
        self,
        search: SearchActions,
        *,
        authz: IndexAuthorization | None = None,
        restrictions_for: RestrictionsFor | None = None,
    ) -> None:
        self.search = search
        self.authz = authz
        self.restrictions_for = restrictions_for

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
    ) -> str:
        """The expression narrowed to what ``subject`` may use for ``action`` here."""
        if self.authz is None:
            return expression
        if subject is None:
            raise SecurityError(f"action [{action}] is unauthorized for user [_system]")
        return self.authz.narrow(subject, action, expression, params)

    def _restrictions(self, subject: Subject | None, names: list[str]) -> IndexRestrictions | None:
        if self.authz is None or self.restrictions_for is None:
            return None
        return self.restrictions_for(subject, names)

    async def _on_search_shards(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        request = SearchShardsRequest.from_payload(payload)
        names = local_names(list(request.indices))
        params = dict(request.params)
        # read_cross_cluster grants this action: ES's certificate model requires it remotely.
        expression = self._authorized(ctx.caller, SEARCH_SHARDS_ACTION, ",".join(names), params)
        shards = self.search.search_shards(expression, params)
        if shards:
            restrictions = self._restrictions(ctx.caller, sorted({s["index"] for s in shards}))
            if restrictions is not None:
                for shard in shards:
                    shard["mapping"] = _filtered(shard["mapping"], restrictions.of(shard["index"]))
        targets = (ShardTarget(s["index"], s["shard"], s["mapping"], s["filters"]) for s in shards)
        return SearchShardsResponse(tuple(targets)).to_payload()

    async def _on_query_phase(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        from isthmus.actions.shard_wire import encode_shard_result

        request = QueryPhaseRequest.from_payload(payload)
        (index,) = local_names([request.index])
        self._authorized(ctx.caller, SEARCH_ACTION, index)
        params = dict(request.params)
        req = self.search.parse(index, request.body, params)
        restrictions = self._restrictions(ctx.caller, [index])
        restriction = None if restrictions is None else restrictions.of(index)
        result = await self.search.query_one_shard(
            index,
            request.shard,
            req,
            now_ms=request.now_ms,
            collect_all=request.collect_all,
            filters=request.filters,
            restriction=restriction,
            cluster_alias=request.cluster_alias,
            pre_filter=request.pre_filter,
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
        request = RemoteSearchRequest.from_payload(payload)
        params = dict(request.params)
        expression = ",".join(local_names(list(request.indices)))
        restrictions = None
        if self.authz is not None:
            expression = self._authorized(ctx.caller, SEARCH_ACTION, expression, params)
            restrictions = self._restrictions(ctx.caller, expression.split(","))
        req = await self.search.parse_off_loop(expression, request.body, params)
        partial = await self.search.search_partial(
            expression, req, params, restrictions, cluster_alias=request.cluster_alias
        )
        answer = RemoteSearchResponse(
            hits=self.search.render_hits(req, partial, partial.hits, restrictions),
            total=partial.total,
            max_score=partial.max_score,
            took=int((time.perf_counter() - started) * 1000),
            timed_out=False,
            shards=self.search.shards_section(partial),
            aggs=partial.aggs,
            # typed_keys prefixes depend on field types the coordinator may not know
            mapping=None if partial.aggs is None else _visible_mapping(partial, restrictions),
            terminated_early=partial.terminated_early,
            suggest=await self.search.suggest(expression, params, req, restrictions)
            if req.suggest
            else None,
        )
        if answer.aggs is None:
            return answer.to_payload()
        # Encoding is as large as the aggregation tree (20,000 filters, 65,536 buckets): off the
        # loop.
        return await self.search.indices.run_search(answer.to_payload)


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


def _filtered(mapping: dict[str, Any], restriction: IndexRestriction) -> dict[str, Any]:
    """``mapping`` without the fields ``restriction``'s field-level security hides."""
    fields = restriction.fields
    if fields is None:
        return mapping
    from isthmus.security.field_level import filter_mapping

    return filter_mapping(mapping, fields)


__all__ = ["CrossClusterSearchHandlers", "RestrictionsFor"]
