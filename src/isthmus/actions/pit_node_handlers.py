"""What a node answers when another node of its cluster opens, searches or frees point-in-time
reader contexts on the shards it holds (the receiving side of :mod:`isthmus.actions.pit_nodes`).

* ``indices:data/read/open_reader_context[n]``: a reader context on each named shard held here
  (none for a shard the index filter cannot match), owned by the subject the coordinating node
  authenticated; the answer names this node's session and each context's number;
* ``indices:data/read/search[phase/query/id][n]``: each named context's query phase (or, with
  ``phase: dfs``, its DFS phase), as the coordinating node runs its own contexts;
* ``indices:data/read/search[free_context][n]``: free the named contexts.

Answered only to requests naming this node's cluster (they travel as the system identity); a
context belongs to its owner, whichever node asks for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from isthmus.actions.node_shards_wire import (
    NodeShardsRequest,
    answer_entry,
    nearest_to_payload,
    restriction_from_payload,
    stats_to_payload,
)
from isthmus.actions.pit_contexts import ReaderContext
from isthmus.actions.scrolls import check_keep_alive
from isthmus.actions.search_dfs import DfsShard, shard_dfs
from isthmus.actions.shard_wire import encode_shard_result
from isthmus.errors import IllegalArgumentError, IsthmusError
from isthmus.search import dsl, knn
from isthmus.search.index_field import qualified_index
from isthmus.search.request import SearchRequest
from isthmus.security.ownership import Owner
from isthmus.transport.actions import ActionRegistry
from isthmus.wire import RemoteProtocolError
from isthmus.wire.names import (
    NODE_FREE_CONTEXT_ACTION,
    NODE_OPEN_READERS_ACTION,
    NODE_READER_QUERY_ACTION,
)

if TYPE_CHECKING:
    from isthmus.actions.pit_nodes import PitNodes


class PitNodeHandlers:
    """Answers the other nodes' PIT requests with ``pit``'s store and searches."""

    def __init__(self, pit: PitNodes) -> None:
        self.pit = pit

    def register(self, registry: ActionRegistry[Any], cluster_name: str) -> None:
        """Answer the PIT requests of the other nodes of ``cluster_name``."""

        def own(payload: Any, action: str) -> dict[str, Any]:
            if not isinstance(payload, dict) or payload.get("cluster_name") != cluster_name:
                raise IllegalArgumentError(
                    f"[{action}] is only answered to nodes of cluster [{cluster_name}]"
                )
            return payload

        async def on_open(payload: Any, ctx: Any) -> Any:
            request = own(payload, NODE_OPEN_READERS_ACTION)
            return await self._open_here(request)

        async def on_query(payload: Any, ctx: Any) -> Any:
            request = own(payload, NODE_READER_QUERY_ACTION)
            return await self._query_here(request)

        async def on_free(payload: Any, ctx: Any) -> Any:
            request = own(payload, NODE_FREE_CONTEXT_ACTION)
            owner = owner_from_payload(request.get("owner"))
            contexts = request.get("contexts")
            if not isinstance(contexts, list):
                raise RemoteProtocolError("free request has no [contexts] list")
            freed = 0
            for entry in contexts:
                if not (isinstance(entry, list) and len(entry) == 2):
                    raise RemoteProtocolError("free request context is malformed")
                session, context_id = entry
                if isinstance(session, str) and isinstance(context_id, int):
                    freed += self.pit.store.free_for(session, context_id, owner)
            return {"freed": freed}

        registry.register(NODE_OPEN_READERS_ACTION, on_open)
        registry.register(NODE_READER_QUERY_ACTION, on_query)
        registry.register(NODE_FREE_CONTEXT_ACTION, on_free)

    async def _open_here(self, request: dict[str, Any]) -> dict[str, Any]:
        from isthmus.actions.pit import _may_match  # the open's own index-filter rule

        keep_ms, now_ms = request.get("keep_ms"), request.get("now_ms")
        shards = request.get("shards")
        if not isinstance(keep_ms, int) or not isinstance(now_ms, int):
            raise RemoteProtocolError("open readers request needs [keep_ms] and [now_ms]")
        if not isinstance(shards, list):
            raise RemoteProtocolError("open readers request has no [shards] list")
        owner = owner_from_payload(request.get("owner"))
        raw_filter = request.get("index_filter")
        index_filter = None if raw_filter is None else dsl.parse_query(raw_filter)
        state = self.pit.search.cluster.state
        entries: list[Any] = []
        readers: list[tuple[int, ReaderContext]] = []
        expires = self.pit.search.clock() + keep_ms / 1000
        from isthmus.cluster.routing import ShardId
        from isthmus.errors import IndexNotFoundError, ShardNotFoundError

        for position, spec in enumerate(shards):
            if not isinstance(spec, dict):
                raise RemoteProtocolError("open readers shard is malformed")
            index, number, filters = spec.get("index"), spec.get("shard"), spec.get("filters")
            meta = state.indices.get(index) if isinstance(index, str) else None
            if meta is None or not isinstance(number, int):
                entries.append(IndexNotFoundError(str(index)))
                continue
            shard = self.pit.search.indices.shard(ShardId(meta.uuid, number, meta.name))
            if shard is None:
                entries.append(ShardNotFoundError(meta.name, meta.uuid, number))
                continue
            schema, searcher = shard.engine.view()
            if index_filter is not None and not _may_match(
                index_filter, meta, schema, searcher, now_ms
            ):
                entries.append({"context_id": None})
                continue
            reader = ReaderContext(
                meta,
                number,
                schema,
                searcher,
                tuple(filters) if isinstance(filters, list) else None,
                keep_ms,
                expires,
            )
            readers.append((position, reader))
            entries.append(None)  # filled once every reader is kept
        if readers:
            check_keep_alive(keep_ms, self.pit.search._max_keep_alive_ms())
            ids = self.pit.store.open([r for _, r in readers], self.pit._max_open(), owner=owner)
            for (position, _), context_id in zip(readers, ids, strict=True):
                entries[position] = {"context_id": context_id}
        return {
            "session": self.pit.store.session,
            "results": [answer_entry(e, lambda v: v) for e in entries],
        }

    async def _query_here(self, request: dict[str, Any]) -> dict[str, Any]:
        parsed = NodeShardsRequest.from_payload({**request, "shards": []})
        contexts = request.get("contexts")
        if not isinstance(contexts, list):
            raise RemoteProtocolError("reader query has no [contexts] list")
        keep_ms = request.get("keep_ms")
        owner = owner_from_payload(request.get("owner"))
        req = self.pit.search.parse(None, parsed.body, parsed.params)
        from dataclasses import replace

        req = replace(
            req,
            from_=parsed.from_,
            size=parsed.size,
            search_after=None if parsed.search_after is None else tuple(parsed.search_after),
        )
        if parsed.knn is not None and knn.top_level_clauses(req.query):
            req = replace(req, query=knn.with_chosen(req.query, parsed.knn))
        dfs = request.get("phase") == "dfs"
        jobs: list[Awaitable[Any]] = []
        for spec in contexts:
            jobs.append(self._one_context(spec, req, parsed, keep_ms, owner, dfs))
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        entries = []
        for outcome in outcomes:
            if isinstance(outcome, ValueError):
                outcome = IllegalArgumentError(str(outcome))
            elif isinstance(outcome, BaseException) and not isinstance(outcome, IsthmusError):
                raise outcome
            entries.append(answer_entry(outcome, _encode_dfs if dfs else encode_shard_result))
        return {"results": entries}

    async def _one_context(
        self,
        spec: Any,
        req: SearchRequest,
        parsed: NodeShardsRequest,
        keep_ms: Any,
        owner: Owner | None,
        dfs: bool,
    ) -> Any:
        if not isinstance(spec, dict):
            raise RemoteProtocolError("reader query context is malformed")
        session, context_id = spec.get("session"), spec.get("context_id")
        position, boost = spec.get("position"), spec.get("boost", 1.0)
        if not (
            isinstance(session, str) and isinstance(context_id, int) and isinstance(position, int)
        ):
            raise RemoteProtocolError("reader query context is malformed")
        reader = self.pit.found_reader(
            session, context_id, keep_ms if isinstance(keep_ms, int) else None, owner
        )
        raw = spec.get("restriction")
        restriction = None if raw is None else restriction_from_payload(raw)
        if dfs:
            view = DfsShard(
                qualified_index(parsed.cluster_alias, reader.index.name),
                reader.schema,
                reader.searcher,
                reader.index.mapping,
                list(reader.filters) if reader.filters else None,
                restriction,
                parsed.now_ms,
            )
            return await self.pit.search.indices.run_search(
                shard_dfs, view, req, parsed.gather_stats
            )
        return await self.pit.reader_query(
            reader,
            position,
            req,
            now_ms=parsed.now_ms,
            collect_all=parsed.collect_all,
            restriction=restriction,
            boost=float(boost) if isinstance(boost, int | float) else 1.0,
            cluster_alias=parsed.cluster_alias,
            term_stats=parsed.term_stats,
        )


def owner_from_payload(value: Any) -> Owner | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RemoteProtocolError("[owner] is not a map")
    user, realm, key = value.get("username"), value.get("realm"), value.get("api_key_id")
    if not isinstance(user, str) or not isinstance(realm, str):
        raise RemoteProtocolError("[owner] needs [username] and [realm]")
    if key is not None and not isinstance(key, str):
        raise RemoteProtocolError("[owner] [api_key_id] is not a string")
    return Owner(user, realm, key)


def _encode_dfs(value: Any) -> dict[str, Any]:
    nearest, stats = value
    return {
        "nearest": nearest_to_payload(nearest),
        "stats": None if stats is None else stats_to_payload(stats),
    }


__all__ = ["PitNodeHandlers", "owner_from_payload"]
