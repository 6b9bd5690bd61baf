"""The aggregation model shared by every aggregation type.  [no I/O]

Aggregations run in two steps, as in Elasticsearch, so that partial results can later be merged
across shards or clusters:

1. ``Agg.collect(docs, ctx)`` turns the documents a query matched into an :class:`AggResult`, an
   internal result that still holds everything a merge needs (all term counts, raw sums, the
   values of a percentile digest, every hit of a top_hits bucket, ...).
2. ``AggResult.reduce(others)`` merges partial results of the same aggregation, and
   ``AggResult.to_json()`` applies the final step (truncate to ``size``, fill empty histogram
   buckets, compute derived statistics) and renders Elasticsearch's response shape.

This module also owns where aggregation values come from (:class:`ValueSource`: a mapped field,
its ``missing`` value, the format of ``*_as_string`` outputs) and the parameter reading that gives
every aggregation ES's parse errors.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, ClassVar

from isthmus.errors import IllegalArgumentError, MapperParsingError, NotImplementedYet, ParsingError
from isthmus.index.dates import DEFAULT_DATE_FORMAT, format_date
from isthmus.index.mapping import BOOLEAN, DATE, KEYWORD, TEXT, FieldSpec, coerce, source_values
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search.datemath import resolve_date_math, resolve_time_zone


@dataclass(frozen=True)
class AggDoc:
    """One matched document as aggregations see it."""

    index: str
    id: str
    score: float | None
    source: Mapping[str, Any]


@dataclass
class AggContext:
    """What collection needs besides the documents: the mapping, the clock, the index name
    (for ES's fielddata message) and, for ``global``, every document of the index."""

    mapping: IndexMapping
    now_ms: int
    index: str = ""
    all_docs: Sequence[AggDoc] | None = None
    _cache: dict[tuple[int, str], list[Any]] = field(default_factory=dict, repr=False)

    def values(self, doc: AggDoc, spec: FieldSpec) -> list[Any]:
        """Normalised values of ``spec`` in ``doc``, read once per run."""
        key = (id(doc), spec.path)
        found = self._cache.get(key)
        if found is None:
            found = source_values(doc.source, spec)
            self._cache[key] = found
        return found


@dataclass
class AggResult(ABC):
    """An internal (mergeable) result of one aggregation."""

    meta: Mapping[str, Any] | None = field(default=None, kw_only=True)

    @abstractmethod
    def reduce(self, others: Sequence[AggResult]) -> AggResult:
        """This result merged with partial results of the same aggregation."""

    @abstractmethod
    def body(self) -> dict[str, Any]:
        """The aggregation's response object, without ``meta``."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.meta is not None:
            out["meta"] = dict(self.meta)
        out.update(self.body())
        return out

    def sort_value(self, path: Sequence[str], metric: str | None) -> Any:
        """The value a parent ``order`` sorts buckets by (``agg>agg.metric`` paths)."""
        raise IllegalArgumentError(
            "Buckets can only be sorted on a sub-aggregator path that is built out of zero or "
            "more single-bucket aggregations within the path and a final single-bucket or a "
            "metrics aggregation at the path end."
        )


class Agg(ABC):
    """A parsed aggregation: its name, its parameters, and its sub-aggregations."""

    type_name: str = ""
    accepts_subs: ClassVar[bool] = False

    def __init__(self, name: str, subs: AggsSpec, meta: Mapping[str, Any] | None) -> None:
        self.name = name
        self.subs = subs
        self.meta = meta

    @abstractmethod
    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        """The internal result of this aggregation over ``docs``."""

    def result(self, res: AggResult) -> AggResult:
        res.meta = self.meta
        return res

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} subs={len(self.subs.aggs)}>"


@dataclass(frozen=True)
class AggsSpec:
    """A validated ``aggs`` object: sibling aggregations in request order."""

    aggs: tuple[Agg, ...] = ()

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> dict[str, AggResult]:
        return {agg.name: agg.collect(docs, ctx) for agg in self.aggs}

    def get(self, name: str) -> Agg | None:
        return next((a for a in self.aggs if a.name == name), None)

    def __bool__(self) -> bool:
        return bool(self.aggs)


def reduce_results(partials: Sequence[Mapping[str, AggResult]]) -> dict[str, AggResult]:
    """Merge sibling results name by name (every partial holds the same aggregations)."""
    if not partials:
        return {}
    first, rest = partials[0], partials[1:]
    return {name: res.reduce([p[name] for p in rest]) for name, res in first.items()}


def results_json(results: Mapping[str, AggResult]) -> dict[str, Any]:
    return {name: res.to_json() for name, res in results.items()}


# --- numbers as Elasticsearch prints them -------------------------------------------------------


def json_double(value: float) -> float | str:
    """A Java double in a response: finite values as numbers, others as Jackson's strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def java_double_str(value: float) -> str:
    """``Double.toString``: ``100.0``, ``0.001``, ``1.0E7``, ``1.0E-4``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(float(value))
        return text if "." in text else text + ".0"
    # Java switches to computerized scientific notation outside [1e-3, 1e7), keeping the
    # shortest digits that round-trip (which is also what repr() chooses).
    _, digit_tuple, exponent = Decimal(repr(abs(float(value)))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    power = len(digit_tuple) + exponent - 1
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{power}"


def java_compare(a: Any, b: Any) -> int:
    """Ordering with Java's ``Double.compare`` rule for doubles (NaN above everything)."""
    a_nan = isinstance(a, float) and math.isnan(a)
    b_nan = isinstance(b, float) and math.isnan(b)
    if a_nan or b_nan:
        return (a_nan and not b_nan) - (b_nan and not a_nan)
    return int(a > b) - int(a < b)


# --- formats of *_as_string outputs -------------------------------------------------------------


class DocFormat:
    """ES ``DocValueFormat``: how a key or metric value is rendered as a string (RAW: never)."""

    raw: ClassVar[bool] = False

    def format(self, value: Any) -> str:
        return str(value)


class RawFormat(DocFormat):
    raw = True


RAW = RawFormat()


class BooleanFormat(DocFormat):
    def format(self, value: Any) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class DateFormat(DocFormat):
    pattern: str = DEFAULT_DATE_FORMAT
    time_zone: str | None = None

    def format(self, value: Any) -> str:
        return format_in_zone(int(value), self.pattern, self.time_zone)

    def parse(self, value: Any, now_ms: int, *, round_up: bool = False) -> int:
        return resolve_date_math(
            value if isinstance(value, int | float | str) else str(value),
            now_ms=now_ms,
            fmt=self.pattern,
            round_up=round_up,
            time_zone=self.time_zone,
        )


@dataclass(frozen=True)
class DecimalFormat(DocFormat):
    """A subset of Java's ``DecimalFormat`` patterns: ``0.00``, ``#,##0.0#``, literal affixes."""

    pattern: str = "0"

    def format(self, value: Any) -> str:
        body_chars = "#0,."
        start = next((i for i, c in enumerate(self.pattern) if c in body_chars), 0)
        end = len(self.pattern)
        while end > start and self.pattern[end - 1] not in body_chars:
            end -= 1
        prefix, body, suffix = self.pattern[:start], self.pattern[start:end], self.pattern[end:]
        int_part, _, frac_part = body.partition(".")
        min_int = int_part.count("0")
        grouping = len(int_part) - int_part.rindex(",") - 1 if "," in int_part else 0
        min_frac = frac_part.count("0")
        max_frac = min_frac + frac_part.count("#")
        number = Decimal(float(value)).quantize(Decimal(1).scaleb(-max_frac), ROUND_HALF_EVEN)
        sign = "-" if number < 0 else ""
        whole, _, frac = f"{abs(number):f}".partition(".")
        frac = frac.rstrip("0").ljust(min_frac, "0")
        whole = whole.lstrip("0").rjust(min_int, "0")
        if grouping:
            groups: list[str] = []
            while len(whole) > grouping:
                groups.insert(0, whole[-grouping:])
                whole = whole[:-grouping]
            whole = ",".join([whole, *groups]) if whole else ",".join(groups)
        text = whole + ("." + frac if frac else "")
        return f"{prefix}{sign}{text or '0'}{suffix}"


def format_in_zone(millis: int, fmt: str, time_zone: str | None) -> str:
    """``format_date`` on the wall clock of ``time_zone``; ISO output carries the offset."""
    if time_zone is None:
        return format_date(millis, fmt)
    first = fmt.split("||")[0].strip()
    if first in ("epoch_millis", "epoch_second"):
        return format_date(millis, fmt)
    zone = resolve_time_zone(time_zone)
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    offset = zone.utcoffset(instant.astimezone(zone)) or timedelta(0)
    text = format_date(millis + offset // timedelta(milliseconds=1), fmt)
    if text.endswith("Z") and offset:
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        text = text[:-1] + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return text


# --- where values come from ---------------------------------------------------------------------


def fielddata_error(field_name: str, index: str) -> IllegalArgumentError:
    return IllegalArgumentError(
        f"Fielddata is disabled on [{field_name}] in [{index}]. Text fields are not optimised for "
        "operations that require per-document field data like aggregations and sorting, so these "
        "operations are disabled by default. Please use a keyword field instead. Alternatively, "
        f"set fielddata=true on [{field_name}] in order to load field data by uninverting the "
        "inverted index. Note that this can use significant memory."
    )


def unsupported_field(spec: FieldSpec, agg_type: str) -> IllegalArgumentError:
    return IllegalArgumentError(
        f"Field [{spec.path}] of type [{spec.type}] is not supported for aggregation [{agg_type}]"
    )


@dataclass(frozen=True)
class FieldRef:
    """The ``field``/``missing``/``format`` parameters of a values-source aggregation."""

    field: str
    missing: Any = None
    format: str | None = None


@dataclass(frozen=True)
class ValueSource:
    """A field resolved against the mapping: per-document values plus their output format.

    ``spec`` is None for an unmapped field: it has no values, only ``missing`` if one was given.
    ``index_field`` marks ``_index``, whose one value is the document's index name (across
    clusters that is ``cluster:index``, which makes it the usual way to count hits per cluster).
    """

    spec: FieldSpec | None
    missing: Any
    fmt: DocFormat
    numeric: bool
    index_field: bool = False

    def values(self, doc: AggDoc, ctx: AggContext) -> list[Any]:
        if self.index_field:
            return [doc.index]
        found = ctx.values(doc, self.spec) if self.spec is not None else []
        if self.numeric:
            found = [int(v) if isinstance(v, bool) else v for v in found]
        if not found and self.missing is not None:
            return [self.missing]
        return found

    @property
    def is_date(self) -> bool:
        return isinstance(self.fmt, DateFormat)


def resolve_source(
    ref: FieldRef,
    agg_type: str,
    ctx: AggContext,
    *,
    numeric: bool,
    allow_dates: bool = True,
    time_zone: str | None = None,
) -> ValueSource:
    """Resolve ``ref`` for an aggregation, raising ES's errors for fields it cannot use.

    ``numeric`` aggregations (avg, histogram, ...) accept numbers, dates and booleans; the others
    (terms, cardinality, ...) accept anything with doc values, i.e. everything but ``text``.
    """
    if ref.field == "_index":
        if numeric:
            raise IllegalArgumentError(
                f"Field [_index] of type [_index] is not supported for aggregation [{agg_type}]"
            )
        return ValueSource(None, None, RAW, numeric, index_field=True)
    spec = ctx.mapping.field(ref.field)
    if spec is None:
        missing = ref.missing
        if numeric and missing is not None:
            missing = _number(missing)
        fmt: DocFormat = DecimalFormat(ref.format) if ref.format and numeric else RAW
        return ValueSource(None, missing, fmt, numeric)
    if spec.type == TEXT and not numeric:
        raise fielddata_error(spec.path, ctx.index)
    if numeric and (spec.type in (TEXT, KEYWORD) or (spec.type == DATE and not allow_dates)):
        raise unsupported_field(spec, agg_type)
    if spec.type == DATE:
        fmt = DateFormat(ref.format or spec.format, time_zone)
    elif spec.type == BOOLEAN:
        fmt = BooleanFormat()
    elif ref.format and spec.is_numeric:
        fmt = DecimalFormat(ref.format)
    else:
        fmt = RAW
    missing = None
    if ref.missing is not None:
        if isinstance(fmt, DateFormat):
            missing = fmt.parse(ref.missing, ctx.now_ms)
        else:
            try:
                missing = coerce(spec, ref.missing)
            except MapperParsingError:
                raise IllegalArgumentError(
                    f"failed to parse [missing] value [{ref.missing}] for field [{spec.path}]"
                ) from None
            if numeric and isinstance(missing, bool):
                missing = int(missing)
    return ValueSource(spec, missing, fmt, numeric)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise IllegalArgumentError(f'For input string: "{value}"') from None


# --- parameters ---------------------------------------------------------------------------------


class Params:
    """Typed access to one aggregation's parameters, with ES's parse errors."""

    def __init__(self, agg_type: str, name: str, body: Any, allowed: set[str]) -> None:
        if not isinstance(body, Mapping):
            raise ParsingError(
                f"Aggregation definition for [{name}] of type [{agg_type}] must be an object"
            )
        for key in body:
            if key not in allowed:
                raise ParsingError(f"[{agg_type}] unknown field [{key}]")
        if "script" in body:
            raise NotImplementedYet(f"scripts are not supported in [{agg_type}] aggregations")
        self.agg_type = agg_type
        self.name = name
        self.body: Mapping[str, Any] = body

    def __contains__(self, key: str) -> bool:
        return key in self.body

    def raw(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)

    def _fail(self, key: str) -> ParsingError:
        return ParsingError(f"[{self.agg_type}] failed to parse field [{key}]")

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.body.get(key, default)
        if value is None:
            return None
        if isinstance(value, Mapping | list):
            raise self._fail(key)
        return str(value)

    def integer(self, key: str, default: int) -> int:
        value = self.body.get(key, default)
        if isinstance(value, bool):
            raise self._fail(key)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise self._fail(key) from None

    def number(self, key: str, default: float | None) -> float | None:
        value = self.body.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool):
            raise self._fail(key)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise self._fail(key) from None

    def flag(self, key: str, default: bool) -> bool:
        value = self.body.get(key, default)
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return bool(value == "true")
        raise self._fail(key)

    def field_ref(self) -> FieldRef:
        name = self.string("field")
        if name is None:
            raise IllegalArgumentError(
                "Required one of fields [field, script], but none were specified. "
            )
        return FieldRef(name, self.body.get("missing"), self.string("format"))


VALUES_SOURCE_PARAMS = {"field", "missing", "format", "script", "value_type"}

ParseFn = Callable[[str, Params, AggsSpec, Mapping[str, Any] | None], Agg]


__all__ = [
    "RAW",
    "VALUES_SOURCE_PARAMS",
    "Agg",
    "AggContext",
    "AggDoc",
    "AggResult",
    "AggsSpec",
    "BooleanFormat",
    "DateFormat",
    "DecimalFormat",
    "DocFormat",
    "FieldRef",
    "Params",
    "ValueSource",
    "fielddata_error",
    "format_in_zone",
    "java_compare",
    "java_double_str",
    "json_double",
    "reduce_results",
    "resolve_source",
    "results_json",
    "unsupported_field",
]
