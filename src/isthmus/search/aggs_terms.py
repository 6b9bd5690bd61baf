"""The ``terms`` bucket aggregation.  [no I/O]

One bucket per distinct value (a document counts once per bucket, however many times it holds
the value). Counting follows ES's two steps so the numbers match: the shard keeps its top
``shard_size`` buckets (default ``size * 1.5 + 10``) and counts the rest as
``sum_other_doc_count``; the final step drops buckets under ``min_doc_count``, keeps the top
``size`` and adds the overflow to ``sum_other_doc_count``. With one shard the error bound is 0;
a reduce of several partials sums ES's per-shard bounds.

Keys: strings for keyword, ints or floats for numbers, epoch ms with ``key_as_string`` for dates,
1/0 with ``key_as_string`` ``true``/``false`` for booleans. ``min_doc_count: 0`` cannot add the
zero-count terms of documents the query did not match: only matched documents are seen here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from isthmus.errors import IllegalArgumentError, NotImplementedYet, ParsingError
from isthmus.search.aggs_bucket import (
    COUNT_DESC,
    Bucket,
    BucketOrder,
    key_output,
    merge_buckets,
    parse_order,
)
from isthmus.search.aggs_core import (
    VALUES_SOURCE_PARAMS,
    Agg,
    AggContext,
    AggDoc,
    AggResult,
    AggsSpec,
    FieldRef,
    Params,
    ValueSource,
    resolve_source,
)
from isthmus.search.aggs_format import BooleanFormat, DateFormat, DocFormat
from isthmus.search.term_patterns import include_exclude_regex


@dataclass(frozen=True)
class TermFilter:
    """``include``/``exclude``: a Lucene regexp (string fields only) or a list of exact values."""

    regex: str | None = None
    values: tuple[Any, ...] | None = None

    @staticmethod
    def parse(value: Any, what: str) -> TermFilter | None:
        if value is None:
            return None
        if isinstance(value, str):
            return TermFilter(regex=value)
        if isinstance(value, list):
            return TermFilter(values=tuple(value))
        if isinstance(value, Mapping) and "partition" in value:
            raise NotImplementedYet("terms include partitions are not supported")
        raise ParsingError(f"Unrecognized token for an {what} [{value}]")


class TermsAgg(Agg):
    type_name = "terms"
    accepts_subs = True

    def __init__(
        self,
        name: str,
        subs: AggsSpec,
        meta: Mapping[str, Any] | None,
        *,
        ref: FieldRef,
        size: int,
        shard_size: int,
        min_doc_count: int,
        order: BucketOrder,
        include: TermFilter | None,
        exclude: TermFilter | None,
        show_error: bool,
    ) -> None:
        super().__init__(name, subs, meta)
        self.ref = ref
        self.size = size
        self.shard_size = shard_size
        self.min_doc_count = min_doc_count
        self.order = order
        self.include = include
        self.exclude = exclude
        self.show_error = show_error

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        src = resolve_source(self.ref, self.type_name, ctx, numeric=False)
        accepts = self._acceptor(src, ctx)
        groups: dict[Any, list[AggDoc]] = {}
        for doc in docs:
            for key in dict.fromkeys(_term_key(v) for v in src.values(doc, ctx)):
                if accepts(key):
                    groups.setdefault(key, []).append(doc)
        buckets = [Bucket(key, len(members)) for key, members in groups.items()]
        if self.order.needs_subs:
            for b in buckets:
                b.subs = self.subs.collect(groups[b.key], ctx)
        ranked = self.order.sort(buckets)
        kept, rest = ranked[: self.shard_size], ranked[self.shard_size :]
        # The response keeps at most ``size`` of them (ES counts buckets as it reduces).
        ctx.consume_buckets(min(len(kept), self.size))
        if not self.order.needs_subs:
            for b in kept:
                b.subs = self.subs.collect(groups[b.key], ctx)
        return self.result(
            TermsResult(
                buckets=kept,
                other_doc_count=sum(b.doc_count for b in rest),
                shard_error=_shard_error(kept, self.shard_size, self.order),
                doc_count_error=0,
                size=self.size,
                min_doc_count=self.min_doc_count,
                order=self.order,
                fmt=src.fmt,
                show_error=self.show_error,
            )
        )

    def _acceptor(self, src: ValueSource, ctx: AggContext) -> Callable[[Any], bool]:
        tests: list[tuple[Callable[[Any], bool], bool]] = []
        for term_filter, wanted in ((self.include, True), (self.exclude, False)):
            if term_filter is not None:
                tests.append((self._filter_test(term_filter, src, ctx), wanted))
        return lambda key: all(test(key) == wanted for test, wanted in tests)

    def _filter_test(
        self, term_filter: TermFilter, src: ValueSource, ctx: AggContext
    ) -> Callable[[Any], bool]:
        if term_filter.regex is None:
            allowed = {_filter_value(v, src, ctx) for v in term_filter.values or ()}
            return lambda key: key in allowed
        if src.spec is not None and src.spec.type != "keyword":
            raise IllegalArgumentError(
                f"Aggregation [{self.name}] cannot support regular expression style "
                "include/exclude settings as they can only be applied to string fields. "
                "Use an array of values for include/exclude clauses"
            )
        # Linear-time matching (RE2): a hostile include/exclude costs what a plain one does.
        pattern = include_exclude_regex(term_filter.regex)
        return lambda key: pattern.fullmatch(str(key))


def _term_key(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _filter_value(value: Any, src: ValueSource, ctx: AggContext) -> Any:
    if isinstance(src.fmt, DateFormat):
        return src.fmt.parse(value, ctx.now_ms)
    if isinstance(src.fmt, BooleanFormat):
        return int(value in (True, "true"))
    if src.spec is not None and src.spec.is_numeric:
        try:
            return int(value) if src.spec.is_integer else float(value)
        except (TypeError, ValueError):
            raise IllegalArgumentError(f'For input string: "{value}"') from None
    return str(value)


def _shard_error(kept: Sequence[Bucket], shard_size: int, order: BucketOrder) -> int:
    """ES's per-shard error bound: the smallest returned count when the shard truncated a
    count-descending list, 0 when it returned everything or ordered by key, else unknown (-1)."""
    if len(kept) < shard_size or order.is_key_order:
        return 0
    return kept[-1].doc_count if order.is_count_desc else -1


@dataclass
class TermsResult(AggResult):
    buckets: list[Bucket]
    other_doc_count: int
    shard_error: int
    doc_count_error: int
    size: int
    min_doc_count: int
    order: BucketOrder
    fmt: DocFormat
    show_error: bool

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        parts = [self, *(o for o in others if isinstance(o, TermsResult))]
        if len(parts) == 1:
            return self
        errors = [p.shard_error for p in parts]
        return replace(
            self,
            buckets=merge_buckets([p.buckets for p in parts]),
            other_doc_count=sum(p.other_doc_count for p in parts),
            doc_count_error=-1 if -1 in errors else sum(errors),
            shard_error=0,
        )

    def body(self) -> dict[str, Any]:
        eligible = [b for b in self.buckets if b.doc_count >= self.min_doc_count]
        ranked = self.order.sort(eligible)
        shown = ranked[: self.size]
        other = self.other_doc_count + sum(b.doc_count for b in ranked[self.size :])
        out = []
        for b in shown:
            item = key_output(b.key, self.fmt)
            item["doc_count"] = b.doc_count
            if self.show_error:
                item["doc_count_error_upper_bound"] = max(self.doc_count_error, 0)
            item.update(b.subs_json())
            out.append(item)
        return {
            "doc_count_error_upper_bound": self.doc_count_error,
            "sum_other_doc_count": other,
            "buckets": out,
        }


def parse_terms(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> TermsAgg:
    size = p.integer("size", 10)
    if size <= 0:
        raise IllegalArgumentError(f"[size] must be greater than 0. Found [{size}] in [{name}]")
    min_doc_count = p.integer("min_doc_count", 1)
    if min_doc_count < 0:
        raise IllegalArgumentError(
            f"[min_doc_count] must be greater than or equal to 0. Found [{min_doc_count}] in "
            f"[{name}]"
        )
    shard_size = p.integer("shard_size", -1)
    if shard_size == -1:
        shard_size = int(size * 1.5 + 10)
    elif shard_size <= 0:
        raise IllegalArgumentError(
            f"[shard_size] must be greater than 0. Found [{shard_size}] in [{name}]"
        )
    return TermsAgg(
        name,
        subs,
        meta,
        ref=p.field_ref(),
        size=size,
        shard_size=max(shard_size, size),
        min_doc_count=min_doc_count,
        order=parse_order(p.raw("order"), "terms", subs, COUNT_DESC),
        include=TermFilter.parse(p.raw("include"), "include"),
        exclude=TermFilter.parse(p.raw("exclude"), "exclude"),
        show_error=p.flag("show_term_doc_count_error", False),
    )


TERMS_PARAMS = VALUES_SOURCE_PARAMS | {
    "size", "shard_size", "min_doc_count", "shard_min_doc_count", "order", "include", "exclude",
    "execution_hint", "collect_mode", "show_term_doc_count_error",
}  # fmt: skip


__all__ = ["TERMS_PARAMS", "TermFilter", "TermsAgg", "TermsResult", "parse_terms"]
