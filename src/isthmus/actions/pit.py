"""Point in time: ``POST /<expr>/_pit``, searches with ``pit``, ``DELETE /_pit``, across clusters.

Opening a PIT keeps a reader context per searched shard (:mod:`isthmus.actions.pit_contexts`):
local shards here, and for every other cluster the expression names, that cluster opens its own
(``indices:data/read/open_reader_context``, sent with the caller's identity; the remote
authorizes it with its own roles) and answers with the id of its part. The PIT id
(:mod:`isthmus.search.point_in_time`) carries every part, so a search with it queries each local
context with the searcher it holds and asks each remote to search its part
(``indices:data/read/search[phase/query/id]``), merging them as a cross-cluster search
(:mod:`isthmus.search.ccs_merge`); closing it frees every part
(``indices:data/read/search[free_context]``).

A search with a PIT sees the shards as they were when it opened; it is authorized, as in ES, on
the indices the PIT holds (whoever may read them may use the id: ES binds scrolls to their user,
not PITs), with the searching user's document- and field-level security. Per-shard work runs
in the search pool, as every search does (:mod:`isthmus.actions.search_shard`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

from isthmus import xcontent
from isthmus.actions.cross_cluster import CrossClusterActions
from isthmus.actions.pit_contexts import MAX_OPEN_PIT_SETTING, PitStore, ReaderContext
from isthmus.actions.scrolls import check_keep_alive
from isthmus.actions.search import (
    PartialSearch,
    SearchActions,
    _combined_mappings,
    _index_int,
    _max_regex_length,
    _max_rescore_window,
    _restriction,
    _ShardFailure,
    _terminated_early,
)
from isthmus.actions.search_can_match import can_match
from isthmus.actions.search_collapse import collapse_hits
from isthmus.actions.search_shard import ShardResult, query_shard
from isthmus.cluster.remote_expressions import LOCAL_CLUSTER
from isthmus.cluster.resolve import split_expression
from isthmus.errors import (
    ElasticsearchParseError,
    IllegalArgumentError,
    IsthmusError,
    SearchContextMissingError,
    SecurityError,
    XContentParseError,
)
from isthmus.search import ccs_merge, dsl
from isthmus.search.ccs_merge import ClusterPart, ClusterStatus
from isthmus.search.ccs_wire import RemoteSearchResponse
from isthmus.search.pit_wire import (
    FreeReadersRequest,
    FreeReadersResponse,
    OpenReadersRequest,
    OpenReadersResponse,
    ReaderQueryRequest,
)
from isthmus.search.point_in_time import (
    LocalShardRef,
    PitId,
    RemotePart,
    check_open,
    check_search,
    parse_pit,
    shard_doc_value,
    with_tiebreaker,
)
from isthmus.search.request import SearchRequest
from isthmus.search.response import hits_section, terminated_section
from isthmus.security.field_level import IndexRestrictions
from isthmus.settings.values import parse_time
from isthmus.wire.names import (
    FREE_CONTEXT_ACTION,
    OPEN_READER_CONTEXT_ACTION,
    READER_QUERY_ACTION,
    SEARCH_ACTION,
)

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.security.index_authorization import IndexAuthorization

# Open parameters another cluster needs to open its part as the coordinator would.
_OPEN_FORWARDED = ("ignore_unavailable", "allow_no_indices", "expand_wildcards", "routing")
# Search parameters that change what a remote part renders.
_SEARCH_FORWARDED = (
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
    "stored_fields",
    "docvalue_fields",
    "terminate_after",
)


class PointInTimeActions:
    """Opens, searches and closes points in time (other clusters' requests for their parts are
    answered by :class:`~isthmus.actions.pit_handlers.PointInTimeHandlers`).

    ``authz`` is None when security is off: then nothing is narrowed or filtered.
    """

    def __init__(
        self,
        search: SearchActions,
        cross: CrossClusterActions,
        *,
        authz: IndexAuthorization | None = None,
        store: PitStore | None = None,
    ) -> None:
        self.search = search
        self.cross = cross
        self.authz = authz
        self.store = store or PitStore(search.clock)

    # --- settings -------------------------------------------------------------------------------

    @staticmethod
    def _keep_alive_ms(raw: str) -> int:
        """``keep_alive`` in milliseconds (``search.max_keep_alive`` is checked per shard, where
        ES's shards check it)."""
        return parse_time(raw, "keep_alive").millis

    def _skips(self, alias: str) -> bool:
        """The alias's ``skip_unavailable``: a failing cluster is left out instead of failing."""
        remote = self.cross.remote
        try:
            return remote is not None and remote.get(alias).skip_unavailable
        except IsthmusError:
            return False

    def _max_open(self) -> int:
        return int(self.search.cluster.state.typed_setting(MAX_OPEN_PIT_SETTING))

    # --- open -----------------------------------------------------------------------------------

    async def open(
        self,
        expression: str | None,
        params: Mapping[str, str],
        body: Mapping[str, Any] | None,
        subject: Subject | None,
    ) -> dict[str, Any]:
        """``POST /<expr>/_pit``: ``{"id", "_shards"}``."""
        keep = params.get("keep_alive")
        check_open(bool(split_expression(expression)), keep)
        assert keep is not None
        keep_ms = self._keep_alive_ms(keep)
        index_filter = _index_filter(body)
        grouped = self.cross.group(expression)
        local_expr = (
            (",".join(grouped.local) if grouped.local else None)
            if grouped.is_cross_cluster
            else expression
        )
        refs: list[LocalShardRef] = []
        total = skipped = 0
        if grouped.local is not None or not grouped.is_cross_cluster:
            refs, total, skipped = await self._open_local(local_expr, params, keep_ms, index_filter)
        remote_parts: list[RemotePart] = []
        position = len(refs)
        forwarded = {k: params[k] for k in _OPEN_FORWARDED if k in params}
        answers = await asyncio.gather(
            *(
                self._open_remote(alias, names, forwarded, keep, index_filter, subject)
                for alias, names in grouped.remote.items()
            ),
            return_exceptions=True,
        )
        opened: list[tuple[str, OpenReadersResponse]] = []
        failure: BaseException | None = None
        for (alias, names), answer in zip(grouped.remote.items(), answers, strict=True):
            if isinstance(answer, BaseException):
                if isinstance(answer, IsthmusError) and self._skips(alias):
                    continue  # skip_unavailable: the PIT goes on without that cluster, as ES's
                failure = failure or answer
                continue
            opened.append((alias, answer))
            remote_parts.append(RemotePart(alias, answer.id, names, answer.successful, position))
            position += answer.successful
            total += answer.total
            skipped += answer.skipped
        if failure is not None:
            # Nothing half-open stays behind a failed open.
            self._free_local(refs)
            for alias, answer in opened:
                await self._free_remote(alias, answer.id, subject)
            raise failure
        pit_id = PitId(tuple(refs), tuple(remote_parts)).encode()
        return {
            "id": pit_id,
            "_shards": {"total": total, "successful": total, "skipped": skipped, "failed": 0},
        }

    async def _open_local(
        self,
        expression: str | None,
        params: Mapping[str, str],
        keep_ms: int,
        index_filter: Mapping[str, Any] | None,
    ) -> tuple[list[LocalShardRef], int, int]:
        """Reader contexts on this cluster's shards: their refs, the shard total and how many
        shards the index filter skipped."""
        targets = self.search._targets(expression, params)
        candidates = []
        for target in sorted(targets, key=lambda t: t.index.name):
            routed = self.search.routed_shards(target.index, params)
            for shard in sorted(routed, key=lambda s: s.shard_id.shard):
                schema, searcher = shard.engine.view()
                candidates.append((target, shard.shard_id.shard, schema, searcher))
        now_ms = int(self.search.clock() * 1000)
        keep: list[bool] = [True] * len(candidates)
        if index_filter is not None and candidates:
            query = dsl.parse_query(dict(index_filter))

            def matching() -> list[bool]:
                return [
                    _may_match(query, target.index, schema, searcher, now_ms)
                    for target, _, schema, searcher in candidates
                ]

            keep = await self.search.indices.run_search(matching)
        expires = self.search.clock() + keep_ms / 1000
        readers = [
            ReaderContext(
                target.index, shard_no, schema, searcher, target.filters, keep_ms, expires
            )
            for (target, shard_no, schema, searcher), kept in zip(candidates, keep, strict=True)
            if kept
        ]
        try:
            # ES's shards refuse the keep-alive, and OpenSearch's the count, one by one: every
            # shard fails, which ES reports as its open_pit phase failing.
            if readers:
                check_keep_alive(keep_ms, self.search._max_keep_alive_ms())
            ids = self.store.open(readers, self._max_open())
        except IsthmusError as exc:
            failures = [_ShardFailure(r.index.name, r.shard, exc) for r in readers]
            if not failures:
                raise
            error = self.search._phase_error(failures)
            error.extra["phase"] = "open_pit"
            raise error from None
        refs = [
            LocalShardRef(self.store.session, context_id, r.index.name, r.shard, position)
            for position, (context_id, r) in enumerate(zip(ids, readers, strict=True))
        ]
        return refs, len(candidates), len(candidates) - len(readers)

    async def _open_remote(
        self,
        alias: str,
        names: tuple[str, ...],
        params: dict[str, str],
        keep: str,
        index_filter: Mapping[str, Any] | None,
        subject: Subject | None,
    ) -> OpenReadersResponse:
        remote = self.cross.remote
        assert remote is not None
        channel = await remote.channel_for_request(alias)
        request = OpenReadersRequest(names, params, keep, index_filter, alias)
        answer = await channel.request(
            OPEN_READER_CONTEXT_ACTION,
            request.to_payload(),
            remote.headers(alias, subject, OPEN_READER_CONTEXT_ACTION),
            timeout=None,
        )
        return OpenReadersResponse.from_payload(answer, cluster=alias)

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
            partial = await self._search_local(pit_id.local, 0, req, keep_ms, restrictions)
            return await self._response(reference.id, req, partial, restrictions, started)
        parts: list[ClusterPart] = []
        jobs: list[Awaitable[None]] = []
        if pit_id.local:
            local = ClusterPart(LOCAL_CLUSTER, ",".join(names), skip_unavailable=False)
            parts.append(local)
            jobs.append(self._local_part(local, pit_id.local, req, keep_ms, restrictions))
        remote_body = {**search_body, "from": 0, "size": req.from_ + req.size}
        forwarded = {k: params[k] for k in _SEARCH_FORWARDED if k in params}
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
    ) -> PartialSearch:
        """This cluster's contexts of a PIT searched, merged as one cluster's part."""
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
        for ref in refs:
            try:
                reader = self.store.find(ref.session, ref.context_id, keep_ms)
                current = state.indices.get(ref.index)
                if current is None or current.uuid != reader.index.uuid or current.state != "open":
                    # ES frees a shard's reader contexts when the shard closes (the index was
                    # deleted or closed): the id then names a missing context.
                    self.store.free(ref.session, ref.context_id)
                    raise SearchContextMissingError(
                        f"No search context found for id [{ref.context_id}]"
                    )
            except SearchContextMissingError as exc:
                failures.append(_ShardFailure(ref.index, ref.shard, exc))
                continue
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
            )
            jobs.append(self.search.indices.run_search(fn))
            keys.append((meta.name, ref.shard))
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
    ) -> None:
        started = time.perf_counter()
        try:
            partial = await self._search_local(refs, 0, req, keep_ms, restrictions)
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

    async def _remote_part(
        self, part: ClusterPart, query: ReaderQueryRequest, subject: Subject | None
    ) -> None:
        remote = self.cross.remote
        try:
            if remote is None:
                raise IllegalArgumentError(f"no such remote cluster: [{part.key}]")
            channel = await remote.channel_for_request(part.key)
            answer = await channel.request(
                READER_QUERY_ACTION,
                query.to_payload(),
                remote.headers(part.key, subject, READER_QUERY_ACTION),
                timeout=None,
            )
            part.accept(RemoteSearchResponse.from_payload(answer, cluster=part.key))
        except IsthmusError as exc:
            part.fail(exc)

    # --- close ----------------------------------------------------------------------------------

    async def close(self, body: Any, subject: Subject | None) -> tuple[int, dict[str, Any]]:
        """``DELETE /_pit``: every context of the id freed; 404 when none was."""
        pit_id = PitId.decode(_close_id(body))
        freed = self._free_local(pit_id.local)
        for part in pit_id.remote:
            freed += await self._free_remote(part.alias, part.id, subject)
        succeeded = freed == pit_id.shard_contexts
        status = 200 if succeeded or freed > 0 else 404
        return status, {"succeeded": succeeded, "num_freed": freed}

    def _free_local(self, refs: tuple[LocalShardRef, ...] | list[LocalShardRef]) -> int:
        return sum(self.store.free(r.session, r.context_id) for r in refs)

    async def _free_remote(self, alias: str, part_id: str, subject: Subject | None) -> int:
        """How many of the part's contexts the remote freed (0 when it cannot be reached, as
        ES counts a context it could not free)."""
        remote = self.cross.remote
        if remote is None:
            return 0
        try:
            channel = await remote.channel_for_request(alias)
            answer = await channel.request(
                FREE_CONTEXT_ACTION,
                FreeReadersRequest(part_id).to_payload(),
                remote.headers(alias, subject, FREE_CONTEXT_ACTION),
                timeout=None,
            )
            return FreeReadersResponse.from_payload(answer, cluster=alias).freed
        except IsthmusError:
            return 0


