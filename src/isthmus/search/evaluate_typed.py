"""In-memory term and range tests for the types held in a form of their own.  [no I/O]

The counterpart of ``search.field_queries`` for ``search.evaluate`` (filter aggregations,
nested queries): an ``ip`` term may be a CIDR block and ranges compare addresses by their
bytes; a ``date_nanos`` term or range resolves date math to milliseconds and covers every
nanosecond of them. Other types return None: the general tests apply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from isthmus.errors import QueryShardError
from isthmus.index.field_types import DATE_NANOS, IP, FieldSpec
from isthmus.index.field_values import nanos_edge
from isthmus.index.ip import IpParseError, cidr_bounds, parse_ip
from isthmus.search import dsl
from isthmus.search.evaluate_fields import EvalDoc, date_bound, field_values

Predicate = Callable[[EvalDoc], bool]
_NANOS = 1_000_000


def _ip_number(value: Any) -> int:
    try:
        return parse_ip(value).number
    except IpParseError as exc:
        raise QueryShardError(f"failed to create query: {exc}") from None


def _within(spec: FieldSpec, low: int | None, high: int | None) -> Predicate:
    def test(doc: EvalDoc) -> bool:
        for v in field_values(doc, spec):
            n = v.number if spec.type == IP else v
            if (low is None or n >= low) and (high is None or n <= high):
                return True
        return False

    return test


def term(spec: FieldSpec, value: Any, now_ms: int) -> Predicate | None:
    if spec.type == IP:
        try:
            block = cidr_bounds(str(value))
        except IpParseError as exc:
            raise QueryShardError(f"failed to create query: {exc}") from None
        if block is not None:
            return _within(spec, block[0].number, block[1].number)
        number = _ip_number(value)
        return _within(spec, number, number)
    if spec.type == DATE_NANOS:
        low = date_bound(spec, value, now_ms=now_ms) * _NANOS
        high = date_bound(spec, value, now_ms=now_ms, round_up=True) * _NANOS + _NANOS - 1
        return _within(spec, low, high)
    return None


def range_(spec: FieldSpec, q: dsl.Range, now_ms: int) -> Predicate | None:
    if spec.type not in (IP, DATE_NANOS):
        return None
    low: int | None = None
    high: int | None = None
    for op, bound in (("gte", q.gte), ("gt", q.gt), ("lt", q.lt), ("lte", q.lte)):
        if bound is None:
            continue
        if spec.type == IP:
            edge = _ip_number(bound)
            lower, upper = edge + (op == "gt"), edge - (op == "lt")
        else:
            # gt and lte round up (ES), and take the last nanosecond of that millisecond.
            ms = date_bound(
                spec,
                bound,
                now_ms=now_ms,
                fmt=q.format,
                time_zone=q.time_zone,
                round_up=op in ("gt", "lte"),
            )
            lower = upper = nanos_edge(bound, ms, op)
        if op in ("gte", "gt"):
            low = lower if low is None else max(low, lower)
        else:
            high = upper if high is None else min(high, upper)
    return _within(spec, low, high)
