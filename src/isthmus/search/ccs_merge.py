"""The merge of a search across clusters: each cluster's outcome in, one response out.  [no I/O]

Every cluster of a cross-cluster search ends as a :class:`ClusterPart`: its status, its shard
counts and failures, and, when it answered, its top ``from + size`` hits already rendered, its
total and its aggregations in their mergeable form. :func:`merge` builds the response a search of
the union would give: hits ranked together (the request's sort, else score; ties keep cluster
order, then each cluster's own order), totals added, aggregations reduced together, shard counts
summed, remote shard failures named ``<alias>:<index>``, and ES's ``_clusters`` section.
:func:`with_cluster_details` writes that section for a search whose remote shards were queried
one by one (``ccs_minimize_roundtrips=false``).

Nothing here awaits, reads a clock or knows a socket: the coordinator
(:mod:`isthmus.actions.ccs_search`) gathers the parts and passes the elapsed time in.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from isthmus.cluster.remote_expressions import LOCAL_CLUSTER, LOCAL_DISPLAY
from isthmus.errors import IllegalArgumentError, IsthmusError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search.aggs_core import AggResult
from isthmus.search.ccs_wire import RemoteSearchResponse
from isthmus.search.collapse import dedupe_rendered
from isthmus.search.request import SearchRequest
from isthmus.search.response import (
    compare_keys,
    final_aggregations,
    hits_section,
    terminated_section,
)
from isthmus.search.suggest import merge_sections


class ClusterStatus(enum.StrEnum):
    """A cluster's state in ES's ``_clusters`` section (the JSON shows the value)."""

    RUNNING = "running"  # not answered yet (async search shows it)
    SUCCESSFUL = "successful"
    PARTIAL = "partial"  # answered with shard failures, or timed out
    SKIPPED = "skipped"  # failed, and skip_unavailable lets the search go on without it
    FAILED = "failed"


# The order ES writes the counts in.
_COUNTED = (
    ClusterStatus.SUCCESSFUL,
    ClusterStatus.SKIPPED,
    ClusterStatus.RUNNING,
    ClusterStatus.PARTIAL,
    ClusterStatus.FAILED,
)


@dataclass
class ClusterPart:
    """One cluster's outcome in a cross-cluster search (updated in place as it answers)."""

    key: str  # LOCAL_CLUSTER ("") for this cluster, else the alias
    indices: str
    skip_unavailable: bool
    status: ClusterStatus = ClusterStatus.RUNNING
    took: int | None = None
    timed_out: bool = False
    shards: dict[str, Any] | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    error: IsthmusError | None = None
    hits: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    max_score: float | None = None
    aggs: dict[str, AggResult] | None = None
    # The searched indices' mapping, for typed_keys names: the local cluster's combined mapping,
    # or the one a remote sent with its aggregations.
    mapping: IndexMapping | None = None
    terminated_early: bool | None = None  # with terminate_after
    suggest: dict[str, Any] | None = None  # its suggest section (plain names)
    num_reduce_phases: int = 1  # the reduce phases its own search ran

    @property
    def is_local(self) -> bool:
        return self.key == LOCAL_CLUSTER

    @property
    def display(self) -> str:
        return LOCAL_DISPLAY if self.is_local else self.key

    def details(self) -> dict[str, Any]:
        """This cluster's entry of ``_clusters.details``."""
        out: dict[str, Any] = {"status": self.status.value, "indices": self.indices}
        if self.took is not None:
            out["took"] = self.took
        out["timed_out"] = self.timed_out
        if self.shards is not None:
            out["_shards"] = {k: v for k, v in self.shards.items() if k != "failures"}
        if self.failures:
            out["failures"] = self.failures
        return out

    def accept(self, answer: RemoteSearchResponse) -> None:
        """A remote's answer: its hits now name their index ``<alias>:<index>``."""
        for hit in answer.hits:
            hit["_index"] = f"{self.key}:{hit['_index']}"
        self.hits = answer.hits
        self.total = answer.total
        self.max_score = answer.max_score
        self.took = answer.took
        self.timed_out = answer.timed_out
        self.shards = answer.shards
        self.failures = list((answer.shards or {}).get("failures", []))
        self.status = ClusterStatus.PARTIAL if self.failures else ClusterStatus.SUCCESSFUL
        if answer.mapping is not None:
            self.mapping = IndexMapping(answer.mapping)
        self.aggs = answer.aggs
        self.terminated_early = answer.terminated_early
        self.suggest = answer.suggest
        self.num_reduce_phases = answer.num_reduce_phases
        for entries in (self.suggest or {}).values():
            for entry in entries if isinstance(entries, list) else []:
                for option in entry.get("options", []):
                    if "_index" in option:  # completion options name their document's index
                        option["_index"] = f"{self.key}:{option['_index']}"

    def fail(self, exc: IsthmusError) -> None:
        """The cluster could not be searched: skipped when ``skip_unavailable``, else failed (and
        the search fails with ``exc``)."""
        self.error = exc
        self.status = ClusterStatus.SKIPPED if self.skip_unavailable else ClusterStatus.FAILED
        self.failures = [{"shard": -1, "index": None, "reason": exc.to_cause()}]

    def time_out(self, took: int) -> None:
        """The search's ``timeout`` ran out before this cluster answered: a partial,
        timed-out cluster, as ES reports it."""
        self.timed_out = True
        self.status = ClusterStatus.PARTIAL
        self.took = took

    def shard_outcome(
        self, total: int, failed: list[dict[str, Any]], took: int | None, skipped: int = 0
    ) -> None:
        """The cluster's shards as a search that queried them one by one counted them."""
        self.took = took
        self.shards = {
            "total": total,
            "successful": total - len(failed),
            "skipped": skipped,
            "failed": len(failed),
        }
        self.failures = failed
        self.status = ClusterStatus.PARTIAL if failed else ClusterStatus.SUCCESSFUL


