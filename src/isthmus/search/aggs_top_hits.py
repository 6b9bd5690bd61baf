"""The ``top_hits`` metric aggregation: the best documents of each bucket.  [no I/O]

Hits are ranked by ``sort`` (default ``_score`` descending; ties keep the order the documents
were given in, which stands in for Lucene's doc id order). A field sort picks the smallest value
of a multi-valued field ascending and the largest descending (or ``mode``); documents without a
value sort ``_last`` unless ``missing`` says otherwise. Hits sorted by a field carry ES's
``sort`` values (a missing long/date sorts as ``Long.MAX_VALUE``/``MIN_VALUE``, a missing
keyword as ``null``) and a null ``_score`` unless ``track_scores``.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from isthmus.cluster.patterns import simple_match
from isthmus.errors import IllegalArgumentError, NotImplementedYet, ParsingError, QueryShardError
from isthmus.index.mapping import FLOAT_TYPES, KEYWORD, TEXT, FieldSpec, coerce
from isthmus.search.aggs_core import (
    Agg,
    AggContext,
    AggDoc,
    AggResult,
    AggsSpec,
    Params,
    fielddata_error,
    id_fielddata_error,
    java_compare,
)
from isthmus.search.aggs_format import json_double
from isthmus.search.request_hits import FIELD_SORT_KEYS
from isthmus.xcontent import unknown_field

# ES's index.max_inner_result_window default.
MAX_INNER_RESULT_WINDOW = 100
_LONG_MAX, _LONG_MIN = 2**63 - 1, -(2**63)


@dataclass(frozen=True)
class SortKey:
    field: str  # a field path, "_score" or "_doc"
    asc: bool
    missing: Any = "_last"
    mode: str | None = None
    unmapped_type: str | None = None


def parse_sort(value: Any) -> tuple[SortKey, ...]:
    """ES ``sort``: a name, ``{name: "asc"}``, ``{name: {"order": ..., ...}}`` or a list of them."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(SortKey(item, asc=item != "_score"))
            continue
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ParsingError("[top_hits] failed to parse field [sort]")
        ((name, spec),) = item.items()
        default_asc = name != "_score"
        if isinstance(spec, str):
            out.append(SortKey(name, asc=_direction(spec)))
            continue
        if not isinstance(spec, Mapping):
            raise ParsingError("[top_hits] failed to parse field [sort]")
        for key in spec:
            if key not in FIELD_SORT_KEYS:
                raise unknown_field("field_sort", key, FIELD_SORT_KEYS)
        order = spec.get("order")
        out.append(
            SortKey(
                name,
                asc=default_asc if order is None else _direction(str(order)),
                missing=spec.get("missing", "_last"),
                mode=spec.get("mode"),
                unmapped_type=spec.get("unmapped_type"),
            )
        )
    return tuple(out)


