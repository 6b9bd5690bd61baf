"""The sections a search response ends with: ranked hits, their total, final aggregations.  [no I/O]

Shared by a search of this cluster's shards and by the merge of several clusters' answers
(:mod:`isthmus.search.ccs_merge`), so that both order hits, count them and reduce aggregations by
the same rules. Values in, values out: nothing here reads a clock, a setting or a socket.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search.aggs_core import AggResult
from isthmus.search.request import SearchRequest, SortField


def compare_keys(a: Sequence[Any], b: Sequence[Any], sorts: Sequence[SortField]) -> int:
    """-1, 0 or 1: how two hits' sort values order under ``sorts`` (missing values first or
    last as each key's ``missing`` says; values of different types compare as strings)."""
    for x, y, sort in zip(a, b, sorts, strict=False):
        if x == y:
            continue
        first = sort.missing == "_first"
        if x is None:
            return -1 if first else 1
        if y is None:
            return 1 if first else -1
        try:
            less = x < y
        except TypeError:
            less = str(x) < str(y)
        result = -1 if less else 1
        return -result if sort.descending else result
    return 0


def hits_section(
    req: SearchRequest, hits: list[dict[str, Any]], total: int, max_score: float | None
) -> dict[str, Any]:
    """The response's ``hits``: the total as ``track_total_hits`` asks, then the hits."""
    section: dict[str, Any] = {}
    tth = req.track_total_hits
    if tth is not False:
        if tth is True or total <= int(tth):
            total_obj: Any = {"value": total, "relation": "eq"}
        else:
            total_obj = {"value": int(tth), "relation": "gte"}
        section["total"] = total_obj["value"] if req.rest_total_hits_as_int else total_obj
    elif req.rest_total_hits_as_int:
        section["total"] = -1  # ES's number for "not counted"
    section["max_score"] = max_score
    section["hits"] = hits
    return section


def terminated_section(terminated_early: bool | None) -> dict[str, Any]:
    """``terminated_early`` (after ``timed_out``) when the search ran with ``terminate_after``."""
    return {} if terminated_early is None else {"terminated_early": terminated_early}


def final_aggregations(
    req: SearchRequest, partials: list[dict[str, AggResult]], mapping: IndexMapping
) -> dict[str, Any]:
    """The final ``aggregations`` from the mergeable results of one or more shards or clusters;
    ``typed_keys`` names come from the field types of ``mapping``."""
    from isthmus.search.aggs import parse_aggs, reduce_results, results_json

    assert req.aggs is not None
    out = results_json(reduce_results(partials))
    if req.typed_keys:
        from isthmus.search.aggs_typed import apply_typed_keys

        out = apply_typed_keys(out, parse_aggs(req.aggs), mapping)
    return out


__all__ = ["compare_keys", "final_aggregations", "hits_section", "terminated_section"]