def clusters_section(parts: list[ClusterPart]) -> dict[str, Any]:
    """ES's ``_clusters``: counts recomputed from the per-cluster details."""
    counts = dict.fromkeys(_COUNTED, 0)
    for part in parts:
        counts[part.status] += 1
    return {
        "total": len(parts),
        **{status.value: count for status, count in counts.items()},
        "details": {part.display: part.details() for part in parts},
    }


def merge(req: SearchRequest, parts: list[ClusterPart], took: Callable[[], int]) -> dict[str, Any]:
    """The response of a search every cluster answered for itself (the default,
    ``ccs_minimize_roundtrips``); ``took`` gives the elapsed milliseconds when asked. Clusters
    with an error (skipped ones) contribute their ``_clusters`` entry only."""
    ok = [p for p in parts if p.error is None]
    page = rank_page(req, ok)
    total = sum(p.total for p in ok)
    scores = [p.max_score for p in ok if p.max_score is not None]
    shards = {"total": 0, "successful": 0, "skipped": 0, "failed": 0}
    failures: list[dict[str, Any]] = []
    for p in ok:
        for key in shards:
            shards[key] += int((p.shards or {}).get(key, 0))
        for failure in p.failures:
            prefixed = dict(failure)
            if not p.is_local and failure.get("index"):
                prefixed["index"] = f"{p.key}:{failure['index']}"
            failures.append(prefixed)
    shards_out: dict[str, Any] = dict(shards)
    if failures:
        shards_out["failures"] = failures
    body: dict[str, Any] = {
        "took": took(),
        "timed_out": any(p.timed_out for p in ok),
        **terminated_section(_terminated_early(ok)),
        **_reduce_phases_section(parts, ok),
        "_shards": shards_out,
        "_clusters": clusters_section(parts),
        "hits": hits_section(req, page, total, max(scores) if scores else None),
    }
    partials = [p.aggs for p in ok if p.aggs is not None]
    if req.aggs and partials:
        try:
            body["aggregations"] = final_aggregations(req, partials, _typed_keys_mapping(req, ok))
        except (KeyError, IndexError, TypeError):
            # Partials that do not line up (a field mapped differently per cluster).
            raise IllegalArgumentError(
                "Merging/Reducing the aggregations failed because a field you gave in the "
                "aggregation query existed as two different types in two different clusters"
            ) from None
    if req.suggest:  # after the aggregations, as ES writes it
        sections = [p.suggest for p in ok if p.suggest is not None]
        body["suggest"] = merge_sections(req.suggest, sections, req.typed_keys)
    return body


def _reduce_phases_section(parts: list[ClusterPart], ok: list[ClusterPart]) -> dict[str, int]:
    """ES's ``num_reduce_phases``, shown when not 1. One cluster's answer is passed on as it
    is (its own phases); several are merged, which is one more reduce on top of each answered
    cluster's own (local and two remotes: 4)."""
    if len(parts) == 1:
        phases = parts[0].num_reduce_phases
    else:
        phases = 1 + sum(p.num_reduce_phases for p in ok)
    return {} if phases == 1 else {"num_reduce_phases": phases}


