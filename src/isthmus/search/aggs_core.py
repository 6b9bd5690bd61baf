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
its ``missing`` value, the format of its ``*_as_string`` outputs), bucket ordering's comparison
rule, and the parameter reading that gives every aggregation ES's parse errors. How values print
is ``aggs_format``'s business.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from isthmus import xcontent
from isthmus.errors import (
    IllegalArgumentError,
    MapperParsingError,
    NotImplementedYet,
    ParsingError,
    TooManyBucketsError,
    XContentParseError,
)
from isthmus.index.field_types import DATE_NANOS
from isthmus.index.mapping import BOOLEAN, DATE, TEXT, FieldSpec, coerce, source_values
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search.aggs_format import (
    RAW,
    BooleanFormat,
    DateFormat,
    DecimalFormat,
    DocFormat,
)
from isthmus.search.evaluate_fields import EvalDoc


@dataclass(frozen=True)
class AggDoc:
    """One matched document as aggregations see it."""

    index: str
    id: str
    score: float | None
    source: Mapping[str, Any]


# ES's ``search.max_buckets`` default (registered in settings.registry).
DEFAULT_MAX_BUCKETS = 65_536


@dataclass(frozen=True)
class AggLimits:
    """The bounds on one request's aggregation work, from cluster and index settings.

    ``max_buckets`` is ``search.max_buckets``: the buckets of the whole aggregation tree (a
    sub-aggregation's buckets count once per parent bucket), checked as they are created so a
    request over the limit stops before doing the work. ``max_regex_length`` is the smallest
    ``index.max_regex_length`` of the searched indices, for regexps inside ``filter(s)``.
    """

    max_buckets: int = DEFAULT_MAX_BUCKETS
    max_regex_length: int = 1000


@dataclass
class AggContext:
    """What collection needs besides the documents: the mapping, the clock, the index name
    (for ES's fielddata message), for ``global`` every document of the index, and the limits
    with the count of buckets created so far."""

    mapping: IndexMapping
    now_ms: int
    index: str = ""
    all_docs: Sequence[AggDoc] | None = None
    limits: AggLimits = AggLimits()
    buckets: int = 0
    _cache: dict[tuple[int, str], list[Any]] = field(default_factory=dict, repr=False)
    # One evaluation view per document, so field reads are shared by every filter of a run.
    _eval_docs: dict[int, EvalDoc] = field(default_factory=dict, repr=False)

    def eval_doc(self, doc: AggDoc) -> EvalDoc:
        """``doc`` as query evaluation sees it (the same object for the whole run)."""
        found = self._eval_docs.get(id(doc))
        if found is None:
            found = self._eval_docs[id(doc)] = EvalDoc(doc.id, doc.source, index=doc.index)
        return found

    def consume_buckets(self, count: int) -> None:
        """Account for ``count`` new buckets; ES's ``too_many_buckets_exception`` past
        ``search.max_buckets``."""
        self.buckets += count
        if self.buckets > self.limits.max_buckets:
            raise TooManyBucketsError(self.limits.max_buckets)

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


# --- ordering -----------------------------------------------------------------------------------


def java_compare(a: Any, b: Any) -> int:
    """Ordering with Java's ``Double.compare`` rule for doubles (NaN above everything)."""
    a_nan = isinstance(a, float) and math.isnan(a)
    b_nan = isinstance(b, float) and math.isnan(b)
    if a_nan or b_nan:
        return (a_nan and not b_nan) - (b_nan and not a_nan)
    return int(a > b) - int(a < b)


# --- where values come from ---------------------------------------------------------------------


def fielddata_error(field_name: str, index: str) -> IllegalArgumentError:
    return IllegalArgumentError(
        f"Fielddata is disabled on [{field_name}] in [{index}]. Text fields are not optimised for "
        "operations that require per-document field data like aggregations and sorting, so these "
        "operations are disabled by default. Please use a keyword field instead. Alternatively, "
        f"set fielddata=true on [{field_name}] in order to load field data by uninverting the "
        "inverted index. Note that this can use significant memory."
    )


