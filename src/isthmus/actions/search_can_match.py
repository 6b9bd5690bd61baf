"""The can-match pre-filter: shards a search can skip before the query phase.

With ``pre_filter_shard_size`` below the number of shards a search would query, ES first asks
each shard whether the query *can* match there at all, and skips the shards that cannot
(``_shards.skipped``; they count as successful). As ES, a shard cannot match when the query
requires (``must``/``filter``, or every ``should`` of a bool without them):

* a ``range`` on a field the shard has no value of, or whose values all lie outside the range
  (the range misses the span between the shard's smallest and largest value);
* a query on ``_index`` that the shard's index name does not satisfy;
* ``match_none``, or a query on a field the index does not map.

Everything else is assumed to match. If every shard could be skipped, one is searched anyway, so
the response still has its shape (aggregations, totals).
"""

from __future__ import annotations

from dataclasses import replace

import tantivy

from isthmus.actions.search_shard import build_query, hit_count
from isthmus.index.mapping import Mapping
from isthmus.index.schema import IndexSchema
from isthmus.search import dsl
from isthmus.search.index_field import index_field_matches, is_index_field_query


def can_match(
    query: dsl.Query,
    *,
    index: str,
    schema: IndexSchema,
    searcher: tantivy.Searcher,
    mapping: Mapping,
    now_ms: int,
) -> bool:
    """Whether ``query`` may match a document of this shard (False only when it surely cannot)."""

    def count(q: dsl.Query) -> int:
        built = build_query(q, schema, mapping, now_ms, None, None, index, searcher)
        return hit_count(searcher.search(built, 1, count=True))

    def check(q: dsl.Query) -> bool:
        if isinstance(q, dsl.MatchNone):
            return False
        if is_index_field_query(q):
            return index_field_matches(q, index)
        if isinstance(q, dsl.Range):
            return _range_can_match(q, mapping, count)
        if isinstance(q, dsl.ConstantScore):
            return check(q.filter)
        if isinstance(q, dsl.Bool):
            required = (*q.must, *q.filter)
            if not all(check(c) for c in required):
                return False
            if q.should and not required:
                return any(check(c) for c in q.should)
            return True
        return True

    return check(query)


def _range_can_match(q: dsl.Range, mapping: Mapping, count: object) -> bool:
    """ES's rule: the range overlaps [smallest, largest] of the shard's values. One-sided, that
    is "some value satisfies it"; two-sided, also "values on both sides of it" (a gap)."""
    assert callable(count)
    if mapping.field(q.field) is None:
        return False
    if count(q) > 0:
        return True
    low = q.gte if q.gte is not None else q.gt
    high = q.lte if q.lte is not None else q.lt
    if low is None or high is None:
        return False
    plain = replace(q, gt=None, gte=None, lt=None, lte=None)
    below = replace(plain, lt=q.gte) if q.gte is not None else replace(plain, lte=q.gt)
    above = replace(plain, gt=q.lte) if q.lte is not None else replace(plain, gte=q.lt)
    return bool(count(below) > 0 and count(above) > 0)


__all__ = ["can_match"]
