"""Query DSL: JSON bodies parsed into a typed query tree.  [no I/O]

Every query a request names is parsed and validated here, once, with Elasticsearch's error
messages. Back-ends walk the tree: ``search.translate`` turns it into tantivy queries and
``search.evaluate`` matches it against one document in memory (filter aggregations, oracles).
``query_string`` and ``simple_query_string`` are rewritten into ordinary DSL first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, ParsingError, XContentParseError

# ES's ``indices.query.bool.max_nested_depth`` (static, default 30): how many query objects may
# enclose one another. Deeper trees are refused before any recursion, so a hostile body can
# neither exhaust the stack of the parser nor that of the back-ends walking the tree.
MAX_NESTED_DEPTH = 30
# Compound queries and the keys under which they hold further queries.
_SUBQUERY_KEYS: dict[str, tuple[str, ...]] = {
    "bool": ("must", "should", "must_not", "filter"),
    "constant_score": ("filter",),
    "dis_max": ("queries",),
    "nested": ("query",),
}


@dataclass(frozen=True)
class Query:
    boost: float = 1.0
    # ``_name``: a named query reports in a hit's ``matched_queries`` whether the hit matches it.
    # A label, not part of what the query matches: equal queries stay equal whatever their name.
    name: str | None = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class MatchAll(Query):
    pass


@dataclass(frozen=True)
class MatchNone(Query):
    pass


@dataclass(frozen=True)
class Term(Query):
    field: str = ""
    value: Any = None
    case_insensitive: bool = False


@dataclass(frozen=True)
class Terms(Query):
    field: str = ""
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Match(Query):
    field: str = ""
    query: Any = None
    operator: str = "or"
    minimum_should_match: str | int | None = None
    fuzziness: str | int | None = None
    prefix_length: int = 0
    zero_terms_query: str = "none"
    lenient: bool = False


@dataclass(frozen=True)
class MatchBoolPrefix(Match):
    """``match_bool_prefix``: the analysed terms as a ``match`` would, the last one as a
    prefix."""


@dataclass(frozen=True)
class MatchPhrase(Query):
    field: str = ""
    query: str = ""
    slop: int = 0
    prefix: bool = False
    max_expansions: int = 50


@dataclass(frozen=True)
class MultiMatch(Query):
    query: Any = None
    fields: tuple[tuple[str, float], ...] = ()
    type: str = "best_fields"
    operator: str = "or"
    minimum_should_match: str | int | None = None
    fuzziness: str | int | None = None
    slop: int = 0
    tie_breaker: float = 0.0
    lenient: bool = False


@dataclass(frozen=True)
class Range(Query):
    field: str = ""
    gt: Any = None
    gte: Any = None
    lt: Any = None
    lte: Any = None
    format: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True)
class Exists(Query):
    field: str = ""


@dataclass(frozen=True)
class Ids(Query):
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prefix(Query):
    field: str = ""
    value: str = ""
    case_insensitive: bool = False


@dataclass(frozen=True)
class Wildcard(Query):
    field: str = ""
    value: str = ""
    case_insensitive: bool = False


@dataclass(frozen=True)
class Regexp(Query):
    field: str = ""
    value: str = ""
    case_insensitive: bool = False
    max_determinized_states: int = 10000  # Lucene's determinization work limit (term_patterns)


@dataclass(frozen=True)
class Fuzzy(Query):
    field: str = ""
    value: Any = None
    fuzziness: str | int = "AUTO"
    prefix_length: int = 0
    transpositions: bool = True


@dataclass(frozen=True)
class Bool(Query):
    must: tuple[Query, ...] = ()
    should: tuple[Query, ...] = ()
    must_not: tuple[Query, ...] = ()
    filter: tuple[Query, ...] = ()
    minimum_should_match: str | int | None = None


@dataclass(frozen=True)
class ConstantScore(Query):
    filter: Query = field(default_factory=MatchAll)


@dataclass(frozen=True)
class DisMax(Query):
    queries: tuple[Query, ...] = ()
    tie_breaker: float = 0.0


# --- helpers shared by back-ends ----------------------------------------------------------------


def minimum_should_match(spec: str | int | None, optional: int) -> int:
    """How many of ``optional`` clauses must match under an ES ``minimum_should_match`` spec.

    As in ES the result is not capped at ``optional``: asking for more clauses than there are
    matches nothing. A malformed spec is a 400 ``parsing_exception``.
    """
    if spec is None:
        return 0
    text = str(spec).strip()
    try:
        if "<" in text:
            # "3<90%": when there are more than 3 optional clauses apply 90%, else all of them.
            text = re.sub(r"\s*<\s*", "<", text)
            result = optional
            for part in text.split():
                bound, _, rule = part.partition("<")
                if optional > int(bound):
                    result = minimum_should_match(rule, optional)
            return result
        if text.endswith("%"):
            pct = float(text[:-1])
            n = int(optional * abs(pct) / 100)
            result = n if pct >= 0 else optional - n
        else:
            n = int(text)
            result = n if n >= 0 else optional + n
    except ValueError:
        raise ParsingError(f"failed to parse minimum_should_match [{spec}]") from None
    return max(0, result)


def fuzzy_distance(fuzziness: str | int | None, term: str) -> int:
    """Edit distance for ``fuzziness`` (``AUTO`` = 0 for 1-2 chars, 1 for 3-5, 2 beyond)."""
    if fuzziness is None:
        return 0
    text = str(fuzziness).upper()
    if text.startswith("AUTO"):
        low, high = 3, 6
        if ":" in text:
            try:
                lo_s, hi_s = text.split(":", 1)[1].split(",")
                low, high = int(lo_s), int(hi_s)
            except ValueError:
                raise ParsingError(
                    f"failed to find low and high distance values in [{fuzziness}]"
                ) from None
        n = len(term)
        return 0 if n < low else 1 if n < high else 2
    try:
        value = float(text)
    except ValueError:
        raise ParsingError(f"failed to parse fuzziness [{fuzziness}]") from None
    return max(0, min(2, int(value)))


# --- parsing ------------------------------------------------------------------------------------


def _single(name: str, body: Any) -> tuple[str, Any]:
    """ES single-field queries: ``{"term": {"field": value-or-object}}``."""
    if not isinstance(body, Mapping):
        raise ParsingError(f"[{name}] query malformed, no start_object after query name")
    keys = [k for k in body if k not in ("boost", "_name")]
    if not keys:
        raise ParsingError(f"[{name}] query malformed, no field specified")
    if len(keys) > 1:
        raise ParsingError(
            f"[{name}] query doesn't support multiple fields, found [{keys[0]}] and [{keys[1]}]"
        )
    return keys[0], body[keys[0]]


def _opts(name: str, value: Any, main: str, allowed: set[str]) -> dict[str, Any]:
    if isinstance(value, Mapping):
        for key in value:
            if key not in allowed and key not in ("boost", "_name"):
                raise ParsingError(f"[{name}] query does not support [{key}]")
        if main not in value:
            raise (
                ParsingError(f"[{name}] query malformed, missing [{main}]")
                if main != "value"
                else ParsingError(f"[{name}] query doesn't support the empty value")
            )
        return dict(value)
    return {main: value}


def _non_negative(name: str, key: str, value: Any, message: str) -> int:
    number = xcontent.as_int(name, key, value)
    if number < 0:
        raise IllegalArgumentError(message)
    return number


def _slop(name: str, value: Any) -> int:
    return _non_negative(name, "slop", value, "No negative slop allowed.")


def _prefix_length(name: str, value: Any) -> int:
    return _non_negative(
        name, "prefix_length", value, f"[{name}] requires prefix length to be non-negative."
    )


def _max_expansions(name: str, value: Any) -> int:
    number = xcontent.as_int(name, "max_expansions", value)
    if number <= 0:
        raise IllegalArgumentError(f"[{name}] requires maxExpansions to be positive.")
    return number


def _boost(opts: Mapping[str, Any]) -> float:
    value = opts.get("boost", 1.0)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ParsingError(f"[boost] failed to parse value [{value}]") from None


def _parse_term(body: Any) -> Query:
    fld, value = _single("term", body)
    opts = _opts("term", value, "value", {"value", "case_insensitive"})
    if isinstance(opts["value"], Mapping | list):
        raise ParsingError("[term] query does not support array of values")
    return Term(
        field=fld,
        value=opts["value"],
        boost=_boost(opts),
        case_insensitive=bool(opts.get("case_insensitive", False)),
    )


def _parse_terms(body: Any) -> Query:
    if not isinstance(body, Mapping):
        raise ParsingError("[terms] query malformed, no start_object after query name")
    boost = _boost(body)
    fields = [k for k in body if k not in ("boost", "_name")]
    if len(fields) != 1:
        raise ParsingError(
            "[terms] query does not support multiple fields"
            if fields
            else "[terms] query requires a field"
        )
    values = body[fields[0]]
    if not isinstance(values, list):
        raise ParsingError("[terms] query does not support [" + fields[0] + "]")
    return Terms(field=fields[0], values=tuple(values), boost=boost)


def _parse_match(body: Any) -> Query:
    fld, value = _single("match", body)
    opts = _opts(
        "match",
        value,
        "query",
        {
            "query",
            "operator",
            "minimum_should_match",
            "fuzziness",
            "prefix_length",
            "analyzer",
            "zero_terms_query",
            "lenient",
            "max_expansions",
            "fuzzy_transpositions",
            "auto_generate_synonyms_phrase_query",
            "cutoff_frequency",
        },
    )
    operator = str(opts.get("operator", "or")).lower()
    if operator not in ("or", "and"):
        raise ParsingError(f"[match] query does not support operator [{opts['operator']}]")
    return Match(
        field=fld,
        query=opts["query"],
        operator=operator,
        boost=_boost(opts),
        minimum_should_match=opts.get("minimum_should_match"),
        fuzziness=opts.get("fuzziness"),
        prefix_length=_prefix_length("match", opts.get("prefix_length", 0)),
        zero_terms_query=xcontent.as_str(
            "match", "zero_terms_query", opts.get("zero_terms_query", "none")
        ).lower(),
        lenient=xcontent.as_bool("match", "lenient", opts.get("lenient", False)),
    )


def _parse_match_bool_prefix(body: Any) -> Query:
    fld, value = _single("match_bool_prefix", body)
    opts = _opts(
        "match_bool_prefix",
        value,
        "query",
        {
            "query",
            "analyzer",
            "operator",
            "minimum_should_match",
            "fuzziness",
            "prefix_length",
            "max_expansions",
            "fuzzy_transpositions",
            "fuzzy_rewrite",
        },
    )
    operator = xcontent.as_str("match_bool_prefix", "operator", opts.get("operator", "or"))
    if operator.lower() not in ("or", "and"):
        raise IllegalArgumentError(f"No enum constant for operator [{operator}]")
    return MatchBoolPrefix(
        field=fld,
        query=opts["query"],
        operator=operator.lower(),
        boost=_boost(opts),
        minimum_should_match=opts.get("minimum_should_match"),
        fuzziness=opts.get("fuzziness"),
        prefix_length=_prefix_length("match_bool_prefix", opts.get("prefix_length", 0)),
    )


def _parse_phrase(name: str, prefix: bool) -> Callable[[Any], Query]:
    def parse(body: Any) -> Query:
        fld, value = _single(name, body)
        opts = _opts(
            name,
            value,
            "query",
            {"query", "slop", "analyzer", "max_expansions", "zero_terms_query"},
        )
        return MatchPhrase(
            field=fld,
            query=xcontent.as_str(name, "query", opts["query"]),
            slop=_slop(name, opts.get("slop", 0)),
            prefix=prefix,
            max_expansions=_max_expansions(name, opts.get("max_expansions", 50)),
            boost=_boost(opts),
        )

    return parse


def parse_field_boosts(fields: Any) -> tuple[tuple[str, float], ...]:
    if isinstance(fields, str):
        fields = [fields]
    out = []
    for item in xcontent.as_list("multi_match", "fields", fields or ["*"]):
        name, _, boost = xcontent.as_str("multi_match", "fields", item).partition("^")
        out.append((name, xcontent.as_float("multi_match", "fields", boost) if boost else 1.0))
    return tuple(out)


def _parse_multi_match(body: Any) -> Query:
    if not isinstance(body, Mapping) or "query" not in body:
        raise ParsingError("No text specified for multi_match query")
    allowed = {
        "query",
        "fields",
        "type",
        "operator",
        "minimum_should_match",
        "fuzziness",
        "slop",
        "tie_breaker",
        "lenient",
        "analyzer",
        "boost",
        "_name",
        "prefix_length",
        "max_expansions",
        "zero_terms_query",
        "auto_generate_synonyms_phrase_query",
    }
    for key in body:
        if key not in allowed:
            raise ParsingError(f"[multi_match] query does not support [{key}]")
    mtype = xcontent.as_str("multi_match", "type", body.get("type", "best_fields"))
    if mtype not in (
        "best_fields",
        "most_fields",
        "cross_fields",
        "phrase",
        "phrase_prefix",
        "bool_prefix",
    ):
        raise ParsingError(f"failed to parse [multi_match] query type [{mtype}]. unknown type.")
    return MultiMatch(
        query=body["query"],
        fields=parse_field_boosts(body.get("fields")),
        type=mtype,
        operator=xcontent.as_str("multi_match", "operator", body.get("operator", "or")).lower(),
        minimum_should_match=body.get("minimum_should_match"),
        fuzziness=body.get("fuzziness"),
        slop=_slop("multi_match", body.get("slop", 0)),
        tie_breaker=xcontent.as_float("multi_match", "tie_breaker", body.get("tie_breaker", 0.0)),
        lenient=xcontent.as_bool("multi_match", "lenient", body.get("lenient", False)),
        boost=_boost(body),
    )


def _parse_range(body: Any) -> Query:
    fld, value = _single("range", body)
    if not isinstance(value, Mapping):
        raise ParsingError("[range] query malformed, no start_object after query name")
    allowed = {
        "gt",
        "gte",
        "lt",
        "lte",
        "from",
        "to",
        "include_lower",
        "include_upper",
        "format",
        "time_zone",
        "relation",
    }
    for key, bound in value.items():
        if key not in allowed and key not in ("boost", "_name"):
            raise ParsingError(f"[range] query does not support [{key}]")
        if isinstance(bound, Mapping | list):
            raise xcontent.wrong_type("range", key, bound)
    gt, gte, lt, lte = value.get("gt"), value.get("gte"), value.get("lt"), value.get("lte")
    if "from" in value:
        if value.get("include_lower", True):
            gte = value["from"]
        else:
            gt = value["from"]
    if "to" in value:
        if value.get("include_upper", True):
            lte = value["to"]
        else:
            lt = value["to"]
    return Range(
        field=fld,
        gt=gt,
        gte=gte,
        lt=lt,
        lte=lte,
        format=None
        if value.get("format") is None
        else xcontent.as_str("range", "format", value["format"]),
        time_zone=None
        if value.get("time_zone") is None
        else xcontent.as_str("range", "time_zone", value["time_zone"]),
        boost=_boost(value),
    )


def _parse_exists(body: Any) -> Query:
    if not isinstance(body, Mapping) or "field" not in body:
        raise ParsingError("[exists] must be provided with a [field]")
    return Exists(field=str(body["field"]), boost=_boost(body))


def _parse_ids(body: Any) -> Query:
    if not isinstance(body, Mapping):
        raise ParsingError("[ids] query malformed, no start_object after query name")
    values = body.get("values", [])
    if not isinstance(values, list):
        raise ParsingError("[ids] query malformed, [values] must be an array")
    return Ids(values=tuple(str(v) for v in values), boost=_boost(body))


def _parse_pattern(
    name: str, cls: type[Prefix] | type[Wildcard] | type[Regexp]
) -> Callable[[Any], Query]:
    def parse(body: Any) -> Query:
        fld, value = _single(name, body)
        main = "value"
        if isinstance(value, Mapping) and "wildcard" in value and name == "wildcard":
            value = {**value, "value": value["wildcard"]}
            value.pop("wildcard")
        opts = _opts(
            name,
            value,
            main,
            {"value", "case_insensitive", "rewrite", "flags", "max_determinized_states"},
        )
        query = cls(
            field=fld,
            value=str(opts["value"]),
            boost=_boost(opts),
            case_insensitive=bool(opts.get("case_insensitive", False)),
        )
        if isinstance(query, Regexp) and "max_determinized_states" in opts:
            limit = opts["max_determinized_states"]
            bad = ParsingError(f"[{name}] failed to parse field [max_determinized_states]")
            if isinstance(limit, bool) or not isinstance(limit, (int, str)):
                raise bad
            try:
                limit = int(limit)
            except ValueError:
                raise bad from None
            query = Regexp(
                field=fld,
                value=query.value,
                boost=query.boost,
                case_insensitive=query.case_insensitive,
                max_determinized_states=limit,
            )
        return query

    return parse


def _parse_fuzzy(body: Any) -> Query:
    fld, value = _single("fuzzy", body)
    opts = _opts(
        "fuzzy",
        value,
        "value",
        {"value", "fuzziness", "prefix_length", "max_expansions", "transpositions", "rewrite"},
    )
    return Fuzzy(
        field=fld,
        value=opts["value"],
        fuzziness=opts.get("fuzziness", "AUTO"),
        prefix_length=_prefix_length("fuzzy", opts.get("prefix_length", 0)),
        transpositions=xcontent.as_bool(
            "fuzzy", "transpositions", opts.get("transpositions", True)
        ),
        boost=_boost(opts),
    )


def _clauses(name: str, value: Any) -> tuple[Query, ...]:
    if isinstance(value, Mapping):
        return (_parse(value),)
    if isinstance(value, list):
        return tuple(_parse(v) for v in value)
    raise ParsingError(f"[bool] query malformed, [{name}] must be an object or an array")


def _parse_bool(body: Any) -> Query:
    if not isinstance(body, Mapping):
        raise ParsingError("[bool] query malformed, no start_object after query name")
    parts: dict[str, tuple[Query, ...]] = {}
    for key, value in body.items():
        if key in ("must", "should", "must_not", "filter"):
            parts[key] = _clauses(key, value)
        elif key not in ("boost", "_name", "minimum_should_match", "adjust_pure_negative"):
            raise ParsingError(f"[bool] query does not support [{key}]")
    return Bool(
        must=parts.get("must", ()),
        should=parts.get("should", ()),
        must_not=parts.get("must_not", ()),
        filter=parts.get("filter", ()),
        minimum_should_match=body.get("minimum_should_match"),
        boost=_boost(body),
    )


def _parse_constant_score(body: Any) -> Query:
    if not isinstance(body, Mapping) or "filter" not in body:
        raise ParsingError("[constant_score] requires a 'filter' element")
    for key in body:
        if key not in ("filter", "boost", "_name"):
            raise ParsingError(f"[constant_score] query does not support [{key}]")
    return ConstantScore(filter=_parse(body["filter"]), boost=_boost(body))


def _parse_dis_max(body: Any) -> Query:
    if not isinstance(body, Mapping) or "queries" not in body:
        raise ParsingError("[dis_max] requires 'queries' field with at least one clause")
    return DisMax(
        queries=_clauses("queries", body["queries"]),
        tie_breaker=xcontent.as_float("dis_max", "tie_breaker", body.get("tie_breaker", 0.0)),
        boost=_boost(body),
    )


def _parse_query_string(body: Any) -> Query:
    from isthmus.search.query_string import parse_query_string

    if not isinstance(body, Mapping):
        raise ParsingError("[query_string] query malformed, no start_object after query name")
    return parse_query(parse_query_string(body))


def _parse_simple_query_string(body: Any) -> Query:
    from isthmus.search.query_string import parse_simple_query_string

    if not isinstance(body, Mapping):
        raise ParsingError(
            "[simple_query_string] query malformed, no start_object after query name"
        )
    return parse_query(parse_simple_query_string(body))


def _parse_geo(name: str) -> Callable[[Any], Query]:
    def parse(body: Any) -> Query:
        from isthmus.search import geo_queries

        if name == "geo_distance":
            return geo_queries.parse_geo_distance(body)
        return geo_queries.parse_geo_bounding_box(body)

    return parse


def _parse_nested(body: Any) -> Query:
    from isthmus.search import nested

    return nested.parse_nested(body)


def _parse_knn(body: Any) -> Query:
    from isthmus.search import knn

    return knn.parse_knn_query(body)


def _parse_match_all(body: Any) -> Query:
    return MatchAll(boost=_boost(body) if isinstance(body, Mapping) else 1.0)


def _parse_match_none(body: Any) -> Query:
    return MatchNone()


PARSERS: dict[str, Callable[[Any], Query]] = {
    "match_all": _parse_match_all,
    "match_none": _parse_match_none,
    "term": _parse_term,
    "terms": _parse_terms,
    "match": _parse_match,
    "match_phrase": _parse_phrase("match_phrase", prefix=False),
    "match_phrase_prefix": _parse_phrase("match_phrase_prefix", prefix=True),
    "match_bool_prefix": _parse_match_bool_prefix,
    "multi_match": _parse_multi_match,
    "range": _parse_range,
    "exists": _parse_exists,
    "ids": _parse_ids,
    "prefix": _parse_pattern("prefix", Prefix),
    "wildcard": _parse_pattern("wildcard", Wildcard),
    "regexp": _parse_pattern("regexp", Regexp),
    "fuzzy": _parse_fuzzy,
    "bool": _parse_bool,
    "constant_score": _parse_constant_score,
    "dis_max": _parse_dis_max,
    "query_string": _parse_query_string,
    "simple_query_string": _parse_simple_query_string,
    "geo_distance": _parse_geo("geo_distance"),
    "geo_bounding_box": _parse_geo("geo_bounding_box"),
    "nested": _parse_nested,
    "knn": _parse_knn,
}


def _check_depth(body: Any) -> None:
    """Refuse a tree of query objects nested deeper than :data:`MAX_NESTED_DEPTH` (walked with
    an explicit stack: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Mapping) or len(node) != 1:
            continue  # malformed: the parser names the fault
        ((name, inner),) = node.items()
        keys = _SUBQUERY_KEYS.get(name)
        if keys is None or not isinstance(inner, Mapping):
            continue
        for key in keys:
            child = inner.get(key)
            for sub in child if isinstance(child, list) else [child]:
                if isinstance(sub, Mapping) and sub:
                    if depth + 1 > MAX_NESTED_DEPTH:
                        raise XContentParseError(
                            f"[{name}] failed to parse field [{key}]",
                            caused_by=IllegalArgumentError(
                                "The nested depth of the query exceeds the maximum nested depth"
                                " for queries set in [indices.query.bool.max_nested_depth]"
                            ),
                        )
                    stack.append((sub, depth + 1))


