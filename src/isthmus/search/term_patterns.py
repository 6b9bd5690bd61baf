"""Term-level patterns: Lucene wildcards and regexps on a linear-time engine, and fuzzy edit
distance.  [no I/O]

``wildcard``, ``regexp`` and ``fuzzy`` queries, ``filter``/``filters`` aggregations holding them,
and the ``include``/``exclude`` regexps of a ``terms`` aggregation all test one indexed term (a
keyword value or one analysed token) against a pattern. Patterns come from users, so none may
run on a backtracking engine (Python's :mod:`re` takes exponential time on ``(a+)+b``): Lucene
itself runs them as automata. Here a pattern is parsed once (:mod:`regexp_syntax`), checked
against Lucene's determinization limit (:mod:`regexp_automaton`), and compiled for RE2, whose
matching time is linear in the term whatever the pattern. The same engine text goes to tantivy
(whose Rust regex engine is automaton-based too), so the index and the in-memory evaluation
agree on Lucene's meaning.

Limits, as ES applies them: ``index.max_regex_length`` (default 1000) bounds a ``regexp`` query's
pattern, ``max_determinized_states`` (default 10000) the work of determinizing it; wildcards and
``include``/``exclude`` get Lucene's default work limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from functools import lru_cache
from typing import Any

import re2

from isthmus.errors import IllegalArgumentError, QueryShardError, TooComplexToDeterminizeError
from isthmus.search.regexp_automaton import DEFAULT_DETERMINIZE_WORK_LIMIT, check_determinizable
from isthmus.search.regexp_syntax import (
    MAX_CODE_POINT,
    Chars,
    Concat,
    Node,
    Nothing,
    Repeat,
    Union,
    parse_regexp,
    parse_wildcard,
)
from isthmus.settings.registry import MAX_REGEX_LENGTH

DEFAULT_MAX_REGEX_LENGTH: int = MAX_REGEX_LENGTH.default

# RE2 refuses counted repetitions above 1000; larger counts are written as nested repetitions.
_RE2_MAX_COUNT = 1000
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
# The empty language for RE2 (an empty class); tantivy's engine refuses it, see matches_nothing.
_NOTHING = r"[^\x00-\x{10FFFF}]"


class TermPattern:
    """A compiled Lucene pattern: does a whole term match? Time is linear in the term."""

    __slots__ = ("_regex", "matches_nothing", "source", "syntax")

    def __init__(self, source: str, tree: Node, case_insensitive: bool) -> None:
        self.source = source
        tree = _prune(tree)
        # Tantivy's engine has no way to write the empty language: callers ask this instead.
        self.matches_nothing = isinstance(tree, Nothing)
        # Engine text (RE2 syntax, also valid for tantivy's Rust regex), anchored by fullmatch.
        self.syntax = ("(?i)" if case_insensitive else "") + to_engine(tree)
        try:
            self._regex = re2.compile(self.syntax, _OPTIONS)
        except re2.error as exc:
            raise QueryShardError(
                f"failed to create query: the regular expression [{source}] is too large to run: "
                f"{_engine_message(exc)}"
            ) from None

    def fullmatch(self, term: str) -> bool:
        try:
            return self._regex.fullmatch(term) is not None
        except UnicodeEncodeError:  # a lone surrogate: no indexed term holds one
            return False

    def __repr__(self) -> str:
        return f"<TermPattern {self.source!r} -> {self.syntax!r}>"


def _engine_message(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


@lru_cache(maxsize=512)
def wildcard_regex(pattern: str, case_insensitive: bool = False) -> TermPattern:
    """A Lucene wildcard (``*`` any run, ``?`` one char, ``\\`` escapes), checked against
    Lucene's default determinization work limit."""
    tree = parse_wildcard(pattern)
    _determinizable(tree, DEFAULT_DETERMINIZE_WORK_LIMIT)
    return TermPattern(pattern, tree, case_insensitive)


