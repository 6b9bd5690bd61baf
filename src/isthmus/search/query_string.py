"""Lucene query syntax → Elasticsearch query DSL, for ``query_string`` and ``simple_query_string``.

[no I/O] This module owns reading the text of those two queries and rewriting it into plain query
DSL the engine already runs: ``bool``, ``match``, ``match_phrase``, ``multi_match``, ``range``,
``prefix``, ``wildcard``, ``regexp``, ``exists`` and ``match_all``. It knows no mappings, so:

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

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from isthmus.errors import IllegalArgumentError, IsthmusError, ParsingError, QueryShardError

Query = dict[str, Any]
Fields = tuple[tuple[str, float], ...]  # (name or pattern, boost)


class QueryParseError(IsthmusError):
    """ES's ``parse_exception``: query text that is not valid Lucene syntax."""

    es_type = "parse_exception"
    status = 400
    is_es = False  # Lucene's ParseException: never a root cause beneath ES's own exception


class _SyntaxError(Exception):
    """Raised inside the classic parser; translated once, at the edge, into ES's error chain."""


_MAX_DEPTH = 64  # nested groups; deeper input is refused rather than exhausting the stack
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
class _Options:
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
    opts, text = _options("query_string", body, _QS_KEYS)
    if body.get("escape"):
        text = re.sub(r'([\\+\-!():^\[\]"{}~*?|&/])', r"\\\1", text)
    query: Query | None = None
    if text.strip():
        try:
            query = _Classic(text, opts).parse()
        except _SyntaxError as exc:
            cause = QueryParseError(str(exc))
            detail = QueryParseError(f"Cannot parse '{text}': {exc}", caused_by=cause)
            raise QueryShardError(f"Failed to parse query [{text}]", caused_by=detail) from None
    return _finish("query_string", query, body)


