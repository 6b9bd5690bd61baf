"""A search with ``pit``: the PIT's shards as they were when it opened.

Authorized, as in ES, on the indices the PIT holds (whoever may read them may use the id: ES
binds scrolls to their user, not PITs), with the searching user's document- and field-level
security. Local contexts are queried with the searcher each holds, in the search pool
(:mod:`isthmus.actions.search_shard`); every other cluster searches its part, and the parts
merge as a cross-cluster search (:mod:`isthmus.search.ccs_merge`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

from isthmus.actions.ccs_search import SEARCH_RENDER_PARAMS
from isthmus.actions.pit_contexts import ReaderContext
from isthmus.actions.pit_nodes import PitNodes
from isthmus.actions.scrolls import check_keep_alive
from isthmus.actions.search_collapse import collapse_hits
from isthmus.actions.search_dfs import DfsShard, dfs_phase, needs_dfs
from isthmus.actions.search_query_phase import _terminated_early
from isthmus.actions.search_shard import ShardResult, query_shard
from isthmus.actions.search_targets import (
    PartialSearch,
    _combined_mappings,
    _index_int,
    _max_regex_length,
    _max_rescore_window,
    _restriction,
    _ShardFailure,
)
from isthmus.cluster.remote_expressions import LOCAL_CLUSTER
from isthmus.errors import (
    IllegalArgumentError,
    IsthmusError,
    SearchContextMissingError,
    SecurityError,
)
from isthmus.search import ccs_merge
from isthmus.search.ccs_merge import ClusterPart, ClusterStatus
from isthmus.search.index_field import qualified_index
from isthmus.search.pit_wire import ReaderQueryRequest
from isthmus.search.point_in_time import (
    LocalShardRef,
    PitId,
    check_search,
    parse_pit,
    shard_doc_value,
    with_tiebreaker,
)
from isthmus.search.request import SearchRequest
from isthmus.search.response import hits_section, terminated_section
from isthmus.security.field_level import IndexRestrictions
from isthmus.security.ownership import Owner
from isthmus.wire.names import SEARCH_ACTION

if TYPE_CHECKING:
    from isthmus.security.authz import Subject


class PitSearching(PitNodes):
    # --- search ---------------------------------------------------------------------------------

    async def search_with_pit(
        self,
        named_index: bool,
        body: Mapping[str, Any],
        params: Mapping[str, str],
        subject: Subject | None,
    ) -> dict[str, Any]:
        """A search with ``pit``: the PIT's shards as they were when it opened."""
        started = time.perf_counter()
        check_search(named_index, params)
        reference = parse_pit(body["pit"])
        keep_ms = (
            None if reference.keep_alive is None else self._keep_alive_ms(reference.keep_alive)
        )
        pit_id = PitId.decode(reference.id)
        search_body = with_tiebreaker({k: v for k, v in body.items() if k != "pit"})
        names = pit_id.local_indices
        restrictions = self._authorize(subject, names)
        req = self.search.parse(",".join(names) or None, search_body, params)
        if not pit_id.remote:
            partial = await self._search_local(
                pit_id.local, 0, req, keep_ms, restrictions, subject=subject
            )
            return await self._response(reference.id, req, partial, restrictions, started)
        parts: list[ClusterPart] = []
        jobs: list[Awaitable[None]] = []
        if pit_id.local:
            local = ClusterPart(LOCAL_CLUSTER, ",".join(names), skip_unavailable=False)
            parts.append(local)
            jobs.append(self._local_part(local, pit_id.local, req, keep_ms, restrictions, subject))
        remote_body = {**search_body, "from": 0, "size": req.from_ + req.size}
        # What changes the remote part's hits (a PIT names no indices options: they are refused).
        forwarded = {k: params[k] for k in SEARCH_RENDER_PARAMS if k in params}
        for rp in pit_id.remote:
            part = ClusterPart(
                rp.alias, ",".join(rp.indices), skip_unavailable=self._skips(rp.alias)
            )
            parts.append(part)
            query = ReaderQueryRequest(
                rp.id, remote_body, forwarded, rp.first_position, reference.keep_alive, rp.alias
            )
            jobs.append(self._remote_part(part, query, subject))
        await asyncio.gather(*jobs)
        for part in parts:
            if part.error is not None and (part.is_local or not part.skip_unavailable):
                raise part.error

        def took() -> int:
            return int((time.perf_counter() - started) * 1000)

        merged = await self.search.indices.run_search(ccs_merge.merge, req, parts, took)
        return {"pit_id": reference.id, **merged}

    def _authorize(self, subject: Subject | None, names: list[str]) -> IndexRestrictions | None:
        """ES authorizes a PIT search on the PIT's indices: the caller needs ``read`` on each
        (403 naming the others); its DLS/FLS there apply."""
        if self.authz is None:
            return None
        if subject is None:
            raise SecurityError(f"action [{SEARCH_ACTION}] is unauthorized for user [_system]")
        if names:
            self.authz.narrow(subject, SEARCH_ACTION, ",".join(names))
        return self.authz.search_restrictions(subject, names)

    async def _search_local(
        self,
        refs: tuple[LocalShardRef, ...],
        first_position: int,
        req: SearchRequest,
        keep_ms: int | None,
        restrictions: IndexRestrictions | None,
        cluster_alias: str | None = None,
        *,
        subject: Subject | None,
    ) -> PartialSearch:
        """This cluster's contexts of a PIT searched (``subject``'s own only), merged as one
        cluster's part."""
        if keep_ms is not None and refs:
            try:  # each of ES's shards checks a search's keep-alive: all fail alike
                check_keep_alive(keep_ms, self.search._max_keep_alive_ms())
            except IsthmusError as exc:
                raise self.search._phase_error(
                    [_ShardFailure(r.index, r.shard, exc) for r in refs]
                ) from None
        now_ms = int(self.search.clock() * 1000)
        boosts = self.search._index_boosts(req, None)
        collect_all = req.collapse is not None
        failures: list[_ShardFailure] = []
        jobs: list[Awaitable[ShardResult]] = []
        keys: list[tuple[str, int]] = []
        mappings = {}
        state = self.search.cluster.state
        found: list[tuple[LocalShardRef, ReaderContext]] = []
        # In a cluster of several nodes, contexts on other nodes are searched there.
        here = self.local_node()
        elsewhere = [r for r in refs if here and r.node and r.node != here]
        skip = set(elsewhere)
        for ref in refs:
            if ref in skip:
                continue
            try:
                reader = self.store.find(ref.session, ref.context_id, keep_ms, subject)
                current = state.indices.get(ref.index)
                if current is None or current.uuid != reader.index.uuid or current.state != "open":
                    # ES frees a shard's reader contexts when the shard closes (the index was
                    # deleted or closed): the id then names a missing context.
                    self.store.free(ref.session, ref.context_id, subject)
                    raise SearchContextMissingError(
                        f"No search context found for id [{ref.context_id}]"
                    )
            except SearchContextMissingError as exc:
                failures.append(_ShardFailure(ref.index, ref.shard, exc))
                continue
            found.append((ref, reader))
        term_stats = None
        if needs_dfs(req):
            dfs_shards = [
                DfsShard(
                    qualified_index(cluster_alias, reader.index.name),
                    reader.schema,
                    reader.searcher,
                    reader.index.mapping,
                    list(reader.filters) if reader.filters else None,
                    _restriction(restrictions, reader.index.name),
                    now_ms,
                )
                for _ref, reader in found
            ]
            remote_dfs = None
            if elsewhere:

                def remote_dfs(gather_stats: bool) -> list[Awaitable[Any]]:
                    return self.query_elsewhere(
                        [(r, first_position + r.position) for r in elsewhere],
                        req,
                        keep_ms=keep_ms,
                        owner=Owner.of(subject),
                        now_ms=now_ms,
                        collect_all=collect_all,
                        restrictions=restrictions,
                        boosts=boosts,
                        cluster_alias=cluster_alias,
                        dfs=True,
                        gather_stats=gather_stats,
                    )

            req, term_stats = await dfs_phase(
                self.search.indices.run_search, req, dfs_shards, remote_dfs, len(elsewhere)
            )
        for ref, reader in found:
            meta = reader.index
            mappings[meta.name] = meta.mapping
            position = first_position + ref.position
            fn = functools.partial(
                query_shard,
                index=meta.name,
                shard=ref.shard,
                schema=reader.schema,
                searcher=reader.searcher,
                mapping=meta.mapping,
                req=req,
                filters=list(reader.filters) if reader.filters else None,
                now_ms=now_ms,
                collect_all=collect_all,
                max_window=int(meta.setting("index.max_result_window", "10000")),
                restriction=_restriction(restrictions, meta.name),
                max_regex_length=_max_regex_length(meta),
                index_boost=boosts.get(meta.name, 1.0),
                max_rescore_window=_max_rescore_window(meta),
                max_docvalue_fields=_index_int(meta, "index.max_docvalue_fields_search", 100),
                cluster_alias=cluster_alias,
                shard_doc=functools.partial(_shard_doc, reader, position),
                term_stats=term_stats,
            )
            jobs.append(self.search.indices.run_search(fn))
            keys.append((meta.name, ref.shard))
        if elsewhere:
            for ref in elsewhere:
                known = state.indices.get(ref.index)
                if known is not None:
                    mappings[ref.index] = known.mapping
            jobs.extend(
                self.query_elsewhere(
                    [(r, first_position + r.position) for r in elsewhere],
                    req,
                    keep_ms=keep_ms,
                    owner=Owner.of(subject),
                    now_ms=now_ms,
                    collect_all=collect_all,
                    restrictions=restrictions,
                    boosts=boosts,
                    cluster_alias=cluster_alias,
                    term_stats=term_stats,
                )
            )
            keys.extend((r.index, r.shard) for r in elsewhere)
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        results: list[ShardResult] = []
        for (index, shard_no), outcome in zip(keys, outcomes, strict=True):
            if isinstance(outcome, IsthmusError):
                failures.append(_ShardFailure(index, shard_no, outcome))
            elif isinstance(outcome, ValueError):
                failures.append(_ShardFailure(index, shard_no, IllegalArgumentError(str(outcome))))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results.append(outcome)
        if failures and not results:
            raise self.search._phase_error(failures)
        if elsewhere:  # in the PIT's shard order, wherever each context lives
            order = {(r.index, r.shard): r.position for r in refs}
            results.sort(key=lambda r: order.get((r.index, r.shard), 0))
        merged = self.search._merge(results, req)
        if req.collapse is not None:
            merged = collapse_hits(req.collapse, merged, mappings)
        partial = PartialSearch(
            hits=merged[: req.from_ + req.size],
            total=sum(r.total for r in results),
            max_score=max((r.max_score for r in results if r.max_score is not None), default=None),
            total_shards=len(refs),
            failures=failures,
            mappings=mappings,
            combined_mapping=_combined_mappings(list(mappings.values())),
            index_names=",".join(mappings),
            terminated_early=_terminated_early(results),
        )
        if req.aggs:
            partial.aggs = await self.search.indices.run_search(
                self.search._aggregate,
                req,
                results,
                partial,
                now_ms,
                restrictions,
                (),
                cluster_alias,
            )
        return partial

    async def _response(
        self,
        pit_id: str,
        req: SearchRequest,
        partial: PartialSearch,
        restrictions: IndexRestrictions | None,
        started: float,
    ) -> dict[str, Any]:
        """ES's search response with ``pit_id`` first."""
        page = partial.hits[req.from_ : req.from_ + req.size]
        rendered = self.search.render_hits(req, partial, page, restrictions)
        out: dict[str, Any] = {
            "pit_id": pit_id,
            "took": int((time.perf_counter() - started) * 1000),
            "timed_out": False,
            **terminated_section(partial.terminated_early),
            "_shards": self.search.shards_section(partial),
            "hits": hits_section(req, rendered, partial.total, partial.max_score),
        }
        if partial.aggs is not None:
            out["aggregations"] = await self.search.indices.run_search(
                self.search.aggregations_json, req, [partial.aggs], partial
            )
        if req.suggest:
            out["suggest"] = await self.suggest(req, partial, restrictions, req.typed_keys)
        return out

    async def suggest(
        self,
        req: SearchRequest,
        partial: PartialSearch,
        restrictions: IndexRestrictions | None,
        typed_keys: bool = False,
    ) -> dict[str, Any]:
        """The ``suggest`` section over the PIT's indices. Suggesters read the shards as they
        are now, not the PIT's snapshot (they have no reader of their own here)."""
        if not partial.index_names:  # never the whole cluster: the PIT holds no shard here
            return {}
        return await self.search.suggest(
            partial.index_names, {}, req, restrictions, typed_keys=typed_keys
        )

    async def _local_part(
        self,
        part: ClusterPart,
        refs: tuple[LocalShardRef, ...],
        req: SearchRequest,
        keep_ms: int | None,
        restrictions: IndexRestrictions | None,
        subject: Subject | None,
    ) -> None:
        started = time.perf_counter()
        try:
            partial = await self._search_local(refs, 0, req, keep_ms, restrictions, subject=subject)
        except IsthmusError as exc:
            part.fail(exc)
            return
        part.hits = self.search.render_hits(req, partial, partial.hits, restrictions)
        part.total = partial.total
        part.max_score = partial.max_score
        part.took = int((time.perf_counter() - started) * 1000)
        part.shards = self.search.shards_section(partial)
        part.failures = list(part.shards.get("failures", []))
        part.status = ClusterStatus.PARTIAL if partial.failures else ClusterStatus.SUCCESSFUL
        part.aggs = partial.aggs
        part.mapping = partial.combined_mapping
        part.terminated_early = partial.terminated_early
        if req.suggest:
            part.suggest = await self.suggest(req, partial, restrictions)


def _shard_doc(reader: ReaderContext, position: int, address: Any) -> int:
    return shard_doc_value(position, reader.doc_number(address))
