"""Lucene query syntax → Elasticsearch query DSL, for ``query_string`` and ``simple_query_string``.

[no I/O] This module owns the public entry points, reading the query body's options and the
builders of the plain query DSL the engine already runs: ``bool``, ``match``, ``match_phrase``,
``multi_match``, ``range``, ``prefix``, ``wildcard``, ``regexp``, ``exists`` and ``match_all``. The
text itself is read elsewhere: ``lucene_syntax`` tokenizes and parses ``query_string``,
``simple_query_syntax`` scans ``simple_query_string``; both build their output with this module's
builders. It knows no mappings, so:

* field names in the output may be patterns (``title*``, ``*``); the engine expands them, as it
  does for ``multi_match``;
* words become ``match``/``multi_match`` and are analysed by the engine, as ES analyses them;
* prefix and wildcard terms holding capitals are marked ``case_insensitive``: ES runs them through
  the field's normalizer, which lower-cases text fields, and the index holds no capitals there.

``query_string`` follows Lucene's classic parser, operator rules included: AND, OR and NOT build no
precedence tree but mark neighbouring clauses required, optional or prohibited, so ``a OR b AND c``
means ``a +b +c`` (ES documents this and advises parentheses). ``simple_query_string`` follows
Lucene's simple parser, whose operators do nest left to right, and never fails on syntax.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, ParsingError, QueryParseError, QueryShardError

Query = dict[str, Any]
Fields = tuple[tuple[str, float], ...]  # (name or pattern, boost)


MAX_DEPTH = 64  # nested groups; deeper input is refused rather than exhausting the stack
# Query types whose parameters sit under the field name rather than beside it.
_FIELD_KEYED = {"match", "match_phrase", "term", "prefix", "wildcard", "regexp", "fuzzy", "range"}
_COMMON_KEYS = {"query", "fields", "default_operator", "analyzer", "lenient", "boost", "_name"}
_COMMON_KEYS |= {"analyze_wildcard", "auto_generate_synonyms_phrase_query", "quote_field_suffix"}
_COMMON_KEYS |= {"minimum_should_match", "fuzzy_prefix_length", "fuzzy_max_expansions"}
_COMMON_KEYS |= {"fuzzy_transpositions"}
_QS_KEYS = _COMMON_KEYS | {"default_field", "quote_analyzer", "allow_leading_wildcard", "type"}
_QS_KEYS |= {"enable_position_increments", "fuzziness", "fuzzy_rewrite", "phrase_slop", "escape"}
_QS_KEYS |= {"tie_breaker", "rewrite", "time_zone", "max_determinized_states"}
_SQS_KEYS = _COMMON_KEYS | {"flags"}
# The body's fuzzy knobs, renamed to the keys match and multi_match take (``fuzzy_rewrite`` only
# changes scoring internals and is accepted but not passed on).
_FUZZY_KEYS = {"fuzzy_prefix_length": "prefix_length", "fuzzy_max_expansions": "max_expansions"}
_FUZZY_KEYS |= {"fuzzy_transpositions": "fuzzy_transpositions"}


@dataclass(frozen=True)
class Options:
    """A body's options, read once; both parsers build their output from them."""

    fields: Fields  # the default target of words without ``field:``
    range_ops: bool  # ``>5``/``<=5`` words become ranges (only with a single default_field)
    operator: str  # "or" | "and"
    fuzziness: Any
    phrase_slop: int
    time_zone: str | None
    leading_wildcard: bool
    lenient: bool | None
    multi: Mapping[str, Any]  # multi_match ``type`` / ``tie_breaker``
    fuzzy: Mapping[str, Any]  # fuzzy knobs, named as match/multi_match take them