def parse_simple_query_string(body: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite a ``simple_query_string`` body; its syntax never fails, only a bad body does."""
    opts, text = _options("simple_query_string", body, _SQS_KEYS)
    flags = _simple_flags(body.get("flags"))
    query = _match_all() if text.strip() == "*" else _Simple(text, opts, flags).parse()
    return _finish("simple_query_string", query, body)


# --- options and output ---------------------------------------------------------------------------


def _options(kind: str, body: Mapping[str, Any], allowed: set[str]) -> tuple[_Options, str]:
    for key in body:
        if key not in allowed:
            raise ParsingError(f"[{kind}] query does not support [{key}]")
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
    opts = _Options(
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
    out = query if query is not None else _match_none()
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


def _match_all() -> Query:
    return {"match_all": {}}


def _match_none() -> Query:
    return {"bool": {"must_not": [{"match_all": {}}]}}


def _param(query: Query, key: str, update: Callable[[Any], Any]) -> Query:
    """A copy of ``query`` with ``key`` set where its type keeps parameters."""
    ((kind, inner),) = query.items()
    if kind in _FIELD_KEYED:
        ((name, params),) = inner.items()
        return {kind: {name: {**params, key: update(params.get(key))}}}
    return {kind: {**inner, key: update(inner.get(key))}}


def _boosted(query: Query | None, boost: float | None) -> Query | None:
    if query is None or boost is None or boost == 1.0:
        return query
    return _param(query, "boost", lambda old: (1.0 if old is None else old) * boost)


def _field_list(fields: Fields) -> list[str]:
    return [name if boost == 1.0 else f"{name}^{boost:g}" for name, boost in fields]


def _plain(fields: Fields) -> bool:
    return len(fields) == 1 and fields[0][1] == 1.0 and "*" not in fields[0][0]


def _per_field(fields: Fields, make: Callable[[str], Query]) -> Query:
    """One term-level query per field, ORed: ES's per-field expansion without the dis_max."""
    parts = [q for name, boost in fields if (q := _boosted(make(name), boost)) is not None]
    return parts[0] if len(parts) == 1 else {"bool": {"should": parts}}


def _words(opts: _Options, fields: Fields, text: str, fuzziness: Any = None) -> Query:
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


def _phrase(opts: _Options, fields: Fields, text: str, slop: int) -> Query:
    params: dict[str, Any] = {"slop": slop} if slop else {}
    if _plain(fields):
        return {"match_phrase": {fields[0][0]: {"query": text, **params}}}
    if opts.lenient is not None:
        params["lenient"] = opts.lenient
    return {
        "multi_match": {"query": text, "fields": _field_list(fields), "type": "phrase", **params}
    }


def _pattern(kind: str, fields: Fields, value: str) -> Query:
    params: dict[str, Any] = {"value": value}
    if kind != "regexp" and value != value.lower():
        params["case_insensitive"] = True
    return _per_field(fields, lambda name: {kind: {name: dict(params)}})


def _exists(fields: Fields) -> Query:
    return _per_field(fields, lambda name: {"exists": {"field": name}})


def _range(opts: _Options, fields: Fields, bounds: dict[str, str | None]) -> Query:
    params: dict[str, Any] = {k: v for k, v in bounds.items() if v is not None}
    if not params:
        return _exists(fields)  # ``[* TO *]``: any value at all
    if opts.time_zone is not None:
        params["time_zone"] = opts.time_zone
    return _per_field(fields, lambda name: {"range": {name: dict(params)}})


def _unescape(text: str) -> str:
    """Lucene's escapes: ``\\x`` is ``x``, ``\\uXXXX`` a code point."""
    return re.sub(
        r"\\(u[0-9a-fA-F]{4}|.)",
        lambda m: chr(int(m[1][1:], 16)) if len(m[1]) == 5 else m[1],
        text,
        flags=re.S,
    )


# --- query_string: tokens -------------------------------------------------------------------------


class _Tok(NamedTuple):
    kind: str  # punctuation kinds are the punctuation itself; the rest are Lucene's names
    image: str
    pos: int


_WS = frozenset(" \t\n\r\u3000")
_NOT_TERM_START = _WS | frozenset('+-!():^[]"{}~*?\\/')
_WORD_OPS = {"AND": "AND", "&&": "AND", "OR": "OR", "||": "OR", "NOT": "NOT"}
_WORD_KINDS = {"QUOTED", "TERM", "*", "PREFIXTERM", "WILDTERM", "REGEXPTERM", "BAREOPER"}
_BOOST = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def _lexical(text: str, pos: int, start: int) -> _SyntaxError:
    # Lucene's char stream numbers every position on line 1; lexical errors count from 1.
    seen = "<EOF> " if pos >= len(text) else f'"{text[pos]}" ({ord(text[pos])}), '
    after = text[start:pos].replace("\\", "\\\\").replace('"', '\\"')
    where = f"line 1, column {pos + 1}"
    return _SyntaxError(f'Lexical error at {where}.  Encountered: {seen}after : "{after}"')


def _lex(text: str) -> list[_Tok]:
    """All tokens of ``text``; ``^`` and ``[``/``{`` switch lexical state as in Lucene's grammar."""
    toks: list[_Tok] = []
    i, n, state = 0, len(text), "default"
    while True:
        while i < n and text[i] in _WS:
            i += 1
        if i >= n:
            toks.append(_Tok("EOF", "", n))
            return toks
        c, start = text[i], i
        if state == "boost":
            m = _BOOST.match(text, i)
            if m is None:
                raise _lexical(text, i, i)
            toks.append(_Tok("NUMBER", m[0], i))
            i, state = m.end(), "default"
        elif state == "range":
            if c in "]}":
                toks.append(_Tok(c, c, i))
                i, state = i + 1, "default"
                continue
            j = i
            while j < n and text[j] not in _WS and text[j] not in "]}":
                j += 1
            q = _quoted_end(text, i, allow_empty=False) if c == '"' else -1
            kind = "RANGE_QUOTED" if q >= j else "TO" if text[i:j] == "TO" else "RANGE_GOOP"
            i = max(q, j)
            toks.append(_Tok(kind, text[start:i], start))
        elif c in "+-!" and i + 1 < n and text[i + 1] in _WS:
            toks.append(_Tok("BAREOPER", c, i))
            i += 2
        elif c in "+-()[{:^":
            toks.append(_Tok(c, c, i))
            state = {"^": "boost", "[": "range", "{": "range"}.get(c, state)
            i += 1
        elif c == "!":
            toks.append(_Tok("NOT", c, i))
            i += 1
        elif c == '"':
            i = _quoted_end(text, i, allow_empty=True)
            if i < 0:
                raise _lexical(text, n, start)
            toks.append(_Tok("QUOTED", text[start:i], start))
        elif c == "/":
            i = _regex_end(text, i)
            if i < 0:
                raise _lexical(text, n, start)
            toks.append(_Tok("REGEXPTERM", text[start:i], start))
        elif c == "~":
            i = _word_end(text, i + 1, first=False, wild=False)
            toks.append(_Tok("FUZZY_SLOP", text[start:i], start))
        elif c in _NOT_TERM_START and c not in "*?\\":
            raise _lexical(text, i, i)
        else:
            toks.append(_word(text, i))
            i += len(toks[-1].image)


def _word_end(text: str, i: int, *, first: bool, wild: bool) -> int:
    """End of a run of term characters from ``i`` (``+``/``-`` only after the first one)."""
    n, start = len(text), i
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                raise _lexical(text, n, start)
            i += 2
        elif (
            c not in _NOT_TERM_START
            or (wild and c in "*?")
            or (c in "+-" and (i > start or not first))
        ):
            i += 1
        else:
            break
    return i


def _word(text: str, i: int) -> _Tok:
    """The longest of TERM, PREFIXTERM and WILDTERM at ``i``, ties going to the earlier kind."""
    whole = _word_end(text, i, first=True, wild=True)
    term = i if text[i] in "*?" else _word_end(text, i, first=True, wild=False)
    image = text[i:whole]
    if image in _WORD_OPS:
        return _Tok(_WORD_OPS[image], image, i)
    if image == "*":
        return _Tok("*", image, i)
    if whole == term:
        return _Tok("TERM", image, i)
    prefix = term > i and whole == term + 1 and text[term] == "*"
    return _Tok("PREFIXTERM" if prefix else "WILDTERM", image, i)


def _quoted_end(text: str, i: int, *, allow_empty: bool) -> int:
    """Index after the closing quote of the quoted text opening at ``i``, or -1."""
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == '"':
            return j + 1 if allow_empty or j > i + 1 else -1
        else:
            j += 1
    return -1


def _regex_end(text: str, i: int) -> int:
    """Index after the ``/`` closing the regex opened at ``i`` (``\\/`` does not close), or -1."""
    j, fallback = i + 1, -1
    while j < len(text):
        if text.startswith("\\/", j):
            fallback, j = j + 2, j + 2
        elif text[j] == "/":
            return j + 1
        else:
            j += 1
    return fallback  # the longest match may end on the slash of a trailing ``\/``


# --- query_string: grammar ------------------------------------------------------------------------


class _Classic:
    """Recursive descent over Lucene's classic grammar; one instance parses one text."""

    def __init__(self, text: str, opts: _Options) -> None:
        self.text, self.opts = text, opts
        self.toks = _lex(text)
        self.i = 0

    def parse(self) -> Query | None:
        query = self._query(None, 0)
        self._expect("EOF")
        return query

    def _peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def _take(self) -> _Tok:
        tok = self._peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def _expect(self, kind: str) -> _Tok:
        if self._peek().kind != kind:
            raise self._unexpected()
        return self._take()

    def _unexpected(self) -> _SyntaxError:
        tok = self._peek()
        where = f"line 1, column {tok.pos}"  # Lucene's char stream: one line, 0-based columns
        if tok.kind == "EOF":
            return _SyntaxError(f'Encountered "<EOF>" at {where}.')
        label = f'"{tok.kind}"' if len(tok.kind) == 1 or tok.kind == "TO" else f"<{tok.kind}>"
        return _SyntaxError(f'Encountered " {label} "{tok.image} "" at {where}.')

    def _query(self, field: str | None, depth: int) -> Query | None:
        clauses: list[tuple[str, Query]] = []
        conj, first = "", None
        while True:
            mods = self._take().kind if self._peek().kind in ("+", "-", "NOT") else ""
            query = self._clause(field, depth)
            if not conj and not mods:
                first = query
            _add_clause(clauses, conj, mods, query, self.opts.operator)
            if self._peek().kind in ("EOF", ")"):
                break
            conj = self._take().kind if self._peek().kind in ("AND", "OR") else "NONE"
        if len(clauses) == 1 and first is not None:
            return first
        if not clauses:
            return None
        grouped: dict[str, list[Query]] = {"must": [], "should": [], "must_not": []}
        for occur, query in clauses:
            grouped[occur].append(query)
        return {"bool": {k: v for k, v in grouped.items() if v}}

    def _clause(self, field: str | None, depth: int) -> Query | None:
        tok = self._peek()
        if tok.kind in ("TERM", "*") and self._peek(1).kind == ":":
            self.i += 2
            field = "*" if tok.kind == "*" else _unescape(tok.image)
        if self._peek().kind != "(":
            return self._term(field)
        if depth >= _MAX_DEPTH:
            raise _SyntaxError(f"Query nests more than {_MAX_DEPTH} groups.")
        self._take()
        query = self._query(field, depth + 1)
        self._expect(")")
        return _boosted(query, self._boost())

    def _boost(self) -> float | None:
        if self._peek().kind != "^":
            return None
        self._take()
        return float(self._expect("NUMBER").image)

    def _term(self, field: str | None) -> Query | None:
        tok = self._peek()
        if tok.kind in ("[", "{"):
            return self._range_clause(field)
        if tok.kind not in _WORD_KINDS:
            raise self._unexpected()
        self._take()
        boost, slop = None, None
        if self._peek().kind == "^":
            boost = self._boost()
            if self._peek().kind == "FUZZY_SLOP":
                slop = self._take().image[1:]
        elif self._peek().kind == "FUZZY_SLOP":
            slop = self._take().image[1:]
            boost = self._boost()
        return _boosted(self._bare(field, tok, slop), boost)

    def _bare(self, field: str | None, tok: _Tok, slop: str | None) -> Query | None:
        opts, kind, image = self.opts, tok.kind, tok.image
        fields = opts.fields if field is None else ((field, 1.0),)
        if kind == "BAREOPER":
            return None  # a lone operator analyses to nothing, and Lucene drops the clause
        if kind == "QUOTED":
            text = _unescape(image[1:-1])
            if field == "_exists_":
                return {"exists": {"field": text}}
            return _phrase(opts, fields, text, max(0, _number(slop, opts.phrase_slop)))
        if field == "_exists_":
            return {"exists": {"field": image if "*" in image else _unescape(image)}}
        if kind == "*":
            return _match_all() if all(f == "*" for f, _ in fields) else _exists(fields)
        if kind == "PREFIXTERM":
            return _pattern("prefix", fields, _unescape(image[:-1]))
        if kind == "WILDTERM":
            if not opts.leading_wildcard and image[0] in "*?":
                raise _SyntaxError("'*' or '?' not allowed as first character in WildcardQuery")
            return _pattern("wildcard", fields, image)
        if kind == "REGEXPTERM":
            return _pattern("regexp", fields, image[1:-1])
        text = _unescape(image)
        if slop is not None:
            return _words(opts, fields, text, self._fuzziness(slop))
        if (field is not None or opts.range_ops) and len(text) > 1 and text[0] in "<>":
            inclusive = len(text) > 2 and text[1] == "="
            key = ("gt" if text[0] == ">" else "lt") + ("e" if inclusive else "")
            return _range(opts, fields, {key: text[2:] if inclusive else text[1:]})
        return _words(opts, fields, text)

    def _fuzziness(self, slop: str) -> Any:
        """``~`` alone takes the body's fuzziness; ``~N`` is capped at Lucene's two edits."""
        if slop.upper() == "AUTO":
            return "AUTO"
        edits = _number(slop, -1)
        return self.opts.fuzziness if edits < 0 else min(2, edits)

    def _range_clause(self, field: str | None) -> Query | None:
        lower_inclusive = self._take().kind == "["
        values: list[str | None] = []
        for step in range(2):
            if step == 1 and self._peek().kind == "TO":
                self._take()
            tok = self._peek()
            if tok.kind not in ("RANGE_GOOP", "RANGE_QUOTED", "TO"):
                raise self._unexpected()
            self._take()
            raw = tok.image[1:-1] if tok.kind == "RANGE_QUOTED" else tok.image
            values.append(None if tok.image == "*" else _unescape(raw))
        if self._peek().kind not in ("]", "}"):
            raise self._unexpected()
        upper_inclusive = self._take().kind == "]"
        fields = self.opts.fields if field is None else ((field, 1.0),)
        bounds = {
            "gte" if lower_inclusive else "gt": values[0],
            "lte" if upper_inclusive else "lt": values[1],
        }
        return _boosted(_range(self.opts, fields, bounds), self._boost())


def _number(text: str | None, default: int) -> int:
    """Lucene reads slops and edit counts as floats and truncates; unreadable means default."""
    try:
        value = float(text or "")
    except ValueError:
        return default
    return int(value) if math.isfinite(value) else default


def _add_clause(
    clauses: list[tuple[str, Query]], conj: str, mods: str, query: Query | None, operator: str
) -> None:
    """Lucene's classic rule: conjunctions re-mark the previous clause, then place this one."""
    if clauses and clauses[-1][0] != "must_not":
        if conj == "AND":
            clauses[-1] = ("must", clauses[-1][1])
        elif conj == "OR" and operator == "and":
            clauses[-1] = ("should", clauses[-1][1])
    if query is None:
        return
    prohibited = mods in ("-", "NOT")
    if operator == "or":
        required = mods == "+" or (conj == "AND" and not prohibited)
    else:
        required = not prohibited and conj != "OR"
    clauses.append(("must_not" if prohibited else "must" if required else "should", query))


# --- simple_query_string --------------------------------------------------------------------------

# Lucene's simple-parser operator bits, by the names ES accepts in ``flags``.
_FLAGS = {"AND": 1, "NOT": 2, "OR": 4, "PREFIX": 8, "PHRASE": 16, "PRECEDENCE": 32, "ESCAPE": 64}
_FLAGS |= {"WHITESPACE": 128, "FUZZY": 256, "NEAR": 512, "SLOP": 512, "NONE": 0, "ALL": -1}


def _simple_flags(value: Any) -> int:
    if value is None:
        return -1
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    flags = 0
    for name in filter(None, (part.strip() for part in str(value).upper().split("|"))):
        if name not in _FLAGS:
            raise IllegalArgumentError(f"Unknown simple_query_string flag [{name}]")
        if _FLAGS[name] == -1:
            return -1
        flags |= _FLAGS[name]
    return flags


@dataclass
class _Level:
    """Lucene's simple parser state for one parenthesised level."""

    top: Query | None = None
    previous: str | None = None  # the occur of the bool ``top`` is, once one was built
    current: str | None = None  # an explicit ``+``/``|`` waiting for the next branch
    nots: int = 0


class _Simple:
    """Lucene's simple query parser: a left-to-right scan that cannot fail."""

    def __init__(self, text: str, opts: _Options, flags: int) -> None:
        self.text, self.opts, self.flags = text, opts, flags
        self.default = "must" if opts.operator == "and" else "should"
        self.close = self._match_parens() if self._on("PRECEDENCE") else {}

    def _on(self, flag: str) -> bool:
        return bool(self.flags & _FLAGS[flag])

    def _match_parens(self) -> dict[int, int]:
        """Each ``(`` that has one, mapped to its closing ``)``; unmatched ones are plain noise."""
        pairs: dict[int, int] = {}
        stack: list[int] = []
        i = 0
        while i < len(self.text):
            c = self.text[i]
            if c == "\\" and self._on("ESCAPE"):
                i += 1
            elif c == "(":
                stack.append(i)
            elif c == ")" and stack:
                pairs[stack.pop()] = i
            i += 1
        return pairs

    def parse(self) -> Query:
        top = self._level(0, len(self.text), 0)
        return top if top is not None else _match_none()

    def _finished(self, c: str) -> bool:
        return (
            (c == '"' and self._on("PHRASE"))
            or (c == "|" and self._on("OR"))
            or (c == "+" and self._on("AND"))
            or (c in "()" and self._on("PRECEDENCE"))
            or (c in " \t\n\r" and self._on("WHITESPACE"))
        )

    def _level(self, i: int, end: int, depth: int) -> Query | None:
        st, text = _Level(), self.text
        while i < end:
            c = text[i]
            if c == "(" and self._on("PRECEDENCE"):
                close = self.close.get(i, end)
                if close >= end or depth >= _MAX_DEPTH:
                    i += 1  # an unclosed (or too deep) parenthesis is ignored
                elif close == i + 1:
                    st.current, i = None, i + 2
                else:
                    self._add(st, self._level(i + 1, close, depth + 1))
                    i = close + 1
            elif c == '"' and self._on("PHRASE"):
                i = self._phrase(st, i, end)
            elif c in "+|" and self._on("AND" if c == "+" else "OR"):
                if st.current is None and st.top is not None:
                    st.current = "must" if c == "+" else "should"
                i += 1
            elif c == "-" and self._on("NOT"):
                st.nots, i = st.nots + 1, i + 1
                continue
            elif (c == ")" and self._on("PRECEDENCE")) or (
                c in " \t\n\r" and self._on("WHITESPACE")
            ):
                i += 1
            else:
                i = self._token(st, i, end)
            st.nots = 0
        return st.top

    def _add(self, st: _Level, branch: Query | None) -> None:
        if branch is None:
            return
        if st.nots % 2:
            branch = {"bool": {"must_not": [branch]}}
        if st.top is None:
            st.top = branch
        else:
            occur = st.current or self.default
            if st.previous != occur:
                st.top = {"bool": {occur: [st.top]}}
            st.top["bool"][occur].append(branch)
            st.previous = occur
        st.current = None

    def _phrase(self, st: _Level, i: int, end: int) -> int:
        text, j, escaped, slop = self.text, i + 1, False, None
        chars: list[str] = []
        while j < end:
            c = text[j]
            if not escaped and c == "\\" and self._on("ESCAPE"):
                escaped, j = True, j + 1
                continue
            if not escaped and c == '"':
                break
            escaped = False
            chars.append(c)
            j += 1
        if j >= end:
            return i + 1  # an unclosed quote is ignored
        if j == i + 1:
            st.current = None
            return j + 1
        if j + 1 < end and text[j + 1] == "~" and self._on("NEAR"):
            j += 1
            if j + 1 < end:
                slop, j = self._edits(j, end)
        self._add(st, _phrase(self.opts, self.opts.fields, "".join(chars), slop or 0))
        return j + 1

    def _edits(self, j: int, end: int) -> tuple[int, int]:
        """The number after ``~`` (empty means 2, unreadable 0) and where it stops."""
        k = j + 1
        while k < end and not self._finished(self.text[k]):
            k += 1
        raw = self.text[j + 1 : k]
        if not raw:
            return 2, k
        return (int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0), k

    def _token(self, st: _Level, i: int, end: int) -> int:
        text, escaped, prefix, fuzzy = self.text, False, False, False
        chars: list[str] = []
        while i < end:
            c = text[i]
            if not escaped:
                if c == "\\" and self._on("ESCAPE"):
                    escaped, prefix, i = True, False, i + 1
                    continue
                if self._finished(c):
                    break
                if chars and c == "~" and self._on("FUZZY"):
                    fuzzy = True
                    break
                prefix = bool(chars) and c == "*" and self._on("PREFIX")
            escaped = False
            chars.append(c)
            i += 1
        if not chars:
            return i
        word, fields = "".join(chars), self.opts.fields
        if fuzzy:
            edits, i = self._edits(i, end)
            self._add(st, _words(self.opts, fields, word, min(2, edits) or None))
        elif prefix:
            self._add(st, _pattern("prefix", fields, word[:-1]))
        else:
            self._add(st, _words(self.opts, fields, word))
        return i


__all__ = ["QueryParseError", "parse_query_string", "parse_simple_query_string"]
