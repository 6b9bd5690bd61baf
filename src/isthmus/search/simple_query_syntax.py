"""Lucene's simple query syntax, as ``simple_query_string`` reads it.  [no I/O]

This module owns the ``flags`` option (which operators are on) and :class:`SimpleParser`, Lucene's
simple parser: one left-to-right scan whose operators nest as they come and which never fails, so
unmatched parentheses and quotes are ignored rather than reported. It builds its output with the
builders of :mod:`isthmus.search.query_string`; the other body options are read there too and
arrive as one :class:`~isthmus.search.query_string.Options`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from isthmus.errors import IllegalArgumentError
from isthmus.search.query_string import (
    MAX_DEPTH,
    Options,
    Query,
    match_none,
    pattern_query,
    phrase_query,
    words_query,
)

# Lucene's simple-parser operator bits, by the names ES accepts in ``flags``.
_FLAGS = {"AND": 1, "NOT": 2, "OR": 4, "PREFIX": 8, "PHRASE": 16, "PRECEDENCE": 32, "ESCAPE": 64}
_FLAGS |= {"WHITESPACE": 128, "FUZZY": 256, "NEAR": 512, "SLOP": 512, "NONE": 0, "ALL": -1}


def simple_flags(value: Any) -> int:
    """The ``flags`` option as Lucene's operator bits; absent means all of them."""
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


class SimpleParser:
    """Lucene's simple query parser: a left-to-right scan that cannot fail."""

    def __init__(self, text: str, opts: Options, flags: int) -> None:
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
        """The whole text as one query; text without a clause matches nothing."""
        top = self._level(0, len(self.text), 0)
        return top if top is not None else match_none()

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
                if close >= end or depth >= MAX_DEPTH:
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
        self._add(st, phrase_query(self.opts, self.opts.fields, "".join(chars), slop or 0))
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
            self._add(st, words_query(self.opts, fields, word, min(2, edits) or None))
        elif prefix:
            self._add(st, pattern_query("prefix", fields, word[:-1]))
        else:
            self._add(st, words_query(self.opts, fields, word))
        return i


__all__ = ["SimpleParser", "simple_flags"]
