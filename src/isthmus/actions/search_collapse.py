"""Collapsing a search's ranked hits by a field, and the inner hits of each group.

The rules (which fields, one value per document, ES's errors, the response shape) are
:mod:`isthmus.search.collapse`; this module applies them to the shards' hits at the coordinator:
every match arrives ranked, the first hit of each value stands for its group, and the group's
hits stay with it for ``inner_hits``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson

from isthmus.actions.search_shard import ShardHit, render_missing, sort_value
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search.collapse import Collapse, InnerHits, collapse_ranked, group_key
from isthmus.search.request import SearchRequest, SortField, parse_sort, parse_source
from isthmus.search.response import compare_keys


def collapse_hits(
    collapse: Collapse, ranked: list[ShardHit], mappings: Mapping[str, IndexMapping]
) -> list[ShardHit]:
    """The first hit of each collapse value, in rank order, each knowing its value (and, when
    inner hits are asked, its group's hits)."""
    keys = [group_key(orjson.loads(h.source), collapse, mappings[h.index], h.order) for h in ranked]
    heads, groups = collapse_ranked(keys)
    out = []
    for pos in heads:
        hit = ranked[pos]
        hit.collapse_key = keys[pos]
        if collapse.inner_hits:
            hit.group = [ranked[p] for p in groups[pos]]
        out.append(hit)
    return out


def inner_hits_request(req: SearchRequest, spec: InnerHits) -> SearchRequest:
    """How an inner hit renders: its own ``_source``, ``sort``, version flags; no fetch
    options, highlight or collapse of the outer request."""
    return replace(
        req,
        source=parse_source(spec.source),
        sort=parse_sort(spec.sort) if spec.sort is not None else (),
        version=spec.version,
        seq_no_primary_term=spec.seq_no_primary_term,
        highlight=None,
        fields=(),
        docvalue_fields=(),
        stored_fields=None,
        stored_fields_none=False,
        collapse=None,
        explain=False,
    )


def sort_members(
    group: list[ShardHit], sort: tuple[SortField, ...], mapping: IndexMapping
) -> list[ShardHit]:
    """A group's hits in an inner hits order: the group's own (rank) order without a sort,
    else by the sort's values (shown as ``sort``)."""
    if not sort:
        return [replace(h, sort=None) for h in group]
    keyed: list[tuple[list[Any], ShardHit]] = []
    for hit in group:
        source = orjson.loads(hit.source)
        key = [hit.score if s.field == "_score" else sort_value(source, s, mapping) for s in sort]
        keyed.append((key, hit))

    def cmp(a: tuple[list[Any], ShardHit], b: tuple[list[Any], ShardHit]) -> int:
        return compare_keys(a[0], b[0], sort)

    keyed.sort(key=functools.cmp_to_key(cmp))
    return [
        replace(hit, sort=[render_missing(v, s, mapping) for v, s in zip(key, sort, strict=True)])
        for key, hit in keyed
    ]


__all__ = ["collapse_hits", "inner_hits_request", "sort_members"]
