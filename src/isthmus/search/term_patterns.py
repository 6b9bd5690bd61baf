"""Term-level patterns: Lucene wildcard and regexp syntax, and fuzzy edit distance.  [no I/O]

``wildcard``, ``regexp`` and ``fuzzy`` queries, and the ``include``/``exclude`` regexps of a
``terms`` aggregation, all test one indexed term (a keyword value or one analysed token) against a
pattern. Lucene's pattern languages are not Python's, so this module translates them into
:mod:`re` patterns that must match the *whole* term, and measures edit distance the way Lucene's
Levenshtein automata do (a transposition of two adjacent characters counts as one edit unless
transpositions are off).

Lucene regexp operators without a Python equivalent (``&`` intersection and ``~`` complement) are
refused with :class:`NotImplementedYet` rather than approximated; numeric intervals ``<n-m>`` are
expanded into an alternation, which is refused when the interval is too wide to expand.
"""

from __future__ import annotations

import re
from functools import lru_cache

from isthmus.errors import NotImplementedYet, QueryShardError

# Intervals wider than this are not expanded into alternations (the pattern would be huge).
_MAX_INTERVAL_SPAN = 10_000


@lru_cache(maxsize=512)
def wildcard_regex(pattern: str, case_insensitive: bool = False) -> re.Pattern[str]:
    """A compiled regex for a Lucene wildcard (``*`` any run, ``?`` one char, ``\\`` escapes)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
    return re.compile("".join(out), flags)


@lru_cache(maxsize=512)
def regexp_regex(pattern: str, case_insensitive: bool = False) -> re.Pattern[str]:
    """A compiled regex for a Lucene regexp; use ``fullmatch`` (Lucene patterns are anchored)."""
    translated = _RegexpTranslator(pattern).translate()
    flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
    try:
        return re.compile(translated, flags)
    except re.error as exc:
        raise QueryShardError(
            f"failed to create query: invalid regular expression [{pattern}]: {exc}"
        ) from None


class _RegexpTranslator:
    """Walks a Lucene regexp once, emitting the equivalent Python regex text.

    Differences handled: ``^``/``$`` are ordinary characters in Lucene (every pattern is anchored),
    ``.`` matches any character including newlines, ``@`` is "any string", ``#`` the empty
    language, ``"..."`` a quoted literal, ``<n-m>`` a decimal interval.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0

    def translate(self) -> str:
        out: list[str] = []
        text = self.pattern
        while self.pos < len(text):
            ch = text[self.pos]
            self.pos += 1
            if ch == "\\":
                out.append(self._escape())
            elif ch == "[":
                out.append(self._char_class())
            elif ch == '"':
                end = text.find('"', self.pos)
                if end < 0:
                    raise QueryShardError(
                        f"failed to create query: expected '\"' at position {len(text)}"
                    )
                out.append("(?:" + re.escape(text[self.pos : end]) + ")")
                self.pos = end + 1
            elif ch == "<":
                out.append(self._interval())
            elif ch == "@":
                out.append("(?:.*)")
            elif ch == "#":
                out.append("(?!)")
            elif ch in "&~":
                raise NotImplementedYet(
                    f"regexp operator [{ch}] (intersection/complement) is not supported"
                )
            elif ch in ".|*+?(){}":
                out.append(ch)
            else:
                out.append(re.escape(ch))
        return "".join(out)

    def _escape(self) -> str:
        if self.pos >= len(self.pattern):
            return re.escape("\\")
        ch = self.pattern[self.pos]
        self.pos += 1
        if ch in "dDsSwW":
            return "\\" + ch
        return re.escape(ch)

    def _char_class(self) -> str:
        text = self.pattern
        parts = ["["]
        if self.pos < len(text) and text[self.pos] == "^":
            parts.append("^")
            self.pos += 1
        while self.pos < len(text) and text[self.pos] != "]":
            ch = text[self.pos]
            self.pos += 1
            if ch == "\\" and self.pos < len(text):
                nxt = text[self.pos]
                self.pos += 1
                parts.append("\\" + nxt if nxt in "dDsSwW" else _class_char(nxt))
            elif ch == "-":
                parts.append("-")
            else:
                parts.append(_class_char(ch))
        if self.pos >= len(text):
            raise QueryShardError(f"failed to create query: expected ']' at position {len(text)}")
        self.pos += 1
        parts.append("]")
        return "".join(parts)

    def _interval(self) -> str:
        text = self.pattern
        end = text.find(">", self.pos)
        body = text[self.pos : end] if end >= 0 else ""
        match = re.fullmatch(r"(\d+)-(\d+)", body)
        if match is None:
            raise QueryShardError(f"failed to create query: expected '>' at position {self.pos}")
        self.pos = end + 1
        low_s, high_s = match.groups()
        low, high = sorted((int(low_s), int(high_s)))
        if high - low > _MAX_INTERVAL_SPAN:
            raise NotImplementedYet(f"regexp numeric interval <{body}> is too wide")
        # Lucene: equal-length bounds fix the digit count (zero-padded); otherwise any number of
        # leading zeros is accepted.
        digits = len(low_s) if len(low_s) == len(high_s) else 0
        numbers = [str(n).zfill(digits) for n in range(low, high + 1)]
        alternation = "|".join(sorted(numbers, key=len, reverse=True))
        return f"(?:{alternation})" if digits else f"(?:0*(?:{alternation}))"


def _class_char(ch: str) -> str:
    return "\\" + ch if ch in "\\]^-[" else ch


def edit_distance(a: str, b: str, *, transpositions: bool = True, limit: int | None = None) -> int:
    """Levenshtein distance, or optimal-string-alignment distance with ``transpositions``.

    With ``limit`` the computation stops early and returns ``limit + 1`` once the distance is
    known to exceed it (fuzzy matching only ever asks "within N edits?").
    """
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if transpositions and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if limit is not None and min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[len(b)]


def fuzzy_matches(
    term: str,
    candidate: str,
    max_edits: int,
    *,
    prefix_length: int = 0,
    transpositions: bool = True,
) -> bool:
    """Whether ``candidate`` is within ``max_edits`` of ``term`` sharing its first ``prefix_length``
    characters (Lucene's ``FuzzyQuery`` acceptance rule)."""
    if prefix_length:
        if candidate[:prefix_length] != term[:prefix_length]:
            return False
        term, candidate = term[prefix_length:], candidate[prefix_length:]
    if max_edits <= 0:
        return term == candidate
    return (
        edit_distance(term, candidate, transpositions=transpositions, limit=max_edits) <= max_edits
    )


__all__ = ["edit_distance", "fuzzy_matches", "regexp_regex", "wildcard_regex"]