@lru_cache(maxsize=512)
def regexp_regex(
    pattern: str,
    case_insensitive: bool = False,
    max_determinized_states: int = DEFAULT_DETERMINIZE_WORK_LIMIT,
) -> TermPattern:
    """A Lucene regexp (anchored: it must match the whole term); malformed or too complex
    patterns raise ES's ``query_shard_exception``."""
    tree = parse_regexp(pattern)
    _determinizable(tree, max_determinized_states)
    return TermPattern(pattern, tree, case_insensitive)


def include_exclude_regex(pattern: str) -> TermPattern:
    """A ``terms`` aggregation's ``include``/``exclude`` regexp. ES builds it without a query
    around it, so a too complex one is reported as Lucene's own exception."""
    try:
        return regexp_regex(pattern)
    except QueryShardError as exc:
        if isinstance(exc.caused_by, TooComplexToDeterminizeError):
            raise exc.caused_by from None
        raise


def check_regex_length(pattern: str, max_length: int) -> None:
    """``index.max_regex_length``: ES refuses a longer ``regexp`` query pattern."""
    if len(pattern) > max_length:
        message = (
            f"The length of regex [{len(pattern)}] used in the Regexp Query request has exceeded "
            f"the allowed maximum of [{max_length}]. This maximum can be set by changing the "
            "[index.max_regex_length] index level setting."
        )
        raise QueryShardError(
            f"failed to create query: {message}", caused_by=IllegalArgumentError(message)
        )


def check_query_patterns(query: Any, max_regex_length: int = DEFAULT_MAX_REGEX_LENGTH) -> None:
    """Validate every ``regexp``/``wildcard`` in a query tree as the shard building it would:
    length, syntax and determinization limits, with ES's errors. Compiled patterns are cached,
    so the evaluation that follows pays nothing more."""
    from isthmus.search import dsl

    for node in _walk(query):
        if isinstance(node, dsl.Regexp):
            check_regex_length(node.value, max_regex_length)
            limit = getattr(node, "max_determinized_states", DEFAULT_DETERMINIZE_WORK_LIMIT)
            regexp_regex(node.value, node.case_insensitive, limit)
        elif isinstance(node, dsl.Wildcard):
            wildcard_regex(node.value, node.case_insensitive)