def _terminated_early(ok: list[ClusterPart]) -> bool | None:
    flags = [p.terminated_early for p in ok if p.terminated_early is not None]
    return any(flags) if flags else None


def rank_page(req: SearchRequest, ok: list[ClusterPart]) -> list[dict[str, Any]]:
    """The requested page of every cluster's ranked hits, ranked together (ties: cluster
    order, then each cluster's own order)."""
    if len(ok) == 1 and (not req.sort or req.sorts_by_score_only):
        # One cluster's hits come ranked by score already. (Field sorts are re-ranked on
        # their rendered values, as with several clusters, so both agree.)
        return ok[0].hits[req.from_ : req.from_ + req.size]
    if req.collapse is not None:
        # Each cluster collapsed its own hits; together, the first hit of each value stays.
        ordered = _ranked(req, ok)
        return dedupe_rendered(ordered, req.collapse.field)[req.from_ : req.from_ + req.size]
    return _ranked(req, ok)[req.from_ : req.from_ + req.size]


def _ranked(req: SearchRequest, ok: list[ClusterPart]) -> list[dict[str, Any]]:
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
    return [hit for _, _, hit in ranked]


def _typed_keys_mapping(req: SearchRequest, ok: list[ClusterPart]) -> IndexMapping:
    """The mapping ``typed_keys`` names come from: the local cluster's, with every remote's
    merged in (a field mapped differently elsewhere keeps the first type seen)."""
    mapping = next((p.mapping for p in ok if p.is_local and p.mapping is not None), None)
    mapping = mapping if mapping is not None else IndexMapping()
    if not req.typed_keys:
        return mapping
    for p in ok:
        if p.is_local or p.mapping is None:
            continue
        try:
            mapping = mapping.merge(p.mapping.to_json())
        except IsthmusError:
            continue
    return mapping


def with_cluster_details(
    out: Mapping[str, Any],
    parts: list[ClusterPart],
    shard_counts: Mapping[str, int],
    took: int,
    skipped_counts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """``out``, the response of a search that queried remote shards one by one beside the local
    ones, with each cluster's share of the shards, skipped shards and failures in ``_clusters``
    (after ``_shards``, as ES writes it) and ``took`` updated. ``shard_counts`` is each remote's
    shard count and ``skipped_counts`` how many of them answered skipped; the local cluster has
    the rest."""
    failures = out["_shards"].get("failures", [])
    skipped = _skipped_by_cluster(parts, out["_shards"].get("skipped", 0), skipped_counts or {})
    remote_total = 0
    for part in parts:
        if part.error is not None or part.is_local:
            continue
        total = shard_counts.get(part.key, 0)
        remote_total += total
        failed = [f for f in failures if str(f.get("index", "")).startswith(f"{part.key}:")]
        part.shard_outcome(total, failed, out.get("took"), skipped.get(part.key, 0))
    for part in parts:
        if part.is_local:
            failed = [f for f in failures if ":" not in str(f.get("index", ""))]
            local_total = out["_shards"]["total"] - remote_total
            part.shard_outcome(local_total, failed, out.get("took"), skipped.get(part.key, 0))
    ordered: dict[str, Any] = {}
    for key, value in out.items():
        ordered[key] = value
        if key == "_shards":
            ordered["_clusters"] = clusters_section(parts)
    ordered["took"] = took
    return ordered


def _skipped_by_cluster(
    parts: list[ClusterPart], total: int, remote: Mapping[str, int]
) -> dict[str, int]:
    """Each cluster's skipped shards: the remotes' as they answered, the local cluster the rest.
    When no shard could match, one of them counted as searched: a local one when the local
    cluster skipped any, else the first remote's that skipped any."""
    out = {alias: count for alias, count in remote.items() if count}
    rest = total - sum(out.values())
    if rest < 0:  # the searched one was a remote's
        first = next(iter(out))
        out[first] += rest
        rest = 0
    if any(p.is_local for p in parts):
        out[LOCAL_CLUSTER] = rest
    return out


__all__ = [
    "ClusterPart",
    "ClusterStatus",
    "clusters_section",
    "merge",
    "rank_page",
    "with_cluster_details",
]
