"""The DFS phase of a search (coordinating side): what the shards must agree on before they
query.

ES runs it before the query phase when the request asks for ``dfs_query_then_fetch`` (the
global term statistics every shard then scores with) and whenever it has a top-level ``knn``
(ES's DFS phase runs the knn search: each shard finds its ``k`` nearest, the coordinator keeps
the ``k`` best of all of them, and the query phase scores exactly those). Here one pass over the
shards (in the search pool) does both; the query phase then takes the rewritten request and the
summed statistics (:func:`isthmus.actions.search_shard.query_shard`'s ``term_stats``).

A shard that fails here (a knn clause on a field that is no dense_vector, say) contributes
nothing: its query phase meets the same error and reports it as that shard's failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import tantivy

from isthmus.actions.node_shards import ShardCopiesFailed
from isthmus.actions.search_shard import build_query, narrowed_translator
from isthmus.errors import IsthmusError
from isthmus.index.mapping import Mapping
from isthmus.index.schema import IndexSchema
from isthmus.search import knn
from isthmus.search.dfs import TermStats, shard_stats
from isthmus.search.request import SearchRequest
from isthmus.security.field_level import IndexRestriction

DFS = "dfs_query_then_fetch"
# The nearest (score, index as queries see it, _id) of one shard, per top-level knn clause.
Nearest = list[list[tuple[float, str, str]]]


@dataclass(frozen=True)
class DfsShard:
    """One shard's view as its query phase will search it."""

    doc_index: str  # the index as queries see it (``<alias>:<index>`` for another cluster)
    schema: IndexSchema
    searcher: tantivy.Searcher
    mapping: Mapping
    filters: Sequence[dict[str, Any]] | None
    restriction: IndexRestriction | None
    now_ms: int


def needs_dfs(req: SearchRequest) -> bool:
    return req.search_type == DFS or bool(knn.top_level_clauses(req.query))


def shard_dfs(
    shard: DfsShard, req: SearchRequest, gather_stats: bool = True
) -> tuple[Nearest, TermStats | None]:
    """One shard's part: its nearest for each top-level knn clause, and (DFS, when
    ``gather_stats``) the statistics of the terms its query scores."""
    clauses = knn.top_level_clauses(req.query)
    nearest: Nearest = []
    if clauses:
        tr, _gates = narrowed_translator(
            shard.schema,
            shard.mapping,
            shard.now_ms,
            shard.filters,
            shard.restriction,
            shard.doc_index,
            shard.searcher,
        )
        for clause in clauses:
            # Field-level security may turn a clause on a hidden field into match_none.
            visible = (
                shard.restriction.query(clause, shard.mapping) if shard.restriction else clause
            )
            if not isinstance(visible, knn.Knn):
                nearest.append([])
                continue
            found = knn.nearest(visible, tr)[: visible.k]
            nearest.append([(score, shard.doc_index, doc_id) for score, doc_id in found])
    if req.search_type != DFS or not gather_stats:
        return nearest, None
    # The knn clauses only add ``_id`` terms (no statistics): they need not be searched again.
    query = knn.with_chosen(req.query, [() for _ in clauses])
    built = build_query(
        query,
        shard.schema,
        shard.mapping,
        shard.now_ms,
        shard.filters,
        shard.restriction,
        shard.doc_index,
        shard.searcher,
    )
    return nearest, shard_stats(shard.searcher, shard.schema, built)


# The DFS phase of the search's shards on other nodes of the cluster: given whether the shards
# gather term statistics, one awaitable per shard (see actions/node_shards.py).
RemoteDfs = Callable[[bool], Sequence[Awaitable[tuple[Nearest, TermStats | None]]]]


async def dfs_phase(
    run_search: Callable[..., Awaitable[Any]],
    req: SearchRequest,
    shards: Sequence[DfsShard],
    remote: RemoteDfs | None = None,
    remote_count: int = 0,
) -> tuple[SearchRequest, TermStats | None]:
    """The request the query phase runs (top-level knn clauses hold their global top ``k``)
    and, for ``dfs_query_then_fetch``, the summed term statistics. ``remote``: the search's
    shards on other nodes of this cluster (``remote_count`` of them) take part too."""
    if not needs_dfs(req):
        return req, None
    total = len(shards) + (remote_count if remote is not None else 0)
    if not knn.top_level_clauses(req.query) and total <= 1:
        return req, None
    jobs = [run_search(shard_dfs, shard, req, total > 1) for shard in shards]
    if remote is not None and remote_count:
        jobs.extend(remote(total > 1))
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    clauses = knn.top_level_clauses(req.query)
    per_clause: list[list[list[tuple[float, str, str]]]] = [[] for _ in clauses]
    # One shard's own statistics are the global ones: nothing to gather or re-score.
    stats = TermStats() if req.search_type == DFS and total > 1 else None
    for outcome in outcomes:
        if isinstance(outcome, IsthmusError | ValueError | ShardCopiesFailed):
            continue  # the shard's query phase reports it (see the module docstring)
        if isinstance(outcome, BaseException):
            raise outcome
        nearest, shard_stats_ = outcome
        for i, found in enumerate(nearest):
            per_clause[i].append(found)
        if stats is not None and shard_stats_ is not None:
            stats.add(shard_stats_)
    if clauses:
        chosen = [knn.global_top(lists, c.k) for lists, c in zip(per_clause, clauses, strict=True)]
        req = replace(req, query=knn.with_chosen(req.query, chosen))
    return req, stats


__all__ = ["DFS", "DfsShard", "dfs_phase", "needs_dfs", "shard_dfs"]