def _shard_doc(reader: ReaderContext, position: int, address: Any) -> int:
    return shard_doc_value(position, reader.doc_number(address))


def _may_match(query: dsl.Query, meta: Any, schema: Any, searcher: Any, now_ms: int) -> bool:
    """Whether the index filter may match the shard (a fault keeps it: the search reports it)."""
    try:
        return can_match(
            query,
            index=meta.name,
            schema=schema,
            searcher=searcher,
            mapping=meta.mapping,
            now_ms=now_ms,
        )
    except IsthmusError:
        return True


def _index_filter(body: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The open request's body: ``index_filter`` only (ES's ObjectParser messages)."""
    if not body:
        return None
    index_filter = None
    for key, value in body.items():
        if key != "index_filter":
            raise XContentParseError(f"[open_point_in_time_request] unknown field [{key}]")
        index_filter = xcontent.as_object("open_point_in_time_request", "index_filter", value)
    return index_filter


def _close_id(body: Any) -> str:
    """``ClosePointInTimeRequest.fromXContent``: an object holding ``id`` only."""
    if body is None:
        raise ElasticsearchParseError("request body or source parameter is required")
    if not isinstance(body, Mapping):
        raise IllegalArgumentError("Malformed content, must start with an object")
    pit_id: str | None = None
    for key, value in body.items():
        if key != "id":
            raise IllegalArgumentError(
                f"Unknown parameter [{key}] in request body or parameter is of the wrong "
                f"type[{xcontent.token(value)}] "
            )
        if isinstance(value, Mapping | list):
            raise IllegalArgumentError("the request must contain only [id field")
        pit_id = xcontent.as_str("close_point_in_time", "id", value)
    if not pit_id:
        raise IllegalArgumentError("search context id is is not provided")
    return pit_id


__all__ = ["PointInTimeActions"]