def id_fielddata_error() -> IllegalArgumentError:
    """``_id`` has no doc values: ES refuses to aggregate or sort on it unless the cluster
    setting ``indices.id_field_data.enabled`` (off by default since 8.0) loads them."""
    return IllegalArgumentError(
        "Fielddata access on the _id field is disallowed, you can re-enable it by updating the "
        "dynamic cluster setting: indices.id_field_data.enabled"
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
        if self.spec is not None and self.spec.type == DATE_NANOS:
            found = [v // 1_000_000 for v in found]  # aggregations see date_nanos in millis
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
    if ref.field == "_id":
        raise id_fielddata_error()
    spec = ctx.mapping.field(ref.field)
    if spec is None:
        missing = ref.missing
        if numeric and missing is not None:
            missing = _number(missing)
        fmt: DocFormat = DecimalFormat(ref.format) if ref.format and numeric else RAW
        return ValueSource(None, missing, fmt, numeric)
    if spec.type == TEXT and not numeric:
        raise fielddata_error(spec.path, ctx.index)
    is_date = spec.type in (DATE, DATE_NANOS)
    # A numeric aggregation reads ES's numeric values sources only: numbers, dates, booleans
    # (an ip, geo_point, vector or keyword-like field is its "not supported" error).
    plain_number = spec.is_numeric or spec.type == BOOLEAN
    if numeric and (not (plain_number or is_date) or (is_date and not allow_dates)):
        raise unsupported_field(spec, agg_type)
    if is_date:
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


# Aggregations ES parses by hand rather than with an object parser, and the value tokens each
# one reads keys for: an unknown key there is a parsing_exception without a suggestion,
# "Unknown key for a <token> in [<name>]: [<key>]." (top_hits names only the key), and a
# token the parser reads no key for is "Unexpected token <token> in [<name>].".
_ANY_TOKEN = frozenset(
    {"VALUE_STRING", "VALUE_NUMBER", "VALUE_BOOLEAN", "VALUE_NULL", "START_OBJECT", "START_ARRAY"}
)
_HAND_PARSED = {
    "filters": frozenset({"VALUE_BOOLEAN", "VALUE_STRING", "START_OBJECT", "START_ARRAY"}),
    "nested": frozenset({"VALUE_STRING"}),
    "reverse_nested": frozenset({"VALUE_STRING"}),
    "top_hits": _ANY_TOKEN,
}


def _unknown_parameter(
    agg_type: str, name: str, key: str, value: Any, allowed: set[str]
) -> Exception:
    """ES's error for a key an aggregation's parser does not declare (an object parser's
    ``[<type>] unknown field [<key>]`` with its "did you mean")."""
    tokens = _HAND_PARSED.get(agg_type)
    if tokens is None:
        return xcontent.at(xcontent.unknown_field(agg_type, key, allowed), name, agg_type, key)
    token = xcontent.token(value)
    if token not in tokens:
        return ParsingError(f"Unexpected token {token} in [{name}].")
    if agg_type == "top_hits":
        return ParsingError(f"Unknown key for a {token} in [{key}].")
    return ParsingError(f"Unknown key for a {token} in [{name}]: [{key}].")


class Params:
    """Typed access to one aggregation's parameters, with ES's parse errors."""

    def __init__(self, agg_type: str, name: str, body: Any, allowed: set[str]) -> None:
        if not isinstance(body, Mapping):
            raise ParsingError(
                f"Aggregation definition for [{name}] of type [{agg_type}] must be an object"
            )
        for key in body:
            if key not in allowed:
                raise _unknown_parameter(agg_type, name, key, body[key], allowed)
        if "script" in body:
            raise NotImplementedYet(f"scripts are not supported in [{agg_type}] aggregations")
        self.agg_type = agg_type
        self.name = name
        self.body: Mapping[str, Any] = body

    def __contains__(self, key: str) -> bool:
        return key in self.body

    def raw(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)

    # ES's aggregation object parsers: a value of a kind the field does not take is "[<type>]
    # <field> doesn't support values of type: <TOKEN>"; one of the right kind that does not
    # convert is "[<type>] failed to parse field [<field>]" (both x_content_parse_exception).

    def _wrong(self, key: str, value: Any) -> XContentParseError:
        return xcontent.wrong_type(self.agg_type, key, value)

    def _unconvertible(self, key: str, value: Any) -> XContentParseError:
        return xcontent.failed_field(self.agg_type, key, f'For input string: "{value}"')

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.body.get(key, default)
        if value is None:
            return None
        if isinstance(value, Mapping | list):
            raise self._wrong(key, value)
        return str(value)

    def integer(self, key: str, default: int) -> int:
        value = self.body.get(key, default)
        if isinstance(value, bool | Mapping | list) or value is None:
            raise self._wrong(key, value)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise self._unconvertible(key, value) from None

    def number(self, key: str, default: float | None) -> float | None:
        value = self.body.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool | Mapping | list):
            raise self._wrong(key, value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise self._unconvertible(key, value) from None

    def flag(self, key: str, default: bool) -> bool:
        value = self.body.get(key, default)
        if isinstance(value, str | bool):
            return xcontent.as_bool(self.agg_type, key, value)
        raise self._wrong(key, value)

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
    "DEFAULT_MAX_BUCKETS",
    "VALUES_SOURCE_PARAMS",
    "Agg",
    "AggContext",
    "AggDoc",
    "AggLimits",
    "AggResult",
    "AggsSpec",
    "FieldRef",
    "Params",
    "ValueSource",
    "fielddata_error",
    "java_compare",
    "reduce_results",
    "resolve_source",
    "results_json",
    "unsupported_field",
]
