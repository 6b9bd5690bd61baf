"""Elasticsearch aggregations computed in Python: the public entry points.  [no I/O]

:func:`parse_aggs` validates a request's ``aggs`` object once, with ES's errors, into an
:class:`AggsSpec`; :func:`run_aggs` computes the ``aggregations`` object of the response over the
documents the query matched. For merging partial results later (shards, remote clusters) use
:func:`collect_aggs` → :func:`~isthmus.search.aggs_core.reduce_results` →
:func:`~isthmus.search.aggs_core.results_json` instead; ``run_aggs`` is exactly that with one
partial.

The aggregation types live in domain modules: ``aggs_terms``, ``aggs_bucket`` (filter(s),
missing, global, and the bucket model), ``aggs_histogram``, ``aggs_range``, ``aggs_metric`` and
``aggs_top_hits``; the shared model is ``aggs_core``. This module is the registry that maps type
names to their parsers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, NotImplementedYet, ParsingError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search import (
    aggs_bucket,
    aggs_geo,
    aggs_histogram,
    aggs_ip,
    aggs_metric,
    aggs_nested,
    aggs_range,
    aggs_terms,
    aggs_top_hits,
    nested,
)
from isthmus.search.aggs_core import (
    VALUES_SOURCE_PARAMS,
    Agg,
    AggContext,
    AggDoc,
    AggLimits,
    AggResult,
    AggsSpec,
    Params,
    ParseFn,
    reduce_results,
    results_json,
)

# type name → (parser, accepted parameters)
_TYPES: dict[str, tuple[ParseFn, frozenset[str]]] = {
    "terms": (aggs_terms.parse_terms, frozenset(aggs_terms.TERMS_PARAMS)),
    "filters": (
        aggs_bucket.parse_filters,
        frozenset({"filters", "other_bucket", "other_bucket_key", "keyed"}),
    ),
    "missing": (aggs_bucket.parse_missing, frozenset(VALUES_SOURCE_PARAMS)),
    "global": (aggs_bucket.parse_global, frozenset()),
    "histogram": (aggs_histogram.parse_histogram, frozenset(aggs_histogram.HISTOGRAM_PARAMS)),
    "date_histogram": (
        aggs_histogram.parse_date_histogram,
        frozenset(aggs_histogram.DATE_HISTOGRAM_PARAMS),
    ),
    "range": (aggs_range.parse_range("range"), frozenset(aggs_range.RANGE_PARAMS)),
    "date_range": (aggs_range.parse_range("date_range"), frozenset(aggs_range.DATE_RANGE_PARAMS)),
    "avg": (aggs_metric.parse_stats("avg"), frozenset(aggs_metric.STATS_PARAMS)),
    "sum": (aggs_metric.parse_stats("sum"), frozenset(aggs_metric.STATS_PARAMS)),
    "min": (aggs_metric.parse_stats("min"), frozenset(aggs_metric.STATS_PARAMS)),
    "max": (aggs_metric.parse_stats("max"), frozenset(aggs_metric.STATS_PARAMS)),
    "value_count": (aggs_metric.parse_stats("value_count"), frozenset(aggs_metric.STATS_PARAMS)),
    "stats": (aggs_metric.parse_stats("stats"), frozenset(aggs_metric.STATS_PARAMS)),
    "extended_stats": (
        aggs_metric.parse_stats("extended_stats"),
        frozenset(aggs_metric.EXTENDED_STATS_PARAMS),
    ),
    "cardinality": (aggs_metric.parse_cardinality, frozenset(aggs_metric.CARDINALITY_PARAMS)),
    "percentiles": (aggs_metric.parse_percentiles, frozenset(aggs_metric.PERCENTILES_PARAMS)),
    "top_hits": (aggs_top_hits.parse_top_hits, frozenset(aggs_top_hits.TOP_HITS_PARAMS)),
    "geo_bounds": (aggs_geo.parse_geo_bounds, frozenset(aggs_geo.GEO_BOUNDS_PARAMS)),
    "geo_centroid": (aggs_geo.parse_geo_centroid, frozenset(aggs_geo.GEO_CENTROID_PARAMS)),
    "nested": (nested.parse_nested_agg, frozenset(nested.NESTED_AGG_PARAMS)),
    "reverse_nested": (
        aggs_nested.parse_reverse_nested_agg,
        frozenset(aggs_nested.REVERSE_NESTED_AGG_PARAMS),
    ),
    "ip_range": (aggs_ip.parse_ip_range, frozenset(aggs_ip.IP_RANGE_PARAMS)),
}

# Types whose body is not a parameter object (``filter``'s body is a query).
_RAW_TYPES = {"filter": aggs_bucket.parse_filter}

# Types Elasticsearch has that Isthmus does not compute: said plainly rather than "unknown".
_NOT_IMPLEMENTED = frozenset({
    "adjacency_matrix", "auto_date_histogram", "avg_bucket", "boxplot", "bucket_script",
    "bucket_selector", "bucket_sort", "categorize_text", "children", "composite",
    "cumulative_cardinality", "cumulative_sum", "derivative", "diversified_sampler",
    "extended_stats_bucket", "frequent_item_sets", "geo_distance",
    "geohash_grid", "geotile_grid", "inference", "ip_prefix", "matrix_stats",
    "max_bucket", "median_absolute_deviation", "min_bucket", "moving_fn", "multi_terms",
    "normalize", "parent", "percentile_ranks", "percentiles_bucket", "random_sampler",
    "rare_terms", "rate", "sampler", "scripted_metric", "serial_diff",
    "significant_terms", "significant_text", "stats_bucket", "string_stats", "sum_bucket",
    "t_test", "time_series", "top_metrics", "variable_width_histogram", "weighted_avg",
})  # fmt: skip

_SUB_KEYS = ("aggs", "aggregations")
# How deep aggregations may nest. ES has no such setting (only its 1000-level limit on any JSON
# document); here each level adds three levels to the response (result, buckets, bucket) and a
# response must stay within the renderer's 254-level nesting limit with room for a top_hits
# source (documents nest at most 100 levels, index.mapping), so a deeper request is refused up
# front with a 400 rather than computed and then failing to render.
MAX_AGGREGATION_DEPTH = 40
_BAD_NAME_CHARS = "[]>"


def parse_aggs(body: Mapping[str, Any], *, depth: int = 1) -> AggsSpec:
    """Validate an ``aggs`` object (names → definitions, nested up to
    :data:`MAX_AGGREGATION_DEPTH` levels)."""
    if not isinstance(body, Mapping):
        raise ParsingError("Expected [START_OBJECT] under [aggs], but got a different token")
    if depth > MAX_AGGREGATION_DEPTH:
        raise IllegalArgumentError(
            "The nested depth of the aggregations exceeds the maximum nested depth for "
            f"aggregations [{MAX_AGGREGATION_DEPTH}]"
        )
    return AggsSpec(tuple(_parse_one(str(name), entry, depth) for name, entry in body.items()))


def _parse_one(name: str, entry: Any, depth: int) -> Agg:
    if not name or any(c in name for c in _BAD_NAME_CHARS):
        raise ParsingError(
            f"Invalid aggregation name [{name}]. Aggregation names can contain any character "
            "except '[', ']', and '>'"
        )
    if not isinstance(entry, Mapping):
        raise ParsingError(
            f"Aggregation definition for [{name} starts with a [{xcontent.token(entry)}], expected a "
            "[START_OBJECT]."
        )
    agg_type: str | None = None
    agg_body: Any = None
    subs_body: Any = None
    meta: Mapping[str, Any] | None = None
    for key, value in entry.items():
        if key in _SUB_KEYS:
            if subs_body is not None:
                raise ParsingError(f"Found two sub aggregation definitions under [{name}]")
            if not isinstance(value, Mapping):
                raise ParsingError(
                    f"Expected [START_OBJECT] under [{key}], but got a [{xcontent.token(value)}] in "
                    f"[{name}]"
                )
            subs_body = value
        elif key == "meta":
            if not isinstance(value, Mapping):
                raise ParsingError(
                    f"Expected [START_OBJECT] under [meta], but got a [{xcontent.token(value)}] in [{name}]"
                )
            meta = value
        elif agg_type is not None:
            raise ParsingError(
                f"Found two aggregation type definitions in [{name}]: [{agg_type}] and [{key}]"
            )
        else:
            _check_type(name, key)
            agg_type, agg_body = key, value
    if agg_type is None:
        raise ParsingError(f"Missing definition for aggregation [{name}]")
    subs = parse_aggs(subs_body, depth=depth + 1) if subs_body is not None else AggsSpec()
    if agg_type in _RAW_TYPES:
        return _RAW_TYPES[agg_type](name, agg_body, subs, meta)
    parser, allowed = _TYPES[agg_type]
    if not isinstance(agg_body, Mapping):
        raise ParsingError(
            f"Expected [START_OBJECT] under [{agg_type}], but got a [{xcontent.token(agg_body)}] in "
            f"[{name}]"
        )
    agg = parser(name, Params(agg_type, name, agg_body, set(allowed)), subs, meta)
    if subs and not agg.accepts_subs:
        raise IllegalArgumentError(
            f"Aggregator [{name}] of type [{agg_type}] cannot accept sub-aggregations"
        )
    return agg


def _check_type(name: str, agg_type: str) -> None:
    if agg_type in _TYPES or agg_type in _RAW_TYPES:
        return
    if agg_type in _NOT_IMPLEMENTED:
        raise NotImplementedYet(f"aggregation type [{agg_type}] is not supported by Isthmus")
    known = {*_TYPES, *_RAW_TYPES, *_NOT_IMPLEMENTED}
    unknown = ParsingError(
        f"Unknown aggregation type [{agg_type}]{xcontent.did_you_mean(agg_type, known)}"
    )
    raise xcontent.at(unknown, name, agg_type, at_value=True)


def collect_aggs(
    spec: AggsSpec,
    docs: Sequence[AggDoc],
    mapping: IndexMapping,
    *,
    now_ms: int,
    index: str = "",
    all_docs: Sequence[AggDoc] | None = None,
    limits: AggLimits | None = None,
) -> dict[str, AggResult]:
    """The internal, mergeable results of ``spec`` over ``docs`` (``limits``: the request's
    ``search.max_buckets`` and regexp bounds, ES's defaults when None)."""
    ctx = AggContext(
        mapping=mapping,
        now_ms=now_ms,
        index=index or (docs[0].index if docs else ""),
        all_docs=all_docs,
        limits=limits or AggLimits(),
    )
    return spec.collect(docs, ctx)


def run_aggs(
    spec: AggsSpec,
    docs: Sequence[AggDoc],
    mapping: IndexMapping,
    *,
    now_ms: int,
    index: str = "",
    all_docs: Sequence[AggDoc] | None = None,
) -> dict[str, Any]:
    """The response's ``aggregations`` object for ``docs`` (the documents the query matched).

    ``index`` names the index in errors when ``docs`` is empty; ``all_docs`` (every document of
    the index) is needed only by a ``global`` aggregation.
    """
    results = collect_aggs(spec, docs, mapping, now_ms=now_ms, index=index, all_docs=all_docs)
    return results_json(results)


__all__ = [
    "AggDoc",
    "AggLimits",
    "AggResult",
    "AggsSpec",
    "collect_aggs",
    "parse_aggs",
    "reduce_results",
    "results_json",
    "run_aggs",
]
