"""The ``ip_range`` aggregation: buckets of ``ip`` values by address ranges or CIDR masks.
[no I/O]

Each range is ``from`` (inclusive) to ``to`` (exclusive), either side open, or a ``mask``
(``10.0.0.0/25``: from its first address to the one after its last). Keys are ES's:
``from-to`` with ``*`` for an open side, the mask itself, or the range's own ``key``. Addresses
compare by their 16 bytes (``index.ip``), so IPv4 and IPv6 ranges mix as in ES.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from isthmus.errors import IllegalArgumentError, ParsingError, XContentParseError
from isthmus.index.field_types import IP
from isthmus.index.ip import Ip, IpParseError, cidr_bounds, from_sortable, parse_ip
from isthmus.search.aggs_bucket import Bucket
from isthmus.search.aggs_core import (
    Agg,
    AggContext,
    AggDoc,
    AggResult,
    AggsSpec,
    FieldRef,
    Params,
    unsupported_field,
)

IP_RANGE_PARAMS = {"field", "ranges", "keyed", "missing", "script"}
_RANGE_KEYS = {"from", "to", "mask", "key"}


@dataclass(frozen=True)
class IpRange:
    """One range: its key and its edges (the address texts ES shows; None: open)."""

    key: str
    low: str | None
    high: str | None


@dataclass
class IpRangeBucket:
    range: IpRange
    bucket: Bucket


@dataclass
class IpRangeResult(AggResult):
    ranges: list[IpRangeBucket]
    keyed: bool

    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        rest = [o for o in others if isinstance(o, IpRangeResult)]
        merged = [
            replace(r, bucket=r.bucket.merged([o.ranges[i].bucket for o in rest]))
            for i, r in enumerate(self.ranges)
        ]
        return replace(self, ranges=merged)

    def body(self) -> dict[str, Any]:
        rendered: list[tuple[str, dict[str, Any]]] = []
        for r in self.ranges:
            item: dict[str, Any] = {} if self.keyed else {"key": r.range.key}
            if r.range.low is not None:
                item["from"] = r.range.low
            if r.range.high is not None:
                item["to"] = r.range.high
            item["doc_count"] = r.bucket.doc_count
            item.update(r.bucket.subs_json())
            rendered.append((r.range.key, item))
        if self.keyed:
            return {"buckets": dict(rendered)}
        return {"buckets": [item for _, item in rendered]}


def _address(value: Any, what: str) -> Ip:
    try:
        return parse_ip(value)
    except IpParseError as exc:
        raise IllegalArgumentError(f"[ip_range] failed to parse [{what}]: {exc}") from None


def _parse_range(raw: Any) -> IpRange:
    if not isinstance(raw, Mapping):
        raise ParsingError("[ip_range] each range must be an object")
    for key in raw:
        if key not in _RANGE_KEYS:
            # ES reads an ip range by hand (no suggestion); its aggregation parser wraps that.
            raise XContentParseError(
                "[ip_range] failed to parse field [ranges]",
                caused_by=ParsingError(f"Unexpected ip range parameter: [{key}]"),
            )
    if "mask" in raw:
        if "from" in raw or "to" in raw:
            raise IllegalArgumentError("[ip_range] a range cannot set [mask] with [from] or [to]")
        mask = str(raw["mask"])
        try:
            block = cidr_bounds(mask)
        except IpParseError as exc:
            raise IllegalArgumentError(str(exc)) from None
        if block is None:
            raise IllegalArgumentError(f"[ip_range] failed to parse mask [{mask}]")
        first, last = block
        after = None if last.number == 2**128 - 1 else str(from_sortable(f"{last.number + 1:032x}"))
        return IpRange(str(raw.get("key", mask)), str(first), after)
    low = None if raw.get("from") is None else str(_address(raw["from"], "from"))
    high = None if raw.get("to") is None else str(_address(raw["to"], "to"))
    default = f"{low or '*'}-{high or '*'}"
    return IpRange(str(raw.get("key", default)), low, high)


class IpRangeAgg(Agg):
    type_name = "ip_range"
    accepts_subs = True

    def __init__(
        self,
        name: str,
        subs: AggsSpec,
        meta: Mapping[str, Any] | None,
        ref: FieldRef,
        ranges: tuple[IpRange, ...],
        keyed: bool,
    ) -> None:
        super().__init__(name, subs, meta)
        self.ref = ref
        self.ranges = ranges
        self.keyed = keyed

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        spec = ctx.mapping.field(self.ref.field)
        if spec is not None and spec.type != IP:
            raise unsupported_field(spec, self.type_name)
        bounds = [
            (
                None if r.low is None else parse_ip(r.low).number,
                None if r.high is None else parse_ip(r.high).number,
            )
            for r in self.ranges
        ]
        missing = None if self.ref.missing is None else _address(self.ref.missing, "missing")
        members: list[list[AggDoc]] = [[] for _ in self.ranges]
        for doc in docs:
            numbers = [v.number for v in ctx.values(doc, spec)] if spec is not None else []
            if not numbers and missing is not None:
                numbers = [missing.number]
            for i, (low, high) in enumerate(bounds):
                if any((low is None or n >= low) and (high is None or n < high) for n in numbers):
                    members[i].append(doc)
        ctx.consume_buckets(len(self.ranges))
        return self.result(
            IpRangeResult(
                [
                    IpRangeBucket(r, Bucket(r.key, len(m), self.subs.collect(m, ctx)))
                    for r, m in zip(self.ranges, members, strict=True)
                ],
                self.keyed,
            )
        )


def parse_ip_range(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    raw = p.raw("ranges")
    if not isinstance(raw, list) or not raw:
        raise IllegalArgumentError(f"No [ranges] specified for the [{name}] aggregation")
    return IpRangeAgg(
        name,
        subs,
        meta,
        p.field_ref(),
        tuple(_parse_range(r) for r in raw),
        p.flag("keyed", False),
    )
