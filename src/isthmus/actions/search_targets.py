"""What every phase of a search shares (coordinating side): the shards an index expression
reaches, the can-match pre-filter, ``indices_boost`` by index, and how shard failures become
``_shards`` or ``search_phase_execution_exception``.

:class:`SearchTargets` is the base of :class:`isthmus.actions.search.SearchActions`; the
records here (:class:`PartialSearch`, :class:`RemoteShards`) are what cross-cluster search and
point-in-time searches exchange with it. The index-setting helpers read the per-index limits
each shard's query phase is given.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from isthmus.actions.node_shards_plan import (
    ShardPlan,
    ShardTask,
    check_only_nodes,
    ordered_copies,
    split,
)
from isthmus.actions.scrolls import ScrollStore
from isthmus.actions.search_can_match import can_match
from isthmus.actions.search_shard import ShardHit, ShardResult
from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.resolve import IndicesOptions, Resolved, is_remote_expression, resolve
from isthmus.cluster.routing import ShardId, index_shard
from isthmus.cluster.service import ClusterService
from isthmus.cluster.shard_copies import ShardCopies
from isthmus.errors import IsthmusError, SearchPhaseExecutionError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.index.service import IndicesService
from isthmus.search.aggs_core import AggResult
from isthmus.search.index_field import qualified_index
from isthmus.search.preference import selects_shard
from isthmus.search.request import SearchRequest
from isthmus.search.term_patterns import DEFAULT_MAX_REGEX_LENGTH, MAX_REGEX_LENGTH
from isthmus.security.field_level import IndexRestriction, IndexRestrictions

if TYPE_CHECKING:
    from isthmus.actions.node_shards import NodeShardsClient

SEARCH_OPTIONS = IndicesOptions(ignore_unavailable=False, allow_no_indices=True)


@dataclass
class _ShardFailure:
    index: str
    shard: int
    error: IsthmusError
    # The node of the copy that failed last: "" for this node, None for none (no copy to ask).
    node: str | None = ""


class RemoteShards(Protocol):
    """Other clusters' shards taking part in a search as if they were local ones."""

    mappings: dict[str, IndexMapping]  # by the hits' index name ("alias:index")

    def jobs(
        self, req: SearchRequest, now_ms: int, collect_all: bool, local_shards: int
    ) -> list[tuple[str, int, Awaitable[ShardResult]]]:
        """The remote shards' queries; with ``local_shards`` beside them the search may have
        more shards than ``pre_filter_shard_size``: then each remote shard pre-filters itself
        and answers a skipped, empty result when the query cannot match there."""
        ...


@dataclass
class PartialSearch:
    """One cluster's share of a search, before rendering (see ``search_partial``)."""

    hits: list[ShardHit]
    total: int
    max_score: float | None
    total_shards: int
    failures: list[_ShardFailure]
    mappings: dict[str, IndexMapping]
    combined_mapping: IndexMapping
    index_names: str
    aggs: dict[str, AggResult] | None = None
    terminated_early: bool | None = None  # with terminate_after: did any shard stop early
    skipped_shards: int = 0  # shards the can-match pre-filter skipped (in total_shards)
    # The alias of the coordinator this cluster searched for (None: its own search).
    cluster_alias: str | None = None


