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

The rooms: opening and closing here; searching in :mod:`isthmus.actions.pit_search`;
what every operation works through and the other clusters' parts in
:mod:`isthmus.actions.pit_parts`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from isthmus import xcontent
from isthmus.actions.node_shards_plan import ShardTask, ordered_copies
from isthmus.actions.pit_contexts import ReaderContext
from isthmus.actions.pit_search import PitSearching
from isthmus.actions.scrolls import check_keep_alive
from isthmus.actions.search_can_match import can_match
from isthmus.actions.search_targets import _ShardFailure
from isthmus.cluster.resolve import split_expression
from isthmus.cluster.routing import ShardId
from isthmus.errors import (
    ElasticsearchParseError,
    IllegalArgumentError,
    IsthmusError,
    XContentParseError,
)
from isthmus.search import dsl
from isthmus.search.pit_wire import OpenReadersResponse
from isthmus.search.point_in_time import LocalShardRef, PitId, RemotePart, check_open
from isthmus.security.ownership import Owner

if TYPE_CHECKING:
    from isthmus.security.authz import Subject


# Open parameters another cluster needs to open its part as the coordinator would.
_OPEN_FORWARDED = ("ignore_unavailable", "allow_no_indices", "expand_wildcards", "routing")


class PointInTimeActions(PitSearching):
    """Opens, searches and closes points in time (other clusters' requests for their parts are
    answered by :class:`~isthmus.actions.pit_handlers.PointInTimeHandlers`).

    ``authz`` is None when security is off: then nothing is narrowed or filtered.
    """

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
            refs, total, skipped = await self._open_local(
                local_expr, params, keep_ms, index_filter, subject
            )
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
            await self._free_refs(refs, subject)
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
        subject: Subject | None,
    ) -> tuple[list[LocalShardRef], int, int]:
        """Reader contexts on this cluster's shards, ``subject``'s: their refs, the shard total
        and how many shards the index filter skipped."""
        targets = self.search._targets(expression, params)
        candidates = []
        elsewhere: list[ShardTask] = []  # a cluster of several nodes: shards with no copy here
        for target in sorted(targets, key=lambda t: t.index.name):
            routed = self.search.routed_shards(target.index, params)
            elsewhere += self._shards_elsewhere(target, routed, params)
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
            ids = self.store.open(readers, self._max_open(), owner=Owner.of(subject))
        except IsthmusError as exc:
            failures = [_ShardFailure(r.index.name, r.shard, exc) for r in readers]
            if not failures:
                raise
            error = self.search._phase_error(failures)
            error.extra["phase"] = "open_pit"
            raise error from None
        here = self.local_node()
        # (index, shard, session, context id, node) of every context, in the PIT's shard order.
        opened = [
            (r.index.name, r.shard, self.store.session, context_id, here)
            for context_id, r in zip(ids, readers, strict=True)
        ]
        skipped = len(candidates) - len(readers)
        if elsewhere:
            try:
                others = await self.open_elsewhere(
                    elsewhere, keep_ms, index_filter, Owner.of(subject)
                )
            except IsthmusError:
                self._free_local(
                    [LocalShardRef(s, c, i, n, 0) for i, n, s, c, _ in opened], subject
                )
                raise
            skipped += sum(1 for o in others if o.context_id is None)
            opened += [
                (o.index, o.shard, o.session, o.context_id, o.node)
                for o in others
                if o.context_id is not None
            ]
            opened.sort(key=lambda o: (o[0], o[1]))
        refs = [
            LocalShardRef(session, context_id, index, shard, position, node)
            for position, (index, shard, session, context_id, node) in enumerate(opened)
        ]
        return refs, len(candidates) + len(elsewhere), skipped

    def _shards_elsewhere(
        self, target: Any, routed: list[Any], params: Mapping[str, str]
    ) -> list[ShardTask]:
        """In a cluster of several nodes, the shards of ``target`` with no copy here: their
        readers are opened on nodes holding a started copy (ES's reader contexts live on the
        shard's node)."""
        if not self.search.distributed or self.search.copies is None:
            return []
        meta = target.index
        held = {s.shard_id.shard for s in routed}
        here = self.search.copies.local_node_id
        out = []
        for number in self.search.routed_numbers(meta, params):
            if number in held:
                continue
            readable = self.search.copies.readable(ShardId(meta.uuid, number, meta.name))
            copies = ordered_copies(params.get("preference"), readable, here, number)
            others = tuple(c for c in copies if c.node_id != here)
            out.append(ShardTask(meta.name, meta.uuid, number, others, target.filters))
        return out

    # --- close ----------------------------------------------------------------------------------

    async def close(self, body: Any, subject: Subject | None) -> tuple[int, dict[str, Any]]:
        """``DELETE /_pit``: every context of the id freed; 404 when none was."""
        pit_id = PitId.decode(_close_id(body))
        freed = await self._free_refs(pit_id.local, subject)
        for part in pit_id.remote:
            freed += await self._free_remote(part.alias, part.id, subject)
        succeeded = freed == pit_id.shard_contexts
        status = 200 if succeeded or freed > 0 else 404
        return status, {"succeeded": succeeded, "num_freed": freed}


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
