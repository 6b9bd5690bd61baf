"""Bucket aggregations keyed by queries or presence: filter, filters, missing, global.
[no I/O]

Also owns what every bucket aggregation shares: the :class:`Bucket` (a key, a doc count and the
sub-aggregation results of its documents) and :class:`BucketOrder`, ES's ``order`` parameter
(``_count``, ``_key``, or a path to a sub-aggregation such as ``stats.avg`` or
``filtered>avg``, always tie-broken by ``_key`` ascending). ``filter``/``filters`` evaluate their
queries with :mod:`isthmus.search.evaluate`; named ``filters`` answer sorted by name, as ES does.
``global`` needs every document of the index, which the caller must supply.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from isthmus.errors import IllegalArgumentError, NotImplementedYet, ParsingError
from isthmus.search import dsl
from isthmus.search.aggs_core import (
    Agg,
    AggContext,
    AggDoc,
    AggResult,
    AggsSpec,
    FieldRef,
    Params,
    java_compare,
    resolve_source,
)
from isthmus.search.aggs_format import DocFormat
from isthmus.search.evaluate import compile_query
from isthmus.search.term_patterns import check_query_patterns

# --- buckets and their order --------------------------------------------------------------------


@dataclass
class Bucket:
    """One bucket: its key, how many documents fell in it, and their sub-aggregation results."""

    key: Any
    doc_count: int
    subs: dict[str, AggResult] = field(default_factory=dict)

    def merged(self, others: Sequence[Bucket]) -> Bucket:
        subs = {name: res.reduce([o.subs[name] for o in others]) for name, res in self.subs.items()}
        return Bucket(self.key, self.doc_count + sum(o.doc_count for o in others), subs)

    def subs_json(self) -> dict[str, Any]:
        return {name: res.to_json() for name, res in self.subs.items()}

    def sort_value(self, path: Sequence[str], metric: str | None) -> Any:
        """Value of an order path below this bucket (``[]`` + None is the doc count)."""
        if not path:
            if metric in (None, "_count", "doc_count"):
                return self.doc_count
            if metric == "_key":
                return self.key
            raise IllegalArgumentError(f"Invalid aggregation order path [{metric}]")
        sub = self.subs.get(path[0])
        if sub is None:
            raise IllegalArgumentError(
                f"Invalid aggregation order path [{path[0]}]. The provided aggregation "
                f"[{path[0]}] either does not exist, or is a pipeline aggregation and cannot be "
                "used to sort the buckets."
            )
        return sub.sort_value(path[1:], metric)


def merge_buckets(groups: Sequence[Sequence[Bucket]]) -> list[Bucket]:
    """Buckets with equal keys merged, in first-seen key order."""
    by_key: dict[Any, list[Bucket]] = {}
    for buckets in groups:
        for bucket in buckets:
            by_key.setdefault(bucket.key, []).append(bucket)
    return [same[0].merged(same[1:]) for same in by_key.values()]


@dataclass(frozen=True)
class OrderKey:
    path: tuple[str, ...]  # () for _count/_key, else sub-aggregation names
    metric: str | None  # "_count", "_key", or the metric of a multi-value aggregation
    asc: bool


@dataclass(frozen=True)
class BucketOrder:
    keys: tuple[OrderKey, ...]

    @property
    def needs_subs(self) -> bool:
        return any(k.path for k in self.keys)

    @property
    def is_count_desc(self) -> bool:
        first = self.keys[0]
        return not first.path and first.metric == "_count" and not first.asc

    @property
    def is_key_order(self) -> bool:
        return not self.keys[0].path and self.keys[0].metric == "_key"

    def sort(self, buckets: Sequence[Bucket]) -> list[Bucket]:
        def compare(a: Bucket, b: Bucket) -> int:
            for key in self.keys:
                va = a.sort_value(key.path, key.metric)
                vb = b.sort_value(key.path, key.metric)
                cmp = java_compare(va, vb)
                if cmp:
                    return cmp if key.asc else -cmp
            return 0

        return sorted(buckets, key=functools.cmp_to_key(compare))


COUNT_DESC = BucketOrder((OrderKey((), "_count", False), OrderKey((), "_key", True)))
KEY_ASC = BucketOrder((OrderKey((), "_key", True),))


def parse_order(value: Any, agg_type: str, subs: AggsSpec, default: BucketOrder) -> BucketOrder:
    """ES ``order``: one ``{path: dir}`` object or a list of them; ``_key`` asc breaks ties."""
    if value is None:
        return default
    items = value if isinstance(value, list) else [value]
    keys: list[OrderKey] = []
    for item in items:
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ParsingError(f"[{agg_type}] order must be an object with a single key")
        ((path, direction),) = item.items()
        text = str(direction).lower()
        if text not in ("asc", "desc"):
            raise ParsingError(f"Unknown order direction [{direction}]")
        keys.append(_order_key(str(path), text == "asc", subs))
    if not any(not k.path and k.metric == "_key" for k in keys):
        keys.append(OrderKey((), "_key", True))
    return BucketOrder(tuple(keys))


def _order_key(path: str, asc: bool, subs: AggsSpec) -> OrderKey:
    if path in ("_count", "_key", "_term"):
        return OrderKey((), "_key" if path == "_term" else path, asc)
    elements = path.split(">")
    last, _, metric = elements[-1].partition(".")
    names = (*elements[:-1], last)
    if subs.get(names[0]) is None:
        raise IllegalArgumentError(
            f"Invalid aggregation order path [{path}]. The provided aggregation [{names[0]}] "
            "either does not exist, or is a pipeline aggregation and cannot be used to sort the "
            "buckets."
        )
    return OrderKey(tuple(names), metric or None, asc)


def key_output(key: Any, fmt: DocFormat) -> dict[str, Any]:
    """``key`` and, for formatted keys (dates, booleans), ``key_as_string``."""
    if fmt.raw:
        return {"key": key}
    return {"key": key, "key_as_string": fmt.format(key)}


# --- single-bucket aggregations -----------------------------------------------------------------


@dataclass
class SingleBucketResult(AggResult):
    """``filter``, ``missing``, ``global``: ``{"doc_count": n, <sub-aggregations>}``."""

    bucket: Bucket

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        rest = [o.bucket for o in others if isinstance(o, SingleBucketResult)]
        return replace(self, bucket=self.bucket.merged(rest))

    def body(self) -> dict[str, Any]:
        return {"doc_count": self.bucket.doc_count, **self.bucket.subs_json()}

    def sort_value(self, path: Sequence[str], metric: str | None) -> Any:
        return self.bucket.sort_value(path, metric)


class FilterAgg(Agg):
    type_name = "filter"
    accepts_subs = True

    def __init__(
        self, name: str, subs: AggsSpec, meta: Mapping[str, Any] | None, query: dsl.Query
    ) -> None:
        super().__init__(name, subs, meta)
        self.query = query

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        chosen = filter_docs(self.query, docs, ctx)
        return self.result(
            SingleBucketResult(Bucket(None, len(chosen), self.subs.collect(chosen, ctx)))
        )


def filter_docs(query: dsl.Query, docs: Sequence[AggDoc], ctx: AggContext) -> list[AggDoc]:
    # ES builds a filter's query on each shard, under that index's regexp limits.
    check_query_patterns(query, ctx.limits.max_regex_length)
    pred = compile_query(query, ctx.mapping, now_ms=ctx.now_ms)
    return [d for d in docs if pred(ctx.eval_doc(d))]


def parse_filter(name: str, body: Any, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    return FilterAgg(name, subs, meta, dsl.parse_query(body))


class MissingAgg(Agg):
    type_name = "missing"
    accepts_subs = True

    def __init__(
        self, name: str, subs: AggsSpec, meta: Mapping[str, Any] | None, ref: FieldRef
    ) -> None:
        super().__init__(name, subs, meta)
        self.ref = ref

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        src = resolve_source(replace(self.ref, missing=None), self.type_name, ctx, numeric=False)
        chosen = [d for d in docs if not src.values(d, ctx)]
        return self.result(
            SingleBucketResult(Bucket(None, len(chosen), self.subs.collect(chosen, ctx)))
        )


def parse_missing(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    return MissingAgg(name, subs, meta, p.field_ref())


class GlobalAgg(Agg):
    """``global``: every document of the index, whatever the query matched."""

    type_name = "global"
    accepts_subs = True

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        if ctx.all_docs is None:
            raise NotImplementedYet("the [global] aggregation needs the index's documents")
        everything = list(ctx.all_docs)
        return self.result(
            SingleBucketResult(Bucket(None, len(everything), self.subs.collect(everything, ctx)))
        )


def parse_global(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    return GlobalAgg(name, subs, meta)


# --- filters ------------------------------------------------------------------------------------


class FiltersAgg(Agg):
    type_name = "filters"
    accepts_subs = True

    def __init__(
        self,
        name: str,
        subs: AggsSpec,
        meta: Mapping[str, Any] | None,
        *,
        filters: tuple[tuple[str, dsl.Query], ...],
        named: bool,
        keyed: bool,
        other_key: str | None,
    ) -> None:
        super().__init__(name, subs, meta)
        self.filters = filters
        self.named = named
        self.keyed = keyed
        self.other_key = other_key

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        # Every filter is a bucket: refuse a request over search.max_buckets before any work.
        ctx.consume_buckets(len(self.filters) + (self.other_key is not None))
        buckets = []
        matched_any: set[int] = set()
        for key, query in self.filters:
            chosen = filter_docs(query, docs, ctx)
            matched_any.update(id(d) for d in chosen)
            buckets.append(Bucket(key, len(chosen), self.subs.collect(chosen, ctx)))
        if self.other_key is not None:
            rest = [d for d in docs if id(d) not in matched_any]
            buckets.append(Bucket(self.other_key, len(rest), self.subs.collect(rest, ctx)))
        return self.result(FiltersResult(buckets, named=self.named, keyed=self.keyed))


@dataclass
class FiltersResult(AggResult):
    buckets: list[Bucket]
    named: bool
    keyed: bool

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        rest = [o for o in others if isinstance(o, FiltersResult)]
        merged = [b.merged([o.buckets[i] for o in rest]) for i, b in enumerate(self.buckets)]
        return replace(self, buckets=merged)

    def body(self) -> dict[str, Any]:
        if self.named and self.keyed:
            return {
                "buckets": {
                    b.key: {"doc_count": b.doc_count, **b.subs_json()} for b in self.buckets
                }
            }
        out = []
        for b in self.buckets:
            item: dict[str, Any] = {"key": b.key} if self.named else {}
            item["doc_count"] = b.doc_count
            item.update(b.subs_json())
            out.append(item)
        return {"buckets": out}


def parse_filters(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    raw = p.raw("filters")
    filters: list[tuple[str, dsl.Query]]
    if isinstance(raw, Mapping):
        # ES keeps named filters sorted by key, whatever order the request used.
        filters = sorted(((str(k), dsl.parse_query(v)) for k, v in raw.items()), key=lambda f: f[0])
        named = True
    elif isinstance(raw, list):
        filters = [(str(i), dsl.parse_query(v)) for i, v in enumerate(raw)]
        named = False
    else:
        raise ParsingError(f"[filters] cannot be null or missing in [{name}]")
    other_key = p.string("other_bucket_key")
    if other_key is None and p.flag("other_bucket", False):
        other_key = "_other_"
    return FiltersAgg(
        name,
        subs,
        meta,
        filters=tuple(filters),
        named=named,
        keyed=p.flag("keyed", True),
        other_key=other_key,
    )


__all__ = [
    "COUNT_DESC",
    "KEY_ASC",
    "Bucket",
    "BucketOrder",
    "FilterAgg",
    "FiltersAgg",
    "GlobalAgg",
    "MissingAgg",
    "SingleBucketResult",
    "filter_docs",
    "key_output",
    "merge_buckets",
    "parse_filter",
    "parse_filters",
    "parse_global",
    "parse_missing",
    "parse_order",
]
