"""Query DSL: JSON bodies parsed into a typed query tree.  [no I/O]

Every query a request names is parsed and validated here, once, with Elasticsearch's error
messages. Back-ends walk the tree: ``search.translate`` turns it into tantivy queries and
``search.evaluate`` matches it against one document in memory (filter aggregations, oracles).
``query_string`` and ``simple_query_string`` are rewritten into ordinary DSL first.

This module dispatches by query name, guards the nesting depth and parses the compound
queries (which recurse); the tree's types are in ``query_tree``, the option readers in
``query_options``, the leaf parsers in ``full_text_queries`` and ``term_level_queries``.
Callers reach all of them through this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, IsthmusError, ParsingError, XContentParseError
from isthmus.search.full_text_queries import (
    _parse_match,
    _parse_match_bool_prefix,
    _parse_multi_match,
    _parse_phrase,
)
from isthmus.search.full_text_queries import parse_field_boosts as parse_field_boosts
from isthmus.search.query_options import _boost
from isthmus.search.query_options import fuzzy_distance as fuzzy_distance
from isthmus.search.query_options import minimum_should_match as minimum_should_match
from isthmus.search.query_tree import Bool as Bool
from isthmus.search.query_tree import ConstantScore as ConstantScore
from isthmus.search.query_tree import DisMax as DisMax
from isthmus.search.query_tree import Exists as Exists
from isthmus.search.query_tree import Fuzzy as Fuzzy
from isthmus.search.query_tree import Ids as Ids
from isthmus.search.query_tree import Match as Match
from isthmus.search.query_tree import MatchAll as MatchAll
from isthmus.search.query_tree import MatchBoolPrefix as MatchBoolPrefix
from isthmus.search.query_tree import MatchNone as MatchNone
from isthmus.search.query_tree import MatchPhrase as MatchPhrase
from isthmus.search.query_tree import MultiMatch as MultiMatch
from isthmus.search.query_tree import Prefix as Prefix
from isthmus.search.query_tree import Query as Query
from isthmus.search.query_tree import Range as Range
from isthmus.search.query_tree import Regexp as Regexp
from isthmus.search.query_tree import Term as Term
from isthmus.search.query_tree import Terms as Terms
from isthmus.search.query_tree import Wildcard as Wildcard
from isthmus.search.query_tree import named_queries as named_queries
from isthmus.search.term_level_queries import (
    _parse_exists,
    _parse_fuzzy,
    _parse_ids,
    _parse_pattern,
    _parse_range,
    _parse_term,
    _parse_terms,
)

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


def _clauses(name: str, value: Any) -> tuple[Query, ...]:
    if not isinstance(value, Mapping | list):
        raise ParsingError(f"[bool] query malformed, [{name}] must be an object or an array")
    try:
        return (_parse(value),) if isinstance(value, Mapping) else tuple(_parse(v) for v in value)
    except IsthmusError as exc:
        # ES's ObjectParser wraps whatever a field's parser throws; the REST error still shows
        # the innermost parse error as its root cause.
        raise xcontent.failed_field_at("bool", name, exc) from None


_BOOL_FIELDS = (
    "must",
    "should",
    "must_not",
    "mustNot",
    "filter",
    "adjust_pure_negative",
    "minimum_should_match",
    "_name",
    "boost",
)


def _parse_bool(body: Any) -> Query:
    if not isinstance(body, Mapping):
        raise ParsingError("[bool] query malformed, no start_object after query name")
    parts: dict[str, tuple[Query, ...]] = {}
    for key, value in body.items():
        if key in ("must", "should", "must_not", "mustNot", "filter"):
            clause = "must_not" if key == "mustNot" else key  # ES's deprecated name for it
            parts[clause] = parts.get(clause, ()) + _clauses(key, value)
        elif key not in _BOOL_FIELDS:
            # ES 8 reads bool with an ObjectParser (its declared names, mustNot deprecated).
            raise xcontent.unknown_field("bool", key, _BOOL_FIELDS, parent="bool")
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
            raise xcontent.at(
                ParsingError(f"[constant_score] query does not support [{key}]"),
                "constant_score",
                key,
                at_value=True,
            )
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
        unknown = ParsingError(f"unknown query [{name}]{xcontent.did_you_mean(name, PARSERS)}")
        raise xcontent.at(unknown, name, at_value=True)
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
