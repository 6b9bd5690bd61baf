"""Point-in-time reader contexts on other nodes of this cluster (ES's model: a shard's reader
context lives on the node holding the copy it reads, and the PIT id names that node and the
context).

In a cluster of several nodes a PIT opened through one node keeps a reader on the shards that
node holds, and asks a node holding a started copy of each other shard to open one there
(``indices:data/read/open_reader_context[n]``, one request per node, the next copy when a node
fails). Each of its :class:`~isthmus.search.point_in_time.LocalShardRef` names its node. A
search with the PIT, through any node, queries each context where it lives
(``indices:data/read/search[phase/query/id][n]``: one request per node; a context cannot move,
so a node that is gone fails its shards), and closing it frees every node's contexts
(``indices:data/read/search[free_context][n]``).

These travel as the system identity between nodes of one cluster; the owner of the contexts (the
subject that opened them, whom the coordinating node authenticated) travels with each request,
so a context stays usable by its owner only, whichever node it lives on. The receiving side is
:mod:`isthmus.actions.pit_node_handlers`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from isthmus.actions.node_shards import COPY_FAILURES, SharedRequest, copy_failure, decode_dfs
from isthmus.actions.node_shards_plan import ShardTask
from isthmus.actions.node_shards_wire import (
    NodeShardsRequest,
    answer_entries,
    restriction_to_payload,
)
from isthmus.actions.pit_contexts import ReaderContext
from isthmus.actions.pit_parts import PitParts
from isthmus.actions.search_shard import ShardResult, query_shard
from isthmus.actions.search_targets import (
    _index_int,
    _max_regex_length,
    _max_rescore_window,
)
from isthmus.actions.shard_wire import decode_shard_result
from isthmus.errors import IllegalArgumentError, IsthmusError, SearchContextMissingError
from isthmus.search import knn
from isthmus.search.dfs import TermStats
from isthmus.search.point_in_time import LocalShardRef, shard_doc_value
from isthmus.search.request import SearchRequest
from isthmus.security.field_level import IndexRestriction
from isthmus.security.ownership import Owner
from isthmus.wire import RemoteProtocolError
from isthmus.wire.names import (
    NODE_FREE_CONTEXT_ACTION,
    NODE_OPEN_READERS_ACTION,
    NODE_READER_QUERY_ACTION,
)


@dataclass(frozen=True)
class OpenedElsewhere:
    """A reader context another node opened for one shard (None ``context_id``: the index
    filter skipped the shard)."""

    index: str
    shard: int
    node: str
    session: str
    context_id: int | None


def owner_payload(owner: Owner | None) -> dict[str, Any] | None:
    if owner is None:
        return None
    return {"username": owner.username, "realm": owner.realm, "api_key_id": owner.api_key_id}


class PitNodes(PitParts):
    """Reader contexts of a PIT on the other nodes of this cluster."""

    def local_node(self) -> str:
        """This node's id in a cluster of several nodes ("" on one node: every context is
        here, and the PIT id names no node)."""
        copies = self.search.copies
        return copies.local_node_id if copies is not None and self.search.distributed else ""

    def found_reader(
        self, session: str, context_id: int, keep_ms: int | None, owner: Owner | None
    ) -> ReaderContext:
        """A context held here, its keep-alive renewed; missing (ES's 404) when it expired, is
        someone else's, or its index was deleted or closed since (ES frees those contexts)."""
        reader = self.store.find_for(session, context_id, keep_ms, owner)
        current = self.search.cluster.state.indices.get(reader.index.name)
        if current is None or current.uuid != reader.index.uuid or current.state != "open":
            self.store.free_for(session, context_id, owner)
            raise SearchContextMissingError(f"No search context found for id [{context_id}]")
        return reader

    def reader_query(
        self,
        reader: ReaderContext,
        position: int,
        req: SearchRequest,
        *,
        now_ms: int,
        collect_all: bool,
        restriction: IndexRestriction | None,
        boost: float,
        cluster_alias: str | None,
        term_stats: TermStats | None,
    ) -> Awaitable[ShardResult]:
        """One context's query and fetch (in the search pool), ``_shard_doc`` at ``position``."""
        meta = reader.index
        fn = functools.partial(
            query_shard,
            index=meta.name,
            shard=reader.shard,
            schema=reader.schema,
            searcher=reader.searcher,
            mapping=meta.mapping,
            req=req,
            filters=list(reader.filters) if reader.filters else None,
            now_ms=now_ms,
            collect_all=collect_all,
            max_window=int(meta.setting("index.max_result_window", "10000")),
            restriction=restriction,
            max_regex_length=_max_regex_length(meta),
            index_boost=boost,
            max_rescore_window=_max_rescore_window(meta),
            max_docvalue_fields=_index_int(meta, "index.max_docvalue_fields_search", 100),
            cluster_alias=cluster_alias,
            shard_doc=functools.partial(_shard_doc, reader, position),
            term_stats=term_stats,
        )
        result: Awaitable[ShardResult] = self.search.indices.run_search(fn)
        return result

    # --- coordinating side ----------------------------------------------------------------------

    async def _request(self, node_id: str, action: str, payload: dict[str, Any]) -> Any:
        assert self.search.node_shards is not None
        channels = self.search.node_shards.channels
        return await channels.request(
            node_id, action, {**payload, "cluster_name": channels.cluster_name}
        )

    async def open_elsewhere(
        self,
        tasks: Sequence[ShardTask],
        keep_ms: int,
        index_filter: Mapping[str, Any] | None,
        owner: Owner | None,
    ) -> list[OpenedElsewhere]:
        """Reader contexts for ``tasks`` (shards with no copy here) on nodes holding a copy; a
        shard whose copies all failed raises its last failure (the caller frees the others)."""
        pending = list(tasks)
        opened: list[OpenedElsewhere] = []
        now_ms = int(self.search.clock() * 1000)
        while pending:
            by_node: dict[str, list[ShardTask]] = {}
            for task in pending:
                if task.first_node is None:
                    raise IllegalArgumentError(
                        f"no started copy of shard [{task.index}][{task.shard}] to open a point "
                        "in time on"
                    )
                by_node.setdefault(task.first_node, []).append(task)
            answers = await asyncio.gather(
                *(
                    self._request(
                        node,
                        NODE_OPEN_READERS_ACTION,
                        {
                            "keep_ms": keep_ms,
                            "now_ms": now_ms,
                            "owner": owner_payload(owner),
                            "index_filter": None if index_filter is None else dict(index_filter),
                            "shards": [
                                {"index": t.index, "shard": t.shard, "filters": t.filters}
                                for t in ts
                            ],
                        },
                    )
                    for node, ts in by_node.items()
                ),
                return_exceptions=True,
            )
            pending = []
            failure: IsthmusError | None = None
            for (node, ts), answer in zip(by_node.items(), answers, strict=True):
                if isinstance(answer, COPY_FAILURES):
                    failure = copy_failure(answer)
                    pending.extend(t.after(node) for t in ts)
                    continue
                if isinstance(answer, BaseException):
                    raise answer
                session = answer.get("session") if isinstance(answer, dict) else None
                if not isinstance(session, str):
                    raise RemoteProtocolError("open readers answer has no [session]")
                for task, entry in zip(ts, answer_entries(answer, len(ts)), strict=True):
                    if isinstance(entry, IsthmusError):
                        raise entry  # the shard refused (keep-alive, too many contexts)
                    context = entry.get("context_id") if isinstance(entry, dict) else None
                    if context is not None and not isinstance(context, int):
                        raise RemoteProtocolError("open readers answer is malformed")
                    opened.append(OpenedElsewhere(task.index, task.shard, node, session, context))
            if pending and any(t.first_node is None for t in pending):
                assert failure is not None
                raise failure
        return opened

    def query_elsewhere(
        self,
        refs: Sequence[tuple[LocalShardRef, int]],
        req: SearchRequest,
        *,
        keep_ms: int | None,
        owner: Owner | None,
        now_ms: int,
        collect_all: bool,
        restrictions: Any,
        boosts: Mapping[str, float],
        cluster_alias: str | None,
        dfs: bool = False,
        gather_stats: bool = True,
        term_stats: TermStats | None = None,
    ) -> list[Awaitable[Any]]:
        """One awaitable per context on another node (``refs``: each with its position), one
        request per node; a node that cannot be reached fails its contexts. The query phase
        (each a :class:`ShardResult`, scored with ``term_stats`` and the nearest ``req``'s knn
        clauses chose), or with ``dfs`` the DFS phase (each its nearest and statistics)."""
        from isthmus.actions.search_targets import _restriction

        if req.wire is None:
            raise IllegalArgumentError("a search without its source cannot reach other nodes")
        body, params = req.wire
        by_node: dict[str, list[tuple[LocalShardRef, int]]] = {}
        for ref, position in refs:
            by_node.setdefault(ref.node, []).append((ref, position))
        out: list[Awaitable[Any]] = []
        decode = decode_dfs if dfs else decode_shard_result
        for node, mine in by_node.items():
            # The fields of a node read (NodeShardsRequest), and the contexts to search.
            payload = {
                **NodeShardsRequest(
                    "",
                    body,
                    params,
                    (),
                    now_ms,
                    from_=req.from_,
                    size=req.size,
                    search_after=None if req.search_after is None else list(req.search_after),
                    collect_all=collect_all,
                    cluster_alias=cluster_alias,
                    term_stats=term_stats,
                    knn=[c.chosen or () for c in knn.top_level_clauses(req.query)] or None,
                    gather_stats=gather_stats,
                ).to_payload(),
                "phase": "dfs" if dfs else "query",
                "keep_ms": keep_ms,
                "owner": owner_payload(owner),
                "contexts": [
                    {
                        "session": ref.session,
                        "context_id": ref.context_id,
                        "index": ref.index,
                        "position": position,
                        "boost": boosts.get(ref.index, 1.0),
                        "restriction": _wire_restriction(_restriction(restrictions, ref.index)),
                    }
                    for ref, position in mine
                ],
            }
            batch = SharedRequest(
                functools.partial(self._request, node, NODE_READER_QUERY_ACTION, payload)
            )
            for i in range(len(mine)):
                out.append(_entry_of(batch, i, len(mine), decode))
        return out

    async def free_elsewhere(self, refs: Sequence[LocalShardRef], owner: Owner | None) -> int:
        """How many of ``refs`` (contexts on other nodes) their nodes freed (0 for a node that
        cannot be reached, as ES counts a context it could not free)."""
        by_node: dict[str, list[LocalShardRef]] = {}
        for ref in refs:
            by_node.setdefault(ref.node, []).append(ref)
        answers = await asyncio.gather(
            *(
                self._request(
                    node,
                    NODE_FREE_CONTEXT_ACTION,
                    {
                        "owner": owner_payload(owner),
                        "contexts": [[r.session, r.context_id] for r in mine],
                    },
                )
                for node, mine in by_node.items()
            ),
            return_exceptions=True,
        )
        freed = 0
        for answer in answers:
            if isinstance(answer, dict) and isinstance(answer.get("freed"), int):
                freed += answer["freed"]
            elif isinstance(answer, BaseException) and not isinstance(answer, COPY_FAILURES):
                raise answer
        return freed

    async def _free_refs(self, refs: Sequence[LocalShardRef], subject: Any) -> int:
        """Free a PIT's contexts of this cluster, here and on the other nodes: how many."""
        here = self.local_node()
        elsewhere = [r for r in refs if here and r.node and r.node != here]
        mine = [r for r in refs if r not in elsewhere]
        freed = self._free_local(mine, subject)
        if elsewhere:
            freed += await self.free_elsewhere(elsewhere, Owner.of(subject))
        return freed


def _wire_restriction(restriction: IndexRestriction | None) -> dict[str, Any] | None:
    return None if restriction is None else restriction_to_payload(restriction)


async def _entry_of(
    batch: SharedRequest, position: int, count: int, decode: Callable[[Any], Any]
) -> Any:
    """One context's result out of its node's answer (the node's failure is the context's)."""
    try:
        answer = await batch.result()
        entry = answer_entries(answer, count)[position]
    except COPY_FAILURES as exc:
        raise copy_failure(exc) from None
    if isinstance(entry, IsthmusError):
        raise entry
    try:
        return decode(entry)
    except RemoteProtocolError as exc:
        raise copy_failure(exc) from None


def _shard_doc(reader: ReaderContext, position: int, address: Any) -> int:
    return shard_doc_value(position, reader.doc_number(address))


__all__ = ["OpenedElsewhere", "PitNodes", "owner_payload"]
