"""Full-text query parsers: ``match``, ``match_bool_prefix``, ``match_phrase``,
``match_phrase_prefix`` and ``multi_match``.  [no I/O]

Each parser turns the JSON under the query's name into a node of ``search.query_tree``, with
Elasticsearch's error messages; ``search.dsl`` dispatches to them by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, ParsingError
from isthmus.search.query_options import (
    _boost,
    _max_expansions,
    _opts,
    _prefix_length,
    _single,
    _slop,
)
from isthmus.search.query_tree import Match, MatchBoolPrefix, MatchPhrase, MultiMatch, Query


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
            unsupported = ParsingError(f"[multi_match] query does not support [{key}]")
            raise xcontent.at(unsupported, "multi_match", key, at_value=True)
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
