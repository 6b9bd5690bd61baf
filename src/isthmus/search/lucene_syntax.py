"""Lucene's classic syntax, as ``query_string`` reads it: tokenizer and grammar.  [no I/O]

This module owns turning ``query_string`` text into query DSL: :func:`_lex` splits the text into
Lucene's tokens (``^`` and ``[``/``{`` switch lexical state, as in Lucene's grammar) and
:class:`ClassicParser` parses them by recursive descent, building its output with the builders of
:mod:`isthmus.search.query_string`. Syntax errors raise :class:`LuceneSyntaxError` with Lucene's
own messages; turning them into ES's error chain is the caller's job, not this module's. Body
options are read by the caller too, and arrive as one :class:`~isthmus.search.query_string.Options`.

AND, OR and NOT follow Lucene's classic rule: they build no precedence tree but mark neighbouring
clauses required, optional or prohibited (:func:`_add_clause`).
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from isthmus.search.query_string import (
    MAX_DEPTH,
    Options,
    Query,
    boosted,
    exists_query,
    match_all,
    pattern_query,
    phrase_query,
    range_query,
    unescape,
    words_query,
)


class LuceneSyntaxError(Exception):
    """Raised inside the classic parser; ``parse_query_string`` turns it into ES's errors."""


# --- tokens ---------------------------------------------------------------------------------------


class _Tok(NamedTuple):
    kind: str  # punctuation kinds are the punctuation itself; the rest are Lucene's names
    image: str
    pos: int


_WS = frozenset(" \t\n\r\u3000")
_NOT_TERM_START = _WS | frozenset('+-!():^[]"{}~*?\\/')
_WORD_OPS = {"AND": "AND", "&&": "AND", "OR": "OR", "||": "OR", "NOT": "NOT"}
_WORD_KINDS = {"QUOTED", "TERM", "*", "PREFIXTERM", "WILDTERM", "REGEXPTERM", "BAREOPER"}
_BOOST = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def _lexical(text: str, pos: int, start: int) -> LuceneSyntaxError:
    # Lucene's char stream numbers every position on line 1; lexical errors count from 1.
    seen = "<EOF> " if pos >= len(text) else f'"{text[pos]}" ({ord(text[pos])}), '
    after = text[start:pos].replace("\\", "\\\\").replace('"', '\\"')
    where = f"line 1, column {pos + 1}"
    return LuceneSyntaxError(f'Lexical error at {where}.  Encountered: {seen}after : "{after}"')


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


# --- grammar --------------------------------------------------------------------------------------


class ClassicParser:
    """Recursive descent over Lucene's classic grammar; one instance parses one text."""

    def __init__(self, text: str, opts: Options) -> None:
        self.text, self.opts = text, opts
        self.toks = _lex(text)
        self.i = 0

    def parse(self) -> Query | None:
        """The whole text as one query; ``None`` when no clause survives."""
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

    def _unexpected(self) -> LuceneSyntaxError:
        tok = self._peek()
        where = f"line 1, column {tok.pos}"  # Lucene's char stream: one line, 0-based columns
        if tok.kind == "EOF":
            return LuceneSyntaxError(f'Encountered "<EOF>" at {where}.')
        label = f'"{tok.kind}"' if len(tok.kind) == 1 or tok.kind == "TO" else f"<{tok.kind}>"
        return LuceneSyntaxError(f'Encountered " {label} "{tok.image} "" at {where}.')

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
            field = "*" if tok.kind == "*" else unescape(tok.image)
        if self._peek().kind != "(":
            return self._term(field)
        if depth >= MAX_DEPTH:
            raise LuceneSyntaxError(f"Query nests more than {MAX_DEPTH} groups.")
        self._take()
        query = self._query(field, depth + 1)
        self._expect(")")
        return boosted(query, self._boost())

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
        return boosted(self._bare(field, tok, slop), boost)

    def _bare(self, field: str | None, tok: _Tok, slop: str | None) -> Query | None:
        opts, kind, image = self.opts, tok.kind, tok.image
        fields = opts.fields if field is None else ((field, 1.0),)
        if kind == "BAREOPER":
            return None  # a lone operator analyses to nothing, and Lucene drops the clause
        if kind == "QUOTED":
            text = unescape(image[1:-1])
            if field == "_exists_":
                return {"exists": {"field": text}}
            return phrase_query(opts, fields, text, max(0, _number(slop, opts.phrase_slop)))
        if field == "_exists_":
            return {"exists": {"field": image if "*" in image else unescape(image)}}
        if kind == "*":
            return match_all() if all(f == "*" for f, _ in fields) else exists_query(fields)
        if kind == "PREFIXTERM":
            return pattern_query("prefix", fields, unescape(image[:-1]))
        if kind == "WILDTERM":
            if not opts.leading_wildcard and image[0] in "*?":
                raise LuceneSyntaxError(
                    "'*' or '?' not allowed as first character in WildcardQuery"
                )
            return pattern_query("wildcard", fields, image)
        if kind == "REGEXPTERM":
            return pattern_query("regexp", fields, image[1:-1])
        text = unescape(image)
        if slop is not None:
            return words_query(opts, fields, text, self._fuzziness(slop))
        if (field is not None or opts.range_ops) and len(text) > 1 and text[0] in "<>":
            inclusive = len(text) > 2 and text[1] == "="
            key = ("gt" if text[0] == ">" else "lt") + ("e" if inclusive else "")
            return range_query(opts, fields, {key: text[2:] if inclusive else text[1:]})
        return words_query(opts, fields, text)

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
            values.append(None if tok.image == "*" else unescape(raw))
        if self._peek().kind not in ("]", "}"):
            raise self._unexpected()
        upper_inclusive = self._take().kind == "]"
        fields = self.opts.fields if field is None else ((field, 1.0),)
        bounds = {
            "gte" if lower_inclusive else "gt": values[0],
            "lte" if upper_inclusive else "lt": values[1],
        }
        return boosted(range_query(self.opts, fields, bounds), self._boost())


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


__all__ = ["ClassicParser", "LuceneSyntaxError"]