class SearchTargets:
    """The shards a search reaches and the failures it reports."""

    def __init__(
        self,
        cluster: ClusterService,
        indices: IndicesService,
        node_id: str,
        clock: Callable[[], float] = time.time,
        *,
        copies: ShardCopies | None = None,
        node_shards: NodeShardsClient | None = None,
    ) -> None:
        """``copies`` and ``node_shards`` in a cluster of several nodes (None: a cluster of one,
        where every shard is this node's)."""
        self.cluster = cluster
        self.indices = indices
        self.node_id = node_id
        self.clock = clock
        self.scrolls = ScrollStore(clock)
        self.copies = copies
        self.node_shards = node_shards

    @property
    def distributed(self) -> bool:
        """Whether some shards may be on other nodes of this cluster."""
        return self.node_shards is not None and self.copies is not None and self.copies.distributed

    def _targets(self, expression: str | None, params: Mapping[str, str]) -> list[Resolved]:
        options = IndicesOptions.from_params(params, default=SEARCH_OPTIONS)
        return resolve(self.cluster.state, expression, options)

    def routed_shards(self, meta: IndexMetadata, params: Mapping[str, str] | None) -> list[Any]:
        """The index's shards a search with ``routing`` (comma-separated values) reaches: the
        ones its values route to, as ES's OperationRouting picks them; all without routing.
        ``preference`` (``_shards:0,1``) narrows them further (:mod:`isthmus.search.preference`)."""
        preference = (params or {}).get("preference")
        shards = [
            s for s in self.indices.shards_of(meta) if selects_shard(preference, s.shard_id.shard)
        ]
        routing = [r for r in ((params or {}).get("routing") or "").split(",") if r]
        if not routing:
            return shards
        wanted = {index_shard(r, meta.settings) for r in routing}
        return [s for s in shards if s.shard_id.shard in wanted]

    def routed_numbers(self, meta: IndexMetadata, params: Mapping[str, str] | None) -> list[int]:
        """The numbers of the shards :meth:`routed_shards` reaches, wherever their copies are."""
        preference = (params or {}).get("preference")
        numbers = [n for n in range(meta.number_of_shards) if selects_shard(preference, n)]
        routing = [r for r in ((params or {}).get("routing") or "").split(",") if r]
        if not routing:
            return numbers
        wanted = {index_shard(r, meta.settings) for r in routing}
        return [n for n in numbers if n in wanted]

    def plan_shards(
        self, targets: list[Resolved], params: Mapping[str, str] | None
    ) -> tuple[list[tuple[Resolved, Any]], ShardPlan | None]:
        """The shards searched here (with their target), and in a cluster of several nodes the
        plan for the others (None on one node: every shard is here, as it always was)."""
        if not self.distributed:
            return [(t, s) for t in targets for s in self.routed_shards(t.index, params)], None
        assert self.copies is not None
        preference = (params or {}).get("preference")
        local_id = self.copies.local_node_id
        tasks: list[ShardTask] = []
        by_index: dict[str, Resolved] = {}
        for target in targets:
            meta = target.index
            by_index[meta.name] = target
            for number in self.routed_numbers(meta, params):
                readable = self.copies.readable(ShardId(meta.uuid, number, meta.name))
                ordered = ordered_copies(preference, readable, local_id, number, self._nodes_named)
                check_only_nodes(preference, meta.name, number, ordered)
                tasks.append(
                    ShardTask(meta.name, meta.uuid, number, tuple(ordered), target.filters)
                )

        def here(task: ShardTask) -> Any:
            return self.indices.shard(ShardId(task.index_uuid, task.shard, task.index))

        plan = split(tasks, local_id, lambda task: here(task) is not None)
        return [(by_index[task.index], here(task)) for task in plan.local], plan

    def _nodes_named(self, spec: str) -> set[str]:
        """The node ids an ``_only_nodes:`` preference names (ids, names, attributes)."""
        view = getattr(self.node_shards, "channels", None)
        if view is None:
            return set(spec.split(","))
        return {n.id for n in view.view.nodes.resolve(spec.split(","))}

    def _cannot_match(
        self,
        req: SearchRequest,
        local: list[tuple[Resolved, Any]],
        now_ms: int,
        cluster_alias: str | None = None,
    ) -> set[int]:
        """Positions of the shards the query cannot match (the can-match pre-filter; runs in
        the search pool)."""
        out = set()
        for position, (target, shard) in enumerate(local):
            schema, searcher = shard.engine.view()
            try:
                matches = can_match(
                    req.query,
                    index=qualified_index(cluster_alias, target.index.name),
                    schema=schema,
                    searcher=searcher,
                    mapping=target.index.mapping,
                    now_ms=now_ms,
                )
            except IsthmusError:
                matches = True  # the query phase reports the fault
            if not matches:
                out.add(position)
        return out

    def _index_boosts(
        self, req: SearchRequest, params: Mapping[str, str] | None
    ) -> dict[str, float]:
        """``indices_boost`` by concrete local index: each entry (an index, alias or pattern)
        resolved as the search's indices are; the first entry naming an index wins. Entries
        of other clusters (``alias:index``) were handed to their clusters."""
        boosts: dict[str, float] = {}
        options = IndicesOptions.from_params(params or {}, default=SEARCH_OPTIONS)
        for name, boost in req.indices_boost:
            if is_remote_expression(name):
                continue
            for target in resolve(self.cluster.state, name, options):
                boosts.setdefault(target.index.name, boost)
        return boosts

    def _phase_error(self, failures: list[_ShardFailure]) -> SearchPhaseExecutionError:
        first = failures[0].error
        seen: set[tuple[str, str]] = set()
        failed_shards = []
        for f in failures:
            key = (f.index, f.error.reason)
            if key in seen:
                continue
            seen.add(key)
            failed_shards.append(
                {
                    "shard": f.shard,
                    "index": f.index,
                    "node": self.node_id if f.node == "" else f.node,
                    "reason": f.error.to_cause(),
                }
            )
        status = first.http_status
        return SearchPhaseExecutionError(
            "all shards failed",
            caused_by=first,
            status=status,
            extra={"phase": "query", "grouped": True, "failed_shards": failed_shards},
        )

    @staticmethod
    def _shards_section(
        total: int, failures: list[_ShardFailure], node_id: str, skipped: int = 0
    ) -> dict[str, Any]:
        # Skipped shards count as successful, as in ES.
        section: dict[str, Any] = {
            "total": total,
            "successful": total - len(failures),
            "skipped": skipped,
            "failed": len(failures),
        }
        if failures:
            section["failures"] = [
                {
                    "shard": f.shard,
                    "index": f.index,
                    "node": node_id if f.node == "" else f.node,
                    "reason": f.error.to_cause(),
                }
                for f in failures
            ]
        return section

    def shards_section(self, partial: PartialSearch) -> dict[str, Any]:
        return self._shards_section(
            partial.total_shards, partial.failures, self.node_id, partial.skipped_shards
        )


