"""Term-level query parsers: ``term``, ``terms``, ``range``, ``exists``, ``ids``,
``prefix``, ``wildcard``, ``regexp`` and ``fuzzy``.  [no I/O]

Each parser turns the JSON under the query's name into a node of ``search.query_tree``, with
Elasticsearch's error messages; ``search.dsl`` dispatches to them by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from isthmus import xcontent
from isthmus.errors import ParsingError
from isthmus.search.query_options import _boost, _opts, _prefix_length, _single
from isthmus.search.query_tree import (
    Exists,
    Fuzzy,
    Ids,
    Prefix,
    Query,
    Range,
    Regexp,
    Term,
    Terms,
    Wildcard,
)


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
            unsupported = ParsingError(f"[range] query does not support [{key}]")
            raise xcontent.at(unsupported, "range", "*", key, at_value=True)
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