def _walk(value: Any) -> Iterator[Any]:
    """Every dataclass node below ``value`` (query trees are frozen dataclasses and tuples)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            stack.extend(item)
        elif is_dataclass(item) and not isinstance(item, type):
            yield item
            values = getattr(item, "__dict__", None)  # cheaper than fields() on a hot path
            if values is not None:
                stack.extend(
                    v for v in values.values() if isinstance(v, tuple | list) or is_dataclass(v)
                )
            else:
                stack.extend(getattr(item, f.name) for f in fields(item))


def _determinizable(tree: Node, work_limit: int) -> None:
    try:
        check_determinizable(tree, work_limit)
    except TooComplexToDeterminizeError as exc:
        raise QueryShardError(f"failed to create query: {exc.reason}", caused_by=exc) from None


def _prune(tree: Node) -> Node:
    """The same language without inner empty-language nodes (``#`` and empty classes), which
    tantivy's engine cannot express: only a whole pattern matching nothing remains ``Nothing``."""
    if isinstance(tree, Chars):
        has_char = any(_without_surrogates(lo, hi) for lo, hi in tree.ranges)
        return tree if has_char else Nothing()
    if isinstance(tree, Concat):
        parts = tuple(_prune(p) for p in tree.parts)
        return Nothing() if any(isinstance(p, Nothing) for p in parts) else Concat(parts)
    if isinstance(tree, Union):
        options = tuple(o for o in map(_prune, tree.options) if not isinstance(o, Nothing))
        return Union(options) if len(options) > 1 else options[0] if options else Nothing()
    if isinstance(tree, Repeat):
        inner = _prune(tree.node)
        if isinstance(inner, Nothing):
            return Concat(()) if tree.low == 0 else inner
        return Repeat(inner, tree.low, tree.high)
    return tree


def to_engine(tree: Node) -> str:
    """The tree as RE2 text (the same text is valid for Rust's ``regex``, tantivy's engine)."""
    if isinstance(tree, Chars):
        return _chars(tree)
    if isinstance(tree, Nothing):
        return _NOTHING
    if isinstance(tree, Concat):
        if not tree.parts:
            return "(?:)"
        return "".join(_group(p) if isinstance(p, Union) else to_engine(p) for p in tree.parts)
    if isinstance(tree, Union):
        return "(?:" + "|".join(to_engine(o) for o in tree.options) + ")"
    return _repeat(tree)


def _group(tree: Node) -> str:
    text = to_engine(tree)
    return text if isinstance(tree, Chars) else f"(?:{text})"


def _repeat(tree: Repeat) -> str:
    inner = _group(tree.node)
    low, high = tree.low, tree.high
    if (low, high) == (0, None):
        return inner + "*"
    if (low, high) == (1, None):
        return inner + "+"
    if (low, high) == (0, 1):
        return inner + "?"
    if _has_count(tree.node):
        # RE2 also refuses nested counts whose product passes 1000 (``(a{10}){200}``), which
        # Lucene accepts: the outer count is written out as copies (the determinization check
        # has already bounded the automaton, so the text stays proportionate).
        optional = "" if high is None else f"{inner}?" * (high - low)
        return inner * low + (f"{inner}*" if high is None else optional)
    if high == low:
        return _counted(inner, low)
    return _counted(inner, low) + _at_most(inner, None if high is None else high - low)


def _has_count(tree: Node) -> bool:
    """Whether ``tree`` holds a counted repetition (``{n}``/``{n,m}``, not ``? * +``)."""
    if isinstance(tree, Repeat):
        counted = (tree.low, tree.high) not in ((0, None), (1, None), (0, 1))
        return counted or _has_count(tree.node)
    if isinstance(tree, Concat):
        return any(_has_count(p) for p in tree.parts)
    if isinstance(tree, Union):
        return any(_has_count(o) for o in tree.options)
    return False


def _counted(inner: str, count: int) -> str:
    """``inner`` exactly ``count`` times; past RE2's limit of 1000 (which also bounds nested
    counts), copies of ``inner{1000}`` are written one after another."""
    thousands, rest = divmod(count, _RE2_MAX_COUNT)
    text = f"{inner}{{{_RE2_MAX_COUNT}}}" * thousands
    return text + (f"{inner}{{{rest}}}" if rest > 1 else inner if rest == 1 else "")


def _at_most(inner: str, count: int | None) -> str:
    """``inner`` zero to ``count`` times (unbounded when None)."""
    if count is None:
        return inner + "*"
    thousands, rest = divmod(count, _RE2_MAX_COUNT)
    text = f"{inner}{{0,{_RE2_MAX_COUNT}}}" * thousands
    return text + (f"{inner}{{0,{rest}}}" if rest else "")


def _chars(tree: Chars) -> str:
    # Surrogates are no characters of any UTF-8 term (and Rust's regex refuses them).
    ranges = [r for lo, hi in tree.ranges for r in _without_surrogates(lo, hi)]
    if not ranges:
        return _NOTHING
    if ranges == [(0, 0xD7FF), (0xE000, MAX_CODE_POINT)]:
        return "(?s:.)"
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _char(ranges[0][0])
    body = "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in ranges)
    return f"[{body}]"


def _without_surrogates(lo: int, hi: int) -> list[tuple[int, int]]:
    out = []
    if lo < 0xD800:
        out.append((lo, min(hi, 0xD7FF)))
    if hi > 0xDFFF:
        out.append((max(lo, 0xE000), hi))
    return out


def _char(code: int) -> str:
    ch = chr(code)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{code:X}}}"


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


__all__ = [
    "MAX_REGEX_LENGTH",
    "TermPattern",
    "check_query_patterns",
    "check_regex_length",
    "edit_distance",
    "fuzzy_matches",
    "include_exclude_regex",
    "regexp_regex",
    "to_engine",
    "wildcard_regex",
]