def _max_rescore_window(meta: IndexMetadata) -> int:
    """``index.max_rescore_window`` (ES's default 10000)."""
    return _index_int(meta, "index.max_rescore_window", 10000)


def _index_int(meta: IndexMetadata, key: str, default: int) -> int:
    """An integer index setting (validated when set; ``default`` when absent)."""
    try:
        return int(meta.setting(key, str(default)))
    except ValueError:
        return default


def _max_regex_length(meta: IndexMetadata) -> int:
    """``index.max_regex_length`` (registered by term_patterns; ES's default 1000)."""
    try:
        return int(meta.setting(MAX_REGEX_LENGTH.key, str(DEFAULT_MAX_REGEX_LENGTH)))
    except ValueError:
        return DEFAULT_MAX_REGEX_LENGTH


def _restriction(restrictions: IndexRestrictions | None, index: str) -> IndexRestriction | None:
    # A remote cluster's documents ("alias:index"; local names never hold a colon) were
    # restricted by that cluster before they left it; the local subject's restrictions name
    # local indices only.
    if restrictions is None or ":" in index:
        return None
    return restrictions.of(index)


def _combined_mapping(indices: list[IndexMetadata]) -> IndexMapping:
    return _combined_mappings([meta.mapping for meta in indices])


def _combined_mappings(mappings: list[IndexMapping]) -> IndexMapping:
    if not mappings:
        return IndexMapping()
    mapping = mappings[0]
    for other in mappings[1:]:
        try:
            mapping = mapping.merge(other.to_json())
        except IsthmusError:
            continue
    return mapping
