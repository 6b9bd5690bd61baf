"""The point-in-time actions another cluster calls on this one (the remote side of a PIT that
names this cluster's indices).

* ``indices:data/read/open_reader_context``: open reader contexts on this cluster's shards of
  the expression and answer with their id (this cluster's own PIT id, local shards only) and
  the shard counts;
* ``indices:data/read/search[phase/query/id]``: search those contexts for the coordinator, whose
  positions for them start where it says (``_shard_doc`` values then order across clusters),
  answering as a cross-cluster search part (hits rendered, total, mergeable aggregations);
* ``indices:data/read/search[free_context]``: free them.

The caller comes with the request (the transport's request filter decided it): with security on,
opening is authorized on the named indices and searching on the indices the contexts hold, with
this cluster's roles for that caller; its document- and field-level security applies here, so
hidden documents and fields never leave the cluster.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from isthmus.actions.ccs_handlers import _visible_mapping
from isthmus.actions.cross_cluster import local_names
from isthmus.errors import SecurityError
from isthmus.search.ccs_wire import RemoteSearchResponse
from isthmus.search.pit_wire import (
    FreeReadersRequest,
    FreeReadersResponse,
    OpenReadersRequest,
    OpenReadersResponse,
    ReaderQueryRequest,
)
from isthmus.search.point_in_time import PitId
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.wire.names import (
    FREE_CONTEXT_ACTION,
    OPEN_READER_CONTEXT_ACTION,
    READER_QUERY_ACTION,
)

if TYPE_CHECKING:
    from isthmus.actions.pit import PointInTimeActions
    from isthmus.security.authz import Subject


class PointInTimeHandlers:
    """Answers other clusters' PIT requests with this cluster's :class:`PointInTimeActions`."""

    def __init__(self, pit: PointInTimeActions) -> None:
        self.pit = pit

    def register(self, registry: ActionRegistry[Subject]) -> None:
        registry.register(OPEN_READER_CONTEXT_ACTION, self._on_open)
        registry.register(READER_QUERY_ACTION, self._on_query)
        registry.register(FREE_CONTEXT_ACTION, self._on_free)

    def _remote_names(
        self, subject: Subject | None, action: str, names: list[str], params: Mapping[str, str]
    ) -> str:
        expression = ",".join(local_names(names))
        if self.pit.authz is None:
            return expression
        if subject is None:
            raise SecurityError(f"action [{action}] is unauthorized for user [_system]")
        return self.pit.authz.narrow(subject, action, expression, params)

    async def _on_open(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        request = OpenReadersRequest.from_payload(payload)
        params = dict(request.params)
        expression = self._remote_names(
            ctx.caller, OPEN_READER_CONTEXT_ACTION, list(request.indices), params
        )
        keep_ms = self.pit._keep_alive_ms(request.keep_alive)
        refs, total, skipped = await self.pit._open_local(
            expression, params, keep_ms, request.index_filter, ctx.caller
        )
        own_id = PitId(tuple(refs)).encode()
        return OpenReadersResponse(own_id, total, total - skipped, skipped, 0).to_payload()

    async def _on_query(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        started = time.perf_counter()
        request = ReaderQueryRequest.from_payload(payload)
        pit_id = PitId.decode(request.id)
        names = pit_id.local_indices
        restrictions = self.pit._authorize(ctx.caller, names)
        keep_ms = (
            None if request.keep_alive is None else self.pit._keep_alive_ms(request.keep_alive)
        )
        params = dict(request.params)
        req = await self.pit.search.parse_off_loop(",".join(names) or None, request.body, params)
        partial = await self.pit._search_local(
            pit_id.local,
            request.first_position,
            req,
            keep_ms,
            restrictions,
            request.cluster_alias,
            subject=ctx.caller,
        )
        answer = RemoteSearchResponse(
            hits=self.pit.search.render_hits(req, partial, partial.hits, restrictions),
            total=partial.total,
            max_score=partial.max_score,
            took=int((time.perf_counter() - started) * 1000),
            timed_out=False,
            shards=self.pit.search.shards_section(partial),
            aggs=partial.aggs,
            mapping=None if partial.aggs is None else _visible_mapping(partial, restrictions),
            terminated_early=partial.terminated_early,
            suggest=await self.pit.suggest(req, partial, restrictions) if req.suggest else None,
        )
        if answer.aggs is None:
            return answer.to_payload()
        return await self.pit.search.indices.run_search(answer.to_payload)

    async def _on_free(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        if self.pit.authz is not None and ctx.caller is None:
            raise SecurityError(
                f"action [{FREE_CONTEXT_ACTION}] is unauthorized for user [_system]"
            )
        request = FreeReadersRequest.from_payload(payload)
        pit_id = PitId.decode(request.id)
        freed = await self.pit._free_refs(pit_id.local, ctx.caller)
        return FreeReadersResponse(freed).to_payload()


__all__ = ["PointInTimeHandlers"]
