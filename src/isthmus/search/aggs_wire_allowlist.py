"""The allow-list of ``search.aggs_wire``: every class that may travel inside an aggregation
result tree, and the invariants a peer's decoded values must hold.  [no I/O]

Adding an aggregation means adding its result classes (and any new dataclass they hold) to
:data:`_ALLOWED`; a unit test fails while an ``AggResult`` subclass is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from isthmus.search.aggs_bucket import (
    Bucket,
    BucketOrder,
    FiltersResult,
    OrderKey,
    SingleBucketResult,
)
from isthmus.search.aggs_core import AggDoc
from isthmus.search.aggs_format import (
    RAW,
    BooleanFormat,
    DateFormat,
    DecimalFormat,
    DocFormat,
    RawFormat,
)
from isthmus.search.aggs_geo import GeoBoundsResult, GeoCentroidResult
from isthmus.search.aggs_histogram import (
    Bounds,
    CalendarRounding,
    FixedRounding,
    HistogramResult,
    NumericRounding,
)
from isthmus.search.aggs_ip import IpRange, IpRangeBucket, IpRangeResult
from isthmus.search.aggs_metric import (
    CardinalityResult,
    CompensatedSum,
    PercentilesResult,
    StatsResult,
    StatsState,
)
from isthmus.search.aggs_nested import ObjectDoc
from isthmus.search.aggs_range import RangeBucket, RangeResult
from isthmus.search.aggs_terms import TermsResult
from isthmus.search.aggs_top_hits import (
    MAX_INNER_RESULT_WINDOW,
    RankedHit,
    SortKey,
    SourceFilter,
    TopHitsResult,
)

# Every class that can appear inside an AggResult tree, and nothing else.
_ALLOWED: tuple[type, ...] = (
    # results
    SingleBucketResult,
    FiltersResult,
    TermsResult,
    HistogramResult,
    RangeResult,
    StatsResult,
    CardinalityResult,
    PercentilesResult,
    TopHitsResult,
    GeoBoundsResult,
    GeoCentroidResult,
    IpRangeResult,
    # what they hold
    IpRangeBucket,
    IpRange,
    Bucket,
    BucketOrder,
    OrderKey,
    NumericRounding,
    FixedRounding,
    CalendarRounding,
    Bounds,
    RangeBucket,
    StatsState,
    CompensatedSum,
    RankedHit,
    SortKey,
    SourceFilter,
    AggDoc,
    ObjectDoc,
    DateFormat,
    DecimalFormat,
)
_STATELESS: tuple[tuple[type, Callable[[], Any]], ...] = (
    (DocFormat, DocFormat),
    (RawFormat, lambda: RAW),
    (BooleanFormat, BooleanFormat),
)

_STATS_KINDS = frozenset({"avg", "sum", "min", "max", "value_count", "stats", "extended_stats"})


def _check_numeric_rounding(r: NumericRounding) -> str | None:
    ok = math.isfinite(r.interval) and r.interval > 0 and math.isfinite(r.offset)
    return None if ok else "interval must be finite and positive, offset finite"


def _check_top_hits(r: TopHitsResult) -> str | None:
    if r.start < 0 or r.size < 0 or r.start + r.size > MAX_INNER_RESULT_WINDOW or r.total < 0:
        return "negative or oversized from/size/total"
    n = len(r.sort)
    if any(len(h.keys) != n or len(h.shown) != n for h in r.hits):
        return "a hit's sort values do not match the sort"
    return None


_SCALAR_TYPES = (type(None), bool, int, float, str)


def _scalar(value: Any) -> bool:
    # A str subclass is a field's value shown as text (an ip address, index.ip).
    return type(value) in _SCALAR_TYPES or isinstance(value, str)


def _check_bucket(b: Bucket) -> str | None:
    if b.doc_count < 0:
        return "negative doc_count"
    return None if _scalar(b.key) else "a bucket key must be null, a boolean, a number or a string"


def _check_ranked_hit(h: RankedHit) -> str | None:
    ok = all(_scalar(v) for v in h.keys) and all(_scalar(v) for v in h.shown)
    return None if ok else "sort values must be null, booleans, numbers or strings"


_INVARIANTS: dict[type, Callable[[Any], str | None]] = {
    Bucket: _check_bucket,
    RankedHit: _check_ranked_hit,
    StatsState: lambda s: None if s.count >= 0 else "negative count",
    StatsResult: lambda r: None if r.kind in _STATS_KINDS else "unknown kind",
    TermsResult: lambda r: (
        None if r.size > 0 and r.min_doc_count >= 0 and r.other_doc_count >= 0 else "bad sizes"
    ),
    HistogramResult: lambda r: None if r.min_doc_count >= 0 else "negative min_doc_count",
    NumericRounding: _check_numeric_rounding,
    FixedRounding: lambda r: None if r.interval > 0 else "interval must be positive",
    BucketOrder: lambda o: None if o.keys else "an order needs at least one key",
    TopHitsResult: _check_top_hits,
}