def parse_query(body: Any) -> Query:
    """Parse one query object (``{"match": {...}}``) into the typed tree."""
    _check_depth(body)
    return _parse(body)


def _parse(body: Any) -> Query:
    if not isinstance(body, Mapping):
        raise ParsingError("query malformed, must start with start_object")
    if len(body) != 1:
        if not body:
            raise ParsingError("query malformed, empty clause found")
        names = list(body)
        raise ParsingError(
            f"[{names[0]}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]"
        )
    ((name, inner),) = body.items()
    parser = PARSERS.get(name)
    if parser is None:
        raise ParsingError(f"unknown query [{name}]{xcontent.did_you_mean(name, PARSERS)}")
    # Each parser reads its options through typed readers (ES's x-content errors): no Python
    # exception is turned into a 400 here, so a bug in a parser stays a logged 500.
    query = parser(inner)
    name = _query_name(inner)
    return query if name is None else replace(query, name=name)


def _query_name(inner: Any) -> str | None:
    """A query's ``_name``: among its options, or for a query on one field (``{"term": {"f":
    {"value": 1, "_name": "n"}}}``) among that field's options."""
    if not isinstance(inner, Mapping):
        return None
    raw = inner.get("_name")
    if raw is None and len(inner) == 1:
        (options,) = inner.values()
        raw = options.get("_name") if isinstance(options, Mapping) else None
    return None if raw is None else xcontent.as_str("query", "_name", raw)


def named_queries(query: Query | None) -> list[Query]:
    """Every query in the tree with a ``_name``, in tree order."""
    out: list[Query] = []
    stack: list[Any] = [query]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            stack.extend(reversed(node))
        elif isinstance(node, Query):
            if node.name is not None:
                out.append(node)
            stack.extend(
                reversed([getattr(node, f.name) for f in fields(node) if f.name != "name"])
            )
    return out
