"""Term and range queries for the field types stored in a form of their own.  [no I/O]

``search.translate`` hands these types here: ``ip`` (held as the hex of its 16 bytes, see
``index.ip``: a term may be a CIDR block, a range compares bytes), ``date_nanos`` (epoch
nanoseconds: date math resolves to milliseconds, widened to the nanoseconds they cover) and
``unsigned_long`` (tantivy's u64 field).
"""

from __future__ import annotations

from typing import Any

import orjson
import tantivy

from isthmus.errors import QueryShardError
from isthmus.index.dates import DateParseError
from isthmus.index.field_types import COMPLETION, DENSE_VECTOR, FieldSpec
from isthmus.index.field_values import nanos_edge
from isthmus.index.ip import IpParseError, cidr_bounds, parse_ip
from isthmus.index.mapping import source_values
from isthmus.search.datemath import resolve_date_math
from isthmus.search.term_ranges import lit
from isthmus.search.term_ranges import string_range as string_range  # translate's entry


def _text_range(
    schema: tantivy.Schema, name: str, lo: str | None, hi: str | None, inc_lo: bool, inc_hi: bool
) -> tantivy.Query:
    lo_s = "*" if lo is None else lo
    hi_s = "*" if hi is None else hi
    text = f"{name}:{'[' if inc_lo else '{'}{lo_s} TO {hi_s}{']' if inc_hi else '}'}"
    return tantivy.Index(schema).parse_query(text, [name])


def ip_term(schema: tantivy.Schema, name: str, field: str, value: Any) -> tantivy.Query:
    """An address, or every address of a CIDR block (``10.0.0.0/8``)."""
    try:
        text = str(value)
        block = cidr_bounds(text)
        if block is not None:
            return _text_range(schema, name, block[0].sortable, block[1].sortable, True, True)
        return tantivy.Query.term_query(schema, name, parse_ip(value).sortable)
    except IpParseError as exc:
        raise QueryShardError(f"failed to create query: {exc}") from None


def ip_range(
    schema: tantivy.Schema, name: str, lower: Any, upper: Any, inc_lo: bool, inc_hi: bool
) -> tantivy.Query:
    try:
        lo = None if lower is None else parse_ip(lower).sortable
        hi = None if upper is None else parse_ip(upper).sortable
    except IpParseError as exc:
        raise QueryShardError(f"failed to create query: {exc}") from None
    return _text_range(schema, name, lo, hi, inc_lo or lo is None, inc_hi or hi is None)


def nanos_range(
    schema: tantivy.Schema,
    name: str,
    spec: FieldSpec,
    bounds: tuple[Any, Any, bool, bool],
    *,
    now_ms: int,
    fmt: str | None,
    time_zone: str | None,
) -> tantivy.Query:
    """A date_nanos range: each bound resolved (with ES's rounding) to milliseconds, then to
    the first or last nanosecond of that millisecond."""
    lower, upper, inc_lo, inc_hi = bounds
    fmt = fmt or spec.format
    try:
        lo = (
            None
            if lower is None
            else resolve_date_math(
                lower, now_ms=now_ms, fmt=fmt, round_up=not inc_lo, time_zone=time_zone
            )
        )
        hi = (
            None
            if upper is None
            else resolve_date_math(
                upper, now_ms=now_ms, fmt=fmt, round_up=inc_hi, time_zone=time_zone
            )
        )
    except DateParseError as exc:
        raise QueryShardError(f"failed to create query: {exc}") from None
    lo_ns = None if lo is None else nanos_edge(lower, lo, "gte" if inc_lo else "gt")
    hi_ns = None if hi is None else nanos_edge(upper, hi, "lte" if inc_hi else "lt")
    return tantivy.Query.range_query(
        schema, name, tantivy.FieldType.Integer, lo_ns, hi_ns, True, True
    )


def unsigned_range(
    schema: tantivy.Schema, name: str, lower: Any, upper: Any, inc_lo: bool, inc_hi: bool
) -> tantivy.Query:
    """An unsigned_long range: fractional bounds tighten to the integers they admit, bounds
    beyond 0..2^64-1 are clamped (a range wholly outside matches nothing)."""
    import math

    def number(value: Any) -> float:
        try:
            found = float(value)
        except (TypeError, ValueError):
            found = math.nan
        if math.isnan(found):
            raise QueryShardError(f'failed to create query: For input string: "{value}"')
        return found

    # An infinite bound is no bound on its side, and admits nothing on the other.
    lower_f = None if lower is None else number(lower)
    upper_f = None if upper is None else number(upper)
    if lower_f == math.inf or upper_f == -math.inf:
        return tantivy.Query.empty_query()
    lower = None if lower_f == -math.inf else lower
    upper = None if upper_f == math.inf else upper
    lo: int | None = None
    hi: int | None = None
    if lower is not None:
        f = number(lower)
        lo = math.floor(f) + 1 if (f == math.floor(f) and not inc_lo) else math.ceil(f)
    if upper is not None:
        f = number(upper)
        hi = math.ceil(f) - 1 if (f == math.ceil(f) and not inc_hi) else math.floor(f)
    lo = max(lo, 0) if lo is not None else None
    hi = min(hi, 2**64 - 1) if hi is not None else None
    if (lo is not None and hi is not None and lo > hi) or (hi is not None and hi < 0):
        return tantivy.Query.empty_query()
    if lo is not None and lo > 2**64 - 1:
        return tantivy.Query.empty_query()
    if lo is None and hi is None:
        return tantivy.Query.exists_query(name, False)
    return tantivy.Query.range_query(schema, name, tantivy.FieldType.Unsigned, lo, hi, True, True)


# --- keys of a flattened field: "key\0value" terms (index.schema) -------------------------------


def keyed_regex(key: str, value_regex: str) -> str:
    """A whole-term regex on a key's pair terms from one on its values (``(?i)`` kept first)."""
    flags = ""
    if value_regex.startswith("(?i)"):
        flags, value_regex = "(?i)", value_regex[4:]
    return f"{flags}{lit(key)}\\x{{0}}(?:{value_regex})"


def keyed_bounds(
    key: str, lower: Any, upper: Any, inc_lo: bool, inc_hi: bool
) -> tuple[str, str, bool, bool]:
    """A range on a key's values as a range on its pair terms (open sides close on the key)."""
    prefix = key + "\0"
    low = prefix if lower is None else prefix + _text(lower)
    high = key + "\x01" if upper is None else prefix + _text(upper)
    return low, high, inc_lo or lower is None, inc_hi and upper is not None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Field types kept in ``_source`` only (no tantivy field): exists reads the sources.
SOURCE_ONLY_TYPES = (DENSE_VECTOR, COMPLETION)


def source_exists(
    spec: FieldSpec, schema: tantivy.Schema, searcher: tantivy.Searcher | None
) -> tantivy.Query:
    """The ``_id`` terms of the shard's documents that hold a value for ``spec``."""
    if searcher is None:
        return tantivy.Query.empty_query()
    ids: list[Any] = []
    for _score, addr in searcher.search(tantivy.Query.all_query(), max(searcher.num_docs, 1)).hits:
        doc = searcher.doc(addr)
        if source_values(orjson.loads(bytes(doc.get_first("_src") or b"{}")), spec):
            ids.append(str(doc.get_first("_id")))
    if not ids:
        return tantivy.Query.empty_query()
    return tantivy.Query.term_set_query(schema, "_id", ids)