def _direction(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("asc", "desc"):
        raise ParsingError(f"Unknown SortOrder [{text}]")
    return lowered == "asc"


def filter_source(
    source: Mapping[str, Any], includes: Sequence[str], excludes: Sequence[str], prefix: str = ""
) -> dict[str, Any]:
    """``_source`` filtering: a path is kept when it or an ancestor matches an include (or there
    are none) and neither it nor an ancestor matches an exclude; objects are walked into."""
    out: dict[str, Any] = {}
    for key, value in source.items():
        path = f"{prefix}{key}"
        if any(simple_match(path, e) for e in excludes):
            continue
        included = not includes or any(simple_match(path, i) for i in includes)
        if isinstance(value, Mapping):
            inner_includes = () if included else includes
            inner = filter_source(value, inner_includes, excludes, path + ".")
            if inner or (included and not value):
                out[key] = inner
        elif isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
            inner_includes = () if included else includes
            items = [
                filter_source(v, inner_includes, excludes, path + ".")
                if isinstance(v, Mapping)
                else v
                for v in value
                if included or isinstance(v, Mapping)
            ]
            items = [v for v in items if v != {} or included]
            if items:
                out[key] = items
        elif included:
            out[key] = value
    return out


@dataclass(frozen=True)
class SourceFilter:
    enabled: bool = True
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    @staticmethod
    def parse(value: Any) -> SourceFilter:
        if value is None or value is True:
            return SourceFilter()
        if value is False:
            return SourceFilter(enabled=False)
        if isinstance(value, str):
            return SourceFilter(includes=(value,))
        if isinstance(value, list):
            return SourceFilter(includes=tuple(str(v) for v in value))
        if isinstance(value, Mapping):
            inc, exc = value.get("includes", ()), value.get("excludes", ())
            inc = [inc] if isinstance(inc, str) else inc
            exc = [exc] if isinstance(exc, str) else exc
            return SourceFilter(includes=tuple(map(str, inc)), excludes=tuple(map(str, exc)))
        raise ParsingError("[top_hits] failed to parse field [_source]")

    def apply(self, source: Mapping[str, Any]) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        if not self.includes and not self.excludes:
            return dict(source)
        return filter_source(source, self.includes, self.excludes)


@dataclass
class RankedHit:
    doc: AggDoc
    keys: tuple[Any, ...]  # comparison values, None = missing
    shown: tuple[Any, ...]  # the "sort" values ES prints


@dataclass
class TopHitsResult(AggResult):
    hits: list[RankedHit]
    total: int
    sort: tuple[SortKey, ...]
    start: int
    size: int
    source: SourceFilter
    show_scores: bool
    max_score: float | None

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        parts = [self, *(o for o in others if isinstance(o, TopHitsResult))]
        merged = [h for p in parts for h in p.hits]
        scores = [p.max_score for p in parts if p.max_score is not None]
        return replace(
            self,
            hits=rank(merged, self.sort)[: self.start + self.size],
            total=sum(p.total for p in parts),
            max_score=max(scores) if scores else None,
        )

    def body(self) -> dict[str, Any]:
        rendered = []
        default_sort = all(k.field == "_score" and not k.asc for k in self.sort)
        for hit in self.hits[self.start : self.start + self.size]:
            item: dict[str, Any] = {"_index": hit.doc.index, "_id": hit.doc.id}
            item["_score"] = hit.doc.score if self.show_scores else None
            source = self.source.apply(hit.doc.source)
            if source is not None:
                item["_source"] = source
            if not default_sort:
                item["sort"] = list(hit.shown)
            rendered.append(item)
        return {
            "hits": {
                "total": {"value": self.total, "relation": "eq"},
                "max_score": self.max_score if self.show_scores else None,
                "hits": rendered,
            }
        }


def rank(hits: Sequence[RankedHit], sort: Sequence[SortKey]) -> list[RankedHit]:
    def compare(a: RankedHit, b: RankedHit) -> int:
        for i, key in enumerate(sort):
            va, vb = a.keys[i], b.keys[i]
            if va is None or vb is None:
                if va is None and vb is None:
                    continue
                last = key.missing != "_first"
                return (1 if last else -1) if va is None else (-1 if last else 1)
            cmp = java_compare(va, vb)
            if cmp:
                return cmp if key.asc else -cmp
        return 0

    return sorted(hits, key=functools.cmp_to_key(compare))


class TopHitsAgg(Agg):
    type_name = "top_hits"

    def __init__(
        self,
        name: str,
        subs: AggsSpec,
        meta: Mapping[str, Any] | None,
        *,
        start: int,
        size: int,
        sort: tuple[SortKey, ...],
        source: SourceFilter,
        track_scores: bool,
    ) -> None:
        super().__init__(name, subs, meta)
        self.start = start
        self.size = size
        self.sort = sort
        self.source = source
        self.track_scores = track_scores

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        specs = [self._spec(k, ctx) for k in self.sort]
        hits = []
        for position, doc in enumerate(docs):
            keys, shown = [], []
            for key, spec in zip(self.sort, specs, strict=True):
                value, printed = _sort_value(key, spec, doc, position, ctx)
                keys.append(value)
                shown.append(printed)
            hits.append(RankedHit(doc, tuple(keys), tuple(shown)))
        ranked = rank(hits, self.sort)[: self.start + self.size]
        scored = any(k.field == "_score" for k in self.sort) or self.track_scores
        scores = [d.score for d in docs if d.score is not None]
        return self.result(
            TopHitsResult(
                hits=ranked,
                total=len(docs),
                sort=self.sort,
                start=self.start,
                size=self.size,
                source=self.source,
                show_scores=scored,
                max_score=max(scores) if scores and scored else None,
            )
        )

    @staticmethod
    def _spec(key: SortKey, ctx: AggContext) -> FieldSpec | None:
        if key.field in ("_score", "_doc"):
            return None
        if key.field == "_id":
            raise id_fielddata_error()
        spec = ctx.mapping.field(key.field)
        if spec is None and key.unmapped_type is None:
            raise QueryShardError(f"No mapping found for [{key.field}] in order to sort on")
        if spec is not None and spec.type == TEXT:
            raise fielddata_error(spec.path, ctx.index)
        return spec


def _sort_value(
    key: SortKey, spec: FieldSpec | None, doc: AggDoc, position: int, ctx: AggContext
) -> tuple[Any, Any]:
    if key.field == "_score":
        score = doc.score
        return score, None if score is None else json_double(score)
    if key.field == "_doc":
        return position, position
    values = [int(v) if isinstance(v, bool) else v for v in ctx.values(doc, spec)] if spec else []
    if values:
        value = _pick(values, key)
        return value, json_double(value) if isinstance(value, float) else value
    if key.missing not in ("_last", "_first"):
        substitute = coerce(spec, key.missing) if spec is not None else key.missing
        return substitute, substitute
    # ES prints the sentinel it sorted a missing value as.
    high = (key.missing == "_last") == key.asc
    if spec is None or spec.type == KEYWORD:
        return None, None
    if spec.type in FLOAT_TYPES:
        return None, "Infinity" if high else "-Infinity"
    return None, _LONG_MAX if high else _LONG_MIN


def _pick(values: list[Any], key: SortKey) -> Any:
    mode = key.mode or ("min" if key.asc else "max")
    if mode == "min":
        return min(values)
    if mode == "max":
        return max(values)
    if mode == "sum":
        return sum(values)
    if mode == "avg":
        return sum(values) / len(values)
    if mode == "median":
        return statistics.median(values)
    raise IllegalArgumentError(f"Unknown SortMode [{mode}]")


_UNSUPPORTED = ("highlight", "explain", "version", "seq_no_primary_term", "stored_fields",
                "docvalue_fields", "fields", "script_fields")  # fmt: skip


def parse_top_hits(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    for key in _UNSUPPORTED:
        if key in p:
            raise NotImplementedYet(f"[top_hits] option [{key}] is not supported")
    start, size = p.integer("from", 0), p.integer("size", 3)
    if start < 0 or size < 0:
        raise IllegalArgumentError(
            f"[{'from' if start < 0 else 'size'}] parameter cannot be negative"
        )
    if start + size > MAX_INNER_RESULT_WINDOW:
        raise IllegalArgumentError(
            f"Top hits result window is too large, the top hits aggregator [{name}]'s from + size "
            f"must be less than or equal to: [{MAX_INNER_RESULT_WINDOW}] but was [{start + size}]. "
            "This limit can be set by changing the [index.max_inner_result_window] index level "
            "setting."
        )
    sort = parse_sort(p.raw("sort")) if "sort" in p else (SortKey("_score", asc=False),)
    return TopHitsAgg(
        name,
        subs,
        meta,
        start=start,
        size=size,
        sort=sort,
        source=SourceFilter.parse(p.raw("_source")),
        track_scores=p.flag("track_scores", False),
    )


TOP_HITS_PARAMS = {"from", "size", "sort", "_source", "track_scores", *_UNSUPPORTED}


__all__ = [
    "MAX_INNER_RESULT_WINDOW",
    "TOP_HITS_PARAMS",
    "SortKey",
    "SourceFilter",
    "TopHitsAgg",
    "TopHitsResult",
    "filter_source",
    "parse_sort",
    "parse_top_hits",
]