def parse_query_string(body: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite a ``query_string`` body into equivalent query DSL; bad syntax raises ES's 400."""
    # Imported on use: the parsers import this module's builders, so a top-level import cycles.
    from isthmus.search.lucene_syntax import ClassicParser, LuceneSyntaxError

    opts, text = _options("query_string", body, _QS_KEYS)
    if body.get("escape"):
        text = re.sub(r'([\\+\-!():^\[\]"{}~*?|&/])', r"\\\1", text)
    query: Query | None = None
    if text.strip():
        try:
            query = ClassicParser(text, opts).parse()
        except LuceneSyntaxError as exc:
            cause = QueryParseError(str(exc))
            detail = QueryParseError(f"Cannot parse '{text}': {exc}", caused_by=cause)
            raise QueryShardError(f"Failed to parse query [{text}]", caused_by=detail) from None
    return _finish("query_string", query, body)


def parse_simple_query_string(body: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite a ``simple_query_string`` body; its syntax never fails, only a bad body does."""
    from isthmus.search.simple_query_syntax import SimpleParser, simple_flags

    opts, text = _options("simple_query_string", body, _SQS_KEYS)
    flags = simple_flags(body.get("flags"))
    query = match_all() if text.strip() == "*" else SimpleParser(text, opts, flags).parse()
    return _finish("simple_query_string", query, body)


# --- options and output ---------------------------------------------------------------------------


def _options(kind: str, body: Mapping[str, Any], allowed: set[str]) -> tuple[Options, str]:
    for key in body:
        if key not in allowed:
            unsupported = ParsingError(f"[{kind}] query does not support [{key}]")
            raise xcontent.at(unsupported, kind, key, at_value=True)
    text = body.get("query")
    if text is None:
        raise ParsingError(
            f"[{kind}] must be provided with a [query]"
            if kind == "query_string"
            else f"[{kind}] query text missing"
        )
    if isinstance(text, bool):
        text = str(text).lower()
    elif isinstance(text, int | float):
        text = str(text)
    elif not isinstance(text, str):
        token = "START_ARRAY" if isinstance(text, list) else "START_OBJECT"
        raise ParsingError(f"[{kind}] unknown token [{token}] after [query]")
    default_field, fields = body.get("default_field"), body.get("fields")
    if isinstance(fields, str):
        fields = [fields]
    if default_field is not None and fields:
        raise QueryShardError(
            f"failed to create query: Validation Failed: 1: [{kind}] cannot use [fields] "
            "parameter in conjunction with [default_field]"
        )
    specs = [str(f) for f in fields] if fields else [str(default_field or "*")]
    target = tuple(_split_boost(spec) for spec in specs)
    operator = str(body.get("default_operator", "or")).lower()
    if operator not in ("or", "and"):
        raise IllegalArgumentError(
            f"No enum constant org.elasticsearch.index.query.Operator.{operator.upper()}"
        )
    lenient = body.get("lenient")
    if lenient is None and target == (("*", 1.0),):
        lenient = True  # ES searches all fields leniently unless told otherwise
    opts = Options(
        fields=target,
        range_ops=default_field is not None and default_field != "*",
        operator=operator,
        fuzziness=body.get("fuzziness", "AUTO"),
        phrase_slop=int(_option_number(kind, body, "phrase_slop", 0)),
        time_zone=body.get("time_zone"),
        leading_wildcard=bool(body.get("allow_leading_wildcard", True)),
        lenient=None if lenient is None else bool(lenient),
        multi={k: body[k] for k in ("type", "tie_breaker") if k in body},
        fuzzy={v: body[k] for k, v in _FUZZY_KEYS.items() if k in body},
    )
    return opts, text


def _split_boost(spec: str) -> tuple[str, float]:
    name, sep, boost = spec.rpartition("^")
    if not sep:
        return spec, 1.0
    try:
        return name, float(boost)
    except ValueError:
        raise IllegalArgumentError(f"failed to parse field boost [{spec}]") from None


def _option_number(kind: str, body: Mapping[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParsingError(f"[{kind}] failed to parse [{key}] value [{value}] as a number")
    return float(value)


def _finish(kind: str, query: Query | None, body: Mapping[str, Any]) -> Query:
    """Apply the body-level ``minimum_should_match``, ``boost`` and ``_name`` to the result."""
    out = query if query is not None else match_none()
    msm = body.get("minimum_should_match")
    top = next(iter(out))
    if msm is not None and (top in ("match", "multi_match") or "should" in out.get("bool", ())):
        out = _param(out, "minimum_should_match", lambda _: msm)
    if body.get("boost") is not None:
        out = _param(
            out, "boost", lambda old: (old or 1.0) * _option_number(kind, body, "boost", 1)
        )
    if body.get("_name") is not None:
        out = _param(out, "_name", lambda _: body["_name"])
    return out


def match_all() -> Query:
    """Every document."""
    return {"match_all": {}}


def match_none() -> Query:
    """No document: the result of text that yields no clause."""
    return {"bool": {"must_not": [{"match_all": {}}]}}


def _param(query: Query, key: str, update: Callable[[Any], Any]) -> Query:
    """A copy of ``query`` with ``key`` set where its type keeps parameters."""
    ((kind, inner),) = query.items()
    if kind in _FIELD_KEYED:
        ((name, params),) = inner.items()
        return {kind: {name: {**params, key: update(params.get(key))}}}
    return {kind: {**inner, key: update(inner.get(key))}}


def boosted(query: Query | None, boost: float | None) -> Query | None:
    """``query`` with its boost multiplied by ``boost`` (``None`` and 1 leave it as is)."""
    if query is None or boost is None or boost == 1.0:
        return query
    return _param(query, "boost", lambda old: (1.0 if old is None else old) * boost)


def _field_list(fields: Fields) -> list[str]:
    return [name if boost == 1.0 else f"{name}^{boost:g}" for name, boost in fields]


def _plain(fields: Fields) -> bool:
    return len(fields) == 1 and fields[0][1] == 1.0 and "*" not in fields[0][0]


def _per_field(fields: Fields, make: Callable[[str], Query]) -> Query:
    """One term-level query per field, ORed: ES's per-field expansion without the dis_max."""
    parts = [q for name, boost in fields if (q := boosted(make(name), boost)) is not None]
    return parts[0] if len(parts) == 1 else {"bool": {"should": parts}}


def words_query(opts: Options, fields: Fields, text: str, fuzziness: Any = None) -> Query:
    """Words for the engine to analyse: ``match`` on one plain field, else ``multi_match``."""
    params: dict[str, Any] = {"operator": "and"} if opts.operator == "and" else {}
    if fuzziness is not None:
        params = {**params, "fuzziness": fuzziness, **opts.fuzzy}
    if opts.lenient is not None:
        params["lenient"] = opts.lenient
    if _plain(fields):
        return {"match": {fields[0][0]: {"query": text, **params}}}
    params.pop("fuzzy_transpositions", None)  # a match-only knob
    multi = {"type": "best_fields", **opts.multi}
    return {"multi_match": {"query": text, "fields": _field_list(fields), **multi, **params}}


def phrase_query(opts: Options, fields: Fields, text: str, slop: int) -> Query:
    """A phrase: ``match_phrase`` on one plain field, else a ``phrase`` ``multi_match``."""
    params: dict[str, Any] = {"slop": slop} if slop else {}
    if _plain(fields):
        return {"match_phrase": {fields[0][0]: {"query": text, **params}}}
    if opts.lenient is not None:
        params["lenient"] = opts.lenient
    return {
        "multi_match": {"query": text, "fields": _field_list(fields), "type": "phrase", **params}
    }


def pattern_query(kind: str, fields: Fields, value: str) -> Query:
    """A ``prefix``, ``wildcard`` or ``regexp`` query on each field."""
    params: dict[str, Any] = {"value": value}
    if kind != "regexp" and value != value.lower():
        params["case_insensitive"] = True
    return _per_field(fields, lambda name: {kind: {name: dict(params)}})


def exists_query(fields: Fields) -> Query:
    """Any value in any of ``fields``."""
    return _per_field(fields, lambda name: {"exists": {"field": name}})


def range_query(opts: Options, fields: Fields, bounds: dict[str, str | None]) -> Query:
    """A ``range`` on each field; ``None`` bounds are open."""
    params: dict[str, Any] = {k: v for k, v in bounds.items() if v is not None}
    if not params:
        return exists_query(fields)  # ``[* TO *]``: any value at all
    if opts.time_zone is not None:
        params["time_zone"] = opts.time_zone
    return _per_field(fields, lambda name: {"range": {name: dict(params)}})


def unescape(text: str) -> str:
    """Lucene's escapes: ``\\x`` is ``x``, ``\\uXXXX`` a code point."""
    return re.sub(
        r"\\(u[0-9a-fA-F]{4}|.)",
        lambda m: chr(int(m[1][1:], 16)) if len(m[1]) == 5 else m[1],
        text,
        flags=re.S,
    )


__all__ = ["QueryParseError", "parse_query_string", "parse_simple_query_string"]
